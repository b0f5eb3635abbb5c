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
