use std::fmt::Write as _;

use clap::Args;
use serde_json::Value;

use super::follow::{Prints, Until, Watch};
use super::output::{fold_long_line, printable, STDERR_LINE_SHOWN};
use super::Ctx;
use crate::error::{exit, Error, Result};
use crate::model::EventType;
use crate::model::{short_id, Event, EVENT_TYPES};
use crate::store::RunOrQueued;

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Run id (any unique prefix).
    #[arg(required_unless_present = "all")]
    #[arg(add = crate::cli::complete::run_ids())]
    pub run: Option<String>,
    /// Follow every run's live events (with --follow).
    #[arg(long, requires = "follow", conflicts_with = "run")]
    pub all: bool,
    /// Keep printing events as they happen; exit when the run ends, with a
    /// code that says how (0 completed, 10 failed, 11 cancelled).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only events after this sequence number (to resume exactly).
    #[arg(long, default_value_t = 0, value_name = "SEQ")]
    pub since: i64,
    /// Only events of this type (repeatable), e.g. `--type output`.
    #[arg(long = "type", value_name = "TYPE")]
    #[arg(add = crate::cli::complete::event_type_names())]
    pub types: Vec<String>,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Ctx, args: EventsArgs) -> Result<u8> {
    // A mistyped type would match nothing, silently.
    if let Some(unknown) = args
        .types
        .iter()
        .find(|t| !EVENT_TYPES.contains(&t.as_str()))
    {
        return Err(
            Error::usage(format!("--type {unknown}: m records no such event type"))
                .with_hint(format!("use one of: {}", EVENT_TYPES.join(", "))),
        );
    }
    let wanted = |event: &Event| args.types.is_empty() || args.types.contains(&event.event_type);
    let Some(run) = &args.run else {
        super::follow::follow_all(ctx, args.types.clone(), |event| {
            if wanted(event) {
                print_event(ctx, event, args.json, true)?;
            }
            Ok(())
        })?;
        return Ok(exit::OK);
    };
    let store = ctx.store()?;
    let (id, ended) = match store.find_run_or_queued(run)? {
        RunOrQueued::Run(run) => (run.id, run.state.is_final().then_some(run.state)),
        // Nothing is stored yet: its log so far is the `run.queued` event.
        RunOrQueued::Queued(queued) if !args.follow => {
            let event = &queued.queued_event;
            if event.seq > args.since && wanted(event) {
                print_event(ctx, event, args.json, false)?;
            }
            return Ok(exit::OK);
        }
        RunOrQueued::Queued(queued) => (queued.id, None),
    };
    // A run that has ended has its whole log stored: no daemon is needed
    // to follow it to its end.
    if args.follow && ended.is_none() {
        super::interrupt::say_run_continues(&id);
        let watch = Watch {
            since: args.since,
            types: args.types.clone(),
            ..Watch::new(Until::Ended, Prints::Events)
        };
        let state = super::follow::follow_run(ctx, &id, watch, |event| {
            if wanted(event) {
                print_event(ctx, event, args.json, false)?;
                ctx.ui.flush()?;
            }
            Ok(())
        })?;
        return Ok(state.exit_code());
    }
    ctx.ui.batch(|| {
        store.for_each_event(&id, args.since, &args.types, None, |event| {
            print_event(ctx, &event, args.json, false)
        })
    })?;
    match ended {
        Some(state) if args.follow => Ok(state.exit_code()),
        _ => Ok(exit::OK),
    }
}

/// Prints one event as a JSON line or as text for people. `with_run`
/// prefixes the run's short id, for streams of several runs.
///
/// A listing prints a million of these: the head is built once, in place,
/// and an `output` event's lines are written straight from its data.
pub fn print_event(ctx: &Ctx, event: &Event, json: bool, with_run: bool) -> Result<()> {
    if json {
        return ctx.ui.json_line(event);
    }
    let mut head = String::with_capacity(48);
    if with_run {
        head.push_str(&ctx.ui.dim(short_id(&event.run_id)));
        head.push(' ');
    }
    if ctx.ui.color {
        head.push_str(&ctx.ui.dim(format_args!("{:>5}", event.seq)));
        head.push(' ');
        head.push_str(&ctx.ui.bold(format_args!("{:<18}", event.event_type)));
    } else {
        let _ = write!(head, "{:>5} {:<18}", event.seq, event.event_type);
    }
    let null = Value::Null;
    let data = event.data.as_ref().unwrap_or(&null);
    let indent = || " ".repeat(console::measure_text_width(&head) + 1);
    if event.event_type == "output" {
        let stream = data.get("stream").and_then(Value::as_str).unwrap_or("");
        let lines = data.get("lines").and_then(Value::as_array);
        let mut lines = lines
            .into_iter()
            .flatten()
            .map(|l| l.as_str().unwrap_or(""));
        let Some(first) = lines.next() else {
            return ctx.ui.line_parts(&[&head, " "]);
        };
        let shown = |line| match stream {
            "stderr" => fold_long_line(line, STDERR_LINE_SHOWN),
            _ => printable(line),
        };
        ctx.ui
            .line_parts(&[&head, " ", stream, "| ", &shown(first)])?;
        let mut pad = None;
        for line in lines {
            let pad: &str = pad.get_or_insert_with(indent);
            ctx.ui.line_parts(&[pad, stream, "| ", &shown(line)])?;
        }
        return Ok(());
    }
    let described = describe(&event.event_type, data);
    // Text of several lines (a reply, a question) keeps them all under the
    // head's column, where the next event's head cannot be mistaken.
    let mut lines = described
        .iter()
        .flat_map(|text| text.trim_end_matches('\n').split('\n'));
    let first = lines.next().unwrap_or_default();
    ctx.ui.line_parts(&[&head, " ", &printable(first)])?;
    let mut pad = None;
    for line in lines {
        let pad: &str = pad.get_or_insert_with(indent);
        ctx.ui.line_parts(&[pad, &printable(line)])?;
    }
    Ok(())
}

/// The human-readable lines of an event's data (`output` is printed by
/// [`print_event`] itself).
fn describe(event_type: &str, data: &Value) -> Vec<String> {
    let text = |key: &str| {
        data.get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    match event_type.parse().ok() {
        Some(EventType::RunState) => vec![format!("-> {}", text("state"))],
        Some(EventType::RunQueued) => vec![format!(
            "position {} in its repo's queue",
            data.get("position").and_then(Value::as_i64).unwrap_or(0)
        )],
        Some(EventType::RunPruned) => vec![format!(
            "{} output events ({}) dropped: older than {}",
            data.get("events").and_then(Value::as_u64).unwrap_or(0),
            super::output::bytes(data.get("bytes").and_then(Value::as_u64).unwrap_or(0)),
            text("older_than")
        )],
        Some(EventType::RunCreated) => vec![format!(
            "prompt: {}",
            super::output::one_line(&text("prompt"), 80)
        )],
        Some(EventType::RunFinished) => {
            let mut lines = vec![format!("{}: {}", text("state"), text("reason"))];
            if let Some(tail) = data.get("stderr_tail").and_then(Value::as_array) {
                lines.extend(tail.iter().map(|l| {
                    format!(
                        "stderr| {}",
                        fold_long_line(l.as_str().unwrap_or(""), STDERR_LINE_SHOWN)
                    )
                }));
            }
            lines
        }
        Some(EventType::AgentMessage) | Some(EventType::AgentThought) => {
            text("text").lines().map(str::to_string).collect()
        }
        Some(EventType::AgentPrompt) => vec![format!(
            "({}) {}",
            text("source"),
            super::output::one_line(&text("text"), 80)
        )],
        Some(EventType::AgentTurn) => vec![format!("turn ended: {}", text("stopReason"))],
        Some(EventType::AgentPlan) => data
            .get("entries")
            .and_then(Value::as_array)
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| {
                        let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
                        format!("[{}] {}", field("status"), field("content"))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Some(EventType::ToolCall) | Some(EventType::ToolUpdate) => {
            vec![format!("{} ({})", text("title"), text("status"))
                .trim()
                .to_string()]
        }
        Some(EventType::WorkspaceProgress) => vec![text("line")],
        // A scratch run has a directory and no branch.
        Some(EventType::WorkspaceReady) => vec![match text("branch").as_str() {
            "" => text("path"),
            branch => format!("{} on {branch}", text("path")),
        }],
        Some(EventType::RunIdle) => vec![format!(
            "idle for {}s: done",
            data.get("after_seconds")
                .and_then(Value::as_u64)
                .unwrap_or(0)
        )],
        Some(EventType::AgentSession) => {
            let agent = data.get("agent").unwrap_or(&Value::Null);
            let field = |k: &str| agent.get(k).and_then(Value::as_str).unwrap_or("");
            let name = [field("title"), field("name")]
                .into_iter()
                .find(|s| !s.is_empty())
                .unwrap_or("the agent");
            vec![format!(
                "session {} with {name} {} (ACP {})",
                crate::model::short_id(&text("sessionId")),
                field("version"),
                data.get("protocolVersion")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            )
            .replace("  ", " ")]
        }
        Some(EventType::AgentSuspended) => vec![format!(
            "session {} suspended: {}",
            crate::model::short_id(&text("sessionId")),
            text("reason")
        )],
        Some(EventType::AgentResumed) => vec![format!(
            "session {} resumed ({}) after the daemon restarted, {}",
            crate::model::short_id(&text("sessionId")),
            text("method"),
            match text("was").as_str() {
                "turn" => "mid-turn (that turn is lost)",
                "approval" => "waiting for an approval (asked again)",
                _ => "waiting for the next prompt",
            }
        )],
        Some(EventType::AgentAuth) => vec![match data.get("ok").and_then(Value::as_bool) {
            Some(true) => format!("authenticated with {}", text("name")),
            _ => format!(
                "authentication with {} failed: {}",
                text("name"),
                text("error")
            ),
        }],
        Some(EventType::AgentUsage) => {
            let num = |k: &str| data.get(k).and_then(Value::as_u64).unwrap_or(0);
            let mut line = format!("{} of {} tokens used", num("used"), num("size"));
            if let Some(cost) = data.get("cost").filter(|c| !c.is_null()) {
                let amount = cost.get("amount").map(Value::to_string).unwrap_or_default();
                let currency = cost.get("currency").and_then(Value::as_str).unwrap_or("");
                line.push_str(format!(", cost {amount} {currency}").trim_end());
            }
            vec![line]
        }
        Some(EventType::AgentUpdate) => {
            let kind = [text("sessionUpdate"), text("method")]
                .into_iter()
                .find(|s| !s.is_empty())
                .unwrap_or_default();
            vec![format!(
                "{kind} (kept as the agent sent it: --json shows it)"
            )]
        }
        Some(EventType::ToolPermission) => {
            let option = [text("optionKind"), text("outcome")]
                .into_iter()
                .find(|s| !s.is_empty())
                .unwrap_or_default();
            vec![format!("{} ({option})", text("decision"))]
        }
        Some(EventType::InputWithdrawn) => {
            vec![match data.get("question_seq").and_then(Value::as_i64) {
                Some(seq) => format!("the question of event {seq} was withdrawn"),
                None => "the question was withdrawn".to_string(),
            }]
        }
        Some(EventType::WorkspaceDiff) => {
            let num = |k: &str| data.get(k).and_then(Value::as_u64).unwrap_or(0);
            vec![format!(
                "{} file(s), +{} -{}, commit {}",
                num("files"),
                num("insertions"),
                num("deletions"),
                crate::model::short_id(&text("commit"))
            )]
        }
        Some(EventType::ApprovalRequested) => {
            let payload = data.get("payload").unwrap_or(&Value::Null);
            let field = |k: &str| payload.get(k).and_then(Value::as_str).unwrap_or("");
            let stat = payload.get("stat").map(|stat| {
                let num = |k: &str| stat.get(k).and_then(Value::as_u64).unwrap_or(0);
                format!(
                    "{} file(s), +{} -{}",
                    num("files"),
                    num("insertions"),
                    num("deletions")
                )
            });
            let what = [field("title"), field("command"), field("path")]
                .into_iter()
                .map(str::to_string)
                .chain(stat)
                .find(|s| !s.is_empty())
                .unwrap_or_default();
            vec![format!(
                "{} approval {}: {what}{}",
                text("approval_type"),
                crate::model::short_id(&text("approval_id")),
                due(data)
            )]
        }
        Some(EventType::ApprovalResolved) => {
            let reason = text("reason");
            let reason = if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            };
            let by = decided_by(data);
            vec![format!(
                "{} {} by {by}{reason}",
                crate::model::short_id(&text("approval_id")),
                text("state"),
            )]
        }
        Some(EventType::HumanReminded) => {
            let what = match data.get("approval_id").and_then(Value::as_str) {
                Some(id) => format!("approval {} is", crate::model::short_id(id)),
                None => format!("question \"{}\" is", text("question")),
            };
            vec![format!("reminded: {what} still waiting{}", due(data))]
        }
        Some(EventType::InputRequested) => {
            let mut lines = vec![format!("{}{}", text("question"), due(data))];
            let schema = data.get("schema").unwrap_or(&Value::Null);
            lines.extend(crate::question::expected(schema).map(|e| format!("expects {e}")));
            lines
        }
        Some(EventType::InputProvided) => {
            let answer = match data.get("text").and_then(Value::as_str) {
                Some(t) => t.to_string(),
                None => "(done)".to_string(),
            };
            match data.get("by") {
                Some(_) => vec![format!("{answer} (by {})", decided_by(data))],
                None => vec![answer],
            }
        }
        Some(EventType::DecisionRefused) => {
            let target = [text("approval_id"), text("run_id")]
                .into_iter()
                .find(|t| !t.is_empty())
                .unwrap_or_default();
            vec![format!(
                "refused `{}` of {} from pid {}: {}",
                text("request"),
                crate::model::short_id(&target),
                data.get("pid").map(Value::to_string).unwrap_or_default(),
                text("because")
            )]
        }
        Some(EventType::Error | EventType::AgentRefused) => vec![text("message")],
        Some(EventType::AgentMode) => vec![match data.get("message").and_then(Value::as_str) {
            Some(warning) => format!("warning: {warning}"),
            None => format!("mode {}", text("modeId")),
        }],
        // A type this m does not know (a newer m wrote it): its fields
        // in a line, never raw JSON.
        _ => vec![match data {
            Value::Object(fields) => fields
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}: {}", super::output::one_line(s, 60)),
                    other => format!("{k}: {}", super::output::one_line(&other.to_string(), 60)),
                })
                .collect::<Vec<_>>()
                .join(", "),
            Value::Null => String::new(),
            other => other.to_string(),
        }],
    }
}

/// When the deadline of an approval or question decides, if it has one:
/// ` (decided at 13:05 UTC: reject)`.
fn due(data: &Value) -> String {
    match data.get("deadline").and_then(Value::as_i64) {
        Some(at) => {
            let then = match data.get("on_timeout").and_then(Value::as_str) {
                Some(what) => format!(": {what}"),
                None => String::new(),
            };
            format!(
                " (deadline {}{then})",
                crate::model::utc_time(at, crate::model::now())
            )
        }
        None => String::new(),
    }
}

/// Who decided, from an event's `by`: an object ({kind, ...}); logs from
/// before m recorded who decided have a plain word there.
fn decided_by(data: &Value) -> String {
    let by = data.get("by").cloned().unwrap_or_default();
    match serde_json::from_value::<crate::model::DecidedBy>(by.clone()) {
        Ok(by) => by.to_string(),
        Err(_) => by.as_str().unwrap_or_default().to_string(),
    }
}
