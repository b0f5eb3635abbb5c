use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::output::bytes;
use super::Ctx;
use crate::error::{exit, Error, Result};
use crate::model::{format_duration, now, parse_duration, short_id, utc_time};

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Say what would be dropped; drop nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Drop the output of runs that finished longer ago than this (e.g.
    /// 30d, 12h), instead of `retention.output_after` from the config.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub older_than: Option<Duration>,
    /// One JSON document: {dry_run, older_than, cutoff, runs [{run, events,
    /// bytes}], events, bytes, database_bytes_before, database_bytes_after}.
    #[arg(long)]
    pub json: bool,
}

/// Drops the `output` events of runs that finished long ago; the runs, their
/// approvals, decisions and state changes stay. See `retention.output_after`.
pub fn run(ctx: &Ctx, args: GcArgs) -> Result<u8> {
    let config = ctx.config()?;
    let older_than = match args.older_than.or(config.retention.output_after) {
        Some(age) => age,
        None => {
            return Err(Error::usage(
                "m gc needs an age: runs' output is kept for ever unless told otherwise",
            )
            .with_hint(format!(
                "set `[retention] output_after = \"30d\"` in {}, or give `m gc --older-than 30d`",
                config.file.display()
            )))
        }
    };
    let mut store = ctx.store()?;
    let before = store.database_bytes()?;
    let cutoff = now() - older_than.as_secs() as i64;
    let runs = match args.dry_run {
        true => store.output_to_prune(cutoff)?,
        false => store.prune_old_output(older_than, "gc")?.0,
    };
    let after = store.database_bytes()?;
    let events: u64 = runs.iter().map(|r| r.events).sum();
    let dropped: u64 = runs.iter().map(|r| r.bytes).sum();
    if args.json {
        ctx.ui.json(&json!({
            "dry_run": args.dry_run,
            "older_than": format_duration(older_than),
            "cutoff": cutoff,
            "runs": runs,
            "events": events,
            "bytes": dropped,
            "database_bytes_before": before,
            "database_bytes_after": after,
        }))?;
        return Ok(exit::OK);
    }
    let when = utc_time(cutoff, now());
    if runs.is_empty() {
        ctx.ui.line(format!(
            "Nothing to drop: no run that finished before {when} ({} ago) holds output.",
            format_duration(older_than)
        ))?;
        return Ok(exit::OK);
    }
    let verb = if args.dry_run {
        "Would drop"
    } else {
        "Dropped"
    };
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    ctx.ui.line(format!(
        "{verb} {events} output event{} ({}) of {} run{} that finished before {when} ({} ago).",
        plural(events as usize),
        bytes(dropped),
        runs.len(),
        plural(runs.len()),
        format_duration(older_than)
    ))?;
    for run in runs.iter().take(10) {
        ctx.ui.line(format!(
            "  {}  {} event{}, {}",
            short_id(&run.run),
            run.events,
            plural(run.events as usize),
            bytes(run.bytes)
        ))?;
    }
    if runs.len() > 10 {
        ctx.ui.line(format!(
            "  ... and {} more runs (--json lists all)",
            runs.len() - 10
        ))?;
    }
    match args.dry_run {
        true => ctx.ui.line(
            "Their runs, approvals, decisions and state changes stay. `m gc` drops the output.",
        )?,
        false => ctx.ui.line(format!(
            "Their runs, approvals, decisions and state changes stay; each run records `run.pruned`. The database went from {} to {}.",
            bytes(before),
            bytes(after)
        ))?,
    }
    Ok(exit::OK)
}
