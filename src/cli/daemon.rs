use clap::Subcommand;

use super::output::relative_time;
use super::Ctx;
use crate::client::{self, Client};
use crate::error::{exit, Error, Result};
use crate::model::now;
use crate::protocol::{DaemonHealth, Request, Response};
use crate::service;

#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Run the daemon in the foreground (for systemd, launchd and debugging).
    Run,
    /// Start the daemon in the background, if it is not running.
    Start,
    /// Stop the daemon; its active runs end as failed, saying why.
    Stop,
    /// Say whether the daemon runs (exit 0) or not (exit 5).
    Status {
        /// One JSON document: {running, daemon}, daemon being null or as in
        /// `m status --json`.
        #[arg(long)]
        json: bool,
    },
    /// Run the daemon as a user service: write a systemd unit (Linux) or a
    /// launchd agent (macOS) for this binary, and print how to enable it.
    ///
    /// The file: ~/.config/systemd/user/m.service ($XDG_CONFIG_HOME is
    /// honoured) or ~/Library/LaunchAgents/local.m.daemon.plist. It carries
    /// M_HOME (when set) and this shell's PATH, so agents are found. While it
    /// is installed, commands wait for the service's daemon instead of
    /// starting one. Installing again rewrites it.
    Install,
    /// Remove the file `m daemon install` wrote; commands start the daemon
    /// themselves again.
    Uninstall,
}

pub fn run(ctx: &Ctx, cmd: DaemonCommand) -> Result<u8> {
    match cmd {
        DaemonCommand::Install => install(ctx),
        DaemonCommand::Uninstall => uninstall(ctx),
        DaemonCommand::Run => {
            // The daemon keeps nothing its starter left open (an agent
            // would inherit it): it has stdin, stdout and stderr, and what
            // it opens itself, all close-on-exec.
            crate::process::close_from(3);
            crate::daemon::log::init();
            crate::daemon::run(ctx.paths.clone())?;
            Ok(exit::OK)
        }
        DaemonCommand::Start => {
            if Client::try_connect(&ctx.paths)?.is_none() {
                if let Some(installed) = service::installed_for(&ctx.paths) {
                    return Err(Error::conflict(format!(
                        "the daemon runs as a {} service here ({}); m does not start a second one",
                        installed.manager.name(),
                        installed.file.display()
                    ))
                    .with_hint(format!(
                        "start it with `{}`, or `m daemon uninstall` to let m start it itself",
                        installed.manager.start_command()
                    )));
                }
                client::start_daemon(&ctx.paths)?;
            }
            let status = status(ctx)?
                .ok_or_else(|| Error::failure("the daemon stopped right after starting"))?;
            ctx.ui
                .line(format!("m daemon running (pid {})", status.pid))?;
            Ok(exit::OK)
        }
        DaemonCommand::Stop => {
            let Some((client, _)) = Client::try_connect(&ctx.paths)? else {
                ctx.ui.line("m daemon is not running")?;
                return Ok(exit::OK);
            };
            client.request(&Request::Shutdown)?;
            client::wait_until_gone(&ctx.paths)?;
            ctx.ui.line("m daemon stopped")?;
            Ok(exit::OK)
        }
        DaemonCommand::Status { json } => {
            let status = status(ctx)?;
            if json {
                // `remote` also at the top: `jq -r .remote.url`.
                let remote = status.as_ref().and_then(|s| s.remote.clone());
                ctx.ui.json(&serde_json::json!({
                    "running": status.is_some(),
                    "daemon": status,
                    "remote": remote,
                }))?;
            } else {
                match &status {
                    Some(s) => {
                        ctx.ui.line(format!(
                            "m daemon running: pid {}, version {}, up since {}, {} active run(s)",
                            s.pid,
                            s.version,
                            relative_time(s.started_at, now()),
                            s.active_runs.len()
                        ))?;
                        ctx.ui.line(format!("socket: {}", s.socket))?;
                        if let Some(c) = &s.containment {
                            ctx.ui.line(match (&c.cgroup, &c.reason) {
                                (Some(dir), _) => format!(
                                    "containment: a cgroup v2 per run under {dir}, and a keeper"
                                ),
                                (_, Some(reason)) => {
                                    format!("containment: a keeper per run; no cgroups: {reason}")
                                }
                                _ => format!("containment: {}", c.mechanism),
                            })?;
                        }
                        if let Some(remote) = &s.remote {
                            ctx.ui.line(format!(
                                "remote API: {} (certificate SHA-256 {})",
                                remote.url, remote.fingerprint
                            ))?;
                        }
                        for (label, line) in health_lines(&s.health, now()) {
                            ctx.ui.line(if label.is_empty() {
                                format!("  {line}")
                            } else {
                                format!("{label}: {line}")
                            })?;
                        }
                    }
                    None => ctx.ui.line("m daemon is not running")?,
                }
            }
            Ok(if status.is_some() {
                exit::OK
            } else {
                exit::DAEMON_UNAVAILABLE
            })
        }
    }
}

fn install(ctx: &Ctx) -> Result<u8> {
    let (installed, replaced) = service::install(&ctx.paths)?;
    let manager = installed.manager;
    let exe = installed
        .exe
        .as_ref()
        .map(|e| e.display().to_string())
        .unwrap_or_default();
    ctx.ui.line(format!(
        "{} {} (it runs `{exe} daemon run` for {}).",
        if replaced { "Rewrote" } else { "Wrote" },
        installed.file.display(),
        ctx.paths.data_dir.display()
    ))?;
    if let Some(status) = status(ctx)? {
        ctx.ui.line(format!(
            "A daemon m started is running now (pid {}): stop it first with `m daemon stop`.",
            status.pid
        ))?;
    }
    ctx.ui.line("Enable and start it with:")?;
    ctx.ui
        .line(format!("  {}", manager.enable_command(&installed.file)))?;
    ctx.ui.line(format!("Logs: {}", manager.logs(&ctx.paths)))?;
    ctx.ui.line(
        "It has this shell's PATH, to find agents: after changing PATH, run `m daemon install` again.",
    )?;
    Ok(exit::OK)
}

fn uninstall(ctx: &Ctx) -> Result<u8> {
    match service::uninstall()? {
        Some(removed) => {
            ctx.ui
                .line(format!("Removed {}.", removed.file.display()))?;
            ctx.ui.line(format!(
                "If the service still runs, stop it with: {}",
                removed.manager.unload_command()
            ))?;
        }
        None => {
            let file = service::Manager::native().file()?;
            ctx.ui.line(format!(
                "No m service is installed ({} does not exist).",
                file.display()
            ))?;
        }
    }
    Ok(exit::OK)
}

/// The daemon's status, or `None` when none runs (never starts one).
pub fn status(ctx: &Ctx) -> Result<Option<crate::protocol::DaemonStatus>> {
    let Some((client, _)) = Client::try_connect(&ctx.paths)? else {
        return Ok(None);
    };
    match client.request(&Request::Status)? {
        Response::Status(status) => Ok(Some(status)),
        other => Err(Error::failure(format!(
            "unexpected answer from the daemon: {other:?}"
        ))),
    }
}

/// How the daemon itself stands, as labelled lines (`m status`, `m daemon
/// status`): its writer, its last commit error, its disk, its log.
pub fn health_lines(health: &DaemonHealth, now: i64) -> Vec<(&'static str, String)> {
    let mut lines = vec![(
        "writer",
        match health.writer.as_str() {
            "waiting_for_space" => format!(
                "waiting for disk space ({} batch(es) of output kept in order; agents are slowed until it is stored)",
                health.unstored_batches
            ),
            other => other.to_string(),
        },
    )];
    if let Some(error) = &health.last_commit_error {
        let when = health
            .last_commit_error_at
            .map(|at| format!(" ({})", relative_time(at, now)))
            .unwrap_or_default();
        lines.push(("", format!("last commit error{when}: {error}")));
    }
    if let Some(free) = health.free_bytes {
        lines.push(("disk", format!("{} free", super::output::bytes(free))));
    }
    if health.log_write_failures > 0 {
        lines.push((
            "log",
            format!(
                "{} line(s) could not be written (dropped)",
                health.log_write_failures
            ),
        ));
    }
    lines
}
