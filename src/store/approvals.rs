use rusqlite::{params, OptionalExtension, Row};

use super::Store;
use crate::error::{Error, Result};
use crate::model::{Approval, ApprovalState, DecidedBy};

#[derive(Debug, Default, Clone)]
pub struct ApprovalFilter {
    pub run_id: Option<String>,
    /// Empty means every state.
    pub states: Vec<ApprovalState>,
}

const APPROVAL_COLUMNS: &str =
    "id, run_id, event_id, type, state, payload, rejection_reason, created_at, resolved_at";

/// The approval's columns and who decided it (migration 4).
const APPROVAL_SELECT: &str = "SELECT a.id, a.run_id, a.event_id, a.type, a.state, a.payload,
        a.rejection_reason, a.created_at, a.resolved_at, d.decided_by
     FROM approvals a LEFT JOIN approval_decisions d ON d.approval_id = a.id";

fn approval_from_row(row: &Row<'_>) -> rusqlite::Result<Approval> {
    let text = |i: usize, s: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, s.into())
    };
    let approval_type: String = row.get(3)?;
    let state: String = row.get(4)?;
    let payload: Option<String> = row.get(5)?;
    let payload: Option<serde_json::Value> =
        payload.map(|p| serde_json::from_str(&p).unwrap_or(serde_json::Value::String(p)));
    let approval_type = approval_type
        .parse()
        .map_err(|_| text(3, format!("unknown approval type '{approval_type}'")))?;
    let decided_by: Option<String> = row.get(9)?;
    Ok(Approval {
        id: row.get(0)?,
        run_id: row.get(1)?,
        event_id: row.get(2)?,
        approval_type,
        state: state
            .parse()
            .map_err(|_| text(4, format!("unknown approval state '{state}'")))?,
        content_hash: crate::model::content_hash(approval_type, payload.as_ref()),
        payload,
        rejection_reason: row.get(6)?,
        created_at: row.get(7)?,
        resolved_at: row.get(8)?,
        decided_by: decided_by.and_then(|by| serde_json::from_str(&by).ok()),
    })
}

impl Store {
    pub fn list_approvals(&self, filter: &ApprovalFilter) -> Result<Vec<Approval>> {
        let mut sql = format!("{APPROVAL_SELECT} WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(run) = &filter.run_id {
            args.push(run.clone().into());
            sql.push_str(&format!(" AND a.run_id = ?{}", args.len()));
        }
        super::push_in(
            &mut sql,
            &mut args,
            "state",
            filter.states.iter().map(|s| s.as_str().to_string()),
        );
        sql.push_str(" ORDER BY a.created_at, a.rowid");
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| self.error("read", e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), approval_from_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.error("read", e))?;
        Ok(rows)
    }

    pub fn get_approval(&self, id: &str) -> Result<Approval> {
        self.conn
            .query_row(
                &format!("{APPROVAL_SELECT} WHERE a.id = ?1"),
                [id],
                approval_from_row,
            )
            .optional()
            .map_err(|e| self.error("read", e))?
            .ok_or_else(|| Error::not_found(format!("no approval with id '{id}'")))
    }

    /// An approval by a unique prefix of its id.
    pub fn find_approval(&self, prefix: &str) -> Result<Approval> {
        let id = self
            .find_prefix("approvals", "approval", prefix)
            .map_err(|e| match e.hint {
                None => e.with_hint("list pending approvals with `m approvals`"),
                Some(_) => e,
            })?;
        self.get_approval(&id)
    }

    /// The ids of approvals that start with `prefix` (at most 11).
    pub fn approval_ids_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        self.ids_with_prefix("approvals", prefix)
    }

    pub fn count_approvals(&self, state: ApprovalState) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT count(*) FROM approvals WHERE state = ?1",
                [state.as_str()],
                |r| r.get(0),
            )
            .map_err(|e| self.error("read", e))
    }
}

/// Inserts a pending approval inside a caller's transaction; its
/// `approval.requested` event must be in the same transaction.
pub(crate) fn insert_approval_tx(
    tx: &rusqlite::Connection,
    approval: &Approval,
) -> rusqlite::Result<()> {
    tx.execute(
        &format!(
            "INSERT INTO approvals ({APPROVAL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ),
        params![
            approval.id,
            approval.run_id,
            approval.event_id,
            approval.approval_type.as_str(),
            approval.state.as_str(),
            approval.payload.as_ref().map(|p| p.to_string()),
            approval.rejection_reason,
            approval.created_at,
            approval.resolved_at
        ],
    )?;
    Ok(())
}

pub(crate) fn get_approval_tx(
    tx: &rusqlite::Connection,
    id: &str,
) -> rusqlite::Result<Option<Approval>> {
    tx.query_row(
        &format!("{APPROVAL_SELECT} WHERE a.id = ?1"),
        [id],
        approval_from_row,
    )
    .optional()
}

/// Records a decision and who made it, only if the approval is still
/// pending; returns whether it was.
pub(crate) fn decide_tx(
    tx: &rusqlite::Connection,
    id: &str,
    state: ApprovalState,
    reason: Option<&str>,
    by: &DecidedBy,
    at: i64,
) -> rusqlite::Result<bool> {
    let changed = tx.execute(
        "UPDATE approvals SET state = ?2, rejection_reason = ?3, resolved_at = ?4
         WHERE id = ?1 AND state = 'pending'",
        params![id, state.as_str(), reason, at],
    )?;
    if changed == 1 {
        record_decider_tx(tx, id, by)?;
    }
    Ok(changed == 1)
}

/// Keeps who decided `id` (migration 4's `approval_decisions`).
pub(crate) fn record_decider_tx(
    tx: &rusqlite::Connection,
    id: &str,
    by: &DecidedBy,
) -> rusqlite::Result<()> {
    let by = serde_json::to_string(by).unwrap_or_default();
    tx.execute(
        "INSERT OR REPLACE INTO approval_decisions (approval_id, decided_by) VALUES (?1, ?2)",
        params![id, by],
    )?;
    Ok(())
}

pub(crate) fn pending_approval_ids_tx(
    tx: &rusqlite::Connection,
    run_id: &str,
) -> rusqlite::Result<Vec<String>> {
    let mut stmt = tx.prepare_cached(
        "SELECT id FROM approvals WHERE run_id = ?1 AND state = 'pending' ORDER BY created_at, rowid",
    )?;
    let ids = stmt.query_map([run_id], |r| r.get(0))?;
    ids.collect()
}
