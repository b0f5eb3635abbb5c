//! A run's event stream as server-sent events: its stored events after
//! `since`, then its live ones, with no gap and no duplicate (by seq), then
//! `end` when it finishes.
//!
//! The response body is the follower itself: each poll of the body polls
//! the writer's hub (or a page of the backlog), on the connection's own
//! task. A task of its own feeding the body through a channel put two
//! wake-ups between a commit and the socket instead of one, and under load
//! each is a wait for a thread (bench row 10: p99 1.6-3.1x the socket's).
//! It also makes a reader that stops reading cost nothing: hyper stops
//! polling a body whose client does not read, the hub leaves the stream
//! behind (its ring is bounded), and the stream catches up from the
//! database, a page at a time, once polled again. A client that goes away
//! drops the body, and the follower with it.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::sse::Event as SseEvent;
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use super::super::Shared;
use crate::error::Result;
use crate::model::{Event, EventType, RunState};
use crate::store::RunOrQueued;

/// A catch-up page read from the database: about this many bytes of
/// events (as the socket's followers read theirs).
const PAGE_BYTES: usize = 256 << 10;
/// Live events taken from the hub in one poll, when several are waiting.
const LIVE_BATCH: usize = 64;

/// The body of `GET /v1/runs/{id}/events/stream`: frames as they come.
pub struct EventStream {
    ready: VecDeque<SseEvent>,
    /// The next step of the follower, when it is not over.
    step: Option<Next>,
}

/// What a step of the follower found: frames, and the follower to poll
/// next (none once the stream is over).
type Step = (Vec<SseEvent>, Option<Follower>);
type Next = Pin<Box<dyn Future<Output = Step> + Send>>;

impl EventStream {
    /// Follows `run_id` after `since`, until it ends, the client leaves,
    /// or the device `device_id` is unpaired (`revoked`).
    pub fn new(
        shared: Arc<Shared>,
        run_id: String,
        since: i64,
        revoked: broadcast::Receiver<String>,
        device_id: String,
    ) -> EventStream {
        // Subscribed now, before the backlog is read, so that nothing
        // committed in between is missed.
        let live = shared.writer.subscribe();
        let follower = Follower {
            shared,
            run_id,
            last: since,
            live,
            revoked,
            device_id,
            phase: Phase::CatchUp { ended: None },
        };
        EventStream {
            ready: VecDeque::new(),
            step: Some(follower.next_step()),
        }
    }
}

impl futures_core::Stream for EventStream {
    type Item = std::result::Result<SseEvent, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(frame) = self.ready.pop_front() {
                return Poll::Ready(Some(Ok(frame)));
            }
            let Some(step) = self.step.as_mut() else {
                return Poll::Ready(None);
            };
            let (frames, next) = std::task::ready!(step.as_mut().poll(cx));
            self.ready.extend(frames);
            self.step = next.map(Follower::next_step);
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        // As a socket follower's end: what a flood of them allocated goes
        // back to the system once they are gone.
        super::super::memory::something_ended();
    }
}

#[derive(Clone, Copy)]
enum Phase {
    /// Reading the stored events after `last`, a page at a time; `ended`:
    /// the run was seen final, and its `end` follows the last page.
    CatchUp {
        ended: Option<RunState>,
    },
    Live,
}

struct Follower {
    shared: Arc<Shared>,
    run_id: String,
    /// The last seq sent.
    last: i64,
    live: broadcast::Receiver<Arc<Event>>,
    revoked: broadcast::Receiver<String>,
    device_id: String,
    phase: Phase,
}

impl Follower {
    fn next_step(self) -> Next {
        Box::pin(self.step())
    }

    /// Waits for the next frames. An error ends the stream (the client
    /// sees its end and resumes with `Last-Event-ID`).
    async fn step(mut self) -> Step {
        match self.next().await {
            Ok((frames, go_on)) => (frames, go_on.then_some(self)),
            Err(err) => {
                tracing::debug!("an event stream ended: {}", err.message);
                (Vec::new(), None)
            }
        }
    }

    /// Frames, and whether more may follow.
    async fn next(&mut self) -> Result<(Vec<SseEvent>, bool)> {
        match self.phase {
            Phase::CatchUp { ended } => self.catch_up(ended).await,
            Phase::Live => self.live().await,
        }
    }

    /// One page of the backlog; after the last, where the run stands.
    async fn catch_up(&mut self, ended: Option<RunState>) -> Result<(Vec<SseEvent>, bool)> {
        let page = self.page().await?;
        let mut frames: Vec<SseEvent> = page.iter().map(|e| self.event(e)).collect();
        if !page.is_empty() {
            return Ok((frames, true));
        }
        if let Some(state) = ended {
            frames.push(end(state));
            return Ok((frames, false));
        }
        let id = self.run_id.clone();
        let stands = super::super::readers::read(&self.shared.readers, move |store| {
            store.find_run_or_queued(&id)
        })
        .await?;
        match stands {
            // Its last events may have been committed after the page was
            // read: one more look, then its end.
            RunOrQueued::Run(run) if run.state.is_final() => {
                self.phase = Phase::CatchUp {
                    ended: Some(run.state),
                };
            }
            RunOrQueued::Run(_) => self.phase = Phase::Live,
            // Its log will open with this event: the phone sees it now,
            // then the rest once the run starts.
            RunOrQueued::Queued(queued) => {
                if queued.queued_event.seq > self.last {
                    frames.push(self.event(&queued.queued_event));
                }
                self.phase = Phase::Live;
            }
        }
        Ok((frames, true))
    }

    /// The next live events of the run: waits for one, then takes what
    /// else is already waiting, so that a burst goes out in one write.
    async fn live(&mut self) -> Result<(Vec<SseEvent>, bool)> {
        let mut frames = Vec::new();
        let mut received = loop {
            tokio::select! {
                received = self.live.recv() => break received,
                revoked = self.revoked.recv() => match revoked {
                    Ok(id) if id == self.device_id => return Ok((frames, false)),
                    Err(RecvError::Closed) => return Ok((frames, false)),
                    _ => {}
                },
            }
        };
        loop {
            match received {
                Ok(event) if event.run_id == self.run_id && event.seq > self.last => {
                    frames.push(self.event(&event));
                    if let Some(state) = finished_state(&event) {
                        frames.push(end(state));
                        return Ok((frames, false));
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {
                    self.phase = Phase::CatchUp { ended: None };
                    return Ok((frames, true));
                }
                Err(RecvError::Closed) => return Ok((frames, false)),
            }
            if frames.len() >= LIVE_BATCH {
                return Ok((frames, true));
            }
            received = match self.live.try_recv() {
                Ok(event) => Ok(event),
                Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
                Err(TryRecvError::Empty) => return Ok((frames, true)),
            };
        }
    }

    /// The run's stored events after the last sent, about [`PAGE_BYTES`]
    /// of them, on one of the daemon's read connections.
    async fn page(&mut self) -> Result<Vec<Event>> {
        let (id, after) = (self.run_id.clone(), self.last);
        crate::daemon::readers::read(&self.shared.readers, move |store| {
            store.list_events_page(&id, after, &[], PAGE_BYTES)
        })
        .await
    }

    /// An event's frame; it is the last sent from then on.
    fn event(&mut self, event: &Event) -> SseEvent {
        self.last = event.seq;
        let data = serde_json::to_string(event).unwrap_or_default();
        SseEvent::default()
            .id(event.seq.to_string())
            .event("event")
            .data(data)
    }
}

fn end(state: RunState) -> SseEvent {
    SseEvent::default()
        .event("end")
        .data(json!({ "state": state }).to_string())
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
