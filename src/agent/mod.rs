//! The agent seam. An adapter drives one agent process for one run and talks
//! to the rest of m only through a [`RunContext`]: it emits events, asks for
//! approvals and input, and learns of cancellation. The daemon's run
//! supervisor serves the other end of the context; tests can serve it too.

pub mod acp;
pub mod exec;

use std::ffi::OsString;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};

use crate::model::ApprovalType;
use crate::model::EventType;

/// What a run needs to start its agent.
#[derive(Debug, Clone)]
pub struct Launch {
    pub run_id: String,
    pub prompt: String,
    /// The prompt in a file (`M_PROMPT_FILE`), for prompts of any length.
    pub prompt_file: std::path::PathBuf,
    pub workspace: std::path::PathBuf,
    /// The agent's whole environment: its caller's, with m's own `M_RUN_ID`,
    /// `M_SOCKET`, `M_HOME` (see the supervisor's `agent_env`).
    pub env: Vec<(String, String)>,
    /// Hold the finished work for a human's review (`m run start --review`).
    pub review: bool,
    /// The m binary, re-executed as the agent's keeper (`m keeper`).
    pub m_binary: std::path::PathBuf,
    /// The run's cgroup, made by the daemon, when runs get one.
    pub cgroup: Option<std::path::PathBuf>,
}

impl Launch {
    /// The agent's whole environment: the run's (the caller's, and m's
    /// variables), and where its prompt is. Nothing of the daemon's.
    pub fn agent_env(&self) -> Vec<(OsString, OsString)> {
        let mut env: Vec<(OsString, OsString)> =
            self.env.iter().map(|(k, v)| (k.into(), v.into())).collect();
        env.push(("M_PROMPT_FILE".into(), self.prompt_file.clone().into()));
        env
    }
}

/// A request for a human's approval.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRequest {
    pub approval_type: ApprovalType,
    /// Stored as the approval's payload: what the human looks at.
    pub payload: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Approved {
        /// `m approve --always --persist`: the agent may keep the grant
        /// itself (its `allow_always`, which may outlive the run). Without
        /// it an agent is only ever allowed once: m keeps `--always` grants
        /// itself (see `policy::Grant`).
        persist: bool,
    },
    Rejected {
        reason: String,
    },
    /// The run ended (cancelled, failed) before anyone decided.
    RunEnded,
}

/// A question for the human.
#[derive(Debug, Clone, PartialEq)]
pub struct InputRequest {
    pub question: String,
    /// A JSON schema the answer must fit (ACP elicitation), if any.
    pub schema: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InputReply {
    Text(String),
    /// `m run done`: the human has nothing more to say; finish the run.
    Done,
    RunEnded,
}

/// How the agent's work ended, as the adapter saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentOutcome {
    /// Finished well; the daemon commits the workspace and completes the run.
    Completed,
    Failed {
        reason: String,
        exit_code: Option<i32>,
        stderr_tail: Vec<String>,
    },
    Cancelled,
}

/// What an adapter asks of the supervisor.
#[derive(Debug)]
pub enum AgentRequest {
    /// The agent started under its keeper, leader of process group `pgid`
    /// (the keeper's pid): recorded so a daemon restarted after a crash can
    /// kill what is left of it, and known so the run's processes are told
    /// from humans.
    Spawned { pgid: i32 },
    Emit {
        event_type: EventType,
        data: Value,
        /// The event's share of the run's [`OUTPUT_BUDGET`], given back
        /// when the event is stored (or dropped).
        held: Option<OwnedSemaphorePermit>,
    },
    Approval {
        request: ApprovalRequest,
        reply: oneshot::Sender<Verdict>,
    },
    Input {
        request: InputRequest,
        reply: oneshot::Sender<InputReply>,
    },
    /// The agent is done and the run was started with `--review`: the
    /// supervisor commits the workspace and asks a human to approve the
    /// whole diff. A rejection's reason may become the agent's next prompt.
    Review {
        reply: oneshot::Sender<ReviewOutcome>,
    },
}

/// How the run's final review went.
#[derive(Debug, Clone, PartialEq)]
pub enum ReviewOutcome {
    /// A human (or a policy) decided on the run's diff.
    Verdict(Verdict),
    /// The run changed nothing: nobody was asked, and the run completes.
    NothingToReview,
    /// The diff could not be made (git failed, the worktree is gone). No
    /// human decided anything, so this is never a prompt for the agent,
    /// which could do nothing about it: the run fails with this reason.
    CannotPrepare { reason: String },
}

/// How much of a run's events (its output, mostly) may be in the daemon's
/// memory at once: read from the agent and not yet stored. Past it, the
/// adapter waits before it reads more (a full disk: the agent then blocks on
/// its writes, as on a slow terminal, and nothing read is dropped).
pub const OUTPUT_BUDGET: usize = 4 << 20;

/// Roughly what an event's data costs in memory: its text and a word or
/// two per value. Cheap (no serialisation): it is counted for every event.
pub fn weight(value: &Value) -> usize {
    16 + match value {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(weight).sum(),
        Value::Object(map) => map.iter().map(|(k, v)| k.len() + weight(v)).sum(),
        _ => 0,
    }
}

/// The adapter's handle on its run.
#[derive(Clone)]
pub struct RunContext {
    pub launch: Launch,
    requests: mpsc::Sender<AgentRequest>,
    cancel: watch::Receiver<bool>,
    /// The run's [`OUTPUT_BUDGET`], in bytes.
    budget: Arc<Semaphore>,
}

impl RunContext {
    pub fn new(
        launch: Launch,
        requests: mpsc::Sender<AgentRequest>,
        cancel: watch::Receiver<bool>,
    ) -> RunContext {
        RunContext {
            launch,
            requests,
            cancel,
            budget: Arc::new(Semaphore::new(OUTPUT_BUDGET)),
        }
    }

    /// Records an event. Waits while the run's events not yet stored fill
    /// its [`OUTPUT_BUDGET`], which is how a flooding agent is slowed to the
    /// disk's pace (or stopped while the disk is full) instead of filling
    /// memory. An event larger than the whole budget waits for all of it.
    pub async fn emit(&self, event_type: EventType, data: Value) {
        let share = weight(&data).clamp(1, OUTPUT_BUDGET) as u32;
        let held = self.budget.clone().acquire_many_owned(share).await.ok();
        let _ = self
            .requests
            .send(AgentRequest::Emit {
                event_type,
                data,
                held,
            })
            .await;
    }

    pub async fn spawned(&self, pgid: i32) {
        let _ = self.requests.send(AgentRequest::Spawned { pgid }).await;
    }

    /// Asks for an approval and waits for the decision.
    pub async fn request_approval(&self, request: ApprovalRequest) -> Verdict {
        let (reply, rx) = oneshot::channel();
        if self
            .requests
            .send(AgentRequest::Approval { request, reply })
            .await
            .is_err()
        {
            return Verdict::RunEnded;
        }
        rx.await.unwrap_or(Verdict::RunEnded)
    }

    /// Asks the human a question and waits for the answer.
    pub async fn request_input(&self, request: InputRequest) -> InputReply {
        let (reply, rx) = oneshot::channel();
        if self
            .requests
            .send(AgentRequest::Input { request, reply })
            .await
            .is_err()
        {
            return InputReply::RunEnded;
        }
        rx.await.unwrap_or(InputReply::RunEnded)
    }

    /// Asks for the run's final review (see [`AgentRequest::Review`]).
    pub async fn request_review(&self) -> ReviewOutcome {
        let run_ended = ReviewOutcome::Verdict(Verdict::RunEnded);
        let (reply, rx) = oneshot::channel();
        if self
            .requests
            .send(AgentRequest::Review { reply })
            .await
            .is_err()
        {
            return run_ended;
        }
        rx.await.unwrap_or(run_ended)
    }

    /// Resolves when the run is cancelled, or its supervisor is gone.
    pub async fn cancelled(&self) {
        let mut cancel = self.cancel.clone();
        let _ = cancel.wait_for(|c| *c).await;
    }
}
