//! The ACP adapter against a scripted fake agent (src/bin/fake-acp-agent.rs):
//! the test serves the other end of the run's context, answering approvals,
//! questions and reviews from a script and keeping every event.
//!
//! `cargo test --features test-agents --test acp`

#![cfg(feature = "test-agents")]

use crate::common;

use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

use m::agent::acp::{self, AcpOptions};
use m::agent::{
    AgentOutcome, AgentRequest, ApprovalRequest, InputReply, InputRequest, Launch, ReviewOutcome,
    RunContext, Verdict,
};
use m::model::{ApprovalType, EventType};
use m::process;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};

const FAKE_AGENT: &str = env!("CARGO_BIN_EXE_fake-acp-agent");
const PROMPT: &str = "do the thing";

/// How the test answers the adapter.
#[derive(Default)]
struct Script {
    approvals: VecDeque<Verdict>,
    inputs: VecDeque<InputReply>,
    reviews: VecDeque<ReviewOutcome>,
    /// Cancel the run when an approval is requested, leaving it pending.
    cancel_on_approval: bool,
}

/// What the adapter asked for and said.
#[derive(Default, Debug)]
struct Record {
    events: Vec<(EventType, Value)>,
    approvals: Vec<ApprovalRequest>,
    inputs: Vec<InputRequest>,
    reviews: usize,
    pgid: Option<i32>,
}

impl Record {
    fn of(&self, event_type: EventType) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|(t, _)| *t == event_type)
            .map(|(_, d)| d)
            .collect()
    }

    fn texts(&self, event_type: EventType) -> Vec<String> {
        self.of(event_type)
            .iter()
            .filter_map(|d| d["text"].as_str().map(str::to_string))
            .collect()
    }

    fn assert_no_errors(&self) {
        let errors = self.of(EventType::Error);
        assert!(errors.is_empty(), "{errors:#?}");
    }

    fn position(&self, event_type: EventType) -> usize {
        self.events
            .iter()
            .position(|(t, _)| *t == event_type)
            .unwrap_or_else(|| panic!("no {event_type} event in {:#?}", self.events))
    }
}

fn options(once: bool) -> AcpOptions {
    AcpOptions {
        once,
        review: false,
        startup_timeout: Duration::from_secs(20),
        // Generous: a loaded machine must not turn an orderly end of turn
        // into a kill.
        grace: Duration::from_secs(10),
        preset: None,
        auth_method: None,
        resume: None,
    }
}

async fn play(
    scenario: &str,
    workspace: &Path,
    opts: AcpOptions,
    script: Script,
) -> (AgentOutcome, Record) {
    play_with(
        vec![FAKE_AGENT.to_string(), scenario.to_string()],
        workspace,
        Vec::new(),
        opts,
        script,
    )
    .await
}

async fn play_with(
    argv: Vec<String>,
    workspace: &Path,
    env: Vec<(String, String)>,
    opts: AcpOptions,
    mut script: Script,
) -> (AgentOutcome, Record) {
    let launch = Launch {
        run_id: "run-1".into(),
        prompt: PROMPT.into(),
        prompt_file: workspace.join("..").join("prompt"),
        workspace: workspace.to_path_buf(),
        env,
        review: false,
        m_binary: env!("CARGO_BIN_EXE_m").into(),
        cgroup: None,
    };
    let (tx, mut rx) = mpsc::channel(16);
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let ctx = RunContext::new(launch, tx, cancel_rx);
    let mut agent = tokio::spawn(async move { acp::run(&argv, ctx, opts).await });

    let mut record = Record::default();
    let mut held: Vec<oneshot::Sender<Verdict>> = Vec::new();
    let serve = async {
        loop {
            tokio::select! {
                request = rx.recv() => match request {
                    Some(request) => answer(request, &mut script, &mut record, &mut held, &cancel_tx),
                    None => break (&mut agent).await.expect("the adapter panicked"),
                },
                outcome = &mut agent => {
                    let outcome = outcome.expect("the adapter panicked");
                    while let Ok(request) = rx.try_recv() {
                        answer(request, &mut script, &mut record, &mut held, &cancel_tx);
                    }
                    break outcome;
                }
            }
        }
    };
    let outcome = tokio::time::timeout(Duration::from_secs(60), serve)
        .await
        .expect("the run did not end in time");
    if let Some(pgid) = record.pgid {
        assert!(
            !process::group_alive(pgid),
            "the agent's process group outlived the run"
        );
    }
    (outcome, record)
}

/// Plays `scenario` as a `--once` run, every approval and review
/// approved, every question answered `Done`: the run must complete.
async fn play_completed(scenario: &str, workspace: &Path) -> Record {
    let (outcome, record) = play(scenario, workspace, options(true), Script::default()).await;
    assert_eq!(outcome, AgentOutcome::Completed);
    record
}

fn answer(
    request: AgentRequest,
    script: &mut Script,
    record: &mut Record,
    held: &mut Vec<oneshot::Sender<Verdict>>,
    cancel: &watch::Sender<bool>,
) {
    match request {
        AgentRequest::Spawned { pgid } => record.pgid = Some(pgid),
        AgentRequest::Emit {
            event_type, data, ..
        } => record.events.push((event_type, data)),
        AgentRequest::Approval { request, reply } => {
            record.approvals.push(request);
            if script.cancel_on_approval {
                let _ = cancel.send(true);
                held.push(reply);
            } else {
                let decision = script
                    .approvals
                    .pop_front()
                    .unwrap_or(Verdict::Approved { persist: false });
                let _ = reply.send(decision);
            }
        }
        AgentRequest::Input { request, reply } => {
            record.inputs.push(request);
            let _ = reply.send(script.inputs.pop_front().unwrap_or(InputReply::Done));
        }
        AgentRequest::Review { reply } => {
            record.reviews += 1;
            let _ = reply.send(
                script
                    .reviews
                    .pop_front()
                    .unwrap_or(ReviewOutcome::Verdict(Verdict::Approved { persist: false })),
            );
        }
    }
}

fn workspace() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary workspace")
}

#[tokio::test]
async fn updates_become_events() {
    let ws = workspace();
    let record = play_completed("basic", ws.path()).await;

    let session = record.of(EventType::AgentSession);
    assert_eq!(session[0]["sessionId"], "sess-1");
    assert_eq!(session[0]["agent"]["name"], "fake-acp-agent");
    // Which model ran, and the session's settings.
    assert_eq!(session[0]["model"], "fake-model-1");
    assert_eq!(
        session[0]["configOptions"][0]["currentValue"],
        "fake-model-1"
    );
    let prompt = record.of(EventType::AgentPrompt);
    assert_eq!(prompt[0]["text"], PROMPT);
    assert_eq!(prompt[0]["source"], "initial");

    // Chunks are coalesced; a message is cut where something else happens.
    assert_eq!(record.texts(EventType::AgentThought), ["Let me think."]);
    assert_eq!(
        record.texts(EventType::AgentMessage),
        ["Hello, world!", "Done."]
    );
    let plan = record.of(EventType::AgentPlan);
    assert_eq!(plan[0]["entries"].as_array().unwrap().len(), 2);
    assert_eq!(plan[0]["entries"][0]["content"], "Read the code");

    let call = record.of(EventType::ToolCall);
    assert_eq!(call[0]["toolCallId"], "call-1");
    assert_eq!(call[0]["status"], "pending");
    assert!(call[0].get("sessionUpdate").is_none());
    // An update carries the call's whole state, merged.
    let update = record.of(EventType::ToolUpdate);
    assert_eq!(update[0]["toolCallId"], "call-1");
    assert_eq!(update[0]["title"], "Write notes.txt");
    assert_eq!(update[0]["kind"], "edit");
    assert_eq!(update[0]["status"], "completed");
    assert_eq!(
        update[0]["content"][0]["content"]["text"],
        "wrote notes.txt"
    );

    assert_eq!(
        record.of(EventType::AgentUsage)[0],
        &json!({"used": 1200, "size": 200000})
    );
    assert_eq!(
        record.of(EventType::AgentUsage)[1]["cost"],
        json!({"amount": 0.045, "currency": "USD"})
    );
    let turn = record.of(EventType::AgentTurn)[0];
    assert_eq!(turn["turn"], 1);
    assert_eq!(turn["stopReason"], "end_turn");
    assert_eq!(turn["usage"]["inputTokens"], 1000);
    assert_eq!(turn["usage"]["outputTokens"], 100);

    let order = [
        EventType::AgentSession,
        EventType::AgentPrompt,
        EventType::AgentThought,
        EventType::AgentPlan,
        EventType::AgentMessage,
        EventType::ToolCall,
    ];
    let positions: Vec<usize> = order.iter().map(|t| record.position(*t)).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "{:#?}",
        record.events
    );

    // The agent's stderr is kept too.
    let stderr: Vec<&Value> = record.of(EventType::Output);
    assert!(stderr
        .iter()
        .any(|d| d["stream"] == "stderr" && d["lines"][0] == "fake-acp-agent: playing basic"));
    assert_eq!(
        std::fs::read_to_string(ws.path().join("notes.txt")).unwrap(),
        "notes\n"
    );
    record.assert_no_errors();
}

#[tokio::test]
async fn an_approved_edit_is_a_diff_approval() {
    let ws = workspace();
    std::fs::write(ws.path().join("greeting.txt"), "hello\nworld\n").unwrap();
    let record = play_completed("diff", ws.path()).await;

    assert_eq!(record.approvals.len(), 1);
    let approval = &record.approvals[0];
    assert_eq!(approval.approval_type, ApprovalType::Diff);
    assert_eq!(approval.payload["toolCallId"], "edit-1");
    assert_eq!(approval.payload["path"], "greeting.txt");
    assert_eq!(
        approval.payload["diff"],
        "--- a/greeting.txt\n+++ b/greeting.txt\n@@ -1,2 +1,2 @@\n hello\n-world\n+there\n"
    );
    let permission = record.of(EventType::ToolPermission);
    assert_eq!(permission[0]["optionId"], "opt-yes-7");
    assert_eq!(permission[0]["optionKind"], "allow_once");
    assert_eq!(permission[0]["decision"], "approved");
    assert!(record
        .texts(EventType::AgentMessage)
        .contains(&"edit applied (allow_once)".to_string()));
    assert_eq!(
        std::fs::read_to_string(ws.path().join("greeting.txt")).unwrap(),
        "hello\nthere\n"
    );
}

#[tokio::test]
async fn a_rejection_reason_is_the_next_prompt() {
    let ws = workspace();
    std::fs::write(ws.path().join("greeting.txt"), "hello\nworld\n").unwrap();
    let reason = "keep 'world', add a line instead";
    let script = Script {
        approvals: [Verdict::Rejected {
            reason: reason.into(),
        }]
        .into(),
        ..Script::default()
    };
    let (outcome, record) = play("diff", ws.path(), options(true), script).await;
    assert_eq!(outcome, AgentOutcome::Completed);

    let permission = record.of(EventType::ToolPermission);
    assert_eq!(permission[0]["optionKind"], "reject_once");
    let prompts = record.of(EventType::AgentPrompt);
    assert_eq!(prompts.len(), 2);
    assert_eq!(prompts[1]["source"], "rejection");
    let told = format!("The user refused the edit of greeting.txt: {reason}");
    assert_eq!(prompts[1]["text"], told);
    let messages = record.texts(EventType::AgentMessage);
    assert!(
        messages.contains(&format!("you said: {told}")),
        "{messages:?}"
    );
    assert_eq!(record.of(EventType::AgentTurn).len(), 2);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("greeting.txt")).unwrap(),
        "hello\nworld\n"
    );
}

/// Regression: the reason reached the agent only after its turn ended,
/// bare; meanwhile it tried a way around (`echo > ran.txt` after `touch
/// ran.txt` was refused), and two reasons arrived glued together.
#[tokio::test]
async fn a_rejection_ends_the_turn_at_once_and_says_what_was_refused() {
    let ws = workspace();
    let script = Script {
        approvals: [Verdict::Rejected {
            reason: "no files please".into(),
        }]
        .into(),
        ..Script::default()
    };
    let (outcome, record) = play("workaround", ws.path(), options(true), script).await;
    assert_eq!(outcome, AgentOutcome::Completed);
    // The way around never reached a human: the turn was over.
    assert_eq!(record.approvals.len(), 1, "{:#?}", record.approvals);
    let turns = record.of(EventType::AgentTurn);
    assert_eq!(turns[0]["stopReason"], "cancelled");
    let permission = record.of(EventType::ToolPermission);
    assert_eq!(permission[1]["toolCallId"], "try-2");
    assert_eq!(permission[1]["decision"], "turn_ended");
    let prompts = record.of(EventType::AgentPrompt);
    assert_eq!(prompts.len(), 2, "{prompts:#?}");
    assert_eq!(prompts[1]["source"], "rejection");
    assert_eq!(
        prompts[1]["text"],
        "The user refused `touch ran.txt`: no files please"
    );
    assert_eq!(
        record.texts(EventType::AgentMessage),
        [
            "try-1: refused",
            "try-2: cancelled",
            "you said: The user refused `touch ran.txt`: no files please"
        ]
    );
    assert!(!ws.path().join("ran.txt").exists());
}

#[tokio::test]
async fn a_command_is_a_command_approval() {
    let ws = workspace();
    let record = play_completed("command", ws.path()).await;
    let approval = &record.approvals[0];
    assert_eq!(approval.approval_type, ApprovalType::Command);
    assert_eq!(approval.payload["command"], "cargo test --quiet");
    assert_eq!(approval.payload["title"], "Run the tests");
    assert_eq!(approval.payload["cwd"], ws.path().display().to_string());
    assert!(record
        .texts(EventType::AgentMessage)
        .contains(&"command: allow_once".to_string()));
}

/// Only `--persist` lets the agent keep a grant itself.
#[tokio::test]
async fn only_a_persisted_approval_selects_allow_always() {
    let ws = workspace();
    let script = Script {
        approvals: [Verdict::Approved { persist: true }].into(),
        ..Script::default()
    };
    let (outcome, record) = play("always", ws.path(), options(true), script).await;
    assert_eq!(outcome, AgentOutcome::Completed);
    assert_eq!(record.approvals.len(), 1);
    assert_eq!(record.approvals[0].payload["command"], "ls -la");
    let permission = record.of(EventType::ToolPermission);
    assert_eq!(permission[0]["optionKind"], "allow_always");
    assert_eq!(permission[0]["persist"], true);
    let messages = record.texts(EventType::AgentMessage);
    assert!(
        messages.contains(&"selected: allow_always".to_string()),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"ls-2 ran without asking".to_string()),
        "{messages:?}"
    );

    let script = Script {
        approvals: [
            Verdict::Approved { persist: false },
            Verdict::Approved { persist: false },
        ]
        .into(),
        ..Script::default()
    };
    let (_, record) = play("always", ws.path(), options(true), script).await;
    assert_eq!(record.approvals.len(), 2);
    assert_eq!(
        record.texts(EventType::AgentMessage),
        ["selected: allow_once", "selected: allow_once"]
    );
}

#[tokio::test]
async fn a_question_is_answered_in_the_requested_shape() {
    let ws = workspace();
    let script = Script {
        inputs: [
            InputReply::Text("mysql".into()),
            InputReply::Text("SQLite".into()),
        ]
        .into(),
        ..Script::default()
    };
    let (outcome, record) = play("elicit", ws.path(), options(true), script).await;
    assert_eq!(outcome, AgentOutcome::Completed);

    // A reply that does not fit is explained, and the question asked again.
    assert_eq!(record.inputs.len(), 2);
    assert_eq!(record.inputs[0].question, "Which database should I use?");
    let schema = record.inputs[0]
        .schema
        .as_ref()
        .expect("the requested schema");
    assert_eq!(schema["required"], json!(["database"]));
    let errors = record.of(EventType::Error);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0]["message"]
        .as_str()
        .unwrap()
        .contains("'mysql' is not one of"));
    assert!(record
        .texts(EventType::AgentMessage)
        .contains(&r#"answer: "accept" {"database":"sqlite"}"#.to_string()));
}

#[tokio::test]
async fn a_conversation_goes_on_until_the_human_is_done() {
    let ws = workspace();
    let script = Script {
        inputs: [InputReply::Text("add tests".into()), InputReply::Done].into(),
        ..Script::default()
    };
    let (outcome, record) = play("converse", ws.path(), options(false), script).await;
    assert_eq!(outcome, AgentOutcome::Completed);
    let questions: Vec<&str> = record.inputs.iter().map(|i| i.question.as_str()).collect();
    let waits = "The agent ended its turn and waits for the next prompt";
    assert_eq!(questions, [waits, waits]);
    assert_eq!(
        record.texts(EventType::AgentMessage),
        ["What next?", "you said: add tests"]
    );
    let sources: Vec<&Value> = record
        .of(EventType::AgentPrompt)
        .iter()
        .map(|p| &p["source"])
        .collect();
    assert_eq!(sources, [&json!("initial"), &json!("reply")]);
}

#[tokio::test]
async fn a_rejected_review_reason_is_the_next_prompt() {
    let ws = workspace();
    let script = Script {
        reviews: [
            ReviewOutcome::Verdict(Verdict::Rejected {
                reason: "also update the docs".into(),
            }),
            ReviewOutcome::Verdict(Verdict::Approved { persist: false }),
        ]
        .into(),
        ..Script::default()
    };
    let mut opts = options(true);
    opts.review = true;
    let (outcome, record) = play("converse", ws.path(), opts, script).await;
    assert_eq!(outcome, AgentOutcome::Completed);
    assert_eq!(record.reviews, 2);
    assert_eq!(
        record.texts(EventType::AgentMessage),
        ["What next?", "you said: also update the docs"]
    );
    assert_eq!(record.of(EventType::AgentPrompt)[1]["source"], "review");
}

/// Regression: a review m could not prepare was sent to the agent as a
/// rejection's reason; the agent answered and ended its turn, the review
/// failed again, and a `--once` run looped, thousands of events a second.
#[tokio::test]
async fn a_review_that_cannot_be_prepared_fails_the_run_and_is_never_a_prompt() {
    let ws = workspace();
    let reason = "cannot prepare the review: git is gone";
    let script = Script {
        reviews: [ReviewOutcome::CannotPrepare {
            reason: reason.into(),
        }]
        .into(),
        ..Script::default()
    };
    let mut opts = options(true);
    opts.review = true;
    let (outcome, record) = play("converse", ws.path(), opts, script).await;
    let AgentOutcome::Failed { reason: got, .. } = &outcome else {
        panic!("expected a failure, got {outcome:?}")
    };
    assert_eq!(got, reason);
    assert_eq!(record.reviews, 1);
    assert_eq!(
        record.of(EventType::AgentPrompt).len(),
        1,
        "{:#?}",
        record.events
    );
}

#[tokio::test]
async fn nothing_to_review_completes_the_run() {
    let ws = workspace();
    let script = Script {
        reviews: [ReviewOutcome::NothingToReview].into(),
        ..Script::default()
    };
    let mut opts = options(true);
    opts.review = true;
    let (outcome, record) = play("converse", ws.path(), opts, script).await;
    assert_eq!(outcome, AgentOutcome::Completed);
    assert_eq!(
        record.of(EventType::AgentPrompt).len(),
        1,
        "{:#?}",
        record.events
    );
}

#[tokio::test]
async fn an_agent_dying_mid_turn_fails_the_run_with_its_stderr() {
    let ws = workspace();
    let (outcome, record) = play("crash", ws.path(), options(true), Script::default()).await;
    let AgentOutcome::Failed {
        reason,
        exit_code,
        stderr_tail,
    } = outcome
    else {
        panic!("expected a failure, got {outcome:?}")
    };
    assert!(
        reason.contains("exited with status 3 during a turn"),
        "{reason}"
    );
    assert_eq!(exit_code, Some(3));
    assert!(
        stderr_tail.contains(&"fatal: the fake agent crashed".to_string()),
        "{stderr_tail:?}"
    );
    assert_eq!(record.texts(EventType::AgentMessage), ["working on it..."]);
}

#[tokio::test]
async fn a_malformed_line_is_reported_and_skipped() {
    let ws = workspace();
    let record = play_completed("malformed", ws.path()).await;
    let errors = record.of(EventType::Error);
    assert_eq!(errors.len(), 1);
    assert!(errors[0]["message"]
        .as_str()
        .unwrap()
        .contains("not a JSON-RPC message"));
    assert_eq!(errors[0]["line"], "this is { not json");
    assert_eq!(record.texts(EventType::AgentMessage), ["still here"]);
}

#[tokio::test]
async fn unknown_updates_are_kept_raw() {
    let ws = workspace();
    let record = play_completed("unknown", ws.path()).await;
    let updates = record.of(EventType::AgentUpdate);
    assert_eq!(
        updates[0],
        &json!({"sessionUpdate": "mystery_update", "update": {"detail": {"x": 1}}})
    );
    assert_eq!(updates[1]["sessionUpdate"], "available_commands_update");
    assert_eq!(updates[1]["update"]["availableCommands"][0]["name"], "test");
}

#[tokio::test]
async fn a_slow_start_fails_the_run() {
    let ws = workspace();
    let mut opts = options(true);
    opts.startup_timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let argv = vec![FAKE_AGENT.to_string(), "slow".to_string()];
    let env = vec![("FAKE_ACP_DELAY_MS".to_string(), "5000".to_string())];
    let (outcome, _) = play_with(argv, ws.path(), env, opts, Script::default()).await;
    let AgentOutcome::Failed { reason, .. } = outcome else {
        panic!("expected a failure, got {outcome:?}")
    };
    assert!(
        reason.contains("did not answer initialize within 0.3s"),
        "{reason}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn cancel_while_a_permission_is_pending() {
    let ws = workspace();
    let script = Script {
        cancel_on_approval: true,
        ..Script::default()
    };
    let (outcome, record) = play("cancel", ws.path(), options(false), script).await;
    assert_eq!(outcome, AgentOutcome::Cancelled);
    let permission = record.of(EventType::ToolPermission);
    assert_eq!(permission[0]["outcome"], "cancelled");
    // The agent saw session/cancel and the cancelled outcome, and ended
    // its turn as cancelled.
    assert_eq!(
        record.of(EventType::AgentTurn)[0]["stopReason"],
        "cancelled"
    );
    let stderr: Vec<String> = record
        .of(EventType::Output)
        .iter()
        .flat_map(|d| d["lines"].as_array().unwrap().iter())
        .filter_map(|l| l.as_str().map(str::to_string))
        .collect();
    assert!(
        stderr.contains(&"fake-acp-agent: permission answered None, cancelled: true".to_string()),
        "{stderr:?}"
    );
    // (play checks that the process group, with the agent's forked
    // child, is gone.)
}

#[tokio::test]
async fn file_system_requests_are_refused() {
    let ws = workspace();
    let record = play_completed("fs", ws.path()).await;
    assert_eq!(record.texts(EventType::AgentMessage), ["fs answer: -32601"]);
    assert_eq!(
        record.of(EventType::AgentRefused)[0]["method"],
        "fs/read_text_file"
    );
    record.assert_no_errors();
}

#[tokio::test]
async fn an_unoffered_write_after_an_approved_edit_is_one_refusal_not_an_error() {
    let ws = workspace();
    let record = play_completed("opencode-edit", ws.path()).await;
    assert_eq!(record.texts(EventType::AgentMessage), ["edit: allow_once"]);
    let refused = record.of(EventType::AgentRefused);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["method"], "fs/write_text_file");
    let message = refused[0]["message"].as_str().unwrap();
    assert!(
        message.contains("fs/write_text_file") && message.contains("refused"),
        "{message}"
    );
    record.assert_no_errors();
}

#[tokio::test]
async fn an_agent_authenticates_only_with_the_configured_method() {
    let ws = workspace();
    let argv = vec![FAKE_AGENT.to_string(), "auth".to_string()];
    let env = vec![("FAKE_API_KEY".to_string(), "secret".to_string())];
    let mut opts = options(true);
    opts.auth_method = Some("api-key".into());
    let (outcome, record) = play_with(argv, ws.path(), env, opts, Script::default()).await;
    assert_eq!(outcome, AgentOutcome::Completed);
    assert_eq!(
        record.of(EventType::AgentAuth),
        [&json!({"methodId": "api-key", "name": "API key", "ok": true})]
    );
}

/// Regression: with an API key in the environment m authenticated before
/// every session, and codex-acp replaced the user's ChatGPT login with it.
#[tokio::test]
async fn an_agent_already_logged_in_is_never_asked_to_authenticate() {
    let ws = workspace();
    let argv = vec![FAKE_AGENT.to_string(), "loggedin".to_string()];
    let env = vec![("FAKE_API_KEY".to_string(), "secret".to_string())];
    let (outcome, record) = play_with(argv, ws.path(), env, options(true), Script::default()).await;
    assert_eq!(outcome, AgentOutcome::Completed);
    assert!(
        record.of(EventType::AgentAuth).is_empty(),
        "{:?}",
        record.events
    );
    assert_eq!(
        record.texts(EventType::AgentMessage),
        ["kept my saved login"]
    );
}

#[tokio::test]
async fn an_agent_needing_auth_fails_with_its_message_and_m_never_picks_a_method() {
    let ws = workspace();
    // Neither a method whose words say "API key" (vertex-ai, which the
    // agent would save as the user's choice) nor one whose variable is set.
    for key in [None, Some("secret")] {
        let argv = vec![FAKE_AGENT.to_string(), "auth".to_string()];
        let env: Vec<(String, String)> = key
            .map(|k| ("FAKE_API_KEY".to_string(), k.to_string()))
            .into_iter()
            .collect();
        let mut opts = options(true);
        opts.preset = Some("gemini".into());
        let (outcome, record) = play_with(argv, ws.path(), env, opts, Script::default()).await;
        let AgentOutcome::Failed { reason, .. } = outcome else {
            panic!("expected a failure, got {outcome:?}")
        };
        assert!(
            record.of(EventType::AgentAuth).is_empty(),
            "{:?}",
            record.of(EventType::AgentAuth)
        );
        for wanted in [
            "API key is missing or not configured.",
            "FAKE_API_KEY in the environment of m's daemon for api-key",
            "\"Log in with a browser\" for browser-login",
            // What Gemini's own vertex-ai method reads.
            "GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION, or GOOGLE_API_KEY",
            "[agents.gemini] auth = \"METHOD\"",
        ] {
            assert!(reason.contains(wanted), "{wanted:?} not in {reason}");
        }
    }
}

#[tokio::test]
async fn a_configured_method_the_agent_does_not_offer_is_refused() {
    let ws = workspace();
    let mut opts = options(true);
    opts.auth_method = Some("oauth-personal".into());
    let (outcome, record) = play("auth", ws.path(), opts, Script::default()).await;
    let AgentOutcome::Failed { reason, .. } = outcome else {
        panic!("expected a failure, got {outcome:?}")
    };
    assert!(
        reason.contains("oauth-personal") && reason.contains("browser-login, api-key, vertex-ai"),
        "{reason}"
    );
    assert!(record.of(EventType::AgentAuth).is_empty());
}

#[tokio::test]
async fn a_mode_in_which_the_agent_does_not_ask_is_said_in_the_log() {
    let ws = workspace();
    let mut opts = options(true);
    opts.preset = Some("gemini".into());
    let (outcome, record) = play("modes", ws.path(), opts, Script::default()).await;
    assert_eq!(outcome, AgentOutcome::Completed);
    let modes: Vec<(&str, bool)> = record
        .of(EventType::AgentMode)
        .iter()
        .map(|m| (m["modeId"].as_str().unwrap(), m["asks"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        modes,
        [("autoEdit", false), ("yolo", false), ("default", true)]
    );
    let first = record.of(EventType::AgentMode)[0]["message"]
        .as_str()
        .unwrap();
    assert!(
        first.contains("autoEdit") && first.contains("edits files without asking"),
        "{first}"
    );
    assert!(record.of(EventType::AgentMode)[2].get("message").is_none());
}

#[tokio::test]
async fn a_command_approval_says_where_gemini_runs_it() {
    let ws = workspace();
    let record = play_completed("gemini-command", ws.path()).await;
    let payload = &record.approvals[0].payload;
    assert_eq!(payload["command"], "touch ran.txt");
    assert_eq!(payload["cwd"], ws.path().join("sub").display().to_string());
    assert_eq!(payload["description"], "[in sub] (Create ran.txt)");
}

#[tokio::test]
async fn a_command_approval_keeps_the_directory_an_earlier_update_gave() {
    let ws = workspace();
    let record = play_completed("opencode-command", ws.path()).await;
    let sub = ws.path().join("sub").display().to_string();
    let payload = &record.approvals[0].payload;
    assert_eq!(payload["command"], "touch ran.txt");
    assert_eq!(payload["cwd"], sub);
    let updates = record.of(EventType::ToolUpdate);
    assert_eq!(updates.last().unwrap()["rawInput"]["workdir"], sub);
}

#[tokio::test]
async fn a_refusal_ends_a_one_shot_run() {
    let ws = workspace();
    let (outcome, _) = play("refusal", ws.path(), options(true), Script::default()).await;
    let AgentOutcome::Failed { reason, .. } = outcome else {
        panic!("expected a failure, got {outcome:?}")
    };
    assert!(reason.contains("refusal"), "{reason}");

    let (outcome, record) = play("refusal", ws.path(), options(false), Script::default()).await;
    assert_eq!(outcome, AgentOutcome::Completed);
    assert!(
        record.inputs[0].question.contains("refusal"),
        "{:?}",
        record.inputs
    );
}

#[tokio::test]
async fn a_missing_agent_says_how_to_install_it() {
    let ws = workspace();
    let mut opts = options(true);
    opts.preset = Some("claude".into());
    let argv = vec!["m-test-no-such-agent".to_string()];
    let (outcome, record) = play_with(argv, ws.path(), Vec::new(), opts, Script::default()).await;
    let AgentOutcome::Failed { reason, .. } = outcome else {
        panic!("expected a failure, got {outcome:?}")
    };
    assert!(
        reason.contains("the claude agent is not installed"),
        "{reason}"
    );
    assert!(
        reason.contains("npm install -g @zed-industries/claude-agent-acp"),
        "{reason}"
    );
    assert!(record.pgid.is_none());
}

/// Through the real binary: what a user of `m run start --acp` sees.
mod through_the_binary {
    use super::common::{self, TestEnv};
    use serde_json::{json, Value};

    const FAKE: &str = env!("CARGO_BIN_EXE_fake-acp-agent");

    fn start(env: &TestEnv, scenario: &str, extra: &[&str]) -> String {
        let mut args = vec!["run", "start", "-r", "api", "do the thing", "--acp"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", FAKE, scenario]);
        env.ok(&args).trim().to_string()
    }

    fn messages(env: &TestEnv, run: &str) -> String {
        env.events_of(run, "agent.message")
            .iter()
            .map(|e| e["data"]["text"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
            .join("|")
    }

    /// Waits until one of the agent's messages contains `text`.
    fn wait_for_message(env: &TestEnv, run: &str, text: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !messages(env, run).contains(text) {
            assert!(
                std::time::Instant::now() < deadline,
                "the agent never said {text:?}: {}",
                messages(env, run)
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    #[test]
    fn a_diff_approval_rejected_with_a_reason_reaches_the_agent_as_its_next_prompt() {
        let env = TestEnv::new();
        let repo = env.repo("api");
        std::fs::write(repo.join("greeting.txt"), "hello\nworld\n").unwrap();
        env.git(&repo, &["add", "."]);
        env.git(&repo, &["commit", "-q", "-m", "greeting"]);
        let run = start(&env, "diff", &[]);
        env.fails(&["run", "wait", &run], 12);
        let listed = env.ok(&["approvals"]);
        assert!(listed.contains("diff"), "{listed}");
        let shown = env.ok(&["approval", "show", &run]);
        assert!(
            shown.contains("-world") && shown.contains("+there"),
            "{shown}"
        );
        env.ok(&["reject", &run, "--reason", "keep the world"]);
        // The turn ends; the reason is the next prompt; then the agent waits.
        env.fails(&["run", "wait", &run], 13);
        wait_for_message(&env, &run, "keep the world");
        env.fails(&["run", "wait", &run], 13);
        env.ok(&["run", "done", &run]);
        env.fails(&["run", "wait", &run], 0);
        let approval = env.approvals_of(&run);
        assert_eq!(approval[0]["state"], "rejected");
        assert_eq!(approval[0]["rejection_reason"], "keep the world");
    }

    #[test]
    fn a_rejection_reaches_the_agent_at_once_as_its_next_prompt() {
        let env = TestEnv::new();
        env.repo("api");
        let run = start(&env, "workaround", &[]);
        env.fails(&["run", "wait", &run], 12);
        env.ok(&["reject", &run, "--reason", "no files please"]);
        env.fails(&["run", "wait", &run], 13);
        wait_for_message(&env, &run, "you said");
        env.fails(&["run", "wait", &run], 13);
        let prompts = env.events_of(&run, "agent.prompt");
        assert_eq!(prompts.len(), 2, "{prompts:#?}");
        assert_eq!(
            prompts[1]["data"]["text"],
            "The user refused `touch ran.txt`: no files please"
        );
        let asked = env.events_of(&run, "approval.requested");
        assert_eq!(asked.len(), 1, "{asked:#?}");
        env.ok(&["run", "done", &run]);
        env.fails(&["run", "wait", &run], 0);
    }

    #[test]
    fn a_reply_that_does_not_fit_the_question_is_refused_and_the_question_stays_open() {
        let env = TestEnv::new();
        env.repo("api");
        let run = start(&env, "elicit", &["--once"]);
        env.fails(&["run", "wait", &run], 13);
        let choices = "Database: one of postgres (PostgreSQL), sqlite (SQLite)";
        let shown = env.ok(&["run", "show", &run]);
        assert!(shown.contains(&format!("expects {choices}")), "{shown}");
        let listed = env.ok(&["events", &run]);
        assert!(listed.contains(&format!("expects {choices}")), "{listed}");

        // Regression: the reply was accepted (exit 0), used up, and only
        // an `error` event said why the question came again.
        let err = env.fails(&["reply", &run, "mysql"], 2);
        assert!(
            err.contains("'mysql' is not one of: postgres (PostgreSQL), sqlite (SQLite)"),
            "{err}"
        );
        assert!(err.contains("still open"), "{err}");
        assert_eq!(env.run_state(&run), "waiting_input");
        let types = env.event_types(&run);
        let count = |name: &str| types.iter().filter(|t| *t == name).count();
        assert_eq!(count("input.requested"), 1, "{types:?}");
        assert_eq!(count("input.provided"), 0, "{types:?}");
        assert_eq!(count("error"), 0, "{types:?}");

        env.ok(&["reply", &run, "SQLite"]);
        env.fails(&["run", "wait", &run], 0);
        let said = messages(&env, &run);
        assert!(
            said.contains(r#"answer: "accept" {"database":"sqlite"}"#),
            "{said}"
        );
    }

    /// Regression: `m approve --always` selected the agent's
    /// `allow_always`, and Codex wrote a rule into its own
    /// `rules/default.rules` for good, while m said "for the rest of the
    /// run". Now m keeps the grant, answers `allow_once` each time, and
    /// approves the same command again itself.
    #[test]
    fn approve_always_is_ms_own_grant_for_the_run() {
        let env = TestEnv::new();
        env.repo("api");
        let run = start(&env, "always", &["--once"]);
        env.fails(&["run", "wait", &run], 12);
        let said = env.ok(&["approve", &run, "--always"]);
        assert!(
            said.contains("and again for the rest of the run: the command `ls -la`"),
            "{said}"
        );
        env.fails(&["run", "wait", &run], 0);
        let said = messages(&env, &run);
        assert_eq!(said, "selected: allow_once|selected: allow_once", "{said}");
        let events = env.events(&run);
        let kinds: Vec<&Value> = events
            .iter()
            .filter(|e| e["type"] == "tool.permission")
            .map(|e| &e["data"]["optionKind"])
            .collect();
        assert_eq!(kinds, [&json!("allow_once"), &json!("allow_once")]);
        let approvals = env.approvals_of(&run);
        assert_eq!(approvals.len(), 2);
        assert!(approvals.iter().all(|a| a["state"] == "approved"));

        // `--persist` says that the agent keeps it, and the event shows it.
        let run = start(&env, "always", &["--once"]);
        env.fails(&["run", "wait", &run], 12);
        let said = env.ok(&["approve", &run, "--persist"]);
        assert!(said.contains("the agent keeps the grant itself"), "{said}");
        env.fails(&["run", "wait", &run], 0);
        assert!(messages(&env, &run).contains("selected: allow_always"));
        let events = env.events(&run);
        let permission = events
            .iter()
            .find(|e| e["type"] == "tool.permission")
            .unwrap();
        assert_eq!(permission["data"]["persist"], true);
        let granted = events
            .iter()
            .find(|e| e["type"] == "approval.always")
            .unwrap();
        assert_eq!(granted["data"]["persist"], true);
    }

    /// Regression: Codex wraps every command in `/bin/bash -lc LINE`; the
    /// approval showed the wrapper, and `--allow touch` never matched.
    #[test]
    fn a_shell_wrapped_command_is_shown_and_allowed_as_the_line_the_shell_runs() {
        let env = TestEnv::new();
        env.repo("api");
        let run = start(&env, "shell", &["--once", "--allow", "touch"]);
        env.fails(&["run", "wait", &run], 12);
        // The first was approved by the rule; the second holds shell syntax
        // once unwrapped, so a human is asked.
        let approvals = env.approvals_of(&run);
        assert_eq!(approvals.len(), 2, "{approvals:#?}");
        let first = approvals
            .iter()
            .find(|a| a["payload"]["toolCallId"] == "shell-1")
            .unwrap();
        assert_eq!(first["state"], "approved");
        assert_eq!(first["payload"]["command"], "touch ran.txt");
        assert_eq!(
            first["payload"]["rawCommand"],
            serde_json::json!(["/bin/bash", "-lc", "touch ran.txt"])
        );
        let shown = env.ok(&["approval", "show", &run]);
        assert!(shown.contains("\n$ touch ran.txt; rm -rf x\n"), "{shown}");
        env.ok(&["reject", &run, "--reason", "no rm"]);
        env.fails(&["run", "wait", &run], 0);
        let said = messages(&env, &run);
        assert!(said.contains("shell-1: allow_once"), "{said}");
        assert!(said.contains("shell-2: reject_once"), "{said}");
    }

    #[test]
    fn an_approved_command_and_a_second_turn_then_done() {
        let env = TestEnv::new();
        env.repo("api");
        let run = start(&env, "command", &[]);
        env.fails(&["run", "wait", &run], 12);
        assert!(env
            .ok(&["approval", "show", &run])
            .contains("cargo test --quiet"));
        env.ok(&["approve", &run]);
        env.fails(&["run", "wait", &run], 13);
        assert!(
            messages(&env, &run).contains("allow_once"),
            "{}",
            messages(&env, &run)
        );
        env.ok(&["reply", &run, "and now the docs"]);
        wait_for_message(&env, &run, "you said: and now the docs");
        env.fails(&["run", "wait", &run], 13);
        env.ok(&["run", "done", &run]);
        env.fails(&["run", "wait", &run], 0);
        let types = env.event_types(&run);
        for expected in [
            "agent.session",
            "agent.prompt",
            "tool.call",
            "approval.requested",
            "agent.turn",
            "input.provided",
            "run.finished",
        ] {
            assert!(
                types.iter().any(|t| t == expected),
                "no {expected} in {types:?}"
            );
        }
    }

    #[test]
    fn an_idle_conversation_is_done_after_the_configured_timeout() {
        let env = TestEnv::new();
        env.repo("api");
        env.write_config("[run]\nidle_timeout_seconds = 1\n");
        let run = start(&env, "converse", &[]);
        // No `run wait` for the question first: a second late, the run is
        // already done. The order of the events shows the wait.
        let out = env.m().args(["events", &run, "--follow"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let types = env.event_types(&run);
        let at = |name: &str| types.iter().position(|t| t == name);
        assert!(at("input.requested").is_some(), "{types:?}");
        assert!(at("input.requested") < at("run.idle"), "{types:?}");
        assert_eq!(env.run_state(&run), "completed");
    }

    #[test]
    fn once_completes_at_the_first_turn_end_and_work_is_committed() {
        let env = TestEnv::new();
        let repo = env.repo("api");
        let run = start(&env, "basic", &["--once"]);
        env.fails(&["run", "wait", &run], 0);
        let branch = format!("m/{}", &run[..8]);
        let files = env.git(&repo, &["show", "--name-only", "--format=", &branch]);
        assert!(files.contains("notes.txt"), "{files}");
    }

    #[test]
    fn cancel_while_a_permission_is_pending_ends_the_run_cancelled() {
        let env = TestEnv::new();
        env.repo("api");
        let run = start(&env, "cancel", &[]);
        env.fails(&["run", "wait", &run], 12);
        env.ok(&["run", "cancel", &run]);
        assert_eq!(env.run_state(&run), "cancelled");
        // Regression: the agent hears session/cancel before its permission
        // is answered, so its turn ends cancelled, and nobody is asked for a
        // next prompt (which notified a phone of a question).
        let events = env.events(&run);
        let turn = events.iter().find(|e| e["type"] == "agent.turn");
        assert_eq!(
            turn.unwrap()["data"]["stopReason"],
            "cancelled",
            "{events:?}"
        );
        assert!(
            !events.iter().any(|e| e["type"] == "input.requested"),
            "{events:?}"
        );
        assert!(env
            .json(&["approvals", "--json"])
            .as_array()
            .unwrap()
            .is_empty());
    }

    /// Regression: `m approve` right after `m run cancel` was recorded as
    /// approved, for an action that never ran, and the run went back to
    /// `running` after the cancel.
    #[test]
    fn a_decision_after_a_cancel_began_is_refused() {
        let env = TestEnv::new();
        env.repo("api");
        let run = env.ok(&[
            "run", "start", "-r", "api", "x", "--acp", "--", FAKE, "cancel", "slow",
        ]);
        let run = run.trim().to_string();
        env.fails(&["run", "wait", &run], 12);
        let approval = env.json(&["approvals", "--json"])[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        // As `m run cancel RUN & m approve APPROVAL`: the agent heard the
        // cancel and is winding down (it says so on stderr) when the
        // decision comes.
        let mut cancel = env.m().args(["run", "cancel", &run]).spawn().unwrap();
        common::wait_for("the agent to hear the cancel", || {
            env.events_of(&run, "output").iter().any(|e| {
                e["data"]["lines"]
                    .to_string()
                    .contains("permission answered")
            })
        });
        let err = env.fails(&["approve", &approval], 4);
        assert!(
            err.contains("being cancelled") || err.contains("run ended"),
            "{err}"
        );
        assert!(cancel.wait().unwrap().success());
        assert_eq!(env.run_state(&run), "cancelled");
        let approval = &env.approvals_of(&run)[0];
        assert_eq!(approval["state"], "rejected");
        assert_eq!(approval["rejection_reason"], "run ended");
        let events = env.events(&run);
        let resolved = events
            .iter()
            .position(|e| e["type"] == "approval.resolved")
            .unwrap();
        assert!(
            events[resolved..]
                .iter()
                .all(|e| e["type"] != "run.state" || e["data"]["state"] != "running"),
            "{events:#?}"
        );
    }

    #[test]
    fn a_permission_the_agent_takes_back_is_withdrawn_and_answered_cancelled() {
        let env = TestEnv::new();
        env.repo("api");
        let gate = env.dir.path().join("gate");
        let gate = gate.to_str().unwrap();
        let run = env.ok(&[
            "run", "start", "-r", "api", "deploy", "--acp", "--", FAKE, "withdraw", gate,
        ]);
        let run = run.trim();
        env.fails(&["run", "wait", run], 12);
        let approval = env.json(&["approvals", "--json"])[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        std::fs::write(gate, "").unwrap();
        wait_for_message(&env, run, "withdrawn");
        assert!(messages(&env, run).contains("withdrawn: -32800"));
        // The turn ended; the conversation waits for the next prompt.
        env.wait_state(run, "waiting_input");
        let shown = env.json(&["approval", "show", &approval, "--json"]);
        assert_eq!(shown["state"], "rejected", "{shown}");
        assert!(shown["rejection_reason"]
            .as_str()
            .unwrap()
            .starts_with("withdrawn"));
        let err = env.fails(&["approve", &approval], 4);
        assert!(err.contains("rejected"), "{err}");
        env.ok(&["run", "done", run]);
    }

    /// Regression: an agent command given by a path that does not exist
    /// made a run that failed saying it "is not on PATH".
    #[test]
    fn an_agent_path_that_does_not_exist_is_refused_before_a_run_is_made() {
        let env = TestEnv::new();
        env.repo("api");
        for extra in [&["--acp"][..], &[][..]] {
            let mut args = vec!["run", "start", "-r", "api", "fix it"];
            args.extend_from_slice(extra);
            args.extend_from_slice(&["--", "/nonexistent/agent", "--flag"]);
            let err = env.fails(&args, 3);
            assert!(
                err.contains("the agent command '/nonexistent/agent' does not exist"),
                "{err}"
            );
            assert!(!err.contains("PATH"), "{err}");
        }
        assert!(env
            .json(&["run", "list", "--json"])
            .as_array()
            .unwrap()
            .is_empty());
    }

    /// Regression: with `--once --review` on a scratch repo the review
    /// could not be made, its error went to the agent as a prompt, the
    /// agent ended its turn, and the review failed again: 13,000 events in
    /// two seconds, for ever.
    #[test]
    fn once_with_review_on_a_scratch_repo_is_refused_at_start() {
        let env = TestEnv::new();
        env.ok(&["repo", "add", "--scratch", "--name", "s2"]);
        let args = ["run", "start", "-r", "s2", "x", "--once", "--acp"];
        let err = env.fails(
            &[&args[..], &["--review", "--", FAKE, "converse"]].concat(),
            2,
        );
        assert!(
            err.contains("repo s2 is a scratch repo") && err.contains("no diff to review"),
            "{err}"
        );
        // Without --review the run is fine, and short.
        let run = env.ok(&[&args[..], &["--", FAKE, "converse"]].concat());
        let run = run.trim();
        env.fails(&["run", "wait", run], 0);
        assert!(env.events(run).len() < 20, "{:#?}", env.events(run));
    }

    /// Regression: a review that could not be prepared became the agent's
    /// next prompt.
    #[test]
    fn a_review_that_cannot_be_prepared_fails_the_conversation() {
        let env = TestEnv::new();
        env.repo("api");
        let run = start(&env, "converse", &["--review"]);
        env.fails(&["run", "wait", &run], 13);
        // Without its `.git` the workspace is no longer a worktree: no diff.
        let workspace = env.json(&["run", "show", &run, "--json"])["workspace_path"]
            .as_str()
            .unwrap()
            .to_string();
        std::fs::remove_file(std::path::Path::new(&workspace).join(".git")).unwrap();
        env.ok(&["run", "done", &run]);
        let err = env.fails(&["run", "wait", &run], 10);
        assert!(err.contains("cannot prepare the review: "), "{err}");
        assert!(!err.contains("reject"), "{err}");
        assert_eq!(env.events_of(&run, "agent.prompt").len(), 1);
        assert!(env.approvals_of(&run).is_empty());
    }

    /// Regression: a run that changed nothing asked a human to approve an
    /// empty diff.
    #[test]
    fn a_once_run_that_changed_nothing_completes_without_review() {
        let env = TestEnv::new();
        env.repo("api");
        let run = start(&env, "converse", &["--once", "--review"]);
        env.fails(&["run", "wait", &run], 0);
        let shown = env.ok(&["run", "show", &run]);
        assert!(shown.contains("nothing to review"), "{shown}");
        assert!(env.approvals_of(&run).is_empty());
    }

    /// The hints for a conversation waiting for its next prompt say how to
    /// end it.
    #[test]
    fn a_waiting_conversation_is_ended_with_run_done_as_its_hints_say() {
        let env = TestEnv::new();
        env.repo("api");
        let run = start(&env, "converse", &[]);
        env.fails(&["run", "wait", &run], 13);
        let done = format!("`m run done {}`", &run[..8]);
        let shown = env.ok(&["run", "show", &run]);
        assert!(shown.contains(&done), "{shown}");
        let err = env.fails(&["run", "rm", &run], 4);
        assert!(err.contains(&done), "{err}");
        env.ok(&["run", "done", &run]);
        env.fails(&["run", "wait", &run], 0);
    }

    /// Regression: a preset agent ran in whatever permission mode the
    /// user's or the repository's settings chose (Claude's
    /// `bypassPermissions` asks nothing): m now switches it to the mode in
    /// which it asks.
    #[test]
    fn a_preset_agent_is_switched_to_the_mode_in_which_it_asks() {
        let env = TestEnv::new();
        env.repo("api");
        let args = [
            "run", "start", "-r", "api", "x", "--once", "--agent", "claude",
        ];
        let run = env.ok(&[&args[..], &["--", FAKE, "bypass"]].concat());
        let run = run.trim();
        env.fails(&["run", "wait", run], 0);
        assert!(
            messages(&env, run).contains("mode: default"),
            "{}",
            messages(&env, run)
        );
        let events = env.events(run);
        let modes: Vec<(&Value, &Value)> = events
            .iter()
            .filter(|e| e["type"] == "agent.mode")
            .map(|e| (&e["data"]["modeId"], &e["data"]["asks"]))
            .collect();
        assert_eq!(
            modes,
            [
                (&json!("bypassPermissions"), &json!(false)),
                (&json!("default"), &json!(true))
            ]
        );

        // An agent that will not switch never works unasked.
        let run = env.ok(&[&args[..], &["--", FAKE, "stubborn"]].concat());
        let err = env.fails(&["run", "wait", run.trim()], 10);
        assert!(
            err.contains("would not switch to its 'default' mode"),
            "{err}"
        );
        assert!(env
            .events(run.trim())
            .iter()
            .all(|e| e["type"] != "agent.prompt"));
    }

    #[test]
    fn m_agents_says_what_each_agent_asks_about() {
        let env = TestEnv::new();
        let agents = env.json(&["agents", "--json"]);
        let codex = agents
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "codex")
            .unwrap();
        assert_eq!(
            codex["command"],
            serde_json::json!(["codex-acp", "-c", "approval_policy=\"untrusted\""])
        );
        assert!(codex["asks"].as_str().unwrap().contains("every command"));
        let shown = env.ok(&["agents"]);
        assert!(shown.contains("asks m about"), "{shown}");
        assert!(shown.contains("goose: every tool call"), "{shown}");
    }

    /// A run of preset `preset` whose command is the fake agent.
    fn start_preset(env: &TestEnv, preset: &str, scenario: &str) -> String {
        let args = [
            "run",
            "start",
            "-r",
            "api",
            "do the thing",
            "--once",
            "--agent",
            preset,
            "--",
            FAKE,
            scenario,
        ];
        env.ok(&args).trim().to_string()
    }

    #[test]
    fn a_run_that_needs_auth_fails_with_a_hint_and_only_the_configured_method_is_used() {
        let env = TestEnv::new();
        env.repo("api");
        let run = start_preset(&env, "gemini", "auth");
        env.fails(&["run", "wait", &run], 10);
        let reason = env.finished_reason(&run);
        assert!(
            reason.contains("API key is missing or not configured."),
            "{reason}"
        );
        assert!(reason.contains("[agents.gemini] auth"), "{reason}");
        assert!(env.events_of(&run, "agent.auth").is_empty());

        env.ok(&["daemon", "stop"]);
        env.write_config("[agents.gemini]\nauth = \"api-key\"\n");
        // The key in the environment of the daemon this start autostarts.
        let out = common::exits(
            env.m().env("FAKE_API_KEY", "secret").args([
                "run", "start", "-r", "api", "x", "--once", "--agent", "gemini", "--", FAKE, "auth",
            ]),
            0,
        );
        let run = String::from_utf8_lossy(&out.stdout).trim().to_string();
        env.fails(&["run", "wait", &run], 0);
        let auths = env.events_of(&run, "agent.auth");
        assert_eq!(auths.len(), 1);
        assert_eq!(auths[0]["data"]["methodId"], "api-key");
        env.ok(&["daemon", "stop"]);
    }

    #[test]
    fn m_agents_warns_of_a_mode_in_which_the_agent_did_not_ask() {
        let env = TestEnv::new();
        env.repo("api");
        assert!(!env.ok(&["agents"]).contains("warning"));
        let run = start_preset(&env, "gemini", "modes");
        env.fails(&["run", "wait", &run], 0);
        let events = env.ok(&["events", &run]);
        assert!(
            events.contains("warning: the agent is in its autoEdit mode"),
            "{events}"
        );
        let agents = env.ok(&["agents"]);
        assert!(
            agents.contains(&format!("warning: gemini's newest run ({})", &run[..8]))
                && agents.contains("yolo mode: it edits files and runs commands without asking"),
            "{agents}"
        );
        let json = env.json(&["agents", "--json"]);
        let gemini = json
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "gemini")
            .unwrap();
        assert_eq!(gemini["quietMode"]["modeId"], "yolo");
        let claude = json
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "claude")
            .unwrap();
        assert!(claude.get("quietMode").is_none());
        env.ok(&["daemon", "stop"]);
    }

    #[test]
    fn an_approval_shows_where_the_command_runs_and_what_the_agent_says() {
        let env = TestEnv::new();
        env.repo("api");
        let run = start_preset(&env, "gemini", "gemini-command");
        env.fails(&["run", "wait", &run], 12);
        let shown = env.ok(&["approval", "show", &run]);
        let workspace = env
            .events(&run)
            .iter()
            .find(|e| e["type"] == "workspace.ready")
            .map(|e| e["data"]["path"].as_str().unwrap().to_string())
            .unwrap();
        assert!(shown.contains("$ touch ran.txt"), "{shown}");
        assert!(shown.contains(&format!("in {workspace}/sub")), "{shown}");
        assert!(
            shown.contains("the agent says: [in sub] (Create ran.txt)"),
            "{shown}"
        );
        env.ok(&["approve", &run]);
        env.fails(&["run", "wait", &run], 0);
        env.ok(&["daemon", "stop"]);
    }

    #[test]
    fn opencode_is_started_asking_and_a_denial_of_the_users_stays() {
        let env = TestEnv::new();
        env.repo("api");
        let run = start_preset(&env, "opencode", "env");
        env.fails(&["run", "wait", &run], 0);
        assert_eq!(
            messages(&env, &run),
            r#"OPENCODE_PERMISSION={"bash":"ask","edit":"ask"}"#
        );
        let config = env.dir.path().join(".config/opencode");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(
            config.join("opencode.json"),
            r#"{"permission": {"bash": "deny", "edit": "allow"}}"#,
        )
        .unwrap();
        let run = start_preset(&env, "opencode", "env");
        env.fails(&["run", "wait", &run], 0);
        assert_eq!(
            messages(&env, &run),
            r#"OPENCODE_PERMISSION={"bash":"deny","edit":"ask"}"#
        );
        env.ok(&["daemon", "stop"]);
    }

    #[test]
    fn a_refused_write_is_one_quiet_event_and_long_stderr_lines_are_folded_for_people() {
        let env = TestEnv::new();
        env.repo("api");
        let run = start_preset(&env, "opencode", "opencode-edit");
        env.fails(&["run", "wait", &run], 12);
        env.ok(&["approve", &run]);
        env.fails(&["run", "wait", &run], 0);
        let events = env.events(&run);
        assert!(events.iter().all(|e| e["type"] != "error"), "{events:?}");
        let refused: Vec<_> = events
            .iter()
            .filter(|e| e["type"] == "agent.refused")
            .collect();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0]["data"]["method"], "fs/write_text_file");
        let trace = format!("    at {}", "x".repeat(1000));
        assert!(events.iter().any(|e| e["type"] == "output"
            && e["data"]["lines"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l == &trace)));
        let human = env.ok(&["events", &run]);
        assert!(!human.contains(&"x".repeat(400)), "{human}");
        assert!(
            human.contains("more characters; --json shows the whole line"),
            "{human}"
        );
        assert!(
            human.contains("the agent called fs/write_text_file, which m refused"),
            "{human}"
        );
        env.ok(&["daemon", "stop"]);
    }

    /// The usage ledger: tokens from each turn's answer, summed; the cost
    /// from the agent's cumulative `usage_update`.
    #[test]
    fn m_tells_what_a_run_cost() {
        let env = TestEnv::new();
        env.repo("api");
        let run = start(&env, "basic", &["--once"]);
        env.fails(&["run", "wait", &run], 0);
        let shown = env.ok(&["run", "show", &run]);
        assert!(
            shown.contains("1.0k tokens in, 100 out, $0.045; context 1.3k of 200.0k"),
            "{shown}"
        );
        let usage = &env.json(&["run", "show", &run, "--json"])["usage"];
        assert_eq!(usage["input_tokens"], 1000);
        assert_eq!(usage["output_tokens"], 100);
        assert_eq!(usage["cost"], json!({"amount": 0.045, "currency": "USD"}));
        assert_eq!(usage["context"], json!({"used": 1300, "size": 200000}));

        // Two turns of a conversation add up.
        let talk = start(&env, "converse", &[]);
        env.fails(&["run", "wait", &talk], 13);
        env.ok(&["reply", &talk, "more"]);
        common::wait_for("the second turn's tokens", || {
            env.json(&["run", "show", &talk, "--json"])["usage"]["input_tokens"] == 3000
        });
        env.ok(&["run", "done", &talk]);
        env.fails(&["run", "wait", &talk], 0);

        let listed = env.json(&["run", "list", "--json"]);
        let of = |id: &str| {
            listed
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == id)
                .unwrap()["usage"]
                .clone()
        };
        assert_eq!(of(&run)["input_tokens"], 1000);
        assert_eq!(of(&talk)["input_tokens"], 3000);
        assert_eq!(of(&talk)["output_tokens"], 200);
        assert_eq!(of(&talk)["cost"], Value::Null);

        let status = env.ok(&["status"]);
        assert!(
            status.contains("api: 4.0k tokens in, 300 out, $0.045 (2 runs)"),
            "{status}"
        );
        let status = env.json(&["status", "--json"]);
        assert_eq!(status["usage"][0]["repo"], "api");
        assert_eq!(status["usage"][0]["input_tokens"], 4000);
        // A removed run leaves nothing behind.
        env.ok(&["run", "rm", &run]);
        assert_eq!(env.json(&["status", "--json"])["usage"][0]["runs"], 1);
    }

    #[test]
    fn a_preset_whose_command_is_missing_says_how_to_install_it() {
        let env = TestEnv::new();
        env.repo("api");
        let out = env
            .m()
            .env("PATH", "/usr/bin:/bin")
            .args(["run", "start", "-r", "api", "--agent", "claude", "fix it"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("claude-agent-acp") && err.contains("npm install"),
            "{err}"
        );
        let err = env.fails(&["run", "start", "-r", "api", "--agent", "nope", "x"], 2);
        assert!(
            err.contains("claude, codex, gemini, opencode, goose, qwen"),
            "{err}"
        );
        let agents = env.json(&["agents", "--json"]);
        assert_eq!(agents.as_array().unwrap().len(), 6);
    }
}
