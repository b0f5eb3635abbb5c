//! Retention (`m gc`, `[retention] output_after`): the `output` events of
//! runs that finished long ago are dropped; the run, its other events
//! (state changes, approvals asked and resolved, decisions) and its
//! approvals stay for ever, as the audit trail. Each run that loses its
//! output gains a `run.pruned` event saying how much went.

use rusqlite::params;
use serde::Serialize;
use serde_json::json;

use super::events::{append_events_tx, NewEvent};
use super::Store;
use crate::error::Result;
use crate::model::EventType;

/// Output events deleted per transaction: the daemon's writer waits for at
/// most one such batch (up to 64 KiB each, so a few MiB), never for a whole
/// run of a million lines.
const DELETE_BATCH: i64 = 64;

/// Free pages given back to the file system per step of the incremental
/// vacuum (4 MiB at 16 KiB pages), each step a transaction of its own.
const VACUUM_STEP: i64 = 256;

/// One run's output, dropped or to be dropped.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunOutput {
    pub run: String,
    /// How many `output` events.
    pub events: u64,
    /// The bytes their data took in the database.
    pub bytes: u64,
}

impl Store {
    /// The finished runs that ended before `cutoff` (unix seconds) and still
    /// hold output, oldest first, with how much.
    pub fn output_to_prune(&self, cutoff: i64) -> Result<Vec<RunOutput>> {
        // octet_length reads a value's size from the record header, not the
        // value: counting a run of a million lines does not read them.
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT r.id, count(*), coalesce(sum(octet_length(e.data)), 0)
                 FROM runs r JOIN events e ON e.run_id = r.id AND e.type = 'output'
                 WHERE r.state IN ('completed', 'failed', 'cancelled') AND r.updated_at < ?1
                 GROUP BY r.id ORDER BY r.updated_at, r.id",
            )
            .map_err(|e| self.error("read", e))?;
        let rows = stmt
            .query_map([cutoff], |r| {
                Ok(RunOutput {
                    run: r.get(0)?,
                    events: r.get::<_, i64>(1)? as u64,
                    bytes: r.get::<_, i64>(2)? as u64,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.error("read", e))?;
        Ok(rows)
    }

    /// Drops the output of `run` (found by [`Store::output_to_prune`]) a
    /// batch at a time, and records `run.pruned` with `data` plus what went
    /// in the transaction of the last batch. A run that is no longer
    /// finished and old (it cannot be, but the check is in the same
    /// transaction) is left alone. Returns what was dropped.
    pub fn prune_output(
        &mut self,
        run: &str,
        cutoff: i64,
        data: serde_json::Value,
    ) -> Result<RunOutput> {
        let mut dropped = RunOutput {
            run: run.to_string(),
            events: 0,
            bytes: 0,
        };
        let path = self.path.clone();
        let db = |e| super::db_error(&path, "write to", e);
        loop {
            let done = self.write(|tx| {
                let eligible: bool = tx
                    .query_row(
                        "SELECT count(*) FROM runs WHERE id = ?1 AND updated_at < ?2
                         AND state IN ('completed', 'failed', 'cancelled')",
                        params![run, cutoff],
                        |r| r.get::<_, i64>(0),
                    )
                    .map(|n| n > 0)
                    .map_err(db)?;
                if !eligible {
                    return Ok(true);
                }
                let (events, bytes): (i64, i64) = tx
                    .query_row(
                        "SELECT count(*), coalesce(sum(octet_length(data)), 0) FROM (
                           SELECT data FROM events WHERE run_id = ?1 AND type = 'output'
                           ORDER BY seq LIMIT ?2)",
                        params![run, DELETE_BATCH],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(db)?;
                tx.execute(
                    "DELETE FROM events WHERE rowid IN (
                       SELECT rowid FROM events WHERE run_id = ?1 AND type = 'output'
                       ORDER BY seq LIMIT ?2)",
                    params![run, DELETE_BATCH],
                )
                .map_err(db)?;
                dropped.events += events as u64;
                dropped.bytes += bytes as u64;
                if events < DELETE_BATCH {
                    let mut data = data.clone();
                    data["events"] = json!(dropped.events);
                    data["bytes"] = json!(dropped.bytes);
                    append_events_tx(tx, vec![NewEvent::new(run, EventType::RunPruned, data)])
                        .map_err(db)?;
                    return Ok(true);
                }
                Ok(false)
            })?;
            if done {
                return Ok(dropped);
            }
        }
    }

    /// Drops the output of every run that finished more than `older_than`
    /// ago, recording `run.pruned` (`by`: `gc` or `daemon`) on each, then
    /// gives the space back. Returns what was dropped and the pages given
    /// back.
    pub fn prune_old_output(
        &mut self,
        older_than: std::time::Duration,
        by: &str,
    ) -> Result<(Vec<RunOutput>, u64)> {
        let cutoff = crate::model::now() - older_than.as_secs() as i64;
        let data = json!({
            "older_than": crate::model::format_duration(older_than),
            "by": by,
        });
        let mut dropped = Vec::new();
        for run in self.output_to_prune(cutoff)? {
            let done = self.prune_output(&run.run, cutoff, data.clone())?;
            if done.events > 0 {
                dropped.push(done);
            }
        }
        let pages = match dropped.is_empty() {
            true => 0,
            false => self.release_space()?,
        };
        Ok((dropped, pages))
    }

    /// The database's size in bytes: the file's once the log is copied back
    /// (the log itself stays at most 32 MiB, see `enable_wal`).
    pub fn database_bytes(&self) -> Result<u64> {
        self.conn
            .query_row(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.error("read", e))
    }

    /// Gives the pages freed by deletions back to the file system, a few
    /// at a time, each step a short transaction of its own (an incremental
    /// vacuum: never a rewrite of the whole file that would hold the
    /// writer). Then copies the log back, so the file shrinks now rather
    /// than at the daemon's next checkpoint. Returns the pages given back;
    /// 0 for a database made before m set `auto_vacuum` (its free pages
    /// are reused by what is written next instead).
    pub fn release_space(&self) -> Result<u64> {
        let pragma = |name: &str| -> Result<i64> {
            self.conn
                .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                .map_err(|e| self.error("read", e))
        };
        if pragma("auto_vacuum")? != 2 {
            return Ok(0);
        }
        let mut released = 0u64;
        loop {
            let free = pragma("freelist_count")?;
            if free == 0 {
                break;
            }
            self.conn
                .execute_batch(&format!("PRAGMA incremental_vacuum({VACUUM_STEP})"))
                .map_err(|e| self.error("write to", e))?;
            let left = pragma("freelist_count")?;
            if left >= free {
                break;
            }
            released += (free - left) as u64;
        }
        self.checkpoint()?;
        Ok(released)
    }
}
