//! Notifications: telling a human's phone, webhooks and hook commands that
//! a run needs them (an approval, a question) or has ended.
//!
//! The path of a notification:
//! 1. The daemon writes an event; in the same transaction the store queues a
//!    notification in its outbox if [`trigger_for`] says the event notifies
//!    (`Store::append_events_with_notifications`, or
//!    `store::enqueue_notifications_tx` inside a custom transaction).
//! 2. The daemon's [`Dispatcher`] delivers due notifications to every target
//!    (each APNs device, each webhook, each hook command) whose `events`
//!    include it, records which targets are done, prunes dead devices, and
//!    schedules retries with backoff in the outbox. A notification still
//!    pending when the daemon stops is delivered after it starts again.
//! 3. Nothing here runs inside a run: a slow or failing sink never blocks or
//!    fails one.
//!
//! Modules: `config` (the `[notify]` section), `message` (what a person
//! reads, redaction), `apns` (a2, the [`PushSender`] seam, the
//! classification of APNs answers), `webhook`, `command`, `retry` (backoff
//! and the injectable clock), `sink` (the [`Sink`] trait that the APNs,
//! webhook and command sinks implement, each in its file), `dispatch` (the
//! [`Dispatcher`], which knows sinks only through it).

pub mod apns;
pub mod command;
mod dispatch;
pub mod message;
pub mod retry;
pub mod sink;
pub mod webhook;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

pub use crate::config::NotifyConfig;
pub use apns::{build_push, classify_apns, ApnsSender, Push, PushSender};
pub use dispatch::{ApnsStatus, DeliveryReport, Dispatcher, NotifyHealth, TestResult};
pub use retry::{Clock, RetryPolicy, SystemClock};
pub use sink::{Sink, Target};
pub use webhook::classify_http;

pub use crate::model::{trigger_for, Notification, Trigger};

/// A boxed future, so traits with async methods stay usable as `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How one delivery to one target went, and what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// The device's token is dead: remove the device.
    Prune {
        reason: String,
    },
    /// A passing failure (timeout, 429, 5xx): try again later.
    Retry {
        reason: String,
    },
    /// Refused for good: log it and give up on this target.
    Drop {
        reason: String,
    },
}

impl Outcome {
    /// `delivered`, `prune`, `retry` or `drop`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Prune { .. } => "prune",
            Outcome::Retry { .. } => "retry",
            Outcome::Drop { .. } => "drop",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Delivered => None,
            Outcome::Prune { reason } | Outcome::Retry { reason } | Outcome::Drop { reason } => {
                Some(reason)
            }
        }
    }

    /// The same outcome, told differently.
    fn with_reason(self, reason: String) -> Outcome {
        match self {
            Outcome::Delivered => Outcome::Delivered,
            Outcome::Prune { .. } => Outcome::Prune { reason },
            Outcome::Retry { .. } => Outcome::Retry { reason },
            Outcome::Drop { .. } => Outcome::Drop { reason },
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Delivered => f.write_str("delivered"),
            Outcome::Prune { reason } => write!(f, "device removed: {reason}"),
            Outcome::Retry { reason } => write!(f, "will retry: {reason}"),
            Outcome::Drop { reason } => write!(f, "failed: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn humans_needed_and_run_ends_notify_and_nothing_else() {
        use Trigger::*;
        let cases = [
            ("approval.requested", json!({}), Some(ApprovalRequested)),
            (
                "input.requested",
                json!({"question": "?"}),
                Some(InputRequested),
            ),
            (
                "run.finished",
                json!({"state": "completed"}),
                Some(RunCompleted),
            ),
            (
                "run.finished",
                json!({"state": "failed", "reason": "x"}),
                Some(RunFailed),
            ),
            (
                "run.finished",
                json!({"state": "cancelled"}),
                Some(RunCancelled),
            ),
            ("run.finished", json!({"state": "running"}), None),
            ("run.finished", json!({}), None),
            ("run.finished", serde_json::Value::Null, None),
            ("run.state", json!({"state": "completed"}), None),
            ("approval.resolved", json!({}), None),
            ("input.provided", json!({}), None),
            ("output", json!({}), None),
            ("agent.message", json!({}), None),
        ];
        for (event_type, data, expected) in cases {
            assert_eq!(
                trigger_for(event_type, &data),
                expected,
                "{event_type} {data}"
            );
        }
        for trigger in Trigger::ALL {
            assert_eq!(trigger.as_str().parse::<Trigger>().unwrap(), *trigger);
        }
    }
}
