//! The agent's stdio: the reader and writer tasks, one JSON-RPC message a
//! line, and [`Driver::pump`], the loop that takes what the agent says,
//! what humans decide and cancellation, in that order.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::protocol::{self, code, Incoming};
use super::*;
use crate::model::EventType;

impl Driver {
    /// Serves the agent until `want` arrives, the run is cancelled, the
    /// agent is gone, or `deadline` passes.
    pub(super) async fn pump(
        &mut self,
        want: Want,
        deadline: Option<Instant>,
    ) -> Result<Got, Stop> {
        loop {
            match self.wake(deadline).await {
                Wake::Agent(Incoming::Response { id, result }) => {
                    if matches!(want, Want::Response(w) if is_id(&id, w)) {
                        return Ok(Got::Response(result));
                    }
                    // The answer to a request m stopped waiting for.
                }
                Wake::Agent(message) => self.handle_agent(message).await,
                Wake::Human(done) if done.answer.run_ended() && !self.cancelling => {
                    // Left in `pending`: the cancel answers it, after
                    // `session/cancel`.
                    return Err(Stop::Cancelled);
                }
                Wake::Human(done) => {
                    if want == Want::Human(done.key) {
                        return Ok(Got::Human(done.answer));
                    }
                    self.answer_agent(done).await;
                }
                Wake::Exited(status) => {
                    self.exit_status = status;
                    self.drain_until = Some(Instant::now() + EXIT_DRAIN);
                }
                Wake::Closed => {
                    self.incoming_closed = true;
                    return Err(Stop::AgentGone);
                }
                Wake::Flush => self.flush_text().await,
                Wake::Cancelled => return Err(Stop::Cancelled),
                Wake::Deadline => return Err(Stop::Timeout),
            }
        }
    }

    /// The next thing to do. Only waits: nothing here is lost if another
    /// branch wins.
    async fn wake(&mut self, deadline: Option<Instant>) -> Wake {
        let never = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let flush_at = self.text.as_ref().map(|t| t.since + TEXT_FLUSH_AFTER);
        let watch_exit = self.exit_status.is_none() && self.drain_until.is_none();
        let watch_cancel = !self.cancelling;
        tokio::select! {
            biased;
            // Rare events first, so that a chatty agent cannot starve them.
            _ = self.ctx.cancelled(), if watch_cancel => Wake::Cancelled,
            Some(done) = self.humans_rx.recv() => Wake::Human(done),
            _ = tokio::time::sleep_until(deadline.unwrap_or(never)), if deadline.is_some() => Wake::Deadline,
            message = self.incoming.recv(), if !self.incoming_closed => match message {
                Some(message) => Wake::Agent(message),
                None => Wake::Closed,
            },
            // After the agent's messages: chunks already received join the
            // text held back even when m itself was slow to read them (a
            // text never outgrows MAX_OUTPUT_CHUNK, so nothing starves).
            _ = tokio::time::sleep_until(flush_at.unwrap_or(never)), if flush_at.is_some() => Wake::Flush,
            status = self.child.agent_exited(), if watch_exit => Wake::Exited(status),
            _ = tokio::time::sleep_until(self.drain_until.unwrap_or(never)), if self.drain_until.is_some() => Wake::Closed,
        }
    }

    async fn handle_agent(&mut self, message: Incoming) {
        match message {
            Incoming::Notification { method, params } if method == "session/update" => {
                self.on_update(params).await
            }
            Incoming::Notification { method, params } if method == "$/cancel_request" => {
                self.on_cancel_request(params).await
            }
            Incoming::Notification { method, params } => {
                self.flush_text().await;
                self.ctx
                    .emit(
                        EventType::AgentUpdate,
                        json!({ "method": method, "params": params }),
                    )
                    .await;
            }
            Incoming::Request { id, method, params } => match method.as_str() {
                "session/request_permission" => self.on_permission(id, params).await,
                "elicitation/create" => self.on_elicitation(id, params).await,
                _ => {
                    self.send(protocol::error_response(
                        &id,
                        code::METHOD_NOT_FOUND,
                        &format!("method not found: {method}"),
                    ));
                    // The agent's mistake, not the run's: m offered no
                    // such thing, and the agent carries on without it.
                    let why = if method.starts_with("fs/") || method.starts_with("terminal/") {
                        "m offers agents no file system or terminal (its initialize says so): they work in the run's workspace themselves"
                    } else {
                        "m does not know this method"
                    };
                    self.flush_text().await;
                    self.ctx
                        .emit(
                            EventType::AgentRefused,
                            json!({ "message": format!("the agent called {method}, which m refused: {why}"), "method": method }),
                        )
                        .await;
                }
            },
            Incoming::Malformed { line, error } => {
                self.ctx
                    .emit(
                        EventType::Error,
                        json!({
                            "message": format!("skipped a line from the agent that is not a JSON-RPC message: {error}"),
                            "line": excerpt(&line),
                        }),
                    )
                    .await;
            }
            Incoming::Response { .. } => {}
        }
    }

    pub(super) fn send_request(&mut self, method: &str, params: Value) -> i64 {
        self.next_id += 1;
        let id = self.next_id;
        self.send(protocol::request(id, method, params));
        id
    }

    pub(super) fn respond(&self, id: &Value, result: Value) {
        self.send(protocol::response(id, result));
    }

    pub(super) fn send(&self, line: String) {
        if let Some(out) = &self.out {
            let _ = out.send(line);
        }
    }
}

/// Reads the agent's stdout, one JSON-RPC message a line.
pub(super) async fn read_messages(mut reader: BufReader<ChildStdout>, tx: mpsc::Sender<Incoming>) {
    let mut line = Vec::new();
    loop {
        line.clear();
        let (read, complete) = match read_line_capped(&mut reader, &mut line, MAX_LINE).await {
            Ok(r) => r,
            Err(_) => break,
        };
        if read == 0 {
            break;
        }
        let message = if !complete {
            Incoming::Malformed {
                line: excerpt(&String::from_utf8_lossy(&line)),
                error: format!("a line longer than {} MiB", MAX_LINE / (1024 * 1024)),
            }
        } else {
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            Incoming::parse(text)
        };
        if tx.send(message).await.is_err() {
            break;
        }
    }
}

/// Reads up to and including the next newline, keeping at most `cap`
/// bytes of it. Returns the bytes read and whether the line fitted.
async fn read_line_capped(
    reader: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<(usize, bool)> {
    let mut read = 0;
    let mut fits = true;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok((read, fits));
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(&buf[..take.min(room)]);
        fits &= take <= room;
        reader.consume(take);
        read += take;
        if done {
            return Ok((read, fits));
        }
    }
}

pub(super) async fn write_messages(mut stdin: ChildStdin, mut rx: mpsc::UnboundedReceiver<String>) {
    while let Some(mut line) = rx.recv().await {
        line.push('\n');
        if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
            break;
        }
    }
}

fn excerpt(line: &str) -> String {
    if line.len() <= LINE_EXCERPT {
        return line.to_string();
    }
    let mut end = LINE_EXCERPT;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &line[..end])
}

/// Whether `id` is m's request id `ours` (an agent may echo it as a string).
fn is_id(id: &Value, ours: i64) -> bool {
    id.as_i64() == Some(ours) || id.as_str() == Some(ours.to_string().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn long_lines_are_cut_and_reported() {
        let data: &[u8] = b"short\nabcdefghij\nend";
        let mut reader = tokio::io::BufReader::with_capacity(4, data);
        let mut line = Vec::new();
        assert_eq!(
            read_line_capped(&mut reader, &mut line, 8).await.unwrap(),
            (6, true)
        );
        assert_eq!(line, b"short\n");
        line.clear();
        assert_eq!(
            read_line_capped(&mut reader, &mut line, 8).await.unwrap(),
            (11, false)
        );
        assert_eq!(line, b"abcdefgh");
        line.clear();
        assert_eq!(
            read_line_capped(&mut reader, &mut line, 8).await.unwrap(),
            (3, true)
        );
        assert_eq!(line, b"end");
        line.clear();
        assert_eq!(
            read_line_capped(&mut reader, &mut line, 8).await.unwrap(),
            (0, true)
        );
    }
}
