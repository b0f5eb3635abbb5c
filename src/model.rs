//! The records m keeps, as typed values. No I/O here: the store reads and
//! writes them, the protocol carries them, the command line prints them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

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
                        [$($text),+].join(", ")
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub run_id: String,
    pub seq: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: Option<serde_json::Value>,
    pub created_at: i64,
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub token: String,
    pub platform: Platform,
    pub created_at: i64,
}

/// The first eight characters of an id: enough to type, as git shows commits.
pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(8)]
}

/// "5s ago", "3m ago", "2h ago", "4d ago".
pub fn relative_time(then: i64, now: i64) -> String {
    let secs = (now - then).max(0);
    match secs {
        0..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Random ids for what people type by prefix.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Time-ordered ids for events: inserts land at the end of the primary-key index.
pub fn new_event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

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
