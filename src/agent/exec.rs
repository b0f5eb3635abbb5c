//! The exec adapter: any command is an agent. Its output lines become
//! `output` events; exit 0 completes the run, anything else fails it.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{AgentOutcome, ReviewOutcome, RunContext, Verdict};
use crate::model::EventType;
use crate::process::{self, keeper::Keeper, keeper::Start};

/// An `output` event never holds more than this many bytes of text; a longer
/// line is split across events (marked `partial`), never dropped.
pub const MAX_OUTPUT_CHUNK: usize = 64 * 1024;
const STDERR_TAIL_LINES: usize = 20;

pub async fn run(argv: &[String], ctx: RunContext, grace: Duration) -> AgentOutcome {
    let Some((program, args)) = argv.split_first() else {
        return failed("no agent command was given".into(), None, Vec::new());
    };
    // The prompt is always in the file M_PROMPT_FILE names; in M_PROMPT too
    // when the system lets an environment variable hold it.
    let mut env = ctx.launch.agent_env();
    if process::prompt_fits_env(&ctx.launch.prompt, argv, &ctx.launch.env) {
        env.push(("M_PROMPT".into(), ctx.launch.prompt.clone().into()));
    }
    let start = Start {
        workspace: &ctx.launch.workspace,
        env,
        stdin: Stdio::null(),
        grace,
        m_binary: &ctx.launch.m_binary,
        cgroup: ctx.launch.cgroup.as_deref(),
    };
    let missing = || {
        format!(
            "cannot start the agent command: {}",
            process::not_found(program)
        )
    };
    let mut keeper = match start_agent(program, args, start, missing).await {
        Ok(keeper) => keeper,
        Err(failure) => return failure,
    };
    ctx.spawned(keeper.pid).await;
    let stdout = keeper
        .process
        .stdout
        .take()
        .map(|out| Pump::spawn(out, "stdout", &ctx, 0));
    let stderr = keeper
        .process
        .stderr
        .take()
        .map(|err| Pump::spawn(err, "stderr", &ctx, STDERR_TAIL_LINES));

    let status = tokio::select! {
        status = keeper.agent_exited() => Some(status),
        _ = ctx.cancelled() => None,
    };
    // The run ends with its agent: whatever the agent left running (a
    // server started with `&`, a daemonised grandchild holding the output
    // pipes) gets the grace period, and then the keeper kills it.
    match status {
        None => keeper.terminate(grace).await,
        Some(_) => keeper.wait_gone(grace).await,
    }
    // Nothing of the run is left to hold the pipes; what they still hold is
    // read to its end.
    if let Some(out) = stdout {
        out.drain(DRAIN).await;
    }
    let stderr_tail = match stderr {
        Some(err) => err.drain(DRAIN).await.unwrap_or_default(),
        None => Vec::new(),
    };
    match status {
        None => AgentOutcome::Cancelled,
        Some(Some(status)) if status.success() => review(&ctx).await,
        Some(Some(status)) => {
            use std::os::unix::process::ExitStatusExt;
            let reason = match (status.code(), status.signal()) {
                (Some(code), _) => format!("the agent exited with status {code}"),
                (None, Some(signal)) => format!("the agent was killed by signal {signal}"),
                _ => "the agent ended abnormally".to_string(),
            };
            failed(reason, status.code(), stderr_tail)
        }
        Some(None) => failed(
            "the agent's keeper was killed before the agent exited".into(),
            None,
            stderr_tail,
        ),
    }
}

/// How long a pipe's reader may wait for the pipe once nothing of the run
/// is left to write to it.
const DRAIN: Duration = Duration::from_secs(2);

/// A pipe's reader ([`pump_output`]) running on its own task.
pub struct Pump {
    task: tokio::task::JoinHandle<Vec<String>>,
    /// Whether it is waiting for its events to be taken (the run's output
    /// budget is full: the disk is full, or slow), not for the pipe.
    storing: Arc<AtomicBool>,
}

impl Pump {
    pub fn spawn(
        stream: impl AsyncRead + Unpin + Send + 'static,
        name: &'static str,
        ctx: &RunContext,
        keep_tail: usize,
    ) -> Pump {
        let ctx = ctx.clone();
        let storing = Arc::new(AtomicBool::new(false));
        let flag = storing.clone();
        let task =
            tokio::spawn(async move { pump_output(stream, name, &ctx, keep_tail, &flag).await });
        Pump { task, storing }
    }

    /// Waits for the reader to reach the end of its pipe; gives up (and
    /// returns None) once it has waited `limit` for the pipe itself: should
    /// anything outside the run still hold it (a keeper that had to be
    /// killed leaves its orphans to init), the run ends all the same. Time
    /// spent waiting for the output to be stored does not count: what was
    /// read is stored, however long the disk stays full.
    pub async fn drain(self, limit: Duration) -> Option<Vec<String>> {
        const TICK: Duration = Duration::from_millis(100);
        let Pump { mut task, storing } = self;
        let mut waited = Duration::ZERO;
        loop {
            match tokio::time::timeout(TICK, &mut task).await {
                Ok(result) => return result.ok(),
                Err(_) if storing.load(Ordering::Relaxed) => waited = Duration::ZERO,
                Err(_) => {
                    waited += TICK;
                    if waited >= limit {
                        task.abort();
                        return None;
                    }
                }
            }
        }
    }
}

/// A command cannot take another turn: a rejected review fails the run.
async fn review(ctx: &RunContext) -> AgentOutcome {
    if !ctx.launch.review {
        return AgentOutcome::Completed;
    }
    match ctx.request_review().await {
        ReviewOutcome::Verdict(Verdict::Approved { .. }) | ReviewOutcome::NothingToReview => {
            AgentOutcome::Completed
        }
        ReviewOutcome::Verdict(Verdict::Rejected { reason }) => failed(
            format!("the review was rejected: {reason}"),
            Some(0),
            Vec::new(),
        ),
        ReviewOutcome::Verdict(Verdict::RunEnded) => AgentOutcome::Cancelled,
        // The agent exited well; it did not fail by exiting.
        ReviewOutcome::CannotPrepare { reason } => failed(reason, None, Vec::new()),
    }
}

/// A failed run, with the agent's exit code and last lines of stderr if any.
/// Starts the agent under its keeper; else the run's failure, saying
/// `missing()` when there is no such command.
pub(super) async fn start_agent(
    program: &str,
    args: &[String],
    start: Start<'_>,
    missing: impl FnOnce() -> String,
) -> Result<Keeper, AgentOutcome> {
    Keeper::start(program, args, start).await.map_err(|e| {
        let reason = if e.kind() == std::io::ErrorKind::NotFound {
            missing()
        } else {
            format!("cannot start agent command '{program}': {e}")
        };
        failed(reason, None, Vec::new())
    })
}

pub(super) fn failed(
    reason: String,
    exit_code: Option<i32>,
    stderr_tail: Vec<String>,
) -> AgentOutcome {
    AgentOutcome::Failed {
        reason,
        exit_code,
        stderr_tail,
    }
}

/// Turns a stream into `output` events. The lines that arrive together
/// become one event: a line printed alone is sent at once, while a flood is
/// batched, so the cost per line falls as the rate rises. A line longer than
/// [`MAX_OUTPUT_CHUNK`] goes out in pieces marked `partial`. Keeps the last
/// `keep_tail` lines for the run's final event.
async fn pump_output(
    mut stream: impl AsyncRead + Unpin,
    name: &str,
    ctx: &RunContext,
    keep_tail: usize,
    storing: &AtomicBool,
) -> Vec<String> {
    let mut pending: Vec<u8> = Vec::with_capacity(MAX_OUTPUT_CHUNK);
    let mut read_buf = vec![0u8; MAX_OUTPUT_CHUNK];
    let mut tail: VecDeque<String> = VecDeque::new();
    loop {
        let room = MAX_OUTPUT_CHUNK - pending.len();
        let n = stream.read(&mut read_buf[..room]).await.unwrap_or_default();
        pending.extend_from_slice(&read_buf[..n]);
        let at_end = n == 0;
        let (lines, used, partial) = split_lines(&pending, at_end);
        pending.drain(..used);
        if !lines.is_empty() {
            remember(&mut tail, &lines, keep_tail);
            // The lines move into the event (`json!` would copy each one).
            let mut data = Map::new();
            data.insert("stream".into(), Value::String(name.into()));
            let lines = lines.into_iter().map(Value::String).collect();
            data.insert("lines".into(), Value::Array(lines));
            if partial {
                data.insert("partial".into(), Value::Bool(true));
            }
            storing.store(true, Ordering::Relaxed);
            ctx.emit(EventType::Output, Value::Object(data)).await;
            storing.store(false, Ordering::Relaxed);
        }
        if at_end {
            break;
        }
    }
    tail.into()
}

fn remember(tail: &mut VecDeque<String>, lines: &[String], keep: usize) {
    for line in lines.iter().skip(lines.len().saturating_sub(keep)) {
        if tail.len() == keep {
            tail.pop_front();
        }
        tail.push_back(line.clone());
    }
}

/// Splits the complete lines off the front of `pending`. Returns the lines,
/// the bytes they used, and whether the last one is a piece of a longer line.
/// An unfinished line waits for its newline unless the buffer is full or the
/// stream has ended.
fn split_lines(pending: &[u8], at_end: bool) -> (Vec<String>, usize, bool) {
    let text = |bytes: &[u8]| {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        String::from_utf8_lossy(bytes).into_owned()
    };
    match pending.iter().rposition(|&b| b == b'\n') {
        Some(last_newline) => {
            let block = &pending[..last_newline];
            // Valid UTF-8 (nearly always) is checked once for the whole
            // block, by the fast validator, rather than line by line by the
            // lossy decoder: a tenth of the daemon's time under a flood.
            let lines = match std::str::from_utf8(block) {
                Ok(block) => block
                    .split('\n')
                    .map(|line| line.strip_suffix('\r').unwrap_or(line).to_owned())
                    .collect(),
                Err(_) => block.split(|&b| b == b'\n').map(text).collect(),
            };
            (lines, last_newline + 1, false)
        }
        None if pending.is_empty() => (Vec::new(), 0, false),
        None if pending.len() >= MAX_OUTPUT_CHUNK => (vec![text(pending)], pending.len(), true),
        None if at_end => (vec![text(pending)], pending.len(), false),
        None => (Vec::new(), 0, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_lines_are_split_and_the_rest_kept() {
        let (lines, used, partial) = split_lines(b"a\nbb\r\nccc", false);
        assert_eq!(lines, ["a", "bb"]);
        assert_eq!(used, 6);
        assert!(!partial);
    }

    #[test]
    fn an_unfinished_line_waits_until_the_stream_ends() {
        assert_eq!(split_lines(b"abc", false), (vec![], 0, false));
        assert_eq!(
            split_lines(b"abc", true),
            (vec!["abc".to_string()], 3, false)
        );
    }

    #[test]
    fn a_full_buffer_without_newline_is_a_partial_line() {
        let chunk = vec![b'x'; MAX_OUTPUT_CHUNK];
        let (lines, used, partial) = split_lines(&chunk, false);
        assert_eq!(lines.len(), 1);
        assert_eq!(used, MAX_OUTPUT_CHUNK);
        assert!(partial);
    }

    #[test]
    fn invalid_utf8_is_kept_lossily() {
        let (lines, _, _) = split_lines(b"\xff\xfeok\n", false);
        assert_eq!(lines, ["\u{fffd}\u{fffd}ok"]);
        let (lines, _, _) = split_lines(b"fine\r\nbad \xff\r\n\xc3\xa9\n", false);
        assert_eq!(lines, ["fine", "bad \u{fffd}", "\u{e9}"]);
    }
}
