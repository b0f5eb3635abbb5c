//! Longer than 800 lines because it is one test program whose scenarios
//! share the `Agent` state and its JSON-RPC loop: each scenario is a short
//! method reached from `play_turn`, and the list below is their index, so
//! a new scenario touches this file alone.
//!
//! A scripted Agent Client Protocol agent for m's tests (built only with
//! the `test-agents` feature). The scenario comes from the first argument
//! or `FAKE_ACP_SCENARIO`:
//!
//! - `basic`: thought, plan, streamed message, a tool call that writes
//!   `notes.txt`, usage (context, then context and cost).
//!
//! Every turn's answer carries `usage`: 1000 × the turn's number tokens in,
//! 100 out.
//! - `diff`: an edit of `greeting.txt` that needs permission; applied when
//!   allowed; when rejected, the next prompt (the reason) is echoed.
//! - `command`: a command that needs permission; says which option won.
//! - `always`: like `command`, and after `allow_always` runs a second
//!   command without asking.
//! - `shell`: runs commands as Codex does, each wrapped in `/bin/bash
//!   -lc LINE` (`touch ran.txt`, then `touch ran.txt; rm -rf x`), each
//!   asked with Codex's options; says which option each got.
//! - `workaround`: runs `touch ran.txt` (wrapped as Codex does); when that
//!   is refused, tries `echo > ran.txt` at once, as a model does; says what
//!   became of each.
//! - `elicit`: asks which database to use and echoes the answer.
//! - `elicit-default`: the same, its form giving `sqlite` as the default
//!   (MCP elicitation schemas may give a field a `default`).
//! - `elicit-form`: asks how many replicas (one whole-number field, 1 to
//!   10), then a form of three fields (a yes-or-no `confirm`, required; a
//!   number `budget` of at least 0; a choice `region`), as MCP elicitation
//!   schemas have them, and echoes each answer.
//! - `converse`: every turn after the first echoes the prompt.
//! - `crash`: dies in the middle of its first turn.
//! - `malformed`: writes a line that is not JSON, then carries on.
//! - `unknown`: sends an update kind no client knows.
//! - `slow`: answers initialize after `FAKE_ACP_DELAY_MS` (3000).
//! - `cancel`: forks a child, asks permission and waits for the cancel;
//!   with a second argument `slow`, takes 3 s to end its turn after it.
//! - `fs`: calls fs/read_text_file, which m must refuse.
//! - `auth`: needs `authenticate` with the `FAKE_API_KEY` env method; also
//!   offers a browser login and, as Gemini CLI does, a cloud method whose
//!   words say "API key" (`vertex-ai`), which the agent would save as the
//!   user's choice.
//! - `modes`: its session reports Gemini CLI's `autoEdit` mode, and its
//!   first turn switches to `yolo`.
//! - `gemini-command`: asks to run a command, as Gemini CLI does: the
//!   command is the title, its directory only in the text (`[in sub]`).
//! - `opencode-command`: as OpenCode: an update gives the command's
//!   `workdir`, then the permission request's `rawInput` lacks it.
//! - `opencode-edit`: as OpenCode after an approved edit: calls
//!   `fs/write_text_file` without awaiting the answer, and prints a long
//!   minified stack trace line on stderr.
//! - `env`: says which `OPENCODE_PERMISSION` it was started with.
//! - `loggedin`: offers the same methods as `auth` but is logged in
//!   already; `authenticate` would replace its saved login (as codex-acp
//!   rewrites `auth.json`), which its first turn reports.
//! - `bypass`: its session opens in mode `bypassPermissions` (as Claude's
//!   settings may say); `session/set_mode` switches it; its first turn
//!   says the mode it runs in.
//! - `stubborn`: like `bypass`, and refuses to switch.
//! - `refusal`: ends its first turn with stopReason `refusal`.
//! - `withdraw`: asks permission, waits until the file named by its second
//!   argument exists, then takes the request back with `$/cancel_request`
//!   and says which error code answered it.
//! - `resumable`: as claude-agent-acp 0.23.1 and codex-acp 0.16.0,
//!   advertises `loadSession` and `sessionCapabilities.resume`, and keeps
//!   each session's conversation in `$HOME/.fake-acp-agent/SESSION.json`
//!   (its session id is unique per process), so that a later process takes
//!   it up with `session/resume` (nothing replayed) or `session/load` (the
//!   conversation replayed as `user_message_chunk` and
//!   `agent_message_chunk` updates, then the answer). Each turn says what
//!   it heard before; a prompt containing `touch ran.txt` (and not
//!   `refused`) asks to run it (wrapped as Codex does) and runs it if
//!   allowed. An unknown session is answered as claude-agent-acp answers
//!   it: -32002 `Resource not found: ID`.
//! - `resumable-auth`: `resumable` with a login, as codex-acp 0.16.0: a
//!   login is saved in `$HOME/.fake-acp-agent/login` by `authenticate`
//!   with the `FAKE_API_KEY` env method (as codex-acp writes `auth.json`),
//!   and without one `session/new` and `session/resume` answer -32000
//!   `Authentication required`.
//! - `loadable`: the same, offering `session/load` only (as Gemini CLI
//!   0.61.0 does).
//!
//! Like some real adapters, it does not exit when its stdin closes: the
//! client must end its process group.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

struct Agent {
    scenario: String,
    lines: std::io::Lines<std::io::StdinLock<'static>>,
    next_id: i64,
    session: String,
    authenticated: bool,
    turn: u32,
    cancelled: bool,
    mode: String,
    /// The prompts of this session so far, and what was answered (the
    /// resumable scenarios keep them on disk).
    history: Vec<(String, String)>,
}

fn main() {
    let scenario = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("FAKE_ACP_SCENARIO").ok())
        .unwrap_or_else(|| "basic".into());
    eprintln!("fake-acp-agent: playing {scenario}");
    let mut agent = Agent {
        scenario,
        lines: std::io::stdin().lock().lines(),
        next_id: 0,
        session: "sess-1".into(),
        authenticated: false,
        turn: 0,
        cancelled: false,
        mode: "default".into(),
        history: Vec::new(),
    };
    if agent.resumes() {
        agent.session = format!("sess-{}", std::process::id());
    }
    if matches!(agent.scenario.as_str(), "bypass" | "stubborn") {
        agent.mode = "bypassPermissions".into();
    }
    loop {
        let message = agent.recv();
        let Some(method) = message.get("method").and_then(Value::as_str) else {
            continue;
        };
        let id = message.get("id").cloned();
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        let Some(id) = id else {
            // Notifications outside a turn (a late session/cancel) need nothing.
            continue;
        };
        match method {
            "initialize" => agent.initialize(id, &params),
            "authenticate" => {
                let method_id = params["methodId"].as_str().unwrap_or("");
                if method_id == "api-key"
                    && std::env::var("FAKE_API_KEY").as_deref() == Ok("secret")
                {
                    agent.authenticated = true;
                    if agent.resumes() {
                        let login = Agent::login_file();
                        std::fs::create_dir_all(login.parent().unwrap()).unwrap();
                        std::fs::write(login, "api-key").unwrap();
                    }
                    respond(&id, json!({}));
                } else {
                    respond_error(
                        &id,
                        -32000,
                        &format!("cannot authenticate with {method_id}"),
                    );
                }
            }
            "session/new" | "session/resume" | "session/load"
                if agent.scenario == "resumable-auth" && !Agent::login_file().exists() =>
            {
                respond_error(&id, -32000, "Authentication required")
            }
            "session/new" => agent.new_session(id, &params),
            "session/resume" if agent.scenario.starts_with("resumable") => {
                agent.take_up(id, &params, false)
            }
            "session/load" if agent.resumes() => agent.take_up(id, &params, true),
            "session/set_mode" if agent.scenario == "stubborn" => {
                respond_error(&id, -32602, "the mode is locked by the settings")
            }
            "session/set_mode" => {
                agent.mode = params["modeId"].as_str().unwrap_or("").to_string();
                respond(&id, json!({}));
            }
            "session/prompt" => {
                agent.turn += 1;
                let text: String = params["prompt"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|b| b["text"].as_str())
                    .collect();
                let stop_reason = if agent.resumes() {
                    agent.resumable_turn(&text)
                } else {
                    agent.play_turn(&text)
                };
                // Each turn's own count, as claude-agent-acp reports it.
                let usage = json!({
                    "inputTokens": 1000 * agent.turn, "outputTokens": 100,
                    "cachedReadTokens": 0, "cachedWriteTokens": 0,
                    "totalTokens": 1000 * agent.turn + 100,
                });
                respond(&id, json!({ "stopReason": stop_reason, "usage": usage }));
            }
            other => respond_error(&id, -32601, &format!("method not found: {other}")),
        }
    }
}

impl Agent {
    fn initialize(&mut self, id: Value, params: &Value) {
        if self.scenario == "slow" {
            let ms = std::env::var("FAKE_ACP_DELAY_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(3000);
            std::thread::sleep(Duration::from_millis(ms));
        }
        let caps = &params["clientCapabilities"];
        let problems: Vec<&str> = [
            (
                params["protocolVersion"] != json!(1),
                "protocolVersion is not 1",
            ),
            (
                caps["fs"]["readTextFile"] != json!(false),
                "fs.readTextFile is not false",
            ),
            (
                caps["fs"]["writeTextFile"] != json!(false),
                "fs.writeTextFile is not false",
            ),
            (caps["terminal"] != json!(false), "terminal is not false"),
            (
                !caps["elicitation"]["form"].is_object(),
                "elicitation.form is not offered",
            ),
        ]
        .into_iter()
        .filter_map(|(bad, why)| bad.then_some(why))
        .collect();
        if !problems.is_empty() {
            return respond_error(
                &id,
                -32602,
                &format!("bad initialize: {}", problems.join(", ")),
            );
        }
        let auth_methods = if matches!(
            self.scenario.as_str(),
            "auth" | "loggedin" | "resumable-auth"
        ) {
            json!([
                { "id": "browser-login", "name": "Log in with a browser" },
                { "id": "api-key", "name": "API key", "type": "env_var", "vars": [{ "name": "FAKE_API_KEY" }] },
                { "id": "vertex-ai", "name": "Vertex AI", "description": "Use an API key with Vertex AI GenAI API" },
            ])
        } else {
            json!([])
        };
        respond(
            &id,
            json!({
                "protocolVersion": 1,
                "agentCapabilities": self.capabilities(),
                "authMethods": auth_methods,
                "agentInfo": { "name": "fake-acp-agent", "version": "1.0.0" },
            }),
        );
    }

    /// claude-agent-acp 0.23.1 and codex-acp 0.16.0 advertise both ways to
    /// take a session up again (and `list`, `close`); Gemini CLI 0.61.0
    /// only `loadSession`.
    fn capabilities(&self) -> Value {
        let mut caps = json!({ "loadSession": false, "promptCapabilities": { "image": false } });
        match self.scenario.as_str() {
            "resumable" | "resumable-auth" => {
                caps["loadSession"] = json!(true);
                caps["sessionCapabilities"] = json!({ "list": {}, "resume": {}, "close": {} });
            }
            "loadable" => caps["loadSession"] = json!(true),
            _ => {}
        }
        caps
    }

    fn resumes(&self) -> bool {
        matches!(
            self.scenario.as_str(),
            "resumable" | "resumable-auth" | "loadable"
        )
    }

    fn login_file() -> PathBuf {
        let home = std::env::var_os("HOME").expect("HOME");
        PathBuf::from(home).join(".fake-acp-agent").join("login")
    }

    fn session_file(id: &str) -> PathBuf {
        let home = std::env::var_os("HOME").expect("HOME");
        PathBuf::from(home)
            .join(".fake-acp-agent")
            .join(format!("{id}.json"))
    }

    fn save(&self) {
        let file = Agent::session_file(&self.session);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, json!(self.history).to_string()).unwrap();
    }

    /// `session/resume` or `session/load`: the session from disk, or
    /// "resource not found"; a load replays the conversation first.
    fn take_up(&mut self, id: Value, params: &Value, replay: bool) {
        let wanted = params["sessionId"].as_str().unwrap_or("");
        let saved = std::fs::read_to_string(Agent::session_file(wanted))
            .ok()
            .and_then(|text| serde_json::from_str::<Vec<(String, String)>>(&text).ok());
        let Some(history) = saved else {
            return respond_error(&id, -32002, &format!("Resource not found: {wanted}"));
        };
        self.session = wanted.to_string();
        self.history = history;
        self.turn = self.history.len() as u32;
        if replay {
            for (prompt, answer) in self.history.clone() {
                self.update(json!({ "sessionUpdate": "user_message_chunk", "content": { "type": "text", "text": prompt } }));
                self.message(&answer);
            }
        }
        respond(
            &id,
            json!({
                "models": {
                    "currentModelId": "fake-model-1",
                    "availableModels": [{ "modelId": "fake-model-1", "name": "Fake 1" }],
                },
            }),
        );
    }

    /// A turn of the resumable scenarios: says what it heard before, and
    /// runs `touch ran.txt` when asked to and allowed.
    fn resumable_turn(&mut self, prompt: &str) -> &'static str {
        self.cancelled = false;
        let before: Vec<&str> = self.history.iter().map(|(p, _)| p.as_str()).collect();
        let mut answer = format!("turn {}: heard {prompt:?} after {before:?}", self.turn);
        if prompt.contains("touch ran.txt") && !prompt.contains("refused") {
            let line = "touch ran.txt";
            let id = format!("touch-{}", self.turn);
            self.update(json!({
                "sessionUpdate": "tool_call", "toolCallId": id, "title": line,
                "kind": "execute", "status": "pending",
                "rawInput": { "command": ["/bin/bash", "-lc", line] },
            }));
            let kind = self.ask_permission(
                json!({ "toolCallId": id }),
                &[("approved", "allow_once"), ("abort", "reject_once")],
            );
            if kind.as_deref() == Some("allow_once") {
                std::fs::write(self.path("ran.txt"), "").unwrap();
                answer.push_str("; ran touch ran.txt");
            } else if self.cancelled {
                return "cancelled";
            } else {
                answer.push_str("; touch ran.txt was refused");
            }
        }
        self.message(&answer);
        self.history.push((prompt.to_string(), answer));
        self.save();
        "end_turn"
    }

    fn new_session(&mut self, id: Value, params: &Value) {
        if self.scenario == "auth" && !self.authenticated {
            return respond_error(&id, -32000, "API key is missing or not configured.");
        }
        let cwd = params["cwd"].as_str().unwrap_or("");
        let here = std::env::current_dir().expect("a current directory");
        let same = Path::new(cwd).canonicalize().ok() == here.canonicalize().ok();
        if !same || params["mcpServers"] != json!([]) {
            return respond_error(
                &id,
                -32602,
                &format!(
                    "bad session/new: cwd {cwd} is not {}, or mcpServers is not []",
                    here.display()
                ),
            );
        }
        // Settings as claude-agent-acp answers them: its models, and the
        // same as config options.
        let mut session = json!({
            "sessionId": self.session,
            "models": {
                "currentModelId": "fake-model-1",
                "availableModels": [{ "modelId": "fake-model-1", "name": "Fake 1" }],
            },
            "configOptions": [{
                "id": "model", "name": "Model", "category": "model", "type": "select",
                "currentValue": "fake-model-1",
                "options": [{ "value": "fake-model-1", "name": "Fake 1" }],
            }],
        });
        match self.scenario.as_str() {
            // Gemini CLI's answer when its settings say auto_edit.
            "modes" => {
                session["modes"] = json!({
                    "currentModeId": "autoEdit",
                    "availableModes": [
                        { "id": "default", "name": "Default", "description": "Prompts for approval" },
                        { "id": "autoEdit", "name": "Auto Edit", "description": "Auto-approves edit tools" },
                        { "id": "yolo", "name": "YOLO", "description": "Auto-approves all tools" },
                    ],
                })
            }
            // Claude Code's, in the mode its settings chose.
            "bypass" | "stubborn" => {
                session["modes"] = json!({
                    "currentModeId": self.mode,
                    "availableModes": [
                        { "id": "default", "name": "Default" },
                        { "id": "bypassPermissions", "name": "Bypass Permissions" },
                    ],
                })
            }
            _ => {}
        }
        if self.resumes() {
            self.save();
        }
        respond(&id, session);
    }

    /// Plays one turn of the scenario; returns the stop reason.
    fn play_turn(&mut self, prompt: &str) -> &'static str {
        self.cancelled = false;
        match (self.scenario.as_str(), self.turn) {
            ("basic", 1) => self.basic(),
            ("diff", 1) => self.diff(),
            ("command", 1) => self.command(),
            ("always", 1) => self.always(),
            ("shell", 1) => self.shell(),
            ("workaround", 1) => self.workaround(),
            ("elicit", 1) => self.elicit(None),
            ("elicit-default", 1) => self.elicit(Some("sqlite")),
            ("elicit-form", 1) => self.elicit_form(),
            ("crash", _) => {
                self.message("working on it...");
                eprintln!("fatal: the fake agent crashed");
                std::process::exit(3);
            }
            ("malformed", 1) => {
                print_line("this is { not json");
                self.message("still here");
                "end_turn"
            }
            ("unknown", 1) => {
                self.update(json!({ "sessionUpdate": "mystery_update", "detail": { "x": 1 } }));
                self.update(json!({
                    "sessionUpdate": "available_commands_update",
                    "availableCommands": [{ "name": "test", "description": "run the tests" }],
                }));
                self.message("ok");
                "end_turn"
            }
            ("cancel", 1) => self.wait_for_cancel(),
            ("withdraw", 1) => self.withdraw(),
            ("fs", 1) => {
                let answer = self.request(
                    "fs/read_text_file",
                    json!({ "sessionId": self.session, "path": self.path("README.md") }),
                );
                self.message(&format!("fs answer: {}", answer["error"]["code"]));
                "end_turn"
            }
            ("bypass" | "stubborn", 1) => {
                self.message(&format!("mode: {}", self.mode));
                "end_turn"
            }
            ("loggedin", 1) => {
                self.message(if self.authenticated {
                    "my saved login was replaced"
                } else {
                    "kept my saved login"
                });
                "end_turn"
            }
            ("modes", 1) => {
                self.update(
                    json!({ "sessionUpdate": "current_mode_update", "currentModeId": "yolo" }),
                );
                self.update(
                    json!({ "sessionUpdate": "current_mode_update", "currentModeId": "default" }),
                );
                self.message("modes changed");
                "end_turn"
            }
            ("gemini-command", 1) => self.gemini_command(),
            ("opencode-command", 1) => self.opencode_command(),
            ("opencode-edit", 1) => self.opencode_edit(),
            ("env", 1) => {
                let permission = std::env::var("OPENCODE_PERMISSION");
                self.message(&format!(
                    "OPENCODE_PERMISSION={}",
                    permission.as_deref().unwrap_or("unset")
                ));
                "end_turn"
            }
            ("refusal", 1) => {
                self.message("I will not do that.");
                "refusal"
            }
            (_, 1) => {
                self.message("What next?");
                "end_turn"
            }
            _ => {
                self.message(&format!("you said: {prompt}"));
                "end_turn"
            }
        }
    }

    fn basic(&mut self) -> &'static str {
        self.thought("Let me ");
        self.thought("think.");
        self.update(json!({
            "sessionUpdate": "plan",
            "entries": [
                { "content": "Read the code", "priority": "high", "status": "completed" },
                { "content": "Write notes", "priority": "medium", "status": "pending" },
            ],
        }));
        for chunk in ["Hello", ", ", "world", "!"] {
            self.message(chunk);
        }
        self.update(json!({
            "sessionUpdate": "tool_call", "toolCallId": "call-1", "title": "Write notes.txt",
            "kind": "edit", "status": "pending", "locations": [{ "path": self.path("notes.txt") }],
        }));
        std::fs::write("notes.txt", "notes\n").expect("write notes.txt");
        self.update(json!({
            "sessionUpdate": "tool_call_update", "toolCallId": "call-1", "status": "completed",
            "content": [{ "type": "content", "content": { "type": "text", "text": "wrote notes.txt" } }],
        }));
        self.update(json!({ "sessionUpdate": "usage_update", "used": 1200, "size": 200000 }));
        self.update(json!({
            "sessionUpdate": "usage_update", "used": 1300, "size": 200000,
            "cost": { "amount": 0.045, "currency": "USD" },
        }));
        self.message("Done.");
        "end_turn"
    }

    fn diff(&mut self) -> &'static str {
        let old = std::fs::read_to_string("greeting.txt").ok();
        let new = old
            .as_deref()
            .unwrap_or("hello\nworld\n")
            .replace("world", "there");
        let path = self.path("greeting.txt");
        self.update(json!({
            "sessionUpdate": "tool_call", "toolCallId": "edit-1", "title": "Edit greeting.txt",
            "kind": "edit", "status": "pending",
            "content": [{ "type": "diff", "path": path, "oldText": old, "newText": new }],
            "locations": [{ "path": path }],
        }));
        // The request names the call only: the client knows the rest.
        let kind = self.ask_permission(
            json!({ "toolCallId": "edit-1" }),
            &[
                ("opt-yes-7", "allow_once"),
                ("opt-always-3", "allow_always"),
                ("opt-no-1", "reject_once"),
            ],
        );
        match kind.as_deref() {
            Some(k) if k.starts_with("allow") => {
                std::fs::write("greeting.txt", &new).expect("write greeting.txt");
                self.update(json!({ "sessionUpdate": "tool_call_update", "toolCallId": "edit-1", "status": "completed" }));
                self.message(&format!("edit applied ({k})"));
                "end_turn"
            }
            Some(_) => {
                self.update(json!({ "sessionUpdate": "tool_call_update", "toolCallId": "edit-1", "status": "failed" }));
                self.message("edit rejected");
                "end_turn"
            }
            None => "cancelled",
        }
    }

    fn command(&mut self) -> &'static str {
        self.update(json!({
            "sessionUpdate": "tool_call", "toolCallId": "cmd-1", "title": "Run the tests",
            "kind": "execute", "status": "pending", "rawInput": { "command": "cargo test --quiet" },
        }));
        let kind = self.ask_permission(
            json!({ "toolCallId": "cmd-1", "title": "Run the tests" }),
            &[("run", "allow_once"), ("skip", "reject_once")],
        );
        let kind = kind.unwrap_or_else(|| "cancelled".into());
        self.update(json!({
            "sessionUpdate": "tool_call_update", "toolCallId": "cmd-1",
            "status": if kind.starts_with("allow") { "completed" } else { "failed" },
        }));
        self.message(&format!("command: {kind}"));
        "end_turn"
    }

    /// Gemini CLI's shell tool: no tool call before the request, the
    /// command as the title, `[in DIR] (description)` as its text.
    fn gemini_command(&mut self) -> &'static str {
        let kind = self.ask_permission(
            json!({
                "toolCallId": "run_shell_command-1", "status": "pending", "title": "touch ran.txt",
                "content": [{ "type": "content", "content": { "type": "text", "text": "[in sub] (Create ran.txt)" } }],
                "locations": [], "kind": "execute",
            }),
            &[("proceed_once", "allow_once"), ("proceed_always", "allow_always"), ("cancel", "reject_once")],
        );
        self.message(&format!(
            "command: {}",
            kind.unwrap_or_else(|| "cancelled".into())
        ));
        "end_turn"
    }

    /// OpenCode's bash tool: the update carries the `workdir`, the
    /// permission request's `rawInput` only the command, and no locations.
    fn opencode_command(&mut self) -> &'static str {
        self.update(json!({
            "sessionUpdate": "tool_call", "toolCallId": "call_1", "title": "bash", "kind": "execute",
            "status": "pending", "locations": [], "rawInput": {},
        }));
        self.update(json!({
            "sessionUpdate": "tool_call_update", "toolCallId": "call_1", "status": "pending", "kind": "execute",
            "title": "touch ran.txt", "locations": [{ "path": self.path("sub") }],
            "rawInput": { "command": "touch ran.txt", "workdir": self.path("sub"), "description": "Create ran.txt" },
        }));
        let kind = self.ask_permission(
            json!({
                "toolCallId": "call_1", "title": "bash", "kind": "execute", "status": "pending",
                "locations": [], "rawInput": { "command": "touch ran.txt" },
            }),
            &[
                ("once", "allow_once"),
                ("always", "allow_always"),
                ("reject", "reject_once"),
            ],
        );
        self.message(&format!(
            "command: {}",
            kind.unwrap_or_else(|| "cancelled".into())
        ));
        "end_turn"
    }

    /// OpenCode after an approved edit writes it through the client too,
    /// asking nothing about the answer, and its unhandled refusal prints a
    /// minified stack trace.
    fn opencode_edit(&mut self) -> &'static str {
        let path = self.path("notes.txt");
        let kind = self.ask_permission(
            json!({
                "toolCallId": "call_2", "title": "notes.txt", "kind": "edit", "status": "pending",
                "locations": [{ "path": path }],
                "content": [{ "type": "diff", "path": path, "oldText": "", "newText": "notes\n" }],
            }),
            &[("once", "allow_once"), ("reject", "reject_once")],
        );
        if kind.as_deref() == Some("allow_once") {
            std::fs::write("notes.txt", "notes\n").expect("write notes.txt");
            self.send_request(
                "fs/write_text_file",
                json!({ "sessionId": self.session, "path": path, "content": "notes\n" }),
            );
            eprintln!("error: Method not found");
            eprintln!("    at {}", "x".repeat(1000));
        }
        self.message(&format!(
            "edit: {}",
            kind.unwrap_or_else(|| "cancelled".into())
        ));
        "end_turn"
    }

    fn always(&mut self) -> &'static str {
        let mut always = false;
        for n in 1..=2 {
            let id = format!("ls-{n}");
            self.update(json!({
                "sessionUpdate": "tool_call", "toolCallId": id, "title": "List files",
                "kind": "execute", "status": "pending", "rawInput": { "command": ["ls", "-la"] },
            }));
            if always {
                self.message(&format!("{id} ran without asking"));
                continue;
            }
            let kind = self.ask_permission(
                json!({ "toolCallId": id }),
                &[
                    ("o1", "allow_once"),
                    ("o2", "allow_always"),
                    ("o3", "reject_once"),
                ],
            );
            let kind = kind.unwrap_or_else(|| "cancelled".into());
            always = kind == "allow_always";
            self.message(&format!("selected: {kind}"));
        }
        "end_turn"
    }

    fn shell(&mut self) -> &'static str {
        for (n, line) in ["touch ran.txt", "touch ran.txt; rm -rf x"]
            .iter()
            .enumerate()
        {
            let id = format!("shell-{}", n + 1);
            let argv = json!(["/bin/bash", "-lc", line]);
            self.update(json!({
                "sessionUpdate": "tool_call", "toolCallId": id, "title": line,
                "kind": "execute", "status": "pending",
                "rawInput": { "command": argv, "cwd": self.path("") },
            }));
            // codex-acp's options for an exec approval (thread.rs,
            // build_exec_permission_options).
            let kind = self.ask_permission(
                json!({ "toolCallId": id }),
                &[
                    ("approved", "allow_once"),
                    ("approved-execpolicy-amendment", "allow_always"),
                    ("abort", "reject_once"),
                ],
            );
            let kind = kind.unwrap_or_else(|| "cancelled".into());
            if kind.starts_with("allow") {
                let status = std::process::Command::new("/bin/sh")
                    .args(["-c", line])
                    .status();
                eprintln!("fake-acp-agent: {line}: {status:?}");
            }
            self.message(&format!("{id}: {kind}"));
        }
        "end_turn"
    }

    fn workaround(&mut self) -> &'static str {
        for (id, line) in [("try-1", "touch ran.txt"), ("try-2", "echo > ran.txt")] {
            self.update(json!({
                "sessionUpdate": "tool_call", "toolCallId": id, "title": line,
                "kind": "execute", "status": "pending",
                "rawInput": { "command": ["/bin/bash", "-lc", line] },
            }));
            let kind = self.ask_permission(
                json!({ "toolCallId": id }),
                &[("approved", "allow_once"), ("abort", "reject_once")],
            );
            match kind.as_deref() {
                Some(k) if k.starts_with("allow") => {
                    self.message(&format!("{id}: ran"));
                    return "end_turn";
                }
                Some(_) => self.message(&format!("{id}: refused")),
                None => {
                    self.message(&format!("{id}: cancelled"));
                    return if self.cancelled {
                        "cancelled"
                    } else {
                        "end_turn"
                    };
                }
            }
        }
        "end_turn"
    }

    fn elicit(&mut self, default: Option<&str>) -> &'static str {
        let mut database = json!({ "type": "string", "title": "Database", "oneOf": [
            { "const": "postgres", "title": "PostgreSQL" },
            { "const": "sqlite", "title": "SQLite" },
        ] });
        if let Some(default) = default {
            database["default"] = json!(default);
        }
        let answer = self.request(
            "elicitation/create",
            json!({
                "sessionId": self.session,
                "mode": "form",
                "message": "Which database should I use?",
                "requestedSchema": {
                    "type": "object",
                    "properties": { "database": database },
                    "required": ["database"],
                },
            }),
        );
        let result = &answer["result"];
        self.message(&format!(
            "answer: {} {}",
            result["action"], result["content"]
        ));
        "end_turn"
    }

    fn elicit_form(&mut self) -> &'static str {
        let forms = [
            (
                "How many replicas should I start?",
                json!({
                    "type": "object",
                    "properties": { "replicas": {
                        "type": "integer", "title": "Replicas", "minimum": 1, "maximum": 10,
                    } },
                    "required": ["replicas"],
                }),
            ),
            (
                "Deploy with these settings?",
                json!({
                    "type": "object",
                    "properties": {
                        "confirm": { "type": "boolean", "title": "Deploy now" },
                        "budget": {
                            "type": "number", "title": "Budget in euros", "minimum": 0,
                            "description": "What the deploy may spend",
                        },
                        "region": { "type": "string", "title": "Region", "enum": ["eu-west", "us-east"] },
                    },
                    "required": ["confirm"],
                }),
            ),
        ];
        for (message, schema) in forms {
            let answer = self.request(
                "elicitation/create",
                json!({
                    "sessionId": self.session,
                    "mode": "form",
                    "message": message,
                    "requestedSchema": schema,
                }),
            );
            let result = &answer["result"];
            self.message(&format!(
                "answer: {} {}",
                result["action"], result["content"]
            ));
        }
        "end_turn"
    }

    fn wait_for_cancel(&mut self) -> &'static str {
        // A child in the group, as a real agent's tools would be.
        let child = std::process::Command::new("sleep").arg("300").spawn();
        eprintln!("fake-acp-agent: child {:?}", child.map(|c| c.id()));
        self.update(json!({
            "sessionUpdate": "tool_call", "toolCallId": "rm-1", "title": "rm -rf build",
            "kind": "execute", "status": "pending", "rawInput": { "command": "rm -rf build" },
        }));
        let kind = self.ask_permission(
            json!({ "toolCallId": "rm-1" }),
            &[("y", "allow_once"), ("n", "reject_once")],
        );
        eprintln!(
            "fake-acp-agent: permission answered {kind:?}, cancelled: {}",
            self.cancelled
        );
        if std::env::args().nth(2).as_deref() == Some("slow") {
            // Winds down as a real agent does: the run is still live.
            std::thread::sleep(Duration::from_secs(3));
        }
        if kind.is_none() && self.cancelled {
            "cancelled"
        } else {
            "end_turn"
        }
    }

    fn withdraw(&mut self) -> &'static str {
        let gate = std::env::args().nth(2).map(PathBuf::from);
        let id = self.send_request(
            "session/request_permission",
            json!({
                "sessionId": self.session,
                "toolCall": { "toolCallId": "deploy-1", "title": "deploy", "kind": "other" },
                "options": [{ "optionId": "y", "name": "yes", "kind": "allow_once" }],
            }),
        );
        while gate.as_ref().is_some_and(|gate| !gate.exists()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        send(
            json!({ "jsonrpc": "2.0", "method": "$/cancel_request", "params": { "requestId": id } }),
        );
        let answer = self.answer_to(id);
        self.message(&format!("withdrawn: {}", answer["error"]["code"]));
        "end_turn"
    }

    /// Asks permission; returns the kind of the option selected, or `None`
    /// for `cancelled`.
    fn ask_permission(&mut self, tool_call: Value, options: &[(&str, &str)]) -> Option<String> {
        let offered: Vec<Value> = options
            .iter()
            .map(|(id, kind)| json!({ "optionId": id, "name": id, "kind": kind }))
            .collect();
        let answer = self.request(
            "session/request_permission",
            json!({ "sessionId": self.session, "toolCall": tool_call, "options": offered }),
        );
        let outcome = &answer["result"]["outcome"];
        match outcome["outcome"].as_str() {
            Some("selected") => {
                let id = outcome["optionId"].as_str().unwrap_or("");
                let kind = options
                    .iter()
                    .find(|(o, _)| *o == id)
                    .map(|(_, k)| k.to_string());
                Some(kind.unwrap_or_else(|| format!("unknown option {id}")))
            }
            _ => None,
        }
    }

    /// Sends a request and reads until its answer, noting a cancel.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        self.answer_to(id)
    }

    fn send_request(&mut self, method: &str, params: Value) -> i64 {
        self.next_id += 1;
        let id = self.next_id;
        send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        id
    }

    /// Reads until the answer to request `id`, noting a cancel.
    fn answer_to(&mut self, id: i64) -> Value {
        loop {
            let message = self.recv();
            if message.get("method").and_then(Value::as_str) == Some("session/cancel") {
                self.cancelled = true;
                continue;
            }
            if message.get("id") == Some(&json!(id)) && message.get("method").is_none() {
                return message;
            }
            eprintln!("fake-acp-agent: unexpected while waiting: {message}");
        }
    }

    /// The next message; when stdin closes, lingers until killed.
    fn recv(&mut self) -> Value {
        loop {
            match self.lines.next() {
                Some(Ok(line)) => match serde_json::from_str(&line) {
                    Ok(value) => return value,
                    Err(e) => eprintln!("fake-acp-agent: bad line from the client ({e}): {line}"),
                },
                _ => loop {
                    std::thread::sleep(Duration::from_secs(3600));
                },
            }
        }
    }

    fn update(&self, update: Value) {
        send(json!({
            "jsonrpc": "2.0",
            "method": "session/update",
            "params": { "sessionId": self.session, "update": update },
        }));
    }

    fn message(&self, text: &str) {
        self.update(json!({ "sessionUpdate": "agent_message_chunk", "content": { "type": "text", "text": text } }));
    }

    fn thought(&self, text: &str) {
        self.update(json!({ "sessionUpdate": "agent_thought_chunk", "content": { "type": "text", "text": text } }));
    }

    fn path(&self, name: &str) -> String {
        let here: PathBuf = std::env::current_dir().expect("a current directory");
        here.join(name).display().to_string()
    }
}

fn respond(id: &Value, result: Value) {
    send(json!({ "jsonrpc": "2.0", "id": id, "result": result }));
}

fn respond_error(id: &Value, code: i64, message: &str) {
    send(json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } }));
}

fn send(message: Value) {
    print_line(&message.to_string());
}

fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
