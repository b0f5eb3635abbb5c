//! One supervisor task per run: it makes the workspace, starts the agent
//! through its adapter, serves the adapter's requests (events, approvals,
//! questions, review), hears the humans' decisions, and ends the run.
//!
//! This file holds the run's state and its life from start to end;
//! `humans.rs` what the run waits for from humans (approvals, questions,
//! their reminders and deadlines, and the decisions and replies that come
//! back), `review.rs` the end-of-run review.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};

mod humans;
mod review;

use super::Shared;
use crate::agent::{
    acp, exec, AgentOutcome, AgentRequest, ApprovalRequest, InputReply, InputRequest, Launch,
    ReviewOutcome, RunContext, Verdict,
};
use crate::error::{Error, ErrorKind, Result};
use crate::model::EventType;
use crate::model::{short_id, AgentSpec, ApprovalType, DecidedBy, Repo, Run, RunOptions, RunState};
use crate::policy::{self, Grant};
use crate::process::keeper;
use crate::store::{Decision, NewEvent, STALE};
use crate::workspace::{self, Workspace};
use humans::{Asked, OpenQuestion, PendingApproval};
pub(super) use review::{approved_in_store, finish_approved, ApprovedReview};
use review::{Review, NOTHING_TO_REVIEW};

/// Messages from request handlers to a live run.
pub enum Control {
    /// A decision already committed to the database: what the agent
    /// waiting on the approval is told.
    Verdict {
        approval_id: String,
        verdict: Verdict,
        /// `m approve --always`: what m approves again itself for the rest
        /// of the run.
        grant: Option<Grant>,
    },
    /// A human's answer to the oldest open question (`by` m itself when
    /// the idle timeout ends a conversation).
    Reply {
        reply: InputReply,
        by: DecidedBy,
        ack: oneshot::Sender<Result<()>>,
    },
    /// A human is about to decide `approval_id`. When it is the run's
    /// review and the worktree changed since it was asked, the decision
    /// would act on what its human did not see: the review is asked again
    /// (a new approval), the old one closed as stale, and `ack` gets the
    /// stale conflict. Otherwise `ack` gets `Ok` and the decision goes on.
    CheckReview {
        approval_id: String,
        ack: oneshot::Sender<Result<()>>,
    },
    /// `m run cancel` (`None`) or daemon shutdown (`Some(reason)`: the run
    /// fails, unless it is a conversation whose agent can resume its
    /// session: that is suspended, for the next daemon to resume).
    Stop { failure: Option<String> },
}

/// What handlers hold of a live run.
#[derive(Clone)]
pub struct RunHandle {
    pub requests: mpsc::Sender<AgentRequest>,
    pub control: mpsc::Sender<Control>,
    /// Set when a cancel begins: decisions are refused from then on.
    pub stopping: Arc<AtomicBool>,
}

pub struct StartedRun {
    pub run: Run,
    pub repo: Repo,
    pub agent: AgentSpec,
    pub base: Option<String>,
    pub options: RunOptions,
    /// The environment of whoever started the run: the agent's, with m's
    /// own variables. Held in memory only (it may hold secrets).
    pub env: Vec<(String, String)>,
    /// Set when a daemon that started found the run left active: its
    /// workspace as it is, and the agent's session to take up again.
    pub resumed: Option<Resumed>,
}

/// A run taken up by a daemon that restarted under it.
pub struct Resumed {
    pub workspace: Workspace,
    pub session: acp::Resume,
}

/// Registers the run and spawns its supervisor (see `queue::supervise`,
/// which starts the repo's next queued run when it ends).
/// Returns its task, which ends once the run has ended and left `shared.runs`.
pub fn spawn(shared: Arc<Shared>, started: StartedRun) -> tokio::task::JoinHandle<()> {
    // Short, like the writer's queue: it holds the agent's output events
    // while the writer is behind (see writer::QUEUE).
    let (requests_tx, requests) = mpsc::channel(64);
    let (control_tx, control) = mpsc::channel(64);
    shared
        .runs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            started.run.id.clone(),
            RunHandle {
                requests: requests_tx.clone(),
                control: control_tx,
                stopping: Arc::new(AtomicBool::new(false)),
            },
        );
    tokio::spawn(async move {
        let run_id = started.run.id.clone();
        let mut supervisor = Supervisor {
            shared: shared.clone(),
            run_id: run_id.clone(),
            prompt: started.run.prompt.clone(),
            options: started.options.clone(),
            conversational: started.agent.is_conversational(started.options.once),
            nothing_to_review: false,
            review: None,
            approved: None,
            approvals: HashMap::new(),
            grants: Vec::new(),
            asked_again: HashMap::new(),
            once: Vec::new(),
            session: None,
            questions: VecDeque::new(),
            idle_deadline: None,
            failure: None,
            stopped: false,
            stop_reason: None,
            limit: started.options.timeout_seconds.map(|secs| TimeLimit {
                limit: Duration::from_secs(secs),
                // A resumed run's limit counts from its start, not this
                // daemon's.
                started: started
                    .resumed
                    .as_ref()
                    .and_then(|_| {
                        let age = (crate::model::now() - started.run.created_at).max(0);
                        tokio::time::Instant::now().checked_sub(Duration::from_secs(age as u64))
                    })
                    .unwrap_or_else(tokio::time::Instant::now),
                excludes_waiting: started.options.timeout_excludes_waiting,
                waited: Duration::ZERO,
                waiting_since: None,
            }),
            cancel: watch::channel(false).0,
        };
        supervisor
            .run(started, requests_tx, requests, control)
            .await;
        shared
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&run_id);
        shared
            .keepers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, run| *run != run_id);
        shared.run_ended.notify_waiters();
        super::memory::something_ended();
    })
}

struct Supervisor {
    shared: Arc<Shared>,
    run_id: String,
    /// What the run was asked, for its commit's message.
    prompt: String,
    options: RunOptions,
    /// Whether the run waits for a next prompt after each turn (an ACP
    /// agent without `--once`): only such a run is ended by `m run done`.
    conversational: bool,
    /// Set when the review was skipped because the run changed nothing, so
    /// that the run's end says why nobody was asked.
    nothing_to_review: bool,
    /// The review waiting for a human, with the worktree it showed.
    review: Option<Review>,
    /// The review a human approved: the run's end commits its tree.
    approved: Option<ApprovedReview>,
    /// Approvals asked and not yet decided, with whoever waits for each.
    approvals: HashMap<String, PendingApproval>,
    /// What `m approve --always` granted for the rest of the run.
    grants: Vec<Grant>,
    /// Approvals asked again after a restart (their agent's request was
    /// lost), with what approving one lets through once.
    asked_again: HashMap<String, Option<Grant>>,
    /// What approvals asked again let through: the agent's next request
    /// for the same action, once each.
    once: Vec<Grant>,
    /// The agent's session, once open, when the agent can resume it: a
    /// daemon that stops then suspends the run instead of failing it.
    session: Option<String>,
    /// Open questions, oldest first (the one `m reply` answers).
    questions: VecDeque<OpenQuestion>,
    /// When a conversational run waiting for its next prompt is done.
    idle_deadline: Option<tokio::time::Instant>,
    /// Set when the daemon stops under the run: it then fails, saying why.
    failure: Option<String>,
    /// Set once the run was told to stop (cancel or shutdown): however the
    /// agent then exits, even with status 0, the run did not complete.
    stopped: bool,
    /// Why the run was stopped, when not by `m run cancel`.
    stop_reason: Option<String>,
    /// The run's time limit (`--timeout`), if it has one.
    limit: Option<TimeLimit>,
    cancel: watch::Sender<bool>,
}

/// A run's time limit, which waiting for a human may not count towards.
struct TimeLimit {
    limit: Duration,
    started: tokio::time::Instant,
    excludes_waiting: bool,
    /// Time spent waiting for a human, before `waiting_since`.
    waited: Duration,
    waiting_since: Option<tokio::time::Instant>,
}

impl TimeLimit {
    /// Notes whether the run waits for a human now; returns when the limit
    /// is reached (None while a wait that does not count goes on).
    fn deadline(&mut self, waiting: bool) -> Option<tokio::time::Instant> {
        let now = tokio::time::Instant::now();
        match (waiting, self.waiting_since) {
            (true, None) => self.waiting_since = Some(now),
            (false, Some(since)) => {
                self.waited += now - since;
                self.waiting_since = None;
            }
            _ => {}
        }
        if !self.excludes_waiting {
            return Some(self.started + self.limit);
        }
        (!waiting).then(|| self.started + self.limit + self.waited)
    }
}

impl Supervisor {
    async fn run(
        &mut self,
        started: StartedRun,
        requests_tx: mpsc::Sender<AgentRequest>,
        mut requests: mpsc::Receiver<AgentRequest>,
        mut control: mpsc::Receiver<Control>,
    ) {
        let workspace = match &started.resumed {
            Some(resumed) if resumed.workspace.path.is_dir() => Ok(resumed.workspace.clone()),
            Some(resumed) => Err(Error::failure(format!(
                "cannot resume the run: its workspace {} is gone",
                resumed.workspace.path.display()
            ))),
            None => self.make_workspace(&started).await,
        };
        let workspace = match workspace {
            Ok(ws) => ws,
            Err(err) => {
                let reason = format!("cannot make the workspace: {}", err.message);
                self.finish(RunState::Failed, json!({ "reason": reason }))
                    .await;
                return;
            }
        };
        let prompt_file = match self.write_prompt_file(&started.run.prompt) {
            Ok(path) => path,
            Err(err) => {
                let reason = format!("cannot write the prompt file: {}", err.message);
                self.finish(RunState::Failed, json!({ "reason": reason }))
                    .await;
                return;
            }
        };
        let launch = Launch {
            run_id: self.run_id.clone(),
            prompt: started.run.prompt.clone(),
            prompt_file,
            workspace: workspace.path.clone(),
            env: self.agent_env(&started.env),
            review: started.options.review,
            m_binary: keeper::this_binary(),
            cgroup: self.shared.containment.run_cgroup(&self.run_id),
        };
        let cgroup = launch.cgroup.clone();
        let ctx = RunContext::new(launch, requests_tx, self.cancel.subscribe());
        let grace = self.shared.grace;
        let startup_timeout = self.shared.startup_timeout;
        let agent_auth = self.shared.agent_auth.clone();
        let agent = started.agent.clone();
        let (once, review) = (started.options.once, started.options.review);
        let resume = started.resumed.as_ref().map(|r| r.session.clone());
        let mut adapter = tokio::spawn(async move {
            match agent {
                AgentSpec::Exec { argv } => exec::run(&argv, ctx, grace).await,
                AgentSpec::Acp { argv, preset } => {
                    let options = acp::AcpOptions {
                        once,
                        review,
                        grace,
                        auth_method: preset.as_ref().and_then(|p| agent_auth.get(p).cloned()),
                        preset,
                        startup_timeout,
                        resume,
                    };
                    acp::run(&argv, ctx, options).await
                }
            }
        });
        let outcome = loop {
            let idle = self.idle_deadline.filter(|_| self.conversational);
            let waiting = self.waiting_state() != RunState::Running;
            let limit = match (&mut self.limit, self.stopped) {
                (Some(limit), false) => limit.deadline(waiting),
                _ => None,
            };
            let due = self.next_due();
            tokio::select! {
                _ = tokio::time::sleep_until(limit.unwrap_or_else(far_future)), if limit.is_some() => {
                    self.on_time_limit().await
                }
                _ = tokio::time::sleep_until(due.unwrap_or_else(far_future)), if due.is_some() => {
                    self.on_due().await
                }
                _ = tokio::time::sleep_until(idle.unwrap_or_else(far_future)), if idle.is_some() => {
                    self.on_idle().await
                }
                outcome = &mut adapter => break outcome.unwrap_or_else(|e| AgentOutcome::Failed {
                    reason: format!("the agent adapter crashed: {e}"),
                    exit_code: None,
                    stderr_tail: Vec::new(),
                }),
                Some(request) = requests.recv() => self.on_request(request, &workspace).await,
                Some(message) = control.recv() => {
                    if let Some(reason) = self.suspends(&message) {
                        return self.suspend(adapter, reason).await;
                    }
                    self.on_control(message).await
                }
                withdrawn = self.withdrawn() => self.on_withdrawn(withdrawn).await,
            }
        };
        // Its keeper removed the run's cgroup, unless the agent never got
        // one (an adapter that gave up before starting it).
        keeper::forget_cgroup(cgroup.as_deref()).await;
        // Events the agent sent just before it ended are still queued.
        while let Ok(request) = requests.try_recv() {
            self.on_request(request, &workspace).await;
        }
        self.end(outcome, &workspace).await;
    }

    /// Whether `message` is the daemon stopping under a conversation whose
    /// agent can resume its session; then why.
    fn suspends(&self, message: &Control) -> Option<String> {
        match message {
            Control::Stop {
                failure: Some(reason),
            } if self.conversational && self.session.is_some() && !self.stopped => {
                Some(reason.clone())
            }
            _ => None,
        }
    }

    /// Ends the agent as a crash would, and leaves the run as it stands
    /// (its pending approvals and open question too): the next daemon
    /// resumes its session (`daemon::recover`).
    async fn suspend(&mut self, adapter: tokio::task::JoinHandle<AgentOutcome>, reason: String) {
        let session = self.session.clone().unwrap_or_default();
        self.emit(
            EventType::AgentSuspended,
            json!({
                "reason": format!("{reason}; the run resumes its session when the daemon starts again"),
                "sessionId": session,
            }),
        )
        .await;
        // Dropping the adapter drops the agent's keeper, which ends the
        // agent's whole group when its socket closes.
        adapter.abort();
        let _ = adapter.await;
    }

    /// The prompt in a file of its own (`M_PROMPT_FILE`), private to this
    /// user, outside the workspace so that it is never committed: it holds
    /// any prompt, however long, which `M_PROMPT` may not.
    fn write_prompt_file(&self, prompt: &str) -> Result<std::path::PathBuf> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = self.shared.paths.prompt_file(&self.run_id);
        crate::paths::create_private_dir(&self.shared.paths.prompts())?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        file.write_all(prompt.as_bytes())
            .map_err(|e| Error::io("write", &path, e))?;
        Ok(path)
    }

    /// The agent's whole environment: the caller's (as `m run start` had
    /// it: PATH, API keys, proxies), with m's own variables over it and
    /// this m's directory first on PATH (agents call `m ask`).
    fn agent_env(&self, caller: &[(String, String)]) -> Vec<(String, String)> {
        const OWN: [&str; 5] = [
            "M_RUN_ID",
            "M_SOCKET",
            "M_HOME",
            "M_PROMPT",
            "M_PROMPT_FILE",
        ];
        let path = caller
            .iter()
            .rev()
            .find(|(k, _)| k == "PATH")
            .map_or("", |(_, v)| v.as_str());
        let mut env: Vec<(String, String)> = caller
            .iter()
            .filter(|(k, _)| k != "PATH" && !OWN.contains(&k.as_str()))
            .cloned()
            .collect();
        env.extend([
            ("M_RUN_ID".into(), self.run_id.clone()),
            (
                "M_SOCKET".into(),
                self.shared.paths.socket().display().to_string(),
            ),
            (
                "M_HOME".into(),
                self.shared.paths.data_dir.display().to_string(),
            ),
            ("PATH".into(), path_with_m(path)),
        ]);
        env
    }

    async fn make_workspace(&self, started: &StartedRun) -> Result<Workspace> {
        let paths = self.shared.paths.clone();
        let run_id = self.run_id.clone();
        let git_url = started.repo.git_url.clone();
        let base = started.base.clone();
        let writer = self.shared.writer.clone();
        let progress_run = run_id.clone();
        let handle = tokio::runtime::Handle::current();
        let ws = tokio::task::spawn_blocking(move || {
            let mut progress = |line: &str| {
                let event = NewEvent::new(
                    &progress_run,
                    EventType::WorkspaceProgress,
                    json!({ "line": line }),
                );
                handle.block_on(writer.append(vec![event]));
            };
            workspace::create(
                &workspace::WorkspaceRequest {
                    run_id: &run_id,
                    git_url: git_url.as_deref(),
                    base: base.as_deref(),
                    workspaces_dir: &paths.workspaces(),
                    mirrors_dir: &paths.mirrors(),
                },
                &mut progress,
            )
        })
        .await
        .map_err(|e| Error::failure(format!("the workspace task crashed: {e}")))??;
        let writer = &self.shared.writer;
        writer
            .set_workspace(&self.run_id, ws.branch.clone(), ws.base_commit.clone())
            .await?;
        writer
            .append(vec![NewEvent::new(
                &self.run_id,
                EventType::WorkspaceReady,
                json!({ "path": ws.path, "branch": ws.branch, "base_commit": ws.base_commit }),
            )])
            .await;
        Ok(ws)
    }

    async fn on_request(&mut self, request: AgentRequest, workspace: &Workspace) {
        let writer = self.shared.writer.clone();
        match request {
            AgentRequest::Spawned { pgid } => {
                // The keeper's pid is its group's id.
                self.shared
                    .keepers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(pgid, self.run_id.clone());
                if let Err(e) = writer.set_pgid(&self.run_id, Some(pgid as i64)).await {
                    tracing::error!(run = %self.run_id, "cannot record the agent's process group: {}", e.message);
                }
            }
            AgentRequest::Emit {
                event_type,
                data,
                held,
            } => {
                if matches!(
                    event_type,
                    EventType::AgentSession | EventType::AgentResumed
                ) {
                    self.session = data
                        .get("capabilities")
                        .and_then(acp::resume_method)
                        .and_then(|_| data.get("sessionId"))
                        .and_then(Value::as_str)
                        .map(str::to_string);
                }
                writer
                    .append_held(vec![NewEvent::new(&self.run_id, event_type, data)], held)
                    .await
            }
            AgentRequest::Approval { request, reply } => {
                self.ask_approval(request, reply).await;
            }
            AgentRequest::Input { request, reply } => self.ask_input(request, reply).await,
            AgentRequest::Review { reply } => self.review(workspace, reply).await,
        }
    }

    async fn emit(&self, event_type: EventType, data: Value) {
        self.shared
            .writer
            .append(vec![NewEvent::new(&self.run_id, event_type, data)])
            .await;
    }

    /// The run reached its time limit: it is cancelled, saying so.
    async fn on_time_limit(&mut self) {
        let limit = self.limit.as_ref().map_or(Duration::ZERO, |l| l.limit);
        self.stop_reason = Some(format!(
            "time limit {} reached",
            crate::model::format_duration(limit)
        ));
        self.on_control(Control::Stop { failure: None }).await;
    }

    /// The human said nothing for the idle timeout: the run is done.
    async fn on_idle(&mut self) {
        self.idle_deadline = None;
        let seconds = self.shared.idle_timeout.map_or(0, |d| d.as_secs());
        self.emit(EventType::RunIdle, json!({ "after_seconds": seconds }))
            .await;
        let (ack, _) = oneshot::channel();
        self.on_control(Control::Reply {
            reply: InputReply::Done,
            by: DecidedBy::M,
            ack,
        })
        .await;
    }

    /// Commits the work on the run's branch and records how the run ended.
    async fn end(&mut self, outcome: AgentOutcome, workspace: &Workspace) {
        if self.approved.is_some() && !self.nothing_to_review {
            review::die_after_approval();
        }
        self.release_waiters();
        let message = workspace::commit_message(&self.prompt, &self.run_id, None);
        let mut left_after_approval = None;
        let committed = match self.approved.take() {
            Some(approved) => self
                .commit_approved(workspace, approved, message)
                .await
                .map(|(stat, left)| {
                    left_after_approval = left;
                    stat
                }),
            None => commit_work(workspace.clone(), message).await,
        };
        let commit_error = match committed {
            Ok(Some(stat)) => {
                self.emit(EventType::WorkspaceDiff, json!(stat)).await;
                None
            }
            Ok(None) => None,
            Err(message) => {
                self.emit(EventType::Error, json!({ "message": &message }))
                    .await;
                Some(message)
            }
        };
        // Work that is not on the branch is not done: never "completed".
        let outcome = match (outcome, commit_error) {
            (AgentOutcome::Completed, Some(message)) => AgentOutcome::Failed {
                reason: format!("the agent finished, but {message}"),
                exit_code: Some(0),
                stderr_tail: Vec::new(),
            },
            (outcome, _) => outcome,
        };
        let (state, data) = match (outcome, self.failure.take()) {
            (_, Some(reason)) => (RunState::Failed, json!({ "reason": reason })),
            // An agent script told "run ended" (`m ask` exits 11) may finish
            // its last lines and exit 0 before its group is signalled.
            (_, None) if self.stopped => (
                RunState::Cancelled,
                json!({ "reason": self.stop_reason.as_deref().unwrap_or("cancelled") }),
            ),
            (AgentOutcome::Completed, None) if self.nothing_to_review => {
                (RunState::Completed, json!({ "reason": NOTHING_TO_REVIEW }))
            }
            (AgentOutcome::Completed, None) => (
                RunState::Completed,
                json!({ "reason": "the agent finished" }),
            ),
            (AgentOutcome::Cancelled, None) => {
                (RunState::Cancelled, json!({ "reason": "cancelled" }))
            }
            (
                AgentOutcome::Failed {
                    reason,
                    exit_code,
                    stderr_tail,
                },
                None,
            ) => (
                RunState::Failed,
                json!({ "reason": reason, "exit_code": exit_code, "stderr_tail": stderr_tail }),
            ),
        };
        let mut data = data;
        if let (Some(note), Some(reason)) = (
            left_after_approval,
            data.get("reason").and_then(Value::as_str),
        ) {
            data["reason"] = json!(format!("{reason}; {note}"));
        }
        self.finish(state, data).await;
    }

    /// Records the end of the run. A run must never stay active without
    /// its agent, so a full disk is waited out.
    async fn finish(&self, state: RunState, data: Value) {
        loop {
            let writer = &self.shared.writer;
            match writer.finish_run(&self.run_id, state, data.clone()).await {
                Ok(_) => return,
                Err(err) if err.kind == ErrorKind::DiskFull => {
                    tracing::warn!(run = %self.run_id, "the disk is full; the end of the run is recorded when there is space");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(err) => {
                    tracing::error!(run = %self.run_id, "cannot record the end of the run: {}", err.message);
                    return;
                }
            }
        }
    }
}

/// Commits the run's work on its branch (`workspace::commit_all`, off the
/// runtime). The error is one sentence for the run's reason: "its work
/// could not be committed: ...".
pub(super) async fn commit_work(
    ws: Workspace,
    message: String,
) -> std::result::Result<Option<workspace::DiffStat>, String> {
    let committed = tokio::task::spawn_blocking(move || workspace::commit_all(&ws, &message))
        .await
        .unwrap_or_else(|e| Err(Error::failure(format!("the commit task crashed: {e}"))));
    committed.map_err(|err| format!("its work could not be committed: {}", one_sentence(&err)))
}

/// An error as one sentence for a run's reason, where no hint line follows.
fn one_sentence(err: &Error) -> String {
    match &err.hint {
        Some(hint) => format!("{} ({hint})", err.message),
        None => err.message.clone(),
    }
}

/// The daemon's PATH with this m's own directory first, so that `m ask`
/// inside an agent reaches this daemon's binary even where m is not
/// installed on PATH (run from a build directory, a service's bare PATH).
fn path_with_m(path: &str) -> String {
    let path = path.to_string();
    let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.display().to_string()))
    else {
        return path;
    };
    if path.is_empty() {
        dir
    } else {
        format!("{dir}:{path}")
    }
}

fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400 * 365)
}
