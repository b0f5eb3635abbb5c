//! `session/update` notifications into run events: text chunks coalesced,
//! tool calls merged by id, the plan, usage.

use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::*;

impl Driver {
    pub(super) async fn on_update(&mut self, params: Value) {
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

/// A tool call update over the state so far: the fields it carries replace
/// the old ones (`content` and `locations` are replaced whole, as ACP says).
pub(super) fn merge(state: &mut Map<String, Value>, update: Map<String, Value>) {
    for (key, value) in update {
        if !value.is_null() {
            state.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
