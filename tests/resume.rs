//! A conversation survives its daemon: a daemon that starts takes up the
//! ACP sessions a previous one left (`session/resume` or `session/load`),
//! and the run goes on where it stood. The fake agent keeps its sessions
//! on disk as claude-agent-acp and codex-acp do (`resumable`: both offer
//! `session/resume`; `loadable`: `session/load` only, as Gemini CLI 0.61.0).

use crate::common::{self, TestEnv};

const FAKE: &str = env!("CARGO_BIN_EXE_fake-acp-agent");

fn start(env: &TestEnv, scenario: &str) -> String {
    env.repo("api");
    env.ok(&[
        "run",
        "start",
        "-r",
        "api",
        "do the thing",
        "--acp",
        "--",
        FAKE,
        scenario,
    ])
    .trim()
    .to_string()
}

fn messages(env: &TestEnv, run: &str) -> Vec<String> {
    env.events_of(run, "agent.message")
        .iter()
        .map(|e| e["data"]["text"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Before: a run left by a crashed daemon failed ("the agent is gone"),
/// though claude-agent-acp and codex-acp can take a session up again.
#[test]
fn a_conversation_resumes_its_session_after_the_daemon_crashed() {
    let env = TestEnv::new();
    let run = start(&env, "resumable");
    env.wait_state(&run, "waiting_input");
    env.ok(&["reply", &run, "second"]);
    env.wait_state(&run, "waiting_input");
    assert_eq!(env.events_of(&run, "agent.turn").len(), 2);

    env.kill_daemon();
    common::wait_no_agents(&run);
    assert_eq!(env.run_state(&run), "waiting_input");

    env.ok(&["daemon", "start"]);
    env.wait_event(&run, "agent.resumed");
    env.wait_state(&run, "waiting_input");
    let resumed = &env.events_of(&run, "agent.resumed")[0]["data"];
    assert_eq!(resumed["method"], "session/resume", "{resumed}");
    assert_eq!(resumed["was"], "input", "{resumed}");
    assert!(resumed.get("replayed").is_none(), "{resumed}");
    assert_eq!(
        resumed["sessionId"],
        env.events_of(&run, "agent.session")[0]["data"]["sessionId"]
    );
    // The question the dead daemon asked is closed, and asked again.
    let asked = env.events_of(&run, "input.requested");
    assert_eq!(asked.len(), 3, "{asked:?}");
    assert!(asked[2]["data"]["question"]
        .as_str()
        .unwrap()
        .contains("resumed after the daemon restarted"));
    let withdrawn = env.events_of(&run, "input.withdrawn");
    assert_eq!(withdrawn.len(), 1);
    assert_eq!(withdrawn[0]["data"]["question_seq"], asked[1]["seq"]);

    // The agent goes on with what it heard before the crash.
    env.ok(&["reply", &run, "third"]);
    env.wait_state(&run, "waiting_input");
    let said = messages(&env, &run);
    assert_eq!(
        said.last().unwrap(),
        r#"turn 3: heard "third" after ["do the thing", "second"]"#,
        "{said:?}"
    );
    env.ok(&["run", "done", &run]);
    env.wait_state(&run, "completed");
    let log = env.ok(&["events", &run]);
    assert!(
        log.contains(
            "resumed (session/resume) after the daemon restarted, waiting for the next prompt"
        ),
        "{log}"
    );
}

/// Before: `m daemon stop` failed every run. Now a conversation whose
/// agent can load its session is suspended, and the next daemon takes it
/// up: the pending approval is asked again, its decision goes to the agent,
/// and what `session/load` replays is not recorded twice.
#[test]
fn a_daemon_stop_suspends_a_conversation_and_its_pending_approval_is_asked_again() {
    let env = TestEnv::new();
    let run = start(&env, "loadable");
    env.wait_state(&run, "waiting_input");
    env.ok(&["reply", &run, "please touch ran.txt"]);
    env.wait_state(&run, "waiting_approval");
    let before = env.json(&["approvals", "--run", &run, "--json"]);
    let old_id = before[0]["id"].as_str().unwrap().to_string();
    assert_eq!(before[0]["payload"]["command"], "touch ran.txt");

    env.ok(&["daemon", "stop"]);
    common::wait_no_agents(&run);
    assert_eq!(env.run_state(&run), "waiting_approval");
    let suspended = env.events_of(&run, "agent.suspended");
    assert_eq!(suspended.len(), 1, "{suspended:?}");
    assert!(suspended[0]["data"]["reason"]
        .as_str()
        .unwrap()
        .contains("resumes its session when the daemon starts again"));
    assert!(env.events_of(&run, "run.finished").is_empty());

    env.ok(&["daemon", "start"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let new_id = loop {
        let pending = env.json(&["approvals", "--run", &run, "--json"]);
        let fresh = pending
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] != old_id.as_str())
            .cloned();
        if let Some(fresh) = fresh {
            assert_eq!(fresh["payload"]["command"], "touch ran.txt", "{fresh}");
            assert_eq!(fresh["payload"]["resumed"], true, "{fresh}");
            break fresh["id"].as_str().unwrap().to_string();
        }
        assert!(std::time::Instant::now() < deadline, "never asked again");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let old = env.json(&["approval", "show", &old_id, "--json"]);
    assert_eq!(old["state"], "rejected", "{old}");
    assert_eq!(old["decided_by"]["kind"], "m", "{old}");
    let resumed = &env.events_of(&run, "agent.resumed")[0]["data"];
    assert_eq!(resumed["method"], "session/load", "{resumed}");
    assert_eq!(resumed["was"], "approval", "{resumed}");
    // The first turn, replayed (what the user said and what it answered).
    assert_eq!(resumed["replayed"], 2, "{resumed}");
    let first: Vec<String> = messages(&env, &run)
        .into_iter()
        .filter(|m| m.starts_with("turn 1:"))
        .collect();
    assert_eq!(first.len(), 1, "the replay was recorded again: {first:?}");

    // Approved: the agent is told, asks again, and m lets that through once.
    env.ok(&["approve", &new_id]);
    env.wait_state(&run, "waiting_input");
    let prompts = env.events_of(&run, "agent.prompt");
    let last = &prompts.last().unwrap()["data"];
    assert_eq!(last["source"], "resumed", "{last}");
    assert!(
        last["text"].as_str().unwrap().starts_with(
            "The user approved `touch ran.txt`, which you asked for before m restarted"
        ),
        "{last}"
    );
    let all = env.approvals_of(&run);
    assert_eq!(all.len(), 3, "{all:#?}");
    let again = all
        .iter()
        .find(|a| a["id"] != old_id.as_str() && a["id"] != new_id.as_str())
        .unwrap();
    assert_eq!(again["state"], "approved", "{again}");
    assert_eq!(again["decided_by"]["kind"], "policy", "{again}");
    let said = messages(&env, &run);
    assert!(
        said.last().unwrap().ends_with("; ran touch ran.txt"),
        "{said:?}"
    );
    // Once: the same command later is asked of a human.
    env.ok(&["reply", &run, "touch ran.txt again"]);
    env.wait_state(&run, "waiting_approval");
    env.ok(&["reject", &run, "--reason", "enough"]);
    env.wait_state(&run, "waiting_input");
    env.ok(&["run", "done", &run]);
    env.wait_state(&run, "completed");
}

/// A resume the agent refuses fails the run with the agent's reason; a
/// `--once` run is no conversation and fails as before.
#[test]
fn a_resume_that_fails_fails_the_run_with_the_agents_reason() {
    let env = TestEnv::new();
    let run = start(&env, "resumable");
    env.wait_state(&run, "waiting_input");
    env.repo("web");
    let once = env
        .ok(&[
            "run", "start", "-r", "web", "slow", "--acp", "--once", "--", FAKE, "cancel",
        ])
        .trim()
        .to_string();
    env.wait_state(&once, "waiting_approval");
    env.kill_daemon();
    common::wait_no_agents(&run);
    // The agent lost its saved sessions meanwhile.
    std::fs::remove_dir_all(env.dir.path().join(".fake-acp-agent")).unwrap();
    env.ok(&["daemon", "start"]);
    env.wait_state(&run, "failed");
    env.wait_state(&once, "failed");
    let finished = &env.events_of(&run, "run.finished")[0]["data"];
    let reason = finished["reason"].as_str().unwrap();
    assert!(
        reason.contains("could not resume its session")
            && reason.contains("(session/resume)")
            && reason.contains("Resource not found"),
        "{reason}"
    );
    let finished = &env.events_of(&once, "run.finished")[0]["data"];
    assert!(
        finished["reason"]
            .as_str()
            .unwrap()
            .contains("the daemon stopped while the run was active"),
        "{finished}"
    );
}

/// codex-acp answers `session/resume` "Authentication required" when its
/// saved login is gone: m authenticates with the configured method (and
/// only then), and resumes; without the key in the daemon's environment
/// the run fails saying what the agent needs.
#[test]
fn a_resume_that_needs_a_login_authenticates_only_as_configured() {
    let env = TestEnv::new();
    env.repo("api");
    env.repo("web");
    env.write_config("[agents.codex]\nauth = \"api-key\"\n");
    let login = env.dir.path().join(".fake-acp-agent/login");
    let start_in = |repo: &str| {
        let out = env
            .m()
            .env("FAKE_API_KEY", "secret")
            .args([
                "run",
                "start",
                "-r",
                repo,
                "x",
                "--agent",
                "codex",
                "--",
                FAKE,
                "resumable-auth",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let daemon_start = |key: Option<&str>| {
        let mut cmd = env.m();
        cmd.args(["daemon", "start"]);
        if let Some(key) = key {
            cmd.env("FAKE_API_KEY", key);
        }
        assert!(cmd.output().unwrap().status.success());
    };

    // The login is lost while the daemon is down; the next has the key.
    let run = start_in("api");
    env.wait_state(&run, "waiting_input");
    assert_eq!(env.events_of(&run, "agent.auth").len(), 1);
    env.kill_daemon();
    common::wait_no_agents(&run);
    std::fs::remove_file(&login).unwrap();
    daemon_start(Some("secret"));
    env.wait_event(&run, "agent.resumed");
    env.wait_state(&run, "waiting_input");
    let auths = env.events_of(&run, "agent.auth");
    assert_eq!(auths.len(), 2, "{auths:?}");
    assert_eq!(auths[1]["data"]["ok"], true, "{auths:?}");
    env.ok(&["run", "done", &run]);
    env.wait_state(&run, "completed");

    // The same without the key: the run fails with what the agent needs.
    let run = start_in("web");
    env.wait_state(&run, "waiting_input");
    env.kill_daemon();
    common::wait_no_agents(&run);
    std::fs::remove_file(&login).unwrap();
    daemon_start(None);
    env.wait_state(&run, "failed");
    let reason = env.finished_reason(&run);
    assert!(
        reason.contains("the agent needs authentication: Authentication required")
            && reason.contains("after authenticating with api-key"),
        "{reason}"
    );
}
