//! The usage ledger: per run, what its agent reported it spent. Tokens in
//! and out are summed over its turns' results (ACP `PromptResponse.usage`,
//! counted per turn); the cost is the agent's cumulative session cost from
//! `usage_update` (an agent that starts counting again, resumed after a
//! restart, adds to it); the context is the last `used` of `size`. Kept in
//! `run_usage` by the transaction that appends the events reporting it
//! (`agent.turn`, `agent.usage`), so the ledger and the log never disagree.

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;
use serde_json::Value;

use super::Store;
use crate::error::Result;
use crate::model::Event;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Usage {
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// None when the agent reported no cost.
    pub cost: Option<Cost>,
    /// The session's context at the last report: tokens used of its size.
    pub context: Option<Context>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cost {
    pub amount: f64,
    /// ISO 4217, as the agent said (`USD`).
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Context {
    pub used: i64,
    pub size: i64,
}

/// A repo's runs, added up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepoUsage {
    pub repo_id: String,
    pub runs: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// One sum per currency.
    pub cost: Vec<Cost>,
}

const COLUMNS: &str =
    "input_tokens, output_tokens, cost_total, cost_currency, context_used, context_size";

fn usage_from_row(row: &Row<'_>) -> rusqlite::Result<Usage> {
    let amount: Option<f64> = row.get(2)?;
    let currency: Option<String> = row.get(3)?;
    let used: Option<i64> = row.get(4)?;
    let size: Option<i64> = row.get(5)?;
    Ok(Usage {
        input_tokens: row.get(0)?,
        output_tokens: row.get(1)?,
        cost: amount
            .zip(currency)
            .map(|(amount, currency)| Cost { amount, currency }),
        context: used.zip(size).map(|(used, size)| Context { used, size }),
    })
}

/// Moves a run's ledger row out of its repo's totals (`repo_usage`, migration
/// 8), before the row changes or goes, or (`sign` 1) back in after it changed.
/// A total left with no run is removed.
pub(crate) fn shift_repo_total(
    tx: &rusqlite::Connection,
    run_id: &str,
    sign: i64,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO repo_usage (repo_id, currency, runs, input_tokens, output_tokens, cost_total)
         SELECT r.repo_id, coalesce(u.cost_currency, ''), ?2, ?2 * u.input_tokens,
           ?2 * u.output_tokens, ?2 * coalesce(u.cost_total, 0)
         FROM run_usage u JOIN runs r ON r.id = u.run_id WHERE u.run_id = ?1
         ON CONFLICT (repo_id, currency) DO UPDATE SET
           runs = runs + excluded.runs,
           input_tokens = input_tokens + excluded.input_tokens,
           output_tokens = output_tokens + excluded.output_tokens,
           cost_total = cost_total + excluded.cost_total",
        params![run_id, sign],
    )?;
    if sign < 0 {
        tx.execute(
            "DELETE FROM repo_usage WHERE runs <= 0
               AND repo_id = (SELECT repo_id FROM runs WHERE id = ?1)",
            [run_id],
        )?;
    }
    Ok(())
}

/// Adds what `event` reports to its run's ledger, if it reports usage, and
/// so to its repo's totals.
pub(crate) fn record_tx(tx: &rusqlite::Connection, event: &Event) -> rusqlite::Result<()> {
    let Some(data) = &event.data else {
        return Ok(());
    };
    if !matches!(event.event_type.as_str(), "agent.turn" | "agent.usage") {
        return Ok(());
    }
    shift_repo_total(tx, &event.run_id, -1)?;
    record_run_tx(tx, event, data)?;
    shift_repo_total(tx, &event.run_id, 1)
}

fn record_run_tx(tx: &rusqlite::Connection, event: &Event, data: &Value) -> rusqlite::Result<()> {
    let count = |v: Option<&Value>| v.and_then(Value::as_i64).filter(|n| *n >= 0);
    match event.event_type.as_str() {
        "agent.turn" => {
            let Some(usage) = data.get("usage") else {
                return Ok(());
            };
            let input = count(usage.get("inputTokens")).unwrap_or(0);
            let output = count(usage.get("outputTokens")).unwrap_or(0);
            tx.execute(
                "INSERT INTO run_usage (run_id, input_tokens, output_tokens) VALUES (?1, ?2, ?3)
                 ON CONFLICT(run_id) DO UPDATE SET
                   input_tokens = input_tokens + excluded.input_tokens,
                   output_tokens = output_tokens + excluded.output_tokens",
                params![event.run_id, input, output],
            )?;
        }
        "agent.usage" => {
            let cost = data.get("cost");
            let amount = cost
                .and_then(|c| c.get("amount"))
                .and_then(Value::as_f64)
                .filter(|a| a.is_finite() && *a >= 0.0);
            let currency = cost.and_then(|c| c.get("currency")).and_then(Value::as_str);
            let (amount, currency) = match (amount, currency) {
                (Some(a), Some(c)) => (Some(a), Some(c)),
                _ => (None, None),
            };
            tx.execute(
                "INSERT INTO run_usage (run_id, input_tokens, output_tokens, cost_total, cost_last,
                   cost_currency, context_used, context_size)
                 VALUES (?1, 0, 0, ?2, ?2, ?3, ?4, ?5)
                 ON CONFLICT(run_id) DO UPDATE SET
                   cost_total = CASE WHEN excluded.cost_last IS NULL THEN cost_total
                     WHEN cost_last IS NULL OR excluded.cost_last < cost_last
                       THEN COALESCE(cost_total, 0) + excluded.cost_last
                     ELSE cost_total + excluded.cost_last - cost_last END,
                   cost_last = COALESCE(excluded.cost_last, cost_last),
                   cost_currency = COALESCE(excluded.cost_currency, cost_currency),
                   context_used = COALESCE(excluded.context_used, context_used),
                   context_size = COALESCE(excluded.context_size, context_size)",
                params![
                    event.run_id,
                    amount,
                    currency,
                    count(data.get("used")),
                    count(data.get("size")),
                ],
            )?;
        }
        _ => {}
    }
    Ok(())
}

impl Store {
    /// What the run's agent reported it spent; None if it reported nothing.
    pub fn run_usage(&self, run_id: &str) -> Result<Option<Usage>> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM run_usage WHERE run_id = ?1"),
                [run_id],
                usage_from_row,
            )
            .optional()
            .map_err(|e| self.error("read", e))
    }

    /// Every repo's runs that reported usage, added up, by repo id: the
    /// per-repo totals kept beside the ledger (`repo_usage`), one row per
    /// repo and currency however long the history.
    pub fn usage_by_repo(&self) -> Result<Vec<RepoUsage>> {
        let read = || -> rusqlite::Result<Vec<RepoUsage>> {
            let mut stmt = self.conn.prepare(
                "SELECT repo_id, runs, input_tokens, output_tokens,
                   nullif(currency, ''), CASE WHEN currency = '' THEN NULL ELSE cost_total END
                 FROM repo_usage WHERE runs > 0 ORDER BY repo_id, currency",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, Option<String>>(4)?,
                    row.get::<_, Option<f64>>(5)?,
                ))
            })?;
            let mut repos: Vec<RepoUsage> = Vec::new();
            for row in rows {
                let (repo_id, runs, input, output, currency, amount) = row?;
                let repo = match repos.last_mut() {
                    Some(r) if r.repo_id == repo_id => r,
                    _ => {
                        repos.push(RepoUsage {
                            repo_id,
                            runs: 0,
                            input_tokens: 0,
                            output_tokens: 0,
                            cost: Vec::new(),
                        });
                        repos.last_mut().expect("just pushed")
                    }
                };
                repo.runs += runs;
                repo.input_tokens += input;
                repo.output_tokens += output;
                if let Some((currency, amount)) = currency.zip(amount) {
                    repo.cost.push(Cost { amount, currency });
                }
            }
            Ok(repos)
        };
        read().map_err(|e| self.error("read", e))
    }
}

/// A token count at a glance: `950`, `12.3k`, `4.1M`.
pub fn tokens(n: i64) -> String {
    match n {
        n if n < 1_000 => n.to_string(),
        n if n < 1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        n => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// A cost as people write it: `$0.045`, `1.20 EUR`.
pub fn money(cost: &Cost) -> String {
    let digits = if cost.amount < 1.0 { 3 } else { 2 };
    match cost.currency.as_str() {
        "USD" => format!("${:.digits$}", cost.amount),
        other => format!("{:.digits$} {other}", cost.amount),
    }
}

impl Usage {
    /// One line: "12.3k tokens in, 2.1k out, $0.045; context 53.0k of 200.0k".
    pub fn describe(&self) -> String {
        let mut line = format!(
            "{} tokens in, {} out",
            tokens(self.input_tokens),
            tokens(self.output_tokens)
        );
        if let Some(cost) = &self.cost {
            line.push_str(&format!(", {}", money(cost)));
        }
        if let Some(c) = &self.context {
            line.push_str(&format!(
                "; context {} of {}",
                tokens(c.used),
                tokens(c.size)
            ));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_at_a_glance() {
        assert_eq!(tokens(950), "950");
        assert_eq!(tokens(12_345), "12.3k");
        assert_eq!(tokens(4_100_000), "4.1M");
        let usd = |amount| Cost {
            amount,
            currency: "USD".into(),
        };
        assert_eq!(money(&usd(0.045)), "$0.045");
        assert_eq!(money(&usd(12.5)), "$12.50");
        assert_eq!(
            money(&Cost {
                amount: 1.2,
                currency: "EUR".into()
            }),
            "1.20 EUR"
        );
    }
}
