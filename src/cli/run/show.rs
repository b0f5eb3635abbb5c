use clap::Args;
use serde_json::Value;

use crate::cli::output::{fold_long_line, printable, relative_time, STDERR_LINE_SHOWN};
use crate::cli::Ctx;
use crate::error::{exit, Result};
use crate::model::{now, short_id, ApprovalState, Event};
use crate::store::ApprovalFilter;

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Run id (any unique prefix).
    pub run: String,
    /// The run as one JSON object (README "Scripting" lists its fields).
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Ctx, args: ShowArgs) -> Result<u8> {
    let store = ctx.store()?;
    let run = store.find_run(&args.run)?;
    let repo = store.get_repo(&run.repo_id)?;
    let details = store.run_details(&run.id)?;
    let pending = store.list_approvals(&ApprovalFilter {
        run_id: Some(run.id.clone()),
        states: vec![ApprovalState::Pending],
    })?;
    if args.json {
        ctx.ui.json(&store.run_view(&run)?)?;
        return Ok(exit::OK);
    }
    let events = store.last_seq(&run.id)?;
    let finished = store.run_finished(&run.id)?;
    // A run that failed before its workspace was made (a bad --base, a
    // clone that failed) has a path on record and nothing there.
    let workspace = std::path::Path::new(&run.workspace_path)
        .exists()
        .then_some(&run.workspace_path);
    let input_events = store.open_questions(&run)?;
    let questions: Vec<&Event> = input_events.iter().collect();
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
        ctx.ui.line(field("agent", details.agent.to_string()))?;
    }
    ctx.ui.line(field("events", events.to_string()))?;
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
