//! The records m keeps, as typed values. No I/O here: the store reads and
//! writes them, the protocol carries them, the command line prints them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

mod start;

pub use start::{AgentSpec, RunOptions};

/// Generates the string mapping of a closed set of names, as the seed spells them.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The names as typed and stored, in the order of [`Self::ALL`].
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<$name, Error> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(Error::usage(format!(
                        "unknown {} '{}'", $what, s
                    ))
                    .with_hint(format!(
                        "use one of: {}",
                        $name::NAMES.join(", ")
                    ))),
                }
            }
        }
    };
}

named_enum!(
    /// The seed's run states. The last three are final.
    RunState, "run state" {
        Running = "running",
        WaitingInput = "waiting_input",
        WaitingApproval = "waiting_approval",
        Completed = "completed",
        Failed = "failed",
        Cancelled = "cancelled",
    }
);

impl RunState {
    pub const ACTIVE: [RunState; 3] = [
        RunState::Running,
        RunState::WaitingInput,
        RunState::WaitingApproval,
    ];

    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunState::Completed | RunState::Failed | RunState::Cancelled
        )
    }

    pub fn is_active(self) -> bool {
        !self.is_final()
    }

    /// How `--wait`, `run wait` and `events --follow` report this state.
    pub fn exit_code(self) -> u8 {
        use crate::error::exit;
        match self {
            RunState::Completed => exit::OK,
            RunState::Failed => exit::RUN_FAILED,
            RunState::Cancelled => exit::RUN_CANCELLED,
            RunState::WaitingApproval => exit::RUN_WAITING_APPROVAL,
            RunState::WaitingInput => exit::RUN_WAITING_INPUT,
            RunState::Running => exit::FAILURE,
        }
    }
}

named_enum!(ApprovalType, "approval type" {
    Diff = "diff",
    Command = "command",
    Generic = "generic",
});

named_enum!(ApprovalState, "approval state" {
    Pending = "pending",
    Approved = "approved",
    Rejected = "rejected",
});

named_enum!(
    /// How the daemon holds its runs' processes (`[daemon] containment`):
    /// a cgroup v2 per run where it can make one (`auto`), always (`cgroup`:
    /// the daemon does not start without), or the keeper alone (`keeper`).
    Containment, "containment value" {
        Auto = "auto",
        Cgroup = "cgroup",
        Keeper = "keeper",
    }
);

named_enum!(
    /// What `m run start` does when the repo has an active run (`[run] on_busy`).
    OnBusy, "on_busy value" {
        Refuse = "refuse",
        Queue = "queue",
    }
);

named_enum!(
    /// What a deadline decides for a human who did not answer in time
    /// (`[approvals] on_timeout`): reject the approval (a question without
    /// a default answer then ends the run), or cancel the run.
    OnTimeout, "on_timeout value" {
        Reject = "reject",
        Cancel = "cancel",
    }
);

named_enum!(Platform, "platform" {
    Ios = "ios",
});

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repo {
    pub id: String,
    pub name: String,
    pub git_url: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    pub repo_id: String,
    pub prompt: String,
    pub state: RunState,
    pub workspace_path: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A run waiting in its repo's queue (`m run start --queue`): it has its id,
/// and becomes a [`Run`] when the repo's active run ends and its turn comes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedRun {
    pub id: String,
    pub repo_id: String,
    pub prompt: String,
    /// Always `queued`: the word m uses beside the seed's run states.
    pub state: Queued,
    /// Its place in the repo's queue now: 1 starts next.
    pub position: i64,
    pub workspace_path: String,
    pub agent: serde_json::Value,
    pub options: serde_json::Value,
    pub base: Option<String>,
    pub created_at: i64,
    /// The `run.queued` event that opens its log (followers see it while
    /// the run waits; it is stored when the run starts or is cancelled).
    /// The daemon's own: not shown, nor sent to clients.
    #[serde(skip)]
    pub queued_event: Event,
}

/// The state of a queued run, as `m run list` and `--json` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Queued {
    Queued,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub run_id: String,
    pub seq: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: Option<serde_json::Value>,
    pub created_at: i64,
}

impl Event {
    /// The event's type; None only for a type this build does not know (a
    /// log written by a newer m).
    pub fn kind(&self) -> Option<EventType> {
        self.event_type.parse().ok()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub id: String,
    pub run_id: String,
    pub event_id: String,
    #[serde(rename = "type")]
    pub approval_type: ApprovalType,
    pub state: ApprovalState,
    pub payload: Option<serde_json::Value>,
    pub rejection_reason: Option<String>,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
    /// What was asked, as a hash: see [`content_hash`]. A decision that
    /// names it acts only on exactly what its decider saw.
    #[serde(default)]
    pub content_hash: String,
    /// Who decided, once decided (approvals decided before m recorded it
    /// have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<DecidedBy>,
}

/// Who made a decision: recorded with it, shown by `m approvals`,
/// `m events` and the remote API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DecidedBy {
    /// Someone at this machine (`m approve`, `m reject`, `m reply`), known
    /// by the process that sent the decision: its uid and pid from the
    /// socket, its terminal if it had one. (Decisions recorded before these
    /// were kept have none.)
    Human {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uid: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tty: Option<String>,
    },
    /// A paired phone or browser, through the remote API.
    Device { id: String, name: String },
    /// An allow rule or `--auto-approve`.
    Policy { rule: String },
    /// The agent withdrew its own request.
    Agent,
    /// m itself: the run ended, or the review went stale.
    M,
    /// Nobody answered within the run's approval timeout
    /// (`--approval-timeout`, `[approvals] timeout`): `after` is that
    /// timeout as typed (`1h`).
    Deadline { after: String },
}

impl fmt::Display for DecidedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecidedBy::Human { uid, pid, tty } => {
                f.write_str("human")?;
                let known: Vec<String> = [
                    uid.map(|uid| format!("uid {uid}")),
                    pid.map(|pid| format!("pid {pid}")),
                    tty.clone(),
                ]
                .into_iter()
                .flatten()
                .collect();
                if !known.is_empty() {
                    write!(f, " ({})", known.join(", "))?;
                }
                Ok(())
            }
            DecidedBy::Device { id, name } => write!(f, "device {name} ({})", short_id(id)),
            DecidedBy::Policy { rule } => write!(f, "policy ({rule})"),
            DecidedBy::Agent => f.write_str("agent"),
            DecidedBy::M => f.write_str("m"),
            DecidedBy::Deadline { after } => write!(f, "deadline ({after} without an answer)"),
        }
    }
}

/// The SHA-256 (lowercase hex) of an approval's canonical JSON
/// `{"payload": PAYLOAD, "type": TYPE}`: object keys sorted at every level,
/// no whitespace, strings escaped as JSON does. It covers everything a
/// human is shown (the diff text, the argv and cwd, the title and body),
/// so a decision carrying it cannot act on something else.
pub fn content_hash(approval_type: ApprovalType, payload: Option<&serde_json::Value>) -> String {
    let mut text = String::new();
    let whole = serde_json::json!({ "type": approval_type, "payload": payload });
    canonical_json(&whole, &mut text);
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    hex(digest.as_ref())
}

/// `value` as canonical JSON (see [`content_hash`]).
pub fn canonical_json(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

named_enum!(
    /// The type of an event in a run's log; docs/events.md documents each
    /// with its data, and `m events --type` takes these names.
    EventType, "event type" {
        RunQueued = "run.queued",
        RunCreated = "run.created",
        RunState = "run.state",
        RunIdle = "run.idle",
        RunFinished = "run.finished",
        RunPruned = "run.pruned",
        WorkspaceProgress = "workspace.progress",
        WorkspaceReady = "workspace.ready",
        WorkspaceDiff = "workspace.diff",
        Output = "output",
        Error = "error",
        AgentSession = "agent.session",
        AgentAuth = "agent.auth",
        AgentSuspended = "agent.suspended",
        AgentResumed = "agent.resumed",
        AgentMode = "agent.mode",
        AgentRefused = "agent.refused",
        AgentPrompt = "agent.prompt",
        AgentMessage = "agent.message",
        AgentThought = "agent.thought",
        AgentPlan = "agent.plan",
        AgentUsage = "agent.usage",
        AgentUpdate = "agent.update",
        AgentTurn = "agent.turn",
        ToolCall = "tool.call",
        ToolUpdate = "tool.update",
        ToolPermission = "tool.permission",
        ApprovalRequested = "approval.requested",
        ApprovalResolved = "approval.resolved",
        ApprovalAlways = "approval.always",
        DecisionRefused = "decision.refused",
        InputRequested = "input.requested",
        InputProvided = "input.provided",
        InputWithdrawn = "input.withdrawn",
        HumanReminded = "human.reminded",
    }
);

/// The events that open and close a run's questions.
pub const INPUT_EVENTS: [EventType; 3] = [
    EventType::InputRequested,
    EventType::InputProvided,
    EventType::InputWithdrawn,
];

/// The questions still open among a run's events, oldest first: each
/// `input.requested` until the `input.provided` or `input.withdrawn` whose
/// `question_seq` names it. One that names none (from an older m) closed
/// the oldest open question, the one `m reply` answers.
pub fn open_questions(events: &[Event]) -> Vec<&Event> {
    let mut open: Vec<&Event> = Vec::new();
    for event in events {
        match event.kind() {
            Some(EventType::InputRequested) => open.push(event),
            Some(EventType::InputProvided) | Some(EventType::InputWithdrawn) => {
                let named = event
                    .data
                    .as_ref()
                    .and_then(|d| d.get("question_seq"))
                    .and_then(serde_json::Value::as_i64);
                let closed = match named {
                    Some(seq) => open.iter().position(|q| q.seq == seq),
                    None if open.is_empty() => None,
                    None => Some(0),
                };
                if let Some(index) = closed {
                    open.remove(index);
                }
            }
            _ => {}
        }
    }
    open
}

/// The event type names, in the order of [`EventType::ALL`].
pub const EVENT_TYPES: &[&str] = EventType::NAMES;
/// The first eight characters of an id: enough to type, as git shows commits.
pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(8)]
}

/// "5s ago", "3m ago", "2h ago", "4d ago".
pub fn relative_time(then: i64, now: i64) -> String {
    let mut text = String::new();
    write_relative_time(&mut text, then, now);
    text
}

/// [`relative_time`] appended to `out` (a listing writes 100k of them).
pub fn write_relative_time(out: &mut String, then: i64, now: i64) {
    use std::fmt::Write;
    let secs = (now - then).max(0);
    let (n, unit) = match secs {
        0..=59 => (secs, "s"),
        60..=3599 => (secs / 60, "m"),
        3600..=86_399 => (secs / 3600, "h"),
        _ => (secs / 86_400, "d"),
    };
    // Writing to a String cannot fail.
    let _ = write!(out, "{n}{unit} ago");
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A time (unix seconds) as a time of day in UTC, `13:05 UTC`, with the
/// date before it when that is not the day of `now`.
pub fn utc_time(at: i64, now: i64) -> String {
    let (day, secs) = (at.div_euclid(86_400), at.rem_euclid(86_400));
    let time = format!("{:02}:{:02} UTC", secs / 3600, secs % 3600 / 60);
    if day == now.div_euclid(86_400) {
        return time;
    }
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02} {time}")
}

/// The calendar date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A duration as typed: a number and a unit (`90s`, `10m`, `2h`, `7d`), or a
/// bare number of seconds.
pub fn parse_duration(text: &str) -> std::result::Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| {
        format!("'{text}' is not a duration: give a number and a unit, e.g. 90s, 10m, 2h, 7d")
    })?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => {
            return Err(format!(
                "'{text}': unknown unit '{unit}'; use s, m, h, d or w"
            ))
        }
    };
    number
        .checked_mul(seconds)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("'{text}' is too long"))
}

/// A duration as `parse_duration` reads it, in its largest whole unit.
pub fn format_duration(duration: std::time::Duration) -> String {
    let secs = duration.as_secs();
    for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60)] {
        if secs >= size && secs % size == 0 {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// Random ids for what people type by prefix.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Time-ordered ids for events: inserts land at the end of the primary-key index.
pub fn new_event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

named_enum!(
    /// Which APNs environment a device's token belongs to: apps run from
    /// Xcode get sandbox tokens, TestFlight and App Store builds production ones.
    DeviceEnv, "device environment" {
        Sandbox = "sandbox",
        Production = "production",
    }
);

/// A registered device with what m keeps beside the seed's columns
/// (migration 3; a device without details is a production one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub token: String,
    pub platform: Platform,
    pub env: DeviceEnv,
    pub name: Option<String>,
    pub created_at: i64,
}

named_enum!(
    /// What a paired device may do through the remote API.
    Scope, "scope" {
        Read = "read",
        Decide = "decide",
        Control = "control",
    }
);

impl Scope {
    /// `read,decide`: a comma-separated list, each named once.
    pub fn parse_list(text: &str) -> Result<Vec<Scope>, Error> {
        let mut scopes = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let scope: Scope = name.parse()?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err(Error::usage("no scope was given")
                .with_hint(format!("use some of: {}", Scope::NAMES.join(","))));
        }
        scopes.sort_by_key(|s| Scope::ALL.iter().position(|a| a == s));
        Ok(scopes)
    }

    pub fn join(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A phone or browser paired with the remote API (`m device pair`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteDevice {
    pub id: String,
    pub name: String,
    /// `ios` (the m app) or `web` (the phone page).
    pub platform: String,
    pub scopes: Vec<Scope>,
    /// Its APNs token, when it gave one (its row in `devices`).
    pub apns_token: Option<String>,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
}

/// APNs tokens are hexadecimal: 32 bytes today, up to 100 bytes allowed by
/// Apple's documentation. Stored lowercase, so one phone is one row.
pub fn parse_apns_token(token: &str) -> Result<String, Error> {
    let token = token.trim();
    let valid = token.len() % 2 == 0
        && (64..=200).contains(&token.len())
        && token.chars().all(|c| c.is_ascii_hexdigit());
    if !valid {
        let shown: String = token.chars().take(40).collect();
        return Err(Error::usage(format!(
            "'{}' is not an APNs device token",
            shown.escape_debug()
        ))
        .with_hint("a token is 64 (up to 200) hexadecimal characters, as the m app shows it"));
    }
    Ok(token.to_ascii_lowercase())
}

/// A device m removed by itself because APNs said its token is dead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrunedDevice {
    pub token: String,
    pub env: Option<DeviceEnv>,
    pub name: Option<String>,
    pub reason: String,
    pub at: i64,
}

named_enum!(
    /// What a notification is about; `[notify] events` lists these names.
    Trigger, "notification event" {
        ApprovalRequested = "approval.requested",
        InputRequested = "input.requested",
        RunCompleted = "run.completed",
        RunFailed = "run.failed",
        RunCancelled = "run.cancelled",
    }
);

/// Decides whether an event raises a notification: a human is needed
/// (approval or input), or a run ended (`run.finished` with its final state
/// in `data.state`).
pub fn trigger_for(event_type: &str, data: &serde_json::Value) -> Option<Trigger> {
    match event_type.parse().ok()? {
        EventType::ApprovalRequested => Some(Trigger::ApprovalRequested),
        EventType::InputRequested => Some(Trigger::InputRequested),
        // A reminder notifies again, as what it reminds of did.
        EventType::HumanReminded => Some(if data.get("approval_id").is_some() {
            Trigger::ApprovalRequested
        } else {
            Trigger::InputRequested
        }),
        EventType::RunFinished => match data.get("state").and_then(serde_json::Value::as_str) {
            Some("completed") => Some(Trigger::RunCompleted),
            Some("failed") => Some(Trigger::RunFailed),
            Some("cancelled") => Some(Trigger::RunCancelled),
            _ => None,
        },
        _ => None,
    }
}

named_enum!(
    /// Where a notification of the outbox stands.
    NotificationState, "notification state" {
        Pending = "pending",
        Delivered = "delivered",
        Failed = "failed",
    }
);

/// One notification, as every sink receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// `None` only for the test notification of `m notify test`.
    pub trigger: Option<Trigger>,
    pub run_id: Option<String>,
    pub approval_id: Option<String>,
    /// The seq of the event that raised it.
    pub seq: Option<i64>,
    /// The facts, as webhooks and hook commands get them: `event`, `seq`,
    /// `at`, `run`, `approval` and the event's `data`.
    pub body: serde_json::Value,
}

impl Notification {
    /// The event name sinks see (`M_EVENT`, the `event` key).
    pub fn event_name(&self) -> &'static str {
        self.trigger.map(Trigger::as_str).unwrap_or("test")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_utc_with_the_date_unless_today() {
        // 2024-02-29 13:05:00 UTC.
        let at = 1_709_211_900;
        assert_eq!(utc_time(at, at + 3600), "13:05 UTC");
        assert_eq!(utc_time(at, at + 86_400), "2024-02-29 13:05 UTC");
        assert_eq!(utc_time(0, 86_400 * 400), "1970-01-01 00:00 UTC");
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn durations_read_as_typed() {
        use std::time::Duration;
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert!(parse_duration("7 days").is_err());
        assert!(parse_duration("m").is_err());
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn content_hashes_are_canonical_and_cover_type_and_payload() {
        let a = serde_json::json!({ "command": "ls", "cwd": "/x", "argv": ["ls", "-l"] });
        let b: serde_json::Value =
            serde_json::from_str(r#"{"argv":["ls","-l"],  "cwd":"/x","command":"ls"}"#).unwrap();
        let hash = content_hash(ApprovalType::Command, Some(&a));
        assert_eq!(hash, content_hash(ApprovalType::Command, Some(&b)));
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, content_hash(ApprovalType::Generic, Some(&a)));
        let c = serde_json::json!({ "command": "ls", "cwd": "/y", "argv": ["ls", "-l"] });
        assert_ne!(hash, content_hash(ApprovalType::Command, Some(&c)));
        let mut text = String::new();
        canonical_json(&serde_json::json!({"b": [1, "é\n"], "a": null}), &mut text);
        assert_eq!(text, r#"{"a":null,"b":[1,"é\n"]}"#);
        // The documented example of docs/api.md.
        assert_eq!(
            content_hash(
                ApprovalType::Generic,
                Some(&serde_json::json!({"title": "deploy?"}))
            ),
            "c69e0474d510604279ad858621c9c700121c733630d901628b56a80258635d70"
        );
    }

    #[test]
    fn relative_times_pick_the_largest_unit() {
        assert_eq!(relative_time(100, 100), "0s ago");
        assert_eq!(relative_time(0, 59), "59s ago");
        assert_eq!(relative_time(0, 125), "2m ago");
        assert_eq!(relative_time(0, 7200), "2h ago");
        assert_eq!(relative_time(0, 3 * 86_400), "3d ago");
        assert_eq!(relative_time(10, 0), "0s ago");
    }
}
