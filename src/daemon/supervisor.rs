//! One supervisor task per run: it makes the workspace, starts the agent
//! through its adapter, serves the adapter's requests (events, approvals,
//! questions, review), hears the humans' decisions, and ends the run.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};

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

/// A question the agent asked, not yet answered.
struct OpenQuestion {
    /// The `seq` of its `input.requested` event: the `input.provided` or
    /// `input.withdrawn` that closes it names it, so that readers of the
    /// log (`m run show`) know which questions are still open.
    seq: i64,
    /// The form the answer must fit (an ACP elicitation's), checked when a
    /// reply arrives: one that does not fit is refused to the human who
    /// sent it, and the question stays open.
    schema: Option<Value>,
    waiter: oneshot::Sender<InputReply>,
    /// The question, as reminders repeat it.
    text: String,
    /// The answer the deadline gives, where the question has one.
    default_answer: Option<String>,
    due: Due,
}

/// An approval waiting for a human.
struct PendingApproval {
    waiter: oneshot::Sender<Verdict>,
    due: Due,
}

/// When a human is reminded of what waits for them, and when the
/// deadline decides for them (`[approvals] remind_after`, `timeout`).
#[derive(Default)]
struct Due {
    remind_at: Option<tokio::time::Instant>,
    decide_at: Option<tokio::time::Instant>,
    /// `decide_at` on the wall clock (unix seconds), as events and
    /// notifications say it.
    deadline: Option<i64>,
}

impl Due {
    fn next(&self) -> Option<tokio::time::Instant> {
        self.remind_at.into_iter().chain(self.decide_at).min()
    }
}

/// The end-of-run review as asked: its approval, and the git tree id of
/// the worktree it showed (its payload's `tree`, which its content hash
/// covers).
struct Review {
    approval_id: String,
    tree: String,
    workspace: Workspace,
}

/// The key of the review's payload that holds the worktree's tree id.
const REVIEW_TREE: &str = "tree";

/// A pending request whose asker stopped waiting (see `Supervisor::withdrawn`).
enum Withdrawn {
    Approval(String),
    /// The position in the queue of open questions.
    Question(usize),
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
        };
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

    /// The run's final review: the whole diff, for a human to approve.
    async fn review(&mut self, workspace: &Workspace, reply: oneshot::Sender<ReviewOutcome>) {
        match review_request(workspace, &self.run_id, &self.prompt).await {
            Ok(Some(request)) => {
                let (decided, verdict) = oneshot::channel();
                self.ask_review(request, decided, workspace).await;
                tokio::spawn(async move {
                    let mut reply = reply;
                    tokio::select! {
                        verdict = verdict => {
                            let verdict = verdict.unwrap_or(Verdict::RunEnded);
                            let _ = reply.send(ReviewOutcome::Verdict(verdict));
                        }
                        // The adapter stopped waiting: dropping `decision`
                        // withdraws the approval (see `withdrawn`).
                        _ = reply.closed() => {}
                    }
                });
            }
            Ok(None) => {
                self.nothing_to_review = true;
                let _ = reply.send(ReviewOutcome::NothingToReview);
            }
            Err(err) => {
                let reason = format!("cannot prepare the review: {}", one_sentence(&err));
                self.emit(EventType::Error, json!({ "message": reason }))
                    .await;
                let _ = reply.send(ReviewOutcome::CannotPrepare { reason });
            }
        }
    }

    /// Asks for the review `request` (from [`review_request`]), whose
    /// decision goes to `reply`, and keeps what it showed; returns the
    /// approval's id.
    async fn ask_review(
        &mut self,
        request: ApprovalRequest,
        reply: oneshot::Sender<Verdict>,
        workspace: &Workspace,
    ) -> Option<String> {
        let tree = request
            .payload
            .get(REVIEW_TREE)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let id = self.ask_approval(request, reply).await;
        self.review = id.clone().map(|approval_id| Review {
            approval_id,
            tree,
            workspace: workspace.clone(),
        });
        id
    }

    /// See [`Control::CheckReview`]. The worktree changing after a review
    /// was asked (an agent's leftover process, the user editing a file)
    /// makes it stale, whoever decides and whether or not they name a
    /// content hash: the new review shows the changes, and its own hash.
    async fn check_review(&mut self, approval_id: &str) -> Result<()> {
        let Some(review) = self
            .review
            .as_ref()
            .filter(|r| r.approval_id == approval_id && self.approvals.contains_key(approval_id))
        else {
            return Ok(());
        };
        let (asked_tree, workspace) = (review.tree.clone(), review.workspace.clone());
        let ws = workspace.clone();
        let now = tokio::task::spawn_blocking(move || workspace::worktree_tree(&ws))
            .await
            .unwrap_or_else(|e| Err(Error::failure(format!("the review check crashed: {e}"))))
            .map_err(|err| {
                Error::failure(format!(
                    "cannot check that the worktree of run {} is still the one under review: {}",
                    short_id(&self.run_id),
                    one_sentence(&err)
                ))
            })?;
        if now == asked_tree {
            return Ok(());
        }
        let Some(pending) = self.approvals.remove(approval_id) else {
            return Ok(());
        };
        self.review = None;
        // Asked again before the old one is closed, so that the run never
        // looks as if it went on in between.
        let (again, reason) = match review_request(&workspace, &self.run_id, &self.prompt).await {
            Ok(Some(request)) => {
                let again = self.ask_review(request, pending.waiter, &workspace).await;
                let reason = match &again {
                    Some(id) => format!(
                        "{STALE}: the worktree changed after the review was asked; asked again as approval {}",
                        short_id(id)
                    ),
                    None => format!("{STALE}: the worktree changed after the review was asked"),
                };
                (again, reason)
            }
            Ok(None) => {
                // Nothing is left to review: the run ends as one that
                // changed nothing (its adapter treats this as such).
                self.nothing_to_review = true;
                let _ = pending.waiter.send(Verdict::Approved { persist: false });
                let reason = format!(
                    "{STALE}: the worktree changed after the review was asked, and now differs in nothing from the run's base"
                );
                (None, reason)
            }
            Err(err) => {
                let reason = format!("cannot prepare the review again: {}", one_sentence(&err));
                self.emit(EventType::Error, json!({ "message": &reason }))
                    .await;
                self.failure = Some(reason.clone());
                let _ = pending.waiter.send(Verdict::RunEnded);
                (
                    None,
                    format!(
                        "{STALE}: the worktree changed after the review was asked, and {reason}"
                    ),
                )
            }
        };
        let closed = Decision {
            approve: false,
            reason: Some(reason.clone()),
            by: DecidedBy::M,
            seen_hash: None,
        };
        if let Err(err) = self.shared.writer.decide(approval_id, closed).await {
            tracing::error!(run = %self.run_id, "cannot close the stale review {approval_id}: {}", err.message);
        }
        let message = format!(
            "{STALE}: approval {} is not what was seen: the worktree of run {} changed after its review was asked",
            short_id(approval_id),
            short_id(&self.run_id)
        );
        Err(match again {
            Some(id) => Error::conflict(message).with_hint(format!(
                "the review is asked again as approval {0}; `m approval show {0}` shows the changes",
                short_id(&id)
            )),
            None => Error::conflict(message).with_hint(reason),
        })
    }

    async fn emit(&self, event_type: EventType, data: Value) {
        self.shared
            .writer
            .append(vec![NewEvent::new(&self.run_id, event_type, data)])
            .await;
    }

    /// Records an approval and keeps whoever waits for it; returns its id
    /// while it waits for a human.
    async fn ask_approval(
        &mut self,
        request: ApprovalRequest,
        reply: oneshot::Sender<Verdict>,
    ) -> Option<String> {
        // Told to stop: a request that arrives now would be left pending,
        // its asker waiting for ever (the stop answered those before it).
        if self.stopped {
            let _ = reply.send(Verdict::RunEnded);
            return None;
        }
        let granted = self
            .grants
            .iter()
            .find(|g| g.covers(request.approval_type, &request.payload))
            .map(|g| format!("m approve --always: {}", g.describe()));
        let again = self
            .once
            .iter()
            .position(|g| g.covers(request.approval_type, &request.payload))
            .map(|i| {
                let grant = self.once.remove(i);
                format!("approved before the daemon restarted: {}", grant.describe())
            });
        let policy = policy_allows(&self.options, &request)
            .map(|rule| (format!("auto-approved by policy: {rule}"), rule))
            .or(granted.map(|rule| (format!("approved always for this run ({rule})"), rule)))
            .or(again.map(|rule| (format!("{rule} (once)"), rule)))
            .map(|(reason, rule)| Decision {
                approve: true,
                reason: Some(reason),
                by: DecidedBy::Policy { rule },
                seen_hash: None,
            });
        let auto = policy.is_some();
        let recorded = self
            .shared
            .writer
            .request_approval(&self.run_id, request.approval_type, request.payload, policy)
            .await;
        match recorded {
            Ok(_) if auto => {
                let _ = reply.send(Verdict::Approved { persist: false });
                None
            }
            Ok(approval) => {
                if approval
                    .payload
                    .as_ref()
                    .and_then(|p| p.get("resumed"))
                    .and_then(Value::as_bool)
                    == Some(true)
                {
                    let payload = approval.payload.clone().unwrap_or_default();
                    self.asked_again.insert(
                        approval.id.clone(),
                        Grant::of(approval.approval_type, &payload),
                    );
                }
                let due = self.due();
                self.approvals
                    .insert(approval.id.clone(), PendingApproval { waiter: reply, due });
                Some(approval.id)
            }
            Err(err) => {
                tracing::error!(run = %self.run_id, "cannot record an approval: {}", err.message);
                let _ = reply.send(Verdict::RunEnded);
                None
            }
        }
    }

    async fn ask_input(&mut self, request: InputRequest, reply: oneshot::Sender<InputReply>) {
        let due = self.due();
        let default_answer = request
            .schema
            .as_ref()
            .and_then(crate::question::default_answer);
        let mut data = json!({ "question": request.question, "schema": &request.schema });
        if let Some(deadline) = due.deadline {
            data["deadline"] = json!(deadline);
            data["on_timeout"] = json!(if default_answer.is_some() {
                "default"
            } else {
                "cancel"
            });
        }
        let events = self.changing_state(EventType::InputRequested, data, RunState::WaitingInput);
        let seqs = match self.shared.writer.append_committed(events).await {
            Ok(seqs) => seqs,
            Err(err) => {
                tracing::error!(run = %self.run_id, "cannot record a question: {}", err.message);
                let _ = reply.send(InputReply::RunEnded);
                return;
            }
        };
        self.questions.push_back(OpenQuestion {
            seq: seqs.first().copied().unwrap_or_default(),
            schema: request.schema,
            waiter: reply,
            text: request.question,
            default_answer,
            due,
        });
        if let Some(idle) = self.shared.idle_timeout {
            self.idle_deadline = Some(tokio::time::Instant::now() + idle);
        }
    }

    /// Resolves when whoever asked a pending approval or question stopped
    /// waiting for the answer: an `m ask` that was killed or timed out, an
    /// ACP agent that cancelled its request.
    fn withdrawn(&mut self) -> impl std::future::Future<Output = Withdrawn> + '_ {
        std::future::poll_fn(move |cx| {
            for (id, pending) in self.approvals.iter_mut() {
                if pending.waiter.poll_closed(cx).is_ready() {
                    return std::task::Poll::Ready(Withdrawn::Approval(id.clone()));
                }
            }
            for (index, question) in self.questions.iter_mut().enumerate() {
                if question.waiter.poll_closed(cx).is_ready() {
                    return std::task::Poll::Ready(Withdrawn::Question(index));
                }
            }
            std::task::Poll::Pending
        })
    }

    /// Nobody waits for the answer any more, so no human should be asked:
    /// a withdrawn approval is rejected (by "agent"), a withdrawn question
    /// is closed, and the run's state says what it still waits for.
    async fn on_withdrawn(&mut self, withdrawn: Withdrawn) {
        match withdrawn {
            Withdrawn::Approval(approval_id) => {
                self.approvals.remove(&approval_id);
                let decision = Decision {
                    approve: false,
                    reason: Some("withdrawn: the agent stopped waiting for a decision".into()),
                    by: DecidedBy::Agent,
                    seen_hash: None,
                };
                let resolved = self.shared.writer.decide(&approval_id, decision).await;
                match resolved {
                    Ok(_) => {}
                    // A human decided at the same moment: their decision stands.
                    Err(err) if err.kind == ErrorKind::Conflict => {}
                    Err(err) => {
                        tracing::error!(run = %self.run_id, "cannot withdraw approval {approval_id}: {}", err.message)
                    }
                }
            }
            Withdrawn::Question(index) => {
                let Some(question) = self.questions.remove(index) else {
                    return;
                };
                if self.questions.is_empty() {
                    self.idle_deadline = None;
                }
                let events = self.changing_state(
                    EventType::InputWithdrawn,
                    json!({ "question_seq": question.seq }),
                    self.waiting_state(),
                );
                self.shared.writer.append(events).await;
            }
        }
    }

    /// What the run waits for now, from what is pending.
    fn waiting_state(&self) -> RunState {
        if !self.approvals.is_empty() {
            RunState::WaitingApproval
        } else if !self.questions.is_empty() {
            RunState::WaitingInput
        } else {
            RunState::Running
        }
    }

    /// An event of `event_type` that moves the run to `state`, and the
    /// `run.state` event that says so.
    fn changing_state(&self, event_type: EventType, data: Value, state: RunState) -> Vec<NewEvent> {
        vec![
            NewEvent::new(&self.run_id, event_type, data).with_state(state),
            NewEvent::new(&self.run_id, EventType::RunState, json!({ "state": state })),
        ]
    }

    /// The reminder and deadline of something asked now, from the run's
    /// options.
    fn due(&self) -> Due {
        let now = tokio::time::Instant::now();
        let after = |secs: Option<u64>| secs.map(|secs| now + Duration::from_secs(secs));
        Due {
            remind_at: after(self.options.remind_after_seconds),
            decide_at: after(self.options.approval_timeout_seconds),
            deadline: self
                .options
                .approval_timeout_seconds
                .map(|secs| crate::model::now() + secs as i64),
        }
    }

    /// The next reminder or deadline of anything pending.
    fn next_due(&self) -> Option<tokio::time::Instant> {
        let approvals = self.approvals.values().map(|a| &a.due);
        let questions = self.questions.iter().map(|q| &q.due);
        approvals.chain(questions).filter_map(Due::next).min()
    }

    /// Reminds the humans of what waits for them past `remind_after`, and
    /// decides for them what waited past its deadline.
    async fn on_due(&mut self) {
        let now = tokio::time::Instant::now();
        let passed = |at: &mut Option<tokio::time::Instant>| at.take_if(|at| *at <= now).is_some();
        let mut reminders = Vec::new();
        let mut timed_out = Vec::new();
        for (id, pending) in self.approvals.iter_mut() {
            if passed(&mut pending.due.remind_at) {
                reminders.push(json!({ "approval_id": id, "deadline": pending.due.deadline }));
            }
            if passed(&mut pending.due.decide_at) {
                timed_out.push(id.clone());
            }
        }
        for question in self.questions.iter_mut() {
            if passed(&mut question.due.remind_at) {
                reminders.push(json!({
                    "question_seq": question.seq,
                    "question": question.text,
                    "deadline": question.due.deadline,
                }));
            }
        }
        // Every question waits as long, so the oldest, the one a reply
        // answers, is the first past its deadline.
        let question_timed_out = self
            .questions
            .front_mut()
            .is_some_and(|q| passed(&mut q.due.decide_at));
        for data in reminders {
            self.emit(EventType::HumanReminded, data).await;
        }
        for approval_id in timed_out {
            self.approval_timed_out(approval_id).await;
        }
        if question_timed_out {
            self.question_timed_out().await;
        }
    }

    /// "no answer within 1h", and the deadline as the decider.
    fn no_answer(&self) -> (String, DecidedBy) {
        let after = crate::model::format_duration(Duration::from_secs(
            self.options.approval_timeout_seconds.unwrap_or_default(),
        ));
        (
            format!("no answer within {after}"),
            DecidedBy::Deadline { after },
        )
    }

    /// Nobody decided in time: the approval is rejected by the deadline,
    /// and with `on_timeout = "cancel"` the run is cancelled.
    async fn approval_timed_out(&mut self, approval_id: String) {
        let (reason, by) = self.no_answer();
        let decision = Decision {
            approve: false,
            reason: Some(reason.clone()),
            by,
            seen_hash: None,
        };
        match self.shared.writer.decide(&approval_id, decision).await {
            Ok(_) => {
                if let Some(pending) = self.approvals.remove(&approval_id) {
                    let _ = pending.waiter.send(Verdict::Rejected {
                        reason: reason.clone(),
                    });
                }
                if self.options.on_timeout == Some(crate::model::OnTimeout::Cancel) {
                    self.stop_reason = Some(reason);
                    self.on_control(Control::Stop { failure: None }).await;
                }
            }
            // A human decided at the same moment: their decision stands
            // (and reaches the waiter as `Control::Verdict`).
            Err(err) if err.kind == ErrorKind::Conflict => {}
            Err(err) => {
                tracing::error!(run = %self.run_id, "cannot reject approval {approval_id} at its deadline: {}", err.message)
            }
        }
    }

    /// Nobody answered the oldest question in time: its default answer is
    /// given where it has one; without one the run cannot go on, and is
    /// cancelled.
    async fn question_timed_out(&mut self) {
        let (reason, by) = self.no_answer();
        let default = self
            .questions
            .front()
            .and_then(|q| q.default_answer.clone());
        match default {
            Some(answer) => {
                let (ack, answered) = oneshot::channel();
                self.on_control(Control::Reply {
                    reply: InputReply::Text(answer),
                    by,
                    ack,
                })
                .await;
                if let Ok(Err(err)) = answered.await {
                    tracing::error!(run = %self.run_id, "cannot give a question its default answer: {}", err.message);
                    self.stop_reason = Some(reason);
                    self.on_control(Control::Stop { failure: None }).await;
                }
            }
            None => {
                self.stop_reason = Some(reason);
                self.on_control(Control::Stop { failure: None }).await;
            }
        }
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

    async fn on_control(&mut self, message: Control) {
        match message {
            Control::Verdict {
                approval_id,
                verdict,
                grant,
            } => {
                if let Some(grant) = grant {
                    let persist = matches!(verdict, Verdict::Approved { persist: true });
                    self.emit(
                        EventType::ApprovalAlways,
                        json!({ "approval_id": approval_id, "grant": grant, "persist": persist }),
                    )
                    .await;
                    self.grants.push(grant);
                }
                if let Some(Some(grant)) = self.asked_again.remove(&approval_id) {
                    if matches!(verdict, Verdict::Approved { .. }) {
                        self.once.push(grant);
                    }
                }
                if let Some(pending) = self.approvals.remove(&approval_id) {
                    let _ = pending.waiter.send(verdict);
                }
            }
            Control::Reply { reply, by, ack } => {
                if reply == InputReply::Done && !self.conversational {
                    let _ = ack.send(Err(self.not_conversational()));
                    return;
                }
                let Some(question) = self.questions.front() else {
                    let _ = ack.send(Err(self.not_waiting_for_input()));
                    return;
                };
                if let Err(why) = misfit(question, &reply) {
                    let _ = ack.send(Err(Error::usage(format!(
                        "that reply does not answer the question of run {}: {why}",
                        short_id(&self.run_id)
                    ))
                    .with_hint(format!(
                        "the question is still open; `m run show {}` shows what it expects",
                        short_id(&self.run_id)
                    ))));
                    return;
                }
                self.idle_deadline = None;
                let question = self.questions.pop_front().expect("the front question");
                let text = match &reply {
                    InputReply::Text(text) => Some(text.clone()),
                    _ => None,
                };
                let events = self.changing_state(
                    EventType::InputProvided,
                    json!({
                        "text": text,
                        "done": reply == InputReply::Done,
                        "question_seq": question.seq,
                        "by": by,
                    }),
                    self.waiting_state(),
                );
                match self.shared.writer.append_committed(events).await {
                    Ok(_) => {
                        let _ = question.waiter.send(reply);
                        let _ = ack.send(Ok(()));
                    }
                    Err(err) => {
                        self.questions.push_front(question);
                        let _ = ack.send(Err(err));
                    }
                }
            }
            Control::CheckReview { approval_id, ack } => {
                let checked = self.check_review(&approval_id).await;
                let _ = ack.send(checked);
            }
            Control::Stop { failure } => {
                self.failure = failure;
                self.stopped = true;
                // Whoever waits inside the run (an `m ask` in the agent's
                // script) hears that the run ended before its process group
                // is signalled.
                if self.release_waiters() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let _ = self.cancel.send(true);
            }
        }
    }

    /// Tells everyone waiting on a pending approval or question that the
    /// run ended; returns whether anyone was waiting.
    fn release_waiters(&mut self) -> bool {
        let waited = !self.approvals.is_empty() || !self.questions.is_empty();
        for (_, pending) in self.approvals.drain() {
            let _ = pending.waiter.send(Verdict::RunEnded);
        }
        for question in self.questions.drain(..) {
            let _ = question.waiter.send(InputReply::RunEnded);
        }
        waited
    }

    /// `m run done` ends a conversation; any other run ends with its agent.
    fn not_conversational(&self) -> Error {
        let id = short_id(&self.run_id);
        let why = if self.options.once {
            "it was started with --once, and ends at its agent's first end of turn"
        } else {
            "its agent is a command, and the run ends when the command exits"
        };
        Error::usage(format!("run {id} is not a conversational (ACP) run: {why}")).with_hint(
            format!(
            "to stop it, `m run cancel {id}`; to answer a question it asked, `m reply {id} TEXT`"
        ),
        )
    }

    fn not_waiting_for_input(&self) -> Error {
        let id = short_id(&self.run_id);
        let hint = if self.conversational {
            format!(
                "it is in the middle of a turn; `m run show {id}` says what it is waiting for, \
                 and `m run done {id}` ends it once it waits for its next prompt"
            )
        } else {
            format!("`m run show {id}` says what it is waiting for")
        };
        Error::conflict(format!("run {id} is not waiting for input")).with_hint(hint)
    }

    /// Commits the work on the run's branch and records how the run ended.
    async fn end(&mut self, outcome: AgentOutcome, workspace: &Workspace) {
        self.release_waiters();
        let message = workspace::commit_message(&self.prompt, &self.run_id, None);
        let commit_error = match commit_work(workspace.clone(), message).await {
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

/// Why `reply` cannot answer `question`, whose agent would only ask
/// again: a text that does not fit the form it asked for.
fn misfit(question: &OpenQuestion, reply: &InputReply) -> std::result::Result<(), String> {
    match (reply, &question.schema) {
        (InputReply::Text(text), Some(schema)) => crate::question::fit(schema, text).map(|_| ()),
        _ => Ok(()),
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

/// Auto-approval: by type, or a command by an allow rule (`crate::policy`
/// says which commands a rule covers).
fn policy_allows(options: &RunOptions, request: &ApprovalRequest) -> Option<String> {
    if options.auto_approve.contains(&request.approval_type) {
        return Some(format!("--auto-approve {}", request.approval_type));
    }
    if request.approval_type != ApprovalType::Command {
        return None;
    }
    policy::allowing_rule(&options.allow_commands, &request.payload)
        .map(|rule| format!("--allow '{rule}'"))
}

/// Large patches are cut in the approval's payload; git keeps them whole.
const REVIEW_PATCH_LIMIT: usize = 256 * 1024;

/// The reason of a run held for review that changed nothing.
const NOTHING_TO_REVIEW: &str =
    "the agent finished; it changed nothing, so there was nothing to review";

/// The review's approval request: the run's work, committed, against its
/// base. None when the run changed nothing: nobody need approve an empty
/// diff.
async fn review_request(
    workspace: &Workspace,
    run_id: &str,
    prompt: &str,
) -> Result<Option<ApprovalRequest>> {
    if workspace.repo_dir.is_none() {
        // Refused when the run starts (`RunOptions::check_repo`). Were one
        // to get here, `commit_all` would find it unchanged, as it always
        // does a scratch directory, and it would pass for a run that did
        // nothing.
        return Err(Error::usage(format!(
            "the workspace {} is a scratch directory, without git: it has no diff to review",
            workspace.path.display()
        ))
        .with_hint("register the repo with a path or URL to review its runs"));
    }
    let ws = workspace.clone();
    let message = workspace::commit_message(prompt, run_id, None);
    let prepared = tokio::task::spawn_blocking(move || -> Result<_> {
        let Some(stat) = workspace::commit_all(&ws, &message)? else {
            return Ok(None);
        };
        let patch = workspace::diff(&ws, false)?;
        // Commits that undo each other move the branch and change nothing.
        if patch.is_empty() {
            return Ok(None);
        }
        let tree = workspace::worktree_tree(&ws)?;
        Ok(Some((stat, patch, tree)))
    })
    .await
    .map_err(|e| Error::failure(format!("the review task crashed: {e}")))??;
    let Some((stat, patch, tree)) = prepared else {
        return Ok(None);
    };
    let truncated = patch.len() > REVIEW_PATCH_LIMIT;
    let mut cut = REVIEW_PATCH_LIMIT.min(patch.len());
    while !patch.is_char_boundary(cut) {
        cut -= 1;
    }
    Ok(Some(ApprovalRequest {
        approval_type: ApprovalType::Diff,
        payload: json!({
            "title": "review the run's changes",
            "stat": stat,
            "patch": &patch[..cut],
            "truncated": truncated,
            // The content hash covers the whole worktree this way, even
            // where the patch is cut: a decision is checked against it.
            REVIEW_TREE: tree,
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(cmd: &str) -> ApprovalRequest {
        ApprovalRequest {
            approval_type: ApprovalType::Command,
            payload: json!({ "command": cmd }),
        }
    }

    #[test]
    fn command_rules_apply_to_command_approvals_only() {
        let options = RunOptions {
            allow_commands: vec!["cargo test".into()],
            ..RunOptions::default()
        };
        assert_eq!(
            policy_allows(&options, &command("cargo test --all")).as_deref(),
            Some("--allow 'cargo test'")
        );
        assert!(policy_allows(&options, &command("cargo test && touch x")).is_none());
        let generic = ApprovalRequest {
            approval_type: ApprovalType::Generic,
            payload: json!({ "command": "cargo test" }),
        };
        assert!(policy_allows(&options, &generic).is_none());
    }

    #[test]
    fn types_can_be_approved_wholesale() {
        let options = RunOptions {
            auto_approve: vec![ApprovalType::Generic],
            ..RunOptions::default()
        };
        let generic = ApprovalRequest {
            approval_type: ApprovalType::Generic,
            payload: json!({}),
        };
        assert!(policy_allows(&options, &generic).is_some());
        assert!(policy_allows(&options, &command("ls")).is_none());
    }
}
