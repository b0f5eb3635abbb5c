use clap::Args;
use serde_json::{json, Value};

use super::output::{one_line, relative_time};
use super::Ctx;
use crate::error::{exit, Result};
use crate::model::{now, short_id, ApprovalState, RunState};
use crate::notify::Dispatcher;
use crate::service;
use crate::store::{usage, RunFilter};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// One JSON document: {daemon (null when not running; with
    /// uptime_seconds and notifications), socket, service (null when not
    /// installed), notifications {source: daemon|config, health},
    /// active_runs, pending_approvals, usage: [{repo_id, repo, runs,
    /// input_tokens, output_tokens, cost: [{amount, currency}]}]}.
    #[arg(long)]
    pub json: bool,
}

/// The daemon, the active runs and what waits for a human, on one screen.
pub fn run(ctx: &Ctx, args: StatusArgs) -> Result<u8> {
    let daemon = super::daemon::status(ctx)?;
    let store = ctx.store()?;
    let active = store.list_runs(&RunFilter {
        states: RunState::ACTIVE.to_vec(),
        ..RunFilter::default()
    })?;
    let pending = store.count_approvals(ApprovalState::Pending)?;
    let usage = store.usage_by_repo()?;
    let repo_name = |id: &str| {
        store
            .get_repo(id)
            .map(|r| r.name)
            .unwrap_or_else(|_| short_id(id).to_string())
    };
    let service = service::installed_for(&ctx.paths);
    let socket = ctx.paths.socket();
    let now = now();
    let config = ctx.config()?;
    // The daemon's own view (with delivery counts) when it runs; else what
    // the config file would give.
    let notifications = match &daemon {
        Some(d) => json!({ "source": "daemon", "health": d.notifications }),
        None => json!({
            "source": "config",
            "health": Dispatcher::from_config(&config.notify).health(),
        }),
    };
    if args.json {
        let daemon = daemon.as_ref().map(|d| {
            let mut value = json!(d);
            value["uptime_seconds"] = json!((now - d.started_at).max(0));
            value
        });
        let service = service
            .as_ref()
            .map(|s| json!({ "manager": s.manager.name(), "file": s.file, "exe": s.exe }));
        ctx.ui.json(&json!({
            "daemon": daemon,
            "socket": socket,
            "service": service,
            "notifications": notifications,
            "active_runs": active,
            "pending_approvals": pending,
            "usage": usage
                .iter()
                .map(|u| {
                    let mut value = json!(u);
                    value["repo"] = json!(repo_name(&u.repo_id));
                    value
                })
                .collect::<Vec<_>>(),
        }))?;
        return Ok(exit::OK);
    }
    match (&daemon, &service) {
        (Some(d), _) => ctx.ui.line(format!(
            "daemon    running (pid {}, version {}, up {})",
            d.pid,
            d.version,
            uptime(now - d.started_at)
        ))?,
        (None, Some(s)) => ctx.ui.line(format!(
            "daemon    not running (it runs as a {} service: `{}`)",
            s.manager.name(),
            s.manager.start_command()
        ))?,
        (None, None) if config.daemon.autostart => ctx
            .ui
            .line("daemon    not running (the next run starts it)")?,
        (None, None) => ctx
            .ui
            .line("daemon    not running (autostart is off: `m daemon start`)")?,
    }
    if let Some(d) = &daemon {
        for (label, line) in super::daemon::health_lines(&d.health, now) {
            ctx.ui.line(format!("{label:<9} {line}"))?;
        }
    }
    ctx.ui.line(format!("socket    {}", socket.display()))?;
    if let Some(s) = &service {
        ctx.ui.line(format!(
            "service   {} ({})",
            s.manager.name(),
            s.file.display()
        ))?;
    }
    let live = notifications["source"] == "daemon";
    for (i, line) in notify_lines(&notifications["health"], live)
        .iter()
        .enumerate()
    {
        let label = if i == 0 { "notify" } else { "" };
        ctx.ui.line(format!("{label:<9} {line}"))?;
    }
    ctx.ui.line(format!("runs      {} active", active.len()))?;
    if daemon.is_none() && !active.is_empty() {
        // Active in the database with no daemon: it stopped or crashed.
        ctx.ui.line(
            "          (no daemon owns them: `m daemon start` fails them and ends what is left of their agents)",
        )?;
    }
    for run in &active {
        ctx.ui.line(format!(
            "          {}  {}  {}  {}",
            short_id(&run.id),
            ctx.ui.run_state(run.state),
            relative_time(run.created_at, now),
            one_line(&run.prompt, 50)
        ))?;
    }
    for (i, repo) in usage.iter().enumerate() {
        let label = if i == 0 { "usage" } else { "" };
        let mut line = format!(
            "{} tokens in, {} out",
            usage::tokens(repo.input_tokens),
            usage::tokens(repo.output_tokens)
        );
        for cost in &repo.cost {
            line.push_str(&format!(", {}", usage::money(cost)));
        }
        let runs = if repo.runs == 1 { "run" } else { "runs" };
        ctx.ui.line(format!(
            "{label:<9} {}: {line} ({} {runs})",
            repo_name(&repo.repo_id),
            repo.runs
        ))?;
    }
    ctx.ui.line(format!(
        "approvals {pending} pending{}",
        if pending > 0 {
            " (see `m approvals`)"
        } else {
            ""
        }
    ))?;
    Ok(exit::OK)
}

/// Notification health in a line (with delivery counts from a running
/// daemon), then one line per problem.
fn notify_lines(health: &Value, live: bool) -> Vec<String> {
    let count = |key: &str| health[key].as_u64().unwrap_or(0);
    let push = match health["apns"]["status"].as_str() {
        Some("ready") => "push ready".to_string(),
        Some("unavailable") => "push unavailable".to_string(),
        _ => "push not configured".to_string(),
    };
    let mut first = format!(
        "{push}, {} webhook(s), {} hook command(s)",
        count("webhooks"),
        count("commands")
    );
    if live {
        first.push_str(&format!(
            "; delivered {}, retried {}, failed {}",
            count("delivered"),
            count("retried"),
            count("failed")
        ));
    }
    let mut lines = vec![first];
    for problem in health["problems"].as_array().into_iter().flatten() {
        lines.push(format!("problem: {}", problem.as_str().unwrap_or_default()));
    }
    if let Some(error) = health["last_error"].as_str() {
        lines.push(format!("last error: {error}"));
    }
    lines
}

/// `42s`, `3m 12s`, `5h 3m`, `2d 4h`.
fn uptime(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m {}s", secs / 60, secs % 60),
        3600..=86_399 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uptime_reads_at_a_glance() {
        assert_eq!(super::uptime(42), "42s");
        assert_eq!(super::uptime(192), "3m 12s");
        assert_eq!(super::uptime(5 * 3600 + 180), "5h 3m");
        assert_eq!(super::uptime(2 * 86_400 + 4 * 3600), "2d 4h");
    }
}
