//! Followers: a run's stored events, then its live ones, with no gap and no
//! duplicate (by seq), then `end` when it finishes; or the live events of
//! every run. Each follower has a small in-flight budget: what the daemon
//! has sent that it has not read. One that stays over it (`m events RUN
//! --follow | less`, its screen full) is cut off with a last frame saying
//! where to resume, and reads the rest from the database itself: a
//! follower that stops reading costs the daemon nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};

use super::connection::Connection;
use super::Shared;
use crate::error::Result;
use crate::model::{Event, EventType, RunState};
use crate::protocol::{encode, EventFrame, Response, HEARTBEAT};
use crate::store::RunOrQueued;

/// At most this much sent and not yet read per follower (the system may
/// allow less: then its socket buffer is the budget).
const BUDGET: usize = 1 << 20;
/// A catch-up page read from the database: about this many bytes of events.
const PAGE_BYTES: usize = 256 << 10;
/// How long a follower may stay over its budget before it is cut off.
const PATIENCE: Duration = Duration::from_secs(5);

pub async fn follow(
    shared: &Arc<Shared>,
    run_id: Option<String>,
    since: i64,
    types: &[String],
    conn: &mut Connection,
) -> Result<()> {
    // Subscribe before reading the backlog, so nothing committed in between is missed.
    let live = shared.writer.subscribe();
    let mut follower = Follower::new(conn, types);
    let result = match run_id {
        Some(run_id) => follower.run(shared, live, run_id, since).await,
        None => follower.all(shared, live).await,
    };
    // What a flood of followers allocated goes back to the system when
    // they leave, instead of staying with the allocator: trimmed once they
    // are gone, not by each of them on the way out (a hundred trims in a
    // row, each walking every arena, held up the runtime's threads).
    super::memory::something_ended();
    result.map(|_| ())
}

/// What woke a follower waiting for live events.
enum Woken {
    Event(std::result::Result<Arc<Event>, RecvError>),
    Heartbeat,
    /// The client left, or the daemon is stopping.
    Gone,
}

/// Whether a follower is still followed.
#[must_use]
enum Flow {
    Go,
    /// Cut off (behind), or the run ended: nothing more is sent.
    Stop,
}

struct Follower<'c> {
    conn: &'c mut Connection,
    types: &'c [String],
    budget: usize,
    /// Per run, the last seq sent or passed over (by `types`).
    sent: BTreeMap<String, i64>,
}

impl<'c> Follower<'c> {
    fn new(conn: &'c mut Connection, types: &'c [String]) -> Follower<'c> {
        // Asked for twice the budget (the system counts its own overhead),
        // so that the last frame fits even when the budget is spent.
        let buffer = conn.grow_send_buffer(2 * BUDGET);
        Follower {
            conn,
            types,
            budget: BUDGET.min(buffer / 2).max(16 << 10),
            sent: BTreeMap::new(),
        }
    }

    /// One run: its backlog, then live events until it ends.
    async fn run(
        &mut self,
        shared: &Shared,
        mut live: broadcast::Receiver<Arc<Event>>,
        run_id: String,
        since: i64,
    ) -> Result<Flow> {
        self.sent.insert(run_id.clone(), since);
        if let Flow::Stop = self.catch_up(shared, &run_id).await? {
            return Ok(Flow::Stop);
        }
        let mut heartbeat = heartbeat();
        loop {
            let woken = tokio::select! {
                event = live.recv() => Woken::Event(event),
                _ = heartbeat.tick() => Woken::Heartbeat,
                _ = self.conn.closed() => Woken::Gone,
            };
            let flow = match woken {
                Woken::Event(Ok(event)) if event.run_id == run_id => {
                    self.live_event(&event).await?
                }
                Woken::Event(Ok(_)) => Flow::Go,
                Woken::Event(Err(RecvError::Lagged(_))) => self.catch_up(shared, &run_id).await?,
                Woken::Event(Err(RecvError::Closed)) | Woken::Gone => Flow::Stop,
                Woken::Heartbeat => self.send_frame(&encode(&Response::Heartbeat)).await?,
            };
            if let Flow::Stop = flow {
                return Ok(Flow::Stop);
            }
        }
    }

    /// Sends the run's stored events after what was sent, then `end` if
    /// the run is over.
    async fn catch_up(&mut self, shared: &Shared, run_id: &str) -> Result<Flow> {
        if let Flow::Stop = self.send_backlog(shared, run_id).await? {
            return Ok(Flow::Stop);
        }
        let id = run_id.to_string();
        let stands =
            super::readers::read(&shared.readers, move |store| store.find_run_or_queued(&id))
                .await?;
        let run = match stands {
            RunOrQueued::Run(run) if run.state.is_final() => run,
            RunOrQueued::Run(_) => return Ok(Flow::Go),
            // Its log will open with this event: a follower sees it now,
            // then the rest once the run starts.
            RunOrQueued::Queued(queued) => {
                let event = queued.queued_event;
                let sent = self.sent.get(run_id).copied().unwrap_or(0);
                if event.seq <= sent {
                    return Ok(Flow::Go);
                }
                return self.send_event(&event).await;
            }
        };
        // Its last events may have been committed after the page was read.
        if let Flow::Stop = self.send_backlog(shared, run_id).await? {
            return Ok(Flow::Stop);
        }
        self.conn.send(&Response::End { state: run.state }).await?;
        Ok(Flow::Stop)
    }

    async fn live_event(&mut self, event: &Event) -> Result<Flow> {
        let last = self.sent.get(&event.run_id).copied().unwrap_or(0);
        if event.seq <= last {
            return Ok(Flow::Go);
        }
        if let Flow::Stop = self.send_event(event).await? {
            return Ok(Flow::Stop);
        }
        match finished_state(event) {
            Some(state) => {
                self.conn.send(&Response::End { state }).await?;
                Ok(Flow::Stop)
            }
            None => Ok(Flow::Go),
        }
    }

    /// Sends the event if `types` wants it; past its seq either way.
    async fn send_event(&mut self, event: &Event) -> Result<Flow> {
        if wanted(self.types, event) {
            let frame = encode(&EventFrame::Event { event });
            if let Flow::Stop = self.send_frame(&frame).await? {
                return Ok(Flow::Stop);
            }
        }
        self.sent.insert(event.run_id.clone(), event.seq);
        Ok(Flow::Go)
    }

    /// The run's stored events after the last sent, a page at a time, each
    /// page read on one of the daemon's read connections (not held while
    /// the page is sent: a follower that reads slowly holds up no read).
    async fn send_backlog(&mut self, shared: &Shared, run_id: &str) -> Result<Flow> {
        loop {
            let id = run_id.to_string();
            let wanted = self.types.to_vec();
            let after = self.sent.get(run_id).copied().unwrap_or(0);
            let page = super::readers::read(&shared.readers, move |store| {
                store.list_events_page(&id, after, &wanted, PAGE_BYTES)
            })
            .await?;
            if page.is_empty() {
                return Ok(Flow::Go);
            }
            for event in &page {
                if let Flow::Stop = self.send_event(event).await? {
                    return Ok(Flow::Stop);
                }
            }
        }
    }

    /// Live events of every run until the client leaves (or the daemon
    /// stops); one that lags catches up every run seen so far.
    async fn all(
        &mut self,
        shared: &Shared,
        mut live: broadcast::Receiver<Arc<Event>>,
    ) -> Result<Flow> {
        let mut stopping = shared.stopping.subscribe();
        let mut heartbeat = heartbeat();
        loop {
            let woken = tokio::select! {
                event = live.recv() => Woken::Event(event),
                _ = heartbeat.tick() => Woken::Heartbeat,
                _ = self.conn.closed() => Woken::Gone,
                // Without this the daemon would wait for the follower to leave.
                _ = stopping.wait_for(|s| *s) => Woken::Gone,
            };
            let flow = match woken {
                Woken::Event(Ok(event)) => {
                    self.sent
                        .entry(event.run_id.clone())
                        .or_insert(event.seq - 1);
                    self.live_event_of_any(&event).await?
                }
                Woken::Event(Err(RecvError::Lagged(_))) => {
                    let runs: Vec<String> = self.sent.keys().cloned().collect();
                    let mut flow = Flow::Go;
                    for run_id in runs {
                        flow = self.send_backlog(shared, &run_id).await?;
                        if let Flow::Stop = flow {
                            break;
                        }
                    }
                    flow
                }
                Woken::Event(Err(RecvError::Closed)) | Woken::Gone => Flow::Stop,
                Woken::Heartbeat => self.send_frame(&encode(&Response::Heartbeat)).await?,
            };
            if let Flow::Stop = flow {
                return Ok(Flow::Stop);
            }
        }
    }

    async fn live_event_of_any(&mut self, event: &Event) -> Result<Flow> {
        let last = self.sent.get(&event.run_id).copied().unwrap_or(0);
        if event.seq <= last {
            return Ok(Flow::Go);
        }
        self.send_event(event).await
    }

    /// Sends a frame within the budget: while the client has more than the
    /// budget unread, waits for it to read; if it does not within
    /// [`PATIENCE`], cuts it off with a last frame saying where to resume.
    async fn send_frame(&mut self, frame: &[u8]) -> Result<Flow> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let unread = self.conn.unread();
            if unread == 0 || unread + frame.len() <= self.budget {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::debug!(unread, "a follower fell behind: cut off");
                let behind = Response::Behind {
                    resume: self.sent.clone(),
                };
                let _ = self.conn.send(&behind).await;
                return Ok(Flow::Stop);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.conn.send_bytes(frame).await?;
        Ok(Flow::Go)
    }
}

/// A heartbeat every [`HEARTBEAT`], the first one [`HEARTBEAT`] from now.
fn heartbeat() -> tokio::time::Interval {
    let start = tokio::time::Instant::now() + HEARTBEAT;
    let mut interval = tokio::time::interval_at(start, HEARTBEAT);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}

fn wanted(types: &[String], event: &Event) -> bool {
    types.is_empty() || types.contains(&event.event_type)
}

fn finished_state(event: &Event) -> Option<RunState> {
    if event.kind() != Some(EventType::RunFinished) {
        return None;
    }
    event
        .data
        .as_ref()
        .and_then(|d| d.get("state"))
        .and_then(|s| serde_json::from_value(s.clone()).ok())
}
