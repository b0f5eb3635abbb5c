//! The daemon's one writer. Every change to runs, events and approvals goes
//! through this thread, which groups whatever operations are waiting into one
//! transaction (group commit: a chatty agent costs few fsyncs), then answers
//! each caller and publishes the committed events to followers.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::health::{injected_fault, Lifeline, WriterHealth};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Approval, ApprovalType, Event, QueuedRun, Run, RunState};
use crate::store::{Batch, Created, Decision, NewEvent, NewRun, Store};

/// How many operations one transaction takes at most.
const MAX_BATCH: usize = 512;
/// Operations waiting for the writer; senders wait when it is full, which is
/// how a flood of output is slowed to the disk's pace. An `output` event
/// holds up to 64 KiB of text (about 100 KiB in memory), so this queue, the
/// runs' request channels and the hub are what bound the daemon's memory
/// under a flood: 1024 here kept ~100 MB of waiting events during a
/// million-line run. A flood comes in full chunks, so a short queue still
/// fills whole transactions.
const QUEUE: usize = 64;
/// Committed events kept for followers that fall behind (they then read the
/// rest from the database). The broadcast ring keeps the last this-many
/// events alive even once every follower has them: 4096 big events were
/// ~150 MB.
const HUB_CAPACITY: usize = 256;

/// Log pages (16 KiB each) after which the checkpointer thread copies the
/// log back into the database: SQLite's own threshold, but off the writer's
/// path. Done in the commit, as SQLite does, it stalled the writer ~8 ms
/// every few hundred single-event commits, and a follower's p99 latency at
/// 1k lines/s was 8.8 ms instead of 0.4 ms.
const CHECKPOINT_PAGES: i32 = 1000;
/// Under a flood the checkpointer never catches up with a log that grows
/// while it copies, and a log is only restarted once all of it has been
/// copied. Past this many pages the writer copies the rest itself (little:
/// the checkpointer has done most), so the log restarts and stays bounded.
const CHECKPOINT_LIMIT: i32 = 2 * CHECKPOINT_PAGES;

type Reply<T> = oneshot::Sender<Result<T>>;

/// A run's share of its output budget, held until its events are stored.
type Held = Option<tokio::sync::OwnedSemaphorePermit>;

enum Op {
    /// Agent output nobody waits for: kept and tried again, in order, when
    /// the disk is full.
    Append { events: Vec<NewEvent>, held: Held },
    /// Any other write: a `Batch` method whose caller waits for the commit.
    Write(Box<dyn Job>),
    /// The daemon is stopping: the writer ends once what it holds is
    /// stored, or after a last few tries if the disk stays full.
    Close,
    /// Free the connection's page cache after what is queued before it,
    /// then say so (see [`Writer::release_memory`]).
    ReleaseMemory(oneshot::Sender<()>),
}

/// A write waiting in the queue, its result typed only inside: it runs in
/// the batch, or is told why it was not tried.
trait Job: Send {
    /// Runs in the open batch; its caller hears after the commit.
    fn run(self: Box<Self>, batch: &mut Batch<'_>) -> (Pending, Option<Error>);
    /// Was not tried because of `err`.
    fn fail(self: Box<Self>, err: &Error);
}

struct Call<T, F> {
    work: F,
    reply: Reply<T>,
}

impl<T, F> Job for Call<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut Batch<'_>) -> Result<T> + Send,
{
    fn run(self: Box<Self>, batch: &mut Batch<'_>) -> (Pending, Option<Error>) {
        let Call { work, reply } = *self;
        deferred(reply, work(batch))
    }

    fn fail(self: Box<Self>, err: &Error) {
        let _ = self.reply.send(Err(copy(err)));
    }
}

#[derive(Clone)]
pub struct Writer {
    ops: mpsc::Sender<Op>,
    hub: broadcast::Sender<Arc<Event>>,
    health: Arc<WriterHealth>,
}

/// Woken after a commit that queued notifications.
pub type Wake = Arc<tokio::sync::Notify>;

impl Writer {
    /// Starts the writer thread on its own connection to the database, and
    /// the checkpointer beside it; each holds its lifeline.
    pub fn start(
        db: &Path,
        wake: Wake,
        lifelines: [Lifeline; 2],
    ) -> Result<(Writer, std::thread::JoinHandle<()>)> {
        let [writer_line, checkpointer_line] = lifelines;
        let mut store = Store::open(db)?;
        // The checkpointer ends with the writer: its only sender is the hook.
        let checkpointer = Store::open(db)?;
        let (kick, kicked) = std::sync::mpsc::sync_channel::<()>(1);
        store.on_commit(move |wal, pages| {
            if pages >= CHECKPOINT_LIMIT {
                let _ = wal.checkpoint_v2(rusqlite::wal::CheckpointMode::PASSIVE);
            } else if pages >= CHECKPOINT_PAGES {
                let _ = kick.try_send(());
            }
        })?;
        let checkpoints = std::thread::Builder::new()
            .name("m-checkpoint".into())
            .spawn(move || {
                let _line = checkpointer_line;
                injected_fault("checkpointer");
                while kicked.recv().is_ok() {
                    if let Err(err) = checkpointer.checkpoint() {
                        tracing::warn!("checkpoint: {}", err.message);
                    }
                }
            })
            .map_err(|e| Error::failure(format!("cannot start the checkpoint thread: {e}")))?;
        let (ops, rx) = mpsc::channel(QUEUE);
        let (hub, _) = broadcast::channel(HUB_CAPACITY);
        let publish = hub.clone();
        let health = Arc::new(WriterHealth::default());
        let reported = health.clone();
        let thread = std::thread::Builder::new()
            .name("m-writer".into())
            .spawn(move || {
                let _line = writer_line;
                write_loop(store, rx, publish, wake, &reported);
                // The writer's connection is closed: its hook, the
                // checkpointer's only sender, with it.
                let _ = checkpoints.join();
            })
            .map_err(|e| Error::failure(format!("cannot start the writer thread: {e}")))?;
        Ok((Writer { ops, hub, health }, thread))
    }

    /// How the writer stands, for `m status`.
    pub fn health(&self) -> &WriterHealth {
        &self.health
    }

    /// Live committed events, for followers.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.hub.subscribe()
    }

    /// Runs `work` in the writer's next transaction (in a savepoint of its
    /// own) and returns its result once that is committed. A new kind of
    /// write is a `Batch` method called through this.
    pub async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Batch<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, rx) = oneshot::channel();
        let job = Box::new(Call { work, reply });
        self.ops.send(Op::Write(job)).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Tells the writer the daemon is stopping: it ends once what it was
    /// given before is stored, or, with the disk full, after a last few
    /// tries (what it still holds is then lost, and logged).
    pub async fn close(&self) {
        let _ = self.ops.send(Op::Close).await;
    }

    /// Empties the writer's page cache (up to SQLite's 2 MB, filled by any
    /// flood of output and kept for the connection's life otherwise), once
    /// what was queued before is stored. The next write reads the few pages
    /// it needs back from the file system's cache: called after peaks, not
    /// on every commit.
    pub async fn release_memory(&self) {
        let (done, released) = oneshot::channel();
        if self.ops.send(Op::ReleaseMemory(done)).await.is_ok() {
            let _ = released.await;
        }
    }

    /// Appends without waiting for the commit (ordering is kept: one queue).
    pub async fn append(&self, events: Vec<NewEvent>) {
        self.append_held(events, None).await
    }

    /// Appends an agent's events, holding their share of its run's output
    /// budget until they are stored (a full disk: until there is space).
    pub async fn append_held(&self, events: Vec<NewEvent>, held: Held) {
        let _ = self.ops.send(Op::Append { events, held }).await;
    }

    /// Appends and waits for the commit; returns the events' `seq`s.
    pub async fn append_committed(&self, events: Vec<NewEvent>) -> Result<Vec<i64>> {
        self.write(move |batch| {
            let count = events.len();
            batch.append(events).inspect_err(|err| {
                tracing::error!("cannot append {count} event(s): {}", err.message)
            })
        })
        .await
    }

    /// Creates the run, or queues it when its repo is busy and `queue` is
    /// set (see `Batch::create_or_queue`).
    pub async fn create_or_queue(
        &self,
        id: String,
        new: NewRun,
        base: Option<String>,
        queue: bool,
    ) -> Result<Created> {
        self.write(move |batch| batch.create_or_queue(&id, new, base, queue))
            .await
    }

    /// Starts the repo's next queued run if the repo is free.
    pub async fn start_next_queued(&self, repo_id: &str) -> Result<Option<(Run, QueuedRun)>> {
        let repo_id = repo_id.to_string();
        self.write(move |batch| batch.start_next_queued(&repo_id))
            .await
    }

    /// Takes a run out of its queue, as cancelled; None if it is not queued.
    pub async fn cancel_queued(&self, id: &str) -> Result<Option<Run>> {
        let id = id.to_string();
        self.write(move |batch| batch.cancel_queued(&id)).await
    }

    pub async fn set_workspace(
        &self,
        run_id: &str,
        branch: Option<String>,
        base: Option<String>,
    ) -> Result<()> {
        let id = run_id.to_string();
        self.write(move |batch| batch.set_workspace(&id, branch.as_deref(), base.as_deref()))
            .await
    }

    pub async fn set_pgid(&self, run_id: &str, pgid: Option<i64>) -> Result<()> {
        let id = run_id.to_string();
        self.write(move |batch| batch.set_pgid(&id, pgid)).await
    }

    pub async fn set_state(
        &self,
        run_id: &str,
        state: RunState,
        reason: Option<String>,
    ) -> Result<Vec<Event>> {
        let id = run_id.to_string();
        self.write(move |batch| batch.set_state(&id, state, reason.as_deref()))
            .await
    }

    /// Records an approval: pending, or already decided by `policy`.
    pub async fn request_approval(
        &self,
        run_id: &str,
        approval_type: ApprovalType,
        payload: Value,
        policy: Option<Decision>,
    ) -> Result<Approval> {
        let id = run_id.to_string();
        self.write(move |batch| {
            batch.request_approval(&id, approval_type, payload, policy.as_ref())
        })
        .await
    }

    pub async fn decide(&self, approval_id: &str, decision: Decision) -> Result<Approval> {
        let id = approval_id.to_string();
        self.write(move |batch| batch.decide(&id, &decision)).await
    }

    /// Rejects the run's pending approvals: it is being stopped.
    pub async fn close_approvals(&self, run_id: &str) -> Result<Vec<Event>> {
        let id = run_id.to_string();
        self.write(move |batch| batch.close_approvals(&id)).await
    }

    pub async fn finish_run(
        &self,
        run_id: &str,
        state: RunState,
        data: Value,
    ) -> Result<Vec<Event>> {
        let id = run_id.to_string();
        self.write(move |batch| batch.finish_run(&id, state, data))
            .await
    }
}

fn stopped() -> Error {
    Error::failure("the daemon's writer has stopped")
        .with_hint("see the daemon log (`m daemon status`)")
}

/// How long the writer waits before trying again when the disk is full.
const DISK_FULL_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);
/// After the daemon has begun to stop, how often it tries before giving up.
const FINAL_TRIES: usize = 10;

fn write_loop(
    mut store: Store,
    mut rx: mpsc::Receiver<Op>,
    hub: broadcast::Sender<Arc<Event>>,
    wake: Wake,
    health: &WriterHealth,
) {
    let mut ops = Vec::with_capacity(MAX_BATCH);
    let mut retry: Vec<Op> = Vec::new();
    let mut releases: Vec<oneshot::Sender<()>> = Vec::new();
    let mut closing = false;
    let mut closed_tries = 0;
    loop {
        let retrying = !retry.is_empty();
        if !retrying {
            if closing {
                return;
            }
            match rx.blocking_recv() {
                Some(Op::Close) => closing = true,
                Some(Op::ReleaseMemory(done)) => releases.push(done),
                Some(op) => ops.push(op),
                None => return,
            }
        } else {
            // Agent output that could not be stored waits here, in order,
            // and everything behind it waits too: agents are slowed instead
            // of their output being lost.
            std::thread::sleep(DISK_FULL_PAUSE);
            ops.append(&mut retry);
            if closing || rx.is_closed() {
                closed_tries += 1;
                if closed_tries > FINAL_TRIES {
                    let lost: usize = ops
                        .iter()
                        .map(|op| match op {
                            Op::Append { events, .. } => events.len(),
                            _ => 0,
                        })
                        .sum();
                    tracing::error!(
                        "stopping with {lost} event(s) of agent output unstored: the disk stayed full"
                    );
                    return;
                }
            }
        }
        // While the disk is full everything waiting is taken: what holds
        // the agents back is their output budget (bytes), not a count of
        // events, and other callers are told at once that the disk is full.
        let take = if retrying { usize::MAX } else { MAX_BATCH };
        while ops.len() < take {
            match rx.try_recv() {
                Ok(Op::Close) => closing = true,
                Ok(Op::ReleaseMemory(done)) => releases.push(done),
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        if !ops.is_empty() {
            retry = commit_batch(&mut store, &mut ops, &hub, &wake, health);
            injected_fault("writer");
        }
        // Outside any transaction (a page a transaction wrote cannot be freed).
        if !releases.is_empty() {
            store.release_memory();
            for done in releases.drain(..) {
                let _ = done.send(());
            }
        }
    }
}

/// A reply to send once the batch is committed (never before: a decision
/// or event must be durable before anyone hears of it).
type Pending = Box<dyn FnOnce(Option<&Error>)>;

/// Commits what it can of `ops`; returns the agent output that must be
/// tried again because the disk is full. Callers waiting for a reply get
/// the error instead: they decide whether to try again.
///
/// Nothing behind a write that found the disk full is tried: output stays
/// in order (a later, smaller event could fit where an earlier one did
/// not). And SQLite may roll the whole transaction back on a full disk,
/// undoing everything the batch did so far: that output is kept too.
fn commit_batch(
    store: &mut Store,
    ops: &mut Vec<Op>,
    hub: &broadcast::Sender<Arc<Event>>,
    wake: &Wake,
    health: &WriterHealth,
) -> Vec<Op> {
    let mut retry = Vec::new();
    let mut batch = match store.batch() {
        Ok(batch) => batch,
        Err(err) => {
            for op in ops.drain(..) {
                keep_or_fail(op, &err, &mut retry);
            }
            if health.failed(&err, retry.len()) {
                tracing::error!("a write to the database failed: {}", err.message);
            }
            return retry;
        }
    };
    let mut replies: Vec<Pending> = Vec::with_capacity(ops.len());
    // Output in the batch, kept until the commit: if the disk is full, it
    // is tried again rather than lost. (The copy is cheap beside the
    // insert, which serialises the same data.)
    let mut unacknowledged: Vec<(Vec<NewEvent>, Held)> = Vec::new();
    // Why the batch stopped short: the disk is full, or SQLite undid it.
    let mut stop: Option<Error> = None;
    let mut rest = ops.drain(..);
    for op in rest.by_ref() {
        match op {
            Op::Append { events, held } => match batch.append(events.clone()) {
                Ok(_) => unacknowledged.push((events, held)),
                Err(err) if err.kind == ErrorKind::DiskFull => {
                    retry.push(Op::Append { events, held });
                    stop = Some(err);
                }
                Err(err) => {
                    tracing::error!("cannot append {} event(s): {}", events.len(), err.message)
                }
            },
            Op::Write(job) => {
                let (reply, full) = job.run(&mut batch);
                replies.push(reply);
                stop = full;
            }
            Op::Close | Op::ReleaseMemory(_) => {}
        }
        if stop.is_none() && batch.rolled_back() {
            stop = Some(Error::new(
                ErrorKind::Database,
                "the database rolled the transaction back",
            ));
        }
        if stop.is_some() {
            break;
        }
    }
    if let Some(err) = &stop {
        for op in rest {
            keep_or_fail(op, err, &mut retry);
        }
    } else {
        drop(rest);
    }
    let outcome = match &stop {
        Some(err) if batch.rolled_back() => Err(Error::new(err.kind, err.message.clone())),
        _ => batch.commit(),
    };
    let disk_full = stop.filter(|err| err.kind == ErrorKind::DiskFull);
    match outcome {
        Ok(committed) => {
            match disk_full {
                Some(err) => {
                    if health.failed(&err, retry.len()) {
                        tracing::error!("output waits for space: {}", err.message);
                    }
                }
                None => health.committed(retry.len()),
            }
            for reply in replies {
                reply(None);
            }
            // Stored: the runs' budgets get their shares back.
            drop(unacknowledged);
            if committed.queued_notifications > 0 {
                wake.notify_one();
            }
            for event in committed.events {
                let _ = hub.send(Arc::new(event));
            }
        }
        Err(err) => {
            for reply in replies {
                reply(Some(&err));
            }
            if err.kind == ErrorKind::DiskFull {
                let undone = unacknowledged
                    .into_iter()
                    .map(|(events, held)| Op::Append { events, held });
                // They were before anything already waiting for a retry.
                retry = undone.chain(retry).collect();
            } else if !unacknowledged.is_empty() {
                let lost: usize = unacknowledged.iter().map(|(e, _)| e.len()).sum();
                tracing::error!("{lost} event(s) lost with the failed commit");
            }
            if health.failed(&err, retry.len()) {
                tracing::error!("a write to the database failed: {}", err.message);
            }
        }
    }
    retry
}

/// An operation that was not tried because of `err`: agent output is kept
/// for a retry when the disk is full; any other caller is told.
fn keep_or_fail(op: Op, err: &Error, retry: &mut Vec<Op>) {
    match op {
        Op::Append { events, held } if err.kind == ErrorKind::DiskFull => {
            retry.push(Op::Append { events, held })
        }
        Op::Write(job) => job.fail(err),
        Op::Append { .. } | Op::Close | Op::ReleaseMemory(_) => {}
    }
}

fn copy(err: &Error) -> Error {
    Error::new(err.kind, err.message.clone())
}

/// The reply to send after the commit, and the error if the disk was full
/// (the batch stops there).
fn deferred<T: Send + 'static>(reply: Reply<T>, result: Result<T>) -> (Pending, Option<Error>) {
    let full = match &result {
        Err(err) if err.kind == ErrorKind::DiskFull => Some(copy(err)),
        _ => None,
    };
    let pending: Pending = Box::new(move |commit_error: Option<&Error>| {
        let result = match commit_error {
            Some(err) => Err(copy(err)),
            None => result,
        };
        let _ = reply.send(result);
    });
    (pending, full)
}
