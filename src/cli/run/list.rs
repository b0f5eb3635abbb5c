use clap::Args;

use crate::cli::output::{one_line, Cells};
use crate::cli::Ctx;
use crate::error::{exit, Error, Result};
use crate::model::{now, short_id, write_relative_time, RunState};
use crate::store::RunFilter;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only runs of this repo (name or id prefix).
    #[arg(long, short = 'r')]
    #[arg(add = crate::cli::complete::repo_names())]
    pub repo: Option<String>,
    /// Only runs in this state (repeatable); `active` means running or
    /// waiting for a human, `queued` waiting in the repo's queue.
    #[arg(long)]
    #[arg(add = crate::cli::complete::run_state_names())]
    pub state: Vec<String>,
    /// At most this many runs, the newest first (the table shows 20 unless
    /// told otherwise; --json lists every run unless told this).
    #[arg(long, short = 'n', conflicts_with = "all")]
    pub limit: Option<u32>,
    /// Every run, however many (the table shows the newest 20 by default).
    #[arg(long)]
    pub all: bool,
    /// A JSON list of runs, each as `m run show --json` prints it (README
    /// "Run JSON"); every run unless -n is given.
    #[arg(long)]
    pub json: bool,
}

/// How many runs the table shows when neither -n nor --all is given: a
/// screenful, as `gh run list` does, however long the history.
pub const DEFAULT_ROWS: u32 = 20;

pub fn run(ctx: &Ctx, args: ListArgs) -> Result<u8> {
    let store = ctx.store()?;
    let repo_id = match &args.repo {
        Some(repo) => Some(store.find_repo(repo)?.id),
        None => None,
    };
    let mut states = Vec::new();
    let mut with_queued = args.state.is_empty();
    for state in &args.state {
        match state.as_str() {
            "active" => states.extend(RunState::ACTIVE),
            "queued" => with_queued = true,
            other => states.push(other.parse().map_err(|e: Error| {
                e.with_hint(format!(
                    "use one of: {}, queued, or active for running or waiting",
                    RunState::NAMES.join(", ")
                ))
            })?),
        }
    }
    let limit = match (args.limit, args.all || args.json) {
        (Some(limit), _) => Some(limit),
        (None, true) => None,
        (None, false) => Some(DEFAULT_ROWS),
    };
    // Queued runs are the newest: they come first.
    let mut queued = match with_queued {
        true => store.list_queued(repo_id.as_deref())?,
        false => Vec::new(),
    };
    let queued_total = queued.len() as u64;
    if let Some(limit) = limit {
        queued.truncate(limit as usize);
    }
    let only_queued = states.is_empty() && !args.state.is_empty();
    let filter = RunFilter {
        repo_id: repo_id.clone(),
        states: states.clone(),
        limit: limit.map(|l| l - queued.len() as u32),
    };
    let list_runs = match (only_queued, limit) {
        // Only `--state queued`.
        (true, _) => false,
        (false, Some(limit)) => queued.len() < limit as usize,
        (false, None) => true,
    };
    if args.json {
        let runs = match list_runs {
            true => store.list_runs(&filter)?,
            false => Vec::new(),
        };
        // Each as `m run show --json` prints it (README "Run JSON").
        let mut all: Vec<serde_json::Value> = Vec::with_capacity(queued.len() + runs.len());
        for queued in &queued {
            all.push(store.queued_view(queued)?);
        }
        for run in &runs {
            all.push(store.run_view(run)?);
        }
        ctx.ui.json(&all)?;
        return Ok(exit::OK);
    }
    let repos = store.list_repos()?;
    let now = now();
    let repo_name = |repo_id: &str| {
        repos
            .iter()
            .find(|r| r.id == repo_id)
            .map_or("", |r| r.name.as_str())
    };
    const HEADERS: [&str; 5] = ["RUN", "REPO", "STATE", "STARTED", "PROMPT"];
    let mut rows = Cells::new(HEADERS.len());
    for q in &queued {
        rows.push(short_id(&q.id));
        rows.push(repo_name(&q.repo_id));
        rows.push(&format!("queued ({})", q.position));
        rows.push_with(|out| write_relative_time(out, q.created_at, now));
        rows.push(&one_line(&q.prompt, 50));
    }
    // Straight from each row read into the table's one string: a listing
    // may hold a hundred thousand runs.
    let painted: Vec<String> = RunState::ALL.iter().map(|&s| ctx.ui.run_state(s)).collect();
    let mut shown = queued.len() as u64;
    if list_runs {
        store.each_run_line(&filter, |run| {
            rows.push(short_id(run.id));
            rows.push(repo_name(run.repo_id));
            rows.push(match ctx.ui.color {
                true => {
                    &painted[RunState::ALL
                        .iter()
                        .position(|&s| s == run.state)
                        .unwrap_or(0)]
                }
                false => run.state.as_str(),
            });
            rows.push_with(|out| write_relative_time(out, run.created_at, now));
            rows.push(&one_line(run.prompt, 50));
            shown += 1;
            Ok(())
        })?;
    }
    if shown == 0 {
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
    ctx.ui.cells_table(&HEADERS, &rows)?;
    if limit.is_some_and(|l| shown >= u64::from(l)) {
        let total = queued_total
            + match only_queued {
                true => 0,
                false => store.count_runs(repo_id.as_deref(), &states)?,
            };
        if total > shown {
            ctx.ui.line(more_line(total - shown, total, &args))?;
        }
    }
    Ok(exit::OK)
}

/// The line under a table that left runs out: how many, and the commands
/// (with the filters as typed) that show them.
fn more_line(more: u64, total: u64, args: &ListArgs) -> String {
    let mut typed = String::from("m run list");
    if let Some(repo) = &args.repo {
        typed.push_str(&format!(" -r {repo}"));
    }
    for state in &args.state {
        typed.push_str(&format!(" --state {state}"));
    }
    let runs = if more == 1 { "run" } else { "runs" };
    format!(
        "... and {more} more {runs} ({total} in all): `{typed} -n {}` shows more, `{typed} --all` every one.",
        total.min(u64::from(DEFAULT_ROWS) * 5).max(1)
    )
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
