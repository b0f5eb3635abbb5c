//! A run's event stream as server-sent events: its stored events after
//! `since`, then its live ones, with no gap and no duplicate (by seq), then
//! `end` when it finishes. The socket's followers (`daemon/follow.rs`)
//! meter what a client has not read; here the frames go through a bounded
//! channel to the response body, so a phone that stops reading only stops
//! this task, which catches up from the database when the hub leaves it
//! behind.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::sse::Event as SseEvent;
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;

use super::super::handlers;
use super::super::Shared;
use crate::error::{Error, Result};
use crate::model::{Event, EventType, RunState};
use crate::store::{RunOrQueued, Store};

/// Frames a stream may have waiting for the response body.
const QUEUED_FRAMES: usize = 256;
/// Events read from the database at a time while catching up.
const PAGE: u32 = 2000;

/// The follower's end of a remote event stream: frames go to the response
/// body, and it is gone when the client is, or its device is unpaired.
pub struct StreamSink {
    frames: mpsc::Sender<std::result::Result<SseEvent, Infallible>>,
    revoked: broadcast::Receiver<String>,
    device_id: String,
}

impl StreamSink {
    /// The sink, and the frames for the response body.
    pub fn new(revoked: broadcast::Receiver<String>, device_id: &str) -> (StreamSink, Frames) {
        let (frames, receiver) = mpsc::channel(QUEUED_FRAMES);
        let sink = StreamSink {
            frames,
            revoked,
            device_id: device_id.to_string(),
        };
        (sink, Frames(receiver))
    }

    async fn send(&mut self, frame: SseEvent) -> Result<()> {
        self.frames
            .send(Ok(frame))
            .await
            .map_err(|_| Error::failure("the client went away"))
    }

    async fn event(&mut self, event: &Event) -> Result<()> {
        let data = serde_json::to_string(event).unwrap_or_default();
        let frame = SseEvent::default()
            .id(event.seq.to_string())
            .event("event")
            .data(data);
        self.send(frame).await
    }

    async fn end(&mut self, state: RunState) -> Result<()> {
        let frame = SseEvent::default()
            .event("end")
            .data(json!({ "state": state }).to_string());
        self.send(frame).await
    }

    /// Resolves when the client has gone, or its device was unpaired.
    async fn closed(&mut self) {
        loop {
            tokio::select! {
                _ = self.frames.closed() => return,
                revoked = self.revoked.recv() => match revoked {
                    Ok(id) if id == self.device_id => return,
                    Err(RecvError::Closed) => return,
                    _ => {}
                },
            }
        }
    }
}

/// The receiving end of a stream's frames, as the body reads them.
pub struct Frames(mpsc::Receiver<std::result::Result<SseEvent, Infallible>>);

impl futures_core::Stream for Frames {
    type Item = std::result::Result<SseEvent, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// Follows the run from `since` until it ends, the client leaves or its
/// device is unpaired.
pub async fn follow(
    shared: &Arc<Shared>,
    run_id: &str,
    since: i64,
    sink: &mut StreamSink,
) -> Result<()> {
    // Subscribe before reading the backlog, so nothing committed in between is missed.
    let mut live = shared.writer.subscribe();
    let mut last = send_backlog(shared, run_id, since, sink).await?;
    match stands(shared, run_id).await? {
        RunOrQueued::Run(run) if run.state.is_final() => {
            send_backlog(shared, run_id, last, sink).await?;
            return sink.end(run.state).await;
        }
        RunOrQueued::Run(_) => {}
        // Its log will open with this event: the phone sees it now, then
        // the rest once the run starts.
        RunOrQueued::Queued(queued) => {
            let event = queued.queued_event;
            if event.seq > last {
                last = event.seq;
                sink.event(&event).await?;
            }
        }
    }
    loop {
        let event = tokio::select! {
            event = live.recv() => event,
            _ = sink.closed() => return Ok(()),
        };
        match event {
            Ok(event) if event.run_id == run_id && event.seq > last => {
                last = event.seq;
                sink.event(&event).await?;
                if let Some(state) = finished_state(&event) {
                    return sink.end(state).await;
                }
            }
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => {
                last = send_backlog(shared, run_id, last, sink).await?;
                if let RunOrQueued::Run(run) = stands(shared, run_id).await? {
                    if run.state.is_final() {
                        send_backlog(shared, run_id, last, sink).await?;
                        return sink.end(run.state).await;
                    }
                }
            }
            Err(RecvError::Closed) => return Ok(()),
        }
    }
}

/// The run as it stands, or the queued run it still is.
async fn stands(shared: &Shared, run_id: &str) -> Result<RunOrQueued> {
    let id = run_id.to_string();
    handlers::read(shared, move |store| store.find_run_or_queued(&id)).await
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

/// Sends the run's stored events after `last`, a page at a time, on one
/// database connection lent to each page's blocking read; returns the last
/// seq sent.
async fn send_backlog(
    shared: &Shared,
    run_id: &str,
    mut last: i64,
    sink: &mut StreamSink,
) -> Result<i64> {
    let mut store: Option<Store> = None;
    loop {
        let id = run_id.to_string();
        let db = shared.paths.database();
        let (reader, page) = tokio::task::spawn_blocking(move || -> Result<_> {
            let store = match store {
                Some(store) => store,
                None => Store::open(&db)?,
            };
            let page = store.list_events(&id, last, &[], Some(PAGE))?;
            Ok((store, page))
        })
        .await
        .map_err(|e| Error::failure(format!("a database read crashed: {e}")))??;
        store = Some(reader);
        let full = page.len() == PAGE as usize;
        for event in page {
            last = event.seq;
            sink.event(&event).await?;
        }
        if !full {
            return Ok(last);
        }
    }
}
