//! The notification outbox (migration 3). A notification is written in the
//! transaction of the event that raised it, so none is lost to a crash, and
//! delivered later by the daemon's dispatcher (`crate::notify`), which
//! records each target it is done with, so a retry reaches only the others.

use rusqlite::{params, OptionalExtension, Row};
use serde_json::{json, Value};

use super::Store;
use crate::error::{Error, Result};
use crate::model::{now, trigger_for, Event, Notification, NotificationState, Trigger};

/// A notification of the outbox with its delivery state.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub id: i64,
    pub notification: Notification,
    pub created_at: i64,
    /// Delivery attempts made so far.
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub state: NotificationState,
    pub last_error: Option<String>,
    /// Targets (`apns:TOKEN`, `webhook:NAME`, `command:NAME`) done with it.
    pub done_targets: Vec<String>,
}

/// How one target ended with a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// The device's token is dead; the device was removed.
    Pruned,
    /// Refused for good (a 4xx, a bad payload): not retried.
    Dropped,
    /// Still failing when the retries ran out.
    Failed,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Pruned => "pruned",
            DeliveryOutcome::Dropped => "dropped",
            DeliveryOutcome::Failed => "failed",
        }
    }
}

/// One target that is done with a notification.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRecord {
    pub target: String,
    pub outcome: DeliveryOutcome,
    pub detail: Option<String>,
}

/// How a delivery attempt leaves the notification.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptEnd {
    /// Every target is done and none failed.
    Delivered,
    /// Some target asked to be retried: try again at `at` (Unix seconds).
    Retry { at: i64, error: String },
    /// Every target is done, some failed or were dropped.
    Failed { error: String },
}

const OUTBOX_COLUMNS: &str = "id, event, run_id, approval_id, seq, payload, created_at, \
                              attempts, next_attempt_at, state, last_error";

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<OutboxEntry> {
    let text_error = |i: usize, s: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, s.into())
    };
    let event: String = row.get(1)?;
    let trigger: Trigger = event
        .parse()
        .map_err(|_| text_error(1, format!("unknown notification event '{event}'")))?;
    let payload: String = row.get(5)?;
    let state: String = row.get(9)?;
    Ok(OutboxEntry {
        id: row.get(0)?,
        notification: Notification {
            trigger: Some(trigger),
            run_id: Some(row.get(2)?),
            approval_id: row.get(3)?,
            seq: Some(row.get(4)?),
            body: serde_json::from_str(&payload).unwrap_or(Value::String(payload)),
        },
        created_at: row.get(6)?,
        attempts: row.get(7)?,
        next_attempt_at: row.get(8)?,
        state: state
            .parse()
            .map_err(|_| text_error(9, format!("unknown notification state '{state}'")))?,
        last_error: row.get(10)?,
        done_targets: Vec::new(),
    })
}

/// An event's data; `null` when it has none.
fn data_of(event: &Event) -> &Value {
    static NULL: Value = Value::Null;
    event.data.as_ref().unwrap_or(&NULL)
}

/// Queues the notifications that `events` raise (see [`trigger_for`]),
/// inside the caller's transaction. Call it after the events and any
/// approval rows they announce are written, in the same transaction.
/// Returns how many were queued.
pub(crate) fn enqueue_notifications_tx(
    tx: &rusqlite::Connection,
    events: &[Event],
) -> rusqlite::Result<usize> {
    let mut queued = 0;
    for event in events {
        // Every event passes here, `output` ones of up to 64 KiB: look at
        // its data, do not copy it.
        if let Some(trigger) = trigger_for(&event.event_type, data_of(event)) {
            if enqueue_notification_tx(tx, trigger, event)? {
                queued += 1;
            }
        }
    }
    Ok(queued)
}

/// Queues one notification for `event` inside the caller's transaction.
/// The body gathers the run, its repo and the approval as they stand in
/// this transaction. Queuing the same event twice is a no-op (returns false).
pub(crate) fn enqueue_notification_tx(
    tx: &rusqlite::Connection,
    trigger: Trigger,
    event: &Event,
) -> rusqlite::Result<bool> {
    let data = data_of(event);
    let approval_id = match trigger {
        Trigger::ApprovalRequested => approval_of_event(tx, event, data)?,
        _ => None,
    };
    let approval = match &approval_id {
        Some(id) => super::approvals::get_approval_tx(tx, id)?,
        None => None,
    };
    // An approval the policy decided at once needs no human: no push.
    if approval
        .as_ref()
        .is_some_and(|a| a.state != crate::model::ApprovalState::Pending)
    {
        return Ok(false);
    }
    let approval = approval.map(|a| serde_json::to_value(a).unwrap_or(Value::Null));
    let run: Option<Value> = tx
        .query_row(
            "SELECT r.id, r.repo_id, p.name, r.state, r.prompt, r.created_at
             FROM runs r LEFT JOIN repos p ON p.id = r.repo_id WHERE r.id = ?1",
            [&event.run_id],
            |r| {
                Ok(json!({
                    "id": r.get::<_, String>(0)?,
                    "repo_id": r.get::<_, String>(1)?,
                    "repo": r.get::<_, Option<String>>(2)?,
                    "state": r.get::<_, String>(3)?,
                    "prompt": r.get::<_, String>(4)?,
                    "created_at": r.get::<_, i64>(5)?,
                }))
            },
        )
        .optional()?;
    let body = json!({
        "event": trigger.as_str(),
        "event_type": event.event_type,
        "seq": event.seq,
        "at": event.created_at,
        "run": run,
        "approval": approval,
        "data": data,
    });
    let inserted = tx.execute(
        "INSERT OR IGNORE INTO notifications
           (event, run_id, approval_id, seq, payload, created_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![
            trigger.as_str(),
            event.run_id,
            approval_id,
            event.seq,
            body.to_string(),
            event.created_at
        ],
    )?;
    Ok(inserted == 1)
}

/// The approval an `approval.requested` event announces: the approval row
/// pointing at the event, or else the id the event's data names.
fn approval_of_event(
    tx: &rusqlite::Connection,
    event: &Event,
    data: &Value,
) -> rusqlite::Result<Option<String>> {
    let by_event: Option<String> = tx
        .query_row(
            "SELECT id FROM approvals WHERE event_id = ?1",
            [&event.id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(by_event.or_else(|| {
        ["approval_id", "id"]
            .iter()
            .find_map(|key| data.get(key).and_then(Value::as_str))
            .map(str::to_string)
    }))
}

impl Store {
    /// Appends events as [`Store::append_events`] does and queues the
    /// notifications they raise, in the same transaction.
    pub fn append_events_with_notifications(
        &mut self,
        batch: &[super::NewEvent],
    ) -> Result<Vec<Event>> {
        let path = self.path.clone();
        self.write(|tx| {
            let append = || -> rusqlite::Result<Vec<Event>> {
                let events = super::events::append_events_tx(tx, batch.to_vec())?;
                enqueue_notifications_tx(tx, &events)?;
                Ok(events)
            };
            append().map_err(|e| super::db_error(&path, "write to", e))
        })
    }

    /// Pending notifications whose next attempt is due at `now`, oldest first.
    pub fn due_notifications(&self, now: i64, limit: u32) -> Result<Vec<OutboxEntry>> {
        self.query_outbox(
            &format!(
                "SELECT {OUTBOX_COLUMNS} FROM notifications
                 WHERE state = 'pending' AND next_attempt_at <= ?1
                 ORDER BY next_attempt_at, id LIMIT ?2"
            ),
            params![now, limit],
        )
    }

    /// When the next pending notification is due, if any is pending.
    pub fn next_notification_due(&self) -> Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT MIN(next_attempt_at) FROM notifications WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.error("read", e))
    }

    /// The most recent notifications, newest first (`m notify log`, tests).
    pub fn list_notifications(&self, limit: u32) -> Result<Vec<OutboxEntry>> {
        self.query_outbox(
            &format!("SELECT {OUTBOX_COLUMNS} FROM notifications ORDER BY id DESC LIMIT ?1"),
            params![limit],
        )
    }

    pub fn get_notification(&self, id: i64) -> Result<OutboxEntry> {
        self.query_outbox(
            &format!("SELECT {OUTBOX_COLUMNS} FROM notifications WHERE id = ?1"),
            params![id],
        )?
        .pop()
        .ok_or_else(|| Error::not_found(format!("no notification with id {id}")))
    }

    pub fn count_notifications(&self, state: NotificationState) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT count(*) FROM notifications WHERE state = ?1",
                [state.as_str()],
                |r| r.get(0),
            )
            .map_err(|e| self.error("read", e))
    }

    /// Records the targets done in one attempt and how the attempt leaves
    /// the notification, in one transaction.
    pub fn finish_notification_attempt(
        &mut self,
        id: i64,
        targets: &[TargetRecord],
        end: &AttemptEnd,
    ) -> Result<()> {
        let path = self.path.clone();
        let at = now();
        self.write(|tx| {
            let record = || -> rusqlite::Result<()> {
                for t in targets {
                    tx.execute(
                        "INSERT OR REPLACE INTO notification_deliveries
                           (notification_id, target, outcome, detail, at)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![id, t.target, t.outcome.as_str(), t.detail, at],
                    )?;
                }
                match end {
                    AttemptEnd::Delivered => tx.execute(
                        "UPDATE notifications SET state = 'delivered',
                           attempts = attempts + 1, last_error = NULL WHERE id = ?1",
                        params![id],
                    )?,
                    AttemptEnd::Retry { at, error } => tx.execute(
                        "UPDATE notifications SET attempts = attempts + 1,
                           next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
                        params![id, at, error],
                    )?,
                    AttemptEnd::Failed { error } => tx.execute(
                        "UPDATE notifications SET state = 'failed',
                           attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                        params![id, error],
                    )?,
                };
                Ok(())
            };
            record().map_err(|e| super::db_error(&path, "write to", e))
        })
    }

    /// Forgets delivered and failed notifications created before `before`.
    /// Returns how many were removed.
    pub fn delete_finished_notifications(&mut self, before: i64) -> Result<usize> {
        let path = self.path.clone();
        self.write(|tx| {
            tx.execute(
                "DELETE FROM notification_deliveries WHERE notification_id IN
                   (SELECT id FROM notifications WHERE state != 'pending' AND created_at < ?1)",
                [before],
            )
            .and_then(|_| {
                tx.execute(
                    "DELETE FROM notifications WHERE state != 'pending' AND created_at < ?1",
                    [before],
                )
            })
            .map_err(|e| super::db_error(&path, "write to", e))
        })
    }

    fn query_outbox<P: rusqlite::Params>(&self, sql: &str, params: P) -> Result<Vec<OutboxEntry>> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| self.error("read", e))?;
        let mut entries = stmt
            .query_map(params, entry_from_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.error("read", e))?;
        for entry in &mut entries {
            entry.done_targets = self
                .query_strings(
                    "SELECT target FROM notification_deliveries
                     WHERE notification_id = ?1 ORDER BY target",
                    [entry.id],
                )
                .map_err(|e| self.error("read", e))?;
        }
        Ok(entries)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::EventType;
    use crate::model::{new_id, Approval, ApprovalState, ApprovalType};
    use crate::store::{NewEvent, NewRepo, NewRun, RunDetails};

    /// A new store with a repo `webapp` and a run on it (no workspace).
    pub(crate) fn store_with_run() -> (tempfile::TempDir, Store, String) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("m.db")).unwrap();
        let repo = store
            .add_repo(NewRepo {
                name: "webapp".into(),
                git_url: None,
            })
            .unwrap();
        let run_id = new_id();
        store
            .create_run(
                &run_id,
                NewRun {
                    repo_id: repo.id,
                    prompt: "fix the login bug".into(),
                    workspace_path: "/tmp/w".into(),
                    details: RunDetails::default(),
                },
            )
            .unwrap();
        (dir, store, run_id)
    }

    #[test]
    fn only_notifying_events_are_queued_with_their_run() {
        let (_dir, mut store, run) = store_with_run();
        let events = store
            .append_events_with_notifications(&[
                NewEvent::new(
                    &run,
                    EventType::Output,
                    json!({"stream": "stdout", "lines": ["hi"]}),
                ),
                NewEvent::new(
                    &run,
                    EventType::InputRequested,
                    json!({"question": "Which branch?"}),
                ),
                NewEvent::new(&run, EventType::RunFinished, json!({"state": "weird"})),
                NewEvent::new(
                    &run,
                    EventType::RunFinished,
                    json!({"state": "failed", "reason": "exit 1"}),
                ),
            ])
            .unwrap();
        assert_eq!(events.len(), 4);
        let mut queued = store.list_notifications(10).unwrap();
        queued.reverse();
        let triggers: Vec<_> = queued.iter().map(|e| e.notification.trigger).collect();
        assert_eq!(
            triggers,
            [Some(Trigger::InputRequested), Some(Trigger::RunFailed)]
        );
        let first = &queued[0];
        assert_eq!(first.state, NotificationState::Pending);
        assert_eq!(first.attempts, 0);
        // Seq 1 is the run's run.created.
        assert_eq!(first.notification.seq, Some(3));
        assert_eq!(first.notification.run_id.as_deref(), Some(run.as_str()));
        let body = &first.notification.body;
        assert_eq!(body["event"], "input.requested");
        assert_eq!(body["run"]["repo"], "webapp");
        assert_eq!(body["run"]["prompt"], "fix the login bug");
        assert_eq!(body["data"]["question"], "Which branch?");
        assert_eq!(body["approval"], Value::Null);
        assert_eq!(queued[1].notification.body["data"]["reason"], "exit 1");
    }

    #[test]
    fn an_approval_notification_finds_its_approval_in_the_same_transaction() {
        let (_dir, mut store, run) = store_with_run();
        let approval_id = new_id();
        store
            .write(|tx| {
                let db = |e| Error::failure(format!("{e}"));
                let events = super::super::events::append_events_tx(
                    tx,
                    vec![NewEvent::new(
                        &run,
                        EventType::ApprovalRequested,
                        json!({"type": "command"}),
                    )],
                )
                .map_err(db)?;
                let approval = Approval {
                    id: approval_id.clone(),
                    run_id: run.clone(),
                    event_id: events[0].id.clone(),
                    approval_type: ApprovalType::Command,
                    state: ApprovalState::Pending,
                    payload: Some(json!({"command": "make deploy"})),
                    rejection_reason: None,
                    created_at: 1,
                    resolved_at: None,
                    content_hash: String::new(),
                    decided_by: None,
                };
                super::super::approvals::insert_approval_tx(tx, &approval).map_err(db)?;
                assert_eq!(enqueue_notifications_tx(tx, &events).map_err(db)?, 1);
                // The same event again is not queued twice.
                assert_eq!(enqueue_notifications_tx(tx, &events).map_err(db)?, 0);
                Ok(())
            })
            .unwrap();
        let entry = store.list_notifications(1).unwrap().remove(0);
        assert_eq!(
            entry.notification.approval_id.as_deref(),
            Some(approval_id.as_str())
        );
        let approval = &entry.notification.body["approval"];
        assert_eq!(approval["id"], approval_id.as_str());
        assert_eq!(approval["type"], "command");
        assert_eq!(approval["payload"]["command"], "make deploy");
    }

    #[test]
    fn a_rolled_back_event_leaves_no_notification() {
        let (_dir, mut store, run) = store_with_run();
        let failed: Result<()> = store.write(|tx| {
            let events = super::super::events::append_events_tx(
                tx,
                vec![NewEvent::new(
                    &run,
                    EventType::InputRequested,
                    json!({"question": "?"}),
                )],
            )
            .unwrap();
            enqueue_notifications_tx(tx, &events).unwrap();
            Err(Error::failure("the writer failed after queuing"))
        });
        assert!(failed.is_err());
        assert!(store.list_notifications(10).unwrap().is_empty());
        // Only the run's own run.created remains.
        assert_eq!(store.last_seq(&run).unwrap(), 1);
    }

    #[test]
    fn attempts_record_targets_retries_and_the_end() {
        let (_dir, mut store, run) = store_with_run();
        store
            .append_events_with_notifications(&[NewEvent::new(
                &run,
                EventType::RunFinished,
                json!({"state": "completed"}),
            )])
            .unwrap();
        let id = store.list_notifications(1).unwrap()[0].id;
        let now = now();
        assert_eq!(store.due_notifications(now, 10).unwrap().len(), 1);
        let first_due = store.get_notification(id).unwrap().next_attempt_at;
        assert!(first_due <= now);
        assert_eq!(store.next_notification_due().unwrap(), Some(first_due));

        let done = TargetRecord {
            target: "webhook:a".into(),
            outcome: DeliveryOutcome::Delivered,
            detail: None,
        };
        store
            .finish_notification_attempt(
                id,
                &[done],
                &AttemptEnd::Retry {
                    at: now + 100,
                    error: "webhook b: answered 503".into(),
                },
            )
            .unwrap();
        let entry = store.get_notification(id).unwrap();
        assert_eq!(entry.attempts, 1);
        assert_eq!(entry.next_attempt_at, now + 100);
        assert_eq!(entry.state, NotificationState::Pending);
        assert_eq!(entry.last_error.as_deref(), Some("webhook b: answered 503"));
        assert_eq!(entry.done_targets, ["webhook:a"]);
        assert!(store.due_notifications(now + 99, 10).unwrap().is_empty());
        assert_eq!(store.due_notifications(now + 100, 10).unwrap().len(), 1);
        assert_eq!(store.next_notification_due().unwrap(), Some(now + 100));

        store
            .finish_notification_attempt(
                id,
                &[],
                &AttemptEnd::Failed {
                    error: "gave up".into(),
                },
            )
            .unwrap();
        let entry = store.get_notification(id).unwrap();
        assert_eq!(
            (entry.state, entry.attempts),
            (NotificationState::Failed, 2)
        );
        assert_eq!(store.next_notification_due().unwrap(), None);
        assert_eq!(
            store
                .count_notifications(NotificationState::Failed)
                .unwrap(),
            1
        );

        // Old finished notifications are forgotten; so are a deleted run's.
        assert_eq!(
            store
                .delete_finished_notifications(entry.created_at)
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .delete_finished_notifications(entry.created_at + 1)
                .unwrap(),
            1
        );
        store
            .append_events_with_notifications(&[NewEvent::new(
                &run,
                EventType::RunFinished,
                json!({"state": "cancelled"}),
            )])
            .unwrap();
        store.delete_run(&run).unwrap();
        assert!(store.list_notifications(10).unwrap().is_empty());
    }
}
