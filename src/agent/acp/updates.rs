//! `session/update` notifications into run events: text chunks coalesced,
//! tool calls merged by id, the plan, usage.

use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::*;
use crate::model::EventType;

impl Driver {
    pub(super) async fn on_update(&mut self, params: Value) {
        // What `session/load` replays is in the log already.
        if let Some(replayed) = &mut self.replaying {
            *replayed += 1;
            return;
        }
        let Some(Value::Object(mut update)) = params.get("update").cloned() else {
            self.flush_text().await;
            self.ctx
                .emit(
                    EventType::Error,
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
                    EventType::ToolCall
                } else {
                    EventType::ToolUpdate
                };
                self.ctx.emit(event, Value::Object(state.clone())).await;
                self.remember_tool(id, state);
            }
            "plan" => {
                self.flush_text().await;
                let entries = update.remove("entries").unwrap_or(json!([]));
                self.ctx
                    .emit(EventType::AgentPlan, json!({ "entries": entries }))
                    .await;
            }
            "current_mode_update" => {
                self.flush_text().await;
                match update.get("currentModeId").and_then(Value::as_str) {
                    Some(mode_id) => self.on_mode(mode_id).await,
                    None => {
                        self.ctx
                            .emit(
                                EventType::AgentUpdate,
                                json!({ "sessionUpdate": kind, "update": update }),
                            )
                            .await
                    }
                }
            }
            "usage_update" => {
                self.flush_text().await;
                self.ctx
                    .emit(EventType::AgentUsage, Value::Object(update))
                    .await;
            }
            _ => {
                self.flush_text().await;
                self.ctx
                    .emit(
                        EventType::AgentUpdate,
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
    pub(super) async fn flush_text(&mut self) {
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
}

pub(super) fn tool_call_id(update: &Map<String, Value>) -> String {
    update
        .get("toolCallId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A tool call update over the state so far, key by key, so that a later
/// partial update never erases what an earlier one said: an object (such
/// as `rawInput`) is merged into the old one; a list (`content`,
/// `locations`) replaces the old one whole, as ACP says, unless it is empty;
/// null changes nothing. (OpenCode's permission request carries `rawInput`
/// without the `workdir` its earlier update gave, and empty `locations`.)
pub(super) fn merge(state: &mut Map<String, Value>, update: Map<String, Value>) {
    for (key, value) in update {
        match (state.get_mut(&key), value) {
            (_, Value::Null) => {}
            (Some(Value::Object(old)), Value::Object(new)) => merge(old, new),
            (Some(old), Value::Array(new)) if new.is_empty() && !is_empty_list(old) => {}
            (_, value) => {
                state.insert(key, value);
            }
        }
    }
}

fn is_empty_list(value: &Value) -> bool {
    value.as_array().is_some_and(Vec::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_updates_are_merged_key_by_key() {
        let object = |v: Value| match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let mut state = object(
            json!({"toolCallId": "t", "title": "Edit", "status": "pending",
            "content": [{"type": "content"}], "locations": [{"path": "/w/a"}],
            "rawInput": {"command": "touch ran.txt", "workdir": "/w/sub"}}),
        );
        merge(
            &mut state,
            object(
                json!({"toolCallId": "t", "status": "completed", "title": null,
                "content": [{"type": "diff"}], "locations": [],
                "rawInput": {"command": "touch ran.txt", "description": "make it"}}),
            ),
        );
        assert_eq!(
            Value::Object(state),
            json!({"toolCallId": "t", "title": "Edit", "status": "completed",
                "content": [{"type": "diff"}], "locations": [{"path": "/w/a"}],
                "rawInput": {"command": "touch ran.txt", "workdir": "/w/sub", "description": "make it"}})
        );
    }
}
