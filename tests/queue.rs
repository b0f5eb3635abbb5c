//! The per-repo queue: `m run start --queue` behind a busy repo's active run.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::TestEnv;
use serde_json::Value;

/// An agent that waits until the gate file exists, then appends its prompt
/// to the log: runs end in the order they start.
fn gated_agent(env: &TestEnv) -> (PathBuf, PathBuf, PathBuf) {
    let gate = env.dir.path().join("gate");
    let log = env.dir.path().join("log");
    let agent = env.script(
        "gated.sh",
        &format!(
            "while [ ! -e '{}' ]; do sleep 0.05; done\necho \"$M_PROMPT\" >> '{}'",
            gate.display(),
            log.display()
        ),
    );
    (agent, gate, log)
}

fn start(env: &TestEnv, prompt: &str, agent: &Path, extra: &[&str]) -> String {
    env.start_with("api", prompt, extra, agent)
}

fn listed(env: &TestEnv) -> Vec<Value> {
    env.json(&["run", "list", "--json"])
        .as_array()
        .unwrap()
        .clone()
}

fn queued(env: &TestEnv) -> Vec<(String, i64)> {
    let mut queued: Vec<(String, i64)> = listed(env)
        .iter()
        .filter(|r| r["state"] == "queued")
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["position"].as_i64().unwrap(),
            )
        })
        .collect();
    queued.sort_by_key(|q| q.1);
    queued
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[test]
fn queued_runs_start_in_arrival_order_each_as_the_one_before_ends() {
    let env = TestEnv::new();
    env.repo("api");
    let (agent, gate, log) = gated_agent(&env);
    let first = start(&env, "first", &agent, &[]);
    env.wait_state(&first, "running");
    // Refused by default, as before: scripts rely on exit 4.
    let refused = env.fails(
        &[
            "run",
            "start",
            "-r",
            "api",
            "x",
            "--",
            agent.to_str().unwrap(),
        ],
        4,
    );
    assert!(refused.contains("--queue"), "{refused}");
    let second = start(&env, "second", &agent, &["--queue"]);
    let third = start(&env, "third", &agent, &["--queue"]);
    // A follower of a queued run sees `run.queued`, then the run.
    let follower = env
        .m()
        .args(["events", &third, "--follow", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(
        queued(&env),
        [(second.clone(), 1), (third.clone(), 2)],
        "{:#?}",
        listed(&env)
    );
    let shown = env.json(&["run", "show", &second, "--json"]);
    assert_eq!(shown["state"], "queued");
    assert_eq!(shown["position"], 1);
    let text = env.ok(&["run", "show", &third]);
    assert!(text.contains("queued (position 2"), "{text}");
    // Commands that need a started run say it has not started.
    let diff = env.fails(&["run", "diff", &second], 4);
    assert!(diff.contains("is queued (position 1)"), "{diff}");

    std::fs::write(&gate, "").unwrap();
    env.fails(&["run", "wait", &third], 0);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "first\nsecond\nthird\n"
    );
    let out = follower.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let followed: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seqs: Vec<i64> = followed
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    assert_eq!(types(&followed)[..2], ["run.queued", "run.created"]);
    assert_eq!(followed, env.events(&third), "the log is what was followed");
    assert_eq!(followed[0]["data"]["position"], 2);
    // Each started within a second of the end of the one before.
    for (before, after) in [(&first, &second), (&second, &third)] {
        let ended = env.events(before).last().unwrap()["created_at"]
            .as_i64()
            .unwrap();
        let created = env.events(after)[1]["created_at"].as_i64().unwrap();
        assert!(
            created - ended <= 1,
            "{before} ended at {ended}, {after} started at {created}"
        );
    }
    assert!(queued(&env).is_empty());
}

#[test]
fn on_busy_queue_in_the_config_queues_and_no_queue_refuses() {
    let env = TestEnv::new();
    env.repo("api");
    env.write_config("[run]\non_busy = \"queue\"\n");
    let (agent, gate, _) = gated_agent(&env);
    let first = start(&env, "first", &agent, &[]);
    // A queued run's agent gets the environment of the start that queued it.
    let seen = env.dir.path().join("seen");
    let telling = env.script(
        "telling.sh",
        &format!("echo \"$QUEUED_BY\" > '{}'", seen.display()),
    );
    let out = common::exits(
        env.m()
            .args(["run", "start", "-r", "api", "second", "--json", "--"])
            .arg(&telling)
            .env("QUEUED_BY", "the caller"),
        0,
    );
    let second: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(second["state"], "queued");
    assert_eq!(second["position"], 1);
    env.fails(
        &[
            "run",
            "start",
            "-r",
            "api",
            "x",
            "--no-queue",
            "--",
            agent.to_str().unwrap(),
        ],
        4,
    );
    std::fs::write(&gate, "").unwrap();
    for run in [&first, second["id"].as_str().unwrap()] {
        env.fails(&["run", "wait", run], 0);
    }
    assert_eq!(std::fs::read_to_string(&seen).unwrap(), "the caller\n");
}

#[test]
fn ten_racing_queued_starts_give_one_run_and_nine_queued_in_order() {
    let env = TestEnv::new();
    env.repo("api");
    let (agent, gate, log) = gated_agent(&env);
    let children: Vec<_> = (0..10)
        .map(|i| {
            env.m()
                .args([
                    "run",
                    "start",
                    "-r",
                    "api",
                    &format!("run {i}"),
                    "--queue",
                    "--",
                ])
                .arg(&agent)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut ids = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ids.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    assert_eq!(env.count("SELECT count(*) FROM runs"), 1);
    let queue = queued(&env);
    let positions: Vec<i64> = queue.iter().map(|q| q.1).collect();
    assert_eq!(positions, (1..=9).collect::<Vec<_>>());
    let mut all: Vec<&String> = queue.iter().map(|q| &q.0).collect();
    let active = env.json(&["run", "list", "--state", "active", "--json"]);
    let active = active[0]["id"].as_str().unwrap().to_string();
    all.push(&active);
    all.sort();
    let mut printed: Vec<&String> = ids.iter().collect();
    printed.sort();
    assert_eq!(
        all, printed,
        "every printed id is the run or in the queue, once"
    );
    // In arrival order: the order they were given their places in.
    std::fs::write(&gate, "").unwrap();
    for (id, _) in &queue {
        env.fails(&["run", "wait", id], 0);
    }
    let prompt_of = |id: &str| {
        env.json(&["run", "show", id, "--json"])["prompt"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut expected = vec![prompt_of(&active)];
    expected.extend(queue.iter().map(|(id, _)| prompt_of(id)));
    let ran: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(ran, expected);
}

#[test]
fn the_queue_survives_a_killed_daemon_and_starts_after_recovery() {
    let env = TestEnv::new();
    env.repo("api");
    let (agent, gate, log) = gated_agent(&env);
    let first = start(&env, "first", &agent, &[]);
    env.wait_state(&first, "running");
    let second = start(&env, "second", &agent, &["--queue"]);
    env.kill_daemon();
    // Nothing runs the queue while no daemon does.
    assert_eq!(queued(&env), [(second.clone(), 1)]);
    // The first run's agent goes with its daemon, but not in no time (its
    // keeper notices within a tick, later on a loaded machine): opened
    // before it is gone, the gate let it write to the log.
    common::wait_no_agents(&first);
    std::fs::write(&gate, "").unwrap();
    env.ok(&["daemon", "start"]);
    let waited = env.run(&["run", "wait", &second]);
    assert_eq!(
        waited.status.code(),
        Some(0),
        "{}\n{}",
        env.ok(&["events", &second]),
        env.ok(&["events", &first])
    );
    assert_eq!(env.run_state(&first), "failed");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "second\n");
}

#[test]
fn cancel_takes_a_run_out_of_the_queue_and_whoever_waits_hears_it() {
    let env = TestEnv::new();
    env.repo("api");
    let (agent, gate, _) = gated_agent(&env);
    let first = start(&env, "first", &agent, &[]);
    let second = start(&env, "second", &agent, &["--queue"]);
    let third = start(&env, "third", &agent, &["--queue"]);
    let waiter = env
        .m()
        .args(["run", "wait", &second])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let follower = env
        .m()
        .args(["events", &second, "--follow"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Both are connected (the daemon counts no followers: give them time
    // to reach it; either way they must end with the cancellation).
    std::thread::sleep(Duration::from_millis(300));
    let said = env.ok(&["run", "cancel", &second]);
    assert!(said.contains("cancelled"), "{said}");
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(11));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cancelled while queued"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = follower.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(11));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("run.queued") && text.contains("cancelled while queued"),
        "{text}"
    );
    assert_eq!(queued(&env), [(third.clone(), 1)]);
    assert_eq!(env.event_types(&second), ["run.queued", "run.finished"]);
    env.fails(&["run", "cancel", &second], 4);
    // The queue goes on behind it.
    std::fs::write(&gate, "").unwrap();
    env.fails(&["run", "wait", &third], 0);
    assert_eq!(env.run_state(&first), "completed");
    // A cancelled queued run is removed like any finished run.
    env.ok(&["run", "rm", &second]);
}

#[test]
fn a_queued_run_that_cannot_start_fails_with_the_reason_and_the_next_starts() {
    let env = TestEnv::new();
    let repo = env.repo("api");
    let (agent, gate, log) = gated_agent(&env);
    let first = start(&env, "first", &agent, &[]);
    let gone = start(
        &env,
        "gone",
        &agent,
        &["--queue", "--base", "no-such-branch"],
    );
    let third = start(&env, "third", &agent, &["--queue"]);
    // A repo with queued runs is not removed under them.
    let refused = env.fails(&["repo", "rm", "api", "--force"], 4);
    assert!(
        refused.contains("active run") || refused.contains("queued"),
        "{refused}"
    );
    std::fs::write(&gate, "").unwrap();
    env.fails(&["run", "wait", &third], 0);
    assert_eq!(env.run_state(&gone), "failed");
    let reason = env.json(&["run", "show", &gone, "--json"])["finished"]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("no-such-branch"), "{reason}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "first\nthird\n");

    // The repo's directory removed while runs wait: each fails saying why.
    std::fs::remove_file(&gate).unwrap();
    let blocker = start(&env, "blocker", &agent, &[]);
    // A run is `running` from its start, before `git worktree add` has
    // finished writing into the repository that is about to be removed.
    env.wait_event(&blocker, "workspace.ready");
    let orphan = start(&env, "orphan", &agent, &["--queue"]);
    let refused = env.fails(&["repo", "rm", "api", "--force"], 4);
    assert!(refused.contains("active run"), "{refused}");
    std::fs::remove_dir_all(&repo).unwrap();
    std::fs::write(&gate, "").unwrap();
    env.fails(&["run", "wait", &orphan], 10);
    let reason = env.json(&["run", "show", &orphan, "--json"])["finished"]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("cannot make the workspace"), "{reason}");
    assert!(queued(&env).is_empty());
    let _ = first;
}

#[test]
fn start_follow_on_a_busy_repo_follows_the_queued_run_to_its_end() {
    let env = TestEnv::new();
    env.repo("api");
    let (agent, gate, _) = gated_agent(&env);
    start(&env, "first", &agent, &[]);
    let follower = env
        .m()
        .args([
            "run", "start", "-r", "api", "second", "--queue", "--follow", "--json", "--",
        ])
        .arg(&agent)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_for("the second run queued", || queued(&env).len() == 1);
    std::fs::write(&gate, "").unwrap();
    let out = follower.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types = types(&lines);
    assert_eq!(types[..2], ["run.queued", "run.created"]);
    assert_eq!(types.last(), Some(&"run.finished"));
}

#[test]
fn a_run_past_its_time_limit_is_cancelled_saying_so() {
    let env = TestEnv::new();
    env.repo("api");
    let sleeper = env.script("sleeper.sh", "sleep 30");
    let run = start(&env, "slow", &sleeper, &["--timeout", "1s"]);
    let out = env.run(&["run", "wait", &run]);
    assert_eq!(out.status.code(), Some(11));
    let reason = env.json(&["run", "show", &run, "--json"])["finished"]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(reason, "time limit 1s reached");
    let bad = env.fails(
        &[
            "run",
            "start",
            "-r",
            "api",
            "x",
            "--timeout",
            "2 hours",
            "--",
            "true",
        ],
        2,
    );
    assert!(bad.contains("unknown unit"), "{bad}");
}

#[test]
fn waiting_for_a_human_counts_towards_the_limit_unless_excluded() {
    let env = TestEnv::new();
    env.repo("api");
    env.repo("web");
    let asker = env.script(
        "asker.sh",
        "m ask approval --type generic --title 'go on?' || exit 3\nsleep 0.2",
    );
    // Both at once, on two repos: each waits out the same limit.
    let counted = start(&env, "counted", &asker, &["--timeout", "2s"]);
    let excluded = env.start_with(
        "web",
        "excluded",
        &["--timeout", "2s", "--timeout-excludes-waiting"],
        &asker,
    );
    env.fails(&["run", "wait", &counted], 12);
    env.fails(&["run", "wait", &excluded], 12);
    let waiting = Instant::now();
    // Counted: the run is cancelled while it waits.
    env.wait_state(&counted, "cancelled");
    let finished = &env.json(&["run", "show", &counted, "--json"])["finished"];
    assert_eq!(finished["reason"], "time limit 2s reached");
    // Excluded: a wait longer than the limit, then the run completes.
    std::thread::sleep(Duration::from_secs(3).saturating_sub(waiting.elapsed()));
    env.ok(&["approve", &excluded]);
    env.fails(&["run", "wait", &excluded], 0);
}

#[test]
fn a_time_limit_that_passed_while_the_daemon_was_down_is_acted_on_at_start() {
    let env = TestEnv::new();
    env.repo("api");
    let sleeper = env.script("sleeper.sh", "sleep 30");
    let run = start(&env, "slow", &sleeper, &["--timeout", "3s"]);
    env.kill_daemon();
    std::thread::sleep(Duration::from_secs(4));
    env.ok(&["daemon", "start"]);
    env.wait_state(&run, "cancelled");
    let reason = env.json(&["run", "show", &run, "--json"])["finished"]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.starts_with("time limit 3s reached"), "{reason}");
}
