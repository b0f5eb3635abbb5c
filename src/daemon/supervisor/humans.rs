//! The humans a run waits for: its approvals (a rule may decide one
//! first) and questions, each with its waiter, reminders and deadline, and
//! what happens when an asker stops waiting or nobody answers in time.

use super::*;

/// A question the agent asked, not yet answered.
pub(super) struct OpenQuestion {
    /// The `seq` of its `input.requested` event: the `input.provided` or
    /// `input.withdrawn` that closes it names it, so that readers of the
    /// log (`m run show`) know which questions are still open.
    pub(super) seq: i64,
    /// The form the answer must fit (an ACP elicitation's), checked when a
    /// reply arrives: one that does not fit is refused to the human who
    /// sent it, and the question stays open.
    pub(super) schema: Option<Value>,
    pub(super) waiter: oneshot::Sender<InputReply>,
    /// The question, as reminders repeat it.
    pub(super) text: String,
    /// The answer the deadline gives, where the question has one.
    pub(super) default_answer: Option<String>,
    pub(super) due: Due,
}

/// An approval waiting for a human.
pub(super) struct PendingApproval {
    pub(super) waiter: oneshot::Sender<Verdict>,
    pub(super) due: Due,
}

/// When a human is reminded of what waits for them, and when the
/// deadline decides for them (`[approvals] remind_after`, `timeout`).
#[derive(Default)]
pub(super) struct Due {
    pub(super) remind_at: Option<tokio::time::Instant>,
    pub(super) decide_at: Option<tokio::time::Instant>,
    /// `decide_at` on the wall clock (unix seconds), as events and
    /// notifications say it.
    pub(super) deadline: Option<i64>,
}

impl Due {
    pub(super) fn next(&self) -> Option<tokio::time::Instant> {
        self.remind_at.into_iter().chain(self.decide_at).min()
    }
}

/// A pending request whose asker stopped waiting (see `Supervisor::withdrawn`).
pub(super) enum Withdrawn {
    Approval(String),
    /// The position in the queue of open questions.
    Question(usize),
}

/// What became of an approval asked for.
pub(super) enum Asked {
    /// It waits for a human: its id.
    Waiting(String),
    /// A rule (or a grant) approved it at once, as it was asked.
    Approved,
    /// It was not recorded (the run is stopping, or the store failed):
    /// its asker was told the run ended.
    Not,
}

impl Supervisor {
    /// Records an approval and keeps whoever waits for it.
    pub(super) async fn ask_approval(
        &mut self,
        request: ApprovalRequest,
        reply: oneshot::Sender<Verdict>,
    ) -> Asked {
        // Told to stop: a request that arrives now would be left pending,
        // its asker waiting for ever (the stop answered those before it).
        if self.stopped {
            let _ = reply.send(Verdict::RunEnded);
            return Asked::Not;
        }
        let granted = self
            .grants
            .iter()
            .find(|g| g.covers(request.approval_type, &request.payload))
            .map(|g| format!("m approve --always: {}", g.describe()));
        let again = self
            .once
            .iter()
            .position(|g| g.covers(request.approval_type, &request.payload))
            .map(|i| {
                let grant = self.once.remove(i);
                format!("approved before the daemon restarted: {}", grant.describe())
            });
        let policy = policy_allows(&self.options, &request)
            .map(|rule| (format!("auto-approved by policy: {rule}"), rule))
            .or(granted.map(|rule| (format!("approved always for this run ({rule})"), rule)))
            .or(again.map(|rule| (format!("{rule} (once)"), rule)))
            .map(|(reason, rule)| Decision {
                approve: true,
                reason: Some(reason),
                by: DecidedBy::Policy { rule },
                seen_hash: None,
            });
        let auto = policy.is_some();
        let recorded = self
            .shared
            .writer
            .request_approval(&self.run_id, request.approval_type, request.payload, policy)
            .await;
        match recorded {
            Ok(_) if auto => {
                let _ = reply.send(Verdict::Approved { persist: false });
                Asked::Approved
            }
            Ok(approval) => {
                if approval
                    .payload
                    .as_ref()
                    .and_then(|p| p.get("resumed"))
                    .and_then(Value::as_bool)
                    == Some(true)
                {
                    let payload = approval.payload.clone().unwrap_or_default();
                    self.asked_again.insert(
                        approval.id.clone(),
                        Grant::of(approval.approval_type, &payload),
                    );
                }
                let due = self.due();
                self.approvals
                    .insert(approval.id.clone(), PendingApproval { waiter: reply, due });
                Asked::Waiting(approval.id)
            }
            Err(err) => {
                tracing::error!(run = %self.run_id, "cannot record an approval: {}", err.message);
                let _ = reply.send(Verdict::RunEnded);
                Asked::Not
            }
        }
    }

    pub(super) async fn ask_input(
        &mut self,
        request: InputRequest,
        reply: oneshot::Sender<InputReply>,
    ) {
        let due = self.due();
        let default_answer = request
            .schema
            .as_ref()
            .and_then(crate::question::default_answer);
        let mut data = json!({ "question": request.question, "schema": &request.schema });
        if let Some(deadline) = due.deadline {
            data["deadline"] = json!(deadline);
            data["on_timeout"] = json!(if default_answer.is_some() {
                "default"
            } else {
                "cancel"
            });
        }
        let events = self.changing_state(EventType::InputRequested, data, RunState::WaitingInput);
        let seqs = match self.shared.writer.append_committed(events).await {
            Ok(seqs) => seqs,
            Err(err) => {
                tracing::error!(run = %self.run_id, "cannot record a question: {}", err.message);
                let _ = reply.send(InputReply::RunEnded);
                return;
            }
        };
        self.questions.push_back(OpenQuestion {
            seq: seqs.first().copied().unwrap_or_default(),
            schema: request.schema,
            waiter: reply,
            text: request.question,
            default_answer,
            due,
        });
        if let Some(idle) = self.shared.idle_timeout {
            self.idle_deadline = Some(tokio::time::Instant::now() + idle);
        }
    }

    /// Resolves when whoever asked a pending approval or question stopped
    /// waiting for the answer: an `m ask` that was killed or timed out, an
    /// ACP agent that cancelled its request.
    pub(super) fn withdrawn(&mut self) -> impl std::future::Future<Output = Withdrawn> + '_ {
        std::future::poll_fn(move |cx| {
            for (id, pending) in self.approvals.iter_mut() {
                if pending.waiter.poll_closed(cx).is_ready() {
                    return std::task::Poll::Ready(Withdrawn::Approval(id.clone()));
                }
            }
            for (index, question) in self.questions.iter_mut().enumerate() {
                if question.waiter.poll_closed(cx).is_ready() {
                    return std::task::Poll::Ready(Withdrawn::Question(index));
                }
            }
            std::task::Poll::Pending
        })
    }

    /// Nobody waits for the answer any more, so no human should be asked:
    /// a withdrawn approval is rejected (by "agent"), a withdrawn question
    /// is closed, and the run's state says what it still waits for.
    pub(super) async fn on_withdrawn(&mut self, withdrawn: Withdrawn) {
        match withdrawn {
            Withdrawn::Approval(approval_id) => {
                self.approvals.remove(&approval_id);
                let decision = Decision {
                    approve: false,
                    reason: Some("withdrawn: the agent stopped waiting for a decision".into()),
                    by: DecidedBy::Agent,
                    seen_hash: None,
                };
                let resolved = self.shared.writer.decide(&approval_id, decision).await;
                match resolved {
                    Ok(_) => {}
                    // A human decided at the same moment: their decision stands.
                    Err(err) if err.kind == ErrorKind::Conflict => {}
                    Err(err) => {
                        tracing::error!(run = %self.run_id, "cannot withdraw approval {approval_id}: {}", err.message)
                    }
                }
            }
            Withdrawn::Question(index) => {
                let Some(question) = self.questions.remove(index) else {
                    return;
                };
                if self.questions.is_empty() {
                    self.idle_deadline = None;
                }
                let events = self.changing_state(
                    EventType::InputWithdrawn,
                    json!({ "question_seq": question.seq }),
                    self.waiting_state(),
                );
                self.shared.writer.append(events).await;
            }
        }
    }

    /// What the run waits for now, from what is pending.
    pub(super) fn waiting_state(&self) -> RunState {
        if !self.approvals.is_empty() {
            RunState::WaitingApproval
        } else if !self.questions.is_empty() {
            RunState::WaitingInput
        } else {
            RunState::Running
        }
    }

    /// An event of `event_type` that moves the run to `state`, and the
    /// `run.state` event that says so.
    pub(super) fn changing_state(
        &self,
        event_type: EventType,
        data: Value,
        state: RunState,
    ) -> Vec<NewEvent> {
        vec![
            NewEvent::new(&self.run_id, event_type, data).with_state(state),
            NewEvent::new(&self.run_id, EventType::RunState, json!({ "state": state })),
        ]
    }

    /// The reminder and deadline of something asked now, from the run's
    /// options.
    pub(super) fn due(&self) -> Due {
        let now = tokio::time::Instant::now();
        let after = |secs: Option<u64>| secs.map(|secs| now + Duration::from_secs(secs));
        Due {
            remind_at: after(self.options.remind_after_seconds),
            decide_at: after(self.options.approval_timeout_seconds),
            deadline: self
                .options
                .approval_timeout_seconds
                .map(|secs| crate::model::now() + secs as i64),
        }
    }

    /// The next reminder or deadline of anything pending.
    pub(super) fn next_due(&self) -> Option<tokio::time::Instant> {
        let approvals = self.approvals.values().map(|a| &a.due);
        let questions = self.questions.iter().map(|q| &q.due);
        approvals.chain(questions).filter_map(Due::next).min()
    }

    /// Reminds the humans of what waits for them past `remind_after`, and
    /// decides for them what waited past its deadline.
    pub(super) async fn on_due(&mut self) {
        let now = tokio::time::Instant::now();
        let passed = |at: &mut Option<tokio::time::Instant>| at.take_if(|at| *at <= now).is_some();
        let mut reminders = Vec::new();
        let mut timed_out = Vec::new();
        for (id, pending) in self.approvals.iter_mut() {
            if passed(&mut pending.due.remind_at) {
                reminders.push(json!({ "approval_id": id, "deadline": pending.due.deadline }));
            }
            if passed(&mut pending.due.decide_at) {
                timed_out.push(id.clone());
            }
        }
        for question in self.questions.iter_mut() {
            if passed(&mut question.due.remind_at) {
                reminders.push(json!({
                    "question_seq": question.seq,
                    "question": question.text,
                    "deadline": question.due.deadline,
                }));
            }
        }
        // Every question waits as long, so the oldest, the one a reply
        // answers, is the first past its deadline.
        let question_timed_out = self
            .questions
            .front_mut()
            .is_some_and(|q| passed(&mut q.due.decide_at));
        for data in reminders {
            self.emit(EventType::HumanReminded, data).await;
        }
        for approval_id in timed_out {
            self.approval_timed_out(approval_id).await;
        }
        if question_timed_out {
            self.question_timed_out().await;
        }
    }

    /// "no answer within 1h", and the deadline as the decider.
    pub(super) fn no_answer(&self) -> (String, DecidedBy) {
        let after = crate::model::format_duration(Duration::from_secs(
            self.options.approval_timeout_seconds.unwrap_or_default(),
        ));
        (
            format!("no answer within {after}"),
            DecidedBy::Deadline { after },
        )
    }

    /// Nobody decided in time: the approval is rejected by the deadline,
    /// and with `on_timeout = "cancel"` the run is cancelled.
    pub(super) async fn approval_timed_out(&mut self, approval_id: String) {
        let (reason, by) = self.no_answer();
        let decision = Decision {
            approve: false,
            reason: Some(reason.clone()),
            by,
            seen_hash: None,
        };
        match self.shared.writer.decide(&approval_id, decision).await {
            Ok(_) => {
                if let Some(pending) = self.approvals.remove(&approval_id) {
                    let _ = pending.waiter.send(Verdict::Rejected {
                        reason: reason.clone(),
                    });
                }
                if self.options.on_timeout == Some(crate::model::OnTimeout::Cancel) {
                    self.stop_reason = Some(reason);
                    self.on_control(Control::Stop { failure: None }).await;
                }
            }
            // A human decided at the same moment: their decision stands
            // (and reaches the waiter as `Control::Verdict`).
            Err(err) if err.kind == ErrorKind::Conflict => {}
            Err(err) => {
                tracing::error!(run = %self.run_id, "cannot reject approval {approval_id} at its deadline: {}", err.message)
            }
        }
    }

    /// Nobody answered the oldest question in time: its default answer is
    /// given where it has one; without one the run cannot go on, and is
    /// cancelled.
    pub(super) async fn question_timed_out(&mut self) {
        let (reason, by) = self.no_answer();
        let default = self
            .questions
            .front()
            .and_then(|q| q.default_answer.clone());
        match default {
            Some(answer) => {
                let (ack, answered) = oneshot::channel();
                self.on_control(Control::Reply {
                    reply: InputReply::Text(answer),
                    by,
                    ack,
                })
                .await;
                if let Ok(Err(err)) = answered.await {
                    tracing::error!(run = %self.run_id, "cannot give a question its default answer: {}", err.message);
                    self.stop_reason = Some(reason);
                    self.on_control(Control::Stop { failure: None }).await;
                }
            }
            None => {
                self.stop_reason = Some(reason);
                self.on_control(Control::Stop { failure: None }).await;
            }
        }
    }

    pub(super) async fn on_control(&mut self, message: Control) {
        match message {
            Control::Verdict {
                approval_id,
                verdict,
                grant,
            } => {
                if let Some(grant) = grant {
                    let persist = matches!(verdict, Verdict::Approved { persist: true });
                    self.emit(
                        EventType::ApprovalAlways,
                        json!({ "approval_id": approval_id, "grant": grant, "persist": persist }),
                    )
                    .await;
                    self.grants.push(grant);
                }
                if let Some(Some(grant)) = self.asked_again.remove(&approval_id) {
                    if matches!(verdict, Verdict::Approved { .. }) {
                        self.once.push(grant);
                    }
                }
                if let Some(pending) = self.approvals.remove(&approval_id) {
                    if matches!(verdict, Verdict::Approved { .. }) {
                        self.approved_review(&approval_id);
                    }
                    let _ = pending.waiter.send(verdict);
                }
            }
            Control::Reply { reply, by, ack } => {
                if reply == InputReply::Done && !self.conversational {
                    let _ = ack.send(Err(self.not_conversational()));
                    return;
                }
                let Some(question) = self.questions.front() else {
                    let _ = ack.send(Err(self.not_waiting_for_input()));
                    return;
                };
                if let Err(why) = misfit(question, &reply) {
                    let _ = ack.send(Err(Error::usage(format!(
                        "that reply does not answer the question of run {}: {why}",
                        short_id(&self.run_id)
                    ))
                    .with_hint(format!(
                        "the question is still open; `m run show {}` shows what it expects",
                        short_id(&self.run_id)
                    ))));
                    return;
                }
                self.idle_deadline = None;
                let question = self.questions.pop_front().expect("the front question");
                let text = match &reply {
                    InputReply::Text(text) => Some(text.clone()),
                    _ => None,
                };
                let events = self.changing_state(
                    EventType::InputProvided,
                    json!({
                        "text": text,
                        "done": reply == InputReply::Done,
                        "question_seq": question.seq,
                        "by": by,
                    }),
                    self.waiting_state(),
                );
                match self.shared.writer.append_committed(events).await {
                    Ok(_) => {
                        let _ = question.waiter.send(reply);
                        let _ = ack.send(Ok(()));
                    }
                    Err(err) => {
                        self.questions.push_front(question);
                        let _ = ack.send(Err(err));
                    }
                }
            }
            Control::CheckReview { approval_id, ack } => {
                let checked = self.check_review(&approval_id).await;
                let _ = ack.send(checked);
            }
            Control::Stop { failure } => {
                self.failure = failure;
                self.stopped = true;
                // Whoever waits inside the run (an `m ask` in the agent's
                // script) hears that the run ended before its process group
                // is signalled.
                if self.release_waiters() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let _ = self.cancel.send(true);
            }
        }
    }

    /// Tells everyone waiting on a pending approval or question that the
    /// run ended; returns whether anyone was waiting.
    pub(super) fn release_waiters(&mut self) -> bool {
        let waited = !self.approvals.is_empty() || !self.questions.is_empty();
        for (_, pending) in self.approvals.drain() {
            let _ = pending.waiter.send(Verdict::RunEnded);
        }
        for question in self.questions.drain(..) {
            let _ = question.waiter.send(InputReply::RunEnded);
        }
        waited
    }

    /// `m run done` ends a conversation; any other run ends with its agent.
    pub(super) fn not_conversational(&self) -> Error {
        let id = short_id(&self.run_id);
        let why = if self.options.once {
            "it was started with --once, and ends at its agent's first end of turn"
        } else {
            "its agent is a command, and the run ends when the command exits"
        };
        Error::usage(format!("run {id} is not a conversational (ACP) run: {why}")).with_hint(
            format!(
            "to stop it, `m run cancel {id}`; to answer a question it asked, `m reply {id} TEXT`"
        ),
        )
    }

    pub(super) fn not_waiting_for_input(&self) -> Error {
        let id = short_id(&self.run_id);
        let hint = if self.conversational {
            format!(
                "it is in the middle of a turn; `m run show {id}` says what it is waiting for, \
                 and `m run done {id}` ends it once it waits for its next prompt"
            )
        } else {
            format!("`m run show {id}` says what it is waiting for")
        };
        Error::conflict(format!("run {id} is not waiting for input")).with_hint(hint)
    }
}

/// Why `reply` cannot answer `question`, whose agent would only ask
/// again: a text that does not fit the form it asked for.
fn misfit(question: &OpenQuestion, reply: &InputReply) -> std::result::Result<(), String> {
    match (reply, &question.schema) {
        (InputReply::Text(text), Some(schema)) => crate::question::fit(schema, text).map(|_| ()),
        _ => Ok(()),
    }
}

/// Auto-approval: by type, or a command by an allow rule (`crate::policy`
/// says which commands a rule covers).
pub(super) fn policy_allows(options: &RunOptions, request: &ApprovalRequest) -> Option<String> {
    if options.auto_approve.contains(&request.approval_type) {
        return Some(format!("--auto-approve {}", request.approval_type));
    }
    if request.approval_type != ApprovalType::Command {
        return None;
    }
    policy::allowing_rule(&options.allow_commands, &request.payload)
        .map(|rule| format!("--allow '{rule}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(cmd: &str) -> ApprovalRequest {
        ApprovalRequest {
            approval_type: ApprovalType::Command,
            payload: json!({ "command": cmd }),
        }
    }

    #[test]
    fn command_rules_apply_to_command_approvals_only() {
        let options = RunOptions {
            allow_commands: vec!["cargo test".into()],
            ..RunOptions::default()
        };
        assert_eq!(
            policy_allows(&options, &command("cargo test --all")).as_deref(),
            Some("--allow 'cargo test'")
        );
        assert!(policy_allows(&options, &command("cargo test && touch x")).is_none());
        let generic = ApprovalRequest {
            approval_type: ApprovalType::Generic,
            payload: json!({ "command": "cargo test" }),
        };
        assert!(policy_allows(&options, &generic).is_none());
    }

    #[test]
    fn types_can_be_approved_wholesale() {
        let options = RunOptions {
            auto_approve: vec![ApprovalType::Generic],
            ..RunOptions::default()
        };
        let generic = ApprovalRequest {
            approval_type: ApprovalType::Generic,
            payload: json!({}),
        };
        assert!(policy_allows(&options, &generic).is_some());
        assert!(policy_allows(&options, &command("ls")).is_none());
    }
}
