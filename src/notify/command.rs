//! Hook commands: a program run with the notification's JSON on stdin and
//! `M_EVENT`, `M_RUN_ID`, `M_APPROVAL_ID` (and `M_SEQ`) in its environment,
//! killed with its process group when its time is up.
//!
//! Exit 0 is delivered; exit 75 (EX_TEMPFAIL) or running out of time asks
//! for a retry; any other exit, or a program that cannot start, is dropped.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::message::{one_line, webhook_body};
use super::sink::{Sink, Target};
use super::{BoxFuture, Outcome};
use crate::config::notify::CommandSettings;
use crate::model::{DeviceInfo, Notification, Trigger};
use crate::process;

/// sysexits.h: "temporary failure; the user is invited to retry".
const EX_TEMPFAIL: i32 = 75;
/// How long a command's leftover children get after SIGTERM.
const KILL_GRACE: Duration = Duration::from_secs(1);
/// How much of stderr is kept for the log.
const STDERR_KEEP: usize = 4096;

/// Runs the hook command for `n`, feeding it `body` (the JSON) on stdin.
pub async fn run_hook(command: &CommandSettings, n: &Notification, body: &Value) -> Outcome {
    let mut cmd = Command::new(&command.argv[0]);
    cmd.args(&command.argv[1..])
        .env("M_EVENT", n.event_name())
        .env("M_RUN_ID", n.run_id.as_deref().unwrap_or(""))
        .env("M_APPROVAL_ID", n.approval_id.as_deref().unwrap_or(""))
        .env("M_SEQ", n.seq.map(|s| s.to_string()).unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    process::configure(&mut cmd);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Outcome::Drop {
                reason: format!("cannot run {}: {e}", command.argv[0]),
            }
        }
    };
    let pgid = child.id().map(|id| id as i32).unwrap_or(0);

    // Feed stdin and read stderr beside the wait, so neither pipe can fill
    // up and stall the command. A command that ignores stdin is fine.
    let mut stdin = child.stdin.take();
    let input = format!("{body}\n");
    let feed = async move {
        if let Some(stdin) = stdin.as_mut() {
            let _ = stdin.write_all(input.as_bytes()).await;
        }
        drop(stdin);
    };
    let mut stderr = child.stderr.take();
    let read_stderr = tokio::spawn(async move {
        let mut kept = Vec::new();
        if let Some(stderr) = stderr.as_mut() {
            let mut chunk = [0u8; 1024];
            while let Ok(n) = stderr.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                let room = STDERR_KEEP.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
        kept
    });

    let waited = tokio::time::timeout(command.timeout, async {
        feed.await;
        child.wait().await
    })
    .await;
    let status = match waited {
        Ok(status) => status,
        Err(_) => {
            process::terminate_group(&mut child, pgid, KILL_GRACE).await;
            read_stderr.abort();
            return Outcome::Retry {
                reason: format!(
                    "{} ran out of time after {:?} and was killed",
                    command.argv[0], command.timeout
                ),
            };
        }
    };
    // Something the command left running may keep stderr open: wait a little.
    let stderr = match tokio::time::timeout(KILL_GRACE, read_stderr).await {
        Ok(Ok(bytes)) => one_line(&String::from_utf8_lossy(&bytes), 300),
        _ => String::new(),
    };
    let said = |what: String| {
        if stderr.is_empty() {
            what
        } else {
            format!("{what}: {stderr}")
        }
    };
    match status {
        Ok(status) if status.success() => Outcome::Delivered,
        Ok(status) if status.code() == Some(EX_TEMPFAIL) => Outcome::Retry {
            reason: said(format!(
                "{} exited with {EX_TEMPFAIL} (try again)",
                command.argv[0]
            )),
        },
        Ok(status) => Outcome::Drop {
            reason: said(format!("{} failed ({status})", command.argv[0])),
        },
        Err(e) => Outcome::Retry {
            reason: format!("cannot wait for {}: {e}", command.argv[0]),
        },
    }
}

/// A `[[notify.command]]`: a program run here with the notification.
pub struct CommandSink {
    pub command: CommandSettings,
}

impl Sink for CommandSink {
    fn name(&self) -> &str {
        &self.command.name
    }

    fn wants(&self, trigger: Trigger) -> bool {
        self.command.events.contains(&trigger)
    }

    fn targets(&self, _: &[DeviceInfo]) -> Vec<Target> {
        vec![Target {
            key: format!("command:{}", self.command.name),
            label: format!("command {}", self.command.name),
            device: None,
        }]
    }

    fn send(&self, n: Arc<Notification>, _: &Target) -> BoxFuture<'static, Outcome> {
        // Hook commands run here, on this machine: they get the full text.
        let body = webhook_body(&n, false);
        let command = self.command.clone();
        Box::pin(async move { run_hook(&command, &n, &body).await })
    }
}
