//! What a run is started with: its agent and its options, fixed when it
//! starts and stored as JSON in `run_details`.

use serde::{Deserialize, Serialize};

use super::{ApprovalType, OnTimeout, Repo};
use crate::error::Error;

/// How a run's agent is started (stored as JSON in `run_details.agent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AgentSpec {
    /// Any command; the prompt is in `M_PROMPT`.
    Exec { argv: Vec<String> },
    /// An Agent Client Protocol agent over stdio; `preset` names it for people.
    Acp {
        preset: Option<String>,
        argv: Vec<String>,
    },
}

impl AgentSpec {
    /// A conversational run waits for a human's next prompt after each
    /// turn, until `m run done`: an ACP agent without `--once`. Any other
    /// run ends when its agent does.
    pub fn is_conversational(&self, once: bool) -> bool {
        matches!(self, AgentSpec::Acp { .. }) && !once
    }
}

/// Options of a run, fixed when it starts (stored in `run_details.options`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunOptions {
    /// Hold the run for a diff approval when the agent finishes well.
    pub review: bool,
    /// Approval types decided by policy without a human.
    pub auto_approve: Vec<ApprovalType>,
    /// Command prefixes approved by policy (`cargo test`, `git status`).
    pub allow_commands: Vec<String>,
    /// ACP: complete at the first end of turn instead of waiting for more.
    pub once: bool,
    /// The run's time limit in seconds (`--timeout`, `[run] timeout`): the
    /// run is cancelled when it is reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// Time spent waiting for a human does not count towards the limit.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub timeout_excludes_waiting: bool,
    /// How long an approval or a question may wait for a human, in
    /// seconds (`--approval-timeout`, `[approvals] timeout`); then
    /// `on_timeout` decides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_timeout_seconds: Option<u64>,
    /// What the approval timeout decides (`[approvals] on_timeout`); None
    /// is `reject`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<OnTimeout>,
    /// After how long, in seconds, the humans are notified again about an
    /// approval or a question still open (`[approvals] remind_after`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remind_after_seconds: Option<u64>,
}

impl RunOptions {
    /// Whether a run on `repo` can have these options. A scratch directory
    /// has no history, so its runs have no diff to review: refused before
    /// the run starts rather than failing at its end.
    pub fn check_repo(&self, repo: &Repo) -> Result<(), Error> {
        if self.review && repo.git_url.is_none() {
            return Err(Error::usage(format!(
                "--review: repo {} is a scratch repo, without git, so its runs have no diff to review",
                repo.name
            ))
            .with_hint(
                "drop --review, or register a git repository with `m repo add PATH_OR_URL`",
            ));
        }
        Ok(())
    }
}
