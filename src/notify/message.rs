//! What a notification says to a person (title and body), and the JSON that
//! webhooks get, with or without redaction. Pure functions of a
//! [`Notification`]: no I/O.

use serde_json::{json, Value};

use crate::model::{short_id, Notification, Trigger};

/// Longest title and body sent, in characters: a push payload is capped at
/// 4 KiB and a lock screen shows a few lines anyway.
const MAX_TITLE_CHARS: usize = 80;
const MAX_BODY_CHARS: usize = 240;

/// A notification as a person reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub title: String,
    pub body: String,
}

/// The title and body of a notification. With `redact`, they hold no code,
/// command, prompt, question or error text: only the repo, the run's short
/// id and what kind of thing happened.
pub fn message_for(n: &Notification, redact: bool) -> Message {
    let body = &n.body;
    let repo = text_at(body, &["run", "repo"]).unwrap_or_else(|| "m".to_string());
    let run = n.run_id.as_deref().map(short_id).unwrap_or("");
    let data = body.get("data").unwrap_or(&Value::Null);
    let (title, text) = match n.trigger {
        None => (
            "m: test notification".to_string(),
            "Notifications from m reach this device.".to_string(),
        ),
        Some(Trigger::ApprovalRequested) => {
            let approval = body.get("approval").filter(|a| !a.is_null());
            let kind = approval
                .and_then(|a| a.get("type"))
                .or_else(|| data.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("generic");
            let what = match kind {
                "command" => "to run a command",
                "diff" => "to apply a diff",
                _ => "for approval",
            };
            let summary = approval
                .and_then(|a| a.get("payload"))
                .and_then(approval_summary)
                .or_else(|| approval_summary(data));
            let text = match summary {
                Some(summary) if !redact => format!("Run {run} asks {what}: {summary}"),
                _ => format!("Run {run} asks {what}"),
            };
            (format!("{repo}: approval {}", still(body, "needed")), text)
        }
        Some(Trigger::InputRequested) => {
            let question = text_of(data, &["question", "message", "text"]);
            let text = match question {
                Some(question) if !redact => format!("Run {run} asks: {question}"),
                _ => format!("Run {run} is waiting for your answer"),
            };
            (format!("{repo}: question{}", still(body, "")), text)
        }
        Some(Trigger::RunCompleted) => {
            let prompt = text_at(body, &["run", "prompt"]);
            let text = match prompt {
                Some(prompt) if !redact => format!("Run {run} completed: {prompt}"),
                _ => format!("Run {run} completed"),
            };
            (format!("{repo}: run completed"), text)
        }
        Some(Trigger::RunFailed) => {
            let reason = text_of(data, &["reason"]);
            let text = match reason {
                Some(reason) if !redact => format!("Run {run} failed: {reason}"),
                _ => format!("Run {run} failed"),
            };
            (format!("{repo}: run failed"), text)
        }
        Some(Trigger::RunCancelled) => (
            format!("{repo}: run cancelled"),
            format!("Run {run} was cancelled"),
        ),
    };
    // The deadline goes first, so that cutting the text never loses it.
    let text = match deadline(data) {
        Some(by) => format!("Answer by {by}. {text}"),
        None => text,
    };
    Message {
        title: one_line(&title, MAX_TITLE_CHARS),
        body: one_line(&text, MAX_BODY_CHARS),
    }
}

/// A reminder (`human.reminded`) says that the human is still awaited.
fn still(body: &Value, what: &str) -> String {
    let reminder = body.get("event_type").and_then(Value::as_str) == Some("human.reminded");
    match (reminder, what) {
        (true, "") => " still waiting".into(),
        (true, what) => format!("still {what}"),
        (false, "") => String::new(),
        (false, what) => what.into(),
    }
}

/// When the deadline of an approval or a question falls.
fn deadline(data: &Value) -> Option<String> {
    let at = data.get("deadline")?.as_i64()?;
    Some(crate::model::utc_time(at, crate::model::now()))
}

/// A short description of what an approval is about, from its payload:
/// the first of `summary`, `title`, `command` (a string or an argv),
/// `description`, `message`, `path`, or a count of `files`.
pub fn approval_summary(payload: &Value) -> Option<String> {
    text_of(
        payload,
        &[
            "summary",
            "title",
            "command",
            "description",
            "message",
            "path",
        ],
    )
    .or_else(|| {
        let files = payload.get("files")?.as_array()?;
        Some(match files.len() {
            1 => "1 file".to_string(),
            n => format!("{n} files"),
        })
    })
}

/// The JSON a webhook receives: the notification's facts plus `title` and
/// `text` (which Slack-style endpoints show as is). With `redact`, the facts
/// keep only ids, types and states.
pub fn webhook_body(n: &Notification, redact: bool) -> Value {
    let message = message_for(n, redact);
    let mut body = if redact {
        redacted(&n.body)
    } else {
        n.body.clone()
    };
    if !body.is_object() {
        body = json!({ "event": n.event_name() });
    }
    if let Some(object) = body.as_object_mut() {
        object.insert("title".into(), Value::String(message.title));
        object.insert("text".into(), Value::String(message.body));
    }
    body
}

/// The facts without any text a person or agent wrote: no prompt, no
/// approval payload, no event data.
pub fn redacted(body: &Value) -> Value {
    let pick = |value: &Value, keys: &[&str]| -> Value {
        match value.as_object() {
            Some(object) => keys
                .iter()
                .filter_map(|k| object.get(*k).map(|v| (k.to_string(), v.clone())))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            None => Value::Null,
        }
    };
    let mut out = pick(body, &["event", "event_type", "seq", "at"]);
    if let Some(object) = out.as_object_mut() {
        let run = body.get("run").unwrap_or(&Value::Null);
        let approval = body.get("approval").unwrap_or(&Value::Null);
        let data = body.get("data").unwrap_or(&Value::Null);
        object.insert(
            "run".into(),
            pick(run, &["id", "repo_id", "repo", "state", "created_at"]),
        );
        object.insert(
            "approval".into(),
            pick(approval, &["id", "type", "state", "content_hash"]),
        );
        // A finished run's final state is not text anyone wrote.
        // Nor are a deadline and what it decides.
        object.insert(
            "data".into(),
            pick(data, &["state", "deadline", "on_timeout"]),
        );
    }
    out
}

/// The first of `keys` in `value` that holds text (a string, or an array of
/// strings joined by spaces), on one line.
fn text_of(value: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| {
        let text = match value.get(key)? {
            Value::String(s) => s.clone(),
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()?
                .join(" "),
            _ => return None,
        };
        let text = one_line(&text, MAX_BODY_CHARS);
        (!text.is_empty()).then_some(text)
    })
}

fn text_at(value: &Value, path: &[&str]) -> Option<String> {
    let (last, parents) = path.split_last()?;
    let parent = parents.iter().try_fold(value, |v, key| v.get(key))?;
    text_of(parent, &[last])
}

/// Whitespace collapsed to single spaces, cut to `max` characters with an
/// ellipsis.
pub fn one_line(text: &str, max: usize) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max {
        return collapsed;
    }
    let mut cut: String = collapsed.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

    #[test]
    fn a_deadline_is_said_first_and_a_reminder_says_still() {
        // 2024-02-29 13:05:00 UTC.
        let at = 1_709_211_900;
        let approval = json!({"id": "a1", "type": "command", "payload": {"command": "rm -rf x"}});
        let mut n = notification(
            Trigger::ApprovalRequested,
            approval,
            json!({"deadline": at, "on_timeout": "reject"}),
        );
        let message = message_for(&n, false);
        assert_eq!(message.title, "webapp: approval needed");
        assert_eq!(
            message.body,
            "Answer by 2024-02-29 13:05 UTC. Run 0f1e2d3c asks to run a command: rm -rf x"
        );
        n.body["event_type"] = json!("human.reminded");
        assert_eq!(message_for(&n, true).title, "webapp: approval still needed");
        assert!(message_for(&n, true)
            .body
            .starts_with("Answer by 2024-02-29 13:05 UTC."));
        assert_eq!(redacted(&n.body)["data"]["deadline"], at);
    }

    fn notification(trigger: Trigger, approval: Value, data: Value) -> Notification {
        Notification {
            trigger: Some(trigger),
            run_id: Some(RUN.into()),
            approval_id: approval.get("id").and_then(Value::as_str).map(Into::into),
            seq: Some(7),
            body: json!({
                "event": trigger.as_str(),
                "seq": 7,
                "run": {"id": RUN, "repo": "webapp", "state": "waiting_approval",
                        "prompt": "Fix the\n  login bug"},
                "approval": approval,
                "data": data,
            }),
        }
    }

    #[test]
    fn approvals_say_what_is_asked_unless_redacted() {
        let n = notification(
            Trigger::ApprovalRequested,
            json!({"id": "a1", "type": "command", "payload": {"command": ["rm", "-rf", "build"]}}),
            json!({}),
        );
        assert_eq!(
            message_for(&n, false),
            Message {
                title: "webapp: approval needed".into(),
                body: "Run 0f1e2d3c asks to run a command: rm -rf build".into(),
            }
        );
        assert_eq!(
            message_for(&n, true).body,
            "Run 0f1e2d3c asks to run a command"
        );
    }

    #[test]
    fn every_trigger_has_a_message_and_redaction_hides_the_text() {
        let secret = "SECRET-TEXT";
        let cases = [
            (
                Trigger::InputRequested,
                json!({"question": secret}),
                "webapp: question",
            ),
            (
                Trigger::RunCompleted,
                json!({"state": "completed"}),
                "webapp: run completed",
            ),
            (
                Trigger::RunFailed,
                json!({"state": "failed", "reason": secret}),
                "webapp: run failed",
            ),
            (
                Trigger::RunCancelled,
                json!({"state": "cancelled"}),
                "webapp: run cancelled",
            ),
        ];
        for (trigger, data, title) in cases {
            let mut n = notification(trigger, Value::Null, data);
            n.body["run"]["prompt"] = json!(secret);
            let plain = message_for(&n, false);
            assert_eq!(plain.title, title);
            assert!(plain.body.starts_with("Run 0f1e2d3c"), "{plain:?}");
            if trigger != Trigger::RunCancelled {
                assert!(plain.body.contains(secret), "{plain:?}");
            }
            let hidden = message_for(&n, true);
            assert!(!hidden.body.contains(secret), "{hidden:?}");
            assert!(!webhook_body(&n, true).to_string().contains(secret));
        }
    }

    #[test]
    fn summaries_come_from_the_usual_payload_keys() {
        assert_eq!(
            approval_summary(&json!({"title": "Deploy"})),
            Some("Deploy".into())
        );
        assert_eq!(
            approval_summary(&json!({"command": "make  test"})),
            Some("make test".into())
        );
        assert_eq!(
            approval_summary(&json!({"files": ["a", "b"]})),
            Some("2 files".into())
        );
        assert_eq!(approval_summary(&json!({"other": 1})), None);
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        assert_eq!(one_line("é".repeat(10).as_str(), 4), "ééé…");
        assert_eq!(one_line(" a \n b ", 10), "a b");
    }

    #[test]
    fn webhook_bodies_carry_the_facts_and_a_text() {
        let n = notification(
            Trigger::ApprovalRequested,
            json!({"id": "a1", "type": "diff", "state": "pending", "payload": {"diff": "+secret"}}),
            json!({"approval_id": "a1"}),
        );
        let plain = webhook_body(&n, false);
        assert_eq!(plain["approval"]["payload"]["diff"], "+secret");
        assert_eq!(plain["text"], "Run 0f1e2d3c asks to apply a diff");
        let hidden = webhook_body(&n, true);
        assert_eq!(
            hidden,
            json!({
                "event": "approval.requested",
                "seq": 7,
                "run": {"id": RUN, "repo": "webapp", "state": "waiting_approval"},
                "approval": {"id": "a1", "type": "diff", "state": "pending"},
                "data": {},
                "title": "webapp: approval needed",
                "text": "Run 0f1e2d3c asks to apply a diff",
            })
        );
    }
}
