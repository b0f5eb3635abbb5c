//! `m daemon run`: the long-lived process that owns the agents. It holds the
//! data directory's lock, fails runs a previous daemon left active, serves
//! the socket, and on SIGTERM/SIGINT ends every run cleanly before leaving.

mod connection;
mod containment;
mod follow;
pub(crate) mod handlers;
mod health;
pub mod log;
mod memory;
mod peers;
mod queue;
mod readers;
mod remote;
mod server;
mod supervisor;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::EventType;
use crate::model::{now, short_id, ApprovalState, DecidedBy, OnTimeout, RunState};
use crate::notify::Dispatcher;
use crate::paths::{self, Paths};
use crate::process;
use crate::store::{ApprovalFilter, Decision, NewEvent, RunFilter, Store};
use crate::workspace::{Workspace, WorkspaceRequest};
use supervisor::{Control, RunHandle};
use writer::Writer;

/// What every connection handler and run supervisor shares.
pub struct Shared {
    pub paths: Paths,
    /// Delivers the notification outbox (APNs, webhooks, hook commands).
    pub dispatcher: Arc<Dispatcher>,
    pub writer: Writer,
    pub runs: Mutex<HashMap<String, RunHandle>>,
    /// The live runs' keepers: pid -> run id (who belongs to a run).
    pub keepers: Mutex<HashMap<i32, String>>,
    /// Held while a queued run starts or is cancelled (see `queue::start_next`).
    pub queue_lock: tokio::sync::Mutex<()>,
    /// The callers' environments of queued runs (see `queue::QueuedEnv`).
    pub queued_env: Mutex<HashMap<String, Vec<(String, String)>>>,
    pub grace: Duration,
    /// Conversational runs waiting this long for a prompt are done.
    pub idle_timeout: Option<Duration>,
    /// How long an ACP agent may take to start.
    pub startup_timeout: Duration,
    /// The auth method configured per agent (`[agents.NAME] auth`).
    pub agent_auth: HashMap<String, String>,
    pub started_at: i64,
    /// Woken whenever a run's supervisor ends (shutdown waits on it).
    pub run_ended: tokio::sync::Notify,
    pub shutdown: tokio::sync::Notify,
    /// Becomes true once the daemon is stopping: followers of every run
    /// (which no run's end would release) hang up then.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// The remote API's listener, when `[remote] listen` is set.
    pub remote: std::sync::OnceLock<Arc<remote::Remote>>,
    /// Connections for reads, kept between them (`handlers::read`).
    pub readers: Arc<readers::Readers>,
    /// How runs' processes are held: a cgroup per run, or the keeper alone.
    pub containment: containment::Containment,
}

impl Shared {
    /// The state of a daemon over `paths`' database, with its writer and
    /// dispatcher started, no run live and the remote API not yet started.
    pub(crate) fn new(
        paths: Paths,
        config: &Config,
        writer: Writer,
        dispatcher: Arc<Dispatcher>,
    ) -> Shared {
        let readers = Arc::new(readers::Readers::new(paths.database()));
        Shared {
            dispatcher,
            paths,
            writer,
            runs: Mutex::new(HashMap::new()),
            keepers: Mutex::new(HashMap::new()),
            queue_lock: tokio::sync::Mutex::new(()),
            queued_env: Mutex::new(HashMap::new()),
            grace: config.daemon.grace,
            idle_timeout: config.run.idle_timeout,
            startup_timeout: config.run.startup_timeout,
            agent_auth: config
                .agents
                .iter()
                .filter_map(|(name, a)| Some((name.clone(), a.auth.clone()?)))
                .collect(),
            started_at: now(),
            run_ended: tokio::sync::Notify::new(),
            shutdown: tokio::sync::Notify::new(),
            stopping: tokio::sync::watch::channel(false).0,
            remote: std::sync::OnceLock::new(),
            readers,
            // Until the daemon chooses (`Containment::choose`, which tries
            // cgroups for real): in-process tests make no cgroups.
            containment: containment::Containment::Keeper {
                reason: "not chosen by a daemon".into(),
            },
        }
    }

    pub(crate) fn run_handle(&self, run_id: &str) -> Option<RunHandle> {
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(run_id)
            .cloned()
    }

    /// The run whose keeper has this pid.
    fn keeper_run(&self, pid: i32) -> Option<String> {
        self.keepers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&pid)
            .cloned()
    }

    fn live_runs(&self) -> Vec<String> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let mut ids: Vec<String> = runs.keys().cloned().collect();
        ids.sort();
        ids
    }
}

/// The data directory's exclusive lock: one daemon per directory.
pub struct DaemonLock {
    _file: File,
}

impl DaemonLock {
    pub fn acquire(paths: &Paths) -> Result<DaemonLock> {
        paths::create_private_dir(&paths.data_dir)?;
        let path = paths.daemon_lock();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        if !lock_within(&file, LOCK_WAIT) {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(Error::conflict(format!(
                "a daemon is already running for {} (pid {})",
                paths.data_dir.display(),
                holder.trim()
            ))
            .with_hint("stop it with `m daemon stop`, or use another M_HOME"));
        }
        file.set_len(0).map_err(|e| Error::io("write", &path, e))?;
        writeln!(file, "{}", std::process::id()).map_err(|e| Error::io("write", &path, e))?;
        Ok(DaemonLock { _file: file })
    }
}

/// How long a starting daemon waits for the lock: one that is still dying
/// (its last threads exiting) holds it a moment longer.
const LOCK_WAIT: Duration = Duration::from_secs(2);

fn lock_within(file: &File, wait: Duration) -> bool {
    let deadline = std::time::Instant::now() + wait;
    loop {
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the daemon in the foreground until SIGTERM, SIGINT or `m daemon stop`.
pub fn run(paths: Paths) -> Result<()> {
    // Before any other thread and the first connection.
    memory::configure();
    // A bad config file stops the daemon before it takes anything.
    let config = crate::config::load(&paths)?;
    let lock = DaemonLock::acquire(&paths)?;
    let open_files = server::raise_open_files_limit();
    // Before any other thread: trying cgroups forks.
    let containment = containment::Containment::choose(&config, &paths)?;
    paths::ensure_private_dir(&paths.runtime_dir)?;
    // Only the lock holder may remove a socket: one left by a crash is stale.
    let socket = paths.socket();
    if std::fs::symlink_metadata(&socket).is_ok() {
        std::fs::remove_file(&socket).map_err(|e| Error::io("remove stale socket", &socket, e))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_keep_alive(memory::BLOCKING_THREAD_KEEP_ALIVE)
        .enable_all()
        .build()
        .map_err(|e| Error::failure(format!("cannot start the async runtime: {e}")))?;
    let result = runtime.block_on(serve(paths.clone(), config, open_files, containment));
    runtime.shutdown_timeout(Duration::from_secs(1));
    let _ = std::fs::remove_file(&socket);
    drop(lock);
    result
}

async fn serve(
    paths: Paths,
    config: Arc<Config>,
    open_files: u64,
    containment: containment::Containment,
) -> Result<()> {
    let wake = Arc::new(tokio::sync::Notify::new());
    let mut watch = health::Watch::new();
    let (writer, writer_thread) = Writer::start(
        &paths.database(),
        wake.clone(),
        [watch.lifeline("writer"), watch.lifeline("checkpointer")],
    )?;
    let dispatcher = Arc::new(
        Dispatcher::from_config(&config.notify).with_escalation(&config.approvals.escalate_to),
    );
    let health = dispatcher.health();
    if !health.is_healthy() {
        tracing::warn!(
            "notifications: {}",
            serde_json::to_string(&health).unwrap_or_default()
        );
    }
    let mut shared = Shared::new(paths.clone(), &config, writer, dispatcher.clone());
    shared.containment = containment;
    let shared = Arc::new(shared);
    match &shared.containment {
        containment::Containment::Cgroup(cgroups) => {
            tracing::info!(cgroups = %cgroups.dir.display(), "a cgroup v2 per run, each run under its keeper")
        }
        containment::Containment::Keeper { reason } => {
            tracing::info!(%reason, "each run under its keeper alone: no cgroups")
        }
    }
    recover(&shared).await?;
    if let Some(remote) = remote::start(shared.clone(), &config.remote).await? {
        let _ = shared.remote.set(remote);
    }
    // Runs queued while no daemon ran (or behind a run recovery just ended).
    queue::start_all(&shared).await;
    let listener = server::listen(&paths.socket())?;
    tracing::info!(socket = %paths.socket().display(), pid = std::process::id(), open_files, "m daemon ready");
    let accept_line = watch.lifeline("connection listener");
    let accept = tokio::spawn({
        let shared = shared.clone();
        async move {
            let _line = accept_line;
            server::accept_loop(shared, listener).await
        }
    });
    // Delivery has its own connection; it never holds up a run, and what it
    // has not delivered when the daemon stops waits in the outbox.
    let outbox = Store::open(&paths.database())?;
    let deliver_line = watch.lifeline("notification dispatcher");
    let deliver = tokio::spawn(async move {
        let _line = deliver_line;
        health::injected_fault("dispatcher");
        dispatcher.run(outbox, wake).await
    });
    let trimmer = tokio::spawn(memory::trim_after_peaks(shared.writer.clone()));
    let retention = config
        .retention
        .output_after
        .map(|age| tokio::spawn(retention(paths.database(), age)));
    tokio::select! {
        _ = wait_for_shutdown(&shared) => {}
        name = watch.first_end() => {
            // Half alive is worse than dead: no run could end cleanly
            // here. A new daemon's recovery ends them, and it starts as
            // soon as anything asks (or the service manager restarts it).
            tracing::error!("the daemon's {name} stopped; exiting at once");
            let _ = std::fs::remove_file(paths.socket());
            return Err(Error::failure(format!(
                "the daemon's {name} stopped unexpectedly; the daemon exited so that the next one recovers its runs"
            ))
            .with_hint(format!("see the log: {}", paths.daemon_log().display())));
        }
    }
    tracing::info!("shutting down");
    shared.stopping.send_replace(true);
    accept.abort();
    let _ = std::fs::remove_file(paths.socket());
    stop_all_runs(&shared, "the daemon was stopped").await;
    if let Some(cgroups) = shared.containment.cgroups().cloned() {
        let _ = tokio::task::spawn_blocking(move || cgroups.clear()).await;
    }
    deliver.abort();
    trimmer.abort();
    if let Some(retention) = retention {
        retention.abort();
    }
    // The writer ends once it has stored what it was given (or, with the
    // disk full, after a last few tries): wait so nothing is lost that can
    // be kept. A run still live holds a sender, so the writer is told.
    shared.writer.close().await;
    drop(shared);
    let _ = tokio::task::spawn_blocking(move || writer_thread.join()).await;
    Ok(())
}

/// `[retention] output_after`: at start and then once an hour, drops the
/// output of runs that finished longer ago, as `m gc` does. On a connection
/// of its own and a blocking thread: it deletes a batch per transaction, so
/// the writer waits for one batch at most, and no run waits for it at all.
async fn retention(db: std::path::PathBuf, older_than: Duration) {
    loop {
        let db = db.clone();
        let pass = tokio::task::spawn_blocking(move || {
            Store::open(&db)?.prune_old_output(older_than, "daemon")
        })
        .await;
        match pass {
            Ok(Ok((runs, pages))) if !runs.is_empty() => tracing::info!(
                runs = runs.len(),
                events = runs.iter().map(|r| r.events).sum::<u64>(),
                bytes = runs.iter().map(|r| r.bytes).sum::<u64>(),
                pages_released = pages,
                "retention dropped old output"
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("retention: {e}"),
            Err(e) => tracing::warn!("retention: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

async fn wait_for_shutdown(shared: &Shared) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        shared.shutdown.notified().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = shared.shutdown.notified() => {}
    }
}

/// Ends every live run as failed with `reason`, and waits for their agents.
async fn stop_all_runs(shared: &Arc<Shared>, reason: &str) {
    let handles: Vec<RunHandle> = shared
        .runs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .cloned()
        .collect();
    for handle in handles {
        let _ = handle
            .control
            .send(Control::Stop {
                failure: Some(reason.to_string()),
            })
            .await;
    }
    // Past the grace period a run still commits its work (git) and records
    // its end; on a loaded machine that can take seconds. Well inside
    // systemd's default stop timeout (90 s); a run still live after this is
    // failed by the next daemon's recovery.
    let start = tokio::time::Instant::now();
    let deadline = start + shared.grace + Duration::from_secs(30);
    // With the disk full no run can record its end (nor store the output
    // its agent left): waiting longer than the grace period is waiting for
    // nothing.
    let full_disk_deadline = start + shared.grace + Duration::from_secs(2);
    while !shared.live_runs().is_empty() && tokio::time::Instant::now() < deadline {
        if shared.writer.health().waiting_for_space()
            && tokio::time::Instant::now() >= full_disk_deadline
        {
            tracing::warn!(
                "stopping with {} run(s) whose end cannot be recorded: the disk is full; the next start ends them",
                shared.live_runs().len()
            );
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), shared.run_ended.notified()).await;
    }
}

/// No run may stay active without a live agent: at start-up every active run
/// belongs to a daemon that is gone. What is left of its agent's process
/// group is killed, what the agent left in its workspace is committed on the
/// run's branch (as at a normal end, so that removing the run or its repo
/// later cannot lose it), and the run fails with the reason. A run whose
/// review was approved gets exactly its approved tree committed instead,
/// and completes (`supervisor::finish_approved`).
async fn recover(shared: &Arc<Shared>) -> Result<()> {
    // The run cgroups a daemon killed with its keepers left: everything in
    // them goes, whatever it did to its environment (and whichever
    // mechanism this daemon uses).
    if let Ok(cgroups) = crate::process::cgroup::RunCgroups::locate(&shared.paths.data_dir) {
        if let Ok(killed) = tokio::task::spawn_blocking(move || cgroups.clear()).await {
            if killed > 0 {
                tracing::warn!(
                    killed,
                    "killed what was left in the cgroups of runs of a previous daemon"
                );
            }
        }
    }
    let db = shared.paths.database();
    let paths = shared.paths.clone();
    let orphans = tokio::task::spawn_blocking(move || -> Result<Vec<Orphan>> {
        let store = Store::open(&db)?;
        let runs = store.list_runs(&RunFilter {
            states: RunState::ACTIVE.to_vec(),
            ..RunFilter::default()
        })?;
        runs.into_iter()
            .map(|run| {
                let details = store.run_details(&run.id)?;
                // Without a base commit the workspace was never finished,
                // and the agent never started: there is nothing to keep.
                // What `git worktree add` made of it before the daemon died
                // is undone: left half-made, it can break every later run's.
                let workspace = match (&details.base_commit, store.get_repo(&run.repo_id)) {
                    (base, Ok(repo)) => {
                        let ws = Workspace::recorded(
                            &WorkspaceRequest {
                                run_id: &run.id,
                                git_url: repo.git_url.as_deref(),
                                base: None,
                                workspaces_dir: &paths.workspaces(),
                                mirrors_dir: &paths.mirrors(),
                            },
                            details.branch.clone(),
                            details.base_commit.clone(),
                        );
                        if base.is_some() {
                            Some(ws?)
                        } else {
                            if let Ok(ws) = ws {
                                crate::workspace::discard_unfinished(&ws);
                            }
                            None
                        }
                    }
                    _ => None,
                };
                // A time limit that passed while no daemon ran is acted on
                // now: the run ends as it would have, cancelled, saying so.
                let options: crate::model::RunOptions =
                    serde_json::from_value(details.options.clone()).unwrap_or_default();
                let time_limit = options
                    .timeout_seconds
                    .filter(|secs| run.created_at + *secs as i64 <= now())
                    .map(|secs| {
                        format!(
                            "time limit {} reached",
                            crate::model::format_duration(Duration::from_secs(secs))
                        )
                    });
                // So are approval deadlines: each approval nobody decided
                // in time is decided by its deadline, as it would have been.
                let overdue = match options.approval_timeout_seconds {
                    Some(secs) => store
                        .list_approvals(&ApprovalFilter {
                            run_id: Some(run.id.clone()),
                            states: vec![ApprovalState::Pending],
                        })?
                        .into_iter()
                        .filter(|a| a.created_at + secs as i64 <= now())
                        .map(|a| a.id)
                        .collect(),
                    None => Vec::new(),
                };
                let no_answer = options.approval_timeout_seconds.map(|secs| {
                    let after = crate::model::format_duration(Duration::from_secs(secs));
                    (format!("no answer within {after}"), after)
                });
                // A review approved before the daemon stopped: the run had
                // only its work to commit, which is done now, of exactly
                // the approved tree (nothing to take up, nor a time limit
                // to reach).
                let approved = match (&workspace, options.review) {
                    (Some(_), true) => supervisor::approved_in_store(&store, &run.id)?,
                    _ => None,
                };
                let resume = match (&workspace, &time_limit) {
                    (Some(ws), None) if overdue.is_empty() && approved.is_none() => {
                        resumable(&store, &run, &details, &options, ws)?
                    }
                    _ => None,
                };
                Ok(Orphan {
                    resume,
                    approved,
                    run_id: run.id,
                    time_limit,
                    overdue,
                    no_answer,
                    cancel_on_timeout: options.on_timeout == Some(OnTimeout::Cancel),
                    prompt: run.prompt,
                    pgid: details.pgid,
                    workspace,
                })
            })
            .collect()
    })
    .await
    .map_err(|e| Error::failure(format!("recovery crashed: {e}")))??;
    for orphan in orphans {
        let run_id = orphan.run_id;
        let killed = process::kill_orphans(orphan.pgid.map(|p| p as i32), &run_id);
        if killed > 0 {
            tracing::warn!(run = %run_id, killed, "killed what was left of the run's agent");
        }
        if let Some(resume) = orphan.resume {
            tracing::warn!(run = %run_id, "resuming the session of a run left active by a previous daemon");
            take_up(shared, resume).await?;
            continue;
        }
        if let (Some(ws), Some(approved)) = (&orphan.workspace, orphan.approved) {
            supervisor::finish_approved(shared, &run_id, &orphan.prompt, ws, approved).await?;
            continue;
        }
        tracing::warn!(run = %run_id, "failing a run left active by a previous daemon");
        let mut reason = String::from(
            "the daemon stopped while the run was active (it crashed or was killed); the agent is gone",
        );
        if let Some(ws) = orphan.workspace {
            let message = crate::workspace::commit_message(
                &orphan.prompt,
                &run_id,
                Some("Recovered: the daemon stopped during the run."),
            );
            let event = match supervisor::commit_work(ws, message).await {
                Ok(Some(stat)) => {
                    reason.push_str(&format!(
                        "; what it left was committed as {}",
                        short_id(&stat.commit)
                    ));
                    Some(NewEvent::new(
                        &run_id,
                        EventType::WorkspaceDiff,
                        json!(stat),
                    ))
                }
                Ok(None) => None,
                Err(message) => {
                    reason.push_str(&format!("; {message}"));
                    Some(NewEvent::new(
                        &run_id,
                        EventType::Error,
                        json!({ "message": message }),
                    ))
                }
            };
            if let Some(event) = event {
                shared.writer.append(vec![event]).await;
            }
        }
        let mut timed_out = None;
        if let Some((no_answer, after)) = &orphan.no_answer {
            for approval_id in &orphan.overdue {
                let decision = Decision {
                    approve: false,
                    reason: Some(no_answer.clone()),
                    by: DecidedBy::Deadline {
                        after: after.clone(),
                    },
                    seen_hash: None,
                };
                match shared.writer.decide(approval_id, decision).await {
                    Ok(_) => timed_out = Some(no_answer.clone()),
                    Err(err) => {
                        tracing::error!(run = %run_id, "cannot reject approval {approval_id} at its deadline: {}", err.message)
                    }
                }
            }
        }
        let (state, reason) = match (orphan.time_limit, timed_out) {
            (Some(limit), _) => (
                RunState::Cancelled,
                format!("{limit} (while the daemon was down)"),
            ),
            (None, Some(no_answer)) if orphan.cancel_on_timeout => (
                RunState::Cancelled,
                format!("{no_answer} (while the daemon was down)"),
            ),
            (None, _) => (RunState::Failed, reason),
        };
        shared
            .writer
            .finish_run(&run_id, state, json!({ "reason": reason }))
            .await?;
    }
    Ok(())
}

/// A conversation a previous daemon left active, whose agent can take up
/// its session again.
struct Resumable {
    started: supervisor::StartedRun,
    /// Its pending approvals: closed, and asked again.
    pending: Vec<String>,
    /// The `seq` of its open questions: withdrawn (the agent that asked is
    /// gone; a resumed conversation asks for its next prompt again).
    questions: Vec<i64>,
}

/// The run's session, if it can be resumed: a conversation (an ACP agent,
/// without `--once`) whose agent said, when its session opened, that it can
/// take it up again (`session/resume` or `session/load`), in a workspace
/// that is still there. Anything else fails as before.
fn resumable(
    store: &Store,
    run: &crate::model::Run,
    details: &crate::store::RunDetails,
    options: &crate::model::RunOptions,
    workspace: &Workspace,
) -> Result<Option<Resumable>> {
    let Ok(agent) = serde_json::from_value::<crate::model::AgentSpec>(details.agent.clone()) else {
        return Ok(None);
    };
    if !agent.is_conversational(options.once) || !workspace.path.is_dir() {
        return Ok(None);
    }
    let opened = store.last_event(&run.id, &[EventType::AgentSession, EventType::AgentResumed])?;
    let session_id = opened
        .and_then(|e| e.data)
        .filter(|d| {
            d.get("capabilities")
                .and_then(crate::agent::acp::resume_method)
                .is_some()
        })
        .and_then(|d| d.get("sessionId")?.as_str().map(str::to_string));
    let Some(session_id) = session_id else {
        return Ok(None);
    };
    let approvals = store.list_approvals(&ApprovalFilter {
        run_id: Some(run.id.clone()),
        states: vec![ApprovalState::Pending],
    })?;
    let mut open: Vec<(i64, bool)> = Vec::new();
    let kinds = [
        EventType::InputRequested,
        EventType::InputProvided,
        EventType::InputWithdrawn,
    ]
    .map(|t| t.to_string());
    store.for_each_event(&run.id, 0, &kinds, None, |event| {
        let requested = event.kind() == Some(EventType::InputRequested);
        let data = event.data.unwrap_or_default();
        if requested {
            let between_turns = data.get("schema").is_none_or(Value::is_null);
            open.push((event.seq, between_turns));
        } else {
            let named = data.get("question_seq").and_then(Value::as_i64);
            let closed = match named {
                Some(seq) => open.iter().position(|(q, _)| *q == seq),
                None if open.is_empty() => None,
                None => Some(0),
            };
            if let Some(index) = closed {
                open.remove(index);
            }
        }
        Ok(())
    })?;
    let was = if !approvals.is_empty() {
        "approval"
    } else if open.iter().any(|(_, between_turns)| *between_turns) {
        "input"
    } else {
        "turn"
    };
    // The agent's own requests are asked again; a review of the run's work
    // is asked again when the human ends the conversation (`m run done`).
    let asked = approvals
        .iter()
        .filter(|a| {
            a.payload
                .as_ref()
                .and_then(|p| p.get("toolCallId"))
                .is_some()
        })
        .map(|a| crate::agent::ApprovalRequest {
            approval_type: a.approval_type,
            payload: a.payload.clone().unwrap_or_default(),
        })
        .collect();
    let repo = store.get_repo(&run.repo_id)?;
    Ok(Some(Resumable {
        started: supervisor::StartedRun {
            run: run.clone(),
            repo,
            agent,
            base: None,
            options: options.clone(),
            env: queue::daemon_env(),
            resumed: Some(supervisor::Resumed {
                workspace: workspace.clone(),
                session: crate::agent::acp::Resume {
                    session_id,
                    was: was.to_string(),
                    asked,
                },
            }),
        },
        pending: approvals.into_iter().map(|a| a.id).collect(),
        questions: open.into_iter().map(|(seq, _)| seq).collect(),
    }))
}

/// Takes up a conversation a previous daemon left: what it waited for is
/// closed (the agent that asked is gone) and the run goes back to
/// running; its supervisor resumes the agent's session and asks again.
async fn take_up(shared: &Arc<Shared>, resume: Resumable) -> Result<()> {
    let run_id = resume.started.run.id.clone();
    for approval_id in &resume.pending {
        let decision = Decision {
            approve: false,
            reason: Some(
                "asked again: the daemon restarted, and the agent's session is resumed".into(),
            ),
            by: DecidedBy::M,
            seen_hash: None,
        };
        if let Err(err) = shared.writer.decide(approval_id, decision).await {
            tracing::error!(run = %run_id, "cannot close approval {approval_id}: {}", err.message);
        }
    }
    let mut events: Vec<NewEvent> = resume
        .questions
        .iter()
        .map(|seq| {
            NewEvent::new(
                &run_id,
                EventType::InputWithdrawn,
                json!({ "question_seq": seq }),
            )
        })
        .collect();
    if !events.is_empty() {
        events.push(
            NewEvent::new(
                &run_id,
                EventType::RunState,
                json!({ "state": RunState::Running }),
            )
            .with_state(RunState::Running),
        );
        shared.writer.append_committed(events).await?;
    }
    queue::supervise(shared, resume.started);
    Ok(())
}

/// A run a previous daemon left active.
struct Orphan {
    /// Set when its session can be resumed instead of failing it.
    resume: Option<Resumable>,
    /// Its review, approved before the daemon stopped: what is committed.
    approved: Option<supervisor::ApprovedReview>,
    run_id: String,
    /// Its time limit's reason, if the limit passed while no daemon ran.
    time_limit: Option<String>,
    /// Its pending approvals whose deadline passed while no daemon ran.
    overdue: Vec<String>,
    /// "no answer within 1h" and "1h", if it has an approval timeout.
    no_answer: Option<(String, String)>,
    /// `on_timeout = "cancel"`: an approval past its deadline cancels it.
    cancel_on_timeout: bool,
    prompt: String,
    pgid: Option<i64>,
    /// None if its workspace was never finished.
    workspace: Option<Workspace>,
}
