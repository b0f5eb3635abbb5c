//! Dynamic shell completion: the scripts `m completions SHELL` prints call
//! `m` back at each TAB (`COMPLETE=SHELL m -- WORDS`), and the value
//! completers below offer what exists now: run and approval ids, repo
//! names, agents, states and event types.
//!
//! A completer runs inside the user's shell: it must be quick, print
//! nothing of its own, never start a daemon and never create a data
//! directory. Any failure offers nothing.

use clap::builder::StyledStr;
use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};

use super::output::one_line;
use crate::model::{short_id, Approval, ApprovalState, EventType, RunState};
use crate::paths::Paths;
use crate::store::{ApprovalFilter, RunFilter, Store};

/// The environment variable the scripts set to ask `m` for completions.
pub const VAR: &str = "COMPLETE";

/// How many recent runs a TAB offers: a history of a million runs must not
/// make the shell wait.
const RECENT_RUNS: u32 = 200;

/// The store, if there is one already; completion never creates it.
fn existing_store() -> Option<Store> {
    let paths = Paths::from_env().ok()?;
    let database = paths.database();
    if !database.is_file() {
        return None;
    }
    Store::open(&database).ok()
}

fn candidate(value: impl Into<String>, help: impl Into<String>) -> CompletionCandidate {
    CompletionCandidate::new(value.into()).help(Some(StyledStr::from(help.into())))
}

/// Runs, newest first, and queued runs: the short id, with state and prompt.
fn runs() -> Vec<CompletionCandidate> {
    let Some(store) = existing_store() else {
        return Vec::new();
    };
    let filter = RunFilter {
        limit: Some(RECENT_RUNS),
        ..RunFilter::default()
    };
    let mut candidates: Vec<CompletionCandidate> = store
        .list_queued(None)
        .unwrap_or_default()
        .into_iter()
        .map(|q| {
            candidate(
                short_id(&q.id),
                format!("queued: {}", one_line(&q.prompt, 50)),
            )
        })
        .collect();
    candidates.extend(
        store
            .list_runs(&filter)
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                candidate(
                    short_id(&r.id),
                    format!("{}: {}", r.state, one_line(&r.prompt, 50)),
                )
            }),
    );
    candidates
}

/// Pending approvals (what `m approve` and `m reject` act on), then their runs.
fn pending_approvals() -> Vec<CompletionCandidate> {
    approvals_in(vec![ApprovalState::Pending], |a| {
        format!("{} of run {}", a.approval_type, short_id(&a.run_id))
    })
}

/// Every approval, newest first (for `m approval show`).
fn approvals() -> Vec<CompletionCandidate> {
    approvals_in(Vec::new(), |a| {
        format!(
            "{} {}, run {}",
            a.state,
            a.approval_type,
            short_id(&a.run_id)
        )
    })
}

/// The approvals in `states` (in any state if none), each told by `describe`.
fn approvals_in(
    states: Vec<ApprovalState>,
    describe: impl Fn(&Approval) -> String,
) -> Vec<CompletionCandidate> {
    let Some(store) = existing_store() else {
        return Vec::new();
    };
    let filter = ApprovalFilter {
        run_id: None,
        states,
    };
    store
        .list_approvals(&filter)
        .unwrap_or_default()
        .iter()
        .map(|a| candidate(short_id(&a.id), describe(a)))
        .collect()
}

fn repos() -> Vec<CompletionCandidate> {
    let Some(store) = existing_store() else {
        return Vec::new();
    };
    store
        .list_repos()
        .unwrap_or_default()
        .into_iter()
        .map(|r| candidate(r.name, r.git_url.unwrap_or_else(|| "scratch".into())))
        .collect()
}

fn agents() -> Vec<CompletionCandidate> {
    crate::presets::PRESETS
        .iter()
        .map(|p| candidate(p.name, p.about))
        .collect()
}

fn run_states() -> Vec<CompletionCandidate> {
    let mut names: Vec<&str> = RunState::NAMES.to_vec();
    names.push("queued");
    names.into_iter().map(CompletionCandidate::new).collect()
}

fn final_run_states() -> Vec<CompletionCandidate> {
    RunState::ALL
        .iter()
        .filter(|s| s.is_final())
        .map(|s| CompletionCandidate::new(s.as_str()))
        .collect()
}

fn approval_states() -> Vec<CompletionCandidate> {
    ApprovalState::NAMES
        .iter()
        .chain(&["all"])
        .map(|s| CompletionCandidate::new(*s))
        .collect()
}

fn event_types() -> Vec<CompletionCandidate> {
    EventType::NAMES
        .iter()
        .map(|t| CompletionCandidate::new(*t))
        .collect()
}

pub fn run_ids() -> ArgValueCandidates {
    ArgValueCandidates::new(runs)
}

pub fn pending_approval_ids() -> ArgValueCandidates {
    ArgValueCandidates::new(pending_approvals)
}

pub fn approval_ids() -> ArgValueCandidates {
    ArgValueCandidates::new(approvals)
}

pub fn repo_names() -> ArgValueCandidates {
    ArgValueCandidates::new(repos)
}

pub fn agent_names() -> ArgValueCandidates {
    ArgValueCandidates::new(agents)
}

pub fn run_state_names() -> ArgValueCandidates {
    ArgValueCandidates::new(run_states)
}

pub fn final_run_state_names() -> ArgValueCandidates {
    ArgValueCandidates::new(final_run_states)
}

pub fn approval_state_names() -> ArgValueCandidates {
    ArgValueCandidates::new(approval_states)
}

pub fn event_type_names() -> ArgValueCandidates {
    ArgValueCandidates::new(event_types)
}

/// Answers a completion request from a shell script and exits, if this
/// process is one (`COMPLETE` is set); otherwise returns.
pub fn answer_if_asked() {
    clap_complete::CompleteEnv::with_factory(<super::Cli as clap::CommandFactory>::command)
        .var(VAR)
        .bin("m")
        .completer("m")
        .complete();
}
