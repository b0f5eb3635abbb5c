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
//! - `agent.resumed`: `{sessionId, method, was, protocolVersion, agent,
//!   capabilities, replayed?, ...}` instead of `agent.session` when the
//!   session was taken up again after the daemon restarted.
//! - `agent.auth`: `{methodId, name, ok, error?}` for each `authenticate`
//!   (only the configured method, after `session/new` said auth is needed).
//! - `agent.prompt`: `{turn, source, text}` for each prompt sent; `source`
//!   is `initial`, `reply`, `rejection` (permission rejection reasons),
//!   `review` (a rejected review's reason) or `resumed` (decisions on
//!   approvals asked again after a restart).
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
//! - `agent.turn`: `{turn, stopReason, usage?, error?}` at each turn's end
//!   (`usage` as the agent's answer gave it: `inputTokens`, `outputTokens`,
//!   ...).
//! - `output`: `{stream: "stderr", lines, partial?}`, the agent's stderr.
//! - `agent.mode`: `{modeId, asks, message?}`, the session's mode when it
//!   opens and whenever it changes; `asks` is false (and `message` says
//!   why) in a mode in which the agent acts without asking m. A preset's
//!   agent that opens in another mode than its ask mode is switched to it
//!   (`session/set_mode`), or the run fails.
//! - `agent.refused`: `{method, message}`: a call m never offered (such as
//!   `fs/write_text_file`), refused; the run goes on.
//! - `error`: `{message, ...}`: a skipped malformed line (`line`), a reply
//!   that does not fit a question (`question`, `reply`), a failed turn.

mod approval;
pub mod diff;
mod driver;
mod humans;
mod io;
mod protocol;
mod updates;

use std::collections::{HashMap, VecDeque};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::BufReader;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use self::protocol::{Incoming, PermissionOption, RpcError};
use super::exec::{failed, start_agent, Pump, MAX_OUTPUT_CHUNK};
use super::{AgentOutcome, InputReply, InputRequest, ReviewOutcome, RunContext, Verdict};

use self::io::read_messages;
use self::io::write_messages;
use crate::model::EventType;
use crate::presets;
use crate::process::{self, keeper::Keeper, keeper::Start};

pub use self::protocol::{resume_method, PROTOCOL_VERSION};

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
    /// The auth method to use when the agent says it needs one
    /// (`[agents.NAME] auth`): m never picks one itself, since an agent
    /// may save the method it is told as the user's choice.
    pub auth_method: Option<String>,
    /// Take up this session instead of opening a new one: the daemon
    /// restarted under the run.
    pub resume: Option<Resume>,
}

/// A session to take up again (`session/resume` or `session/load`), and
/// where the run stood when the daemon that ran it stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct Resume {
    pub session_id: String,
    /// `turn` (its turn was lost), `input` (it waited for the next prompt)
    /// or `approval`.
    pub was: String,
    /// The approvals that were pending, asked again once the session is
    /// back; each decision is the agent's next prompt.
    pub asked: Vec<super::ApprovalRequest>,
}

impl Default for AcpOptions {
    fn default() -> AcpOptions {
        AcpOptions {
            once: false,
            review: false,
            startup_timeout: Duration::from_secs(60),
            grace: Duration::from_secs(5),
            preset: None,
            auth_method: None,
            resume: None,
        }
    }
}

/// Runs one ACP agent for one run, from spawn to the end of its process
/// group.
pub async fn run(argv: &[String], ctx: RunContext, opts: AcpOptions) -> AgentOutcome {
    let Some((program, args)) = argv.split_first() else {
        return failed("no agent command was given".into(), None, Vec::new());
    };
    let mut launch = ctx.launch.clone();
    if let Some(preset) = &opts.preset {
        let extra = presets::environment(preset, &launch.workspace, &launch.env);
        launch.env.extend(extra);
    }
    let start = Start {
        workspace: &launch.workspace,
        env: launch.agent_env(),
        stdin: Stdio::piped(),
        grace: opts.grace,
        m_binary: &launch.m_binary,
        cgroup: launch.cgroup.as_deref(),
    };
    let missing = || missing_agent(program, opts.preset.as_deref());
    let mut child = match start_agent(program, args, start, missing).await {
        Ok(keeper) => keeper,
        Err(failure) => return failure,
    };
    ctx.spawned(child.pid).await;

    let stderr = child
        .process
        .stderr
        .take()
        .map(|err| Pump::spawn(err, "stderr", &ctx, STDERR_TAIL_LINES));
    let (incoming_tx, incoming) = mpsc::channel(64);
    let reader = child.process.stdout.take().map(|out| {
        tokio::spawn(read_messages(
            BufReader::with_capacity(64 * 1024, out),
            incoming_tx,
        ))
    });
    let (out, out_rx) = mpsc::unbounded_channel();
    let writer = child
        .process
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
        rejections: VecDeque::new(),
        in_turn: false,
        replaying: None,
        turn_ending: false,
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
    driver.child.terminate(grace).await;
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
        Some(pump) => pump.drain(grace).await.unwrap_or_default(),
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
    Verdict(Verdict),
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
            Answer::Verdict(Verdict::RunEnded)
                | Answer::Review(ReviewOutcome::Verdict(Verdict::RunEnded))
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
        /// What it asks to do, as a rejection's prompt names it.
        about: String,
    },
    Elicitation,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TextKind {
    Message,
    Thought,
}

impl TextKind {
    fn event(self) -> EventType {
        match self {
            TextKind::Message => EventType::AgentMessage,
            TextKind::Thought => EventType::AgentThought,
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
    child: Keeper,
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
    /// Prompts that tell the agent of a rejection, one each, sent before
    /// anything else once the turn has ended.
    rejections: VecDeque<String>,
    /// A prompt turn is in progress.
    in_turn: bool,
    /// While `session/load` replays the conversation: how many updates it
    /// sent, none of which is recorded again.
    replaying: Option<u64>,
    /// The turn in progress was cancelled because a human rejected one of
    /// its requests (the run goes on).
    turn_ending: bool,
    cancelling: bool,
    turn: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

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
