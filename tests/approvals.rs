//! Approvals and questions through the real binary: shell-script agents
//! that stop with `m ask`, humans that answer with `m approve`, `m reject`
//! and `m reply`.

use crate::common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::TestEnv;

/// Waits until the run has `n` pending approvals; returns their ids.
fn pending(env: &TestEnv, run: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = env.json(&["approvals", "--run", run, "--json"]);
        let ids: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect();
        if ids.len() >= n {
            return ids;
        }
        assert!(
            Instant::now() < deadline,
            "run {run}: {} pending, wanted {n}",
            ids.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Who decided each of the run's approvals, in order (`human`, `policy`, ...).
fn resolved_by(env: &TestEnv, run: &str) -> Vec<String> {
    env.events_of(run, "approval.resolved")
        .iter()
        .map(|e| e["data"]["by"]["kind"].as_str().unwrap().to_string())
        .collect()
}

fn read(env: &TestEnv, name: &str) -> String {
    std::fs::read_to_string(env.dir.path().join(name)).unwrap_or_default()
}

#[test]
fn an_approved_command_proceeds_and_a_rejected_one_gets_the_reason() {
    let env = TestEnv::new();
    env.repo("api");
    let out = env.dir.path().join("out");
    let agent = env.script(
        "agent.sh",
        &format!(
            r#"m ask approval --type command -- echo published > {0}.1; echo "first=$?" >> {0}
reason=$(m ask approval --type command --title "drop the table" -- psql -c 'drop table x'); echo "second=$? $reason" >> {0}"#,
            out.display()
        ),
    );
    let run = env.start("api", "publish", &agent);
    env.fails(&["run", "wait", &run], 12);
    let shown = env.ok(&["approval", "show", &run]);
    assert!(shown.contains("$ echo published"), "{shown}");
    let listed = env.ok(&["approvals"]);
    assert!(
        listed.contains("command") && listed.contains("api"),
        "{listed}"
    );
    env.ok(&["approve", &run]);
    let ids = pending(&env, &run, 1);
    let shown = env.ok(&["approval", "show", &ids[0]]);
    assert!(shown.contains("drop the table"), "{shown}");
    env.ok(&["reject", &ids[0], "--reason", "never in production"]);
    env.fails(&["run", "wait", &run], 0);
    assert_eq!(read(&env, "out"), "first=0\nsecond=1 never in production\n");
    // The approved command ran in m's place, with m's stdout.
    assert_eq!(read(&env, "out.1"), "published\n");

    let all = env.approvals_of(&run);
    let states: Vec<&str> = all.iter().map(|a| a["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["approved", "rejected"]);
    assert_eq!(all[1]["rejection_reason"], "never in production");
    assert!(all[1]["resolved_at"].as_i64().is_some());
    let types: Vec<String> = env
        .event_types(&run)
        .into_iter()
        .filter(|t| t.starts_with("approval."))
        .collect();
    assert_eq!(
        types,
        [
            "approval.requested",
            "approval.resolved",
            "approval.requested",
            "approval.resolved"
        ]
    );
}

#[test]
fn two_pending_approvals_keep_the_run_waiting_until_both_are_decided() {
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script(
        "agent.sh",
        "m ask approval --type generic --title one &\nm ask approval --type generic --title two &\nwait",
    );
    let run = env.start("api", "two", &agent);
    let ids = pending(&env, &run, 2);
    let err = env.fails(&["approve", &run], 2);
    assert!(err.contains("2 pending approvals"), "{err}");
    env.ok(&["approve", &ids[0]]);
    assert_eq!(env.run_state(&run), "waiting_approval");
    env.ok(&["approve", &ids[1]]);
    env.fails(&["run", "wait", &run], 0);
}

/// Regression: deciding an approval while a question was open wrote two
/// `run.state` events (the store's `running`, then the supervisor's
/// `waiting_input`); the store alone now says what the run waits for next.
#[test]
fn a_decision_with_a_question_open_moves_the_run_to_waiting_input_once() {
    let env = TestEnv::new();
    env.repo("api");
    let gate = env.dir.path().join("gate");
    let agent = env.script(
        "agent.sh",
        &format!(
            "m ask input 'which db?' > /dev/null &
             while [ ! -e '{}' ]; do sleep 0.05; done
             m ask approval --type generic --title go
wait",
            gate.display()
        ),
    );
    let run = env.start("api", "both", &agent);
    env.wait_state(&run, "waiting_input");
    std::fs::write(&gate, "").unwrap();
    let ids = pending(&env, &run, 1);
    assert_eq!(env.run_state(&run), "waiting_approval");
    env.ok(&["approve", &ids[0]]);
    env.wait_state(&run, "waiting_input");
    let types = env.event_types(&run);
    let resolved = types.iter().position(|t| t == "approval.resolved").unwrap();
    let after: Vec<&String> = types[resolved..]
        .iter()
        .filter(|t| *t == "run.state")
        .collect();
    assert_eq!(after.len(), 1, "{types:?}");
    env.ok(&["reply", &run, "sqlite"]);
    env.fails(&["run", "wait", &run], 0);
}

/// `m approve --always` is m's own grant for the rest of the run, for any
/// approval: the same request again is approved without asking anyone.
#[test]
fn approve_always_approves_the_same_request_again_for_the_rest_of_the_run() {
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script(
        "agent.sh",
        "m ask approval --type generic --title deploy\n\
         m ask approval --type generic --title deploy\n\
         m ask approval --type generic --title migrate",
    );
    let run = env.start("api", "deploy", &agent);
    env.fails(&["run", "wait", &run], 12);
    let said = env.ok(&["approve", &run, "--always"]);
    assert!(
        said.contains("and again for the rest of the run: \"deploy\""),
        "{said}"
    );
    // The second deploy is m's to approve; the migration is not.
    env.fails(&["run", "wait", &run], 12);
    let approvals = env.approvals_of(&run);
    assert_eq!(approvals.len(), 3, "{approvals:#?}");
    let again = approvals
        .iter()
        .filter(|a| a["payload"]["title"] == "deploy" && a["state"] == "approved")
        .count();
    assert_eq!(again, 2, "{approvals:#?}");
    let events = env.events(&run);
    let granted = events
        .iter()
        .find(|e| e["type"] == "approval.always")
        .unwrap();
    assert_eq!(granted["data"]["grant"]["title"], "deploy");
    assert_eq!(granted["data"]["persist"], false);
    let by_policy = events
        .iter()
        .filter(|e| e["type"] == "approval.resolved" && e["data"]["by"]["kind"] == "policy")
        .count();
    assert_eq!(by_policy, 1, "{events:#?}");
    let said = env.ok(&["approve", &run, "--persist"]);
    assert!(said.contains("offers no 'always' of its own"), "{said}");
    env.fails(&["run", "wait", &run], 0);
    // Nor can a script claim to offer it.
    let agent = env.script(
        "forger.sh",
        r#"m ask approval --type generic --payload '{"title": "x", "optionKinds": ["allow_always"]}'"#,
    );
    let run = env.start("api", "forge", &agent);
    env.fails(&["run", "wait", &run], 10);
    assert!(env
        .ok(&["run", "show", &run])
        .contains("--payload cannot set `optionKinds`"));
}

/// Starts a run on a new repo `api` whose agent asks "which database?" and
/// writes "got ANSWER" to the file `answer`; returns once it waits.
fn start_asking_agent(env: &TestEnv) -> String {
    env.repo("api");
    let agent = env.script(
        "agent.sh",
        &format!(
            r#"answer=$(m ask input "which database?"); echo "got $answer" > {}"#,
            env.dir.path().join("answer").display()
        ),
    );
    let run = env.start("api", "ask", &agent);
    env.fails(&["run", "wait", &run], 13);
    run
}

#[test]
fn a_question_is_answered_with_reply() {
    let env = TestEnv::new();
    let run = start_asking_agent(&env);
    let events = env.events(&run);
    assert!(events
        .iter()
        .any(|e| e["type"] == "input.requested" && e["data"]["question"] == "which database?"));
    env.ok(&["reply", &run, "staging"]);
    env.fails(&["run", "wait", &run], 0);
    assert_eq!(read(&env, "answer"), "got staging\n");
    // Nothing waits now.
    env.fails(&["reply", &run, "again"], 4);
}

/// Regression: an empty reply was accepted, and the agent got an empty
/// prompt (a wasted turn).
#[test]
fn an_empty_reply_is_refused_and_the_question_stays_open() {
    let env = TestEnv::new();
    let run = start_asking_agent(&env);
    for text in ["", "  "] {
        let err = env.fails(&["reply", &run, text], 2);
        assert!(err.contains("the reply is empty"), "{err}");
        assert!(err.contains("m run done"), "{err}");
    }
    for stdin in ["", "\n"] {
        let mut reply = env
            .m()
            .args(["reply", &run, "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        reply
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = reply.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(2), "stdin {stdin:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("the reply is empty"));
    }
    assert_eq!(env.run_state(&run), "waiting_input");
    assert!(env.events_of(&run, "input.provided").is_empty());
    env.ok(&["reply", &run, "staging"]);
    env.fails(&["run", "wait", &run], 0);
    assert_eq!(read(&env, "answer"), "got staging\n");
}

/// Regression: `m ask approval --type diff` made a blank approval of
/// empty stdin, and one of any text; `m ask input ""` asked nothing.
#[test]
fn ask_refuses_an_empty_question_and_a_diff_approval_without_a_diff() {
    let env = TestEnv::new();
    env.repo("api");
    let dir = env.dir.path().display().to_string();
    let agent = env.script(
        "agent.sh",
        &format!(
            "printf '' | m ask approval --type diff 2>> {dir}/errors; echo \"empty $?\" >> {dir}/codes
echo 'please approve' | m ask approval --type diff 2>> {dir}/errors; echo \"text $?\" >> {dir}/codes
m ask approval --type diff --diff-file /dev/null 2>> {dir}/errors; echo \"file $?\" >> {dir}/codes
m ask input '' 2>> {dir}/errors; echo \"question $?\" >> {dir}/codes
m ask approval --type generic --title t --payload '{{\"tree\":\"0\"}}' 2>> {dir}/errors; echo \"tree $?\" >> {dir}/codes"
        ),
    );
    let run = env.start("api", "ask nothing", &agent);
    env.fails(&["run", "wait", &run], 0);
    assert_eq!(
        read(&env, "codes"),
        "empty 2\ntext 2\nfile 2\nquestion 2\ntree 2\n"
    );
    let errors = read(&env, "errors");
    for expected in [
        "a diff approval needs a unified diff, but stdin is empty",
        "a diff approval needs a unified diff, but stdin holds no unified diff",
        "but --diff-file /dev/null is empty",
        "the question is empty",
        // Only m's own review names the tree an approval commits.
        "the payload cannot set `tree`",
    ] {
        assert!(errors.contains(expected), "{expected}: {errors}");
    }
    let types = env.event_types(&run);
    assert!(
        !types
            .iter()
            .any(|t| t == "approval.requested" || t == "input.requested"),
        "{types:?}"
    );
}

/// Regression: `m run show` did not say what a run in `waiting_input`
/// asks, although `m reply` points there.
#[test]
fn run_show_says_which_questions_are_open() {
    let env = TestEnv::new();
    env.repo("api");
    let asker = env.dir.path().join("asker");
    let agent = env.script(
        "agent.sh",
        &format!(
            "m ask input 'which database?' > /dev/null
m ask input \"$(printf 'which region?\\nEU or US')\" & echo $! > {0}; wait
sleep 60",
            asker.display()
        ),
    );
    let run = env.start("api", "ask", &agent);
    env.fails(&["run", "wait", &run], 13);
    let shown = env.ok(&["run", "show", &run]);
    assert!(
        shown.contains("waiting    input: which database?"),
        "{shown}"
    );
    assert!(shown.contains(&format!("m reply {}", &run[..8])), "{shown}");
    let json = env.json(&["run", "show", &run, "--json"]);
    let questions = json["pending_questions"].as_array().unwrap();
    assert_eq!(questions.len(), 1, "{json}");
    assert_eq!(questions[0]["question"], "which database?");
    let first_seq = questions[0]["seq"].as_i64().unwrap();

    // Answered, it is closed; the next one is open, every line of it.
    env.ok(&["reply", &run, "staging"]);
    env.fails(&["run", "wait", &run], 13);
    let shown = env.ok(&["run", "show", &run]);
    assert!(!shown.contains("which database?"), "{shown}");
    assert!(
        shown.contains("waiting    input: which region?\n           EU or US\n"),
        "{shown}"
    );
    let json = env.json(&["run", "show", &run, "--json"]);
    let questions = json["pending_questions"].as_array().unwrap();
    assert_eq!(questions.len(), 1, "{json}");
    assert_eq!(questions[0]["question"], "which region?\nEU or US");
    assert!(questions[0]["seq"].as_i64().unwrap() > first_seq);
    let provided = env
        .events(&run)
        .into_iter()
        .find(|e| e["type"] == "input.provided")
        .unwrap();
    assert_eq!(provided["data"]["question_seq"], first_seq);

    // Withdrawn, it is closed too.
    common::wait_for_lines(&asker, 1);
    let pid: i32 = std::fs::read_to_string(&asker)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    unsafe { libc::kill(pid, libc::SIGTERM) };
    env.wait_state(&run, "running");
    let json = env.json(&["run", "show", &run, "--json"]);
    assert_eq!(json["pending_questions"], serde_json::json!([]), "{json}");
    let shown = env.ok(&["run", "show", &run]);
    assert!(!shown.contains("waiting"), "{shown}");
    env.ok(&["run", "cancel", &run]);
}

/// Racing decisions (one winner, one event) are tested in-process, over the
/// handlers: `daemon::tests::racing_decisions_have_one_winner_and_one_event`.
#[test]
fn deciding_twice_is_a_conflict_and_the_first_decision_stands() {
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script("agent.sh", "m ask approval --type generic --title once");
    let run = env.start("api", "once", &agent);
    let id = pending(&env, &run, 1).remove(0);
    env.ok(&["reject", &id, "--reason", "no"]);
    let err = env.fails(&["approve", &id], 4);
    assert!(err.contains("was already"), "{err}");
    assert_eq!(
        env.json(&["approval", "show", &id, "--json"])["state"],
        "rejected"
    );
    assert_eq!(env.events_of(&run, "approval.resolved").len(), 1);
}

#[test]
fn cancel_while_waiting_tells_the_asker_and_rejects_the_approval() {
    let env = TestEnv::new();
    env.repo("api");
    let code_file = env.dir.path().join("code");
    let agent = env.script(
        "agent.sh",
        &format!(
            // SIGTERM ignored: the script surely records `m ask`'s code
            // before the grace period ends in SIGKILL.
            "trap '' TERM; m ask approval --type generic --title wait; echo $? > {}; sleep 5",
            code_file.display()
        ),
    );
    let run = env.start("api", "cancel me", &agent);
    let id = pending(&env, &run, 1).remove(0);
    env.ok(&["run", "cancel", &run]);
    assert_eq!(env.run_state(&run), "cancelled");
    assert_eq!(read(&env, "code").trim(), "11");
    let approval = env.json(&["approval", "show", &id, "--json"]);
    assert_eq!(approval["state"], "rejected");
    assert_eq!(approval["rejection_reason"], "run ended");
}

#[test]
fn a_daemon_killed_while_waiting_leaves_no_pending_approval_after_restart() {
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script("agent.sh", "m ask approval --type generic --title stuck");
    let run = env.start("api", "stuck", &agent);
    let id = pending(&env, &run, 1).remove(0);
    env.kill_daemon();
    env.ok(&["daemon", "start"]);
    assert_eq!(env.run_state(&run), "failed");
    let approval = env.json(&["approval", "show", &id, "--json"]);
    assert_eq!(approval["state"], "rejected");
    assert_eq!(approval["rejection_reason"], "run ended");
    assert!(env
        .json(&["approvals", "--json"])
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn policy_approves_without_a_human_and_records_it() {
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script(
        "agent.sh",
        "m ask approval --type command -- true && m ask approval --type generic --title g && m ask approval --type command -- echo cargo test --all",
    );
    let run = env
        .ok(&[
            "run",
            "start",
            "-r",
            "api",
            "auto",
            "--auto-approve",
            "generic",
            "--allow",
            "true",
            "--allow",
            "echo cargo test",
            "--wait",
            "--",
            agent.to_str().unwrap(),
        ])
        .trim()
        .to_string();
    let all = env.json(&["approvals", "--run", &run, "--state", "all", "--json"]);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    for approval in all {
        assert_eq!(approval["state"], "approved");
        assert!(approval["rejection_reason"].is_null());
    }
    assert_eq!(resolved_by(&env, &run), ["policy", "policy", "policy"]);
}

/// Regression: `--allow "echo ok"` approved `echo ok && touch pwn` and
/// `echo ok $(touch pwn)`, since only the first words were compared.
#[test]
fn an_allow_rule_never_approves_shell_syntax_but_matches_an_argv_word_for_word() {
    let env = TestEnv::new();
    env.repo("api");
    let out = env.dir.path().join("out");
    let agent = env.script(
        "agent.sh",
        &format!(
            r#"m ask approval --type command --payload '{{"command":"echo ok && touch pwn"}}' >/dev/null; echo "chained=$?" >> {0}
m ask approval --type command --payload '{{"command":"echo ok $(touch pwn)"}}' >/dev/null; echo "substituted=$?" >> {0}
m ask approval --type command -- echo ok '&&' touch pwn > {0}.argv; echo "argv=$?" >> {0}"#,
            out.display()
        ),
    );
    let start = |allow: &str| {
        env.run(&[
            "run",
            "start",
            "-r",
            "api",
            "allow",
            "--allow",
            allow,
            "--wait",
            "--",
            agent.to_str().unwrap(),
        ])
    };
    for (blank, why) in [("", "empty"), ("  ", "empty"), ("echo ok; ls", "`;`")] {
        let run = start(blank);
        assert_eq!(run.status.code(), Some(2), "--allow {blank:?}");
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(err.contains("--allow") && err.contains(why), "{err}");
    }
    assert_eq!(env.count("SELECT count(*) FROM runs"), 0);

    let run = start("echo ok");
    assert_eq!(run.status.code(), Some(12), "the chained command waits");
    let run = String::from_utf8_lossy(&run.stdout).trim().to_string();
    for expected in ["echo ok && touch pwn", "echo ok $(touch pwn)"] {
        let ids = pending(&env, &run, 1);
        let shown = env.json(&["approval", "show", &ids[0], "--json"]);
        assert_eq!(shown["payload"]["command"], expected);
        env.ok(&["reject", &ids[0], "--reason", "not by policy"]);
    }
    env.fails(&["run", "wait", &run], 0);
    assert_eq!(read(&env, "out"), "chained=1\nsubstituted=1\nargv=0\n");
    // Run without a shell, `&&` was only an argument of echo.
    assert_eq!(read(&env, "out.argv"), "ok && touch pwn\n");
    assert_eq!(resolved_by(&env, &run), ["human", "human", "policy"]);
}

#[test]
fn a_payload_cannot_claim_the_argv_m_runs() {
    let env = TestEnv::new();
    let out = env
        .m()
        .env("M_RUN_ID", "0123abcd")
        .args([
            "ask",
            "approval",
            "--type",
            "command",
            "--payload",
            r#"{"argv": ["cargo", "test"], "command": "cargo test"}"#,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot set `argv`") && err.contains("hint:"),
        "{err}"
    );
}

#[test]
fn review_holds_the_run_until_its_diff_is_approved_or_rejected() {
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script("agent.sh", "echo reviewed > change.txt");
    let start = |prompt: &str| env.start_with("api", prompt, &["--review"], &agent);
    let run = start("approve me");
    env.fails(&["run", "wait", &run], 12);
    let shown = env.ok(&["approval", "show", &run]);
    assert!(shown.contains("+reviewed"), "{shown}");
    env.ok(&["approve", &run]);
    env.fails(&["run", "wait", &run], 0);

    let run = start("reject me");
    env.fails(&["run", "wait", &run], 12);
    env.ok(&["reject", &run, "--reason", "wrong file"]);
    env.fails(&["run", "wait", &run], 10);
    assert!(env.finished_reason(&run).contains("wrong file"));
}

/// The end-of-run commit after an approved review commits exactly the tree
/// the human approved. A change made after the check that let the approval
/// count (by the test-only fault `edit-after-review-check`, at that very
/// moment: an edited file and a new one) is not on the branch: it is left
/// in the worktree, uncommitted, and the run's end says so.
#[test]
fn an_approved_review_commits_the_approved_tree_and_not_later_changes() {
    let env = TestEnv::new();
    let repo = env.repo("api");
    daemon_with_fault(&env, "edit-after-review-check");
    let agent = env.script("agent.sh", "echo reviewed > change.txt");
    let run = env.start_with("api", "approve me", &["--review"], &agent);
    env.fails(&["run", "wait", &run], 12);
    let id = pending(&env, &run, 1).remove(0);
    let shown = env.json(&["approval", "show", &id, "--json"]);
    let tree = shown["payload"]["tree"].as_str().unwrap().to_string();
    env.ok(&["approve", &id]);
    env.fails(&["run", "wait", &run], 0);

    // The later changes are left in the worktree, as changes to the
    // approved work.
    only_the_tree_is_committed(&env, &repo, &run, &tree);
    let (branch, worktree) = branch_and_worktree(&env, &run);
    let message = env.git(&repo, &["log", "-1", "--format=%B", &branch]);
    assert!(message.starts_with("approve me"), "{message}");
    assert!(message.contains(&format!("M-Run: {run}")), "{message}");
    assert_eq!(
        std::fs::read_to_string(worktree.join("late.txt")).unwrap(),
        "written at edit-after-review-check\n"
    );
    let reason = env.finished_reason(&run);
    assert!(
        reason
            .starts_with("the agent finished; the worktree changed after its review was approved")
            && reason.contains("not committed")
            && reason.contains(worktree.to_str().unwrap()),
        "{reason}"
    );
    // Removing the run keeps the worktree that holds them.
    let err = env.fails(&["run", "rm", &run], 4);
    assert!(err.contains("hint:"), "{err}");
    assert!(worktree.join("late.txt").exists());
}

/// The daemon, started with the test-only fault `fault`.
fn daemon_with_fault(env: &TestEnv, fault: &str) {
    common::exits(
        env.m().env("M_TEST_FAULT", fault).args(["daemon", "start"]),
        0,
    );
}

/// The run's branch and worktree.
fn branch_and_worktree(env: &TestEnv, run: &str) -> (String, std::path::PathBuf) {
    let shown = env.json(&["run", "show", run, "--json"]);
    (
        shown["branch"].as_str().unwrap().to_string(),
        std::path::PathBuf::from(shown["workspace_path"].as_str().unwrap()),
    )
}

/// The branch holds exactly `tree`, with the agent's `change.txt`; what
/// the faults write (an edit of `change.txt`, a new `late.txt`) is left in
/// the worktree, uncommitted.
fn only_the_tree_is_committed(env: &TestEnv, repo: &std::path::Path, run: &str, tree: &str) {
    let (branch, worktree) = branch_and_worktree(env, run);
    assert_eq!(
        env.git(repo, &["rev-parse", &format!("{branch}^{{tree}}")])
            .trim(),
        tree,
        "the branch holds the approved tree"
    );
    assert_eq!(
        env.git(repo, &["show", &format!("{branch}:change.txt")]),
        "reviewed\n"
    );
    let files = env.git(repo, &["ls-tree", "--name-only", &branch]);
    assert!(!files.contains("late.txt"), "{files}");
    assert!(worktree.join("late.txt").exists());
    let status = env.git(&worktree, &["status", "--porcelain"]);
    assert!(
        status.contains(" M change.txt") && status.contains("?? late.txt"),
        "{status}"
    );
}

/// Regression: a review approved by a rule (`[approvals] auto_approve`)
/// had the run's end commit the worktree as it stood by then, not the tree
/// the rule decided on. A change made once the review was read (by the
/// test-only fault `edit-after-review-prepared`, at that very moment) is
/// not on the branch: it is left in the worktree, and the run's end says
/// so.
#[test]
fn a_review_approved_by_a_rule_commits_the_tree_the_rule_decided_on() {
    let env = TestEnv::new();
    let repo = env.repo("api");
    env.write_config("[approvals]\nauto_approve = [\"diff\"]\n");
    daemon_with_fault(&env, "edit-after-review-prepared");
    let agent = env.script("agent.sh", "echo reviewed > change.txt");
    let run = env.start_with("api", "by rule", &["--review"], &agent);
    env.fails(&["run", "wait", &run], 0);
    let approvals = env.approvals_of(&run);
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    let shown = env.json(&[
        "approval",
        "show",
        approvals[0]["id"].as_str().unwrap(),
        "--json",
    ]);
    assert_eq!(shown["state"], "approved", "{shown}");
    assert_eq!(shown["decided_by"]["kind"], "policy", "{shown}");
    let tree = shown["payload"]["tree"].as_str().unwrap();
    only_the_tree_is_committed(&env, &repo, &run, tree);
    let reason = env.finished_reason(&run);
    assert!(
        reason
            .starts_with("the agent finished; the worktree changed after its review was approved")
            && reason.contains("not committed"),
        "{reason}"
    );
}

/// Regression: a `--review` run found to have changed nothing asked
/// nobody, and its end then committed whatever the worktree held by then:
/// changes nobody saw. What changed after it was found unchanged (the
/// test-only fault `edit-after-review-prepared`) is not committed; it is
/// left in the worktree, and the run's end says so.
#[test]
fn a_run_found_unchanged_commits_nothing_that_changed_after() {
    let env = TestEnv::new();
    let repo = env.repo("api");
    daemon_with_fault(&env, "edit-after-review-prepared");
    let agent = env.script("idle.sh", "echo just looking");
    let run = env.start_with("api", "look", &["--review"], &agent);
    env.fails(&["run", "wait", &run], 0);
    assert!(env.approvals_of(&run).is_empty());
    let shown = env.json(&["run", "show", &run, "--json"]);
    let (branch, worktree) = branch_and_worktree(&env, &run);
    assert_eq!(
        env.git(&repo, &["rev-parse", &branch]).trim(),
        shown["base_commit"].as_str().unwrap(),
        "nothing was committed"
    );
    let status = env.git(&worktree, &["status", "--porcelain"]);
    assert!(
        status.contains("?? change.txt") && status.contains("?? late.txt"),
        "{status}"
    );
    let reason = env.finished_reason(&run);
    assert!(
        reason.starts_with(
            "the agent finished; it changed nothing, so there was nothing to review; \
             the worktree changed after it was found unchanged"
        ) && reason.contains("not committed")
            && reason.contains(worktree.to_str().unwrap()),
        "{reason}"
    );
    assert!(
        !env.events(&run)
            .iter()
            .any(|e| e["type"] == "workspace.diff"),
        "no work was committed"
    );
}

/// A `--review` run whose daemon is killed (the test-only fault
/// `die-after-review-approved`: SIGKILL between the approval and the
/// run's end) and whose worktree then changes; returns the run, its
/// approval and the approved tree.
fn approve_and_die(env: &TestEnv) -> (String, String, String) {
    daemon_with_fault(env, "die-after-review-approved");
    let agent = env.script("agent.sh", "echo reviewed > change.txt");
    let run = env.start_with("api", "approve me", &["--review"], &agent);
    env.fails(&["run", "wait", &run], 12);
    let id = pending(env, &run, 1).remove(0);
    let shown = env.json(&["approval", "show", &id, "--json"]);
    let tree = shown["payload"]["tree"].as_str().unwrap().to_string();
    let daemon = env.daemon_pid().unwrap();
    // The decision is committed before the daemon dies; its answer to
    // `m approve` may or may not get out first.
    let _ = env.run(&["approve", &id]);
    common::wait_until_gone(daemon, Duration::from_secs(20));
    let (_, worktree) = branch_and_worktree(env, &run);
    std::fs::write(worktree.join("change.txt"), "edited while no daemon ran\n").unwrap();
    std::fs::write(worktree.join("late.txt"), "written while no daemon ran\n").unwrap();
    (run, id, tree)
}

/// Regression: a daemon killed between a review's approval and the run's
/// end left the run to the next daemon's recovery, which committed the
/// worktree as it stood then, changes nobody approved included. Recovery
/// commits the approved tree, leaves the later changes in the worktree and
/// says so, and the run completes.
#[test]
fn a_daemon_killed_after_a_review_was_approved_commits_only_the_approved_tree_on_restart() {
    let env = TestEnv::new();
    let repo = env.repo("api");
    let (run, _, tree) = approve_and_die(&env);
    env.ok(&["daemon", "start"]);
    env.fails(&["run", "wait", &run], 0);
    only_the_tree_is_committed(&env, &repo, &run, &tree);
    let reason = env.finished_reason(&run);
    assert!(
        reason.contains("after the run's review was approved")
            && reason.contains("committed the approved work")
            && reason.contains("the later changes were not committed"),
        "{reason}"
    );
}

/// When the approved tree recorded with the approval is not in the
/// repository, recovery commits nothing in its place (nobody approved
/// what the worktree holds now): the run fails saying where its work is.
#[test]
fn a_recovered_review_whose_tree_is_gone_commits_nothing_unseen() {
    let env = TestEnv::new();
    let repo = env.repo("api");
    let (run, id, _) = approve_and_die(&env);
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let conn = rusqlite::Connection::open(env.db_path()).unwrap();
    let changed = conn
        .execute(
            "UPDATE approvals SET payload = json_set(payload, '$.tree', ?1) WHERE id = ?2",
            [missing, id.as_str()],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    let (branch, worktree) = branch_and_worktree(&env, &run);
    let before = env.git(&repo, &["rev-parse", &branch]);
    env.ok(&["daemon", "start"]);
    env.fails(&["run", "wait", &run], 10);
    assert_eq!(
        env.git(&repo, &["rev-parse", &branch]),
        before,
        "nothing was committed"
    );
    let status = env.git(&worktree, &["status", "--porcelain"]);
    assert!(
        status.contains(" M change.txt") && status.contains("?? late.txt"),
        "{status}"
    );
    let reason = env.finished_reason(&run);
    assert!(
        reason.contains(missing)
            && reason.contains("nothing was committed in its place")
            && reason.contains(worktree.to_str().unwrap()),
        "{reason}"
    );
}

#[test]
fn wait_exit_codes_say_how_the_run_stands() {
    let env = TestEnv::new();
    for (name, body, code) in [
        ("ok", "true", 0),
        ("fail", "exit 1", 10),
        ("approval", "m ask approval --type generic --title x", 12),
        ("input", "m ask input q", 13),
    ] {
        env.repo(name);
        let agent = env.script(&format!("{name}.sh"), body);
        let agent = agent.to_str().unwrap();
        env.fails(
            &["run", "start", "-r", name, "x", "--wait", "--", agent],
            code,
        );
    }
    env.repo("cancel");
    let agent = env.script("sleep.sh", "sleep 30");
    let run = env.start("cancel", "x", &agent);
    env.ok(&["run", "cancel", &run]);
    env.fails(&["run", "wait", &run], 11);
}

#[test]
fn agents_find_m_even_when_it_is_not_on_path() {
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script("agent.sh", "m ask input 'where?'");
    common::exits(
        env.m()
            .env("PATH", "/usr/bin:/bin")
            .args(["run", "start", "-r", "api", "x", "--wait", "--"])
            .arg(&agent),
        13,
    );
}

#[test]
fn ask_outside_a_run_is_a_clear_error() {
    let env = TestEnv::new();
    let err = env.fails(&["ask", "input", "hello?"], 2);
    assert!(err.contains("only inside a run"), "{err}");
    let err = env.fails(&["ask", "approval", "--type", "command"], 2);
    assert!(err.contains("only inside a run"), "{err}");
}

#[test]
fn an_asker_that_goes_away_withdraws_its_approval_and_its_question() {
    let env = TestEnv::new();
    env.repo("api");
    let asker = env.dir.path().join("asker");
    let agent = env.script(
        "agent.sh",
        &format!(
            "m ask approval --type generic --title 'deploy?' & echo $! > {0}.1; wait
m ask input 'which region?' & echo $! > {0}.2; wait
sleep 60",
            asker.display()
        ),
    );
    let run = env.start("api", "withdraw", &agent);
    let id = pending(&env, &run, 1).remove(0);
    let kill = |n: u32| {
        let pid = read(&env, &format!("asker.{n}"));
        let pid: i32 = pid.trim().parse().expect("the asker's pid");
        unsafe { libc::kill(pid, libc::SIGTERM) };
    };
    kill(1);
    // Nobody waits for the decision any more: no human is left to ask.
    let deadline = Instant::now() + Duration::from_secs(20);
    let approval = loop {
        let approval = env.json(&["approval", "show", &id, "--json"]);
        if approval["state"] != "pending" {
            break approval;
        }
        assert!(Instant::now() < deadline, "still pending: {approval}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(approval["state"], "rejected");
    assert!(
        approval["rejection_reason"]
            .as_str()
            .unwrap()
            .starts_with("withdrawn"),
        "{approval}"
    );
    let resolved = env
        .events(&run)
        .into_iter()
        .find(|e| e["type"] == "approval.resolved")
        .unwrap();
    assert_eq!(
        resolved["data"]["by"],
        serde_json::json!({ "kind": "agent" })
    );

    // The script went on to its question; it goes away too.
    env.fails(&["run", "wait", &run], 13);
    kill(2);
    env.wait_state(&run, "running");
    assert!(!env.events_of(&run, "input.withdrawn").is_empty());
    let err = env.fails(&["reply", &run, "eu-west"], 4);
    assert!(err.contains("not waiting for input"), "{err}");
    env.ok(&["run", "cancel", &run]);
}

/// Regression: an asker told "run ended" (exit 11) could let its script
/// finish and exit 0 before the group was signalled, and the cancelled run
/// ended "completed".
#[test]
fn a_cancelled_run_whose_script_carries_on_after_m_ask_is_cancelled() {
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script("agent.sh", "m ask input 'q?'\necho changed > changed.txt");
    let run = env.start("api", "carry on", &agent);
    env.fails(&["run", "wait", &run], 13);
    let out = env.ok(&["run", "cancel", &run]);
    assert!(out.contains("cancelled"), "{out}");
    assert_eq!(env.run_state(&run), "cancelled");
}

/// Regression (QA): escape sequences from an agent reached the terminal,
/// so a command awaiting approval could be shown as something else.
#[test]
fn what_an_agent_sends_is_shown_with_its_control_characters_visible() {
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script(
        "agent.sh",
        r#"printf 'title\033]0;pwned\007\n'
m ask approval --type command --payload '{"command":"rm -rf ~ \r\u001b[2K$ cargo test"}'"#,
    );
    let run = env.start("api", "hide\x1b[8m it", &agent);
    env.fails(&["run", "wait", &run], 12);
    let shown = env.ok(&["approval", "show", &run]);
    assert!(
        shown.contains("$ rm -rf ~ ^M^[[2K$ cargo test"),
        "{shown:?}"
    );
    let events = env.ok(&["events", &run]);
    assert!(events.contains("title^[]0;pwned^G"), "{events:?}");
    assert!(!events.contains('\x1b'), "{events:?}");
    let listed = env.ok(&["run", "list"]);
    assert!(listed.contains("hide^[[8m it"), "{listed:?}");
    // JSON keeps the exact text.
    let json = env.json(&["approval", "show", &run, "--json"]);
    assert_eq!(json["payload"]["command"], "rm -rf ~ \r\x1b[2K$ cargo test");
    env.ok(&["run", "cancel", &run]);
}

/// Regression (QA): an approved command that cannot run exited 1, which a
/// script reads as "rejected".
#[test]
fn an_approved_command_that_cannot_run_exits_as_a_shell_would() {
    let env = TestEnv::new();
    env.repo("api");
    let codes = env.dir.path().join("codes");
    let not_executable = env.dir.path().join("notes.txt");
    std::fs::write(&not_executable, "not a program").unwrap();
    let agent = env.script(
        "agent.sh",
        &format!(
            "m ask approval --type command -- /nonexistent/tool; echo $? >> {0}
m ask approval --type command -- {1}; echo $? >> {0}",
            codes.display(),
            not_executable.display()
        ),
    );
    let run = env.start("api", "tools", &agent);
    for _ in 0..2 {
        let id = pending(&env, &run, 1).remove(0);
        env.ok(&["approve", &id]);
    }
    env.fails(&["run", "wait", &run], 0);
    assert_eq!(read(&env, "codes"), "127\n126\n");
}

/// The run's `run.finished` data.
fn finished(env: &TestEnv, run: &str) -> serde_json::Value {
    env.json(&["run", "show", run, "--json"])["finished"].clone()
}

/// Regression: `--review` on a scratch repo let the run start; at its end
/// the review could not be made (no git), and the run failed saying "the
/// review was rejected", though nobody had been asked.
#[test]
fn review_on_a_scratch_repo_is_refused_and_the_configured_default_skips_it() {
    let env = TestEnv::new();
    env.ok(&["repo", "add", "--scratch", "--name", "notes"]);
    let agent = env.script("agent.sh", "echo hi > hi.txt");
    let agent = agent.to_str().unwrap();
    let err = env.fails(
        &["run", "start", "-r", "notes", "x", "--review", "--", agent],
        2,
    );
    assert!(
        err.contains("scratch repo") && err.contains("no diff to review") && err.contains("hint:"),
        "{err}"
    );
    assert!(env
        .json(&["run", "list", "--json"])
        .as_array()
        .unwrap()
        .is_empty());

    // `run.review = true` holds the runs that have a diff; this one has none.
    env.write_config("[run]\nreview = true\n");
    let run = env.start("notes", "x", std::path::Path::new(agent));
    env.fails(&["run", "wait", &run], 0);
    let created = &env.events(&run)[0];
    assert_eq!(created["data"]["options"]["review"], false, "{created}");
    assert_eq!(finished(&env, &run)["reason"], "the agent finished");
    assert!(env.approvals_of(&run).is_empty());
}

/// Regression: a review that could not be prepared failed the run saying
/// "the review was rejected", though nobody had rejected anything.
#[test]
fn a_review_that_cannot_be_prepared_fails_the_run_without_asking_anyone() {
    let env = TestEnv::new();
    env.repo("api");
    // Without its `.git` the workspace is no longer a worktree: no diff.
    let agent = env.script("agent.sh", "echo work > work.txt\nrm .git");
    let run = env.start_with("api", "x", &["--review"], &agent);
    let err = env.fails(&["run", "wait", &run], 10);
    assert!(err.contains("cannot prepare the review"), "{err}");
    let reason = finished(&env, &run)["reason"].as_str().unwrap().to_string();
    assert!(
        reason.starts_with("cannot prepare the review: ")
            && reason.contains("no longer a worktree")
            && !reason.contains("reject"),
        "{reason}"
    );
    assert!(env.approvals_of(&run).is_empty());
}

/// Regression: a run that changed nothing asked a human to approve an
/// empty diff.
#[test]
fn a_run_that_changed_nothing_is_not_held_for_review() {
    let env = TestEnv::new();
    env.repo("api");
    let idle = env.script("idle.sh", "echo just looking");
    // Commits that undo each other move the branch but change nothing.
    let undo = env.script(
        "undo.sh",
        "echo x > a.txt && git add a.txt && git commit -qm add && git rm -q a.txt && git commit -qm undo",
    );
    for agent in [idle, undo] {
        let run = env.start_with("api", "x", &["--review"], &agent);
        env.fails(&["run", "wait", &run], 0);
        assert_eq!(
            finished(&env, &run)["reason"],
            "the agent finished; it changed nothing, so there was nothing to review"
        );
        assert!(env.approvals_of(&run).is_empty());
    }
}

/// Regression: `m run done` on a plain command's run said it was "not
/// waiting for input", with a literal `m run show RUN` for a hint.
#[test]
fn run_done_says_a_plain_command_run_is_not_a_conversation() {
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script("agent.sh", "m ask input 'which region?'");
    let run = env.start("api", "x", &agent);
    env.fails(&["run", "wait", &run], 13);
    let short = &run[..8];
    let err = env.fails(&["run", "done", &run], 2);
    assert!(
        err.contains(&format!("run {short} is not a conversational (ACP) run"))
            && err.contains(&format!("`m run cancel {short}`"))
            && err.contains(&format!("`m reply {short} TEXT`"))
            && !err.contains("RUN"),
        "{err}"
    );
    // Its question is still open; `m run done` is no answer to it.
    let shown = env.ok(&["run", "show", &run]);
    assert!(
        shown.contains("which region?") && !shown.contains("m run done"),
        "{shown}"
    );
    let err = env.fails(&["run", "rm", &run], 4);
    assert!(
        err.contains(&format!("`m run cancel {short}`")) && !err.contains("m run done"),
        "{err}"
    );
    env.ok(&["reply", &run, "eu-west"]);
    env.fails(&["run", "wait", &run], 0);
    let err = env.fails(&["reply", &run, "again"], 4);
    assert!(err.contains("has already ended"), "{err}");
}

/// Finding: a background `m approve` inside the run approved that run's own
/// `m ask approval`, and the log said `by: human`. Now a process of a run
/// (below its keeper, even with its environment scrubbed and `setsid`, or
/// carrying `M_RUN_ID`) may ask but never decide; the refused attempt is on
/// the run's log, and the human's decision says who made it.
#[test]
fn an_agent_cannot_decide_its_own_requests_and_every_decision_says_who_made_it() {
    cannot_decide_its_own("auto");
}

/// The same where runs get no cgroup: the keeper above the process says
/// whose it is.
#[test]
fn an_agent_cannot_decide_its_own_requests_with_the_keeper_alone() {
    cannot_decide_its_own("keeper");
}

fn cannot_decide_its_own(containment: &str) {
    let env = TestEnv::new();
    env.write_config(&format!("[daemon]\ncontainment = \"{containment}\"\n"));
    env.repo("api");
    let tries = env.dir.path().join("tries");
    let ran = env.dir.path().join("ran");
    let t = tries.display();
    // Three attempts from inside the run: plain, with the environment
    // scrubbed in a new session, and a reply; then the real question.
    let agent = env.script(
        "agent.sh",
        &format!(
            r#"approve_own() {{
  while [ -z "$id" ]; do id=$(m approvals --run "$M_RUN_ID" --json | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -1); sleep 0.05; done
  m approve "$id"; echo "plain=$?" >> {t}
  setsid env -i PATH="$PATH" M_HOME="$M_HOME" m approve "$id"; echo "scrubbed=$?" >> {t}
  m reply "$M_RUN_ID" yes; echo "reply=$?" >> {t}
}}
approve_own &
m ask approval --type command -- touch {ran}
wait"#,
            ran = ran.display()
        ),
    );
    let run = env.start("api", "approve yourself", &agent);
    let ids = pending(&env, &run, 1);
    common::wait_for_lines(&tries, 3);
    assert_eq!(read(&env, "tries"), "plain=7\nscrubbed=7\nreply=7\n");
    assert!(!ran.exists(), "the agent's own approval ran the command");
    let refused = env.events_of(&run, "decision.refused");
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert_eq!(refused[0]["data"]["request"], "approve");
    assert_eq!(refused[0]["data"]["approval_id"], ids[0].as_str());
    assert_eq!(refused[2]["data"]["request"], "reply");
    // Known from the run's cgroup where the daemon gives runs one, else
    // from the keeper above the process.
    let status = env.json(&["daemon", "status", "--json"]);
    let how = match status["daemon"]["containment"]["mechanism"].as_str() {
        Some("cgroup") => "it is in the run's cgroup",
        _ => "it runs under the run's keeper",
    };
    eprintln!("only humans decide: refused because {how}");
    for event in &refused {
        assert!(event["data"]["pid"].as_i64().unwrap() > 1, "{event}");
        assert_eq!(event["data"]["because"], how, "{event}");
    }
    // Still pending: a human decides.
    assert_eq!(pending(&env, &run, 1), ids);
    env.ok(&["approve", &ids[0]]);
    env.wait_state(&run, "completed");
    assert!(ran.exists());
    let approval = env.json(&["approval", "show", &ids[0], "--json"]);
    let by = &approval["decided_by"];
    assert_eq!(by["kind"], "human", "{approval}");
    assert_eq!(by["uid"].as_u64(), Some(unsafe { libc::geteuid() } as u64));
    assert!(by["pid"].as_i64().unwrap() > 1, "{by}");
    let listed = env.ok(&["approvals", "--run", &run, "--state", "all"]);
    assert!(
        listed.contains("BY") && listed.contains("human (uid"),
        "{listed}"
    );
    let log = env.ok(&["events", &run]);
    assert!(log.contains("approved by human (uid"), "{log}");
    assert!(log.contains("refused `approve`"), "{log}");

    // A process outside any keeper that carries a run's id is refused too.
    let outside = env
        .m()
        .args(["reject", &ids[0]])
        .env("M_RUN_ID", &run)
        .output()
        .unwrap();
    assert_eq!(outside.status.code(), Some(7));
    let err = String::from_utf8_lossy(&outside.stderr);
    assert!(err.contains("only a human decides"), "{err}");
}

/// `m approve --hash` decides only what was seen: a wrong hash changes
/// nothing (exit 4), the right one approves, and the decision says who.
#[test]
fn a_decision_with_a_content_hash_acts_only_on_what_was_seen() {
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script(
        "agent.sh",
        "m ask approval --type command -- echo deploy; echo \"approved=$?\" > out",
    );
    let run = env.start("api", "deploy", &agent);
    let id = pending(&env, &run, 1).remove(0);
    let shown = env.json(&["approval", "show", &id, "--json"]);
    let hash = shown["content_hash"].as_str().unwrap().to_string();
    assert_eq!(hash.len(), 64, "{shown}");
    assert!(env.ok(&["approval", "show", &id]).contains(&hash));

    let other = "0".repeat(64);
    let err = env.fails(&["approve", &id, "--hash", &other], 4);
    assert!(err.contains("stale") && err.contains(&hash), "{err}");
    assert_eq!(
        env.json(&["approval", "show", &id, "--json"])["state"],
        "pending"
    );

    env.ok(&["approve", &id, "--hash", &hash.to_uppercase()]);
    env.fails(&["run", "wait", &run], 0);
    let decided = env.json(&["approval", "show", &id, "--json"]);
    assert_eq!(decided["decided_by"]["kind"], "human", "{decided}");
    assert!(env.ok(&["approvals", "--state", "all"]).contains("human"));
    let events = env.ok(&["events", &run]);
    assert!(events.contains("approved by human"), "{events}");
}
