//! The slice of the Agent Client Protocol (v1) that m speaks, as its own
//! small serde types. Only what m reads is typed; everything else an agent
//! sends stays a `serde_json::Value` so that nothing is lost or rejected for
//! a field m does not know.

use serde::Deserialize;
use serde_json::{json, Map, Value};

pub const PROTOCOL_VERSION: u64 = 1;

/// JSON-RPC error codes m sends or recognises.
pub mod code {
    pub const INVALID_PARAMS: i64 = -32602;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const AUTH_REQUIRED: i64 = -32000;
    /// The answer to a request the other side cancelled (`$/cancel_request`).
    pub const REQUEST_CANCELLED: i64 = -32800;
}

/// One line from the agent, classified.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// The agent asks the client something and waits for the answer.
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    Notification {
        method: String,
        params: Value,
    },
    /// The answer to one of m's requests.
    Response {
        id: Value,
        result: Result<Value, RpcError>,
    },
    /// Not a JSON-RPC message: reported and skipped.
    Malformed {
        line: String,
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(default)]
    pub data: Option<Value>,
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)?;
        if let Some(data) = &self.data {
            write!(f, ": {data}")?;
        }
        Ok(())
    }
}

impl Incoming {
    pub fn parse(line: &str) -> Incoming {
        let malformed = |error: String| Incoming::Malformed {
            line: line.to_string(),
            error,
        };
        let value: Value = match serde_json::from_str(line) {
            Ok(value) => value,
            Err(e) => return malformed(format!("not JSON: {e}")),
        };
        let Value::Object(mut message) = value else {
            return malformed("not a JSON object".into());
        };
        let params = message.remove("params").unwrap_or(Value::Null);
        match (message.remove("method"), message.remove("id")) {
            (Some(Value::String(method)), Some(id)) => Incoming::Request { id, method, params },
            (Some(Value::String(method)), None) => Incoming::Notification { method, params },
            (Some(_), _) => malformed("its method is not a string".into()),
            (None, Some(id)) => {
                if let Some(error) = message.remove("error") {
                    match serde_json::from_value::<RpcError>(error) {
                        Ok(error) => Incoming::Response {
                            id,
                            result: Err(error),
                        },
                        Err(e) => malformed(format!("its error is not a JSON-RPC error: {e}")),
                    }
                } else if let Some(result) = message.remove("result") {
                    Incoming::Response {
                        id,
                        result: Ok(result),
                    }
                } else {
                    malformed("a response without result or error".into())
                }
            }
            (None, None) => malformed("neither a request, a notification nor a response".into()),
        }
    }
}

pub fn request(id: i64, method: &str, params: Value) -> String {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string()
}

pub fn notification(method: &str, params: Value) -> String {
    json!({ "jsonrpc": "2.0", "method": method, "params": params }).to_string()
}

pub fn response(id: &Value, result: Value) -> String {
    json!({ "jsonrpc": "2.0", "id": id, "result": result }).to_string()
}

pub fn error_response(id: &Value, code: i64, message: &str) -> String {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } }).to_string()
}

/// `initialize`: m edits nothing and runs nothing for the agent (the agent
/// works in the run's workspace itself), and can ask the human questions.
pub fn initialize_params() -> Value {
    json!({
        "protocolVersion": PROTOCOL_VERSION,
        "clientCapabilities": {
            "fs": { "readTextFile": false, "writeTextFile": false },
            "terminal": false,
            "elicitation": { "form": {} },
        },
        "clientInfo": { "name": "m", "title": "m", "version": env!("CARGO_PKG_VERSION") },
    })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeResult {
    pub protocol_version: u64,
    #[serde(default)]
    pub agent_capabilities: Value,
    #[serde(default)]
    pub auth_methods: Vec<AuthMethod>,
    #[serde(default)]
    pub agent_info: Value,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AuthMethod {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `agent` when absent; `env_var` and `terminal` are newer kinds.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// For `env_var`: the variables the agent reads its credentials from.
    #[serde(default)]
    pub vars: Vec<AuthEnvVar>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AuthEnvVar {
    pub name: String,
    #[serde(default)]
    pub optional: bool,
}

pub fn new_session_params(cwd: &str) -> Value {
    json!({ "cwd": cwd, "mcpServers": [] })
}

/// How the agent can take up a session it saved, from its capabilities:
/// `session/resume` (which replays nothing) where advertised
/// (`sessionCapabilities.resume`), else `session/load` (`loadSession`),
/// which replays the conversation before it answers.
pub fn resume_method(capabilities: &Value) -> Option<&'static str> {
    if capabilities
        .pointer("/sessionCapabilities/resume")
        .is_some_and(|v| !v.is_null() && v != &Value::Bool(false))
    {
        Some("session/resume")
    } else if capabilities.get("loadSession") == Some(&Value::Bool(true)) {
        Some("session/load")
    } else {
        None
    }
}

/// `session/resume` and `session/load` take the same parameters.
pub fn resume_params(session_id: &str, cwd: &str) -> Value {
    json!({ "sessionId": session_id, "cwd": cwd, "mcpServers": [] })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSessionResult {
    pub session_id: String,
    /// The session's modes, when the agent has them (`currentModeId`,
    /// `availableModes`).
    #[serde(default)]
    pub modes: Option<SessionModes>,
}

/// The answer to `session/resume` or `session/load`: the session's
/// settings, all optional (codex-acp answers `null` to a load).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumedSession {
    #[serde(default)]
    pub modes: Option<SessionModes>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionModes {
    pub current_mode_id: String,
}

/// Copies what a session's answer (`session/new`, `session/load`,
/// `session/resume`) says of its settings into `data`: `modes`, `models`,
/// `configOptions` as sent, and `model`, the model it runs (the current
/// value of the config option of category `model`, else the current model
/// id).
pub fn describe_session(answer: &Value, data: &mut Value) {
    for key in ["modes", "models", "configOptions"] {
        if let Some(value) = answer.get(key).filter(|v| !v.is_null()) {
            data[key] = value.clone();
        }
    }
    let from_options = answer
        .get("configOptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|o| o.get("category").and_then(Value::as_str) == Some("model"))
        .and_then(|o| o.get("currentValue"));
    let model = from_options.or_else(|| answer.get("models")?.get("currentModelId"));
    if let Some(model) = model.filter(|m| m.is_string()) {
        data["model"] = model.clone();
    }
}

pub fn prompt_params(session_id: &str, text: &str) -> Value {
    json!({ "sessionId": session_id, "prompt": [{ "type": "text", "text": text }] })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptResult {
    pub stop_reason: String,
}

/// `session/request_permission`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionParams {
    /// A tool call update: `toolCallId` and whatever changed.
    pub tool_call: Map<String, Value>,
    #[serde(default)]
    pub options: Vec<PermissionOption>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionOption {
    pub option_id: String,
    #[serde(default)]
    pub name: String,
    pub kind: String,
}

pub fn permission_selected(option_id: &str) -> Value {
    json!({ "outcome": { "outcome": "selected", "optionId": option_id } })
}

pub fn permission_cancelled() -> Value {
    json!({ "outcome": { "outcome": "cancelled" } })
}

/// `elicitation/create`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElicitationParams {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub requested_schema: Option<Value>,
    #[serde(default)]
    pub url: Option<String>,
}

pub fn elicitation_accept(content: Value) -> Value {
    json!({ "action": "accept", "content": content })
}

pub fn elicitation_decline() -> Value {
    json!({ "action": "decline" })
}

pub fn elicitation_cancel() -> Value {
    json!({ "action": "cancel" })
}

/// A `diff` entry of a tool call's content.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffContent {
    pub path: String,
    #[serde(default)]
    pub old_text: Option<String>,
    pub new_text: String,
}

/// The `diff` entries of a tool call's `content`.
pub fn diffs(tool_call: &Map<String, Value>) -> Vec<DiffContent> {
    tool_call
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("type").and_then(Value::as_str) == Some("diff"))
        .filter_map(|c| serde_json::from_value(c.clone()).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_classified() {
        assert_eq!(
            Incoming::parse(
                r#"{"jsonrpc":"2.0","id":7,"method":"session/request_permission","params":{"a":1}}"#
            ),
            Incoming::Request {
                id: json!(7),
                method: "session/request_permission".into(),
                params: json!({"a": 1})
            }
        );
        assert_eq!(
            Incoming::parse(r#"{"jsonrpc":"2.0","method":"session/update","params":{}}"#),
            Incoming::Notification {
                method: "session/update".into(),
                params: json!({})
            }
        );
        assert_eq!(
            Incoming::parse(r#"{"jsonrpc":"2.0","id":"x","result":{"stopReason":"end_turn"}}"#),
            Incoming::Response {
                id: json!("x"),
                result: Ok(json!({"stopReason": "end_turn"}))
            }
        );
        let Incoming::Response { result: Err(e), .. } =
            Incoming::parse(r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"auth"}}"#)
        else {
            panic!("an error response")
        };
        assert_eq!(e.code, code::AUTH_REQUIRED);
        for bad in ["nope", "[1]", r#"{"id":1}"#, r#"{"method":3}"#] {
            assert!(
                matches!(Incoming::parse(bad), Incoming::Malformed { .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_session_says_which_model_it_runs() {
        let describe = |answer: Value| {
            let mut data = json!({});
            describe_session(&answer, &mut data);
            data
        };
        let models = json!({"currentModelId": "opus", "availableModels": []});
        let data = describe(json!({"sessionId": "s", "models": models}));
        assert_eq!(data["model"], "opus");
        assert_eq!(data["models"], models);
        let options = json!([
            {"id": "mode", "category": "mode", "currentValue": "default"},
            {"id": "model", "category": "model", "currentValue": "gpt-5.5"},
        ]);
        let data = describe(json!({"sessionId": "s", "models": models, "configOptions": options}));
        assert_eq!(data["model"], "gpt-5.5");
        assert_eq!(data["configOptions"], options);
        assert_eq!(describe(json!({"sessionId": "s"})), json!({}));
    }

    #[test]
    fn diff_entries_are_read_from_tool_content() {
        let call = json!({
            "toolCallId": "c1",
            "content": [
                {"type": "content", "content": {"type": "text", "text": "hi"}},
                {"type": "diff", "path": "/w/a.rs", "oldText": "a", "newText": "b"},
                {"type": "diff", "path": "/w/new.rs", "newText": "n"},
            ]
        });
        let Value::Object(call) = call else {
            unreachable!()
        };
        let found = diffs(&call);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].old_text.as_deref(), Some("a"));
        assert_eq!(found[1].old_text, None);
    }

    #[test]
    fn resume_prefers_session_resume_then_load() {
        // claude-agent-acp advertises both; codex-acp only loadSession.
        let claude = json!({ "loadSession": true, "sessionCapabilities": { "resume": {} } });
        assert_eq!(resume_method(&claude), Some("session/resume"));
        assert_eq!(
            resume_method(&json!({ "loadSession": true })),
            Some("session/load")
        );
        assert_eq!(resume_method(&json!({ "loadSession": false })), None);
        assert_eq!(resume_method(&Value::Null), None);
        assert_eq!(
            resume_method(&json!({ "sessionCapabilities": { "resume": null } })),
            None
        );
    }
}
