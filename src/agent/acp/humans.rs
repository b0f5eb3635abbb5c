//! What the agent asks of a person: permission requests become approvals,
//! elicitations become questions; each is awaited in a task of its own and
//! answered when the person decides (or withdrawn when the agent cancels).

use std::future::Future;

use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::protocol::{self, code};
use super::updates::{merge, tool_call_id};
use super::*;
use crate::model::EventType;

impl Driver {
    pub(super) async fn on_permission(&mut self, rpc_id: Value, params: Value) {
        self.flush_text().await;
        let params: protocol::PermissionParams = match serde_json::from_value(params) {
            Ok(p) => p,
            Err(e) => {
                return self
                    .invalid_params(&rpc_id, "session/request_permission", e)
                    .await
            }
        };
        let tool_call_id = tool_call_id(&params.tool_call);
        let mut state = self.tools.get(&tool_call_id).cloned().unwrap_or_default();
        merge(&mut state, params.tool_call);
        if !tool_call_id.is_empty() {
            self.tools.insert(tool_call_id.clone(), state.clone());
        }
        let request = approval::request(&state, &params.options, &self.ctx.launch.workspace);
        let what = PendingKind::Permission {
            options: params.options,
            tool_call_id,
            about: approval::refers_to(&request),
        };
        if self.cancelling {
            return self.answer_cancelled(&rpc_id, &what, "run_ended").await;
        }
        if self.turn_ending {
            return self.answer_cancelled(&rpc_id, &what, "turn_ended").await;
        }
        let (key, task) = self
            .spawn_human(|ctx| async move { Answer::Verdict(ctx.request_approval(request).await) });
        self.pending.insert(key, Pending { rpc_id, what, task });
    }

    /// The agent no longer wants the answer to one of its requests: nobody
    /// should be asked any more (dropping the wait withdraws the approval or
    /// question), and the request is answered "cancelled" as the protocol
    /// asks. A request already answered, or unknown, needs nothing.
    pub(super) async fn on_cancel_request(&mut self, params: Value) {
        let Some(request_id) = params.get("requestId") else {
            // A notification gets no answer: the log says what was wrong.
            return self
                .ctx
                .emit(
                    EventType::Error,
                    json!({ "message": "the agent sent $/cancel_request without a requestId" }),
                )
                .await;
        };
        let Some(key) = self
            .pending
            .iter()
            .find(|(_, p)| &p.rpc_id == request_id)
            .map(|(key, _)| *key)
        else {
            return;
        };
        let pending = self.pending.remove(&key).expect("found above");
        pending.task.abort();
        self.send(protocol::error_response(
            &pending.rpc_id,
            code::REQUEST_CANCELLED,
            "cancelled by the agent",
        ));
        if let PendingKind::Permission { tool_call_id, .. } = &pending.what {
            self.ctx
                .emit(
                    EventType::ToolPermission,
                    json!({ "toolCallId": tool_call_id, "decision": "withdrawn", "outcome": "cancelled" }),
                )
                .await;
        }
    }

    pub(super) async fn on_elicitation(&mut self, rpc_id: Value, params: Value) {
        self.flush_text().await;
        let params: protocol::ElicitationParams = match serde_json::from_value(params) {
            Ok(p) => p,
            Err(e) => return self.invalid_params(&rpc_id, "elicitation/create", e).await,
        };
        let form = match params.mode.as_deref() {
            Some("form") => true,
            None => params.requested_schema.is_some(),
            Some(_) => false,
        };
        if !form {
            self.respond(&rpc_id, protocol::elicitation_decline());
            let mode = params.mode.unwrap_or_default();
            self.ctx
                .emit(
                    EventType::Error,
                    json!({
                        "message": format!("the agent asked a question in {mode} mode, which m does not offer; declined"),
                        "question": params.message,
                        "url": params.url,
                    }),
                )
                .await;
            return;
        }
        if self.cancelling || self.turn_ending {
            self.respond(&rpc_id, protocol::elicitation_cancel());
            return;
        }
        let schema = params
            .requested_schema
            .unwrap_or_else(|| json!({ "type": "object", "properties": {} }));
        let question = params.message;
        let (key, task) = self.spawn_human(|ctx| async move {
            loop {
                let request = InputRequest {
                    question: question.clone(),
                    schema: Some(schema.clone()),
                };
                match ctx.request_input(request).await {
                    // m's daemon refuses a reply that does not fit before it
                    // reaches here (the question stays open); whatever else
                    // serves the run is answered the same way, in the log.
                    InputReply::Text(text) => match crate::question::fit(&schema, &text) {
                        Ok(content) => return Answer::Elicited(Elicited::Accept(content)),
                        Err(why) => {
                            ctx.emit(
                                EventType::Error,
                                json!({
                                    "message": format!("that reply does not answer the question: {why}"),
                                    "question": question,
                                    "reply": text,
                                }),
                            )
                            .await
                        }
                    },
                    InputReply::Done => return Answer::Elicited(Elicited::Decline),
                    InputReply::RunEnded => return Answer::Elicited(Elicited::Cancel),
                }
            }
        });
        self.pending.insert(
            key,
            Pending {
                rpc_id,
                what: PendingKind::Elicitation,
                task,
            },
        );
    }

    async fn invalid_params(&mut self, rpc_id: &Value, method: &str, e: serde_json::Error) {
        let message = format!("invalid {method} parameters: {e}");
        self.send(protocol::error_response(
            rpc_id,
            code::INVALID_PARAMS,
            &message,
        ));
        self.ctx
            .emit(
                EventType::Error,
                json!({ "message": format!("the agent sent {message}") }),
            )
            .await;
    }

    /// Gives the agent a human's answer to one of its requests.
    pub(super) async fn answer_agent(&mut self, done: HumanDone) {
        let Some(pending) = self.pending.remove(&done.key) else {
            return;
        };
        match (pending.what, done.answer) {
            (
                PendingKind::Permission {
                    options,
                    tool_call_id,
                    about,
                },
                Answer::Verdict(verdict),
            ) => {
                let chosen = approval::choose(&options, &verdict);
                let result = match chosen {
                    Some(option) => protocol::permission_selected(&option.option_id),
                    None => protocol::permission_cancelled(),
                };
                self.respond(&pending.rpc_id, result);
                let name = match &verdict {
                    Verdict::Approved { .. } => "approved",
                    Verdict::Rejected { .. } => "rejected",
                    Verdict::RunEnded => "run_ended",
                };
                let mut data = json!({
                    "toolCallId": tool_call_id,
                    "decision": name,
                    "outcome": if chosen.is_some() { "selected" } else { "cancelled" },
                });
                if let Some(option) = chosen {
                    data["optionId"] = json!(option.option_id);
                    data["optionKind"] = json!(option.kind);
                }
                if matches!(verdict, Verdict::Approved { persist: true }) {
                    data["persist"] = json!(true);
                }
                self.ctx.emit(EventType::ToolPermission, data).await;
                match verdict {
                    Verdict::Approved { persist } if chosen.is_none() => {
                        let wanted = if persist {
                            "allow_always or allow_once"
                        } else {
                            "allow_once"
                        };
                        self.ctx
                            .emit(
                                EventType::Error,
                                json!({ "message": format!(
                                    "the agent offered no {wanted} option for tool call {tool_call_id}; answered cancelled"
                                ) }),
                            )
                            .await;
                    }
                    Verdict::Rejected { reason } => {
                        let reason = reason.trim();
                        self.rejections.push_back(if reason.is_empty() {
                            format!("The user refused {about}.")
                        } else {
                            format!("The user refused {about}: {reason}")
                        });
                        self.end_turn_now().await;
                    }
                    _ => {}
                }
            }
            (PendingKind::Elicitation, Answer::Elicited(answer)) => {
                let result = match answer {
                    Elicited::Accept(content) => protocol::elicitation_accept(content),
                    Elicited::Decline => protocol::elicitation_decline(),
                    Elicited::Cancel => protocol::elicitation_cancel(),
                };
                self.respond(&pending.rpc_id, result);
            }
            _ => unreachable!("answers match their requests"),
        }
    }

    /// Waits for a human in a task of its own, so the agent is served
    /// meanwhile; the answer arrives through `humans_rx` under the key.
    fn spawn_human<F, Fut>(&mut self, work: F) -> (u64, JoinHandle<()>)
    where
        F: FnOnce(RunContext) -> Fut,
        Fut: Future<Output = Answer> + Send + 'static,
    {
        let key = self.next_human;
        self.next_human += 1;
        let answer = work(self.ctx.clone());
        let tx = self.humans_tx.clone();
        let task = tokio::spawn(async move {
            let answer = answer.await;
            let _ = tx.send(HumanDone { key, answer });
        });
        (key, task)
    }

    pub(super) fn wait_for_human<F, Fut>(&mut self, work: F) -> u64
    where
        F: FnOnce(RunContext) -> Fut,
        Fut: Future<Output = Answer> + Send + 'static,
    {
        let (key, task) = self.spawn_human(work);
        self.waits.retain(|t| !t.is_finished());
        self.waits.push(task);
        key
    }
}
