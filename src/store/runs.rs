use rusqlite::{params, OptionalExtension, Row};

use super::Store;
use crate::error::{Error, Result};
use crate::model::{Run, RunState};

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

/// A run as `m run list` shows it (see [`Store::each_run_line`]).
pub struct RunLine<'a> {
    pub id: &'a str,
    pub repo_id: &'a str,
    pub prompt: &'a str,
    pub state: RunState,
    pub created_at: i64,
}

fn state_at(row: &Row<'_>, i: usize) -> rusqlite::Result<RunState> {
    let state = row.get_ref(i)?.as_str()?;
    state.parse().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unknown run state '{state}'").into(),
        )
    })
}

fn run_line<'a>(row: &'a Row<'_>) -> rusqlite::Result<RunLine<'a>> {
    Ok(RunLine {
        id: row.get_ref(0)?.as_str()?,
        repo_id: row.get_ref(1)?.as_str()?,
        prompt: row.get_ref(2)?.as_str()?,
        state: state_at(row, 3)?,
        created_at: row.get(4)?,
    })
}

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<Run> {
    Ok(Run {
        id: row.get(0)?,
        repo_id: row.get(1)?,
        prompt: row.get(2)?,
        state: state_at(row, 3)?,
        workspace_path: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

impl Store {
    /// Creates a run in a transaction of its own (see `Batch::create_run`).
    pub fn create_run(&mut self, id: &str, new: NewRun) -> Result<Run> {
        let mut batch = self.batch()?;
        let run = batch.create_run(id, new)?;
        batch.commit()?;
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

    /// A run by a unique prefix of its id. A queued run (see
    /// [`Store::find_run_or_queued`]) is refused, saying it has not started:
    /// for the commands that need a started run.
    pub fn find_run(&self, prefix: &str) -> Result<Run> {
        match self.find_run_or_queued(prefix)? {
            super::RunOrQueued::Run(run) => Ok(run),
            super::RunOrQueued::Queued(queued) => Err(super::queue::not_started(&queued)),
        }
    }

    /// The ids of runs that start with `prefix` (at most 11).
    pub fn run_ids_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        self.ids_with_prefix("runs", prefix)
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

    /// The last mode in which the agent did not ask m (an `agent.mode`
    /// event with `asks: false`) that the newest run of preset `preset`
    /// reported: the run's id and the event's data.
    pub fn last_quiet_mode(&self, preset: &str) -> Result<Option<(String, serde_json::Value)>> {
        self.conn
            .query_row(
                "SELECT e.run_id, e.data FROM events e WHERE e.run_id = (
                     SELECT d.run_id FROM run_details d JOIN runs r ON r.id = d.run_id
                     WHERE json_extract(d.agent, '$.preset') = ?1
                     ORDER BY r.created_at DESC, r.id DESC LIMIT 1)
                 AND e.type = 'agent.mode' AND json_extract(e.data, '$.asks') = 0
                 ORDER BY e.seq DESC LIMIT 1",
                [preset],
                |r| {
                    let data: Option<String> = r.get(1)?;
                    let data = data
                        .and_then(|d| serde_json::from_str(&d).ok())
                        .unwrap_or(serde_json::Value::Null);
                    Ok((r.get(0)?, data))
                },
            )
            .optional()
            .map_err(|e| self.error("read", e))
    }

    pub fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>> {
        let (sql, args) = list_sql(RUN_COLUMNS, filter);
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| self.error("read", e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), run_from_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.error("read", e))?;
        Ok(rows)
    }

    /// The runs `list_runs` would return, in its order, as `m run list`
    /// shows them: only the columns it prints, each borrowed from the row
    /// being read. A listing may hold a hundred thousand runs: a `Run`
    /// each (five strings, one of them never shown) cost a fifth of it.
    pub fn each_run_line(
        &self,
        filter: &RunFilter,
        mut f: impl FnMut(RunLine<'_>) -> Result<()>,
    ) -> Result<()> {
        let (sql, args) = list_sql("id, repo_id, prompt, state, created_at", filter);
        self.each_row(&sql, args, |row| {
            f(run_line(row).map_err(|e| self.error("read", e))?)?;
            Ok(true)
        })
    }
}

/// The SELECT of `columns` of the runs `filter` matches, newest first.
fn list_sql(columns: &str, filter: &RunFilter) -> (String, Vec<rusqlite::types::Value>) {
    let mut sql = format!("SELECT {columns} FROM runs WHERE 1=1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(repo) = &filter.repo_id {
        args.push(repo.clone().into());
        sql.push_str(&format!(" AND repo_id = ?{}", args.len()));
    }
    super::push_in(
        &mut sql,
        &mut args,
        "state",
        filter.states.iter().map(|s| s.as_str().to_string()),
    );
    sql.push_str(" ORDER BY created_at DESC, rowid DESC");
    if let Some(limit) = filter.limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    (sql, args)
}

impl Store {
    /// How many runs match `repo_id` and `states` (every state when empty),
    /// from the counts migration 6's triggers keep: constant time however
    /// long the history.
    pub fn count_runs(&self, repo_id: Option<&str>, states: &[RunState]) -> Result<u64> {
        let mut sql = String::from("SELECT coalesce(sum(n), 0) FROM run_counts WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(repo) = repo_id {
            args.push(repo.to_string().into());
            sql.push_str(&format!(" AND repo_id = ?{}", args.len()));
        }
        super::push_in(
            &mut sql,
            &mut args,
            "state",
            states.iter().map(|s| s.as_str().to_string()),
        );
        self.conn
            .query_row(&sql, rusqlite::params_from_iter(args), |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
            .map_err(|e| self.error("read", e))
    }

    /// Removes a finished run with its events, approvals and notifications.
    pub fn delete_run(&mut self, run_id: &str) -> Result<()> {
        let path = self.path.clone();
        let db = |e| super::db_error(&path, "write to", e);
        self.write(|tx| {
            super::usage::shift_repo_total(tx, run_id, -1).map_err(db)?;
            for sql in [
                "DELETE FROM notification_deliveries WHERE notification_id IN
                   (SELECT id FROM notifications WHERE run_id = ?1)",
                "DELETE FROM notifications WHERE run_id = ?1",
                "DELETE FROM approval_decisions WHERE approval_id IN
                   (SELECT id FROM approvals WHERE run_id = ?1)",
                "DELETE FROM approvals WHERE run_id = ?1",
                "DELETE FROM events WHERE run_id = ?1",
                "DELETE FROM run_details WHERE run_id = ?1",
                "DELETE FROM run_usage WHERE run_id = ?1",
                "DELETE FROM runs WHERE id = ?1",
            ] {
                tx.execute(sql, [run_id]).map_err(db)?;
            }
            Ok(())
        })
    }
}

/// Sets a run's state inside a caller's transaction (events and state change
/// commit together).
pub(crate) fn update_run_state(
    tx: &rusqlite::Connection,
    run_id: &str,
    state: RunState,
    at: i64,
) -> rusqlite::Result<usize> {
    tx.execute(
        "UPDATE runs SET state = ?2, updated_at = ?3 WHERE id = ?1",
        params![run_id, state.as_str(), at],
    )
}
