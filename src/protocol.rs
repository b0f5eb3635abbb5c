//! The socket protocol between clients and the daemon: newline-delimited
//! JSON frames. Each connection starts with a `hello` each way, then carries
//! one request and its response (or, for `follow`, a stream of events).
//! Ids in requests are full ids: clients resolve prefixes from the database.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind};
use crate::model::{
    AgentSpec, Approval, ApprovalType, Event, QueuedRun, Run, RunOptions, RunState, Scope,
};

/// Bumped on any incompatible change to the frames below.
pub const PROTOCOL_VERSION: u32 = 2;
/// The program version, also exchanged in `hello`: a client replaces an
/// idle daemon of another build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// How often a daemon tells a waiting client it is alive; clients wait at
/// least twice this long for any frame.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(1);
/// No frame may be longer; a longer one costs its connection. Room for the
/// longest prompt however JSON escapes it (up to 6 bytes a byte), with the
/// caller's environment.
pub const MAX_FRAME: usize = 8 << 20;
/// The longest prompt a run takes, in bytes.
pub const MAX_PROMPT: usize = 1 << 20;

/// Refuses a prompt a run does not take: an empty one, or one longer than
/// `MAX_PROMPT`. The client checks before it sends; the daemon checks again
/// (a client of another build may not have).
pub fn check_prompt(prompt: &str) -> Result<(), Error> {
    if prompt.trim().is_empty() {
        return Err(Error::usage("the prompt is empty").with_hint("say what the agent should do"));
    }
    if prompt.len() > MAX_PROMPT {
        return Err(Error::usage(format!(
            "the prompt is {} KiB; the limit is {} KiB",
            prompt.len() / 1024,
            MAX_PROMPT / 1024
        ))
        .with_hint("put long instructions in a file in the repo and point the prompt at it"));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    pub version: String,
}

impl Hello {
    pub fn ours() -> Hello {
        Hello {
            protocol: PROTOCOL_VERSION,
            version: VERSION.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// The daemon's health: pid, uptime, version, active runs.
    Status,
    StartRun(StartRunRequest),
    CancelRun(CancelRunRequest),
    /// Streams the run's events after `since`, then live ones, then `end`.
    /// Without a run: live events of every run, until the client leaves.
    /// With `types`, only events of those types are sent (`end` always is):
    /// `--wait` needs the state changes, not a flood of output.
    Follow(FollowRequest),
    /// Approve or reject a pending approval.
    Decide(DecideRequest),
    /// Answer a run waiting for input (`done` ends a conversational run).
    Reply(ReplyRequest),
    /// From inside a run: ask for an approval and wait for the decision.
    AskApproval(AskApprovalRequest),
    /// From inside a run: ask a question and wait for the answer.
    AskInput(AskInputRequest),
    /// A one-time code pairing a phone with the remote API (`m device pair`).
    Pair(PairRequest),
    /// A paired device was just removed from the database (`m device rm`):
    /// its open streams end now.
    DeviceRemoved(DeviceRemovedRequest),
    /// Stop the daemon (its runs end as failed, saying why).
    Shutdown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartRunRequest {
    pub repo_id: String,
    pub prompt: String,
    pub agent: AgentSpec,
    pub base: Option<String>,
    #[serde(default)]
    pub options: RunOptions,
    /// The caller's environment, which the agent gets (with m's own
    /// `M_*` variables). Never stored. Absent (an older client): the
    /// daemon's own.
    #[serde(default)]
    pub env: Option<Vec<(String, String)>>,
    /// When the repo is busy, queue the run behind its active run
    /// instead of refusing it.
    #[serde(default)]
    pub queue: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CancelRunRequest {
    pub run_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowRequest {
    pub run_id: Option<String>,
    pub since: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecideRequest {
    pub approval_id: String,
    pub approve: bool,
    pub reason: Option<String>,
    /// m approves the same again for the rest of the run itself.
    #[serde(default)]
    pub always: bool,
    /// The agent may keep the grant itself (its own "always").
    #[serde(default)]
    pub persist: bool,
    /// The approval's `content_hash` as the decider saw it: when given,
    /// a decision on anything else is refused (stale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyRequest {
    pub run_id: String,
    pub text: Option<String>,
    #[serde(default)]
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AskApprovalRequest {
    pub run_id: String,
    pub approval_type: ApprovalType,
    pub payload: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AskInputRequest {
    pub run_id: String,
    pub question: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairRequest {
    pub name: Option<String>,
    pub scopes: Vec<Scope>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceRemovedRequest {
    pub device_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    Ok,
    Error {
        kind: ErrorKindName,
        message: String,
        hint: Option<String>,
    },
    Status(DaemonStatus),
    Run {
        run: Run,
    },
    /// The run was queued behind its repo's active run.
    Queued {
        run: QueuedRun,
    },
    Event {
        event: Event,
    },
    /// The followed run ended (or was already over); no more frames follow.
    End {
        state: RunState,
    },
    /// Nothing else to say yet: sent every [`HEARTBEAT`] while a follower
    /// or an asker waits, so that a stopped daemon is told from a quiet run.
    Heartbeat,
    /// The follower read too slowly and is cut off (the daemon keeps no
    /// backlog for it). Each run's events after the seq given are in the
    /// database: the client reads them there, then follows again.
    Behind {
        resume: std::collections::BTreeMap<String, i64>,
    },
    /// The answer to `decide`: the approval as decided.
    #[serde(rename = "decided")]
    Approval {
        approval: Approval,
    },
    /// The answer to `ask_approval`: what the asker is told.
    #[serde(rename = "decision")]
    Verdict {
        approved: bool,
        reason: Option<String>,
        /// The run ended before anyone decided.
        run_ended: bool,
    },
    /// The answer to `ask_input`.
    Answer {
        text: Option<String>,
        run_ended: bool,
    },
    Pairing(PairingOffer),
}

/// The remote API as `m daemon status --json` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteStatus {
    /// `https://HOST:PORT`, the address actually bound.
    pub url: String,
    /// SHA-256 of its certificate, lowercase hex.
    pub fingerprint: String,
}

/// What `m device pair` prints: the QR code's URL and its parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairingOffer {
    /// `https://HOST:PORT/pair#code=CODE&fp=FINGERPRINT`
    pub url: String,
    pub code: String,
    pub fingerprint: String,
    pub expires_at: i64,
    pub scopes: Vec<Scope>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub pid: u32,
    pub version: String,
    pub protocol: u32,
    pub started_at: i64,
    pub socket: String,
    pub active_runs: Vec<String>,
    /// How notification delivery stands (APNs, webhooks, hook commands).
    #[serde(default)]
    pub notifications: Value,
    /// The remote API, when it listens.
    #[serde(default)]
    pub remote: Option<RemoteStatus>,
    /// How the daemon itself stands: its writer, its disk, its log.
    #[serde(default)]
    pub health: DaemonHealth,
    /// How it holds its runs' processes (absent from a daemon too old to say).
    #[serde(default)]
    pub containment: Option<ContainmentStatus>,
}

/// How a daemon holds its runs' processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainmentStatus {
    /// `cgroup`: a cgroup v2 per run (and its keeper); `keeper`: the keeper alone.
    pub mechanism: String,
    /// The directory of the run cgroups (`cgroup` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// Why there are no cgroups (`keeper` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DaemonHealth {
    /// `ok`, or `waiting_for_space`: agents' output waits, in order, for
    /// the disk to have room (the agents are slowed meanwhile).
    pub writer: String,
    /// Batches of output waiting to be stored.
    pub unstored_batches: usize,
    /// The last error a commit met (it may be over), and when (unix time).
    pub last_commit_error: Option<String>,
    pub last_commit_error_at: Option<i64>,
    /// Bytes free for m on the data directory's disk.
    pub free_bytes: Option<u64>,
    /// Log lines that could not be written (and were dropped).
    pub log_write_failures: u64,
}

/// Error kinds as they travel on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKindName {
    Failure,
    Usage,
    NotFound,
    Conflict,
    DaemonUnavailable,
    Database,
    Refused,
}

impl From<ErrorKind> for ErrorKindName {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Failure
            | ErrorKind::OutputClosed
            | ErrorKind::DiskFull
            | ErrorKind::TimedOut => ErrorKindName::Failure,
            ErrorKind::Usage => ErrorKindName::Usage,
            ErrorKind::NotFound => ErrorKindName::NotFound,
            ErrorKind::Conflict => ErrorKindName::Conflict,
            ErrorKind::DaemonUnavailable => ErrorKindName::DaemonUnavailable,
            ErrorKind::Database => ErrorKindName::Database,
            ErrorKind::Refused => ErrorKindName::Refused,
        }
    }
}

impl From<ErrorKindName> for ErrorKind {
    fn from(kind: ErrorKindName) -> Self {
        match kind {
            ErrorKindName::Failure => ErrorKind::Failure,
            ErrorKindName::Usage => ErrorKind::Usage,
            ErrorKindName::NotFound => ErrorKind::NotFound,
            ErrorKindName::Conflict => ErrorKind::Conflict,
            ErrorKindName::DaemonUnavailable => ErrorKind::DaemonUnavailable,
            ErrorKindName::Database => ErrorKind::Database,
            ErrorKindName::Refused => ErrorKind::Refused,
        }
    }
}

impl From<&Error> for Response {
    fn from(err: &Error) -> Self {
        Response::Error {
            kind: err.kind.into(),
            message: err.message.clone(),
            hint: err.hint.clone(),
        }
    }
}

impl Response {
    /// Turns an error frame back into the error it was.
    pub fn into_result(self) -> Result<Response, Error> {
        match self {
            Response::Error {
                kind,
                message,
                hint,
            } => {
                let err = Error::new(kind.into(), message);
                Err(match hint {
                    Some(hint) => err.with_hint(hint),
                    None => err,
                })
            }
            other => Ok(other),
        }
    }
}

/// Encodes a frame as one line.
pub fn encode(frame: &impl Serialize) -> Vec<u8> {
    let mut line = serde_json::to_vec(frame).unwrap_or_default();
    line.push(b'\n');
    line
}

/// The frame of [`Response::Event`], serialized from a borrowed event: the
/// daemon sends each committed event to every follower without copying it.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventFrame<'a> {
    Event { event: &'a Event },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_borrowed_event_frame_reads_back_as_an_event_response() {
        let event = Event {
            id: "e".into(),
            run_id: "r".into(),
            seq: 3,
            event_type: "output".into(),
            data: Some(serde_json::json!({ "stream": "stdout", "lines": ["hi"] })),
            created_at: 7,
        };
        let frame = encode(&EventFrame::Event { event: &event });
        assert_eq!(
            frame,
            encode(&Response::Event {
                event: event.clone()
            })
        );
        let back: Response = serde_json::from_slice(&frame).unwrap();
        assert_eq!(back, Response::Event { event });
    }

    #[test]
    fn follow_without_types_is_the_old_frame_and_types_default_to_all() {
        let json = serde_json::json!({"type": "follow", "run_id": "r", "since": 0});
        let follow: Request = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(
            follow,
            Request::Follow(FollowRequest {
                run_id: Some("r".into()),
                since: 0,
                types: vec![]
            })
        );
        assert_eq!(serde_json::to_value(&follow).unwrap(), json);
    }

    #[test]
    fn requests_are_tagged_by_type() {
        let json = serde_json::to_value(Request::CancelRun(CancelRunRequest {
            run_id: "abc".into(),
        }))
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "cancel_run", "run_id": "abc"})
        );
        let back: Request = serde_json::from_value(json).unwrap();
        assert_eq!(
            back,
            Request::CancelRun(CancelRunRequest {
                run_id: "abc".into()
            })
        );
    }

    #[test]
    fn error_frames_keep_kind_message_and_hint() {
        let err = Error::conflict("busy").with_hint("wait");
        let frame = Response::from(&err);
        let back = frame.into_result().unwrap_err();
        assert_eq!(back.kind, ErrorKind::Conflict);
        assert_eq!(back.message, "busy");
        assert_eq!(back.hint.as_deref(), Some("wait"));
    }
}
