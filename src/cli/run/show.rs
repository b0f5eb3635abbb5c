use clap::Args;
use serde_json::Value;

use crate::cli::output::{fold_long_line, printable, relative_time, STDERR_LINE_SHOWN};
use crate::cli::Ctx;
use crate::error::{exit, Result};
use crate::model::{now, short_id, ApprovalState, QueuedRun};
use crate::store::{ApprovalFilter, RunOrQueued, Store};

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Run id (any unique prefix).
    #[arg(add = crate::cli::complete::run_ids())]
    pub run: String,
    /// The run as one JSON object (README "Run JSON" says each key).
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Ctx, args: ShowArgs) -> Result<u8> {
    let store = ctx.store()?;
    let run = match store.find_run_or_queued(&args.run)? {
        RunOrQueued::Run(run) => run,
        RunOrQueued::Queued(queued) => return show_queued(ctx, &store, &queued, args.json),
    };
    if args.json {
        // The remote API serves the same object (`GET /v1/runs/{id}`).
        ctx.ui.json(&store.run_view(&run)?)?;
        return Ok(exit::OK);
    }
    let repo = store.get_repo(&run.repo_id)?;
    let details = store.run_details(&run.id)?;
    let pending = store.list_approvals(&ApprovalFilter {
        run_id: Some(run.id.clone()),
        states: vec![ApprovalState::Pending],
    })?;
    let events = store.last_seq(&run.id)?;
    let finished = store.run_finished(&run.id)?;
    // A run that failed before its workspace was made (a bad --base, a
    // clone that failed) has a path on record and nothing there.
    let workspace = std::path::Path::new(&run.workspace_path)
        .exists()
        .then_some(&run.workspace_path);
    let questions = store.open_questions(&run)?;
    let usage = store.run_usage(&run.id)?;
    let now = now();
    let field = |name: &str, value: String| format!("{:<10} {value}", ctx.ui.bold(name));
    ctx.ui.line(field("run", run.id.clone()))?;
    ctx.ui.line(field("repo", repo.name.clone()))?;
    ctx.ui.line(field("state", ctx.ui.run_state(run.state)))?;
    if let Some(finished) = &finished {
        let text = |key: &str| finished.get(key).and_then(Value::as_str).unwrap_or("");
        if !text("reason").is_empty() {
            ctx.ui
                .line(field("reason", printable(text("reason")).into_owned()))?;
        }
        if let Some(code) = finished.get("exit_code").and_then(Value::as_i64) {
            ctx.ui.line(field("exit code", code.to_string()))?;
        }
        let stderr_tail = finished.get("stderr_tail").and_then(Value::as_array);
        for (i, line) in stderr_tail.into_iter().flatten().enumerate() {
            let name = if i == 0 { "stderr" } else { "" };
            let line = fold_long_line(line.as_str().unwrap_or(""), STDERR_LINE_SHOWN).into_owned();
            ctx.ui.line(field(name, line))?;
        }
    }
    ctx.ui.line(field(
        "started",
        format!(
            "{} (updated {})",
            relative_time(run.created_at, now),
            relative_time(run.updated_at, now)
        ),
    ))?;
    match workspace {
        Some(path) => ctx.ui.line(field("workspace", path.clone()))?,
        None if run.state.is_active() => ctx
            .ui
            .line(field("workspace", "(being made)".to_string()))?,
        None => {}
    }
    if let Some(branch) = &details.branch {
        ctx.ui.line(field("branch", branch.clone()))?;
    }
    if let Some(base) = &details.base_commit {
        ctx.ui.line(field("base", base.clone()))?;
    }
    if !details.agent.is_null() {
        // A command line, as one would type it: `claude-code-acp (ACP,
        // claude)`, `./agent.sh --fast`.
        let shown = match serde_json::from_value::<crate::model::AgentSpec>(details.agent.clone()) {
            Ok(crate::model::AgentSpec::Exec { argv }) => crate::policy::shell_words(&argv),
            Ok(crate::model::AgentSpec::Acp { argv, preset }) => format!(
                "{} (ACP{})",
                crate::policy::shell_words(&argv),
                preset.map(|p| format!(", {p}")).unwrap_or_default()
            ),
            Err(_) => details.agent.to_string(),
        };
        ctx.ui.line(field(
            "agent",
            crate::cli::output::printable(&shown).into_owned(),
        ))?;
    }
    ctx.ui.line(field("events", events.to_string()))?;
    if let Some(usage) = &usage {
        ctx.ui.line(field("usage", usage.describe()))?;
    }
    for approval in &pending {
        ctx.ui.line(field(
            "waiting",
            format!(
                "{} approval {}: {}",
                approval.approval_type,
                short_id(&approval.id),
                printable(&crate::cli::approvals::summary(approval))
            ),
        ))?;
    }
    for question in &questions {
        let data = question.data.as_ref().unwrap_or(&Value::Null);
        let text = data.get("question").and_then(Value::as_str).unwrap_or("");
        let text = printable(text);
        // A question of several lines keeps them, under its first.
        let mut lines = text.lines();
        let first = lines.next().unwrap_or("");
        ctx.ui.line(field("waiting", format!("input: {first}")))?;
        for line in lines {
            ctx.ui.line(format!("{:<10} {line}", ""))?;
        }
        let schema = data.get("schema").unwrap_or(&Value::Null);
        if let Some(expected) = crate::question::expected(schema) {
            ctx.ui
                .line(format!("{:<10} expects {}", "", printable(&expected)))?;
        }
    }
    if !questions.is_empty() {
        let id = short_id(&run.id);
        let done = if super::is_conversational(&details) {
            format!(", or end the run with `m run done {id}`")
        } else {
            String::new()
        };
        ctx.ui.line(ctx.ui.dim(format!(
            "{:<10} answer with `m reply {id} TEXT` (the oldest question first){done}",
            "",
        )))?;
    }
    ctx.ui.line(String::new())?;
    ctx.ui.line(printable(&run.prompt))?;
    Ok(exit::OK)
}

/// A run still in its repo's queue: where it stands, and what it will run.
fn show_queued(ctx: &Ctx, store: &Store, queued: &QueuedRun, json: bool) -> Result<u8> {
    let repo = store.get_repo(&queued.repo_id)?;
    if json {
        ctx.ui.json(&store.queued_view(queued)?)?;
        return Ok(exit::OK);
    }
    let field = |name: &str, value: String| format!("{:<10} {value}", ctx.ui.bold(name));
    ctx.ui.line(field("run", queued.id.clone()))?;
    ctx.ui.line(field("repo", repo.name.clone()))?;
    ctx.ui.line(field(
        "state",
        format!(
            "queued (position {}: it starts when the runs before it have ended)",
            queued.position
        ),
    ))?;
    ctx.ui.line(field(
        "queued",
        relative_time(queued.created_at, now()).to_string(),
    ))?;
    if let Some(base) = &queued.base {
        ctx.ui.line(field("base", base.clone()))?;
    }
    ctx.ui.line(field("agent", queued.agent.to_string()))?;
    let id = short_id(&queued.id);
    ctx.ui.line(ctx.ui.dim(format!(
        "{:<10} wait for it with `m run wait {id}`; `m run cancel {id}` removes it from the queue",
        ""
    )))?;
    ctx.ui.line(String::new())?;
    ctx.ui.line(printable(&queued.prompt))?;
    Ok(exit::OK)
}
