use std::borrow::Cow;

use clap::Args;

use crate::cli::output::{one_line, relative_time};
use crate::cli::Ctx;
use crate::error::{exit, Error, Result};
use crate::model::{now, short_id, RunState};
use crate::store::RunFilter;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only runs of this repo (name or id prefix).
    #[arg(long, short = 'r')]
    pub repo: Option<String>,
    /// Only runs in this state (repeatable); `active` means any unfinished state.
    #[arg(long)]
    pub state: Vec<String>,
    /// At most this many runs.
    #[arg(long, short = 'n')]
    pub limit: Option<u32>,
    /// A JSON list of runs, each as `m run show --json` prints it.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Ctx, args: ListArgs) -> Result<u8> {
    let store = ctx.store()?;
    let repo_id = match &args.repo {
        Some(repo) => Some(store.find_repo(repo)?.id),
        None => None,
    };
    let mut states = Vec::new();
    for state in &args.state {
        match state.as_str() {
            "active" => states.extend(RunState::ACTIVE),
            other => states.push(other.parse().map_err(|e: Error| {
                e.with_hint(format!(
                    "use one of: {}, or active for any unfinished state",
                    RunState::NAMES.join(", ")
                ))
            })?),
        }
    }
    let runs = store.list_runs(&RunFilter {
        repo_id,
        states,
        limit: args.limit,
    })?;
    if args.json {
        ctx.ui.json(&runs)?;
        return Ok(exit::OK);
    }
    if runs.is_empty() {
        let any_run = !store
            .list_runs(&RunFilter {
                limit: Some(1),
                ..RunFilter::default()
            })?
            .is_empty();
        let filters = filters(&args);
        if any_run && !filters.is_empty() {
            ctx.ui.line(format!(
                "No runs match {filters}. `m run list` lists every run."
            ))?;
        } else {
            ctx.ui
                .line("No runs. Start one with `m run start -r REPO \"PROMPT\" -- COMMAND`.")?;
        }
        return Ok(exit::OK);
    }
    let repos = store.list_repos()?;
    let now = now();
    // Borrowed where possible: a listing may hold a hundred thousand rows.
    let rows: Vec<Vec<Cow<str>>> = runs
        .iter()
        .map(|run| {
            let repo = repos
                .iter()
                .find(|r| r.id == run.repo_id)
                .map_or("", |r| r.name.as_str());
            vec![
                Cow::Borrowed(short_id(&run.id)),
                Cow::Borrowed(repo),
                match ctx.ui.color {
                    true => Cow::Owned(ctx.ui.run_state(run.state)),
                    false => Cow::Borrowed(run.state.as_str()),
                },
                Cow::Owned(relative_time(run.created_at, now)),
                one_line(&run.prompt, 50),
            ]
        })
        .collect();
    ctx.ui
        .table(&["RUN", "REPO", "STATE", "STARTED", "PROMPT"], &rows)?;
    Ok(exit::OK)
}

/// The filters of a listing as they were typed, to say what matched nothing.
fn filters(args: &ListArgs) -> String {
    let mut words = Vec::new();
    if let Some(repo) = &args.repo {
        words.push(format!("--repo {repo}"));
    }
    for state in &args.state {
        words.push(format!("--state {state}"));
    }
    if let Some(limit) = args.limit {
        words.push(format!("--limit {limit}"));
    }
    words.join(" ")
}
