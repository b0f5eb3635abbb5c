use std::collections::HashMap;

use rusqlite::{params, OptionalExtension, Row};

use super::Store;
use crate::error::Result;
use crate::model::EventType;
use crate::model::{new_event_id, now, Event, RunState};

/// An event to append. `set_state` changes the run's state in the same
/// transaction, so the log and the state never disagree.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub run_id: String,
    pub event_type: String,
    pub data: Option<serde_json::Value>,
    pub set_state: Option<RunState>,
}

impl NewEvent {
    pub fn new(run_id: &str, event_type: EventType, data: serde_json::Value) -> NewEvent {
        NewEvent {
            run_id: run_id.to_string(),
            event_type: event_type.as_str().to_string(),
            data: Some(data),
            set_state: None,
        }
    }

    pub fn with_state(mut self, state: RunState) -> NewEvent {
        self.set_state = Some(state);
        self
    }
}

const EVENT_COLUMNS: &str = "id, run_id, seq, type, data, created_at";

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Event> {
    let data: Option<String> = row.get(4)?;
    Ok(Event {
        id: row.get(0)?,
        run_id: row.get(1)?,
        seq: row.get(2)?,
        event_type: row.get(3)?,
        data: data.map(|d| serde_json::from_str(&d).unwrap_or(serde_json::Value::String(d))),
        created_at: row.get(5)?,
    })
}

/// About how many bytes an event's data takes as text: the strings it holds.
fn data_size(event: &Event) -> usize {
    fn size(value: &serde_json::Value) -> usize {
        match value {
            serde_json::Value::String(s) => s.len() + 2,
            serde_json::Value::Array(items) => items.iter().map(size).sum::<usize>() + 2,
            serde_json::Value::Object(map) => map.iter().map(|(k, v)| k.len() + 3 + size(v)).sum(),
            _ => 8,
        }
    }
    event.data.as_ref().map_or(0, size)
}

impl Store {
    /// Events of a run with `seq > since`, oldest first.
    pub fn list_events(
        &self,
        run_id: &str,
        since: i64,
        types: &[String],
        limit: Option<u32>,
    ) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        self.for_each_event(run_id, since, types, limit, |e| {
            events.push(e);
            Ok(())
        })?;
        Ok(events)
    }

    /// Events of a run after `since`, oldest first, as many as come to
    /// about `max_bytes` of data (always at least one, if there is one):
    /// one page of a follower's catch-up, whatever the events' sizes.
    pub fn list_events_page(
        &self,
        run_id: &str,
        since: i64,
        types: &[String],
        max_bytes: usize,
    ) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        let mut bytes = 0;
        self.scan_events(run_id, since, types, None, |event| {
            bytes += event.id.len() + event.event_type.len() + 64 + data_size(&event);
            events.push(event);
            Ok(bytes < max_bytes)
        })?;
        Ok(events)
    }

    /// Calls `each` for every event of a run after `since`, streaming rather
    /// than collecting, so a million-event log costs no memory.
    pub fn for_each_event(
        &self,
        run_id: &str,
        since: i64,
        types: &[String],
        limit: Option<u32>,
        mut each: impl FnMut(Event) -> Result<()>,
    ) -> Result<()> {
        self.scan_events(run_id, since, types, limit, |event| {
            each(event).map(|()| true)
        })
    }

    /// Like [`Store::for_each_event`], until `each` returns false.
    fn scan_events(
        &self,
        run_id: &str,
        since: i64,
        types: &[String],
        limit: Option<u32>,
        mut each: impl FnMut(Event) -> Result<bool>,
    ) -> Result<()> {
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE run_id = ?1 AND seq > ?2");
        let mut args: Vec<rusqlite::types::Value> = vec![run_id.to_string().into(), since.into()];
        super::push_in(&mut sql, &mut args, "type", types.iter().cloned());
        sql.push_str(" ORDER BY seq");
        if let Some(limit) = limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        self.each_row(&sql, args, |row| {
            each(event_from_row(row).map_err(|e| self.error("read", e))?)
        })
    }

    /// How a run ended: the data of its `run.finished` event, or `None`
    /// while it has not. That event is the last, so the search walks the
    /// run's log backwards and stops at once, however long the log.
    pub fn run_finished(&self, run_id: &str) -> Result<Option<serde_json::Value>> {
        let data: Option<Option<String>> = self
            .conn
            .query_row(
                "SELECT data FROM events WHERE run_id = ?1 AND type = 'run.finished'
                 ORDER BY seq DESC LIMIT 1",
                [run_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.error("read", e))?;
        Ok(data.map(|d| {
            d.and_then(|d| serde_json::from_str(&d).ok())
                .unwrap_or(serde_json::Value::Null)
        }))
    }

    /// The latest event of a run of one of `types`, walking the log
    /// backwards (a daemon that resumes a run looks for its session).
    pub fn last_event(&self, run_id: &str, types: &[EventType]) -> Result<Option<Event>> {
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE run_id = ?1");
        let mut args: Vec<rusqlite::types::Value> = vec![run_id.to_string().into()];
        super::push_in(
            &mut sql,
            &mut args,
            "type",
            types.iter().map(|t| t.to_string()),
        );
        sql.push_str(" ORDER BY seq DESC LIMIT 1");
        let mut last = None;
        self.each_row(&sql, args, |row| {
            last = Some(event_from_row(row).map_err(|e| self.error("read", e))?);
            Ok(false)
        })?;
        Ok(last)
    }

    pub fn last_seq(&self, run_id: &str) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM events WHERE run_id = ?1",
                [run_id],
                |r| r.get(0),
            )
            .map_err(|e| self.error("read", e))
    }
}

/// Inserts `batch`, numbering each run's events on from its last seq. The
/// events are moved, not copied, into what is returned: an `output` event
/// holds up to 64 KiB of lines, and a flood of them passes through here.
pub(crate) fn append_events_tx(
    tx: &rusqlite::Connection,
    batch: Vec<NewEvent>,
) -> rusqlite::Result<Vec<Event>> {
    let mut next_seq: HashMap<String, i64> = HashMap::new();
    let mut stored = Vec::with_capacity(batch.len());
    let mut insert = tx.prepare_cached(&format!(
        "INSERT INTO events ({EVENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    ))?;
    let at = now();
    for new in batch {
        let seq = match next_seq.get_mut(new.run_id.as_str()) {
            Some(seq) => seq,
            None => {
                let last: i64 = tx.query_row(
                    "SELECT COALESCE(MAX(seq), 0) FROM events WHERE run_id = ?1",
                    [&new.run_id],
                    |r| r.get(0),
                )?;
                next_seq.entry(new.run_id.clone()).or_insert(last)
            }
        };
        *seq += 1;
        let event = Event {
            id: new_event_id(),
            run_id: new.run_id,
            seq: *seq,
            event_type: new.event_type,
            data: new.data,
            created_at: at,
        };
        insert.execute(params![
            event.id,
            event.run_id,
            event.seq,
            event.event_type,
            event.data.as_ref().map(|d| d.to_string()),
            event.created_at
        ])?;
        super::usage::record_tx(tx, &event)?;
        if let Some(state) = new.set_state {
            super::runs::update_run_state(tx, &event.run_id, state, at)?;
        }
        stored.push(event);
    }
    Ok(stored)
}
