use clap::Subcommand;

use super::output::relative_time;
use super::Ctx;
use crate::client::{self, Client};
use crate::error::{exit, Error, Result};
use crate::model::now;
use crate::protocol::{Request, Response};

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
        #[arg(long)]
        json: bool,
    },
}

pub fn run(ctx: &Ctx, cmd: DaemonCommand) -> Result<u8> {
    match cmd {
        DaemonCommand::Run => {
            init_logging();
            crate::daemon::run(ctx.paths.clone())?;
            Ok(exit::OK)
        }
        DaemonCommand::Start => {
            if Client::try_connect(&ctx.paths)?.is_none() {
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
                ctx.ui
                    .json(&serde_json::json!({ "running": status.is_some(), "daemon": status }))?;
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

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("M_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
