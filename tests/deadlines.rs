//! Approval and question deadlines (`--approval-timeout`, `[approvals]
//! timeout`, `on_timeout`, `remind_after`, `escalate_to`), through the
//! binary: nobody waits for ever on a human who is not there, and every
//! decision a deadline made says so.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::TestEnv;
use serde_json::Value;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-acp-agent");

fn start(env: &TestEnv, agent: &Path, extra: &[&str]) -> String {
    env.start_with("api", "ship it", extra, agent)
}

/// An agent that asks one approval and says how `m ask` ended.
fn asker(env: &TestEnv) -> std::path::PathBuf {
    env.script(
        "asker.sh",
        "m ask approval --type generic --title 'deploy?'; echo \"m ask: $?\"",
    )
}

/// Waits for the run to end; returns its exit code as `m run wait` gives it.
fn wait_end(env: &TestEnv, run: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let code = env.run(&["run", "wait", run]).status.code().unwrap();
        if ![12, 13].contains(&code) {
            return code;
        }
        assert!(Instant::now() < deadline, "run {run} never ended");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The run's first approval.
fn approval(env: &TestEnv, run: &str) -> Value {
    env.approvals_of(run).remove(0)
}

#[test]
fn an_approval_nobody_answers_is_rejected_by_its_deadline_saying_so() {
    let env = TestEnv::new();
    env.repo("api");
    let run = start(&env, &asker(&env), &["--approval-timeout", "2s"]);
    env.fails(&["run", "wait", &run], 12);
    let requested = &env.events_of(&run, "approval.requested")[0]["data"];
    assert_eq!(requested["on_timeout"], "reject");
    let created = env.json(&["run", "show", &run, "--json"])["created_at"]
        .as_i64()
        .unwrap();
    let deadline = requested["deadline"].as_i64().unwrap();
    assert!(
        (created + 2..=created + 4).contains(&deadline),
        "{requested}"
    );
    let shown = env.ok(&["events", &run]);
    assert!(shown.contains("(deadline "), "{shown}");

    // The agent hears the rejection and goes on: the run completes.
    assert_eq!(wait_end(&env, &run), 0);
    let decided = approval(&env, &run);
    assert_eq!(decided["state"], "rejected");
    assert_eq!(decided["rejection_reason"], "no answer within 2s");
    assert_eq!(
        decided["decided_by"],
        serde_json::json!({"kind": "deadline", "after": "2s"})
    );
    let shown = env.ok(&["events", &run]);
    assert!(
        shown.contains("rejected by deadline (2s without an answer): no answer within 2s"),
        "{shown}"
    );
    let said: Vec<String> = env
        .events_of(&run, "output")
        .iter()
        .map(|e| e["data"].to_string())
        .collect();
    assert!(said.iter().any(|s| s.contains("m ask: 1")), "{said:?}");

    // A human who answers in time decides, not the deadline.
    let answered = start(&env, &asker(&env), &["--approval-timeout", "1h"]);
    env.fails(&["run", "wait", &answered], 12);
    env.ok(&["approve", &answered]);
    assert_eq!(wait_end(&env, &answered), 0);
    assert_eq!(approval(&env, &answered)["decided_by"]["kind"], "human");

    let bad = env.fails(
        &[
            "run",
            "start",
            "-r",
            "api",
            "x",
            "--approval-timeout",
            "soon",
            "--",
            "true",
        ],
        2,
    );
    assert!(bad.contains("--approval-timeout"), "{bad}");
}

#[test]
fn on_timeout_cancel_in_the_config_cancels_the_run_saying_why() {
    let env = TestEnv::new();
    env.write_config("[approvals]\ntimeout = \"2s\"\non_timeout = \"cancel\"\n");
    env.repo("api");
    let run = start(&env, &asker(&env), &[]);
    assert_eq!(wait_end(&env, &run), 11);
    let finished = &env.json(&["run", "show", &run, "--json"])["finished"];
    assert_eq!(finished["state"], "cancelled");
    assert_eq!(finished["reason"], "no answer within 2s");
    let decided = approval(&env, &run);
    assert_eq!(decided["decided_by"]["kind"], "deadline");
    let settings = env.json(&["config", "show", "--json"])["settings"].clone();
    let setting = |key: &str| {
        settings
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(setting("approvals.timeout"), "2s");
    assert_eq!(setting("approvals.on_timeout"), "cancel");
}

#[test]
fn a_question_takes_its_default_answer_at_the_deadline_or_else_the_run_is_cancelled() {
    let env = TestEnv::new();
    env.repo("api");
    env.repo("web");
    let acp = |repo: &str, scenario: &str| {
        let args = [
            "run",
            "start",
            "-r",
            repo,
            "pick a database",
            "--acp",
            "--once",
            "--approval-timeout",
            "2s",
            "--",
            FAKE,
            scenario,
        ];
        env.ok(&args).trim().to_string()
    };
    // Both at once, on two repos: each waits out the same deadline.
    let with_default = acp("api", "elicit-default");
    let without = acp("web", "elicit");
    assert_eq!(wait_end(&env, &with_default), 0);
    let provided = &env.events_of(&with_default, "input.provided")[0]["data"];
    assert_eq!(provided["by"]["kind"], "deadline", "{provided}");
    let said: Vec<String> = env
        .events_of(&with_default, "agent.message")
        .iter()
        .map(|e| e["data"]["text"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        said.concat()
            .contains(r#"answer: "accept" {"database":"sqlite"}"#),
        "{said:?}"
    );
    let requested = &env.events_of(&with_default, "input.requested")[0]["data"];
    assert_eq!(requested["on_timeout"], "default");

    assert_eq!(wait_end(&env, &without), 11);
    let finished = &env.json(&["run", "show", &without, "--json"])["finished"];
    assert_eq!(finished["reason"], "no answer within 2s");
    assert!(env.events_of(&without, "input.provided").is_empty());
}

#[test]
fn a_reminder_goes_to_the_escalation_sinks_and_says_when_the_deadline_falls() {
    let env = TestEnv::new();
    let pager_out = env.dir.path().join("pager.jsonl");
    let log_out = env.dir.path().join("log.jsonl");
    let hook = |name: &str, out: &Path| {
        env.script(
            name,
            &format!(
                r#"printf '%s ' "$M_EVENT" >> {0}; cat >> {0}; echo >> {0}"#,
                out.display()
            ),
        )
    };
    let (pager, log) = (hook("pager.sh", &pager_out), hook("log.sh", &log_out));
    // The pager takes no event of its own: it hears only reminders.
    env.write_config(
        &format!(
            "[approvals]\ntimeout = \"1h\"\nremind_after = \"1s\"\nescalate_to = [\"pager\"]\n\n\
             [[notify.command]]\nname = \"pager\"\nargv = [\"{}\"]\nevents = [\"run.failed\"]\n\n\
             [[notify.command]]\nname = \"log\"\nargv = [\"{}\"]\nevents = [\"approval.requested\"]\n",
            pager.display(),
            log.display()
        ),
    );
    env.repo("api");
    let run = start(&env, &asker(&env), &[]);
    let lines = |path: &Path| -> Vec<Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.ends_with('}'))
            .map(|l| serde_json::from_str(l.split_once(' ').unwrap().1).unwrap())
            .collect()
    };
    common::wait_for("the reminder", || !lines(&pager_out).is_empty());
    let reminder = &lines(&pager_out)[0];
    assert_eq!(reminder["event"], "approval.requested");
    assert_eq!(reminder["event_type"], "human.reminded");
    assert_eq!(reminder["title"], "api: approval still needed");
    let text = reminder["text"].as_str().unwrap();
    assert!(
        text.starts_with("Answer by ") && text.contains(" UTC. "),
        "{text}"
    );
    let approval_id = approval(&env, &run)["id"].as_str().unwrap().to_string();
    assert_eq!(reminder["approval"]["id"], approval_id.as_str());

    // The log hook had the request, not the reminder; the request said
    // when the deadline falls too.
    env.ok(&["approve", &run]);
    assert_eq!(wait_end(&env, &run), 0);
    let logged = lines(&log_out);
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0]["event_type"], "approval.requested");
    assert!(logged[0]["text"]
        .as_str()
        .unwrap()
        .starts_with("Answer by "));
    assert_eq!(env.events_of(&run, "human.reminded").len(), 1);
    assert_eq!(lines(&pager_out).len(), 1);
}

#[test]
fn an_escalation_sink_nobody_configured_is_reported() {
    let env = TestEnv::new();
    env.write_config("[approvals]\nescalate_to = [\"nosuch\"]\n");
    let out = env.run(&["doctor"]);
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("no sink is named 'nosuch'"), "{said}");
}

#[test]
fn a_deadline_that_passed_while_no_daemon_ran_is_acted_on_at_start() {
    let env = TestEnv::new();
    env.write_config("[approvals]\ntimeout = \"3s\"\non_timeout = \"cancel\"\n");
    env.repo("api");
    let run = start(&env, &asker(&env), &[]);
    env.fails(&["run", "wait", &run], 12);
    env.kill_daemon();
    std::thread::sleep(Duration::from_secs(4));
    env.ok(&["daemon", "start"]);
    env.wait_state(&run, "cancelled");
    let finished = &env.json(&["run", "show", &run, "--json"])["finished"];
    assert_eq!(
        finished["reason"],
        "no answer within 3s (while the daemon was down)"
    );
    let decided = approval(&env, &run);
    assert_eq!(decided["decided_by"]["kind"], "deadline");
    assert_eq!(decided["rejection_reason"], "no answer within 3s");
}
