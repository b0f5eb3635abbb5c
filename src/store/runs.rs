use rusqlite::{params, OptionalExtension, Row};

use super::Store;
use crate::error::{Error, Result};
use crate::model::{now, short_id, Run, RunState};

#[derive(Debug, Default, Clone)]
pub struct RunFilter {
    pub repo_id: Option<String>,
    pub states: Vec<RunState>,
    pub limit: Option<u32>,
}

/// What m keeps about a run beside the seed's columns (migration 2).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunDetails {
    pub agent: serde_json::Value,
    pub options: serde_json::Value,
    pub branch: Option<String>,
    pub base_commit: Option<String>,
    pub pgid: Option<i64>,
}

pub struct NewRun {
    pub repo_id: String,
    pub prompt: String,
    pub workspace_path: String,
    pub details: RunDetails,
}

const RUN_COLUMNS: &str = "id, repo_id, prompt, state, workspace_path, created_at, updated_at";

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<Run> {
    let state: String = row.get(3)?;
    Ok(Run {
        id: row.get(0)?,
        repo_id: row.get(1)?,
        prompt: row.get(2)?,
        state: state.parse().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                3,
                rusqlite::types::Type::Text,
                format!("unknown run state '{state}'").into(),
            )
        })?,
        workspace_path: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

impl Store {
    /// Inserts a run in state `running`, unless its repo already has an
    /// active one: the seed's concurrency rule, checked inside the same
    /// IMMEDIATE transaction so that two racing starts cannot both win.
    /// `id` is chosen by the caller (it names the workspace and branch).
    pub fn create_run(&mut self, id: &str, new: NewRun) -> Result<Run> {
        let now = now();
        let run = Run {
            id: id.to_string(),
            repo_id: new.repo_id,
            prompt: new.prompt,
            state: RunState::Running,
            workspace_path: new.workspace_path,
            created_at: now,
            updated_at: now,
        };
        let path = self.path.clone();
        let db = |e| super::db_error(&path, "write to", e);
        self.write(|tx| {
            let active: Option<String> = tx
                .query_row(
                    "SELECT id FROM runs WHERE repo_id = ?1
                     AND state IN ('running', 'waiting_input', 'waiting_approval') LIMIT 1",
                    [&run.repo_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            if let Some(active) = active {
                return Err(Error::conflict(format!(
                    "the repo already has an active run {}",
                    short_id(&active)
                ))
                .with_hint(format!(
                    "wait for it (`m run wait {0}`) or cancel it (`m run cancel {0}`)",
                    short_id(&active)
                )));
            }
            tx.execute(
                &format!("INSERT INTO runs ({RUN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
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
            tx.execute(
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
            Ok(())
        })?;
        Ok(run)
    }

    pub fn get_run(&self, id: &str) -> Result<Run> {
        self.conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                [id],
                run_from_row,
            )
            .optional()
            .map_err(|e| self.error("read", e))?
            .ok_or_else(|| Error::not_found(format!("no run with id '{id}'")))
    }

    /// A run by a unique prefix of its id.
    pub fn find_run(&self, prefix: &str) -> Result<Run> {
        let id = self
            .resolve_prefix("runs", "run", prefix)
            .map_err(|e| match e.hint {
                None => e.with_hint("list runs with `m run list`"),
                Some(_) => e,
            })?;
        self.get_run(&id)
    }

    pub fn run_details(&self, run_id: &str) -> Result<RunDetails> {
        let json = |s: String| serde_json::from_str(&s).unwrap_or(serde_json::Value::Null);
        self.conn
            .query_row(
                "SELECT agent, options, branch, base_commit, pgid FROM run_details WHERE run_id = ?1",
                [run_id],
                |r| {
                    Ok(RunDetails {
                        agent: json(r.get(0)?),
                        options: json(r.get(1)?),
                        branch: r.get(2)?,
                        base_commit: r.get(3)?,
                        pgid: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.error("read", e))
            .map(Option::unwrap_or_default)
    }

    pub fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>> {
        let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE 1=1");
        let mut args: Vec<String> = Vec::new();
        if let Some(repo) = &filter.repo_id {
            args.push(repo.clone());
            sql.push_str(&format!(" AND repo_id = ?{}", args.len()));
        }
        if !filter.states.is_empty() {
            let mut marks = Vec::new();
            for state in &filter.states {
                args.push(state.as_str().to_string());
                marks.push(format!("?{}", args.len()));
            }
            sql.push_str(&format!(" AND state IN ({})", marks.join(", ")));
        }
        sql.push_str(" ORDER BY created_at DESC, rowid DESC");
        if let Some(limit) = filter.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.error("read", e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), run_from_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.error("read", e))?;
        Ok(rows)
    }

    pub fn set_run_pgid(&mut self, run_id: &str, pgid: Option<i64>) -> Result<()> {
        let path = self.path.clone();
        self.write(|tx| {
            tx.execute(
                "UPDATE run_details SET pgid = ?2 WHERE run_id = ?1",
                params![run_id, pgid],
            )
            .map_err(|e| super::db_error(&path, "write to", e))?;
            Ok(())
        })
    }

    /// Removes a finished run with its events, approvals and notifications.
    pub fn delete_run(&mut self, run_id: &str) -> Result<()> {
        let path = self.path.clone();
        let db = |e| super::db_error(&path, "write to", e);
        self.write(|tx| {
            for sql in [
                "DELETE FROM notification_deliveries WHERE notification_id IN
                   (SELECT id FROM notifications WHERE run_id = ?1)",
                "DELETE FROM notifications WHERE run_id = ?1",
                "DELETE FROM approvals WHERE run_id = ?1",
                "DELETE FROM events WHERE run_id = ?1",
                "DELETE FROM run_details WHERE run_id = ?1",
                "DELETE FROM runs WHERE id = ?1",
            ] {
                tx.execute(sql, [run_id]).map_err(db)?;
            }
            Ok(())
        })
    }

    pub fn count_runs(&self, states: &[RunState]) -> Result<i64> {
        let marks = states.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>();
        self.conn
            .query_row(
                &format!("SELECT count(*) FROM runs WHERE state IN ({})", marks.join(",")),
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.error("read", e))
    }
}

/// Sets a run's state inside a caller's transaction (events and state change
/// commit together).
pub(crate) fn update_run_state(
    tx: &rusqlite::Transaction<'_>,
    run_id: &str,
    state: RunState,
    at: i64,
) -> rusqlite::Result<usize> {
    tx.execute(
        "UPDATE runs SET state = ?2, updated_at = ?3 WHERE id = ?1",
        params![run_id, state.as_str(), at],
    )
}

