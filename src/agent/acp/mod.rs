//! The ACP adapter: m as an Agent Client Protocol (v1) client. The agent
//! runs in the run's workspace as its own process group and speaks
//! JSON-RPC 2.0, one message a line, on its stdin and stdout.
//!
//! One task reads the agent's stdout and one writes its stdin; everything
//! else happens in one loop ([`Driver::pump`]) that takes, in order, what
//! the agent says, what humans decide, and cancellation. A human decision is
//! awaited in a task of its own, so the agent's updates keep flowing into
//! the run's events while a permission request or a question waits.
//!
//! Events (type: data):
//! - `agent.session`: `{sessionId, protocolVersion, agent, capabilities,
//!   model?, modes?, models?, configOptions?}` once the session is open
//!   (`agent` is the agent's `agentInfo`; the rest as the session's answer
//!   says, `model` the model it runs).
//! - `agent.mode`: `{modeId, from}`: m switched the session to the mode
//!   in which the preset's agent asks before acting (`session/set_mode`).
//! - `agent.auth`: `{methodId, name, ok, error?}` for each `authenticate`
//!   (only after `session/new` said a login is needed).
//! - `agent.prompt`: `{turn, source, text}` for each prompt sent; `source`
//!   is `initial`, `reply`, `rejection` (permission rejection reasons) or
//!   `review` (a rejected review's reason).
//! - `agent.message` / `agent.thought`: `{text, messageId?}`, consecutive
//!   chunks coalesced (cut when another kind of update arrives, before an
//!   approval, a question or the turn's end, after a second, or at 64 KiB);
//!   a non-text chunk is `{content}` with the raw content block.
//! - `agent.plan`: `{entries}`, the whole plan each time.
//! - `tool.call` / `tool.update`: the tool call's whole state as m knows it,
//!   merged by `toolCallId` (`toolCallId, title, kind, status, content,
//!   locations, rawInput, rawOutput`, as ACP names them).
//! - `tool.permission`: `{toolCallId, decision, outcome, optionId?,
//!   optionKind?, persist?}`: how a permission request was answered
//!   (`persist` when the human let the agent keep the grant); `decision` is
//!   `approved`, `rejected` or `run_ended`, `outcome` `selected` or
//!   `cancelled`.
//! - `agent.usage`: the `usage_update` fields (`used, size, cost?`).
//! - `agent.update`: `{sessionUpdate, update}` for any other session update
//!   (kept raw), `{method, params}` for any other notification.
//! - `agent.turn`: `{turn, stopReason, error?}` at each turn's end.
//! - `output`: `{stream: "stderr", lines, partial?}`, the agent's stderr.
//! - `error`: `{message, ...}`: a skipped malformed line (`line`), a refused
//!   method (`method`), a reply that does not fit a question (`question`,
//!   `reply`), a failed turn.

mod approval;
pub mod diff;
mod protocol;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use self::protocol::{code, Incoming, PermissionOption, RpcError};
use super::exec::{failed, pump_output, MAX_OUTPUT_CHUNK};
use super::{
    presets, process, AgentOutcome, Decision, InputReply, InputRequest, ReviewOutcome, RunContext,
};

pub use self::protocol::PROTOCOL_VERSION;

const STDERR_TAIL_LINES: usize = 20;
/// A line from the agent longer than this is reported and skipped.
const MAX_LINE: usize = 32 * 1024 * 1024;
/// How much of a skipped line an `error` event keeps.
const LINE_EXCERPT: usize = 4 * 1024;
/// Streamed message text is held back at most this long before it becomes
/// an event, so that a follower sees a long answer grow.
const TEXT_FLUSH_AFTER: Duration = Duration::from_secs(1);
/// After the agent process exits, how long the rest of its output may take
/// to arrive (a forked child can hold the pipe open).
const EXIT_DRAIN: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq)]
pub struct AcpOptions {
    /// Complete at the first turn end instead of waiting for a reply.
    pub once: bool,
    /// Ask for a review of the run's work before completing (as does
    /// `Launch::review`: either is enough).
    pub review: bool,
    /// How long the agent may take to answer `initialize` (and, again, to
    /// open its session).
    pub startup_timeout: Duration,
    /// How long a cancelled turn may take to end, and processes to exit
    /// after SIGTERM.
    pub grace: Duration,
    /// The preset the command came from, to name it in errors.
    pub preset: Option<String>,
}

impl Default for AcpOptions {
    fn default() -> AcpOptions {
        AcpOptions {
            once: false,
            review: false,
            startup_timeout: Duration::from_secs(60),
            grace: Duration::from_secs(5),
            preset: None,
        }
    }
}

/// Runs one ACP agent for one run, from spawn to the end of its process
/// group.
pub async fn run(argv: &[String], ctx: RunContext, opts: AcpOptions) -> AgentOutcome {
    let Some((program, args)) = argv.split_first() else {
        return failed("no agent command was given".into(), None, Vec::new());
    };
    let mut cmd = process::agent_command(program, args, &ctx.launch);
    let preset = opts.preset.as_deref().and_then(presets::find);
    // A preset's settings that make the agent ask, whatever its command.
    cmd.envs(preset.into_iter().flat_map(|p| p.env.iter().copied()));
    cmd.stdin(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return failed(
                missing_agent(program, opts.preset.as_deref()),
                None,
                Vec::new(),
            )
        }
        Err(e) => {
            return failed(
                format!("cannot start agent command '{program}': {e}"),
                None,
                Vec::new(),
            )
        }
    };
    let pgid = child.id().map(|id| id as i32).unwrap_or(0);
    ctx.spawned(pgid).await;

    let stderr = child.stderr.take().map(|err| {
        let ctx = ctx.clone();
        tokio::spawn(async move { pump_output(err, "stderr", &ctx, STDERR_TAIL_LINES).await })
    });
    let (incoming_tx, incoming) = mpsc::channel(64);
    let reader = child.stdout.take().map(|out| {
        tokio::spawn(read_messages(
            BufReader::with_capacity(64 * 1024, out),
            incoming_tx,
        ))
    });
    let (out, out_rx) = mpsc::unbounded_channel();
    let writer = child
        .stdin
        .take()
        .map(|stdin| tokio::spawn(write_messages(stdin, out_rx)));

    let (humans_tx, humans_rx) = mpsc::unbounded_channel();
    let mut driver = Driver {
        ctx,
        opts,
        child,
        exit_status: None,
        drain_until: None,
        out: Some(out),
        incoming,
        incoming_closed: false,
        next_id: 0,
        session_id: None,
        humans_tx,
        humans_rx,
        next_human: 0,
        pending: HashMap::new(),
        waits: Vec::new(),
        text: None,
        tools: HashMap::new(),
        rejections: Vec::new(),
        cancelling: false,
        turn: 0,
    };
    let ending = driver.drive().await;
    driver.flush_text().await;
    // Requests still waiting for a human are left to the supervisor, which
    // ends them with the run ("run ended"); aborting them here would read
    // as the agent withdrawing them.
    driver.pending.clear();
    driver.waits.clear();

    // The end, whatever it was: close the agent's stdin and end its whole
    // group (some adapters outlive their stdin, and tools they started may
    // outlive them).
    driver.out = None;
    let grace = driver.opts.grace;
    process::terminate_group(&mut driver.child, pgid, grace).await;
    let exit_code = driver.exit_status.and_then(|s| s.code());
    for task in [
        reader.map(|t| t.abort_handle()),
        writer.map(|t| t.abort_handle()),
    ]
    .into_iter()
    .flatten()
    {
        task.abort();
    }
    let stderr_tail = match stderr {
        Some(task) => match tokio::time::timeout(grace, task).await {
            Ok(tail) => tail.unwrap_or_default(),
            Err(_) => Vec::new(),
        },
        None => Vec::new(),
    };
    match ending {
        Ending::Completed => AgentOutcome::Completed,
        Ending::Cancelled => AgentOutcome::Cancelled,
        Ending::Failed(reason) => failed(reason, exit_code, stderr_tail),
    }
}

fn missing_agent(program: &str, preset: Option<&str>) -> String {
    let not_found = process::not_found(program);
    match (preset, preset.and_then(presets::find)) {
        (_, Some(p)) => format!(
            "the {} agent is not installed: {not_found}; install it with: {} \
             (or set the {} agent's command in config)",
            p.name, p.install, p.name
        ),
        (Some(name), None) => format!("the {name} agent's command {not_found}"),
        (None, None) => format!("cannot start the agent command: {not_found}"),
    }
}

/// Reads the agent's stdout, one JSON-RPC message a line.
async fn read_messages(mut reader: BufReader<ChildStdout>, tx: mpsc::Sender<Incoming>) {
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

async fn write_messages(mut stdin: ChildStdin, mut rx: mpsc::UnboundedReceiver<String>) {
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

/// How the run ended, as the driver saw it.
#[derive(Debug)]
enum Ending {
    Completed,
    Cancelled,
    Failed(String),
}

/// Why the driver stopped waiting.
#[derive(Debug)]
enum Stop {
    Cancelled,
    AgentGone,
    Timeout,
}

/// What the driver waits for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    Response(i64),
    Human(u64),
}

enum Got {
    Response(Result<Value, RpcError>),
    Human(Answer),
}

enum Wake {
    Agent(Incoming),
    Human(HumanDone),
    Exited(Option<ExitStatus>),
    Closed,
    Flush,
    Cancelled,
    Deadline,
}

/// A human's answer, delivered by the task that waited for it.
struct HumanDone {
    key: u64,
    answer: Answer,
}

enum Answer {
    Decision(Decision),
    Input(InputReply),
    Elicited(Elicited),
    Review(ReviewOutcome),
}

impl Answer {
    /// The supervisor answers every waiter "run ended" just before it
    /// signals the agent (cancel, shutdown). Taken as the cancellation it
    /// is, so the agent hears `session/cancel` before its request is
    /// answered, and a turn ending meanwhile asks no human for more.
    fn run_ended(&self) -> bool {
        matches!(
            self,
            Answer::Decision(Decision::RunEnded)
                | Answer::Review(ReviewOutcome::Decided(Decision::RunEnded))
                | Answer::Input(InputReply::RunEnded)
                | Answer::Elicited(Elicited::Cancel)
        )
    }
}

enum Elicited {
    Accept(Value),
    Decline,
    /// Only for a run that ends (see [`Answer::run_ended`]).
    Cancel,
}

/// An agent request waiting for a human.
struct Pending {
    rpc_id: Value,
    what: PendingKind,
    task: JoinHandle<()>,
}

enum PendingKind {
    Permission {
        options: Vec<PermissionOption>,
        tool_call_id: String,
    },
    Elicitation,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TextKind {
    Message,
    Thought,
}

impl TextKind {
    fn event(self) -> &'static str {
        match self {
            TextKind::Message => "agent.message",
            TextKind::Thought => "agent.thought",
        }
    }
}

/// Streamed text not yet recorded.
struct TextBuf {
    kind: TextKind,
    message_id: Option<String>,
    text: String,
    since: Instant,
}

struct Prompt {
    text: String,
    /// Why it is sent: `initial`, `reply`, `rejection` or `review`.
    source: &'static str,
}

struct Driver {
    ctx: RunContext,
    opts: AcpOptions,
    child: Child,
    exit_status: Option<ExitStatus>,
    /// Set when the process has exited: the deadline for its last output.
    drain_until: Option<Instant>,
    out: Option<mpsc::UnboundedSender<String>>,
    incoming: mpsc::Receiver<Incoming>,
    incoming_closed: bool,
    next_id: i64,
    session_id: Option<String>,
    humans_tx: mpsc::UnboundedSender<HumanDone>,
    humans_rx: mpsc::UnboundedReceiver<HumanDone>,
    next_human: u64,
    pending: HashMap<u64, Pending>,
    /// Tasks waiting for a human on the driver's own account (turn input,
    /// review).
    waits: Vec<JoinHandle<()>>,
    text: Option<TextBuf>,
    /// What m knows of each open tool call, merged from its updates.
    tools: HashMap<String, Map<String, Value>>,
    /// Reasons of permissions rejected during the current turn.
    rejections: Vec<String>,
    cancelling: bool,
    turn: u64,
}

impl Driver {
    async fn drive(&mut self) -> Ending {
        if let Err(ending) = self.start().await {
            return ending;
        }
        self.converse().await
    }

    /// `initialize`, `authenticate` if need be, `session/new`.
    async fn start(&mut self) -> Result<(), Ending> {
        let timeout = self.opts.startup_timeout;
        let deadline = Instant::now() + timeout;
        let init = self
            .call("initialize", protocol::initialize_params(), deadline)
            .await?
            .map_err(|e| Ending::Failed(format!("the agent refused to initialize: {e}")))?;
        let init: protocol::InitializeResult = serde_json::from_value(init).map_err(|e| {
            Ending::Failed(format!("the agent's answer to initialize is not ACP: {e}"))
        })?;
        if init.protocol_version != PROTOCOL_VERSION {
            return Err(Ending::Failed(format!(
                "the agent speaks version {} of the Agent Client Protocol; m speaks version {PROTOCOL_VERSION}",
                init.protocol_version
            )));
        }

        // Only when the agent says it needs a login (an auth-required
        // error from session/new): authenticating an agent already logged
        // in may replace the user's saved login (codex-acp rewrites
        // auth.json with the API key). Methods that need nobody at a browser
        // or terminal, best first: credentials read from the environment.
        let is_set = |name: &str| self.env_is_set(name);
        let mut unattended: VecDeque<protocol::AuthMethod> = init
            .auth_methods
            .iter()
            .filter(|m| m.is_unattended(is_set))
            .cloned()
            .collect();
        unattended
            .make_contiguous()
            .sort_by_key(|m| m.kind.as_deref() != Some("env_var"));

        let cwd = self.ctx.launch.workspace.display().to_string();
        let session = loop {
            let deadline = Instant::now() + timeout;
            match self
                .call("session/new", protocol::new_session_params(&cwd), deadline)
                .await?
            {
                Ok(result) => break result,
                Err(e) if e.code == code::AUTH_REQUIRED => match unattended.pop_front() {
                    Some(method) => self.authenticate(&method, Instant::now() + timeout).await?,
                    None => return Err(Ending::Failed(needs_login(&init.auth_methods, &e))),
                },
                Err(e) => {
                    return Err(Ending::Failed(format!(
                        "the agent could not open a session: {e}"
                    )))
                }
            }
        };
        let opened: protocol::NewSessionResult =
            serde_json::from_value(session.clone()).map_err(|e| {
                Ending::Failed(format!("the agent's answer to session/new is not ACP: {e}"))
            })?;
        let mut data = json!({
            "sessionId": opened.session_id,
            "protocolVersion": init.protocol_version,
            "agent": init.agent_info,
            "capabilities": init.agent_capabilities,
        });
        protocol::describe_session(&session, &mut data);
        self.ctx.emit("agent.session", data).await;
        self.session_id = Some(opened.session_id);
        self.ask_mode(&session, Instant::now() + timeout).await
    }

    /// Selects the session mode in which the preset's agent asks before it
    /// acts, when the session opened in another (the user's or the
    /// repository's settings chose it): m stays the gatekeeper. A refusal
    /// fails the run; a mode the agent does not offer is reported.
    async fn ask_mode(&mut self, session: &Value, deadline: Instant) -> Result<(), Ending> {
        let Some(wanted) = self
            .opts
            .preset
            .as_deref()
            .and_then(presets::find)
            .and_then(|p| p.ask_mode)
        else {
            return Ok(());
        };
        let Some(modes) = session.get("modes").filter(|m| !m.is_null()) else {
            return Ok(());
        };
        let current = modes.get("currentModeId").and_then(Value::as_str);
        if current == Some(wanted) {
            return Ok(());
        }
        let offered = modes
            .get("availableModes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|m| m.get("id").and_then(Value::as_str) == Some(wanted));
        if !offered {
            self.ctx
                .emit(
                    "error",
                    json!({ "message": format!(
                        "the agent offers no '{wanted}' mode, in which it asks before it acts; \
                         it runs in mode '{}'", current.unwrap_or("?")
                    ) }),
                )
                .await;
            return Ok(());
        }
        let session_id = self.session_id.clone().unwrap_or_default();
        let params = json!({ "sessionId": session_id, "modeId": wanted });
        match self.call("session/set_mode", params, deadline).await? {
            Ok(_) => {
                self.ctx
                    .emit("agent.mode", json!({ "modeId": wanted, "from": current }))
                    .await;
                Ok(())
            }
            Err(e) => Err(Ending::Failed(format!(
                "the agent would not switch to its '{wanted}' mode, in which it asks before \
                 it acts (it opened in '{}'): {e}",
                current.unwrap_or("?")
            ))),
        }
    }

    fn env_is_set(&self, name: &str) -> bool {
        match self.ctx.launch.env.iter().rev().find(|(k, _)| k == name) {
            Some((_, v)) => !v.is_empty(),
            None => std::env::var_os(name).is_some_and(|v| !v.is_empty()),
        }
    }

    /// Authenticates with `method`. A refusal is recorded, not fatal: the
    /// session may not need it, and if it does, that error says so.
    async fn authenticate(
        &mut self,
        method: &protocol::AuthMethod,
        deadline: Instant,
    ) -> Result<(), Ending> {
        let result = self
            .call("authenticate", json!({ "methodId": method.id }), deadline)
            .await?;
        let mut data = json!({ "methodId": method.id, "name": method.name, "ok": result.is_ok() });
        if let Err(e) = result {
            data["error"] = json!(e.to_string());
        }
        self.ctx.emit("agent.auth", data).await;
        Ok(())
    }

    /// Sends a request and waits for its answer until `deadline`, serving
    /// the agent meanwhile.
    async fn call(
        &mut self,
        method: &str,
        params: Value,
        deadline: Instant,
    ) -> Result<Result<Value, RpcError>, Ending> {
        let id = self.send_request(method, params);
        match self.pump(Want::Response(id), Some(deadline)).await {
            Ok(Got::Response(result)) => Ok(result),
            Ok(Got::Human(_)) => unreachable!("waiting for a response"),
            Err(Stop::Cancelled) => Err(self.cancel(None).await),
            Err(Stop::AgentGone) => Err(Ending::Failed(self.gone("while starting").await)),
            Err(Stop::Timeout) => Err(Ending::Failed(format!(
                "the agent did not answer {method} within {}s (is it waiting for a login or an update? \
                 try running its command in a terminal)",
                self.opts.startup_timeout.as_secs_f64()
            ))),
        }
    }

    /// Prompt turns until the run is done.
    async fn converse(&mut self) -> Ending {
        let mut next = Prompt {
            text: self.ctx.launch.prompt.clone(),
            source: "initial",
        };
        loop {
            let end = match self.turn(next).await {
                Ok(end) => end,
                Err(ending) => return ending,
            };
            if !self.rejections.is_empty() {
                next = Prompt {
                    text: std::mem::take(&mut self.rejections).join("\n\n"),
                    source: "rejection",
                };
                continue;
            }
            let ended_well = end.stop_reason == "end_turn";
            if self.opts.once {
                if !ended_well {
                    return Ending::Failed(end.describe());
                }
                match self.finish().await {
                    Ok(ending) => return ending,
                    Err(prompt) => {
                        next = prompt;
                        continue;
                    }
                }
            }
            let question = if ended_well {
                "The agent ended its turn and waits for the next prompt".to_string()
            } else {
                format!(
                    "{}; it waits for the next prompt",
                    capitalized(&end.describe())
                )
            };
            match self.ask(question).await {
                Ok(InputReply::Text(text)) => {
                    next = Prompt {
                        text,
                        source: "reply",
                    }
                }
                Ok(InputReply::Done) => match self.finish().await {
                    Ok(ending) => return ending,
                    Err(prompt) => next = prompt,
                },
                Ok(InputReply::RunEnded) => return self.cancel(None).await,
                Err(ending) => return ending,
            }
        }
    }

    /// One prompt turn, to its end.
    async fn turn(&mut self, prompt: Prompt) -> Result<TurnEnd, Ending> {
        self.turn += 1;
        let session_id = self.session_id.clone().unwrap_or_default();
        self.ctx
            .emit(
                "agent.prompt",
                json!({ "turn": self.turn, "source": prompt.source, "text": prompt.text }),
            )
            .await;
        let id = self.send_request(
            "session/prompt",
            protocol::prompt_params(&session_id, &prompt.text),
        );
        let result = match self.pump(Want::Response(id), None).await {
            Ok(Got::Response(result)) => result,
            Ok(Got::Human(_)) => unreachable!("waiting for a response"),
            Err(Stop::Cancelled) => return Err(self.cancel(Some(id)).await),
            Err(Stop::AgentGone | Stop::Timeout) => {
                return Err(Ending::Failed(self.gone("during a turn").await))
            }
        };
        self.flush_text().await;
        let (stop_reason, error) = match result {
            Ok(value) => match serde_json::from_value::<protocol::PromptResult>(value) {
                Ok(r) => (r.stop_reason, None),
                Err(e) => (
                    "error".to_string(),
                    Some(format!("its answer to the prompt is not ACP: {e}")),
                ),
            },
            Err(e) => ("error".to_string(), Some(e.to_string())),
        };
        let mut data = json!({ "turn": self.turn, "stopReason": stop_reason });
        if let Some(error) = &error {
            data["error"] = json!(error);
            self.ctx
                .emit(
                    "error",
                    json!({ "message": format!("the agent's turn failed: {error}") }),
                )
                .await;
        }
        self.ctx.emit("agent.turn", data).await;
        Ok(TurnEnd { stop_reason, error })
    }

    /// The agent is done: with `--review`, a human reviews its work first.
    /// `Err` is a review rejection's reason, the next prompt: only a human's
    /// words go back to the agent, never m's own failure to make the diff
    /// (the agent would answer it and end its turn, and the review would
    /// fail again, for ever).
    async fn finish(&mut self) -> Result<Ending, Prompt> {
        if !(self.opts.review || self.ctx.launch.review) {
            return Ok(Ending::Completed);
        }
        let key =
            self.wait_for_human(|ctx| async move { Answer::Review(ctx.request_review().await) });
        let review = match self.pump(Want::Human(key), None).await {
            Ok(Got::Human(Answer::Review(review))) => review,
            Ok(_) => unreachable!("waiting for the review"),
            Err(stop) => return Ok(self.stopped(stop, "while its work was under review").await),
        };
        match review {
            ReviewOutcome::Decided(Decision::Approved { .. }) | ReviewOutcome::NothingToReview => {
                Ok(Ending::Completed)
            }
            ReviewOutcome::Decided(Decision::Rejected { reason }) if !reason.trim().is_empty() => {
                Err(Prompt {
                    text: reason,
                    source: "review",
                })
            }
            ReviewOutcome::Decided(Decision::Rejected { .. }) => {
                Ok(Ending::Failed("the review was rejected".into()))
            }
            ReviewOutcome::Decided(Decision::RunEnded) => Ok(self.cancel(None).await),
            ReviewOutcome::CannotPrepare { reason } => Ok(Ending::Failed(reason)),
        }
    }

    /// Waits for the human between turns.
    async fn ask(&mut self, question: String) -> Result<InputReply, Ending> {
        let key = self.wait_for_human(|ctx| async move {
            Answer::Input(
                ctx.request_input(InputRequest {
                    question,
                    schema: None,
                })
                .await,
            )
        });
        match self.pump(Want::Human(key), None).await {
            Ok(Got::Human(Answer::Input(reply))) => Ok(reply),
            Ok(_) => unreachable!("waiting for input"),
            Err(stop) => Err(self.stopped(stop, "while waiting for a reply").await),
        }
    }

    async fn stopped(&mut self, stop: Stop, when: &str) -> Ending {
        match stop {
            Stop::Cancelled => self.cancel(None).await,
            Stop::AgentGone | Stop::Timeout => Ending::Failed(self.gone(when).await),
        }
    }

    /// Cancels the run: `session/cancel`, every pending permission request
    /// answered `cancelled`, and a short wait for the turn in progress to
    /// end. The caller then ends the process group.
    async fn cancel(&mut self, prompt: Option<i64>) -> Ending {
        self.cancelling = true;
        self.flush_text().await;
        let in_flight = prompt.is_some() || !self.pending.is_empty();
        if let (true, Some(session_id)) = (in_flight, &self.session_id) {
            let line = protocol::notification("session/cancel", json!({ "sessionId": session_id }));
            self.send(line);
        }
        let pending: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        for p in pending {
            p.task.abort();
            self.answer_cancelled(&p.rpc_id, &p.what).await;
        }
        if let Some(id) = prompt {
            let deadline = Instant::now() + self.opts.grace;
            if let Ok(Got::Response(Ok(result))) =
                self.pump(Want::Response(id), Some(deadline)).await
            {
                self.flush_text().await;
                let stop_reason = result.get("stopReason").cloned().unwrap_or(Value::Null);
                self.ctx
                    .emit(
                        "agent.turn",
                        json!({ "turn": self.turn, "stopReason": stop_reason }),
                    )
                    .await;
            }
        }
        Ending::Cancelled
    }

    async fn answer_cancelled(&mut self, rpc_id: &Value, what: &PendingKind) {
        match what {
            PendingKind::Permission { tool_call_id, .. } => {
                self.respond(rpc_id, protocol::permission_cancelled());
                self.ctx
                    .emit(
                        "tool.permission",
                        json!({ "toolCallId": tool_call_id, "decision": "run_ended", "outcome": "cancelled" }),
                    )
                    .await;
            }
            PendingKind::Elicitation => self.respond(rpc_id, protocol::elicitation_cancel()),
        }
    }

    /// Why the agent is gone, once its exit status is known.
    async fn gone(&mut self, when: &str) -> String {
        if self.exit_status.is_none() {
            let wait = self.opts.grace.min(EXIT_DRAIN);
            if let Ok(Ok(status)) = tokio::time::timeout(wait, self.child.wait()).await {
                self.exit_status = Some(status);
            }
        }
        use std::os::unix::process::ExitStatusExt;
        match self.exit_status {
            Some(s) if s.code().is_some() => {
                format!(
                    "the agent exited with status {} {when}",
                    s.code().unwrap_or_default()
                )
            }
            Some(s) if s.signal().is_some() => {
                format!(
                    "the agent was killed by signal {} {when}",
                    s.signal().unwrap_or_default()
                )
            }
            _ => format!("the agent closed its output {when}"),
        }
    }

    /// Serves the agent until `want` arrives, the run is cancelled, the
    /// agent is gone, or `deadline` passes.
    async fn pump(&mut self, want: Want, deadline: Option<Instant>) -> Result<Got, Stop> {
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
            status = self.child.wait(), if watch_exit => Wake::Exited(status.ok()),
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
                        "agent.update",
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
                    let why = if method.starts_with("fs/") || method.starts_with("terminal/") {
                        "m offers agents no file system or terminal: they work in the run's workspace themselves"
                    } else {
                        "m does not know this method"
                    };
                    self.ctx
                        .emit(
                            "error",
                            json!({ "message": format!("the agent called {method}, refused: {why}"), "method": method }),
                        )
                        .await;
                }
            },
            Incoming::Malformed { line, error } => {
                self.ctx
                    .emit(
                        "error",
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

    async fn on_update(&mut self, params: Value) {
        let Some(Value::Object(mut update)) = params.get("update").cloned() else {
            self.flush_text().await;
            self.ctx
                .emit(
                    "error",
                    json!({ "message": "the agent sent a session/update without an update", "params": params }),
                )
                .await;
            return;
        };
        let kind = match update.remove("sessionUpdate") {
            Some(Value::String(kind)) => kind,
            _ => String::new(),
        };
        match kind.as_str() {
            "agent_message_chunk" | "agent_thought_chunk" => {
                let text_kind = if kind == "agent_message_chunk" {
                    TextKind::Message
                } else {
                    TextKind::Thought
                };
                let message_id = update
                    .get("messageId")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let content = update.remove("content").unwrap_or(Value::Null);
                match content.get("text").and_then(Value::as_str) {
                    Some(text) if content.get("type").and_then(Value::as_str) == Some("text") => {
                        self.add_text(text_kind, text, message_id).await
                    }
                    _ => {
                        self.flush_text().await;
                        self.ctx
                            .emit(text_kind.event(), json!({ "content": content }))
                            .await;
                    }
                }
            }
            "tool_call" | "tool_call_update" => {
                // Both carry the call's whole state as m knows it (an
                // agent may announce a call again to change it).
                self.flush_text().await;
                let id = tool_call_id(&update);
                let mut state = self.tools.remove(&id).unwrap_or_default();
                merge(&mut state, update);
                let event = if kind == "tool_call" {
                    "tool.call"
                } else {
                    "tool.update"
                };
                self.ctx.emit(event, Value::Object(state.clone())).await;
                self.remember_tool(id, state);
            }
            "plan" => {
                self.flush_text().await;
                let entries = update.remove("entries").unwrap_or(json!([]));
                self.ctx
                    .emit("agent.plan", json!({ "entries": entries }))
                    .await;
            }
            "usage_update" => {
                self.flush_text().await;
                self.ctx.emit("agent.usage", Value::Object(update)).await;
            }
            _ => {
                self.flush_text().await;
                self.ctx
                    .emit(
                        "agent.update",
                        json!({ "sessionUpdate": kind, "update": update }),
                    )
                    .await;
            }
        }
    }

    /// Keeps a tool call's state while it may still change.
    fn remember_tool(&mut self, id: String, state: Map<String, Value>) {
        let done = matches!(
            state.get("status").and_then(Value::as_str),
            Some("completed" | "failed")
        );
        if !done && !id.is_empty() {
            self.tools.insert(id, state);
        }
    }

    async fn on_permission(&mut self, rpc_id: Value, params: Value) {
        self.flush_text().await;
        let params: protocol::PermissionParams = match serde_json::from_value(params) {
            Ok(p) => p,
            Err(e) => {
                return self
                    .invalid_params(&rpc_id, "session/request_permission", e)
                    .await
            }
        };
        let tool_call_id = tool_call_id(&params.tool_call);
        let mut state = self.tools.get(&tool_call_id).cloned().unwrap_or_default();
        merge(&mut state, params.tool_call);
        if !tool_call_id.is_empty() {
            self.tools.insert(tool_call_id.clone(), state.clone());
        }
        let request = approval::request(&state, &params.options, &self.ctx.launch.workspace);
        let what = PendingKind::Permission {
            options: params.options,
            tool_call_id,
        };
        if self.cancelling {
            return self.answer_cancelled(&rpc_id, &what).await;
        }
        let (key, task) =
            self.spawn_human(
                |ctx| async move { Answer::Decision(ctx.request_approval(request).await) },
            );
        self.pending.insert(key, Pending { rpc_id, what, task });
    }

    /// The agent no longer wants the answer to one of its requests: nobody
    /// should be asked any more (dropping the wait withdraws the approval or
    /// question), and the request is answered "cancelled" as the protocol
    /// asks. A request already answered, or unknown, needs nothing.
    async fn on_cancel_request(&mut self, params: Value) {
        let Some(request_id) = params.get("requestId") else {
            // A notification gets no answer: the log says what was wrong.
            return self
                .ctx
                .emit(
                    "error",
                    json!({ "message": "the agent sent $/cancel_request without a requestId" }),
                )
                .await;
        };
        let Some(key) = self
            .pending
            .iter()
            .find(|(_, p)| &p.rpc_id == request_id)
            .map(|(key, _)| *key)
        else {
            return;
        };
        let pending = self.pending.remove(&key).expect("found above");
        pending.task.abort();
        self.send(protocol::error_response(
            &pending.rpc_id,
            code::REQUEST_CANCELLED,
            "cancelled by the agent",
        ));
        if let PendingKind::Permission { tool_call_id, .. } = &pending.what {
            self.ctx
                .emit(
                    "tool.permission",
                    json!({ "toolCallId": tool_call_id, "decision": "withdrawn", "outcome": "cancelled" }),
                )
                .await;
        }
    }

    async fn on_elicitation(&mut self, rpc_id: Value, params: Value) {
        self.flush_text().await;
        let params: protocol::ElicitationParams = match serde_json::from_value(params) {
            Ok(p) => p,
            Err(e) => return self.invalid_params(&rpc_id, "elicitation/create", e).await,
        };
        let form = match params.mode.as_deref() {
            Some("form") => true,
            None => params.requested_schema.is_some(),
            Some(_) => false,
        };
        if !form {
            self.respond(&rpc_id, protocol::elicitation_decline());
            let mode = params.mode.unwrap_or_default();
            self.ctx
                .emit(
                    "error",
                    json!({
                        "message": format!("the agent asked a question in {mode} mode, which m does not offer; declined"),
                        "question": params.message,
                        "url": params.url,
                    }),
                )
                .await;
            return;
        }
        if self.cancelling {
            self.respond(&rpc_id, protocol::elicitation_cancel());
            return;
        }
        let schema = params
            .requested_schema
            .unwrap_or_else(|| json!({ "type": "object", "properties": {} }));
        let question = params.message;
        let (key, task) = self.spawn_human(|ctx| async move {
            loop {
                let request = InputRequest {
                    question: question.clone(),
                    schema: Some(schema.clone()),
                };
                match ctx.request_input(request).await {
                    // m's daemon refuses a reply that does not fit before it
                    // reaches here (the question stays open); whatever else
                    // serves the run is answered the same way, in the log.
                    InputReply::Text(text) => match crate::question::fit(&schema, &text) {
                        Ok(content) => return Answer::Elicited(Elicited::Accept(content)),
                        Err(why) => {
                            ctx.emit(
                                "error",
                                json!({
                                    "message": format!("that reply does not answer the question: {why}"),
                                    "question": question,
                                    "reply": text,
                                }),
                            )
                            .await
                        }
                    },
                    InputReply::Done => return Answer::Elicited(Elicited::Decline),
                    InputReply::RunEnded => return Answer::Elicited(Elicited::Cancel),
                }
            }
        });
        self.pending.insert(
            key,
            Pending {
                rpc_id,
                what: PendingKind::Elicitation,
                task,
            },
        );
    }

    async fn invalid_params(&mut self, rpc_id: &Value, method: &str, e: serde_json::Error) {
        let message = format!("invalid {method} parameters: {e}");
        self.send(protocol::error_response(
            rpc_id,
            code::INVALID_PARAMS,
            &message,
        ));
        self.ctx
            .emit(
                "error",
                json!({ "message": format!("the agent sent {message}") }),
            )
            .await;
    }

    /// Gives the agent a human's answer to one of its requests.
    async fn answer_agent(&mut self, done: HumanDone) {
        let Some(pending) = self.pending.remove(&done.key) else {
            return;
        };
        match (pending.what, done.answer) {
            (
                PendingKind::Permission {
                    options,
                    tool_call_id,
                },
                Answer::Decision(decision),
            ) => {
                let chosen = approval::choose(&options, &decision);
                let result = match chosen {
                    Some(option) => protocol::permission_selected(&option.option_id),
                    None => protocol::permission_cancelled(),
                };
                self.respond(&pending.rpc_id, result);
                let name = match &decision {
                    Decision::Approved { .. } => "approved",
                    Decision::Rejected { .. } => "rejected",
                    Decision::RunEnded => "run_ended",
                };
                let mut data = json!({
                    "toolCallId": tool_call_id,
                    "decision": name,
                    "outcome": if chosen.is_some() { "selected" } else { "cancelled" },
                });
                if let Some(option) = chosen {
                    data["optionId"] = json!(option.option_id);
                    data["optionKind"] = json!(option.kind);
                }
                if matches!(decision, Decision::Approved { persist: true }) {
                    data["persist"] = json!(true);
                }
                self.ctx.emit("tool.permission", data).await;
                match decision {
                    Decision::Approved { persist } if chosen.is_none() => {
                        let wanted = if persist {
                            "allow_always or allow_once"
                        } else {
                            "allow_once"
                        };
                        self.ctx
                            .emit(
                                "error",
                                json!({ "message": format!(
                                    "the agent offered no {wanted} option for tool call {tool_call_id}; answered cancelled"
                                ) }),
                            )
                            .await;
                    }
                    Decision::Rejected { reason } if !reason.trim().is_empty() => {
                        self.rejections.push(reason)
                    }
                    _ => {}
                }
            }
            (PendingKind::Elicitation, Answer::Elicited(answer)) => {
                let result = match answer {
                    Elicited::Accept(content) => protocol::elicitation_accept(content),
                    Elicited::Decline => protocol::elicitation_decline(),
                    Elicited::Cancel => protocol::elicitation_cancel(),
                };
                self.respond(&pending.rpc_id, result);
            }
            _ => unreachable!("answers match their requests"),
        }
    }

    /// Waits for a human in a task of its own, so the agent is served
    /// meanwhile; the answer arrives through `humans_rx` under the key.
    fn spawn_human<F, Fut>(&mut self, work: F) -> (u64, JoinHandle<()>)
    where
        F: FnOnce(RunContext) -> Fut,
        Fut: Future<Output = Answer> + Send + 'static,
    {
        let key = self.next_human;
        self.next_human += 1;
        let answer = work(self.ctx.clone());
        let tx = self.humans_tx.clone();
        let task = tokio::spawn(async move {
            let answer = answer.await;
            let _ = tx.send(HumanDone { key, answer });
        });
        (key, task)
    }

    fn wait_for_human<F, Fut>(&mut self, work: F) -> u64
    where
        F: FnOnce(RunContext) -> Fut,
        Fut: Future<Output = Answer> + Send + 'static,
    {
        let (key, task) = self.spawn_human(work);
        self.waits.retain(|t| !t.is_finished());
        self.waits.push(task);
        key
    }

    async fn add_text(&mut self, kind: TextKind, text: &str, message_id: Option<String>) {
        if self
            .text
            .as_ref()
            .is_some_and(|b| b.kind != kind || b.message_id != message_id)
        {
            self.flush_text().await;
        }
        let buf = self.text.get_or_insert_with(|| TextBuf {
            kind,
            message_id,
            text: String::new(),
            since: Instant::now(),
        });
        buf.text.push_str(text);
        if buf.text.len() >= MAX_OUTPUT_CHUNK {
            self.flush_text().await;
        }
    }

    /// Records the streamed text held back, if any.
    async fn flush_text(&mut self) {
        let Some(buf) = self.text.take() else {
            return;
        };
        if buf.text.is_empty() {
            return;
        }
        let mut data = json!({ "text": buf.text });
        if let Some(id) = buf.message_id {
            data["messageId"] = json!(id);
        }
        self.ctx.emit(buf.kind.event(), data).await;
    }

    fn send_request(&mut self, method: &str, params: Value) -> i64 {
        self.next_id += 1;
        let id = self.next_id;
        self.send(protocol::request(id, method, params));
        id
    }

    fn respond(&self, id: &Value, result: Value) {
        self.send(protocol::response(id, result));
    }

    fn send(&self, line: String) {
        if let Some(out) = &self.out {
            let _ = out.send(line);
        }
    }
}

/// Whether `id` is m's request id `ours` (an agent may echo it as a string).
fn is_id(id: &Value, ours: i64) -> bool {
    id.as_i64() == Some(ours) || id.as_str() == Some(ours.to_string().as_str())
}

fn tool_call_id(update: &Map<String, Value>) -> String {
    update
        .get("toolCallId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A tool call update over the state so far: the fields it carries replace
/// the old ones (`content` and `locations` are replaced whole, as ACP says).
fn merge(state: &mut Map<String, Value>, update: Map<String, Value>) {
    for (key, value) in update {
        if !value.is_null() {
            state.insert(key, value);
        }
    }
}

/// How a turn ended: the agent's stop reason, or `error` and why.
struct TurnEnd {
    stop_reason: String,
    error: Option<String>,
}

impl TurnEnd {
    fn describe(&self) -> String {
        match &self.error {
            Some(error) => format!("the agent's turn failed: {error}"),
            None => describe_stop(&self.stop_reason),
        }
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn describe_stop(stop_reason: &str) -> String {
    match stop_reason {
        "end_turn" => "the agent ended its turn".into(),
        "max_tokens" => "the agent ran out of tokens (max_tokens)".into(),
        "max_turn_requests" => {
            "the agent reached its limit of requests in a turn (max_turn_requests)".into()
        }
        "refusal" => "the agent refused to go on (refusal)".into(),
        "cancelled" => "the agent cancelled its turn".into(),
        other => format!("the agent stopped its turn ({other})"),
    }
}

fn needs_login(methods: &[protocol::AuthMethod], error: &RpcError) -> String {
    let offered: Vec<String> = methods
        .iter()
        .map(|m| match &m.description {
            Some(d) if !d.is_empty() => format!("{} ({d})", m.name),
            _ => m.name.clone(),
        })
        .collect();
    let mut reason = format!(
        "the agent needs a login before m can use it ({})",
        error.message
    );
    if !offered.is_empty() {
        reason.push_str(&format!("; it offers: {}", offered.join("; ")));
    }
    reason.push_str(
        "; log in once by running the agent in a terminal, or give it an API key in its environment",
    );
    reason
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

    #[test]
    fn tool_updates_replace_the_fields_they_carry() {
        let mut state = match json!({"toolCallId": "t", "title": "Edit", "status": "pending",
            "content": [{"type": "content"}]})
        {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let update = match json!({"toolCallId": "t", "status": "completed", "title": null, "content": []})
        {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        merge(&mut state, update);
        assert_eq!(
            Value::Object(state),
            json!({"toolCallId": "t", "title": "Edit", "status": "completed", "content": []})
        );
    }

    #[test]
    fn a_missing_agent_path_does_not_exist_and_a_missing_name_is_not_on_path() {
        assert_eq!(
            missing_agent("/nonexistent/agent", None),
            "cannot start the agent command: '/nonexistent/agent' does not exist"
        );
        assert_eq!(
            missing_agent("my-agent", None),
            "cannot start the agent command: 'my-agent' is not on PATH"
        );
    }

    #[test]
    fn a_missing_preset_says_how_to_install_it() {
        let reason = missing_agent("claude-agent-acp", Some("claude"));
        assert!(reason.contains("claude agent is not installed"), "{reason}");
        assert!(
            reason.contains("npm install -g @zed-industries/claude-agent-acp"),
            "{reason}"
        );
        assert!(missing_agent("x", None).contains("'x'"));
    }
}
