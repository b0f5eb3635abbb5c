//! iOS push through APNs with the `a2` crate: the [`PushSender`] seam, the
//! payload, the sender, and what each APNs answer means for the device.

use std::collections::BTreeMap;
use std::sync::Arc;

use a2::request::payload::PayloadLike;
use a2::{CollapseId, NotificationOptions, Priority, PushType};
use serde::Serialize;
use serde_json::Value;

use super::message::message_for;
use super::sink::{Sink, Target};
use super::{BoxFuture, Outcome};
use crate::config::notify::ApnsSettings;
use crate::error::{Error, Result};
use crate::model::{DeviceEnv, DeviceInfo, Notification, Trigger};

/// The category of approval notifications; the iOS app registers it with
/// Approve and Reject actions (Reject taking text input), which call the
/// remote API's decision endpoint (docs/push.md).
pub const APPROVAL_CATEGORY: &str = "M_APPROVAL";
/// The category of questions; the app registers it with a Reply action.
pub const QUESTION_CATEGORY: &str = "M_QUESTION";
/// The longest `summary` sent: a push payload is capped at 4 KiB.
const MAX_SUMMARY_CHARS: usize = 200;

/// How long APNs itself waits for an answer from Apple before giving up.
const APNS_REQUEST_TIMEOUT_SECS: u64 = 10;

/// One push for one device, before a2 turns it into a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    pub token: String,
    pub env: DeviceEnv,
    pub title: String,
    pub body: String,
    /// Groups a run's notifications on the phone: the run id.
    pub thread_id: Option<String>,
    pub category: Option<&'static str>,
    /// A re-sent notification (after a crash) replaces the first on the phone.
    pub collapse_id: Option<String>,
    /// Keys beside `aps`: `event`, `run_id`, `approval_id`, `seq`.
    pub custom: BTreeMap<&'static str, Value>,
}

/// Sends pushes. The real one is [`ApnsSender`]; tests record calls.
pub trait PushSender: Send + Sync {
    fn send<'a>(&'a self, push: &'a Push) -> BoxFuture<'a, Outcome>;
}

/// The push for `device` telling of `n`.
pub fn build_push(n: &Notification, device: &DeviceInfo, redact: bool) -> Push {
    let message = message_for(n, redact);
    let mut custom = BTreeMap::new();
    custom.insert("event", Value::from(n.event_name()));
    if let Some(run_id) = &n.run_id {
        custom.insert("run_id", Value::from(run_id.as_str()));
    }
    if let Some(approval_id) = &n.approval_id {
        custom.insert("approval_id", Value::from(approval_id.as_str()));
    }
    if let Some(seq) = n.seq {
        custom.insert("seq", Value::from(seq));
    }
    // What the app's Approve and Reject actions need without another
    // request: the hash to decide on, and what is being approved.
    let approval = n.body.get("approval").filter(|a| a.is_object());
    let field = |key: &str| approval.and_then(|a| a.get(key)).filter(|v| !v.is_null());
    if let Some(hash) = field("content_hash") {
        custom.insert("content_hash", hash.clone());
    }
    if let Some(kind) = field("type") {
        custom.insert("approval_type", kind.clone());
    }
    if let Some(summary) = field("payload").and_then(push_summary).filter(|_| !redact) {
        custom.insert("summary", Value::from(summary));
    }
    let category = match n.trigger {
        Some(Trigger::ApprovalRequested) => Some(APPROVAL_CATEGORY),
        Some(Trigger::InputRequested) => Some(QUESTION_CATEGORY),
        _ => None,
    };
    let collapse_id = match (&n.run_id, n.seq) {
        (Some(run_id), Some(seq)) => Some(format!("{run_id}:{seq}")),
        _ => None,
    };
    Push {
        token: device.token.clone(),
        env: device.env,
        title: message.title,
        body: message.body,
        thread_id: n.run_id.clone(),
        category,
        collapse_id,
        custom,
    }
}

/// What an approval asks, in a line: the command, or the diff's files and
/// lines added and removed ("3 files, +10 -2").
fn push_summary(payload: &Value) -> Option<String> {
    let stat = payload.get("stat");
    let count = |key: &str| stat.and_then(|s| s.get(key)).and_then(Value::as_u64);
    let text = match (count("files"), count("insertions"), count("deletions")) {
        (Some(files), Some(added), Some(removed)) => {
            let files = if files == 1 {
                "1 file".to_string()
            } else {
                format!("{files} files")
            };
            format!("{files}, +{added} -{removed}")
        }
        _ => super::message::approval_summary(payload)?,
    };
    Some(super::message::one_line(&text, MAX_SUMMARY_CHARS))
}

/// The payload as APNs receives it. a2's own payload type has no
/// `thread-id`, so this one implements a2's [`PayloadLike`]: a2 serializes
/// it and builds the request from its options.
#[derive(Debug, Serialize)]
pub struct ApnsPayload<'a> {
    #[serde(skip)]
    options: NotificationOptions<'a>,
    #[serde(skip)]
    device_token: &'a str,
    aps: Aps<'a>,
    #[serde(flatten)]
    custom: &'a BTreeMap<&'static str, Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct Aps<'a> {
    alert: Alert<'a>,
    sound: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thread_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Alert<'a> {
    title: &'a str,
    body: &'a str,
}

impl PayloadLike for ApnsPayload<'_> {
    fn get_device_token(&self) -> &str {
        self.device_token
    }

    fn get_options(&self) -> &NotificationOptions<'_> {
        &self.options
    }
}

impl Push {
    /// The a2 payload for `topic` (the app's bundle id).
    pub fn payload<'a>(&'a self, topic: &'a str) -> ApnsPayload<'a> {
        ApnsPayload {
            options: NotificationOptions {
                apns_push_type: Some(PushType::Alert),
                apns_priority: Some(Priority::High),
                apns_topic: Some(topic),
                apns_collapse_id: self
                    .collapse_id
                    .as_deref()
                    .and_then(|id| CollapseId::new(id).ok()),
                ..Default::default()
            },
            device_token: &self.token,
            aps: Aps {
                alert: Alert {
                    title: &self.title,
                    body: &self.body,
                },
                sound: "default",
                category: self.category,
                thread_id: self.thread_id.as_deref(),
            },
            custom: &self.custom,
        }
    }

    /// The request body, as a2 serializes it for APNs.
    pub fn to_json_string(&self) -> Result<String> {
        self.payload("")
            .to_json_string()
            .map_err(|e| Error::failure(format!("cannot serialize a push payload: {e}")))
    }
}

/// What an APNs answer means: `status` is the HTTP status, `reason` the
/// `reason` of the error body (Apple's names, such as `BadDeviceToken`).
pub fn classify_apns(status: u16, reason: Option<&str>) -> Outcome {
    let said = match reason {
        Some(reason) => format!("APNs answered {status} {reason}"),
        None => format!("APNs answered {status}"),
    };
    match (status, reason) {
        (200, _) => Outcome::Delivered,
        // The token is no longer valid (Unregistered, ExpiredToken).
        (410, _) => Outcome::Prune { reason: said },
        (400, Some("BadDeviceToken" | "DeviceTokenNotForTopic")) => Outcome::Prune { reason: said },
        // The connection sat idle too long: a new one will do.
        (400, Some("IdleTimeout")) => Outcome::Retry { reason: said },
        // TooManyRequests, TooManyProviderTokenUpdates, and Apple's own trouble.
        (429, _) | (500..=599, _) => Outcome::Retry { reason: said },
        _ => Outcome::Drop { reason: said },
    }
}

/// What a2's answer means.
fn outcome_of(result: std::result::Result<a2::Response, a2::Error>) -> Outcome {
    match result {
        Ok(response) => classify_apns(response.code, None),
        Err(a2::Error::ResponseError(response)) => {
            // a2 knows Apple's reasons as an enum whose variant names are the
            // reason strings; an unknown reason leaves `error` empty.
            let reason = response.error.as_ref().map(|e| format!("{:?}", e.reason));
            classify_apns(response.code, reason.as_deref())
        }
        Err(
            e @ (a2::Error::ConnectionError(_)
            | a2::Error::ClientError(_)
            | a2::Error::RequestTimeout(_)),
        ) => Outcome::Retry {
            reason: format!("cannot reach APNs: {e}"),
        },
        Err(e) => Outcome::Drop {
            reason: format!("cannot send to APNs: {e}"),
        },
    }
}

/// The real APNs sender: one a2 client per environment, each made once and
/// kept for the daemon's life (its signing token is reused until it must
/// be renewed, its HTTP/2 connection kept open).
pub struct ApnsSender {
    production: a2::Client,
    sandbox: a2::Client,
    topic: String,
}

impl ApnsSender {
    /// Reads the .p8 key and makes the clients. Errors name the key file or
    /// the setting at fault. No network traffic happens here.
    pub fn new(settings: &ApnsSettings) -> Result<ApnsSender> {
        let shown = settings.key_path.display();
        let key = std::fs::read(&settings.key_path).map_err(|e| {
            Error::failure(format!(
                "cannot read the APNs key {shown} (notify.apns.key_path): {e}"
            ))
            .with_hint(
                "download the .p8 key from your Apple developer account and point key_path at it",
            )
        })?;
        let client = |endpoint: a2::Endpoint| {
            let config = a2::ClientConfig {
                endpoint,
                request_timeout_secs: Some(APNS_REQUEST_TIMEOUT_SECS),
                ..Default::default()
            };
            a2::Client::token(
                key.as_slice(),
                settings.key_id.clone(),
                settings.team_id.clone(),
                config,
            )
            .map_err(|e| {
                Error::failure(format!(
                    "the APNs key {shown} (notify.apns.key_path) is not usable: {e}"
                ))
                .with_hint(
                    "it must be the .p8 file (an EC private key in PEM) Apple gave for key_id",
                )
            })
        };
        Ok(ApnsSender {
            production: client(a2::Endpoint::Production)?,
            sandbox: client(a2::Endpoint::Sandbox)?,
            topic: settings.topic.clone(),
        })
    }
}

impl PushSender for ApnsSender {
    fn send<'a>(&'a self, push: &'a Push) -> BoxFuture<'a, Outcome> {
        let client = match push.env {
            DeviceEnv::Production => &self.production,
            DeviceEnv::Sandbox => &self.sandbox,
        };
        Box::pin(async move { outcome_of(client.send(push.payload(&self.topic)).await) })
    }
}

/// Push to every device of `m device add`, through `sender` (APNs, or
/// another push service behind the [`PushSender`] seam).
pub struct ApnsSink {
    pub sender: Arc<dyn PushSender>,
    /// `[notify.apns] events`, else `[notify] events`.
    pub events: Vec<Trigger>,
    pub redact: bool,
}

impl Sink for ApnsSink {
    fn name(&self) -> &str {
        "apns"
    }

    fn wants(&self, trigger: Trigger) -> bool {
        self.events.contains(&trigger)
    }

    fn needs_devices(&self) -> bool {
        true
    }

    fn targets(&self, devices: &[DeviceInfo]) -> Vec<Target> {
        devices
            .iter()
            .map(|device| {
                let token = &device.token[..device.token.len().min(12)];
                Target {
                    key: format!("apns:{}", device.token),
                    label: match &device.name {
                        Some(name) => format!("APNs {name} ({}, {token}…)", device.env),
                        None => format!("APNs device {token}… ({})", device.env),
                    },
                    device: Some(device.clone()),
                }
            })
            .collect()
    }

    fn send(&self, n: Arc<Notification>, target: &Target) -> BoxFuture<'static, Outcome> {
        let Some(device) = &target.device else {
            return Box::pin(async {
                Outcome::Drop {
                    reason: "a push needs a device".into(),
                }
            });
        };
        let push = build_push(&n, device, self.redact);
        let sender = self.sender.clone();
        Box::pin(async move { sender.send(&push).await })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    use crate::model::Platform;

    /// A throwaway P-256 key in PKCS#8 PEM, as a .p8 file holds (from a2's
    /// own tests; it signs nothing real).
    pub(crate) const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg8g/n6j9roKvnUkwu
lCEIvbDqlUhA5FOzcakkG90E8L+hRANCAATKS2ZExEybUvchRDuKBftotMwVEus3
jDwmlD1Gg0yJt1e38djFwsxsfr5q2hv0Rj9fTEqAPr8H7mGm0wKxZ7iQ
-----END PRIVATE KEY-----";

    const RUN: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    const APPROVAL: &str = "a0a1a2a3-b4b5-c6c7-d8d9-e0e1e2e3e4e5";

    #[test]
    fn every_apns_reason_is_classified() {
        // (status, reason, expected kind) for every reason Apple documents.
        let table: &[(u16, Option<&str>, &str)] = &[
            (200, None, "delivered"),
            (400, Some("BadCollapseId"), "drop"),
            (400, Some("BadDeviceToken"), "prune"),
            (400, Some("BadExpirationDate"), "drop"),
            (400, Some("BadMessageId"), "drop"),
            (400, Some("BadPriority"), "drop"),
            (400, Some("BadTopic"), "drop"),
            (400, Some("DeviceTokenNotForTopic"), "prune"),
            (400, Some("DuplicateHeaders"), "drop"),
            (400, Some("IdleTimeout"), "retry"),
            (400, Some("InvalidPushType"), "drop"),
            (400, Some("MissingDeviceToken"), "drop"),
            (400, Some("MissingTopic"), "drop"),
            (400, Some("PayloadEmpty"), "drop"),
            (400, Some("TopicDisallowed"), "drop"),
            (403, Some("BadCertificate"), "drop"),
            (403, Some("BadCertificateEnvironment"), "drop"),
            (403, Some("ExpiredProviderToken"), "drop"),
            (403, Some("Forbidden"), "drop"),
            (403, Some("InvalidProviderToken"), "drop"),
            (403, Some("MissingProviderToken"), "drop"),
            (403, Some("UnrelatedKeyIdInToken"), "drop"),
            (403, Some("BadEnvironmentKeyInToken"), "drop"),
            (404, Some("BadPath"), "drop"),
            (405, Some("MethodNotAllowed"), "drop"),
            (410, Some("ExpiredToken"), "prune"),
            (410, Some("Unregistered"), "prune"),
            (410, None, "prune"),
            (413, Some("PayloadTooLarge"), "drop"),
            (429, Some("TooManyProviderTokenUpdates"), "retry"),
            (429, Some("TooManyRequests"), "retry"),
            (500, Some("InternalServerError"), "retry"),
            (503, Some("ServiceUnavailable"), "retry"),
            (503, Some("Shutdown"), "retry"),
            (502, None, "retry"),
            (400, None, "drop"),
            (418, Some("SomethingNew"), "drop"),
        ];
        for (status, reason, expected) in table {
            let outcome = classify_apns(*status, *reason);
            assert_eq!(
                outcome.kind(),
                *expected,
                "{status} {reason:?}: {outcome:?}"
            );
            if let Some(reason) = reason {
                if *expected != "delivered" {
                    assert!(outcome.to_string().contains(reason), "{outcome}");
                }
            }
        }
    }

    #[test]
    fn a2_knows_every_reason_the_table_tests_by_the_same_name() {
        // The names a2 parses become our reason strings through Debug.
        for name in [
            "BadDeviceToken",
            "DeviceTokenNotForTopic",
            "Unregistered",
            "TooManyRequests",
        ] {
            let body: a2::ErrorBody = serde_json::from_value(json!({ "reason": name })).unwrap();
            assert_eq!(format!("{:?}", body.reason), name);
        }
    }

    #[test]
    fn transport_failures_are_retried_and_others_dropped() {
        let timeout = outcome_of(Err(a2::Error::RequestTimeout(10)));
        assert_eq!(timeout.kind(), "retry");
        let bad = outcome_of(Err(a2::Error::InvalidOptions("x".into())));
        assert_eq!(bad.kind(), "drop");
        let ok = outcome_of(Ok(a2::Response {
            error: None,
            apns_id: None,
            code: 200,
        }));
        assert_eq!(ok, Outcome::Delivered);
    }

    fn device(env: DeviceEnv) -> DeviceInfo {
        DeviceInfo {
            token: "ab".repeat(32),
            platform: Platform::Ios,
            env,
            name: Some("phone".into()),
            created_at: 0,
        }
    }

    fn approval_notification() -> Notification {
        Notification {
            trigger: Some(Trigger::ApprovalRequested),
            run_id: Some(RUN.into()),
            approval_id: Some(APPROVAL.into()),
            seq: Some(12),
            body: json!({
                "event": "approval.requested",
                "seq": 12,
                "run": {"id": RUN, "repo": "webapp", "prompt": "make the tests pass"},
                "approval": {"id": APPROVAL, "type": "command", "content_hash": "c0ffee",
                             "payload": {"command": "cargo publish --token s3cr3t"}},
                "data": {},
            }),
        }
    }

    #[test]
    fn an_approval_push_carries_the_ids_a_category_and_its_thread() {
        let push = build_push(&approval_notification(), &device(DeviceEnv::Sandbox), false);
        assert_eq!(push.env, DeviceEnv::Sandbox);
        let json: Value = serde_json::from_str(&push.to_json_string().unwrap()).unwrap();
        assert_eq!(
            json,
            json!({
                "aps": {
                    "alert": {
                        "title": "webapp: approval needed",
                        "body": "Run 0f1e2d3c asks to run a command: cargo publish --token s3cr3t",
                    },
                    "sound": "default",
                    "category": "M_APPROVAL",
                    "thread-id": RUN,
                },
                "event": "approval.requested",
                "run_id": RUN,
                "approval_id": APPROVAL,
                "seq": 12,
                "content_hash": "c0ffee",
                "approval_type": "command",
                "summary": "cargo publish --token s3cr3t",
            })
        );
        let payload = push.payload("com.example.m");
        let options = payload.get_options();
        assert_eq!(options.apns_topic, Some("com.example.m"));
        assert_eq!(options.apns_push_type, Some(PushType::Alert));
        assert_eq!(
            options.apns_collapse_id.as_ref().map(|c| c.value),
            Some(format!("{RUN}:12").as_str())
        );
        assert_eq!(payload.get_device_token(), "ab".repeat(32));
    }

    #[test]
    fn a_redacted_push_has_the_ids_but_no_command_or_prompt() {
        let push = build_push(
            &approval_notification(),
            &device(DeviceEnv::Production),
            true,
        );
        let text = push.to_json_string().unwrap();
        for secret in ["cargo", "s3cr3t", "make the tests"] {
            assert!(!text.contains(secret), "{text}");
        }
        let json: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            json["aps"]["alert"]["body"],
            "Run 0f1e2d3c asks to run a command"
        );
        assert_eq!(json["run_id"], RUN);
        assert_eq!(json["approval_id"], APPROVAL);
        assert_eq!(json["seq"], 12);
        assert_eq!(json["content_hash"], "c0ffee");
        assert!(json.get("summary").is_none(), "{json}");
    }

    #[test]
    fn a_diff_push_sums_up_its_files_and_a_question_can_be_answered() {
        let mut n = approval_notification();
        n.body["approval"]["type"] = json!("diff");
        n.body["approval"]["payload"] = json!({"patch": "--- a\n+++ b\n", "stat": {"files": 3, "insertions": 10, "deletions": 2}});
        let push = build_push(&n, &device(DeviceEnv::Production), false);
        assert_eq!(push.custom["summary"], "3 files, +10 -2");
        assert_eq!(push.category, Some(APPROVAL_CATEGORY));

        let mut n = approval_notification();
        n.trigger = Some(Trigger::InputRequested);
        n.approval_id = None;
        n.body["approval"] = Value::Null;
        let push = build_push(&n, &device(DeviceEnv::Production), false);
        assert_eq!(push.category, Some(QUESTION_CATEGORY));
        assert!(!push.custom.contains_key("content_hash"));
        assert_eq!(push.custom["run_id"], RUN);
    }

    #[test]
    fn a_run_end_push_has_no_category_and_no_approval() {
        let mut n = approval_notification();
        n.trigger = Some(Trigger::RunCompleted);
        n.approval_id = None;
        let json: Value = serde_json::from_str(
            &build_push(&n, &device(DeviceEnv::Production), false)
                .to_json_string()
                .unwrap(),
        )
        .unwrap();
        assert!(json["aps"].get("category").is_none(), "{json}");
        assert!(json.get("approval_id").is_none(), "{json}");
        assert_eq!(
            json["aps"]["alert"]["body"],
            "Run 0f1e2d3c completed: make the tests pass"
        );
    }

    #[test]
    fn the_test_push_has_no_run() {
        let n = Notification {
            trigger: None,
            run_id: None,
            approval_id: None,
            seq: None,
            body: json!({"event": "test"}),
        };
        let push = build_push(&n, &device(DeviceEnv::Production), false);
        let json: Value = serde_json::from_str(&push.to_json_string().unwrap()).unwrap();
        assert_eq!(json["event"], "test");
        assert!(json["aps"].get("thread-id").is_none());
        assert!(json.get("run_id").is_none());
        assert_eq!(push.collapse_id, None);
    }

    fn settings(key_path: std::path::PathBuf) -> ApnsSettings {
        ApnsSettings {
            key_path,
            key_id: "ABCDE12345".into(),
            team_id: "FGHIJ67890".into(),
            topic: "com.example.m".into(),
            events: Trigger::ALL.to_vec(),
        }
    }

    #[test]
    fn a_sender_is_made_from_a_p8_key_without_network() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("AuthKey_ABCDE12345.p8");
        std::fs::write(&key, TEST_KEY).unwrap();
        ApnsSender::new(&settings(key)).unwrap();
    }

    #[test]
    fn a_missing_or_bad_key_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.p8");
        let error = ApnsSender::new(&settings(missing.clone())).err().unwrap();
        assert!(
            error.message.contains(&missing.display().to_string()),
            "{}",
            error.message
        );
        assert!(error.message.contains("cannot read"), "{}", error.message);

        let bad = dir.path().join("bad.p8");
        std::fs::write(&bad, "not a key").unwrap();
        let error = ApnsSender::new(&settings(bad.clone())).err().unwrap();
        assert!(error.message.contains("is not usable"), "{}", error.message);
        assert!(error.message.contains(&bad.display().to_string()));
    }
}
