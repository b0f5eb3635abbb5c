//! The commands that need no daemon, through the real binary: repos,
//! devices, runs, events and approvals (seeded through the store API), the
//! output conventions (JSON shapes, colour, a closed pipe) and databases m
//! must refuse without touching them.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};

use common::TestEnv;
use m::model::{ApprovalType, EventType, RunState};
use m::store::{Decision, NewEvent, NewRepo, NewRun, RunDetails, Store};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// Helpers

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The sorted keys of a JSON object.
fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

fn array(value: &Value) -> &Vec<Value> {
    value.as_array().expect("a JSON array")
}

fn field<'a>(values: &'a [Value], key: &str) -> Vec<&'a str> {
    values.iter().map(|v| v[key].as_str().expect(key)).collect()
}

fn add_repo(store: &mut Store, name: &str) -> String {
    store
        .add_repo(NewRepo {
            name: name.into(),
            git_url: None,
        })
        .unwrap()
        .id
}

fn new_run(repo_id: &str, prompt: &str) -> NewRun {
    NewRun {
        repo_id: repo_id.into(),
        prompt: prompt.into(),
        workspace_path: format!("/tmp/m-workspaces/{prompt}"),
        details: RunDetails::default(),
    }
}

fn output_event(run: &str, line: &str) -> NewEvent {
    NewEvent::new(
        run,
        EventType::Output,
        json!({ "stream": "stdout", "lines": [line] }),
    )
}

fn approve() -> Decision {
    Decision {
        approve: true,
        reason: None,
        by: m::model::DecidedBy::Human {
            uid: None,
            pid: None,
            tty: None,
        },
        seen_hash: None,
    }
}

/// Waiting for a diff approval, on repo `api`.
const RUN_A: &str = "a1000000-0000-4000-8000-00000000000a";
/// Completed, its command approved, on repo `web`.
const RUN_B: &str = "a2000000-0000-4000-8000-00000000000b";
/// Failed, its question rejected when it ended, on repo `api`.
const RUN_C: &str = "b3000000-0000-4000-8000-00000000000c";

struct Seeded {
    api: String,
    pending: String,
    approved: String,
    rejected: String,
}

/// Two repos and three runs (A, B, C above), created in the order C, B, A.
///
/// Events of A: 1 run.created, 2 output, 3 output, 4 agent.message,
/// 5 approval.requested, 6 run.state.
fn seed(env: &TestEnv) -> Seeded {
    let mut store = env.store();
    let api = add_repo(&mut store, "api");
    let web = add_repo(&mut store, "web");
    let mut b = store.batch().unwrap();

    b.create_run(RUN_C, new_run(&api, "refactor the parser"))
        .unwrap();
    let rejected = b
        .request_approval(
            RUN_C,
            ApprovalType::Generic,
            json!({ "title": "may I delete tests?" }),
            None,
        )
        .unwrap()
        .id;
    b.finish_run(
        RUN_C,
        RunState::Failed,
        json!({ "reason": "exit status 1" }),
    )
    .unwrap();

    b.create_run(RUN_B, new_run(&web, "fix the flaky test"))
        .unwrap();
    b.append(vec![output_event(RUN_B, "building")]).unwrap();
    let approved = b
        .request_approval(
            RUN_B,
            ApprovalType::Command,
            json!({ "command": "cargo test" }),
            None,
        )
        .unwrap()
        .id;
    b.decide(&approved, &approve()).unwrap();
    b.finish_run(
        RUN_B,
        RunState::Completed,
        json!({ "reason": "exit status 0" }),
    )
    .unwrap();

    b.create_run(
        RUN_A,
        new_run(&api, "add a --verbose flag\nand document it"),
    )
    .unwrap();
    b.append(vec![
        output_event(RUN_A, "compiling"),
        output_event(RUN_A, "all tests pass"),
        NewEvent::new(
            RUN_A,
            EventType::AgentMessage,
            json!({ "text": "I added the flag" }),
        ),
    ])
    .unwrap();
    let pending = b
        .request_approval(
            RUN_A,
            ApprovalType::Diff,
            json!({ "title": "add --verbose", "stat": { "files": 2, "insertions": 10, "deletions": 1 } }), None,
)
        .unwrap()
        .id;
    b.commit().unwrap();
    Seeded {
        api,
        pending,
        approved,
        rejected,
    }
}

fn events(env: &TestEnv, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["events"];
    all.extend_from_slice(args);
    env.ok(&all)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

fn seqs(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}

/// Starts `m ARGS`, reads one line of its output, then closes the pipe.
/// Returns that line and how m ended.
fn read_one_line_then_close(env: &TestEnv, args: &[&str]) -> (String, Output) {
    let mut child = env
        .m()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    drop(reader);
    (line, child.wait_with_output().unwrap())
}

/// Runs `m ARGS` on a pseudo-terminal, as in a person's shell; `no_color`
/// is the NO_COLOR value, if any. Returns what it printed.
fn on_terminal(env: &TestEnv, args: &[&str], no_color: Option<&str>) -> String {
    let mut cmd = env.m();
    cmd.env_remove("NO_COLOR").args(args);
    if let Some(value) = no_color {
        cmd.env("NO_COLOR", value);
    }
    let (code, printed) = common::Terminal::spawn(cmd).finish();
    assert_eq!(code, Some(0), "{printed}");
    printed
}

const ANSI: &str = "\x1b[";

/// `text` without its SGR escape sequences (`ESC [ ... m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(ANSI) {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        rest = after.find('m').map_or("", |end| &after[end + 1..]);
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------
// m repo add

#[test]
fn repo_add_stores_the_absolute_top_level_of_a_work_tree() {
    let env = TestEnv::new();
    let repo = env.git_repo("tool");
    let out = env.ok(&["repo", "add", repo.to_str().unwrap()]);
    assert!(out.contains("Added repo tool"), "{out}");
    let repos = env.json(&["repo", "list", "--json"]);
    let repos = array(&repos);
    assert_eq!(repos.len(), 1);
    let top = std::fs::canonicalize(&repo).unwrap();
    assert_eq!(repos[0]["name"], "tool");
    assert_eq!(repos[0]["git_url"], top.to_str().unwrap());
}

#[test]
fn repo_add_of_a_subdirectory_registers_the_top_level() {
    let env = TestEnv::new();
    let repo = env.git_repo("nested");
    let sub = repo.join("src").join("deep");
    std::fs::create_dir_all(&sub).unwrap();
    let top = std::fs::canonicalize(&repo).unwrap();

    let added = env.json(&["repo", "add", sub.to_str().unwrap(), "--json"]);
    assert_eq!(added["name"], "nested");
    assert_eq!(added["git_url"], top.to_str().unwrap());

    // A relative path is resolved from where m runs (to the same repo: a
    // no-op under the same name).
    let out = env
        .m()
        .args(["repo", "add", ".", "--name", "nested", "--json"])
        .current_dir(&sub)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["git_url"], top.to_str().unwrap());
}

#[test]
fn repo_add_refuses_a_directory_outside_git_and_names_it() {
    let env = TestEnv::new();
    let plain = env.dir.path().join("plain dir");
    std::fs::create_dir_all(&plain).unwrap();
    let err = env.fails(&["repo", "add", plain.to_str().unwrap(), "--name", "x"], 2);
    assert!(err.contains(plain.to_str().unwrap()), "{err}");
    assert!(err.contains("not inside a git work tree"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(env.json(&["repo", "list", "--json"]), json!([]));
}

#[test]
fn repo_add_names_a_relative_path_by_where_it_is() {
    let env = TestEnv::new();
    let plain = env.dir.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    for (arg, shown) in [(".", plain.clone()), ("gone", plain.join("gone"))] {
        let out = env
            .m()
            .args(["repo", "add", arg])
            .current_dir(&plain)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert!(matches!(out.status.code(), Some(2 | 3)), "{err}");
        assert!(err.contains(shown.to_str().unwrap()), "{arg}: {err}");
    }
}

#[test]
fn repo_add_prefers_an_existing_directory_to_a_url_reading() {
    let env = TestEnv::new();
    let repo = env.git_repo("host:path");
    let out = env
        .m()
        .args(["repo", "add", "host:path", "--name", "colon", "--json"])
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    let top = std::fs::canonicalize(&repo).unwrap();
    assert_eq!(added["git_url"], top.to_str().unwrap());
}

#[test]
fn repo_add_of_a_missing_path_is_not_found() {
    let env = TestEnv::new();
    let missing = env.dir.path().join("nowhere");
    let err = env.fails(&["repo", "add", missing.to_str().unwrap()], 3);
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn repo_add_refuses_a_file() {
    let env = TestEnv::new();
    let file = env.dir.path().join("notes.txt");
    std::fs::write(&file, "hi").unwrap();
    let err = env.fails(&["repo", "add", file.to_str().unwrap()], 2);
    assert!(err.contains("is not a directory"), "{err}");
}

#[test]
fn repo_add_refuses_dangerous_and_malformed_urls_and_writes_nothing() {
    let env = TestEnv::new();
    let refused = [
        // transport helpers run programs
        "ext::sh",
        "ext::sh -c touch% /tmp/pwned",
        "fd::17",
        // anything git or ssh could read as an option
        "ssh://-oProxyCommand=x/y",
        "ssh://%2doProxyCommand=x/y",
        "ssh://-user@host/repo",
        "ssh://host:-p/repo",
        "ssh://host/-repo",
        "--upload-pack=x",
        "-x@host:p",
        "host:--upload-pack=x",
        // control characters and whitespace, plain or encoded
        "https://host/a\nb",
        "https://host/a\tb",
        "git@host:re\u{7}po",
        "https://host/a%0ab",
        // no host
        "https:///path",
        "ssh://git@/repo",
        "git@:repo",
        // unknown schemes
        "gopher://host/repo",
        "ftp://host/repo.git",
        // a port that is not a number
        "ssh://host:22x/repo",
    ];
    for url in refused {
        let err = env.fails(&["repo", "add", "--", url], 2);
        assert!(err.contains("refusing git URL"), "{url:?}: {err}");
        assert!(err.contains("hint:"), "{url:?}: {err}");
        // Control characters are shown escaped, never raw.
        assert_eq!(err.lines().count(), 2, "{url:?}: {err:?}");
        assert!(!err.contains(['\t', '\u{7}']), "{url:?}: {err:?}");
    }
    assert_eq!(env.json(&["repo", "list", "--json"]), json!([]));
}

#[test]
fn repo_add_accepts_plain_urls_and_names_them_after_the_repository() {
    let env = TestEnv::new();
    let accepted = [
        ("https://github.com/me/api.git", "api"),
        ("ssh://git@example.com:2222/me/tool.git", "tool"),
        ("git@github.com:me/cli.git", "cli"),
        ("file:///srv/git/lib.git", "lib"),
        ("http://example.com/mirror/", "mirror"),
    ];
    for (url, _) in accepted {
        env.ok(&["repo", "add", url]);
    }
    let repos = env.json(&["repo", "list", "--json"]);
    let mut got: Vec<(String, String)> = array(&repos)
        .iter()
        .map(|r| {
            (
                r["git_url"].as_str().unwrap().into(),
                r["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = accepted
        .iter()
        .map(|(u, n)| (u.to_string(), n.to_string()))
        .collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn repo_add_refuses_a_duplicate_name_with_a_hint() {
    let env = TestEnv::new();
    env.repo("api");
    let other = env.git_repo("other");
    let err = env.fails(
        &["repo", "add", other.to_str().unwrap(), "--name", "api"],
        4,
    );
    assert!(err.contains("'api' already exists"), "{err}");
    assert!(err.contains("hint:") && err.contains("--name"), "{err}");
    // The default name clashes too.
    let err = env.fails(&["repo", "add", "https://example.com/x/api.git"], 4);
    assert!(err.contains("'api'"), "{err}");
    assert_eq!(array(&env.json(&["repo", "list", "--json"])).len(), 1);
}

#[test]
fn repo_add_of_the_same_repo_under_the_same_name_is_a_no_op() {
    let env = TestEnv::new();
    let path = env.repo("api");
    let out = env.ok(&["repo", "add", path.to_str().unwrap(), "--name", "api"]);
    assert!(out.contains("already registered"), "{out}");
    assert_eq!(array(&env.json(&["repo", "list", "--json"])).len(), 1);
}

/// Regression: one repository under two names could have two active runs.
/// One repository, whatever spells it: a work tree whose `.git` is a
/// symlink to its `.git`, one whose `.git` is a `gitdir:` file, a linked
/// worktree, and a `file://` URL of it all name its objects and refs.
#[test]
fn repo_add_refuses_every_other_spelling_of_a_registered_repository() {
    let env = TestEnv::new();
    let path = env.repo("api");
    let git_dir = std::fs::canonicalize(path.join(".git")).unwrap();
    let symlinked = env.dir.path().join("symlinked");
    std::fs::create_dir(&symlinked).unwrap();
    std::os::unix::fs::symlink(path.join(".git"), symlinked.join(".git")).unwrap();
    let gitfile = env.dir.path().join("gitfile");
    std::fs::create_dir(&gitfile).unwrap();
    std::fs::write(
        gitfile.join(".git"),
        format!("gitdir: {}\n", path.join(".git").display()),
    )
    .unwrap();
    let linked = env.dir.path().join("linked");
    env.git(
        &path,
        &[
            "worktree",
            "add",
            "-q",
            linked.to_str().unwrap(),
            "-b",
            "side",
        ],
    );
    let url = format!("file://{}", path.display());
    let spellings = [
        symlinked.display().to_string(),
        gitfile.display().to_string(),
        linked.display().to_string(),
        url.clone(),
        format!("file://localhost{}/", path.display()),
    ];
    for spelling in &spellings {
        let err = env.fails(&["repo", "add", spelling, "--name", "other"], 4);
        assert!(
            err.contains("already registered as repo 'api'"),
            "{spelling}: {err}"
        );
        assert!(err.contains(git_dir.to_str().unwrap()), "{spelling}: {err}");
        assert!(err.contains("hint:") && err.contains("-r api"), "{err}");
    }
    let repos = env.json(&["repo", "list", "--json"]);
    assert_eq!(field(array(&repos), "name"), ["api"]);

    // Registered by its URL first, the path is refused just the same.
    env.ok(&["repo", "rm", "api"]);
    env.ok(&["repo", "add", &url, "--name", "by-url"]);
    let err = env.fails(&["repo", "add", path.to_str().unwrap()], 4);
    assert!(err.contains("as repo 'by-url'"), "{err}");
    // Another repository is another name.
    env.repo("web");
}

#[test]
fn repo_add_refuses_a_repository_already_registered_under_another_name() {
    let env = TestEnv::new();
    let path = env.repo("api");
    let link = env.dir.path().join("link");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let top = std::fs::canonicalize(&path).unwrap();
    for spelling in [path.clone(), link, path.join(".")] {
        let err = env.fails(
            &["repo", "add", spelling.to_str().unwrap(), "--name", "other"],
            4,
        );
        assert!(err.contains(top.to_str().unwrap()), "{err}");
        assert!(err.contains("already registered, as repo 'api'"), "{err}");
        assert!(
            err.contains("hint:") && err.contains("m repo rm api"),
            "{err}"
        );
    }
    let url = "https://example.com/me/tool.git";
    env.ok(&["repo", "add", url]);
    let err = env.fails(&["repo", "add", url, "--name", "tool2"], 4);
    assert!(err.contains("as repo 'tool'"), "{err}");
    let repos = env.json(&["repo", "list", "--json"]);
    assert_eq!(field(array(&repos), "name"), ["api", "tool"]);
}

/// Regression: a repository without commits was accepted and its first run
/// failed.
#[test]
fn repo_add_refuses_a_repository_without_commits() {
    let env = TestEnv::new();
    let empty = env.dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    env.git(&empty, &["init", "-q"]);
    let err = env.fails(&["repo", "add", empty.to_str().unwrap()], 2);
    assert!(err.contains("no commits yet"), "{err}");
    assert!(err.contains("hint: make a first commit"), "{err}");
    assert_eq!(env.json(&["repo", "list", "--json"]), json!([]));
}

#[test]
fn repo_add_refuses_names_that_are_not_plain() {
    let env = TestEnv::new();
    let repo = env.git_repo("fine");
    let path = repo.to_str().unwrap();
    let long = "n".repeat(101);
    for name in ["", "-x", "a b", "a/b", "tab\there", long.as_str()] {
        let err = env.fails(&["repo", "add", path, &format!("--name={name}")], 2);
        assert!(err.contains("is not a usable repo name"), "{name:?}: {err}");
        assert!(err.contains("hint:"), "{err}");
    }
    // A directory whose own name is not usable needs --name.
    let spaced = env.git_repo("my repo");
    let err = env.fails(&["repo", "add", spaced.to_str().unwrap()], 2);
    assert!(err.contains("'my repo'") && err.contains("--name"), "{err}");
    env.ok(&["repo", "add", spaced.to_str().unwrap(), "--name", "my-repo"]);
    let repos = env.json(&["repo", "list", "--json"]);
    assert_eq!(field(array(&repos), "name"), ["my-repo"]);
}

// ---------------------------------------------------------------------------
// m repo list

#[test]
fn repo_list_prints_a_table_and_json() {
    let env = TestEnv::new();
    assert!(env.ok(&["repo", "list"]).contains("No repos yet"));
    assert_eq!(env.json(&["repo", "list", "--json"]), json!([]));

    let path = env.repo("zeta");
    env.ok(&["repo", "add", "https://example.com/org/alpha.git"]);
    let table = env.ok(&["repo", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("ID") && lines[0].contains("LOCATION")
    );
    // Sorted by name; columns aligned.
    assert!(
        lines[1].starts_with("alpha ") && lines[1].contains("https://example.com/org/alpha.git")
    );
    assert!(lines[2].starts_with("zeta ") && lines[2].contains(path.to_str().unwrap()));
    let col = lines[0].find("ID").unwrap();
    assert!(
        lines[1..].iter().all(|l| l[col - 2..col].trim().is_empty()),
        "{table}"
    );
    assert!(lines[1].contains("s ago"), "{table}");

    let repos = env.json(&["repo", "list", "--json"]);
    let repos = array(&repos);
    assert_eq!(field(repos, "name"), ["alpha", "zeta"]);
    for repo in repos {
        assert_eq!(keys(repo), ["created_at", "git_url", "id", "name"]);
        assert_eq!(repo["id"].as_str().unwrap().len(), 36);
        assert!(repo["created_at"].as_i64().unwrap() > 1_600_000_000);
        // The table shows each id's first eight characters.
        assert!(table.contains(&repo["id"].as_str().unwrap()[..8]));
    }
}

// ---------------------------------------------------------------------------
// m repo rm

#[test]
fn repo_rm_by_name_and_by_id_prefix() {
    let env = TestEnv::new();
    env.repo("one");
    env.repo("two");
    let out = env.ok(&["repo", "rm", "one"]);
    assert!(out.contains("Removed repo one"), "{out}");
    let repos = env.json(&["repo", "list", "--json"]);
    let id = array(&repos)[0]["id"].as_str().unwrap().to_string();
    let out = env.ok(&["repo", "rm", &id[..6]]);
    assert!(out.contains("Removed repo two"), "{out}");
    assert_eq!(env.json(&["repo", "list", "--json"]), json!([]));
}

#[test]
fn repo_rm_of_an_unknown_repo_is_not_found() {
    let env = TestEnv::new();
    env.repo("one");
    let err = env.fails(&["repo", "rm", "nope"], 3);
    assert!(
        err.contains("no repo named 'nope'") && err.contains("hint:"),
        "{err}"
    );
    let err = env.fails(&["repo", "rm", "ffffffff"], 3);
    assert!(err.contains("ffffffff"), "{err}");
    assert_eq!(array(&env.json(&["repo", "list", "--json"])).len(), 1);
}

#[test]
fn repo_rm_of_an_ambiguous_prefix_lists_the_candidates() {
    let env = TestEnv::new();
    env.store();
    let conn = rusqlite::Connection::open(env.db_path()).unwrap();
    for (id, name) in [
        ("c0ffee00-0000-4000-8000-000000000001", "first"),
        ("c0ffee00-0000-4000-8000-000000000002", "second"),
    ] {
        conn.execute("INSERT INTO repos VALUES (?1, ?2, NULL, 1)", [id, name])
            .unwrap();
    }
    let err = env.fails(&["repo", "rm", "c0ffee"], 2);
    assert!(err.contains("ambiguous"), "{err}");
    assert!(
        err.contains("c0ffee00-0000-4000-8000-000000000001"),
        "{err}"
    );
    assert!(
        err.contains("c0ffee00-0000-4000-8000-000000000002"),
        "{err}"
    );
    assert_eq!(array(&env.json(&["repo", "list", "--json"])).len(), 2);
    env.ok(&["repo", "rm", "c0ffee00-0000-4000-8000-000000000002"]);
    let repos = env.json(&["repo", "list", "--json"]);
    assert_eq!(field(array(&repos), "name"), ["first"]);
}

#[test]
fn repo_rm_is_refused_while_a_run_is_active_even_with_force() {
    let env = TestEnv::new();
    let seeded = seed(&env);
    for args in [
        &["repo", "rm", "api"][..],
        &["repo", "rm", "api", "--force"],
    ] {
        let err = env.fails(args, 4);
        assert!(err.contains("active run a1000000"), "{err}");
        assert!(err.contains("m run cancel a1000000"), "{err}");
    }
    let runs = env.count(&format!(
        "SELECT count(*) FROM runs WHERE repo_id = '{}'",
        seeded.api
    ));
    assert_eq!(runs, 2);
}

#[test]
fn repo_rm_with_past_runs_needs_force_and_then_removes_their_records() {
    let env = TestEnv::new();
    let mut store = env.store();
    let old = add_repo(&mut store, "old");
    let keep = add_repo(&mut store, "keep");
    let mut b = store.batch().unwrap();
    for (id, repo) in [
        ("d1000000-0000-4000-8000-000000000001", &old),
        ("d2000000-0000-4000-8000-000000000002", &old),
        ("e1000000-0000-4000-8000-000000000003", &keep),
    ] {
        b.create_run(id, new_run(repo, id)).unwrap();
        b.append(vec![output_event(id, "working")]).unwrap();
        let approval = b
            .request_approval(
                id,
                ApprovalType::Command,
                json!({ "command": "make" }),
                None,
            )
            .unwrap();
        b.decide(&approval.id, &approve()).unwrap();
        b.finish_run(id, RunState::Completed, json!({})).unwrap();
    }
    b.commit().unwrap();
    drop(store);

    let err = env.fails(&["repo", "rm", "old"], 4);
    assert!(
        err.contains("2 past run(s)") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(env.count("SELECT count(*) FROM runs"), 3);

    let out = env.ok(&["repo", "rm", "old", "--force"]);
    assert!(out.contains("Removed repo old with 2 run(s)"), "{out}");
    let of_old = |table: &str| {
        env.count(&format!(
            "SELECT count(*) FROM {table} WHERE run_id LIKE 'd%'"
        ))
    };
    assert_eq!(of_old("events"), 0);
    assert_eq!(of_old("approvals"), 0);
    assert_eq!(of_old("run_details"), 0);
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM runs WHERE repo_id = '{old}'"
        )),
        0
    );
    assert_eq!(
        env.count(&format!("SELECT count(*) FROM repos WHERE id = '{old}'")),
        0
    );
    // The other repo's run keeps everything.
    assert_eq!(env.count("SELECT count(*) FROM runs"), 1);
    assert_eq!(env.count("SELECT count(*) FROM approvals"), 1);
    assert!(env.count("SELECT count(*) FROM events WHERE run_id LIKE 'e%'") >= 4);
    let repos = env.json(&["repo", "list", "--json"]);
    assert_eq!(field(array(&repos), "id"), [keep.as_str()]);
}

/// Seeds finished runs of the only registered repo (at `path`), each in a
/// worktree `workspaces/ID` on its branch `m/ID8` from the repo's HEAD.
fn seed_runs_in_worktrees(env: &TestEnv, path: &Path, ids: &[&str], state: RunState) {
    let repos = env.json(&["repo", "list", "--json"]);
    let repo_id = array(&repos)[0]["id"].as_str().unwrap().to_string();
    let head = env.git(path, &["rev-parse", "HEAD"]).trim().to_string();
    let workspaces = env.home.join("workspaces");
    std::fs::create_dir_all(&workspaces).unwrap();
    let mut store = env.store();
    let mut b = store.batch().unwrap();
    for &id in ids {
        let dir = workspaces.join(id);
        let branch = format!("m/{}", &id[..8]);
        env.git(
            path,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                &branch,
                dir.to_str().unwrap(),
            ],
        );
        let run = NewRun {
            repo_id: repo_id.clone(),
            prompt: "work".into(),
            workspace_path: dir.to_str().unwrap().into(),
            details: RunDetails {
                branch: Some(branch),
                base_commit: Some(head.clone()),
                ..RunDetails::default()
            },
        };
        b.create_run(id, run).unwrap();
        b.finish_run(id, state, json!({})).unwrap();
    }
    b.commit().unwrap();
}

#[test]
fn repo_rm_with_force_removes_its_runs_workspaces_but_keeps_unmerged_work() {
    let env = TestEnv::new();
    let path = env.repo("tool");
    let workspaces = env.home.join("workspaces");
    let merged = "f1000000-0000-4000-8000-000000000001";
    let unmerged = "f2000000-0000-4000-8000-000000000002";
    seed_runs_in_worktrees(&env, &path, &[merged, unmerged], RunState::Completed);
    // The second run's work is on its branch only.
    let work = workspaces.join(unmerged);
    std::fs::write(work.join("new.txt"), "work\n").unwrap();
    env.git(&work, &["add", "."]);
    env.git(&work, &["commit", "-q", "-m", "the agent's work"]);

    let out = env.ok(&["repo", "rm", "tool", "--force"]);
    assert!(out.contains("Removed repo tool with 2 run(s)"), "{out}");
    assert!(
        out.contains("Kept branch m/f2000000 of run f2000000: it has 1 commit"),
        "{out}"
    );
    assert!(!workspaces.join(merged).exists() && !work.exists());
    let worktrees = env.git(&path, &["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
    let branches = env.git(&path, &["branch", "--list", "m/*"]);
    assert!(
        !branches.contains("m/f1000000") && branches.contains("m/f2000000"),
        "{branches}"
    );
}

/// Regression (data loss): removing a repo's runs deleted worktrees whose
/// work was not on their branches. Now nothing at all is removed then.
#[test]
fn repo_rm_with_force_keeps_everything_while_a_workspace_holds_uncommitted_work() {
    let env = TestEnv::new();
    let path = env.repo("tool");
    let workspaces = env.home.join("workspaces");
    let clean = "f3000000-0000-4000-8000-000000000003";
    let dirty = "f4000000-0000-4000-8000-000000000004";
    seed_runs_in_worktrees(&env, &path, &[clean, dirty], RunState::Failed);
    let work = workspaces.join(dirty).join("unsaved.txt");
    std::fs::write(&work, "work\n").unwrap();

    let err = env.fails(&["repo", "rm", "tool", "--force"], 4);
    assert!(err.contains(dirty) && err.contains("unsaved.txt"), "{err}");
    assert!(
        err.contains("it was kept") && err.contains("hint:"),
        "{err}"
    );
    assert!(work.exists() && workspaces.join(clean).exists());
    assert_eq!(array(&env.json(&["repo", "list", "--json"])).len(), 1);
    let err = env.fails(&["run", "rm", dirty], 4);
    assert!(err.contains("unsaved.txt"), "{err}");
    env.ok(&["run", "show", dirty]);

    // Once the work is committed, both go.
    let dir = workspaces.join(dirty);
    env.git(&dir, &["add", "."]);
    env.git(&dir, &["commit", "-q", "-m", "saved"]);
    let out = env.ok(&["repo", "rm", "tool", "--force"]);
    assert!(out.contains("Kept branch m/f4000000"), "{out}");
    assert!(!dir.exists() && !workspaces.join(clean).exists());
}

// ---------------------------------------------------------------------------
// m device

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn device_add_list_and_rm() {
    let env = TestEnv::new();
    assert!(env.ok(&["device", "list"]).contains("No devices yet"));
    let out = env.ok(&["device", "add", TOKEN]);
    assert!(out.contains("Added device 0123456789ab"), "{out}");
    let upper = "FEDCBA9876543210".repeat(4);
    env.ok(&["device", "add", &upper, "--platform", "ios"]);

    let devices = env.json(&["device", "list", "--json"]);
    let devices = array(&devices);
    assert_eq!(devices.len(), 2);
    for device in devices {
        assert_eq!(
            keys(device),
            ["created_at", "env", "name", "platform", "token"]
        );
        assert_eq!(device["platform"], "ios");
    }
    let mut tokens = field(devices, "token");
    tokens.sort();
    assert_eq!(tokens, [TOKEN, upper.to_lowercase().as_str()]);

    let table = env.ok(&["device", "list"]);
    assert!(table.starts_with("TOKEN"), "{table}");
    assert!(
        table.contains(TOKEN) && table.contains(&upper.to_lowercase()),
        "{table}"
    );

    // Removal takes the token in any case.
    env.ok(&["device", "rm", &upper.to_lowercase()]);
    env.ok(&["device", "rm", &TOKEN.to_uppercase()]);
    assert_eq!(env.json(&["device", "list", "--json"]), json!([]));
}

#[test]
fn device_add_of_a_known_token_changes_nothing() {
    let env = TestEnv::new();
    env.ok(&["device", "add", TOKEN]);
    let before = env.json(&["device", "list", "--json"]);
    for token in [TOKEN.to_string(), TOKEN.to_uppercase()] {
        let out = env.ok(&["device", "add", &token]);
        assert!(out.contains("already registered"), "{out}");
    }
    assert_eq!(env.json(&["device", "list", "--json"]), before);
}

#[test]
fn device_add_refuses_tokens_that_are_not_apns_tokens() {
    let env = TestEnv::new();
    let short = "ab".repeat(16);
    let odd = format!("{TOKEN}a");
    let non_hex = format!("{}zz", &TOKEN[..62]);
    let too_long = "ab".repeat(101);
    for token in [
        "",
        short.as_str(),
        odd.as_str(),
        non_hex.as_str(),
        too_long.as_str(),
    ] {
        let err = env.fails(&["device", "add", token], 2);
        assert!(
            err.contains("is not an APNs device token"),
            "{token:?}: {err}"
        );
        assert!(err.contains("hint:"), "{err}");
    }
    env.fails(&["device", "add", TOKEN, "--platform", "android"], 2);
    assert_eq!(env.json(&["device", "list", "--json"]), json!([]));
}

/// Regression: an unknown device was exit 2 (usage), not 3 (not found).
#[test]
fn device_rm_of_an_unknown_token_is_not_found() {
    let env = TestEnv::new();
    env.ok(&["device", "add", TOKEN]);
    let other = "ab".repeat(32);
    let err = env.fails(&["device", "rm", &other], 3);
    assert!(err.contains(&other) && err.contains("hint:"), "{err}");
    let err = env.fails(&["device", "rm", "xyz"], 3);
    assert!(
        err.contains("'xyz'") && err.contains("m device list"),
        "{err}"
    );
    // Too short a prefix names nothing.
    env.fails(&["device", "rm", &TOKEN[..3]], 3);
    assert_eq!(array(&env.json(&["device", "list", "--json"])).len(), 1);
}

/// Regression: `m device rm` took neither a token prefix nor a name.
#[test]
fn device_rm_takes_a_token_prefix_or_a_name() {
    let env = TestEnv::new();
    let same_start = format!("{}{}", &TOKEN[..6], "f".repeat(58));
    env.ok(&["device", "add", TOKEN, "--name", "my phone"]);
    env.ok(&["device", "add", &same_start, "--name", "ipad"]);
    let third = "cd".repeat(32);
    env.ok(&["device", "add", &third]);

    let err = env.fails(&["device", "rm", &TOKEN[..4]], 2);
    assert!(
        err.contains("ambiguous") && err.contains(TOKEN) && err.contains(&same_start),
        "{err}"
    );
    let out = env.ok(&["device", "rm", "my phone"]);
    assert!(
        out.contains("Removed device 0123456789ab") && out.contains("my phone"),
        "{out}"
    );
    env.ok(&["device", "rm", &TOKEN[..4].to_uppercase()]);
    env.ok(&["device", "rm", &third[..12]]);
    assert_eq!(env.json(&["device", "list", "--json"]), json!([]));
}

#[test]
fn device_add_refuses_a_name_another_device_has() {
    let env = TestEnv::new();
    env.ok(&["device", "add", TOKEN, "--name", "my phone"]);
    let other = "ab".repeat(32);
    let err = env.fails(&["device", "add", &other, "--name", "my phone"], 4);
    assert!(
        err.contains("0123456789ab") && err.contains("'my phone'") && err.contains("hint:"),
        "{err}"
    );
    assert_eq!(array(&env.json(&["device", "list", "--json"])).len(), 1);
    // The device itself may be added again under its name.
    env.ok(&[
        "device", "add", TOKEN, "--name", "my phone", "--env", "sandbox",
    ]);
}

// ---------------------------------------------------------------------------
// m run list / m run show

#[test]
fn run_list_prints_runs_newest_first() {
    let env = TestEnv::new();
    assert!(env.ok(&["run", "list"]).contains("No runs"));
    seed(&env);
    let table = env.ok(&["run", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(
        lines[0].starts_with("RUN") && lines[0].contains("STATE") && lines[0].contains("PROMPT")
    );
    assert!(lines[1].starts_with("a1000000") && lines[1].contains("api"));
    assert!(lines[1].contains("waiting_approval"));
    // A multi-line prompt shows its first line, marked as cut.
    assert!(lines[1].contains("add a --verbose flag …"), "{table}");
    assert!(
        lines[2].starts_with("a2000000")
            && lines[2].contains("web")
            && lines[2].contains("completed")
    );
    assert!(lines[3].starts_with("b3000000") && lines[3].contains("failed"));

    let runs = env.json(&["run", "list", "--json"]);
    let runs = array(&runs);
    assert_eq!(field(runs, "id"), [RUN_A, RUN_B, RUN_C]);
    for run in runs {
        // The run object of `m run show --json` (README "Run JSON").
        assert_eq!(
            keys(run),
            [
                "agent",
                "base",
                "base_commit",
                "branch",
                "created_at",
                "events",
                "finished",
                "id",
                "pending_approvals",
                "pending_questions",
                "position",
                "prompt",
                "repo",
                "repo_id",
                "state",
                "updated_at",
                "usage",
                "workspace_path"
            ]
        );
        // No agent reported usage for these runs.
        assert_eq!(run["usage"], serde_json::Value::Null);
    }
    assert_eq!(runs[0]["prompt"], "add a --verbose flag\nand document it");
    assert_eq!(
        field(runs, "state"),
        ["waiting_approval", "completed", "failed"]
    );
}

#[test]
fn run_list_filters_by_repo_state_and_limit() {
    let env = TestEnv::new();
    let seeded = seed(&env);
    let ids = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["run", "list", "--json"];
        all.extend_from_slice(args);
        let runs = env.json(&all);
        field(array(&runs), "id")
            .into_iter()
            .map(String::from)
            .collect()
    };
    assert_eq!(ids(&["--repo", "api"]), [RUN_A, RUN_C]);
    assert_eq!(ids(&["--repo", &seeded.api[..8]]), [RUN_A, RUN_C]);
    assert_eq!(ids(&["--state", "completed"]), [RUN_B]);
    assert_eq!(ids(&["--state", "active"]), [RUN_A]);
    assert_eq!(
        ids(&["--state", "failed", "--state", "completed"]),
        [RUN_B, RUN_C]
    );
    assert_eq!(
        ids(&["--repo", "api", "--state", "completed"]),
        Vec::<String>::new()
    );
    assert_eq!(ids(&["--limit", "1"]), [RUN_A]);
    assert_eq!(ids(&["--limit", "2", "--repo", "api"]), [RUN_A, RUN_C]);
    assert_eq!(ids(&["--limit", "0"]), Vec::<String>::new());

    let err = env.fails(&["run", "list", "--repo", "nope"], 3);
    assert!(err.contains("no repo named 'nope'"), "{err}");
    env.fails(&["run", "list", "--limit", "-1"], 2);
}

/// Regression: a filter that matched nothing said "No runs. Start one",
/// as if there were none.
#[test]
fn run_list_says_when_runs_exist_but_none_match() {
    let env = TestEnv::new();
    seed(&env);
    for (args, filters) in [
        (
            &["--repo", "api", "--state", "completed"][..],
            "--repo api --state completed",
        ),
        (
            &["-r", "web", "--state", "failed"][..],
            "--repo web --state failed",
        ),
        (&["-n", "0"][..], "--limit 0"),
    ] {
        let mut all = vec!["run", "list"];
        all.extend_from_slice(args);
        let said = env.ok(&all);
        assert_eq!(
            said.trim(),
            format!("No runs match {filters}. `m run list` lists every run."),
            "{args:?}"
        );
    }
    let fresh = TestEnv::new();
    fresh.ok(&["repo", "add", "--scratch", "--name", "notes"]);
    let said = fresh.ok(&["run", "list", "--state", "active"]);
    assert!(said.starts_with("No runs. Start one"), "{said}");
}

#[test]
fn run_list_names_every_valid_state_for_an_unknown_one() {
    let env = TestEnv::new();
    seed(&env);
    let err = env.fails(&["run", "list", "--state", "done"], 2);
    assert!(err.contains("unknown run state 'done'"), "{err}");
    let hint = err
        .lines()
        .find(|l| l.starts_with("hint:"))
        .expect("a hint");
    for state in [
        "running",
        "waiting_input",
        "waiting_approval",
        "completed",
        "failed",
        "cancelled",
        "active",
    ] {
        assert!(hint.contains(state), "{state} missing from {hint}");
    }
}

#[test]
fn run_show_prints_one_run() {
    let env = TestEnv::new();
    let seeded = seed(&env);
    let run = env.json(&["run", "show", "a1", "--json"]);
    assert_eq!(run["id"], RUN_A);
    assert_eq!(run["repo"], "api");
    assert_eq!(run["repo_id"], seeded.api.as_str());
    assert_eq!(run["state"], "waiting_approval");
    assert_eq!(run["prompt"], "add a --verbose flag\nand document it");
    assert_eq!(run["events"], 6);
    let pending = array(&run["pending_approvals"]);
    assert_eq!(field(pending, "id"), [seeded.pending.as_str()]);
    for key in [
        "workspace_path",
        "created_at",
        "updated_at",
        "agent",
        "branch",
        "base_commit",
    ] {
        assert!(run.get(key).is_some(), "{key} missing from {run}");
    }

    let text = env.ok(&["run", "show", "A1000000"]);
    assert!(text.contains(RUN_A), "{text}");
    assert!(text.contains("waiting_approval"), "{text}");
    assert!(
        text.contains(&format!(
            "diff approval {}: add --verbose",
            &seeded.pending[..8]
        )),
        "{text}"
    );
    assert!(
        text.ends_with("add a --verbose flag\nand document it\n"),
        "{text}"
    );

    let done = env.json(&["run", "show", RUN_B, "--json"]);
    assert_eq!(done["state"], "completed");
    assert_eq!(done["pending_approvals"], json!([]));
}

#[test]
fn run_show_of_unknown_and_ambiguous_ids() {
    let env = TestEnv::new();
    seed(&env);
    let err = env.fails(&["run", "show", "ffff"], 3);
    assert!(
        err.contains("no run with id 'ffff'") && err.contains("m run list"),
        "{err}"
    );
    // The id is shown as typed.
    let err = env.fails(&["run", "show", "Not-An-Id"], 3);
    assert!(
        err.contains("'Not-An-Id'") && err.contains("hint:"),
        "{err}"
    );
    let err = env.fails(&["run", "show", "FFFF"], 3);
    assert!(err.contains("'FFFF'"), "{err}");
    let err = env.fails(&["run", "show", "a"], 2);
    assert!(err.contains("ambiguous"), "{err}");
    assert!(
        err.contains(RUN_A) && err.contains(RUN_B) && !err.contains(RUN_C),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
}

// ---------------------------------------------------------------------------
// m events

#[test]
fn events_as_json_lines() {
    let env = TestEnv::new();
    seed(&env);
    let all = events(&env, &["a1", "--json"]);
    assert_eq!(seqs(&all), [1, 2, 3, 4, 5, 6]);
    let types: Vec<&str> = field(&all, "type");
    assert_eq!(
        types,
        [
            "run.created",
            "output",
            "output",
            "agent.message",
            "approval.requested",
            "run.state"
        ]
    );
    for event in &all {
        assert_eq!(
            keys(event),
            ["created_at", "data", "id", "run_id", "seq", "type"]
        );
        assert_eq!(event["run_id"], RUN_A);
    }
    assert_eq!(
        all[1]["data"],
        json!({ "stream": "stdout", "lines": ["compiling"] })
    );
    assert_eq!(all[5]["data"]["state"], "waiting_approval");
}

#[test]
fn events_filters_by_seq_and_type() {
    let env = TestEnv::new();
    seed(&env);
    assert_eq!(
        seqs(&events(&env, &["a1", "--json", "--since", "4"])),
        [5, 6]
    );
    assert_eq!(
        seqs(&events(&env, &["a1", "--json", "--since", "6"])),
        Vec::<i64>::new()
    );
    assert_eq!(
        seqs(&events(&env, &["a1", "--json", "--type", "output"])),
        [2, 3]
    );
    assert_eq!(
        seqs(&events(
            &env,
            &["a1", "--json", "--type", "output", "--type", "run.state"]
        )),
        [2, 3, 6]
    );
    assert_eq!(
        seqs(&events(
            &env,
            &["a1", "--json", "--type", "output", "--since", "2"]
        )),
        [3]
    );
    assert_eq!(
        seqs(&events(&env, &["a1", "--json", "--type", "input.provided"])),
        Vec::<i64>::new()
    );
    // A mistyped type is an error, not an empty log (QA).
    let err = env.fails(&["events", "a1", "--type", "ouptut"], 2);
    assert!(
        err.contains("ouptut") && err.contains("run.created"),
        "{err}"
    );
    env.fails(&["events", "a1", "--since", "x"], 2);
}

#[test]
fn events_as_text() {
    let env = TestEnv::new();
    seed(&env);
    let text = env.ok(&["events", "a1"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    // The two-line prompt shows its first line, marked as cut.
    assert!(
        lines[0].contains("1 run.created") && lines[0].ends_with("prompt: add a --verbose flag …")
    );
    assert!(
        lines[1].contains("2 output") && lines[1].ends_with("stdout| compiling"),
        "{text}"
    );
    assert!(lines[3].contains("agent.message") && lines[3].ends_with("I added the flag"));
    assert!(text.contains("-> waiting_approval"), "{text}");
}

/// Regression: the second line of a reply (`m reply RUN -`) was printed
/// at column 0, where a reader looks for the next event.
#[test]
fn events_indent_every_line_of_a_reply_and_a_question() {
    let env = TestEnv::new();
    let mut store = env.store();
    let repo = add_repo(&mut store, "api");
    let mut b = store.batch().unwrap();
    b.create_run(RUN_A, new_run(&repo, "ask")).unwrap();
    b.append(vec![
        NewEvent::new(
            RUN_A,
            EventType::InputRequested,
            json!({ "question": "which region?\nEU or US" }),
        ),
        NewEvent::new(
            RUN_A,
            EventType::InputProvided,
            json!({ "text": "EU\nbut keep US backups\n", "done": false, "question_seq": 2 }),
        ),
    ])
    .unwrap();
    b.commit().unwrap();
    drop(store);
    let text = env.ok(&["events", "a1"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    let column = lines[1].find("which region?").expect("the question");
    assert!(lines[1].contains("2 input.requested"), "{text}");
    assert_eq!(lines[2], format!("{:column$}EU or US", ""), "{text}");
    assert!(lines[3].contains("3 input.provided") && lines[3].ends_with(" EU"));
    assert_eq!(
        lines[4],
        format!("{:column$}but keep US backups", ""),
        "{text}"
    );
}

/// Regression: git's progress lines were printed as raw JSON.
#[test]
fn events_describe_git_progress_by_its_line() {
    let env = TestEnv::new();
    let mut store = env.store();
    let repo = add_repo(&mut store, "api");
    let mut b = store.batch().unwrap();
    b.create_run(RUN_A, new_run(&repo, "clone")).unwrap();
    b.append(vec![NewEvent::new(
        RUN_A,
        EventType::WorkspaceProgress,
        json!({ "line": "remote: Counting objects: 3, done." }),
    )])
    .unwrap();
    b.commit().unwrap();
    drop(store);
    let text = env.ok(&["events", "a1"]);
    let progress = text.lines().nth(1).unwrap_or_default();
    assert!(
        progress.ends_with("workspace.progress remote: Counting objects: 3, done."),
        "{text}"
    );
}

#[test]
fn events_of_unknown_and_ambiguous_runs() {
    let env = TestEnv::new();
    seed(&env);
    let err = env.fails(&["events", "0000"], 3);
    assert!(
        err.contains("no run with id '0000'") && err.contains("hint:"),
        "{err}"
    );
    let err = env.fails(&["events", "a", "--json"], 2);
    assert!(err.contains(RUN_A) && err.contains(RUN_B), "{err}");
}

// ---------------------------------------------------------------------------
// m approvals

#[test]
fn approvals_lists_pending_ones_by_default() {
    let env = TestEnv::new();
    let seeded = seed(&env);
    let pending = env.json(&["approvals", "--json"]);
    let pending = array(&pending);
    assert_eq!(field(pending, "id"), [seeded.pending.as_str()]);
    let approval = &pending[0];
    assert_eq!(
        keys(approval),
        [
            "content_hash",
            "created_at",
            "event_id",
            "id",
            "payload",
            "rejection_reason",
            "resolved_at",
            "run_id",
            "state",
            "type"
        ]
    );
    assert_eq!(approval["type"], "diff");
    assert_eq!(approval["state"], "pending");
    assert_eq!(approval["run_id"], RUN_A);
    assert_eq!(approval["payload"]["title"], "add --verbose");
    assert_eq!(approval["resolved_at"], Value::Null);
    // Its event is the run's approval.requested.
    let requested = events(&env, &["a1", "--json", "--type", "approval.requested"]);
    assert_eq!(approval["event_id"], requested[0]["id"]);

    let table = env.ok(&["approvals"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].starts_with("ID") && lines[0].contains("SUMMARY"));
    assert!(lines[1].starts_with(&seeded.pending[..8]), "{table}");
    for cell in ["diff", "a1000000", "api", "pending", "add --verbose"] {
        assert!(lines[1].contains(cell), "{cell} missing from {table}");
    }
}

#[test]
fn approvals_filters_by_state_and_run() {
    let env = TestEnv::new();
    let seeded = seed(&env);
    let ids = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["approvals", "--json"];
        all.extend_from_slice(args);
        let approvals = env.json(&all);
        field(array(&approvals), "id")
            .into_iter()
            .map(String::from)
            .collect()
    };
    assert_eq!(
        ids(&["--state", "all"]),
        [
            seeded.rejected.as_str(),
            seeded.approved.as_str(),
            seeded.pending.as_str()
        ]
    );
    assert_eq!(ids(&["--state", "approved"]), [seeded.approved.as_str()]);
    assert_eq!(ids(&["--state", "rejected"]), [seeded.rejected.as_str()]);
    assert_eq!(
        ids(&["--run", "b3", "--state", "all"]),
        [seeded.rejected.as_str()]
    );
    assert_eq!(ids(&["--run", "b3"]), Vec::<String>::new());
    assert_eq!(ids(&["--run", RUN_A]), [seeded.pending.as_str()]);

    let rejected = env.json(&["approvals", "--json", "--state", "rejected"]);
    assert_eq!(rejected[0]["rejection_reason"], "run ended");
    assert!(rejected[0]["resolved_at"].as_i64().is_some());
    assert!(env
        .ok(&["approvals", "--state", "approved"])
        .contains("cargo test"));
}

#[test]
fn approvals_says_plainly_when_there_are_none() {
    let env = TestEnv::new();
    assert_eq!(env.ok(&["approvals"]).trim(), "No pending approvals.");
    assert_eq!(
        env.ok(&["approvals", "--state", "rejected"]).trim(),
        "No rejected approvals."
    );
    assert_eq!(
        env.ok(&["approvals", "--state", "all"]).trim(),
        "No approvals."
    );
}

#[test]
fn approvals_of_unknown_states_and_runs() {
    let env = TestEnv::new();
    seed(&env);
    let err = env.fails(&["approvals", "--state", "open"], 2);
    assert!(err.contains("unknown approval state 'open'"), "{err}");
    let hint = err
        .lines()
        .find(|l| l.starts_with("hint:"))
        .expect("a hint");
    for state in ["pending", "approved", "rejected", "all"] {
        assert!(hint.contains(state), "{state} missing from {hint}");
    }
    let err = env.fails(&["approvals", "--run", "ffff"], 3);
    assert!(err.contains("no run with id 'ffff'"), "{err}");
    let err = env.fails(&["approvals", "--run", "a"], 2);
    assert!(err.contains("ambiguous") && err.contains(RUN_A), "{err}");
}

/// Regression: `m approve 7`, meant for run 74723956, decided the old
/// approval 732769e7 of another run, since any approval prefix won.
#[test]
fn a_prefix_of_both_an_approval_and_a_run_is_ambiguous() {
    let env = TestEnv::new();
    let seeded = seed(&env);
    // A run whose id shares its first character with an old, decided
    // approval of run B, and has a pending approval of its own.
    let first = &seeded.approved[..1];
    let second = if &seeded.approved[1..2] == "0" {
        "1"
    } else {
        "0"
    };
    let run = format!("{first}{second}7f3e9c-0000-4000-8000-00000000000d");
    let mut store = env.store();
    let web = store.find_repo("web").unwrap().id;
    let mut b = store.batch().unwrap();
    b.create_run(&run, new_run(&web, "the newest run")).unwrap();
    let pending = b
        .request_approval(
            &run,
            ApprovalType::Generic,
            json!({ "title": "deploy?" }),
            None,
        )
        .unwrap()
        .id;
    b.commit().unwrap();

    for command in [
        vec!["approve", first],
        vec!["reject", first, "--reason", "no"],
        vec!["approval", "show", first],
    ] {
        let err = env.fails(&command, 2);
        assert!(err.contains("ambiguous"), "{command:?}: {err}");
        assert!(
            err.contains(&format!("approval {} (approved command", seeded.approved))
                && err.contains(&format!("run {run} (waiting_approval)")),
            "{command:?}: {err}"
        );
        assert!(err.contains("hint: type more characters"), "{err}");
    }
    // A longer prefix says which is meant.
    let shown = env.json(&["approval", "show", &run[..8], "--json"]);
    assert_eq!(shown["id"], pending.as_str());
    let shown = env.json(&["approval", "show", &seeded.approved[..8], "--json"]);
    assert_eq!(shown["id"], seeded.approved.as_str());
    assert_eq!(
        env.count("SELECT count(*) FROM approvals WHERE state = 'pending'"),
        2,
        "nothing was decided"
    );
}

// ---------------------------------------------------------------------------
// Databases m must not touch

/// Commands that read (and two that write) the database.
fn commands_on_the_database(env: &TestEnv) -> Vec<Vec<String>> {
    let repo = env.git_repo("some-repo");
    [
        vec!["repo", "list"],
        vec!["repo", "list", "--json"],
        vec!["repo", "rm", "api"],
        vec!["device", "list", "--json"],
        vec!["run", "list"],
        vec!["run", "list", "--json", "--state", "active"],
        vec!["run", "show", "a1"],
        vec!["events", "a1", "--json"],
        vec!["approvals"],
        vec!["approvals", "--state", "all", "--json"],
        vec!["device", "add", TOKEN],
        vec!["repo", "add", repo.to_str().unwrap()],
    ]
    .into_iter()
    .map(|args| args.into_iter().map(String::from).collect())
    .collect()
}

/// Every command fails with exit 6, naming the file, and leaves it as it was.
fn assert_refused_untouched(env: &TestEnv, message: &str) {
    let db = env.db_path();
    let before = std::fs::read(&db).unwrap();
    for args in commands_on_the_database(env) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = env.fails(&args, 6);
        assert!(err.contains(db.to_str().unwrap()), "m {args:?}: {err}");
        assert!(err.contains(message), "m {args:?}: {err}");
        assert!(err.contains("hint:"), "m {args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            std::fs::read(&db).unwrap() == before,
            "m {args:?} changed {}",
            db.display()
        );
    }
}

#[test]
fn a_garbage_database_is_refused_and_left_alone() {
    let env = TestEnv::new();
    std::fs::create_dir_all(&env.home).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let garbage: Vec<u8> = (0..16384)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(env.db_path(), &garbage).unwrap();
    assert_refused_untouched(&env, "not an m database");
}

#[test]
fn another_programs_sqlite_database_is_refused_and_left_alone() {
    let env = TestEnv::new();
    std::fs::create_dir_all(&env.home).unwrap();
    let conn = rusqlite::Connection::open(env.db_path()).unwrap();
    conn.execute_batch(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
         INSERT INTO notes (body) VALUES ('remember the milk');",
    )
    .unwrap();
    drop(conn);
    assert_refused_untouched(&env, "not m's");
}

#[test]
fn a_database_from_a_newer_m_is_refused_and_left_alone() {
    let env = TestEnv::new();
    // A current m database, then marked as written by a later schema
    // version, in rollback-journal mode so every change lands in the file.
    drop(env.store());
    let conn = rusqlite::Connection::open(env.db_path()).unwrap();
    conn.execute_batch("PRAGMA journal_mode = DELETE; PRAGMA user_version = 99;")
        .unwrap();
    drop(conn);
    assert_refused_untouched(&env, "newer m");
}

/// m creates its database whole (under a temporary name, then linked into
/// place), so an empty m.db is one cut short: SQLite would have started
/// afresh in it, silently.
#[test]
fn an_empty_database_file_is_refused_and_left_alone() {
    let env = TestEnv::new();
    std::fs::create_dir_all(&env.home).unwrap();
    std::fs::write(env.db_path(), b"").unwrap();
    assert_refused_untouched(&env, "empty (0 bytes)");
}

#[test]
fn racing_first_commands_create_one_whole_database() {
    let env = TestEnv::new();
    let children: Vec<_> = (0..8)
        .map(|_| {
            env.m()
                .args(["device", "list", "--json"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    env.ok(&["device", "add", TOKEN]);
    assert_eq!(array(&env.json(&["device", "list", "--json"])).len(), 1);
}

#[test]
fn a_database_of_the_first_schema_version_is_migrated() {
    let env = TestEnv::new();
    std::fs::create_dir_all(&env.home).unwrap();
    let conn = rusqlite::Connection::open(env.db_path()).unwrap();
    conn.execute_batch(include_str!("../schema.sql")).unwrap();
    conn.execute_batch(
        "PRAGMA user_version = 1; PRAGMA application_id = 1834968162;
         INSERT INTO repos VALUES ('0a000000-0000-4000-8000-000000000000', 'legacy', NULL, 1);",
    )
    .unwrap();
    drop(conn);
    let repos = env.json(&["repo", "list", "--json"]);
    assert_eq!(field(array(&repos), "name"), ["legacy"]);
    assert_eq!(env.count("PRAGMA user_version"), m::store::LATEST_VERSION);
}

// ---------------------------------------------------------------------------
// A closed pipe

#[test]
fn events_into_a_closed_pipe_end_quietly() {
    let env = TestEnv::new();
    let mut store = env.store();
    let repo = add_repo(&mut store, "chatty");
    let mut b = store.batch().unwrap();
    b.create_run(RUN_A, new_run(&repo, "talk a lot")).unwrap();
    let lines: Vec<NewEvent> = (0..3000)
        .map(|i| {
            output_event(
                RUN_A,
                &format!("line {i} of a long and chatty agent's output"),
            )
        })
        .collect();
    b.append(lines).unwrap();
    b.commit().unwrap();
    drop(store);

    for args in [&["events", "a1", "--json"][..], &["events", "a1"]] {
        let (first, out) = read_one_line_then_close(&env, args);
        assert!(first.contains("run.created"), "{first}");
        assert_eq!(out.status.code(), Some(0), "m {args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "m {args:?}");
    }
}

#[test]
fn run_list_into_a_closed_pipe_ends_quietly() {
    let env = TestEnv::new();
    let mut store = env.store();
    let repo = add_repo(&mut store, "busy");
    let mut b = store.batch().unwrap();
    for i in 0..2000 {
        let id = format!("{i:08x}-0000-4000-8000-000000000000");
        b.create_run(
            &id,
            new_run(&repo, &format!("task number {i}: make everything better")),
        )
        .unwrap();
        b.finish_run(&id, RunState::Completed, json!({})).unwrap();
    }
    b.commit().unwrap();
    drop(store);

    for args in [&["run", "list"][..], &["run", "list", "--json"]] {
        let (first, out) = read_one_line_then_close(&env, args);
        assert!(
            first.starts_with("RUN") || first.starts_with('['),
            "{first}"
        );
        assert_eq!(out.status.code(), Some(0), "m {args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "m {args:?}");
    }
}

// ---------------------------------------------------------------------------
// Colour

#[test]
fn color_always_paints_tables_and_never_does_not() {
    let env = TestEnv::new();
    seed(&env);
    // NO_COLOR is set in the test environment: an explicit --color wins.
    let painted = env.ok(&["run", "list", "--color", "always"]);
    assert!(painted.contains(ANSI), "{painted:?}");
    assert!(env.ok(&["repo", "list", "--color=always"]).contains(ANSI));
    for args in [
        &["run", "list", "--color", "never"][..],
        &["run", "list"],
        &["approvals"],
    ] {
        let plain = env.ok(args);
        assert!(!plain.contains(ANSI), "m {args:?}: {plain:?}");
    }
    // Colour does not move the columns.
    let shape = |text: &str| -> String {
        strip_ansi(text)
            .chars()
            .map(|c| if c.is_ascii_digit() { '0' } else { c })
            .collect()
    };
    let plain = env.ok(&["run", "list", "--color", "never"]);
    assert_eq!(shape(&painted), shape(&plain));
    // JSON is never painted.
    assert!(!env
        .ok(&["run", "list", "--json", "--color", "always"])
        .contains(ANSI));
}

#[test]
fn color_on_a_terminal_follows_no_color() {
    let env = TestEnv::new();
    seed(&env);
    assert!(on_terminal(&env, &["run", "list"], None).contains(ANSI));
    assert!(on_terminal(&env, &["run", "list"], Some("")).contains(ANSI));
    let plain = on_terminal(&env, &["run", "list"], Some("1"));
    assert!(
        !plain.contains(ANSI) && plain.contains("a1000000"),
        "{plain:?}"
    );
    let plain = on_terminal(&env, &["run", "list", "--color", "never"], None);
    assert!(
        !plain.contains(ANSI) && plain.contains("a1000000"),
        "{plain:?}"
    );
}

// ---------------------------------------------------------------------------
// Help, version, usage

#[test]
fn version_help_and_a_bad_subcommand() {
    let env = TestEnv::new();
    assert_eq!(
        env.ok(&["--version"]).trim(),
        format!("m {}", env!("CARGO_PKG_VERSION"))
    );
    let help = env.ok(&["--help"]);
    for command in ["repo", "run", "events", "approvals", "device", "daemon"] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(command)),
            "{command}: {help}"
        );
    }
    assert!(env.ok(&["repo", "add", "--help"]).contains("--name"));
    let err = env.fails(&["frobnicate"], 2);
    assert!(err.contains("frobnicate"), "{err}");
    env.fails(&[], 2);
    env.fails(&["repo", "list", "--bogus"], 2);
    env.fails(&["run", "show"], 2);
}

#[test]
fn a_damaged_database_is_refused_and_left_alone() {
    let env = TestEnv::new();
    let mut store = env.store();
    add_repo(&mut store, "api");
    drop(store);
    let conn = rusqlite::Connection::open(env.db_path()).unwrap();
    conn.execute_batch("PRAGMA journal_mode = DELETE;").unwrap();
    drop(conn);
    // Keep SQLite's header, scribble over the schema on page 1 and beyond.
    let mut bytes = std::fs::read(env.db_path()).unwrap();
    for (i, b) in bytes.iter_mut().enumerate().skip(100) {
        *b = (i * 7 % 251) as u8;
    }
    std::fs::write(env.db_path(), &bytes).unwrap();
    assert_refused_untouched(&env, "damaged");
}

// ---------------------------------------------------------------------------
// run start: what is refused before any daemon is asked

/// Regression: an unknown agent's hint named an `--exec` flag m lacks.
#[test]
fn an_unknown_agent_hints_at_the_real_syntax() {
    let env = TestEnv::new();
    add_repo(&mut env.store(), "notes");
    let err = env.fails(&["run", "start", "-r", "notes", "x", "--agent", "nope"], 2);
    assert!(err.contains("unknown agent 'nope'"), "{err}");
    assert!(
        err.contains("-- COMMAND") && !err.contains("--exec"),
        "{err}"
    );
}

/// Regression: --base on a scratch repo and --once on a plain command were
/// accepted and meant nothing.
#[test]
fn options_that_mean_nothing_for_the_run_are_usage_errors() {
    let env = TestEnv::new();
    add_repo(&mut env.store(), "notes");
    let err = env.fails(
        &[
            "run", "start", "-r", "notes", "x", "--base", "main", "--", "true",
        ],
        2,
    );
    assert!(
        err.contains("--base main") && err.contains("scratch"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    let err = env.fails(
        &["run", "start", "-r", "notes", "x", "--once", "--", "true"],
        2,
    );
    assert!(err.contains("--once is for ACP agents"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(env.count("SELECT COUNT(*) FROM runs"), 0);
    assert!(
        !env.home.join("run").join("m.sock").exists(),
        "no daemon was started"
    );
}

// ---------------------------------------------------------------------------
// mistakes on the command line, help

/// Regression: `m rnu` said only "unrecognized subcommand" (clap's
/// similarity measure misses a swap of two letters in a short word).
#[test]
fn a_mistyped_command_suggests_the_one_meant() {
    let env = TestEnv::new();
    let err = env.fails(&["rnu"], 2);
    assert!(err.contains("a similar subcommand exists: 'run'"), "{err}");
    let err = env.fails(&["run", "strat"], 2);
    assert!(
        err.contains("a similar subcommand exists: 'start'"),
        "{err}"
    );
    let err = env.fails(&["run", "xyzzy"], 2);
    assert!(!err.contains("similar"), "no far-fetched guess: {err}");
}

/// The subcommands of `m WORDS`, from its help.
fn subcommands(env: &TestEnv, words: &[&str]) -> Vec<String> {
    let mut args = words.to_vec();
    args.push("--help");
    let help = env.ok(&args);
    let Some(list) = help.split("Commands:\n").nth(1) else {
        return Vec::new();
    };
    list.lines()
        .take_while(|l| l.starts_with("  ") || l.is_empty())
        .filter(|l| !l.starts_with("   ") && !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Regression: `--json` had no help text in 8 commands.
#[test]
fn every_json_option_says_what_it_prints() {
    let env = TestEnv::new();
    let mut todo: Vec<Vec<String>> = vec![Vec::new()];
    let mut checked = 0;
    while let Some(words) = todo.pop() {
        let words_ref: Vec<&str> = words.iter().map(String::as_str).collect();
        for sub in subcommands(&env, &words_ref) {
            let mut next = words.clone();
            next.push(sub);
            todo.push(next);
        }
        let mut args = words_ref.clone();
        args.push("-h");
        let help = env.ok(&args);
        if let Some(line) = help.lines().find(|l| l.trim_start().starts_with("--json")) {
            let said = line.trim_start().trim_start_matches("--json").trim();
            assert!(
                !said.is_empty(),
                "m {} --json has no help:\n{help}",
                words.join(" ")
            );
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} commands have --json");
}

/// Regression: `config show` padded every line to the longest value and
/// printed JSON and `null` in what looked like TOML.
#[test]
fn config_show_prints_valid_toml() {
    let env = TestEnv::new();
    let hook = "echo a hook command long enough to be wider than any other line here";
    env.write_config(&format!(
        "[run]\nreview = true\n[agents.claude]\ncommand = [\"claude-code-acp\", \"--verbose\"]\n\
             [[notify.command]]\nargv = [\"sh\", \"-c\", \"{hook}\"]\n"
    ));
    let shown = env.ok(&["config", "show"]);
    let parsed: toml::Table = toml::from_str(&shown).unwrap_or_else(|e| panic!("{e}\n{shown}"));
    assert_eq!(parsed["run"]["review"].as_bool(), Some(true));
    // The tests set M_GRACE_MS=1000.
    assert_eq!(parsed["daemon"]["grace_seconds"].as_integer(), Some(1));
    assert_eq!(parsed["daemon"]["autostart"].as_bool(), Some(true));
    assert_eq!(
        parsed["agents"]["claude"]["command"][1].as_str(),
        Some("--verbose")
    );
    assert_eq!(
        parsed["notify"]["command"][0]["argv"][2].as_str(),
        Some(hook)
    );
    assert!(!shown.contains("null"), "{shown}");
    for line in shown.lines().filter(|l| !l.contains(hook)) {
        assert!(line.len() <= 80, "padded past its width: {line:?}");
    }
    assert!(shown.contains("# notify.apns is not set"), "{shown}");
}

/// Regression: `m approve` (and `m reject`, `m reply`) with no daemon
/// started one, whose recovery then failed the very run being answered and
/// withdrew its approval. A command that answers a live run now needs the
/// daemon that runs it, and starts none.
#[test]
fn answering_a_run_with_no_daemon_starts_none_and_decides_nothing() {
    let env = TestEnv::new();
    let seeded = seed(&env);
    for command in [
        vec!["approve", seeded.pending.as_str()],
        vec!["reject", seeded.pending.as_str(), "--reason", "no"],
        vec!["reply", RUN_A, "yes"],
    ] {
        let err = env.fails(&command, 5);
        assert!(
            err.contains("no daemon is running, so run a1000000 is not running either"),
            "{command:?}: {err}"
        );
        assert!(err.contains("hint: `m daemon start`"), "{command:?}: {err}");
        assert_eq!(env.daemon_pid(), None, "{command:?} started a daemon");
    }
    let shown = env.json(&["approval", "show", &seeded.pending, "--json"]);
    assert_eq!(shown["state"], "pending");
    let run = env.json(&["run", "show", RUN_A, "--json"]);
    assert_eq!(run["state"], "waiting_approval");
}

/// Regression: `tool.permission`, `agent.session`, `agent.usage` were
/// printed as raw JSON, a diff's `approval.requested` had an empty summary
/// and a scratch run's `workspace.ready` ended with "on ".
#[test]
fn every_event_type_reads_as_a_line_not_json() {
    let env = TestEnv::new();
    let mut store = env.store();
    let repo = add_repo(&mut store, "api");
    let mut b = store.batch().unwrap();
    b.create_run(RUN_A, new_run(&repo, "everything")).unwrap();
    let samples: Vec<(EventType, Value)> = vec![
        (EventType::RunIdle, json!({"after_seconds": 600})),
        (
            EventType::WorkspaceReady,
            json!({"path": "/tmp/scratch", "branch": null}),
        ),
        (
            EventType::AgentSession,
            json!({"sessionId": "sess-1234567890", "protocolVersion": 1,
            "agent": {"name": "claude-code", "version": "1.2.3"}, "capabilities": {"loadSession": true}}),
        ),
        (
            EventType::AgentAuth,
            json!({"methodId": "api-key", "name": "API key", "ok": true}),
        ),
        (
            EventType::AgentMode,
            json!({"modeId": "default", "asks": true}),
        ),
        (
            EventType::AgentUsage,
            json!({"used": 1200, "size": 200000, "cost": {"amount": 0.02, "currency": "USD"}}),
        ),
        (
            EventType::AgentUpdate,
            json!({"sessionUpdate": "config_option_update", "update": {"x": 1}}),
        ),
        (EventType::AgentTurn, json!({"stopReason": "end_turn"})),
        (
            EventType::ToolPermission,
            json!({"toolCallId": "t1", "decision": "approved",
            "outcome": "selected", "optionId": "allow", "optionKind": "allow_once"}),
        ),
        (
            EventType::ApprovalRequested,
            json!({"approval_id": "ap-123456789", "approval_type": "diff",
            "payload": {"patch": "--- a\n+++ b\n", "stat": {"files": 2, "insertions": 5, "deletions": 1}}}),
        ),
        (EventType::InputWithdrawn, json!({"question_seq": 3})),
    ];
    let types: Vec<EventType> = samples.iter().map(|(t, _)| *t).collect();
    b.append(
        samples
            .into_iter()
            .map(|(t, data)| NewEvent::new(RUN_A, t, data))
            .collect(),
    )
    .unwrap();
    b.commit().unwrap();
    drop(store);
    let shown = env.ok(&["events", "a1"]);
    for t in types {
        let line = shown
            .lines()
            .find(|l| l.contains(&format!(" {} ", t.as_str())))
            .unwrap_or_else(|| panic!("no {} line in\n{shown}", t.as_str()));
        let said = line.split(t.as_str()).nth(1).unwrap().trim();
        assert!(!said.is_empty(), "{line}");
        assert!(
            !said.contains('{') && !said.contains('"'),
            "raw JSON: {line}"
        );
    }
    assert!(
        shown.contains("workspace.ready    /tmp/scratch\n"),
        "{shown}"
    );
    assert!(
        shown.contains("diff approval ap-12345: 2 file(s), +5 -1"),
        "{shown}"
    );
    assert!(shown.contains("approved (allow_once)"), "{shown}");
    assert!(
        shown.contains("1200 of 200000 tokens used, cost 0.02 USD"),
        "{shown}"
    );
    assert!(
        shown.contains("session sess-123 with claude-code 1.2.3 (ACP 1)"),
        "{shown}"
    );
}

/// Regression: `m run show` printed the agent as JSON.
#[test]
fn run_show_prints_the_agent_as_a_command_line() {
    let env = TestEnv::new();
    env.repo("api");
    let out = env.run(&[
        "run", "start", "-r", "api", "hi", "--wait", "--", "sh", "-c", "echo hi",
    ]);
    let run = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let shown = env.ok(&["run", "show", &run]);
    let line = shown
        .lines()
        .find(|l| l.trim_start().starts_with("agent"))
        .unwrap();
    assert!(line.ends_with("sh -c 'echo hi'"), "{line}");
}
