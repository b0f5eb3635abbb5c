//! The transactions of a run's life: created, events appended, approvals
//! asked and decided, finished. Each keeps the run's state, its approvals and
//! its event log in agreement, because each commits all of them or nothing.
//!
//! They run inside a [`Batch`]: the daemon's writer groups whatever operations
//! are waiting into one IMMEDIATE transaction (one fsync for many), each in
//! its own savepoint, so an operation that fails undoes only itself.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::{json, Value};

use super::approvals::{
    decide_tx, get_approval_tx, insert_approval_tx, pending_approval_ids_tx, record_decider_tx,
};
use super::events::append_events_tx;
use super::queue::{
    delete_queued_tx, get_queued_tx, insert_queued_tx, next_queued_tx, queued_count_tx,
    store_queued_event_tx,
};
use super::runs::NewRun;
use super::{db_error, NewEvent, Store};
use crate::error::{Error, Result};
use crate::model::EventType;
use crate::model::{
    now, short_id, Approval, ApprovalState, ApprovalType, DecidedBy, Event, OnTimeout, Queued,
    QueuedRun, Run, RunOptions, RunState,
};

/// The reason recorded on approvals left pending when their run ends.
pub const RUN_ENDED: &str = "run ended";

/// A decision on an approval: a human's, a device's, the policy's.
#[derive(Debug, Clone)]
pub struct Decision {
    pub approve: bool,
    pub reason: Option<String>,
    pub by: DecidedBy,
    /// The `content_hash` the decider saw, when it says: a decision on
    /// anything else is refused as stale (the approval stays pending).
    pub seen_hash: Option<String>,
}

pub struct Batch<'a> {
    tx: rusqlite::Transaction<'a>,
    path: std::path::PathBuf,
    committed_events: Vec<Event>,
    queued_notifications: usize,
}

/// What a committed batch did: its events, in order, and how many
/// notifications they queued (the daemon wakes its dispatcher for those).
pub struct Committed {
    pub events: Vec<Event>,
    pub queued_notifications: usize,
}

impl Store {
    pub fn batch(&mut self) -> Result<Batch<'_>> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_error(&path, "write to", e))?;
        Ok(Batch {
            tx,
            path,
            committed_events: Vec::new(),
            queued_notifications: 0,
        })
    }
}

impl Batch<'_> {
    /// Whether SQLite has rolled the whole transaction back on its own, as
    /// it may on a full disk (`SQLITE_FULL`): then nothing done in this
    /// batch so far will be committed, and what follows would run outside
    /// it, each statement committed alone.
    pub fn rolled_back(&self) -> bool {
        self.tx.is_autocommit()
    }

    /// Runs one operation in a savepoint; its events are kept for
    /// publishing only if it succeeds.
    fn op<T>(
        &mut self,
        f: impl FnOnce(&Connection, &std::path::Path) -> Result<(T, Vec<Event>)>,
    ) -> Result<T> {
        let path = self.path.clone();
        let sp = self
            .tx
            .savepoint()
            .map_err(|e| db_error(&path, "write to", e))?;
        let (value, events) = f(&sp, &path)?;
        // Notifications are queued with the events that raise them: a
        // crash cannot keep one and lose the other.
        let queued = super::notifications::enqueue_notifications_tx(&sp, &events)
            .map_err(|e| db_error(&path, "write to", e))?;
        sp.commit().map_err(|e| db_error(&path, "write to", e))?;
        self.committed_events.extend(events);
        self.queued_notifications += queued;
        Ok(value)
    }

    /// Commits every successful operation.
    pub fn commit(self) -> Result<Committed> {
        self.tx
            .commit()
            .map_err(|e| db_error(&self.path, "write to", e))?;
        Ok(Committed {
            events: self.committed_events,
            queued_notifications: self.queued_notifications,
        })
    }

    /// Notes that a paired device was just heard from (the remote API).
    pub fn touch_remote_device(&mut self, id: &str) -> Result<()> {
        self.op(|conn, path| Ok((super::remote_devices::touch_tx(conn, path, id)?, Vec::new())))
    }

    /// Appends events; they are published when the batch commits.
    /// Returns the numbers (`seq`) they were given, in order.
    pub fn append(&mut self, events: Vec<NewEvent>) -> Result<Vec<i64>> {
        self.op(|conn, path| {
            let stored =
                append_events_tx(conn, events).map_err(|e| db_error(path, "write to", e))?;
            let seqs = stored.iter().map(|event| event.seq).collect();
            Ok((seqs, stored))
        })
    }

    /// Inserts a run in state `running` with its `run.created` event,
    /// unless its repo is busy: it has an active run (the seed's rule), or
    /// runs queued before this one. Checked in the same transaction as the
    /// insert.
    pub fn create_run(&mut self, id: &str, new: NewRun) -> Result<Run> {
        match self.create_or_queue(id, new, None, false)? {
            Created::Started(run) => Ok(run),
            Created::Queued(_) => unreachable!("a run is queued only when asked"),
        }
    }

    /// Creates the run as [`Batch::create_run`] does, or, when its repo is
    /// busy and `queue` is set, puts it at the end of the repo's queue
    /// (`base` is kept for when it starts). A queued run's `run.queued`
    /// event is published to followers now and stored when it starts.
    pub fn create_or_queue(
        &mut self,
        id: &str,
        new: NewRun,
        base: Option<String>,
        queue: bool,
    ) -> Result<Created> {
        let created = self.op(|conn, path| {
            let db = |e| db_error(path, "write to", e);
            let active = active_run_tx(conn, &new.repo_id).map_err(db)?;
            let queued = queued_count_tx(conn, &new.repo_id).map_err(db)?;
            if active.is_none() && queued == 0 {
                let (run, events) = insert_run_tx(conn, path, id, &new, RunState::Running, None)?;
                return Ok((Created::Started(run), events));
            }
            if !queue {
                return Err(busy(active.as_deref(), queued));
            }
            let at = now();
            let position = queued + 1;
            let queued_run = QueuedRun {
                id: id.to_string(),
                repo_id: new.repo_id.clone(),
                prompt: new.prompt.clone(),
                state: Queued::Queued,
                position,
                workspace_path: new.workspace_path.clone(),
                agent: new.details.agent.clone(),
                options: new.details.options.clone(),
                base,
                created_at: at,
                queued_event: Event {
                    id: crate::model::new_event_id(),
                    run_id: id.to_string(),
                    seq: 1,
                    event_type: EventType::RunQueued.as_str().into(),
                    data: Some(json!({ "repo_id": new.repo_id, "position": position })),
                    created_at: at,
                },
            };
            insert_queued_tx(conn, &queued_run).map_err(db)?;
            Ok((Created::Queued(queued_run), Vec::new()))
        })?;
        if let Created::Queued(queued) = &created {
            // Not stored yet (its run has no row), but followers of every
            // run (`m events --all --follow`) hear of it now.
            self.committed_events.push(queued.queued_event.clone());
        }
        Ok(created)
    }

    /// Starts the repo's next queued run, if the repo has no active run:
    /// the run gets its row (in state `running`, its log opening with the
    /// `run.queued` event followers saw, then `run.created`) and leaves the
    /// queue. Returns it with what was queued (its base, agent, options).
    pub fn start_next_queued(&mut self, repo_id: &str) -> Result<Option<(Run, QueuedRun)>> {
        self.op(|conn, path| {
            let db = |e| db_error(path, "write to", e);
            if active_run_tx(conn, repo_id).map_err(db)?.is_some() {
                return Ok((None, Vec::new()));
            }
            let Some(queued) = next_queued_tx(conn, repo_id).map_err(db)? else {
                return Ok((None, Vec::new()));
            };
            let (run, events) = insert_run_tx(
                conn,
                path,
                &queued.id,
                &queued_new_run(&queued),
                RunState::Running,
                Some(&queued),
            )?;
            delete_queued_tx(conn, &queued.id).map_err(db)?;
            Ok((Some((run, queued)), events))
        })
    }

    /// Takes a run out of its queue: it becomes a run that was cancelled
    /// before it started (`run.queued`, then `run.finished`), so that
    /// whoever waits on its id hears how it ended. None if it is not queued
    /// (any more).
    pub fn cancel_queued(&mut self, id: &str) -> Result<Option<Run>> {
        self.op(|conn, path| {
            let db = |e| db_error(path, "write to", e);
            let Some(queued) = get_queued_tx(conn, id).map_err(db)? else {
                return Ok((None, Vec::new()));
            };
            let (mut run, mut events) = insert_run_tx(
                conn,
                path,
                id,
                &queued_new_run(&queued),
                RunState::Cancelled,
                Some(&queued),
            )?;
            delete_queued_tx(conn, id).map_err(db)?;
            let finished = NewEvent::new(
                id,
                EventType::RunFinished,
                json!({ "state": RunState::Cancelled, "reason": CANCELLED_WHILE_QUEUED }),
            )
            .with_state(RunState::Cancelled);
            events.extend(append_events_tx(conn, vec![finished]).map_err(db)?);
            run.updated_at = now();
            Ok((Some(run), events))
        })
    }

    /// Records what the workspace became once made.
    pub fn set_workspace(
        &mut self,
        run_id: &str,
        branch: Option<&str>,
        base_commit: Option<&str>,
    ) -> Result<()> {
        self.op(|conn, path| {
            conn.execute(
                "UPDATE run_details SET branch = ?2, base_commit = ?3 WHERE run_id = ?1",
                params![run_id, branch, base_commit],
            )
            .map_err(|e| db_error(path, "write to", e))?;
            Ok(((), Vec::new()))
        })
    }

    pub fn set_pgid(&mut self, run_id: &str, pgid: Option<i64>) -> Result<()> {
        self.op(|conn, path| {
            conn.execute(
                "UPDATE run_details SET pgid = ?2 WHERE run_id = ?1",
                params![run_id, pgid],
            )
            .map_err(|e| db_error(path, "write to", e))?;
            Ok(((), Vec::new()))
        })
    }

    /// Moves an active run to another active state with a `run.state` event.
    pub fn set_state(
        &mut self,
        run_id: &str,
        state: RunState,
        reason: Option<&str>,
    ) -> Result<Vec<Event>> {
        self.op(|conn, path| {
            let current = active_state(conn, path, run_id)?;
            if current == state {
                return Ok((Vec::new(), Vec::new()));
            }
            let event = NewEvent::new(
                run_id,
                EventType::RunState,
                json!({ "state": state, "reason": reason }),
            )
            .with_state(state);
            let events =
                append_events_tx(conn, vec![event]).map_err(|e| db_error(path, "write to", e))?;
            Ok((events.clone(), events))
        })
    }

    /// Records an approval with its `approval.requested` event. Pending, the
    /// run waits for it; decided by `policy`, it is recorded as approved at
    /// once and the run never waits (the audit trail is the same).
    pub fn request_approval(
        &mut self,
        run_id: &str,
        approval_type: ApprovalType,
        payload: Value,
        policy: Option<&Decision>,
    ) -> Result<Approval> {
        self.op(|conn, path| {
            let db = |e| db_error(path, "write to", e);
            let current = active_state(conn, path, run_id)?;
            let id = crate::model::new_id();
            let mut data =
                json!({ "approval_id": id, "approval_type": approval_type, "payload": payload });
            if policy.is_none() {
                if let Some((deadline, on_timeout)) = deadline_tx(conn, run_id).map_err(db)? {
                    data["deadline"] = json!(deadline);
                    data["on_timeout"] = json!(on_timeout);
                }
            }
            let mut new = vec![NewEvent::new(run_id, EventType::ApprovalRequested, data)];
            match policy {
                Some(decision) => new.push(NewEvent::new(
                    run_id,
                    EventType::ApprovalResolved,
                    json!({
                        "approval_id": id,
                        "state": ApprovalState::Approved,
                        "reason": decision.reason,
                        "by": decision.by,
                    }),
                )),
                None if current != RunState::WaitingApproval => new.push(
                    NewEvent::new(
                        run_id,
                        EventType::RunState,
                        json!({ "state": RunState::WaitingApproval }),
                    )
                    .with_state(RunState::WaitingApproval),
                ),
                None => {}
            }
            let events = append_events_tx(conn, new).map_err(db)?;
            let content_hash = crate::model::content_hash(approval_type, Some(&payload));
            let approval = Approval {
                id,
                run_id: run_id.to_string(),
                event_id: events[0].id.clone(),
                approval_type,
                state: if policy.is_some() {
                    ApprovalState::Approved
                } else {
                    ApprovalState::Pending
                },
                payload: Some(payload),
                rejection_reason: None,
                created_at: events[0].created_at,
                resolved_at: policy.map(|_| events[0].created_at),
                content_hash,
                decided_by: policy.map(|decision| decision.by.clone()),
            };
            insert_approval_tx(conn, &approval).map_err(db)?;
            if let Some(by) = &approval.decided_by {
                record_decider_tx(conn, &approval.id, by).map_err(db)?;
            }
            Ok((approval, events))
        })
    }

    /// Decides a pending approval. Deciding one already decided is a
    /// conflict that says how and when. When the run has no pending approval
    /// left, it goes back to `running`.
    pub fn decide(&mut self, approval_id: &str, decision: &Decision) -> Result<Approval> {
        self.op(|conn, path| {
            let db = |e| db_error(path, "write to", e);
            let approval = get_approval_tx(conn, approval_id)
                .map_err(db)?
                .ok_or_else(|| Error::not_found(format!("no approval with id '{approval_id}'")))?;
            if closed_as_stale(&approval) {
                return Err(stale_closed(&approval));
            }
            if approval.state != ApprovalState::Pending {
                return Err(already_decided(&approval));
            }
            if let Some(seen) = &decision.seen_hash {
                if !seen.eq_ignore_ascii_case(&approval.content_hash) {
                    return Err(stale(&approval, seen));
                }
            }
            let state = if decision.approve {
                ApprovalState::Approved
            } else {
                ApprovalState::Rejected
            };
            let at = now();
            let reason = decision.reason.as_deref();
            decide_tx(conn, approval_id, state, reason, &decision.by, at).map_err(db)?;
            let mut new = vec![NewEvent::new(
                &approval.run_id,
                EventType::ApprovalResolved,
                json!({
                    "approval_id": approval_id,
                    "state": state,
                    "reason": decision.reason,
                    "by": decision.by,
                }),
            )];
            let still_pending = pending_approval_ids_tx(conn, &approval.run_id).map_err(db)?;
            let run_state = run_state(conn, path, &approval.run_id)?;
            if still_pending.is_empty() && run_state == RunState::WaitingApproval {
                // The store alone decides what the run waits for next, so
                // one decision writes one `run.state`: a question may
                // still be open.
                let next = match has_open_question_tx(conn, &approval.run_id).map_err(db)? {
                    true => RunState::WaitingInput,
                    false => RunState::Running,
                };
                new.push(
                    NewEvent::new(
                        &approval.run_id,
                        EventType::RunState,
                        json!({ "state": next }),
                    )
                    .with_state(next),
                );
            }
            let events = append_events_tx(conn, new).map_err(db)?;
            let approval = get_approval_tx(conn, approval_id)
                .map_err(db)?
                .ok_or_else(|| Error::not_found(format!("no approval with id '{approval_id}'")))?;
            Ok((approval, events))
        })
    }

    /// Closes the run's pending approvals as rejected ("run ended", by m)
    /// when it is told to stop: a decision that comes later is refused (it
    /// would approve an action that never runs), and the run does not go
    /// back to `running` in between.
    pub fn close_approvals(&mut self, run_id: &str) -> Result<Vec<Event>> {
        self.op(|conn, path| {
            let db = |e| db_error(path, "write to", e);
            let new = reject_pending_tx(conn, run_id).map_err(db)?;
            let events = append_events_tx(conn, new).map_err(db)?;
            Ok((events.clone(), events))
        })
    }

    /// Ends a run: its pending approvals are rejected ("run ended"), a
    /// `run.finished` event records how it ended, and the final state is set.
    pub fn finish_run(
        &mut self,
        run_id: &str,
        state: RunState,
        mut data: Value,
    ) -> Result<Vec<Event>> {
        debug_assert!(state.is_final());
        self.op(|conn, path| {
            let db = |e| db_error(path, "write to", e);
            let current = run_state(conn, path, run_id)?;
            if current.is_final() {
                return Err(Error::conflict(format!(
                    "run {} has already ended ({current})",
                    short_id(run_id)
                )));
            }
            let mut new = reject_pending_tx(conn, run_id).map_err(db)?;
            if let Value::Object(map) = &mut data {
                map.insert("state".into(), json!(state));
            }
            new.push(NewEvent::new(run_id, EventType::RunFinished, data).with_state(state));
            let events = append_events_tx(conn, new).map_err(db)?;
            conn.execute(
                "UPDATE run_details SET pgid = NULL WHERE run_id = ?1",
                [run_id],
            )
            .map_err(db)?;
            Ok((events.clone(), events))
        })
    }
}

/// Rejects the run's pending approvals ("run ended", by m); the
/// `approval.resolved` events that say so, to append.
fn reject_pending_tx(conn: &Connection, run_id: &str) -> rusqlite::Result<Vec<NewEvent>> {
    let (at, by) = (now(), DecidedBy::M);
    let mut new = Vec::new();
    for id in pending_approval_ids_tx(conn, run_id)? {
        decide_tx(conn, &id, ApprovalState::Rejected, Some(RUN_ENDED), &by, at)?;
        new.push(NewEvent::new(
            run_id,
            EventType::ApprovalResolved,
            json!({ "approval_id": id, "state": ApprovalState::Rejected, "reason": RUN_ENDED, "by": by }),
        ));
    }
    Ok(new)
}

/// Whether a question of the run is still open: its log's `input.*`
/// events, read as `m run show` reads them (`model::open_questions`).
/// A run's question events (`model::INPUT_EVENTS`), oldest first. The
/// types are spelled as literals, as in the partial index
/// `idx_events_input` (migration 9), which SQLite uses only for a query
/// whose terms imply its own: so this reads the run's few question events,
/// not its whole log.
pub(super) const OPEN_QUESTION_EVENTS_SQL: &str = "SELECT id, seq, type, data, created_at
         FROM events WHERE run_id = ?1
         AND type IN ('input.requested', 'input.provided', 'input.withdrawn') ORDER BY seq";

fn has_open_question_tx(conn: &Connection, run_id: &str) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare_cached(OPEN_QUESTION_EVENTS_SQL)?;
    let events = stmt
        .query_map(params![run_id], |row| {
            let data: Option<String> = row.get(3)?;
            Ok(Event {
                id: row.get(0)?,
                run_id: run_id.to_string(),
                seq: row.get(1)?,
                event_type: row.get(2)?,
                data: data.and_then(|d| serde_json::from_str(&d).ok()),
                created_at: row.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(!crate::model::open_questions(&events).is_empty())
}

/// When a human's answer asked for now is due (unix seconds), and what is
/// decided then, if the run has an approval timeout (`RunOptions`).
pub(crate) fn deadline_tx(
    conn: &Connection,
    run_id: &str,
) -> rusqlite::Result<Option<(i64, OnTimeout)>> {
    let options: Option<String> = conn
        .query_row(
            "SELECT options FROM run_details WHERE run_id = ?1",
            [run_id],
            |r| r.get(0),
        )
        .optional()?;
    let options: RunOptions = options
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    Ok(options.approval_timeout_seconds.map(|secs| {
        (
            now() + secs as i64,
            options.on_timeout.unwrap_or(OnTimeout::Reject),
        )
    }))
}

/// The reason of a run cancelled before it started.
pub const CANCELLED_WHILE_QUEUED: &str = "cancelled while queued";

/// What [`Batch::create_or_queue`] did.
#[derive(Debug)]
pub enum Created {
    Started(Run),
    Queued(QueuedRun),
}

/// The run a queued one becomes.
fn queued_new_run(queued: &QueuedRun) -> NewRun {
    NewRun {
        repo_id: queued.repo_id.clone(),
        prompt: queued.prompt.clone(),
        workspace_path: queued.workspace_path.clone(),
        details: super::RunDetails {
            agent: queued.agent.clone(),
            options: queued.options.clone(),
            ..Default::default()
        },
    }
}

/// Inserts a run, its details, and the events that open its log: the
/// `run.queued` it had while queued, if it was, then (for a run that
/// starts) `run.created`.
fn insert_run_tx(
    conn: &Connection,
    path: &std::path::Path,
    id: &str,
    new: &NewRun,
    state: RunState,
    was_queued: Option<&QueuedRun>,
) -> Result<(Run, Vec<Event>)> {
    let db = |e| db_error(path, "write to", e);
    let at = now();
    let run = Run {
        id: id.to_string(),
        repo_id: new.repo_id.clone(),
        prompt: new.prompt.clone(),
        state,
        workspace_path: new.workspace_path.clone(),
        created_at: was_queued
            .filter(|_| state.is_final())
            .map_or(at, |q| q.created_at),
        updated_at: at,
    };
    conn.execute(
        "INSERT INTO runs (id, repo_id, prompt, state, workspace_path, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            run.id,
            run.repo_id,
            run.prompt,
            run.state.as_str(),
            run.workspace_path,
            run.created_at,
            run.updated_at
        ],
    )
    .map_err(db)?;
    let d = &new.details;
    conn.execute(
        "INSERT INTO run_details (run_id, agent, options, branch, base_commit, pgid)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            run.id,
            d.agent.to_string(),
            d.options.to_string(),
            d.branch,
            d.base_commit,
            d.pgid
        ],
    )
    .map_err(db)?;
    let mut events = Vec::new();
    if let Some(queued) = was_queued {
        store_queued_event_tx(conn, queued).map_err(db)?;
        events.push(queued.queued_event.clone());
    }
    if state.is_active() {
        let created = NewEvent::new(
            &run.id,
            EventType::RunCreated,
            json!({
                "repo_id": run.repo_id,
                "prompt": run.prompt,
                "agent": d.agent,
                "options": d.options,
                "workspace_path": run.workspace_path,
            }),
        );
        events.extend(append_events_tx(conn, vec![created]).map_err(db)?);
    }
    Ok((run, events))
}

/// The repo's active run, if it has one. The states are spelled as literals,
/// as in the partial index `idx_runs_active` (migration 6): SQLite uses a
/// partial index only for a query whose terms imply its own, so this reads
/// the repo's active runs instead of every run the repo ever had.
pub(super) const ACTIVE_RUN_SQL: &str = "SELECT id FROM runs WHERE repo_id = ?1
         AND state IN ('running', 'waiting_input', 'waiting_approval') LIMIT 1";

fn active_run_tx(conn: &Connection, repo_id: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(ACTIVE_RUN_SQL, [repo_id], |r| r.get(0))
        .optional()
}

/// Why a run cannot start now on a busy repo (without `--queue`).
fn busy(active: Option<&str>, queued: i64) -> Error {
    match active {
        Some(active) => Error::conflict(format!(
            "the repo already has an active run {}",
            short_id(active)
        ))
        .with_hint(format!(
            "wait for it (`m run wait {0}`), cancel it (`m run cancel {0}`), \
             or queue this run behind it (`m run start --queue`)",
            short_id(active)
        )),
        None => Error::conflict(format!(
            "the repo has {queued} queued run(s) waiting for their turn"
        ))
        .with_hint("queue this run behind them (`m run start --queue`)"),
    }
}

fn run_state(conn: &Connection, path: &std::path::Path, run_id: &str) -> Result<RunState> {
    let state: Option<String> = conn
        .query_row("SELECT state FROM runs WHERE id = ?1", [run_id], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| db_error(path, "read", e))?;
    let state = state.ok_or_else(|| Error::not_found(format!("no run with id '{run_id}'")))?;
    state.parse()
}

fn active_state(conn: &Connection, path: &std::path::Path, run_id: &str) -> Result<RunState> {
    let state = run_state(conn, path, run_id)?;
    if state.is_final() {
        return Err(Error::conflict(format!(
            "run {} has already ended ({state})",
            short_id(run_id)
        )));
    }
    Ok(state)
}

/// The start of the message of a stale decision: the remote API tells it
/// apart from other conflicts by this.
pub const STALE: &str = "stale";

fn stale(approval: &Approval, seen: &str) -> Error {
    Error::conflict(format!(
        "{STALE}: approval {} is not what was seen (content hash {} was given, it is {})",
        short_id(&approval.id),
        seen.chars().take(70).collect::<String>(),
        approval.content_hash
    ))
    .with_hint(format!(
        "look at it again (`m approval show {}`) and decide on what it is now",
        short_id(&approval.id)
    ))
}

/// Whether m closed `approval` because what it showed changed (a review
/// whose worktree moved): a decision on it is stale, not a second one.
fn closed_as_stale(approval: &Approval) -> bool {
    approval.state == ApprovalState::Rejected
        && approval.decided_by == Some(DecidedBy::M)
        && approval
            .rejection_reason
            .as_deref()
            .is_some_and(|r| r.starts_with(STALE))
}

fn stale_closed(approval: &Approval) -> Error {
    Error::conflict(format!(
        "{STALE}: approval {} is not what was seen: {}",
        short_id(&approval.id),
        approval.rejection_reason.as_deref().unwrap_or_default()
    ))
    .with_hint(format!(
        "`m approvals --run {}` lists what is pending now",
        short_id(&approval.run_id)
    ))
}

fn already_decided(approval: &Approval) -> Error {
    let when = approval
        .resolved_at
        .map(|at| crate::model::relative_time(at, now()))
        .unwrap_or_default();
    let reason = approval
        .rejection_reason
        .as_deref()
        .map(|r| format!(" (reason: {r})"))
        .unwrap_or_default();
    Error::conflict(format!(
        "approval {} was already {} {when}{reason}",
        short_id(&approval.id),
        approval.state
    ))
}
