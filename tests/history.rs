//! A long history (issue 20): listings that show a screenful and say what
//! they left out, and retention (`m gc`) that drops old output but keeps
//! the audit trail.

use serde_json::Value;

use crate::common::TestEnv;

fn array(value: &Value) -> &Vec<Value> {
    value.as_array().expect("a JSON array")
}

/// A scratch repo named `s` with `n` finished runs from long ago, written
/// behind m's back as an old history would be; returns the repo's id.
fn seed_history(env: &TestEnv, n: usize, created_at: i64) -> String {
    env.ok(&["repo", "add", "--scratch", "--name", "s"]);
    let repos = env.json(&["repo", "list", "--json"]);
    let repo = array(&repos)[0]["id"].as_str().unwrap().to_string();
    let conn = rusqlite::Connection::open(env.db_path()).unwrap();
    for i in 0..n {
        let id = format!("{:032x}", 0xa000 + i);
        conn.execute(
            "INSERT INTO runs (id, repo_id, prompt, state, workspace_path, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'completed', '/nonexistent', ?4, ?4)",
            rusqlite::params![id, repo, format!("old run {i}"), created_at + i as i64],
        )
        .unwrap();
    }
    repo
}

/// Data rows of a table (not the header, not the line under it).
fn rows(table: &str) -> Vec<&str> {
    table
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("..."))
        .collect()
}

#[test]
fn run_list_shows_the_newest_20_and_says_how_many_more() {
    let env = TestEnv::new();
    seed_history(&env, 30, 1_000);
    let newest = env.ok(&["run", "start", "-r", "s", "newest", "--wait", "--", "true"]);
    let newest = newest.trim();

    let table = env.ok(&["run", "list"]);
    let shown = rows(&table);
    assert_eq!(shown.len(), 20, "{table}");
    assert!(shown[0].starts_with(&newest[..8]), "{table}");
    assert!(shown[1].contains("old run 29"), "{table}");
    let last = table.lines().last().unwrap();
    assert_eq!(
        last,
        "... and 11 more runs (31 in all): `m run list -n 31` shows more, `m run list --all` every one."
    );

    let table = env.ok(&["run", "list", "-n", "5"]);
    assert_eq!(rows(&table).len(), 5, "{table}");
    assert!(
        table.contains("... and 26 more runs (31 in all)"),
        "{table}"
    );

    let table = env.ok(&["run", "list", "--all"]);
    assert_eq!(rows(&table).len(), 31, "{table}");
    assert!(!table.contains("more run"), "{table}");

    // Filters count what they match, and the hint repeats them.
    let table = env.ok(&["run", "list", "--state", "completed", "-r", "s"]);
    assert_eq!(rows(&table).len(), 20, "{table}");
    assert!(
        table.contains(
            "... and 11 more runs (31 in all): `m run list -r s --state completed -n 31`"
        ),
        "{table}"
    );
    let table = env.ok(&["run", "list", "--state", "failed"]);
    assert!(table.contains("No runs match --state failed"), "{table}");

    // JSON lists every run unless told how many.
    assert_eq!(array(&env.json(&["run", "list", "--json"])).len(), 31);
    assert_eq!(
        array(&env.json(&["run", "list", "--json", "-n", "3"])).len(),
        3
    );

    let err = env.fails(&["run", "list", "-n", "3", "--all"], 2);
    assert!(err.contains("--all"), "{err}");
}

#[test]
fn the_count_under_a_listing_follows_runs_removed_and_started() {
    let env = TestEnv::new();
    seed_history(&env, 25, 1_000);
    let table = env.ok(&["run", "list"]);
    assert!(table.contains("... and 5 more runs (25 in all)"), "{table}");
    let oldest = format!("{:032x}", 0xa000);
    env.ok(&["run", "rm", &oldest]);
    let table = env.ok(&["run", "list"]);
    assert!(table.contains("... and 4 more runs (24 in all)"), "{table}");
    env.ok(&[
        "run", "start", "-r", "s", "one more", "--wait", "--", "true",
    ]);
    let table = env.ok(&["run", "list"]);
    assert!(table.contains("... and 5 more runs (25 in all)"), "{table}");
    let table = env.ok(&["run", "list", "--state", "completed"]);
    assert!(table.contains("... and 5 more runs (25 in all)"), "{table}");
    // Exactly 20: nothing left out, nothing said.
    env.ok(&["repo", "add", "--scratch", "--name", "t"]);
    for i in 0..2 {
        env.ok(&[
            "run",
            "start",
            "-r",
            "t",
            &format!("t{i}"),
            "--wait",
            "--",
            "true",
        ]);
    }
    let table = env.ok(&["run", "list", "-r", "t"]);
    assert_eq!(rows(&table).len(), 2, "{table}");
    assert!(!table.contains("more run"), "{table}");
}

/// Makes every run look finished `days` days ago, as an old history is.
fn age_runs(env: &TestEnv, days: i64) {
    let conn = rusqlite::Connection::open(env.db_path()).unwrap();
    conn.execute(
        "UPDATE runs SET updated_at = updated_at - ?1, created_at = created_at - ?1",
        [days * 86_400],
    )
    .unwrap();
}

fn types(env: &TestEnv, run: &str) -> Vec<String> {
    env.events(run)
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn gc_without_an_age_says_where_to_set_one_and_drops_nothing() {
    let env = TestEnv::new();
    env.ok(&["repo", "add", "--scratch", "--name", "s"]);
    let run = env.ok(&[
        "run", "start", "-r", "s", "x", "--wait", "--", "seq", "1", "5",
    ]);
    age_runs(&env, 400);
    let err = env.fails(&["gc"], 2);
    assert!(err.contains("m gc needs an age"), "{err}");
    assert!(err.contains("[retention] output_after = \"30d\""), "{err}");
    assert!(err.contains("--older-than 30d"), "{err}");
    let err = env.fails(&["gc", "--older-than", "soon"], 2);
    assert!(err.contains("'soon' is not a duration"), "{err}");
    assert!(types(&env, run.trim()).contains(&"output".to_string()));
}

#[test]
fn gc_drops_old_output_keeps_the_audit_trail_and_gives_the_space_back() {
    let env = TestEnv::new();
    env.ok(&["repo", "add", "--scratch", "--name", "s"]);
    // An old run that printed a lot and had a command approved by policy.
    let agent = env.script(
        "agent.sh",
        "m ask approval --type command -- true && seq 1 100000 | sed 's/$/ padding padding padding/'",
    );
    let old = env.ok(&[
        "run",
        "start",
        "-r",
        "s",
        "old",
        "--allow",
        "true",
        "--wait",
        "--",
        agent.to_str().unwrap(),
    ]);
    let old = old.trim().to_string();
    age_runs(&env, 40);
    // A recent one, which keeps its output.
    let recent = env.ok(&[
        "run", "start", "-r", "s", "new", "--wait", "--", "seq", "1", "3",
    ]);
    let recent = recent.trim().to_string();
    let before = types(&env, &old);
    let outputs = before.iter().filter(|t| *t == "output").count() as u64;
    assert!(outputs > 10, "{before:?}");

    let dry = env.json(&["gc", "--older-than", "30d", "--dry-run", "--json"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["events"], outputs);
    assert_eq!(dry["runs"].as_array().unwrap().len(), 1);
    assert_eq!(dry["runs"][0]["run"], old.as_str());
    let dry_bytes = dry["bytes"].as_u64().unwrap();
    assert!(dry_bytes > 2_000_000, "{dry}");
    assert_eq!(types(&env, &old), before, "a dry run drops nothing");
    let text = env.ok(&["gc", "--older-than", "30d", "--dry-run"]);
    assert!(
        text.starts_with(&format!("Would drop {outputs} output events (")),
        "{text}"
    );

    let done = env.json(&["gc", "--older-than", "30d", "--json"]);
    assert_eq!(done["dry_run"], false);
    assert_eq!(done["events"], outputs);
    assert_eq!(done["bytes"], dry_bytes);
    let (was, is) = (
        done["database_bytes_before"].as_u64().unwrap(),
        done["database_bytes_after"].as_u64().unwrap(),
    );
    assert!(
        is + dry_bytes / 2 < was,
        "the space came back: {was} -> {is}"
    );

    // Everything but the output stays, and run.pruned says what went.
    let after = types(&env, &old);
    let kept: Vec<&String> = before.iter().filter(|t| *t != "output").collect();
    assert_eq!(after[..after.len() - 1].iter().collect::<Vec<_>>(), kept);
    assert!(kept.iter().any(|t| *t == "approval.requested"), "{kept:?}");
    assert!(kept.iter().any(|t| *t == "approval.resolved"), "{kept:?}");
    assert!(kept.iter().any(|t| *t == "run.finished"), "{kept:?}");
    let events = env.events(&old);
    let pruned = events.last().unwrap();
    assert_eq!(pruned["type"], "run.pruned");
    assert_eq!(pruned["data"]["events"], outputs);
    assert_eq!(pruned["data"]["bytes"], dry_bytes);
    assert_eq!(pruned["data"]["older_than"], "30d");
    assert_eq!(pruned["data"]["by"], "gc");
    let shown = env.ok(&["events", &old]);
    assert!(
        shown.contains(&format!("{outputs} output events (")),
        "{shown}"
    );
    let approvals = env.json(&["approvals", "--run", &old, "--state", "all", "--json"]);
    assert_eq!(approvals.as_array().unwrap().len(), 1);
    assert_eq!(env.run_state(&old), "completed");
    assert!(types(&env, &recent).contains(&"output".to_string()));

    // Nothing is left to drop; a second pass says so and records nothing.
    let again = env.ok(&["gc", "--older-than", "30d"]);
    assert!(again.starts_with("Nothing to drop"), "{again}");
    assert_eq!(types(&env, &old), after);
}

#[test]
fn the_daemon_applies_retention_output_after_from_the_config() {
    let env = TestEnv::new();
    env.ok(&["repo", "add", "--scratch", "--name", "s"]);
    let run = env.ok(&[
        "run", "start", "-r", "s", "x", "--wait", "--", "seq", "1", "5",
    ]);
    let run = run.trim().to_string();
    env.ok(&["daemon", "stop"]);
    age_runs(&env, 40);
    env.write_config("[retention]\noutput_after = \"30d\"\n");
    let shown = env.json(&["config", "show", "--json"]);
    let setting = shown["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "retention.output_after")
        .unwrap()
        .clone();
    assert_eq!(setting["value"], "30d");
    assert_eq!(setting["source"], "file");
    env.ok(&["daemon", "start"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let events = env.events(&run);
        if let Some(pruned) = events.iter().find(|e| e["type"] == "run.pruned") {
            assert_eq!(pruned["data"]["by"], "daemon");
            assert_eq!(pruned["data"]["events"], 1);
            assert!(!events.iter().any(|e| e["type"] == "output"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{events:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A value that is no duration stops every command, naming the key
    // (`m daemon stop` too: the daemon is stopped first, or it outlives the
    // test).
    env.ok(&["daemon", "stop"]);
    env.write_config("[retention]\noutput_after = \"soon\"\n");
    let err = env.fails(&["gc"], 2);
    assert!(err.contains("retention.output_after"), "{err}");
}
