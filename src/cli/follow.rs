//! Following a run through the daemon: shared by `events --follow`,
//! `run start --follow/--wait`, `run wait` and `run cancel`.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::time::Instant;

use super::Ctx;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::model::EventType;
use crate::model::{Event, RunState};
use crate::protocol::{FollowRequest, Request, Response};

/// When to stop following.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// The run ended.
    Ended,
    /// The run needs a human, or ended.
    NeedsHuman,
}

/// Whether a follower prints the events on stdout. One that does also
/// stops, quietly and with success, when whoever reads its stdout goes away,
/// even while the run is quiet (`m events RUN --follow | head -3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prints {
    Events,
    Nothing,
}

/// How to follow a run: from where, until when, what to print, which
/// events, and until what time at most (past it, `ErrorKind::TimedOut`).
pub struct Watch {
    pub since: i64,
    pub until: Until,
    pub prints: Prints,
    /// Only these event types (all when empty).
    pub types: Vec<String>,
    pub deadline: Option<Instant>,
}

impl Watch {
    /// From the start (or `since`) of the log, every event, no deadline.
    pub fn new(until: Until, prints: Prints) -> Watch {
        Watch {
            since: 0,
            until,
            prints,
            types: Vec::new(),
            deadline: None,
        }
    }

    fn next_response(&self, client: &mut Client) -> Result<Option<Response>> {
        let stdout = std::io::stdout();
        let output = (self.prints == Prints::Events).then(|| stdout.as_fd());
        client.next_response_watching(output, self.deadline)
    }
}

/// The events that say how a run stands: all a caller that only waits needs.
pub fn state_types() -> Vec<String> {
    vec![
        EventType::RunState.as_str().into(),
        EventType::RunFinished.as_str().into(),
    ]
}

/// Streams a run's events after `watch.since` (only those of `watch.types`,
/// if any) to `each`, and returns the state the run stopped in, as
/// `watch.until` asks. `Until::NeedsHuman` needs the events of
/// [`state_types`]. When the daemon cuts it off for reading too slowly
/// (`| less`), it reads what it missed from the database itself, then
/// follows again.
pub fn follow_run(
    ctx: &Ctx,
    run_id: &str,
    watch: Watch,
    mut each: impl FnMut(&Event) -> Result<()>,
) -> Result<RunState> {
    let mut seen = Seen {
        since: watch.since,
        // The state as of the events seen so far; the backlog replays it.
        state: RunState::Running,
    };
    let until = watch.until;
    loop {
        let mut client = Client::connect(&ctx.paths)?.stream(&Request::Follow(FollowRequest {
            run_id: Some(run_id.to_string()),
            since: seen.since,
            types: watch.types.clone(),
        }))?;
        loop {
            match watch.next_response(&mut client)? {
                Some(Response::Event { event }) => {
                    if let Some(state) = seen.event(ctx, &event, until, &mut each)? {
                        return Ok(state);
                    }
                }
                Some(Response::End { state }) => return Ok(state),
                Some(Response::Behind { resume }) => {
                    seen.since = resume.get(run_id).copied().unwrap_or(seen.since);
                    let store = ctx.store()?;
                    loop {
                        let page =
                            store.list_events_page(run_id, seen.since, &watch.types, PAGE_BYTES)?;
                        if page.is_empty() {
                            break;
                        }
                        for event in &page {
                            if let Some(state) = seen.event(ctx, event, until, &mut each)? {
                                return Ok(state);
                            }
                        }
                    }
                    break;
                }
                Some(other) => {
                    return Err(Error::failure(format!(
                        "unexpected answer from the daemon: {other:?}"
                    )))
                }
                None => {
                    return Err(
                        Error::failure("the daemon closed the stream before the run ended")
                            .with_hint(
                            "check `m daemon status`; the run may have been failed by a restart",
                        ),
                    )
                }
            }
        }
    }
}

/// A catch-up page read from the database: about this many bytes.
const PAGE_BYTES: usize = 256 << 10;

/// How far a follower has read.
struct Seen {
    since: i64,
    state: RunState,
}

impl Seen {
    /// Hands the event on; the state to stop in, if `until` says so.
    fn event(
        &mut self,
        ctx: &Ctx,
        event: &Event,
        until: Until,
        each: &mut impl FnMut(&Event) -> Result<()>,
    ) -> Result<Option<RunState>> {
        self.since = event.seq;
        each(event)?;
        if let Some(new_state) = state_of(event) {
            self.state = new_state;
        }
        let waits = matches!(
            self.state,
            RunState::WaitingApproval | RunState::WaitingInput
        );
        if until == Until::NeedsHuman && waits && caught_up(ctx, &event.run_id, self.state)? {
            return Ok(Some(self.state));
        }
        Ok(None)
    }
}

/// While replaying the backlog, a run may pass through a waiting state it
/// has since left: stop only if the database says it is still there.
fn caught_up(ctx: &Ctx, run_id: &str, state: RunState) -> Result<bool> {
    Ok(ctx.store()?.get_run(run_id)?.state == state)
}

fn state_of(event: &Event) -> Option<RunState> {
    match event.kind() {
        Some(EventType::RunState) | Some(EventType::RunFinished) => event
            .data
            .as_ref()
            .and_then(|d| d.get("state"))
            .and_then(|s| serde_json::from_value(s.clone()).ok()),
        _ => None,
    }
}

/// Live events of every run, until interrupted (or nobody reads them).
/// When the daemon cuts it off for reading too slowly, it reads what it
/// missed of the runs it was following from the database, then follows
/// again (skipping what it has already shown).
pub fn follow_all(
    ctx: &Ctx,
    types: Vec<String>,
    mut each: impl FnMut(&Event) -> Result<()>,
) -> Result<()> {
    let subscribe = || {
        Client::connect(&ctx.paths)?.stream(&Request::Follow(FollowRequest {
            run_id: None,
            since: 0,
            types: types.clone(),
        }))
    };
    let watch = Watch::new(Until::Ended, Prints::Events);
    let mut shown: BTreeMap<String, i64> = BTreeMap::new();
    let mut client = subscribe()?;
    loop {
        let mut missed = BTreeMap::new();
        while let Some(response) = watch.next_response(&mut client)? {
            match response {
                Response::Event { event } => {
                    let last = shown.entry(event.run_id.clone()).or_insert(0);
                    if event.seq > *last {
                        *last = event.seq;
                        each(&event)?;
                    }
                }
                Response::Behind { resume } => {
                    missed = resume;
                    break;
                }
                _ => {}
            }
        }
        if missed.is_empty() {
            return Ok(());
        }
        // Subscribed again before reading the database: whatever is
        // committed from now on comes live, and the rest is read here.
        client = subscribe()?;
        let store = ctx.store()?;
        for (run_id, since) in missed {
            let last = shown.entry(run_id.clone()).or_insert(0);
            *last = (*last).max(since);
            loop {
                let page = store.list_events_page(&run_id, *last, &types, PAGE_BYTES)?;
                if page.is_empty() {
                    break;
                }
                for event in &page {
                    *last = event.seq;
                    each(event)?;
                }
            }
        }
    }
}
