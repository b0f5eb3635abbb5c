//! The per-repo queue of runs waiting for their repo's active run to end
//! (migration 4, `m run start --queue`). A queued run has its id from the
//! start; the writer's transactions in `lifecycle.rs` turn it into a row of
//! `runs` when its turn comes (or when it is cancelled), and it leaves this
//! table in the same transaction.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::json;

use super::Store;
use crate::error::{Error, Result};
use crate::model::{short_id, Event, EventType, Queued, QueuedRun};

/// The columns of a queued run, with its place in its repo's queue now.
const QUEUED_COLUMNS: &str = "q.id, q.repo_id, q.prompt, q.workspace_path, q.agent, q.options,
     q.base, q.event_id, q.arrival_position, q.created_at,
     (SELECT count(*) FROM run_queue ahead WHERE ahead.repo_id = q.repo_id AND ahead.seq <= q.seq)";

fn queued_from_row(row: &Row<'_>) -> rusqlite::Result<QueuedRun> {
    let json = |s: String| serde_json::from_str(&s).unwrap_or(serde_json::Value::Null);
    let id: String = row.get(0)?;
    let repo_id: String = row.get(1)?;
    let arrival_position: i64 = row.get(8)?;
    let created_at: i64 = row.get(9)?;
    Ok(QueuedRun {
        queued_event: Event {
            id: row.get(7)?,
            run_id: id.clone(),
            seq: 1,
            event_type: EventType::RunQueued.as_str().into(),
            data: Some(json!({ "repo_id": repo_id, "position": arrival_position })),
            created_at,
        },
        id,
        repo_id,
        prompt: row.get(2)?,
        state: Queued::Queued,
        position: row.get(10)?,
        workspace_path: row.get(3)?,
        agent: json(row.get(4)?),
        options: json(row.get(5)?),
        base: row.get(6)?,
        created_at,
    })
}

pub(crate) fn get_queued_tx(conn: &Connection, id: &str) -> rusqlite::Result<Option<QueuedRun>> {
    conn.query_row(
        &format!("SELECT {QUEUED_COLUMNS} FROM run_queue q WHERE q.id = ?1"),
        [id],
        queued_from_row,
    )
    .optional()
}

/// The repo's next queued run, if any.
pub(crate) fn next_queued_tx(
    conn: &Connection,
    repo_id: &str,
) -> rusqlite::Result<Option<QueuedRun>> {
    conn.query_row(
        &format!(
            "SELECT {QUEUED_COLUMNS} FROM run_queue q WHERE q.repo_id = ?1 ORDER BY q.seq LIMIT 1"
        ),
        [repo_id],
        queued_from_row,
    )
    .optional()
}

pub(crate) fn queued_count_tx(conn: &Connection, repo_id: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT count(*) FROM run_queue WHERE repo_id = ?1",
        [repo_id],
        |r| r.get(0),
    )
}

/// Adds a run at the end of its repo's queue.
pub(crate) fn insert_queued_tx(conn: &Connection, queued: &QueuedRun) -> rusqlite::Result<()> {
    let arrival_position = queued
        .queued_event
        .data
        .as_ref()
        .and_then(|d| d.get("position"))
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(queued.position);
    conn.execute(
        "INSERT INTO run_queue (id, repo_id, prompt, workspace_path, agent, options, base,
                                event_id, arrival_position, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            queued.id,
            queued.repo_id,
            queued.prompt,
            queued.workspace_path,
            queued.agent.to_string(),
            queued.options.to_string(),
            queued.base,
            queued.queued_event.id,
            arrival_position,
            queued.created_at,
        ],
    )?;
    Ok(())
}

pub(crate) fn delete_queued_tx(conn: &Connection, id: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM run_queue WHERE id = ?1", [id])?;
    Ok(())
}

/// Stores the `run.queued` event that opens a run's log once the run has
/// its row, as followers saw it while the run waited (same id, seq 1, time).
pub(crate) fn store_queued_event_tx(conn: &Connection, queued: &QueuedRun) -> rusqlite::Result<()> {
    let event = &queued.queued_event;
    conn.execute(
        "INSERT INTO events (id, run_id, seq, type, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            event.id,
            event.run_id,
            event.seq,
            event.event_type,
            event.data.as_ref().map(|d| d.to_string()),
            event.created_at
        ],
    )?;
    Ok(())
}

/// A run id, or the id of a run still in its queue.
#[derive(Debug, Clone)]
pub enum RunOrQueued {
    Run(crate::model::Run),
    Queued(QueuedRun),
}

impl RunOrQueued {
    pub fn id(&self) -> &str {
        match self {
            RunOrQueued::Run(run) => &run.id,
            RunOrQueued::Queued(queued) => &queued.id,
        }
    }
}

/// Every id a run prefix may name: runs, and runs still queued.
const RUN_IDS: &str = "(SELECT id FROM runs UNION ALL SELECT id FROM run_queue)";

impl Store {
    pub fn get_queued(&self, id: &str) -> Result<Option<QueuedRun>> {
        get_queued_tx(&self.conn, id).map_err(|e| self.error("read", e))
    }

    /// Queued runs (of one repo, or all), newest first.
    pub fn list_queued(&self, repo_id: Option<&str>) -> Result<Vec<QueuedRun>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {QUEUED_COLUMNS} FROM run_queue q
                 WHERE ?1 IS NULL OR q.repo_id = ?1 ORDER BY q.seq DESC"
            ))
            .map_err(|e| self.error("read", e))?;
        let rows = stmt
            .query_map([repo_id], queued_from_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.error("read", e))?;
        Ok(rows)
    }

    /// The repos that have queued runs: a starting daemon starts their next.
    pub fn repos_with_queued_runs(&self) -> Result<Vec<String>> {
        self.query_strings(
            "SELECT repo_id FROM run_queue GROUP BY repo_id ORDER BY min(seq)",
            [],
        )
        .map_err(|e| self.error("read", e))
    }

    /// A run or a queued run by a unique prefix of its id.
    pub fn find_run_or_queued(&self, prefix: &str) -> Result<RunOrQueued> {
        let id = self
            .find_prefix(RUN_IDS, "run", prefix)
            .map_err(|e| match e.hint {
                None => e.with_hint("list runs with `m run list`"),
                Some(_) => e,
            })?;
        // A queued run may start between two reads: it is then a run.
        for _ in 0..2 {
            match self.get_run(&id) {
                Ok(run) => return Ok(RunOrQueued::Run(run)),
                Err(err) if err.kind != crate::error::ErrorKind::NotFound => return Err(err),
                Err(_) => {}
            }
            if let Some(queued) = self.get_queued(&id)? {
                return Ok(RunOrQueued::Queued(queued));
            }
        }
        Err(Error::not_found(format!("no run with id '{prefix}'")))
    }
}

/// The error for a queued run given to a command that needs a started one.
pub fn not_started(queued: &QueuedRun) -> Error {
    let id = short_id(&queued.id);
    Error::conflict(format!(
        "run {id} is queued (position {}): it has not started yet",
        queued.position
    ))
    .with_hint(format!(
        "wait for it with `m run wait {id}`, or remove it from the queue with `m run cancel {id}`"
    ))
}
