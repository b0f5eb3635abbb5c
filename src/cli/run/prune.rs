use std::time::Duration;

use clap::Args;

use crate::cli::Ctx;
use crate::error::{exit, Error, Result};
use crate::model::{now, RunState};
use crate::store::RunFilter;

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Only runs that ended at least this long ago (e.g. 7d, 12h, 30m).
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration)]
    pub older_than: Option<Duration>,
    /// Only runs in this final state (repeatable): completed, failed,
    /// cancelled.
    #[arg(long, value_name = "STATE")]
    #[arg(add = crate::cli::complete::final_run_state_names())]
    pub state: Vec<String>,
    /// Only runs of this repo (name or id prefix).
    #[arg(long, short = 'r')]
    #[arg(add = crate::cli::complete::repo_names())]
    pub repo: Option<String>,
    /// Also remove work found nowhere else, as `m run rm --force` does.
    #[arg(long, short = 'f')]
    pub force: bool,
}

/// Removes finished runs as `m run rm` does: their workspaces, the branches
/// merged already, their records. Work on no other branch stays: an
/// unmerged branch is kept, a workspace holding work its branch lacks is
/// kept with its run (exit 4), unless `--force`.
pub fn run(ctx: &Ctx, args: PruneArgs) -> Result<u8> {
    let mut store = ctx.store()?;
    let mut states = Vec::new();
    for state in &args.state {
        let state: RunState = state.parse()?;
        if !state.is_final() {
            return Err(
                Error::usage(format!("--state {state}: prune removes only finished runs"))
                    .with_hint("use completed, failed or cancelled"),
            );
        }
        states.push(state);
    }
    if states.is_empty() {
        states = vec![RunState::Completed, RunState::Failed, RunState::Cancelled];
    }
    let repo_id = match &args.repo {
        Some(repo) => Some(store.find_repo(repo)?.id),
        None => None,
    };
    let cutoff = args.older_than.map(|age| now() - age.as_secs() as i64);
    let runs: Vec<_> = store
        .list_runs(&RunFilter {
            repo_id,
            states,
            limit: None,
        })?
        .into_iter()
        .filter(|run| cutoff.is_none_or(|cutoff| run.updated_at <= cutoff))
        .collect();
    if runs.is_empty() {
        ctx.ui.line("No finished run to prune")?;
        return Ok(exit::OK);
    }
    super::rm::remove_runs(ctx, &mut store, &runs, args.force)
}
