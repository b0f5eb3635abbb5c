//! The session's course: `initialize`, `authenticate`, `session/new`, then
//! turns until the agent is done, cancelled or gone.

use serde_json::{json, Value};
use tokio::time::Instant;

use super::protocol::{self, code, RpcError};
use super::*;
use crate::model::EventType;

impl Driver {
    pub(super) async fn drive(&mut self) -> Ending {
        if let Err(ending) = self.start().await {
            return ending;
        }
        self.converse().await
    }

    /// `initialize`, `authenticate` if need be, `session/new`.
    async fn start(&mut self) -> Result<(), Ending> {
        let timeout = self.opts.startup_timeout;
        let deadline = Instant::now() + timeout;
        let init = self
            .call("initialize", protocol::initialize_params(), deadline)
            .await?
            .map_err(|e| Ending::Failed(format!("the agent refused to initialize: {e}")))?;
        let init: protocol::InitializeResult = serde_json::from_value(init).map_err(|e| {
            Ending::Failed(format!("the agent's answer to initialize is not ACP: {e}"))
        })?;
        if init.protocol_version != PROTOCOL_VERSION {
            return Err(Ending::Failed(format!(
                "the agent speaks version {} of the Agent Client Protocol; m speaks version {PROTOCOL_VERSION}",
                init.protocol_version
            )));
        }

        let cwd = self.ctx.launch.workspace.display().to_string();
        if let Some(resume) = self.opts.resume.clone() {
            return self.resume(&init, &resume, &cwd).await;
        }
        let params = protocol::new_session_params(&cwd);
        let session = self
            .open("session/new", params, &init)
            .await?
            .map_err(|e| Ending::Failed(format!("the agent could not open a session: {e}")))?;
        let opened: protocol::NewSessionResult =
            serde_json::from_value(session.clone()).map_err(|e| {
                Ending::Failed(format!("the agent's answer to session/new is not ACP: {e}"))
            })?;
        let mut data = json!({
            "sessionId": opened.session_id,
            "protocolVersion": init.protocol_version,
            "agent": init.agent_info,
            "capabilities": init.agent_capabilities,
        });
        protocol::describe_session(&session, &mut data);
        self.ctx.emit(EventType::AgentSession, data).await;
        self.session_id = Some(opened.session_id);
        if let Some(modes) = &opened.modes {
            self.on_mode(&modes.current_mode_id).await;
        }
        self.ask_mode(&session, Instant::now() + self.opts.startup_timeout)
            .await
    }

    /// Takes up the run's session again (the daemon restarted under it):
    /// `session/resume` where the agent advertises it, else `session/load`,
    /// whose replay of the conversation is in the log already. A failure
    /// fails the run with the agent's reason: a new session would not know
    /// what the run was about.
    async fn resume(
        &mut self,
        init: &protocol::InitializeResult,
        resume: &Resume,
        cwd: &str,
    ) -> Result<(), Ending> {
        let id = &resume.session_id;
        let Some(method) = protocol::resume_method(&init.agent_capabilities) else {
            return Err(Ending::Failed(format!(
                "cannot resume the agent's session {id} after the daemon restarted: the agent \
                 no longer offers session/resume or session/load"
            )));
        };
        if method == "session/load" {
            self.replaying = Some(0);
        }
        let answer = self
            .open(method, protocol::resume_params(id, cwd), init)
            .await;
        let replayed = self.replaying.take();
        let session = answer?.map_err(|e| {
            Ending::Failed(format!(
                "the agent could not resume its session {id} after the daemon restarted ({method}): {e}"
            ))
        })?;
        let resumed: protocol::ResumedSession = match &session {
            Value::Null => protocol::ResumedSession::default(),
            other => serde_json::from_value(other.clone()).map_err(|e| {
                Ending::Failed(format!("the agent's answer to {method} is not ACP: {e}"))
            })?,
        };
        let mut data = json!({
            "sessionId": id,
            "method": method,
            "was": resume.was,
            "protocolVersion": init.protocol_version,
            "agent": init.agent_info,
            "capabilities": init.agent_capabilities,
        });
        if let Some(replayed) = replayed {
            data["replayed"] = json!(replayed);
        }
        protocol::describe_session(&session, &mut data);
        self.ctx.emit(EventType::AgentResumed, data).await;
        self.session_id = Some(id.clone());
        if let Some(modes) = &resumed.modes {
            self.on_mode(&modes.current_mode_id).await;
        }
        self.ask_mode(&session, Instant::now() + self.opts.startup_timeout)
            .await
    }

    /// `session/new`, `session/resume` or `session/load`, authenticating
    /// first if the agent says a login is needed and the config names the
    /// method (never otherwise: it could replace the user's saved login).
    async fn open(
        &mut self,
        method: &str,
        params: Value,
        init: &protocol::InitializeResult,
    ) -> Result<Result<Value, RpcError>, Ending> {
        let timeout = self.opts.startup_timeout;
        let mut authenticated = false;
        loop {
            let deadline = Instant::now() + timeout;
            match self.call(method, params.clone(), deadline).await? {
                Err(e) if e.code == code::AUTH_REQUIRED => {
                    let configured = self.opts.auth_method.clone().filter(|_| !authenticated);
                    let Some(method_id) = configured else {
                        return Err(Ending::Failed(needs_auth(
                            self.opts.preset.as_deref(),
                            self.opts.auth_method.as_deref(),
                            &init.auth_methods,
                            &e,
                        )));
                    };
                    let found = init.auth_methods.iter().find(|m| m.id == method_id);
                    let Some(found) = found.cloned() else {
                        return Err(Ending::Failed(unknown_auth_method(
                            self.opts.preset.as_deref(),
                            &method_id,
                            &init.auth_methods,
                        )));
                    };
                    // The replay starts over after a login.
                    if let Some(replayed) = &mut self.replaying {
                        *replayed = 0;
                    }
                    self.authenticate(&found, Instant::now() + timeout).await?;
                    authenticated = true;
                }
                other => return Ok(other),
            }
        }
    }

    /// Selects the session mode in which the preset's agent asks before it
    /// acts, when the session opened in another (the user's or the
    /// repository's settings chose it): m stays the gatekeeper. A refusal
    /// fails the run; a mode the agent does not offer is reported.
    async fn ask_mode(&mut self, session: &Value, deadline: Instant) -> Result<(), Ending> {
        let Some(wanted) = self
            .opts
            .preset
            .as_deref()
            .and_then(presets::find)
            .and_then(|p| p.ask_mode)
        else {
            return Ok(());
        };
        let Some(modes) = session.get("modes").filter(|m| !m.is_null()) else {
            return Ok(());
        };
        let current = modes.get("currentModeId").and_then(Value::as_str);
        if current == Some(wanted) {
            return Ok(());
        }
        let offered = modes
            .get("availableModes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|m| m.get("id").and_then(Value::as_str) == Some(wanted));
        if !offered {
            self.ctx
                .emit(
                    EventType::Error,
                    json!({ "message": format!(
                        "the agent offers no '{wanted}' mode, in which it asks before it acts; \
                         it runs in mode '{}'", current.unwrap_or("?")
                    ) }),
                )
                .await;
            return Ok(());
        }
        let session_id = self.session_id.clone().unwrap_or_default();
        let params = json!({ "sessionId": session_id, "modeId": wanted });
        match self.call("session/set_mode", params, deadline).await? {
            Ok(_) => {
                self.on_mode(wanted).await;
                Ok(())
            }
            Err(e) => Err(Ending::Failed(format!(
                "the agent would not switch to its '{wanted}' mode, in which it asks before \
                 it acts (it opened in '{}'): {e}",
                current.unwrap_or("?")
            ))),
        }
    }

    /// Records the session's mode, and says so when in that mode the agent
    /// acts without asking m.
    pub(super) async fn on_mode(&mut self, mode_id: &str) {
        let unasked = presets::find(self.opts.preset.as_deref().unwrap_or_default())
            .and_then(|p| p.quiet_modes.iter().find(|(id, _)| *id == mode_id))
            .map(|(_, unasked)| *unasked);
        let mut data = json!({ "modeId": mode_id, "asks": unasked.is_none() });
        if let Some(unasked) = unasked {
            data["message"] = json!(format!(
                "the agent is in its {mode_id} mode: it {unasked}, so m is not asked"
            ));
        }
        self.ctx.emit(EventType::AgentMode, data).await;
    }

    /// Authenticates with `method`, the one the user configured. A refusal
    /// is recorded; the session that follows says whether it mattered.
    async fn authenticate(
        &mut self,
        method: &protocol::AuthMethod,
        deadline: Instant,
    ) -> Result<(), Ending> {
        let result = self
            .call("authenticate", json!({ "methodId": method.id }), deadline)
            .await?;
        let mut data = json!({ "methodId": method.id, "name": method.name, "ok": result.is_ok() });
        if let Err(e) = result {
            data["error"] = json!(e.to_string());
        }
        self.ctx.emit(EventType::AgentAuth, data).await;
        Ok(())
    }

    /// Sends a request and waits for its answer until `deadline`, serving
    /// the agent meanwhile.
    async fn call(
        &mut self,
        method: &str,
        params: Value,
        deadline: Instant,
    ) -> Result<Result<Value, RpcError>, Ending> {
        let id = self.send_request(method, params);
        match self.pump(Want::Response(id), Some(deadline)).await {
            Ok(Got::Response(result)) => Ok(result),
            Ok(Got::Human(_)) => unreachable!("waiting for a response"),
            Err(Stop::Cancelled) => Err(self.cancel(None).await),
            Err(Stop::AgentGone) => Err(Ending::Failed(self.gone("while starting").await)),
            Err(Stop::Timeout) => Err(Ending::Failed(format!(
                "the agent did not answer {method} within {}s (is it waiting for a login or an update? \
                 try running its command in a terminal)",
                self.opts.startup_timeout.as_secs_f64()
            ))),
        }
    }

    /// Prompt turns until the run is done.
    async fn converse(&mut self) -> Ending {
        let mut next = match self.opening().await {
            Ok(prompt) => prompt,
            Err(ending) => return ending,
        };
        loop {
            let end = match self.turn(next).await {
                Ok(end) => end,
                Err(ending) => return ending,
            };
            if let Some(text) = self.rejections.pop_front() {
                next = Prompt {
                    text,
                    source: "rejection",
                };
                continue;
            }
            let ended_well = end.stop_reason == "end_turn";
            if self.opts.once {
                if !ended_well {
                    return Ending::Failed(end.describe());
                }
                match self.finish().await {
                    Ok(ending) => return ending,
                    Err(prompt) => {
                        next = prompt;
                        continue;
                    }
                }
            }
            let question = if ended_well {
                "The agent ended its turn and waits for the next prompt".to_string()
            } else {
                format!(
                    "{}; it waits for the next prompt",
                    capitalized(&end.describe())
                )
            };
            next = match self.next_prompt(question).await {
                Ok(prompt) => prompt,
                Err(ending) => return ending,
            };
        }
    }

    /// The first prompt: the run's own, or, in a resumed session, the
    /// decision on an approval that was pending when the daemon stopped
    /// (asked again), or the human's next prompt.
    async fn opening(&mut self) -> Result<Prompt, Ending> {
        let Some(resume) = self.opts.resume.clone() else {
            return Ok(Prompt {
                text: self.ctx.launch.prompt.clone(),
                source: "initial",
            });
        };
        let mut decided = Vec::new();
        for request in resume.asked {
            let about = approval::refers_to(&request);
            let mut request = request;
            if let Value::Object(payload) = &mut request.payload {
                payload.insert("resumed".into(), json!(true));
            }
            let key = self.wait_for_human(|ctx| async move {
                Answer::Verdict(ctx.request_approval(request).await)
            });
            let verdict = match self.pump(Want::Human(key), None).await {
                Ok(Got::Human(Answer::Verdict(verdict))) => verdict,
                Ok(_) => unreachable!("waiting for a decision"),
                Err(stop) => {
                    return Err(self
                        .stopped(stop, "while an approval was asked again")
                        .await)
                }
            };
            decided.push(match verdict {
                Verdict::Approved { .. } => format!(
                    "The user approved {about}, which you asked for before m restarted (your \
                     request was lost with your process): go ahead with it."
                ),
                Verdict::Rejected { reason } if !reason.trim().is_empty() => format!(
                    "The user refused {about}, which you asked for before m restarted: {}",
                    reason.trim()
                ),
                Verdict::Rejected { .. } => {
                    format!("The user refused {about}, which you asked for before m restarted.")
                }
                Verdict::RunEnded => return Err(self.cancel(None).await),
            });
        }
        if !decided.is_empty() {
            return Ok(Prompt {
                text: decided.join("\n"),
                source: "resumed",
            });
        }
        let question = if resume.was == "turn" {
            "The daemon restarted during the agent's turn, which was lost; its session was \
             resumed and waits for the next prompt"
        } else {
            "The agent's session was resumed after the daemon restarted; it waits for the next prompt"
        };
        self.next_prompt(question.to_string()).await
    }

    /// Asks the human for the next prompt (`m reply`), or ends the run
    /// (`m run done`).
    async fn next_prompt(&mut self, question: String) -> Result<Prompt, Ending> {
        match self.ask(question).await? {
            InputReply::Text(text) => Ok(Prompt {
                text,
                source: "reply",
            }),
            InputReply::Done => match self.finish().await {
                Ok(ending) => Err(ending),
                Err(prompt) => Ok(prompt),
            },
            InputReply::RunEnded => Err(self.cancel(None).await),
        }
    }

    /// One prompt turn, to its end.
    async fn turn(&mut self, prompt: Prompt) -> Result<TurnEnd, Ending> {
        self.turn += 1;
        let session_id = self.session_id.clone().unwrap_or_default();
        self.ctx
            .emit(
                EventType::AgentPrompt,
                json!({ "turn": self.turn, "source": prompt.source, "text": prompt.text }),
            )
            .await;
        let id = self.send_request(
            "session/prompt",
            protocol::prompt_params(&session_id, &prompt.text),
        );
        self.in_turn = true;
        let answer = self.pump(Want::Response(id), None).await;
        self.in_turn = false;
        self.turn_ending = false;
        let result = match answer {
            Ok(Got::Response(result)) => result,
            Ok(Got::Human(_)) => unreachable!("waiting for a response"),
            Err(Stop::Cancelled) => return Err(self.cancel(Some(id)).await),
            Err(Stop::AgentGone | Stop::Timeout) => {
                return Err(Ending::Failed(self.gone("during a turn").await))
            }
        };
        self.flush_text().await;
        // Tokens the turn spent, as the agent counts them (ACP's
        // `PromptResponse.usage`): the usage ledger adds them up.
        let usage = result
            .as_ref()
            .ok()
            .and_then(|v| v.get("usage"))
            .filter(|u| u.is_object())
            .cloned();
        let (stop_reason, error) = match result {
            Ok(value) => match serde_json::from_value::<protocol::PromptResult>(value) {
                Ok(r) => (r.stop_reason, None),
                Err(e) => (
                    "error".to_string(),
                    Some(format!("its answer to the prompt is not ACP: {e}")),
                ),
            },
            Err(e) => ("error".to_string(), Some(e.to_string())),
        };
        let mut data = json!({ "turn": self.turn, "stopReason": stop_reason });
        if let Some(usage) = usage {
            data["usage"] = usage;
        }
        if let Some(error) = &error {
            data["error"] = json!(error);
            self.ctx
                .emit(
                    EventType::Error,
                    json!({ "message": format!("the agent's turn failed: {error}") }),
                )
                .await;
        }
        self.ctx.emit(EventType::AgentTurn, data).await;
        Ok(TurnEnd { stop_reason, error })
    }

    /// The agent is done: with `--review`, a human reviews its work first.
    /// `Err` is a review rejection's reason, the next prompt: only a human's
    /// words go back to the agent, never m's own failure to make the diff
    /// (the agent would answer it and end its turn, and the review would
    /// fail again, for ever).
    async fn finish(&mut self) -> Result<Ending, Prompt> {
        if !(self.opts.review || self.ctx.launch.review) {
            return Ok(Ending::Completed);
        }
        let key =
            self.wait_for_human(|ctx| async move { Answer::Review(ctx.request_review().await) });
        let review = match self.pump(Want::Human(key), None).await {
            Ok(Got::Human(Answer::Review(review))) => review,
            Ok(_) => unreachable!("waiting for the review"),
            Err(stop) => return Ok(self.stopped(stop, "while its work was under review").await),
        };
        match review {
            ReviewOutcome::Verdict(Verdict::Approved { .. }) | ReviewOutcome::NothingToReview => {
                Ok(Ending::Completed)
            }
            ReviewOutcome::Verdict(Verdict::Rejected { reason }) if !reason.trim().is_empty() => {
                Err(Prompt {
                    text: reason,
                    source: "review",
                })
            }
            ReviewOutcome::Verdict(Verdict::Rejected { .. }) => {
                Ok(Ending::Failed("the review was rejected".into()))
            }
            ReviewOutcome::Verdict(Verdict::RunEnded) => Ok(self.cancel(None).await),
            ReviewOutcome::CannotPrepare { reason } => Ok(Ending::Failed(reason)),
        }
    }

    /// Waits for the human between turns.
    async fn ask(&mut self, question: String) -> Result<InputReply, Ending> {
        let key = self.wait_for_human(|ctx| async move {
            Answer::Input(
                ctx.request_input(InputRequest {
                    question,
                    schema: None,
                })
                .await,
            )
        });
        match self.pump(Want::Human(key), None).await {
            Ok(Got::Human(Answer::Input(reply))) => Ok(reply),
            Ok(_) => unreachable!("waiting for input"),
            Err(stop) => Err(self.stopped(stop, "while waiting for a reply").await),
        }
    }

    async fn stopped(&mut self, stop: Stop, when: &str) -> Ending {
        match stop {
            Stop::Cancelled => self.cancel(None).await,
            Stop::AgentGone | Stop::Timeout => Ending::Failed(self.gone(when).await),
        }
    }

    /// Cancels the run: `session/cancel`, every pending permission request
    /// answered `cancelled`, and a short wait for the turn in progress to
    /// end. The caller then ends the process group.
    async fn cancel(&mut self, prompt: Option<i64>) -> Ending {
        self.cancelling = true;
        self.flush_text().await;
        let in_flight = prompt.is_some() || !self.pending.is_empty();
        if let (true, Some(session_id)) = (in_flight, &self.session_id) {
            let line = protocol::notification("session/cancel", json!({ "sessionId": session_id }));
            self.send(line);
        }
        let pending: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        for p in pending {
            p.task.abort();
            self.answer_cancelled(&p.rpc_id, &p.what, "run_ended").await;
        }
        if let Some(id) = prompt {
            let deadline = Instant::now() + self.opts.grace;
            if let Ok(Got::Response(Ok(result))) =
                self.pump(Want::Response(id), Some(deadline)).await
            {
                self.flush_text().await;
                let stop_reason = result.get("stopReason").cloned().unwrap_or(Value::Null);
                let mut data = json!({ "turn": self.turn, "stopReason": stop_reason });
                if let Some(usage) = result.get("usage").filter(|u| u.is_object()) {
                    data["usage"] = usage.clone();
                }
                self.ctx.emit(EventType::AgentTurn, data).await;
            }
        }
        Ending::Cancelled
    }

    /// Answers a request `cancelled`; `decision` says why, in the log
    /// (`run_ended`, `turn_ended`).
    /// A human rejected one of the turn's requests: the turn ends at once
    /// (`session/cancel`), before the agent tries a way around, and the
    /// rejection is its next prompt (ACP has no field for a reason). Its
    /// other requests are answered `cancelled`, as the protocol asks of a
    /// cancelled turn; the run goes on.
    pub(super) async fn end_turn_now(&mut self) {
        if !self.in_turn || self.turn_ending || self.cancelling {
            return;
        }
        self.turn_ending = true;
        if let Some(session_id) = &self.session_id {
            let line = protocol::notification("session/cancel", json!({ "sessionId": session_id }));
            self.send(line);
        }
        let pending: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        for p in pending {
            p.task.abort();
            self.answer_cancelled(&p.rpc_id, &p.what, "turn_ended")
                .await;
        }
    }

    pub(super) async fn answer_cancelled(
        &mut self,
        rpc_id: &Value,
        what: &PendingKind,
        decision: &str,
    ) {
        match what {
            PendingKind::Permission { tool_call_id, .. } => {
                self.respond(rpc_id, protocol::permission_cancelled());
                self.ctx
                    .emit(
                        EventType::ToolPermission,
                        json!({ "toolCallId": tool_call_id, "decision": decision, "outcome": "cancelled" }),
                    )
                    .await;
            }
            PendingKind::Elicitation => self.respond(rpc_id, protocol::elicitation_cancel()),
        }
    }

    /// Why the agent is gone, once its exit status is known.
    async fn gone(&mut self, when: &str) -> String {
        if self.exit_status.is_none() {
            let wait = self.opts.grace.min(EXIT_DRAIN);
            if let Ok(Some(status)) = tokio::time::timeout(wait, self.child.agent_exited()).await {
                self.exit_status = Some(status);
            }
        }
        use std::os::unix::process::ExitStatusExt;
        match self.exit_status {
            Some(s) if s.code().is_some() => {
                format!(
                    "the agent exited with status {} {when}",
                    s.code().unwrap_or_default()
                )
            }
            Some(s) if s.signal().is_some() => {
                format!(
                    "the agent was killed by signal {} {when}",
                    s.signal().unwrap_or_default()
                )
            }
            _ => format!("the agent closed its output {when}"),
        }
    }
}

/// How a turn ended: the agent's stop reason, or `error` and why.
struct TurnEnd {
    stop_reason: String,
    error: Option<String>,
}

impl TurnEnd {
    fn describe(&self) -> String {
        match &self.error {
            Some(error) => format!("the agent's turn failed: {error}"),
            None => describe_stop(&self.stop_reason),
        }
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn describe_stop(stop_reason: &str) -> String {
    match stop_reason {
        "end_turn" => "the agent ended its turn".into(),
        "max_tokens" => "the agent ran out of tokens (max_tokens)".into(),
        "max_turn_requests" => {
            "the agent reached its limit of requests in a turn (max_turn_requests)".into()
        }
        "refusal" => "the agent refused to go on (refusal)".into(),
        "cancelled" => "the agent cancelled its turn".into(),
        other => format!("the agent stopped its turn ({other})"),
    }
}

/// Why a session that needs auth cannot start, with what the agent would
/// accept: m never picks an auth method itself (an agent may save the
/// method it is told as the user's, and drop a saved login with it).
fn needs_auth(
    preset: Option<&str>,
    configured: Option<&str>,
    methods: &[protocol::AuthMethod],
    error: &RpcError,
) -> String {
    let mut reason = format!("the agent needs authentication: {}", error.message);
    if let Some(id) = configured {
        reason.push_str(&format!(
            " (after authenticating with {id}, as the config says)"
        ));
    }
    let wants: Vec<String> = methods
        .iter()
        .map(|m| format!("{} for {}", auth_needs(preset, m), m.id))
        .collect();
    if !wants.is_empty() {
        reason.push_str(&format!("; it accepts {}", wants.join("; or ")));
    }
    let name = preset.unwrap_or("NAME");
    reason.push_str(&format!(
        "; m never chooses a method for you: set up the one you use, or name it in m's config \
         ([agents.{name}] auth = \"METHOD\") to have m ask the agent for it"
    ));
    reason
}

/// What auth method `method` wants from the user, in a few words.
fn auth_needs(preset: Option<&str>, method: &protocol::AuthMethod) -> String {
    let known = presets::find(preset.unwrap_or_default())
        .and_then(|p| p.auth_needs.iter().find(|(id, _)| *id == method.id))
        .map(|(_, needs)| needs.to_string());
    if let Some(needs) = known {
        return needs;
    }
    match method.kind.as_deref() {
        Some("env_var") if !method.vars.is_empty() => {
            let vars: Vec<&str> = method.vars.iter().map(|v| v.name.as_str()).collect();
            format!("{} in the environment of m's daemon", vars.join(" and "))
        }
        _ => {
            let description = method.description.as_deref().unwrap_or("").trim();
            match (method.name.trim(), description) {
                ("", "") => "a login (run the agent once in a terminal)".to_string(),
                (name, "") => format!("\"{name}\""),
                ("", d) => format!("\"{d}\""),
                (name, d) => format!("\"{name}\" ({d})"),
            }
        }
    }
}

fn unknown_auth_method(
    preset: Option<&str>,
    method_id: &str,
    methods: &[protocol::AuthMethod],
) -> String {
    let ids: Vec<&str> = methods.iter().map(|m| m.id.as_str()).collect();
    let name = preset.unwrap_or("NAME");
    format!(
        "[agents.{name}] auth in the config names the auth method {method_id}, which the agent \
         does not offer (it offers: {})",
        if ids.is_empty() {
            "none".to_string()
        } else {
            ids.join(", ")
        }
    )
}
