//! The daemon through the real binary: runs of shell-script agents in git
//! worktrees, events, follow, cancel, races, crashes and recovery.

use crate::common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{alive, assert_all_gone, wait_for_lines, wait_until_gone, TestEnv};

fn finished(events: &[serde_json::Value]) -> &serde_json::Value {
    events
        .iter()
        .rev()
        .find(|e| e["type"] == "run.finished")
        .expect("a run.finished event")
}

#[test]
fn a_script_that_edits_files_completes_and_its_commit_is_on_the_run_branch() {
    let env = TestEnv::new();
    let repo = env.repo("api");
    let agent = env.script(
        "agent.sh",
        r#"echo "prompt: $M_PROMPT"; echo "new" > created.txt; echo "more" >> README; echo done"#,
    );
    let run = env.start("api", "tidy up", &agent);
    let text = env.ok(&["events", &run, "--follow"]);
    assert!(text.contains("prompt: tidy up"), "{text}");

    assert_eq!(env.run_state(&run), "completed");
    let events = env.events(&run);
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=events.len() as i64).collect::<Vec<_>>(),
        "gapless from 1"
    );
    let diff = events
        .iter()
        .find(|e| e["type"] == "workspace.diff")
        .expect("workspace.diff");
    assert_eq!(diff["data"]["files"], 2);
    assert_eq!(diff["data"]["insertions"], 2);

    let branch = format!("m/{}", &run[..8]);
    let files = env.git(&repo, &["show", "--name-only", "--format=", &branch]);
    assert!(
        files.contains("created.txt") && files.contains("README"),
        "{files}"
    );
    // The user's own checkout is untouched.
    assert!(!repo.join("created.txt").exists());
    assert!(env.ok(&["run", "diff", &run]).contains("+new"));
}

#[test]
fn a_relative_agent_path_means_the_file_where_the_user_typed_it() {
    let env = TestEnv::new();
    env.repo("api");
    // An uncommitted script beside the user, not in the repo.
    env.script("local-agent.sh", "echo from the local script");
    let out = common::exits(
        env.m().current_dir(env.dir.path()).args([
            "run",
            "start",
            "-r",
            "api",
            "x",
            "--follow",
            "--",
            "./local-agent.sh",
        ]),
        0,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("from the local script"));
}

#[test]
fn a_scratch_repo_runs_its_agent_in_an_empty_directory_without_git() {
    let env = TestEnv::new();
    env.ok(&["repo", "add", "--scratch", "--name", "notes"]);
    assert!(env.ok(&["repo", "list"]).contains("(scratch)"));
    let agent = env.script(
        "agent.sh",
        r#"ls -A | wc -l; git rev-parse --git-dir 2>/dev/null || echo "no git"; echo x > note.txt"#,
    );
    let run = env.start("notes", "write a note", &agent);
    let code = env.run(&["run", "wait", &run]).status.code();
    assert_eq!(code, Some(0));
    let lines: Vec<String> = env
        .output_lines(&run)
        .iter()
        .map(|l| l.trim().to_string())
        .collect();
    assert_eq!(lines, ["0", "no git"]);
    let events = env.events(&run);
    assert!(events.iter().all(|e| e["type"] != "workspace.diff"));
    let ready = events
        .iter()
        .find(|e| e["type"] == "workspace.ready")
        .unwrap();
    assert!(ready["data"]["branch"].is_null());
}

#[test]
fn follow_with_a_type_gets_only_those_events_live_and_from_the_backlog() {
    let env = TestEnv::new();
    env.ok(&["repo", "add", "--scratch", "--name", "notes"]);
    let agent = env.script("agent.sh", "echo one; sleep 0.3; echo two; exit 3");
    let run = env.start("notes", "two lines", &agent);
    let follow = || {
        let out = env.run(&["events", &run, "--follow", "--type", "output", "--json"]);
        assert_eq!(out.status.code(), Some(10), "the run failed");
        let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(events.iter().all(|e| e["type"] == "output"), "{events:?}");
        events
            .iter()
            .flat_map(|e| e["data"]["lines"].as_array().unwrap().clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(follow(), ["one", "two"], "live");
    assert_eq!(follow(), ["one", "two"], "after the end, from the backlog");
}

#[test]
fn the_log_is_copied_back_into_the_database_while_the_daemon_runs() {
    let env = TestEnv::new();
    env.ok(&["repo", "add", "--scratch", "--name", "notes"]);
    // About 20 MB of output: past the checkpoint threshold (1000 pages of
    // 16 KiB), which the checkpoint thread acts on, not the writer.
    let agent = env.script(
        "agent.sh",
        "yes 'a line of output of about a hundred bytes, printed over and over to fill the log.....' | head -n 200000",
    );
    let run = env.start("notes", "flood", &agent);
    env.fails(&["run", "wait", &run], 0);
    let size = |name: &str| std::fs::metadata(env.home.join(name)).map_or(0, |m| m.len());
    let deadline = Instant::now() + Duration::from_secs(30);
    // Any checkpoint of the first 1000 pages leaves far more than 8 MiB in
    // the database; without one it stays at a few pages.
    while size("m.db") < 8 << 20 {
        assert!(
            Instant::now() < deadline,
            "the database stayed at {} bytes (log: {})",
            size("m.db"),
            size("m.db-wal")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(env.daemon_pid().is_some_and(alive), "the daemon still runs");
    assert!(size("m.db-wal") <= 40 << 20, "log: {}", size("m.db-wal"));
}

#[test]
fn a_failing_script_fails_with_its_stderr_tail_and_follow_says_so() {
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script(
        "agent.sh",
        "echo working; echo 'cannot find fixture' >&2; exit 3",
    );
    let run = env.start("api", "break", &agent);
    let out = env.m().args(["events", &run, "--follow"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(10),
        "follow exits 10 for a failed run"
    );
    assert_eq!(env.run_state(&run), "failed");
    let events = env.events(&run);
    let end = finished(&events);
    assert_eq!(end["data"]["exit_code"], 3);
    assert_eq!(end["data"]["stderr_tail"][0], "cannot find fixture");
    assert!(end["data"]["reason"].as_str().unwrap().contains("status 3"));
}

/// A bare name is looked up on the daemon's PATH (a service's may differ
/// from the shell's), so only the run can say it is missing. (A path that
/// does not exist is refused by `m run start`: see the acp tests.)
#[test]
fn a_missing_agent_command_fails_the_run_with_a_reason() {
    let env = TestEnv::new();
    env.repo("api");
    let run = env.ok(&[
        "run",
        "start",
        "-r",
        "api",
        "x",
        "--",
        "m-test-no-such-agent",
    ]);
    let run = run.trim();
    env.fails(&["run", "wait", run], 10);
    let reason = env.finished_reason(run);
    assert!(
        reason.contains("'m-test-no-such-agent' is not on PATH"),
        "{reason}"
    );
}

#[test]
fn cancel_stops_the_whole_process_group_within_the_grace_period() {
    let env = TestEnv::new();
    env.repo("api");
    let pids = env.dir.path().join("pids");
    // A child that ignores SIGTERM must still go (SIGKILL after the grace).
    let agent = env.script(
        "agent.sh",
        &format!(
            "sh -c 'trap \"\" TERM; echo $$ >> {0}; while true; do sleep 0.1; done' &\necho $$ >> {0}\necho started\nwait",
            pids.display()
        ),
    );
    let run = env.start("api", "sleep", &agent);
    wait_for_lines(&pids, 2);
    let started = Instant::now();
    let out = env.ok(&["run", "cancel", &run]);
    assert!(out.contains("cancelled"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(env.run_state(&run), "cancelled");
    assert_all_gone(&pids);
    // Cancelling again is a conflict.
    env.fails(&["run", "cancel", &run], 4);
}

#[test]
fn a_second_start_on_a_busy_repo_is_a_conflict_naming_the_active_run() {
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script("agent.sh", "sleep 30");
    let run = env.start("api", "one", &agent);
    let err = env.fails(&["run", "start", "-r", "api", "two", "--", "true"], 4);
    assert!(err.contains(&run[..8]), "{err}");
    env.ok(&["run", "cancel", &run]);
}

#[test]
fn a_hundred_thousand_lines_reach_a_follower_once_each_in_order() {
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script("agent.sh", "seq 1 100000");
    let run = env.start("api", "count", &agent);
    let mut follower = env
        .m()
        .args(["events", &run, "--follow", "--json", "--type", "output"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut expected = 1u64;
    for line in BufReader::new(follower.stdout.take().unwrap()).lines() {
        let event: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if event["data"]["stream"] != "stdout" {
            continue;
        }
        for l in event["data"]["lines"].as_array().unwrap() {
            assert_eq!(l.as_str().unwrap(), expected.to_string());
            expected += 1;
        }
    }
    assert_eq!(expected, 100_001);
    assert_eq!(follower.wait().unwrap().code(), Some(0));
    // Batched under the flood: far fewer events than lines.
    let events = env.events(&run);
    assert!(
        events.len() < 50_000,
        "{} events for 100k lines",
        events.len()
    );
}

#[test]
fn follow_with_since_resumes_exactly_after_that_event() {
    let env = TestEnv::new();
    env.repo("api");
    let gate = env.dir.path().join("gate");
    let agent = env.script(
        "agent.sh",
        &format!(
            "echo one; echo two; while [ ! -e {} ]; do sleep 0.05; done; echo three",
            gate.display()
        ),
    );
    let run = env.start("api", "resume", &agent);
    env.wait_event(&run, "output");
    let before = env.events(&run);
    let since = before.last().unwrap()["seq"].as_i64().unwrap();
    std::fs::write(&gate, "").unwrap();
    let out = env.ok(&[
        "events",
        &run,
        "--follow",
        "--json",
        "--since",
        &since.to_string(),
    ]);
    let seqs: Vec<i64> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    let all = env.events(&run);
    let expected: Vec<i64> = all
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .filter(|&s| s > since)
        .collect();
    assert_eq!(seqs, expected);
    assert!(out.contains("three"));
}

/// Starts a run on repo `api` whose agent runs `before`, then forks a
/// `sleep` and waits for it; returns the run id once the agent has written
/// both pids (the sleep's, its own) to the returned file.
fn start_forking_agent(env: &TestEnv, before: &str) -> (String, PathBuf) {
    let pids = env.dir.path().join("pids");
    let agent = env.script(
        "agent.sh",
        &format!(
            "{before}sleep 300 &\necho $! >> {0}\necho $$ >> {0}\nwait",
            pids.display()
        ),
    );
    let run = env.start("api", "long", &agent);
    wait_for_lines(&pids, 2);
    (run, pids)
}

#[test]
fn a_killed_daemon_leaves_no_agent_and_the_restart_fails_the_run() {
    let env = TestEnv::new();
    env.repo("api");
    let (run, pids) = start_forking_agent(&env, "");
    env.kill_daemon();
    let status = env.ok(&["status"]);
    assert!(status.contains("no daemon owns them"), "{status}");
    // The next command that needs the daemon starts a new one, which recovers.
    env.ok(&["daemon", "start"]);
    assert_eq!(env.run_state(&run), "failed");
    let reason = env.finished_reason(&run);
    assert!(reason.contains("daemon stopped"), "{reason}");
    assert_all_gone(&pids);
}

/// Regression (CI): the daemon can die after spawning an agent but before
/// its process group is committed; recovery must still find the agent and
/// everything it forked, by the run id in their environment.
#[test]
fn a_daemon_killed_before_the_agent_group_is_recorded_still_leaves_no_agent() {
    let env = TestEnv::new();
    env.repo("api");
    let (run, pids) = start_forking_agent(&env, "");
    env.kill_daemon();
    let conn = rusqlite::Connection::open(env.db_path()).unwrap();
    let forgotten = conn
        .execute(
            "UPDATE run_details SET pgid = NULL WHERE run_id = ?1",
            [&run],
        )
        .unwrap();
    assert_eq!(forgotten, 1);
    drop(conn);
    env.ok(&["daemon", "start"]);
    assert_eq!(env.run_state(&run), "failed");
    assert_all_gone(&pids);
}

#[test]
fn sigterm_fails_active_runs_with_a_reason_and_releases_socket_and_lock() {
    let env = TestEnv::new();
    env.repo("api");
    let ready = env.dir.path().join("ready");
    let agent = env.script(
        "agent.sh",
        &format!(
            "trap '' TERM; echo $$ > {}; while true; do sleep 0.1; done",
            ready.display()
        ),
    );
    let run = env.start("api", "stubborn", &agent);
    wait_for_lines(&ready, 1);
    let daemon = env.daemon_pid().unwrap();
    unsafe { libc::kill(daemon, libc::SIGTERM) };
    wait_until_gone(daemon, Duration::from_secs(40));
    assert!(!env.home.join("run/m.sock").exists(), "socket left behind");
    assert_eq!(env.run_state(&run), "failed");
    let events = env.events(&run);
    assert!(finished(&events)["data"]["reason"]
        .as_str()
        .unwrap()
        .contains("daemon was stopped"));
    // The lock is free: a new daemon starts.
    env.ok(&["daemon", "start"]);
}

#[test]
fn a_stale_socket_does_not_block_and_a_second_daemon_is_refused() {
    let env = TestEnv::new();
    let run_dir = env.home.join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::set_permissions(&env.home, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    // A socket file nobody listens on, as a crash leaves it.
    let stale = std::os::unix::net::UnixListener::bind(run_dir.join("m.sock")).unwrap();
    drop(stale);
    env.ok(&["daemon", "start"]);
    let err = env.fails(&["daemon", "run"], 4);
    assert!(err.contains("already running"), "{err}");
    let socket = std::fs::metadata(run_dir.join("m.sock")).unwrap();
    assert_eq!(socket.mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&run_dir).unwrap().mode() & 0o777, 0o700);
}

#[test]
fn twenty_racing_clients_start_one_daemon() {
    let env = TestEnv::new();
    let children: Vec<_> = (0..20)
        .map(|_| {
            env.m()
                .args(["daemon", "start"])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut pids = std::collections::HashSet::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        pids.insert(text.trim().to_string());
    }
    assert_eq!(pids.len(), 1, "{pids:?}");
}

#[test]
fn without_autostart_a_missing_daemon_is_a_clear_error() {
    let env = TestEnv::new();
    env.repo("api");
    let out = env
        .m()
        .env("M_NO_AUTOSTART", "1")
        .args(["run", "start", "-r", "api", "x", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no m daemon is running") && err.contains("m daemon start"),
        "{err}"
    );
    // Nothing was half-made.
    assert!(env
        .json(&["run", "list", "--json"])
        .as_array()
        .unwrap()
        .is_empty());
    env.fails(&["daemon", "status"], 5);
}

#[test]
fn a_socket_directory_that_others_can_reach_is_refused() {
    let env = TestEnv::new();
    let run_dir = env.home.join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = env.fails(&["daemon", "run"], 1);
    assert!(
        err.contains("refusing to use") && err.contains("chmod 700"),
        "{err}"
    );

    let env = TestEnv::new();
    let elsewhere = env.dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::create_dir_all(&env.home).unwrap();
    std::os::unix::fs::symlink(&elsewhere, env.home.join("run")).unwrap();
    let err = env.fails(&["daemon", "run"], 1);
    assert!(err.contains("symbolic link"), "{err}");
}

#[test]
fn a_remote_repository_gets_a_mirror_and_a_worktree_from_it() {
    let env = TestEnv::new();
    env.remote_repo();
    let agent = env.script("agent.sh", "test -f README && echo change > new.txt");
    // Regression: `--wait` without a terminal printed every line of git's
    // fetch into the new mirror, although it says it prints only the slow
    // steps: a local fetch is quick.
    let out = env.run(&[
        "run",
        "start",
        "-r",
        "remote",
        "edit",
        "--wait",
        "--",
        agent.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(!err.contains("remote:") && !err.contains("From "), "{err}");
    let run = text(&out.stdout).trim().to_string();
    let mirrors: Vec<_> = std::fs::read_dir(env.home.join("mirrors"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".git")
        })
        .collect();
    assert_eq!(mirrors.len(), 1);
    assert!(env.ok(&["run", "diff", &run, "--stat"]).contains("new.txt"));
}

#[test]
fn a_bad_base_fails_the_run_with_gits_message_and_leaves_nothing() {
    let env = TestEnv::new();
    let repo = env.repo("api");
    let run = env.ok(&[
        "run",
        "start",
        "-r",
        "api",
        "x",
        "--base=--upload-pack=evil",
        "--",
        "true",
    ]);
    let run = run.trim();
    env.fails(&["run", "wait", run], 10);
    let reason = env.finished_reason(run);
    assert!(reason.contains("workspace"), "{reason}");
    let branches = env.git(&repo, &["branch", "--list", "m/*"]);
    assert!(branches.trim().is_empty(), "{branches}");
    assert!(!env.home.join("workspaces").join(run).exists());
    // Regression: `run show` listed the path of the workspace never made.
    let shown = env.json(&["run", "show", run, "--json"]);
    assert!(shown["workspace_path"].is_null(), "{shown}");
    assert_eq!(shown["finished"]["reason"].as_str(), Some(reason.as_str()));
    let text = env.ok(&["run", "show", run]);
    assert!(!text.contains("workspace "), "{text}");
    assert!(text.contains(&format!("reason     {reason}")), "{text}");
}

#[test]
fn run_rm_removes_the_workspace_but_keeps_an_unmerged_branch() {
    let env = TestEnv::new();
    let repo = env.repo("api");
    let agent = env.script("agent.sh", "echo x > x.txt");
    let run = env.start("api", "edit", &agent);
    env.fails(&["run", "wait", &run], 0);
    let out = env.ok(&["run", "rm", &run]);
    assert!(out.contains("kept"), "{out}");
    assert!(!env.home.join("workspaces").join(&run).exists());
    let branches = env.git(&repo, &["branch", "--list", "m/*"]);
    assert!(branches.contains(&run[..8]), "{branches}");
    env.fails(&["run", "show", &run], 3);
}

/// `m run start --wait ARGS`: the run's id (whatever the exit code).
fn start_and_wait(env: &TestEnv, repo: &str, agent: &str) -> (String, Option<i32>) {
    let out = env.run(&[
        "run", "start", "-r", repo, "x", "--wait", "--", "sh", "-c", agent,
    ]);
    let run = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(run.len(), 36, "{}", String::from_utf8_lossy(&out.stderr));
    (run, out.status.code())
}

/// Regression (data loss): the end-of-run commit landed where the agent had
/// left HEAD, and `m/<id>` stayed at its base while the run said completed;
/// `m run rm` then deleted the worktree and left the commit dangling.
#[test]
fn an_agent_that_leaves_its_branch_still_gets_its_work_on_it() {
    let env = TestEnv::new();
    let repo = env.repo("api");
    for leave in ["git checkout -q --detach", "git checkout -qb sneaky"] {
        let (run, code) = start_and_wait(&env, "api", &format!("{leave}; echo s > s.txt"));
        assert_eq!(code, Some(0), "{leave}");
        let branch = format!("m/{}", &run[..8]);
        let files = env.git(&repo, &["show", "--name-only", "--format=", &branch]);
        assert_eq!(files.trim(), "s.txt", "{leave}");
        let tip = env.git(&repo, &["rev-parse", &branch]).trim().to_string();
        let events = env.events(&run);
        let diff = events
            .iter()
            .find(|e| e["type"] == "workspace.diff")
            .unwrap();
        assert_eq!(diff["data"]["commit"], tip.as_str());
        let out = env.ok(&["run", "rm", &run]);
        assert!(out.contains(&format!("branch {branch} kept")), "{out}");
        assert_eq!(env.git(&repo, &["rev-parse", &branch]).trim(), tip);
    }
}

#[test]
fn work_that_cannot_reach_the_run_branch_fails_the_run_and_stays_in_place() {
    let env = TestEnv::new();
    env.repo("api");
    let (run, code) = start_and_wait(
        &env,
        "api",
        "echo a > a.txt && git add a.txt && git commit -qm a && \
         git checkout -q --detach HEAD~ && echo b > b.txt",
    );
    assert_eq!(code, Some(10));
    let workspace = env.home.join("workspaces").join(&run);
    let head = env
        .git(&workspace, &["rev-parse", "HEAD"])
        .trim()
        .to_string();
    let files = env.git(&workspace, &["show", "--name-only", "--format=", "HEAD"]);
    assert_eq!(files.trim(), "b.txt");
    let reason = env.finished_reason(&run);
    assert!(
        reason.contains(&head) && reason.contains("detached"),
        "{reason}"
    );
    assert!(reason.contains(&format!("m/{}", &run[..8])), "{reason}");
    assert!(env.events_of(&run, "workspace.diff").is_empty());

    let err = env.fails(&["run", "rm", &run], 4);
    assert!(err.contains(&head) && err.contains("it was kept"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert!(workspace.join("b.txt").exists());
    env.ok(&["run", "show", &run]);
}

/// Regression: `workspace.diff` was recorded (0 files, at the base) for a
/// run that changed nothing.
#[test]
fn a_run_that_changes_nothing_records_no_diff() {
    let env = TestEnv::new();
    env.repo("api");
    let (run, code) = start_and_wait(&env, "api", "true");
    assert_eq!(code, Some(0));
    let events = env.events(&run);
    assert!(
        events.iter().all(|e| e["type"] != "workspace.diff"),
        "{events:?}"
    );
}

/// Regression (data loss): after a daemon crash, recovery failed the run
/// without committing what its agent had written, and `m repo rm --force`
/// then deleted it with the workspace.
#[test]
fn a_killed_daemon_commits_what_the_agent_left_before_failing_the_run() {
    let env = TestEnv::new();
    let repo = env.repo("api");
    let (run, pids) = start_forking_agent(&env, "echo work > work.txt\n");
    env.kill_daemon();
    env.ok(&["daemon", "start"]);
    assert_eq!(env.run_state(&run), "failed");
    assert_all_gone(&pids);
    let branch = format!("m/{}", &run[..8]);
    let commit = env.git(&repo, &["log", "-1", "--format=%B", &branch]);
    assert!(commit.contains("Recovered: the daemon stopped"), "{commit}");
    assert!(commit.contains(&format!("M-Run: {run}")), "{commit}");
    let files = env.git(&repo, &["show", "--name-only", "--format=", &branch]);
    assert_eq!(files.trim(), "work.txt");
    let events = env.events(&run);
    let diff = events
        .iter()
        .find(|e| e["type"] == "workspace.diff")
        .unwrap();
    assert_eq!(diff["data"]["files"], 1);
    let reason = env.finished_reason(&run);
    assert!(
        reason.contains("daemon stopped") && reason.contains("committed"),
        "{reason}"
    );

    let out = env.ok(&["repo", "rm", "api", "--force"]);
    assert!(out.contains(&format!("Kept branch {branch}")), "{out}");
    assert!(env
        .git(&repo, &["show", &format!("{branch}:work.txt")])
        .contains("work"));
}

/// Regression: mirror lock files were created 0644 and left behind when
/// their repo was removed.
#[test]
fn a_mirror_lock_file_is_private_and_goes_with_its_repo() {
    let env = TestEnv::new();
    env.remote_repo();
    let (_, code) = start_and_wait(&env, "remote", "true");
    assert_eq!(code, Some(0));
    let mirrors = env.home.join("mirrors");
    let locks = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&mirrors)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "lock"))
            .collect()
    };
    let found = locks();
    assert_eq!(found.len(), 1, "{found:?}");
    let mode = std::fs::metadata(&found[0]).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    env.ok(&["repo", "rm", "remote", "--force"]);
    assert_eq!(locks(), Vec::<std::path::PathBuf>::new());
}

/// Regression: a data directory deep enough that `M_HOME/run/m.sock` is
/// past the OS's limit for socket paths (107 bytes) used to make every
/// daemon command fail.
#[test]
fn a_deep_data_directory_still_gets_a_daemon() {
    let env = TestEnv::new();
    let deep = env
        .dir
        .path()
        .join("a".repeat(60))
        .join("b".repeat(60))
        .join("m");
    let m = |args: &[&str]| {
        let out = env.m().env("M_HOME", &deep).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "m {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    m(&["repo", "add", "--scratch", "--name", "notes"]);
    let run = m(&[
        "run", "start", "-r", "notes", "hi", "--wait", "--", "echo", "hello",
    ]);
    let shown: serde_json::Value =
        serde_json::from_str(&m(&["run", "show", run.trim(), "--json"])).unwrap();
    assert_eq!(shown["state"], "completed", "{shown}");
    let status: serde_json::Value =
        serde_json::from_str(&m(&["daemon", "status", "--json"])).unwrap();
    let socket = status["daemon"]["socket"].as_str().unwrap().to_string();
    assert!(socket.len() <= 107, "{socket}");
    m(&["daemon", "stop"]);
    assert!(!std::path::Path::new(&socket).exists());
    let _ = std::fs::remove_dir(std::path::Path::new(&socket).parent().unwrap());
}

/// A prompt may start with `-`; a lone word like `--jsn` is a mistyped
/// option, not a prompt.
#[test]
fn a_prompt_may_start_with_a_hyphen() {
    let env = TestEnv::new();
    env.repo("api");
    let run = env.ok(&[
        "run",
        "start",
        "-r",
        "api",
        "-fix the thing",
        "--wait",
        "--",
        "true",
    ]);
    assert_eq!(
        env.json(&["run", "show", run.trim(), "--json"])["prompt"],
        "-fix the thing"
    );
    let run = env.ok(&[
        "run",
        "start",
        "--- is a bad heading",
        "-r",
        "api",
        "--wait",
        "--",
        "true",
    ]);
    assert_eq!(
        env.json(&["run", "show", run.trim(), "--json"])["prompt"],
        "--- is a bad heading"
    );
    let err = env.fails(&["run", "start", "-r", "api", "--jsn", "--", "true"], 2);
    assert!(err.contains("unexpected argument '--jsn'"), "{err}");
    assert!(err.contains("'--json'"), "suggests the option meant: {err}");
    // Regression: a word after the mistyped option was blamed instead.
    let err = env.fails(
        &["run", "start", "-r", "api", "--jsn", "hi", "--", "true"],
        2,
    );
    assert!(err.contains("unexpected argument '--jsn'"), "{err}");
    assert!(err.contains("'--json'"), "{err}");
    assert!(!err.contains("'hi'"), "{err}");
    assert!(err.contains("Usage: m run start"), "{err}");
    assert_eq!(
        env.count("SELECT count(*) FROM runs"),
        2,
        "the two runs above only"
    );
}

/// `m run wait --timeout` gives up with 124 (as `timeout` does), saying how
/// the run stands; the run goes on.
#[test]
fn run_wait_gives_up_after_its_timeout_with_124() {
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script("slow.sh", "sleep 60");
    let run = env.start("api", "take your time", &agent);
    let out = env.run(&["run", "wait", &run, "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(124), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("is still running after 1s"), "{err}");
    assert_eq!(env.run_state(&run), "running");
    let err = env.fails(&["run", "wait", &run, "--timeout", "soon"], 2);
    assert!(err.contains("not a duration"), "{err}");
    env.ok(&["run", "cancel", &run]);
    // A run that has ended answers at once, whatever the timeout.
    let out = env.run(&["run", "wait", &run, "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(11));
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Regression: a follower whose reader went away (`| head -3`) waited for
/// the next event to fail writing it: forever, for a quiet run.
#[test]
fn a_follower_whose_reader_goes_away_ends_quietly() {
    let env = TestEnv::new();
    env.repo("api");
    env.repo("web");
    let agent = env.script("quiet.sh", "sleep 600");
    let run = env.start("api", "x", &agent);
    let spawn = |args: &[&str]| {
        env.m()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let agent = agent.to_str().unwrap();
    let followers = [
        (spawn(&["events", &run, "--follow"]), true),
        (
            spawn(&["run", "start", "-r", "web", "y", "--follow", "--", agent]),
            true,
        ),
        // Every run is quiet: this one may never print a line.
        (spawn(&["events", "--all", "--follow"]), false),
    ];
    for (mut follower, prints) in followers {
        // Go away once what there was to read is read, while the run is quiet.
        let mut reader = BufReader::new(follower.stdout.take().unwrap());
        if prints {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            assert!(!line.is_empty());
        }
        drop(reader);
        let deadline = Instant::now() + Duration::from_secs(20);
        while follower.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = follower.kill();
                panic!("a follower outlived its reader by 20 seconds");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = follower.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&out.stderr), "");
    }
}

/// Regression: following a run that had ended needed a daemon (exit 5).
#[test]
fn following_an_ended_run_needs_no_daemon() {
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script("agent.sh", "echo one; exit 3");
    let run = env.start("api", "x", &agent);
    env.fails(&["run", "wait", &run], 10);
    env.ok(&["daemon", "stop"]);
    let follow = |args: &[&str]| {
        let out = env
            .m()
            .env("M_NO_AUTOSTART", "1")
            .args(["events", &run, "--follow"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(10), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let all = follow(&[]);
    assert!(all.contains("stdout| one"), "{all}");
    assert!(
        all.lines().last().unwrap().contains("run.finished"),
        "{all}"
    );
    let since = follow(&["--json", "--since", "1", "--type", "output"]);
    let lines: Vec<serde_json::Value> = since
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{since}");
    assert_eq!(lines[0]["data"]["lines"][0], "one");
}

/// Regression: a failed `--wait` printed only the id; on a terminal its
/// reason was erased with the spinner. stdout stays the id alone.
#[test]
fn a_failed_or_cancelled_wait_says_why_on_stderr() {
    let env = TestEnv::new();
    env.repo("api");
    let out = env.run(&[
        "run",
        "start",
        "-r",
        "api",
        "x",
        "--wait",
        "--",
        "sh",
        "-c",
        "echo boom >&2; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(10));
    let run = text(&out.stdout);
    assert_eq!(run.lines().count(), 1, "{run}");
    let run = run.trim();
    let said = format!("run {} failed: the agent exited with status 7\n", &run[..8]);
    assert_eq!(text(&out.stderr), said);
    // `run wait` of the ended run says the same.
    assert_eq!(env.fails(&["run", "wait", run], 10), said);

    let agent = env.script("sleep.sh", "sleep 30");
    let run = env.start("api", "x", &agent);
    let waiter = env
        .m()
        .args(["run", "wait", &run])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    env.wait_state(&run, "running");
    env.ok(&["run", "cancel", &run]);
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(11));
    assert_eq!(text(&out.stderr), format!("run {} cancelled\n", &run[..8]));
    assert_eq!(text(&out.stdout), "");
}

/// Regression: `run show` did not say how a run ended.
#[test]
fn run_show_tells_how_a_finished_run_ended() {
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script("agent.sh", "echo 'cannot find fixture' >&2; exit 3");
    let run = env.start("api", "x", &agent);
    env.fails(&["run", "wait", &run], 10);
    let shown = env.json(&["run", "show", &run, "--json"]);
    let finished = &shown["finished"];
    assert_eq!(finished["state"], "failed", "{shown}");
    assert_eq!(finished["reason"], "the agent exited with status 3");
    assert_eq!(finished["exit_code"], 3);
    assert_eq!(
        finished["stderr_tail"],
        serde_json::json!(["cannot find fixture"])
    );
    let text = env.ok(&["run", "show", &run]);
    for line in [
        "reason     the agent exited with status 3",
        "exit code  3",
        "stderr     cannot find fixture",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
    }
}

/// Regression: `run start --follow --json` printed the run as pretty JSON,
/// then the events as text. Now every line is one event, as with
/// `m events --follow --json`.
#[test]
fn start_follow_json_prints_only_event_lines() {
    let env = TestEnv::new();
    env.repo("api");
    let out = env.run(&[
        "run", "start", "-r", "api", "x", "--follow", "--json", "--", "echo", "hi",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}\n{stdout}")))
        .collect();
    assert_eq!(events[0]["type"], "run.created", "{stdout}");
    assert_eq!(events.last().unwrap()["type"], "run.finished", "{stdout}");
    let run = events[0]["run_id"].as_str().unwrap();
    assert!(events.iter().all(|e| e["run_id"] == run), "{stdout}");
    assert!(events
        .iter()
        .any(|e| e["type"] == "output" && e["data"]["lines"][0] == "hi"));
}

/// Regression: `run start --wait --json` printed the run as it started
/// (`running`) although it exited 10.
#[test]
fn start_wait_json_prints_the_run_as_it_ended() {
    let env = TestEnv::new();
    env.repo("api");
    let out = env.run(&[
        "run", "start", "-r", "api", "x", "--wait", "--json", "--", "false",
    ]);
    assert_eq!(out.status.code(), Some(10));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["state"], "failed", "{run}");
    assert_eq!(env.run_state(run["id"].as_str().unwrap()), "failed");
}

/// Regression: Ctrl-C while following or waiting on a run left the
/// spinner's line on screen and said nothing, although the run goes on.
#[test]
fn ctrl_c_while_following_says_the_run_goes_on_and_how_to_stop_it() {
    let env = TestEnv::new();
    env.repo("api");
    let started = env.dir.path().join("started");
    let agent = env.script(
        "slow.sh",
        &format!("echo working; touch '{}'; sleep 60", started.display()),
    );
    let interrupt = |terminal: common::Terminal| {
        unsafe { libc::kill(terminal.child.id() as i32, libc::SIGINT) };
        terminal.finish()
    };
    let mut cmd = env.m();
    cmd.args(["run", "start", "-r", "api", "work", "--wait", "--"])
        .arg(&agent);
    let terminal = common::Terminal::spawn(cmd);
    while !started.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let run: String = env.json(&["run", "list", "--json"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let short = &run[..8];
    let (code, printed) = interrupt(terminal);
    assert_eq!(code, Some(130), "{printed}");
    let said = format!("\r\x1b[2Krun {short} continues; m run cancel {short} stops it");
    assert!(printed.contains(&said), "{printed:?}");
    assert_eq!(env.run_state(&run), "running");

    for (args, shown) in [
        (["events", &run, "--follow"], "run.created"),
        (["run", "wait", &run], short),
    ] {
        let mut cmd = env.m();
        cmd.args(args);
        let terminal = common::Terminal::spawn(cmd);
        // It follows: the backlog, or the spinner, is on screen.
        terminal.wait_for(shown);
        let (code, printed) = interrupt(terminal);
        assert_eq!(code, Some(130), "{args:?}: {printed}");
        assert!(printed.contains(&said[4..]), "{args:?}: {printed:?}");
    }
    // Without a terminal: the same line, nothing to clear.
    let mut child = env
        .m()
        .args(["events", &run, "--follow"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut first,
    )
    .unwrap();
    assert!(first.contains("run.created"), "{first}");
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(
        text(&out.stderr),
        format!("run {short} continues; m run cancel {short} stops it\n")
    );
    assert_eq!(env.run_state(&run), "running");
    env.ok(&["run", "cancel", &run]);
}

/// On a terminal, `--wait` and `--follow` end with a line that says how the
/// run ended (the spinner that showed it is gone).
#[test]
fn wait_and_follow_on_a_terminal_end_with_the_runs_state() {
    let env = TestEnv::new();
    env.repo("api");
    for mode in ["--wait", "--follow"] {
        let mut cmd = env.m();
        cmd.args(["run", "start", "-r", "api", "nothing", mode, "--", "true"]);
        let (code, printed) = common::Terminal::spawn(cmd).finish();
        assert_eq!(code, Some(0), "{printed}");
        let run = env.json(&["run", "list", "--json"])[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let short = &run[..8];
        let said = format!("run {short} completed on branch m/{short}");
        assert!(printed.contains(&said), "{mode}: {printed:?}");
    }
}

/// Regression: an agent got the daemon's environment, not that of the
/// `m run start` that asked for it (`FOO=x m run start ... -- sh -c 'echo
/// $FOO'` printed nothing; a PATH given to the command did not find the
/// agent). The environment is never stored.
#[test]
fn an_agent_gets_the_environment_of_the_command_that_started_it() {
    let env = TestEnv::new();
    env.repo("api");
    // A daemon started without the variables below.
    env.ok(&["run", "start", "-r", "api", "first", "--wait", "--", "true"]);
    // (The command line is stored: it must not hold the value itself.)
    let check =
        r#"test ${#MY_TOKEN} -eq 11 && echo token-ok; test -f "$M_PROMPT_FILE" && echo m-vars-ok"#;
    let out = env
        .m()
        .env("MY_TOKEN", "s3cret-4711")
        .args([
            "run", "start", "-r", "api", "env", "--wait", "--", "sh", "-c", check,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let run = text(&out.stdout).trim().to_string();
    let printed = env.ok(&["events", &run, "--type", "output"]);
    assert!(
        printed.contains("token-ok") && printed.contains("m-vars-ok"),
        "{printed}"
    );
    for file in ["m.db", "m.db-wal", "logs/daemon.log"] {
        let bytes = std::fs::read(env.home.join(file)).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("s3cret-4711"),
            "the caller's environment is in {file}"
        );
    }

    // An agent on the caller's PATH only: found, as `m agents` says.
    let bin = env.dir.path().join("callers-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_fake-acp-agent"), bin.join("my-claude"))
        .unwrap();
    env.write_config("[agents.claude]\ncommand = [\"my-claude\", \"basic\"]\n");
    let installed = |path: Option<&str>| {
        let mut cmd = env.m();
        if let Some(path) = path {
            cmd.env("PATH", path);
        }
        let out = cmd.args(["agents", "--json"]).output().unwrap();
        let agents: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        agents
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "claude")
            .unwrap()["installed"]
            .as_bool()
            .unwrap()
    };
    let callers_path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    assert!(!installed(None));
    assert!(installed(Some(&callers_path)));
    let out = env
        .m()
        .env("PATH", &callers_path)
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let doctor: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let agents = doctor["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "agents")
        .unwrap();
    assert!(
        agents["detail"]
            .as_str()
            .unwrap()
            .contains("on PATH: claude"),
        "{agents}"
    );
    let out = env
        .m()
        .env("PATH", &callers_path)
        .args([
            "run", "start", "-r", "api", "hello", "--agent", "claude", "--once", "--wait",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Without it, refused before any run exists, as `m agents` says.
    let before = env.count("SELECT count(*) FROM runs");
    let err = env.fails(
        &[
            "run", "start", "-r", "api", "hi", "--agent", "claude", "--once",
        ],
        3,
    );
    assert!(err.contains("'my-claude' is not on PATH"), "{err}");
    assert_eq!(env.count("SELECT count(*) FROM runs"), before);
}

/// Regression: prompts over 128 KiB failed their run with "Argument list too
/// long" (Linux caps one environment string at 128 KiB). Every prompt up to
/// the limit reaches the agent: in the file M_PROMPT_FILE names, and in
/// M_PROMPT when it fits; a longer one is refused before any run exists.
#[test]
fn prompts_up_to_a_mebibyte_reach_the_agent() {
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script(
        "count.sh",
        r#"echo "file $(wc -c < "$M_PROMPT_FILE")"; echo "env ${#M_PROMPT}""#,
    );
    for (size, in_env) in [
        (100 * 1024, true),
        (200 * 1024, false),
        (1024 * 1024, false),
    ] {
        let prompt = "p".repeat(size - 1) + "\n";
        let mut child = env
            .m()
            .args(["run", "start", "-r", "api", "-", "--wait", "--"])
            .arg(&agent)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), prompt.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{size}: {}", text(&out.stderr));
        let run = text(&out.stdout).trim().to_string();
        let printed = env.ok(&["events", &run, "--type", "output"]);
        assert!(
            printed.contains(&format!("file {size}")),
            "{size}: {printed}"
        );
        let env_len = if in_env { size } else { 0 };
        assert!(
            printed.contains(&format!("env {env_len}")),
            "{size}: {printed}"
        );
    }
    let runs = env.count("SELECT count(*) FROM runs");
    let mut child = env
        .m()
        .args(["run", "start", "-r", "api", "-", "--"])
        .arg(&agent)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let too_long = "p".repeat(1024 * 1024 + 1);
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), too_long.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("the limit is 1024 KiB"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(env.count("SELECT count(*) FROM runs"), runs);
}

/// Regression: a run's commit said `m run 97901ab6` and nothing else.
#[test]
fn a_runs_commit_says_what_it_was_asked_with_an_m_run_trailer() {
    let env = TestEnv::new();
    let repo = env.repo("api");
    let prompt = "Fix the flaky test\n\nIt is the one in tests/net.rs; keep the retry.";
    let out = env.run(&[
        "run",
        "start",
        "-r",
        "api",
        prompt,
        "--wait",
        "--",
        "sh",
        "-c",
        "echo fixed > fix.txt",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let run = text(&out.stdout).trim().to_string();
    let branch = format!("m/{}", &run[..8]);
    let message = env.git(&repo, &["log", "-1", "--format=%B", &branch]);
    assert_eq!(
        message.trim_end(),
        format!(
            "Fix the flaky test\n\nIt is the one in tests/net.rs; keep the retry.\n\nM-Run: {run}"
        )
    );
    let trailer = env.git(
        &repo,
        &[
            "log",
            "-1",
            "--format=%(trailers:key=M-Run,valueonly)",
            &branch,
        ],
    );
    assert_eq!(trailer.trim(), run);
}

/// `m run rm` takes several runs; `m run prune` removes finished runs
/// (older than, in a state), keeping every branch not merged yet.
#[test]
fn run_rm_takes_several_runs_and_prune_keeps_unmerged_work() {
    let env = TestEnv::new();
    let repo = env.repo("api");
    let start = |prompt: &str, script: &str| -> String {
        let out = env.run(&[
            "run", "start", "-r", "api", prompt, "--wait", "--", "sh", "-c", script,
        ]);
        text(&out.stdout).trim().to_string()
    };
    let a = start("nothing", "true");
    let b = start("fail", "exit 3");
    let c = start("work", "echo x > work.txt");
    let d = start("nothing again", "true");
    let removed = env.ok(&["run", "rm", &a[..8], &b[..8]]);
    assert!(
        removed.contains(&format!("Removed run {}", &a[..8]))
            && removed.contains(&format!("Removed run {}", &b[..8])),
        "{removed}"
    );
    assert_eq!(env.count("SELECT count(*) FROM runs"), 2);
    // Nothing is removed when one id is unknown.
    env.fails(&["run", "rm", &c, "ffffffff"], 3);
    assert_eq!(env.count("SELECT count(*) FROM runs"), 2);

    assert!(env
        .ok(&["run", "prune", "--older-than", "1h"])
        .contains("No finished run"));
    assert!(env
        .ok(&["run", "prune", "--state", "failed"])
        .contains("No finished run"));
    let err = env.fails(&["run", "prune", "--state", "running"], 2);
    assert!(err.contains("only finished runs"), "{err}");
    let pruned = env.ok(&["run", "prune"]);
    assert!(
        pruned.contains(&format!("Removed run {}", &d[..8])),
        "{pruned}"
    );
    let kept = format!("branch m/{} kept: it has 1 commit not merged", &c[..8]);
    assert!(pruned.contains(&kept), "{pruned}");
    assert_eq!(env.count("SELECT count(*) FROM runs"), 0);
    let branches = env.git(&repo, &["branch", "--list", "m/*"]);
    assert_eq!(branches.trim(), format!("m/{}", &c[..8]), "{branches}");
}

/// `--force` removes what `m run rm` and `m run prune` keep: changes left
/// in a workspace, and a branch whose commits are merged nowhere, whose
/// tip is printed to bring it back.
#[test]
fn run_rm_and_prune_with_force_remove_unmerged_work_and_say_how_to_get_it_back() {
    let env = TestEnv::new();
    let repo = env.repo("api");
    let start = |prompt: &str, script: &str| -> String {
        let out = env.run(&[
            "run", "start", "-r", "api", prompt, "--wait", "--", "sh", "-c", script,
        ]);
        text(&out.stdout).trim().to_string()
    };
    let worked = start("work", "echo x > work.txt");
    let branch = format!("m/{}", &worked[..8]);
    let tip = env.git(&repo, &["rev-parse", &branch]).trim().to_string();
    // Changes made in the workspace after the run ended are on no branch.
    let show = env.json(&["run", "show", &worked, "--json"]);
    let workspace = std::path::PathBuf::from(show["workspace_path"].as_str().unwrap());
    std::fs::write(workspace.join("later.txt"), "edited by hand").unwrap();

    let err = env.fails(&["run", "rm", &worked[..8]], 4);
    assert!(err.contains("changes not committed"), "{err}");
    assert!(workspace.join("later.txt").exists());
    assert_eq!(env.count("SELECT count(*) FROM runs"), 1);

    let removed = env.ok(&["run", "rm", "--force", &worked[..8]]);
    let bring_back = format!("git branch {branch} {tip}");
    assert!(removed.contains(&bring_back), "{removed}");
    assert!(!workspace.exists(), "the workspace stayed");
    assert!(env
        .git(&repo, &["branch", "--list", &branch])
        .trim()
        .is_empty());
    assert_eq!(env.count("SELECT count(*) FROM runs"), 0);
    // The printed command brings the work back.
    env.git(&repo, &["branch", &branch, &tip]);
    assert!(env
        .git(&repo, &["show", &format!("{branch}:work.txt")])
        .contains('x'));
    env.git(&repo, &["branch", "-D", &branch]);

    // prune --force likewise.
    let other = start("more work", "echo y > more.txt");
    let other_branch = format!("m/{}", &other[..8]);
    let kept = env.ok(&["run", "prune"]);
    assert!(kept.contains("kept: it has 1 commit not merged"), "{kept}");
    assert_eq!(
        env.git(&repo, &["branch", "--list", &other_branch]).trim(),
        other_branch
    );
    let again = start("again", "echo z > again.txt");
    let pruned = env.ok(&["run", "prune", "--force"]);
    assert!(
        pruned.contains(&format!(
            "branch m/{} deleted with its unmerged work",
            &again[..8]
        )),
        "{pruned}"
    );
    assert!(env
        .git(&repo, &["branch", "--list", &format!("m/{}", &again[..8])])
        .trim()
        .is_empty());
}

/// `run start --json`, `--wait --json`, `run list --json` and `run show
/// --json` print a run as one object with the same keys (README "Run
/// JSON"), a queued run included; a script needs no `cut` for a branch.
#[test]
fn every_command_prints_a_run_in_one_json_shape() {
    let env = TestEnv::new();
    env.repo("api");
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut keys: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
        keys.sort();
        keys
    };
    let waited = env.json(&[
        "run",
        "start",
        "-r",
        "api",
        "first line\nmore",
        "--wait",
        "--json",
        "--",
        "sh",
        "-c",
        "echo x > x.txt",
    ]);
    let id = waited["id"].as_str().unwrap().to_string();
    let shown = env.json(&["run", "show", &id, "--json"]);
    let listed = env.json(&["run", "list", "--json"]);
    assert_eq!(waited, shown, "--wait --json and show --json differ");
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0], shown, "list --json and show --json differ");
    assert_eq!(shown["state"], "completed");
    assert_eq!(shown["repo"], "api");
    assert_eq!(shown["prompt"], "first line\nmore");
    assert_eq!(shown["branch"], format!("m/{}", &id[..8]));
    assert!(shown["finished"]["reason"].is_string(), "{shown}");
    assert!(shown["base_commit"].is_string(), "{shown}");
    assert!(shown["position"].is_null());
    let want = keys(&shown);
    for key in [
        "id",
        "repo_id",
        "repo",
        "prompt",
        "state",
        "position",
        "base",
        "branch",
        "base_commit",
        "workspace_path",
        "agent",
        "created_at",
        "updated_at",
        "events",
        "finished",
        "pending_approvals",
        "pending_questions",
        "usage",
    ] {
        assert!(want.contains(&key.to_string()), "no {key} in {want:?}");
    }

    // A run that waits, and one queued behind it, in the same shape.
    let gate = env.dir.path().join("gate");
    let hold = format!("while [ ! -e '{}' ]; do sleep 0.05; done", gate.display());
    let started = env.json(&[
        "run", "start", "-r", "api", "hold", "--json", "--", "sh", "-c", &hold,
    ]);
    assert_eq!(keys(&started), want);
    assert_eq!(started["state"], "running");
    let queued = env.json(&[
        "run", "start", "-r", "api", "later", "--queue", "--base", "HEAD", "--json", "--", "true",
    ]);
    assert_eq!(keys(&queued), want);
    assert_eq!(queued["state"], "queued");
    assert_eq!(queued["position"], 1);
    assert_eq!(queued["base"], "HEAD");
    let queued_id = queued["id"].as_str().unwrap();
    assert_eq!(env.json(&["run", "show", queued_id, "--json"]), queued);
    let listed = env.json(&["run", "list", "--json"]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0], queued, "queued runs come first");
    for run in listed {
        assert_eq!(keys(run), want);
    }
    std::fs::write(&gate, "").unwrap();
    let later = env.run(&["run", "wait", queued_id]);
    assert_eq!(later.status.code(), Some(0));
    let later = env.json(&["run", "show", queued_id, "--json"]);
    assert_eq!(keys(&later), want);
    assert_eq!(later["state"], "completed");
    assert!(later["position"].is_null());
}

/// Found by `queue::the_queue_survives_a_killed_daemon_and_starts_after_recovery`
/// under load: a daemon killed while `git worktree add` wrote its record of
/// a run's worktree left that record locked ("initializing", which `git
/// worktree prune` keeps) and incomplete, and every later run of the repo
/// failed (`failed to read .git/worktrees/ID/commondir`). Recovery now
/// undoes what the cut-short add made: the record, the directory, the
/// branch.
#[test]
fn a_worktree_add_cut_short_by_a_killed_daemon_does_not_break_the_next_run() {
    let env = TestEnv::new();
    let repo = env.repo("api");
    // The add waits in its post-checkout hook: the daemon is killed there.
    let hook = repo.join(".git/hooks/post-checkout");
    std::fs::write(&hook, "#!/bin/sh\nsleep 30\n").unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let first = env
        .ok(&["run", "start", "-r", "api", "cut short", "--", "true"])
        .trim()
        .to_string();
    let record = repo.join(".git/worktrees").join(&first);
    let started = Instant::now();
    while !record.join("commondir").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "git never got there"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    env.kill_daemon();
    std::fs::remove_file(&hook).unwrap();
    // Killed a moment earlier, between making a file and writing it, git
    // leaves this:
    std::fs::write(record.join("locked"), "initializing").unwrap();
    std::fs::write(record.join("commondir"), "").unwrap();
    let out = std::process::Command::new("git")
        .current_dir(&repo)
        .args(["worktree", "add", "-q", "-b", "probe"])
        .arg(env.dir.path().join("probe"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("commondir"),
        "git takes such a record in its stride now: {err}"
    );
    env.ok(&["daemon", "start"]);
    assert_eq!(env.run_state(&first), "failed");
    assert!(!record.exists(), "the record of the cut-short add is left");
    assert!(!env.home.join("workspaces").join(&first).exists());
    let branches = env.git(&repo, &["branch", "--list", "m/*"]);
    assert_eq!(branches.trim(), "", "the branch made for it is left");
    let ok = env.script("ok.sh", "echo ok > ok.txt");
    let next = env.start("api", "next", &ok);
    env.wait_state(&next, "completed");
}
