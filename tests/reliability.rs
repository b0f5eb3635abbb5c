//! Faults, load and hostile input: the daemon keeps working, loses nothing,
//! and lets no one else in. Each case is bounded in time; the slow,
//! randomised variants run with `M_SLOW_TESTS=1` (or `--ignored`).

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{alive, assert_all_gone, TestEnv};

fn socket(env: &TestEnv) -> std::path::PathBuf {
    env.home.join("run").join("m.sock")
}

fn hello() -> String {
    format!(
        "{{\"protocol\":2,\"version\":\"{}\"}}\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// Reads frames until the daemon closes the connection.
fn read_all(stream: UnixStream) -> Vec<serde_json::Value> {
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    BufReader::new(stream)
        .lines()
        .map_while(Result::ok)
        .map(|l| serde_json::from_str(&l).expect("daemon frames are JSON"))
        .collect()
}

fn rss_kb(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn hostile_frames_cost_only_their_own_connection() {
    let env = TestEnv::new();
    env.ok(&["daemon", "start"]);
    let daemon = env.daemon_pid().unwrap();

    // Garbage instead of hello.
    let mut s = UnixStream::connect(socket(&env)).unwrap();
    s.write_all(b"\x00\xffnot json at all\n").unwrap();
    let frames = read_all(s);
    assert_eq!(frames.last().unwrap()["type"], "error", "{frames:?}");

    // An unknown request type after a good hello.
    let mut s = UnixStream::connect(socket(&env)).unwrap();
    s.write_all(format!("{}{{\"type\":\"launch_missiles\"}}\n", hello()).as_bytes())
        .unwrap();
    let frames = read_all(s);
    assert_eq!(frames.last().unwrap()["type"], "error", "{frames:?}");

    // A wrong protocol version: the daemon answers hello with its own and closes.
    let mut s = UnixStream::connect(socket(&env)).unwrap();
    s.write_all(b"{\"protocol\":999,\"version\":\"9.9.9\"}\n")
        .unwrap();
    let frames = read_all(s);
    assert_eq!(frames[0]["protocol"], 2);

    // An endless line: cut off at the frame cap, memory bounded.
    let before = rss_kb(daemon);
    let mut s = UnixStream::connect(socket(&env)).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0usize;
    while sent < 64 * 1024 * 1024 {
        if s.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    assert!(
        sent < 64 * 1024 * 1024,
        "the daemon kept reading an endless frame"
    );
    let after = rss_kb(daemon);
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );

    // A half frame, then silence: other clients are not held up.
    let mut stalled = UnixStream::connect(socket(&env)).unwrap();
    stalled.write_all(b"{\"protocol\":1,").unwrap();
    let started = Instant::now();
    env.ok(&["daemon", "status"]);
    env.ok(&["status"]);
    // Well under the daemon's 10 s frame timeout: not held up by it.
    assert!(started.elapsed() < Duration::from_secs(9));
    drop(stalled);

    assert!(alive(daemon), "the daemon died");
    env.ok(&["daemon", "status"]);
}

#[test]
fn a_client_of_another_user_is_dropped_before_any_request_is_read() {
    // CI runs as root; `setpriv` makes a process of another uid.
    let is_root = unsafe { libc::geteuid() } == 0;
    let setpriv = std::process::Command::new("setpriv").arg("--help").output();
    if !is_root || setpriv.is_err() {
        eprintln!("skipped: needs root and setpriv");
        return;
    }
    let env = TestEnv::new();
    env.ok(&["daemon", "start"]);
    // Let the other user reach the socket file so only the uid check stops it.
    use std::os::unix::fs::PermissionsExt;
    for dir in [env.dir.path().to_path_buf(), env.home.clone()] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    std::fs::set_permissions(env.home.join("run"), std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(socket(&env), std::fs::Permissions::from_mode(0o777)).unwrap();
    // A perl client (python may live where the other user cannot reach).
    let script = format!(
        r#"use IO::Socket::UNIX; $SIG{{PIPE}} = "IGNORE"; my $s = IO::Socket::UNIX->new(Peer => '{}') or die "connect: $!"; print $s '{}'; my $buf = ''; my $n = sysread($s, $buf, 4096); print defined($n) ? "read:$buf" : "error";"#,
        socket(&env).display(),
        hello()
    );
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/perl",
            "-e",
            &script,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout == "read:" || stdout == "error",
        "a foreign client got an answer: {stdout} {} {:?}",
        String::from_utf8_lossy(&out.stderr),
        out.status
    );
    let log = std::fs::read_to_string(env.home.join("logs/daemon.log")).unwrap();
    assert!(log.contains("another user"), "{log}");
    std::fs::set_permissions(env.home.join("run"), std::fs::Permissions::from_mode(0o700)).unwrap();
    env.ok(&["daemon", "status"]);
}

#[test]
fn a_held_write_lock_makes_the_cli_wait_then_fail_clearly() {
    let env = TestEnv::new();
    env.ok(&["device", "list"]);
    let db = env.home.join("m.db");
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO devices VALUES ('aa', 'ios', 0);")
        .unwrap();
    let started = Instant::now();
    let out = env
        .m()
        .env("M_BUSY_TIMEOUT_MS", "300")
        .args(["device", "add", &"ab".repeat(32)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("locked") && err.contains("m.db"), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    env.ok(&["device", "add", &"ab".repeat(32)]);
    let check: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn a_repo_whose_submodules_point_at_a_hostile_url_executes_nothing() {
    let env = TestEnv::new();
    let repo = env.git_repo("evil");
    let canary = env.dir.path().join("canary");
    std::fs::write(
        repo.join(".gitmodules"),
        format!(
            "[submodule \"x\"]\n\tpath = x\n\turl = ext::sh -c touch% {}\n",
            canary.display()
        ),
    )
    .unwrap();
    env.git(&repo, &["add", ".gitmodules"]);
    env.git(&repo, &["commit", "-q", "-m", "submodule"]);
    env.ok(&["repo", "add", repo.to_str().unwrap(), "--name", "evil"]);
    let logger = env.script(
        "ssh-logger.sh",
        &format!("echo called >> {}", canary.display()),
    );
    let agent = env.script("agent.sh", "git status >/dev/null; echo ok");
    common::exits(
        env.m()
            .env("GIT_SSH_COMMAND", &logger)
            .args(["run", "start", "-r", "evil", "x", "--wait", "--"])
            .arg(&agent),
        0,
    );
    assert!(!canary.exists(), "something executed the hostile URL");

    // Option-like base names never reach git as options.
    let out = env.run(&[
        "run",
        "start",
        "-r",
        "evil",
        "x",
        "--base=-h",
        "--wait",
        "--",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(10));
    assert!(!canary.exists());
}

#[test]
fn misbehaving_agents_end_in_a_final_state_with_every_child_gone() {
    let env = TestEnv::new();
    let pids = env.dir.path().join("pids");
    let cases = [
        // 32 MB of output with no newline: split, stored, memory bounded.
        (
            "flood",
            "head -c 33554432 /dev/zero | tr '\\0' x".to_string(),
            0,
        ),
        // Closes its output and lives on: cancelled below.
        (
            "quiet",
            format!(
                "exec >/dev/null 2>&1; echo $$ >> {}; sleep 300",
                pids.display()
            ),
            11,
        ),
        // Forks children and exits: the children go with the run.
        (
            "forker",
            format!(
                "(sleep 300 & echo $! >> {0}) ; sleep 300 & echo $! >> {0}; exit 0",
                pids.display()
            ),
            0,
        ),
        // Dies with an approval pending.
        (
            "dies",
            "m ask approval --type generic --title x & sleep 0.5; kill -9 $$".to_string(),
            10,
        ),
    ];
    for (name, body, expected) in &cases {
        env.repo(name);
        let agent = env.script(&format!("{name}.sh"), body);
        let run = env.start(name, name, &agent);
        if *name == "quiet" {
            common::wait_for("the quiet agent's pid", || {
                std::fs::read_to_string(&pids)
                    .unwrap_or_default()
                    .contains('\n')
            });
            env.ok(&["run", "cancel", &run]);
        }
        let out = env
            .m()
            .args(["events", &run, "--follow"])
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(*expected), "{name}");
        if *name == "flood" {
            let bytes: usize = env.output_lines(&run).iter().map(String::len).sum();
            assert_eq!(bytes, 33_554_432, "every byte stored");
            let daemon = env.daemon_pid().unwrap();
            let hwm = std::fs::read_to_string(format!("/proc/{daemon}/status")).unwrap();
            let hwm: u64 = hwm
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap();
            assert!(hwm < 200 * 1024, "daemon peak RSS {hwm} kB");
        }
        if *name == "dies" {
            let pending = env.json(&["approvals", "--run", &run, "--json"]);
            assert!(pending.as_array().unwrap().is_empty());
        }
    }
    assert_all_gone(&pids);
}

#[test]
fn many_followers_of_many_runs_each_get_every_event_once_in_order() {
    let slow = std::env::var_os("M_SLOW_TESTS").is_some();
    let (runs, followers) = if slow { (50, 10) } else { (10, 4) };
    let env = TestEnv::new();
    env.ok(&["daemon", "start"]);
    let agent = env.script("agent.sh", "for i in $(seq 1 300); do echo line $i; done");
    let mut ids = Vec::new();
    for i in 0..runs {
        let name = format!("r{i}");
        env.repo(&name);
        ids.push(env.start(&name, "load", &agent));
    }
    let mut children = Vec::new();
    for id in &ids {
        for _ in 0..followers {
            children.push((
                id.clone(),
                env.m()
                    .args(["events", id, "--follow", "--json"])
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap(),
            ));
        }
    }
    let mut checked = 0;
    for (id, child) in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let seqs: Vec<i64> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        let stored = env.events(&id).len() as i64;
        assert_eq!(seqs, (1..=stored).collect::<Vec<_>>(), "run {id}");
        checked += seqs.len();
    }
    assert!(checked > 0);
    let daemon = env.daemon_pid().unwrap();
    assert!(
        rss_kb(daemon) < 100 * 1024,
        "daemon RSS {} kB",
        rss_kb(daemon)
    );
}

#[test]
fn bad_command_line_input_gets_clear_errors_and_never_a_panic() {
    let env = TestEnv::new();
    env.repo("api");
    let huge = "p".repeat(10 * 1024 * 1024);
    let cases: Vec<Vec<std::ffi::OsString>> = vec![
        vec!["run".into(), "show".into(), "".into()],
        vec!["run".into(), "show".into(), "zzzz".into()],
        vec!["events".into(), "\u{1b}[31m".into()],
        vec!["approve".into(), "../../etc".into()],
        vec!["repo".into(), "add".into(), "".into()],
        vec!["repo".into(), "add".into(), "\n".into()],
        vec!["device".into(), "add".into(), "\u{7}".into()],
        vec![
            "run".into(),
            "list".into(),
            "--state".into(),
            "bogus".into(),
        ],
        vec!["run".into(), "list".into(), "--limit".into(), "-1".into()],
        vec![
            "run".into(),
            "start".into(),
            "-r".into(),
            "nope".into(),
            "x".into(),
            "--".into(),
            "true".into(),
        ],
        vec![
            "run".into(),
            "start".into(),
            "-r".into(),
            "api".into(),
            "".into(),
            "--".into(),
            "true".into(),
        ],
        vec![
            "run".into(),
            "start".into(),
            "-r".into(),
            "api".into(),
            "x".into(),
        ],
        vec!["reply".into(), "abc".into(), "x".into()],
        vec![std::os::unix::ffi::OsStringExt::from_vec(vec![0xff, 0xfe])],
        vec![
            "repo".into(),
            "add".into(),
            std::os::unix::ffi::OsStringExt::from_vec(vec![b'/', 0xff]),
        ],
        vec![
            "run".into(),
            "start".into(),
            "-r".into(),
            "api".into(),
            "p".repeat(100_000).into(),
            "--".into(),
            "true".into(),
        ],
        vec![
            "run".into(),
            "start".into(),
            "-r".into(),
            "api".into(),
            "-".into(),
            "--".into(),
            "true".into(),
        ],
    ];
    let mut tried = 0;
    for args in &cases {
        // A prompt of `-` is read from stdin: the 10 MB one.
        let mut child = env
            .m()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let feed = huge.clone();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(feed.as_bytes());
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        let code = out.status.code().expect("exited, not killed");
        // A 100 kB prompt is fine; the 10 MB one (on stdin) is refused clearly.
        if args.iter().any(|a| a == "-") {
            assert_eq!(code, 2, "{err}");
            assert!(err.contains("the limit is 1024 KiB"), "{err}");
        } else if let Some(len) = args.iter().find(|a| a.len() > 1000).map(|a| a.len()) {
            assert_eq!(code, 0, "{err}");
            let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
            env.ok(&["run", "wait", &id]);
            let run = env.json(&["run", "show", &id, "--json"]);
            assert_eq!(run["prompt"].as_str().unwrap().len(), len);
        } else {
            assert!([2, 3, 4].contains(&code), "{args:?} exited {code}: {err}");
            assert!(err.starts_with("error:"), "{args:?}: {err}");
        }
        tried += 1;
    }
    assert_eq!(tried, cases.len());
}

#[test]
fn kill_nine_rounds_lose_no_acknowledged_event_and_leave_nothing_half_done() {
    let rounds = if std::env::var_os("M_SLOW_TESTS").is_some() {
        20
    } else {
        3
    };
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script(
        "agent.sh",
        "m ask approval --type generic --title hold & for i in $(seq 1 100000); do echo line $i; done; wait",
    );
    let mut rng = 0x9e3779b9u64;
    for round in 0..rounds {
        let run = env.start("api", &format!("round {round}"), &agent);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(50 + rng % 400));
        // What a follower saw was acknowledged (committed): it must survive.
        let seen = env.events(&run).len();
        env.kill_daemon();
        env.ok(&["daemon", "start"]);
        assert_eq!(env.run_state(&run), "failed", "round {round}");
        let events = env.events(&run);
        assert!(
            events.len() >= seen,
            "round {round}: {} < {seen}",
            events.len()
        );
        let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as i64).collect::<Vec<_>>(),
            "round {round}"
        );
        assert!(env
            .json(&["approvals", "--json"])
            .as_array()
            .unwrap()
            .is_empty());
        let db = rusqlite::Connection::open(env.home.join("m.db")).unwrap();
        let check: String = db
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let active: i64 = db
            .query_row("SELECT count(*) FROM runs WHERE state IN ('running','waiting_input','waiting_approval')", [], |r| r.get(0))
            .unwrap();
        assert_eq!(active, 0);
    }
    // No agent of any round survived.
    let ps = std::process::Command::new("pgrep")
        .args(["-f", env.dir.path().join("agent.sh").to_str().unwrap()])
        .output();
    if let Ok(ps) = ps {
        assert!(
            ps.stdout.is_empty(),
            "agents survived: {}",
            String::from_utf8_lossy(&ps.stdout)
        );
    }
}

#[test]
fn the_database_and_logs_are_created_private() {
    use std::os::unix::fs::MetadataExt;
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script("agent.sh", "echo hi");
    let run = env.start("api", "x", &agent);
    env.ok(&["run", "wait", &run]);
    for path in ["m.db", "logs/daemon.log", "daemon.lock"] {
        let mode = std::fs::metadata(env.home.join(path)).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600, "{path} is {mode:o}");
    }
    for dir in ["", "logs", "run"] {
        let mode = std::fs::metadata(env.home.join(dir)).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700, "{dir}/ is {mode:o}");
    }
    let mut log = String::new();
    std::fs::File::open(env.home.join("logs/daemon.log"))
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("ready"));
}

/// A small tmpfs mounted over a directory, unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        ok.then(|| SmallDisk(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let out = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A small tmpfs over the test's M_HOME; none (the test says it is
/// skipped) where this process may not mount one.
fn small_home(env: &TestEnv, size: &str) -> Option<SmallDisk> {
    let disk = SmallDisk::mount(&env.home, size);
    if disk.is_none() {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
    }
    disk
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .output();
    }
}

#[test]
fn a_full_disk_slows_the_agent_loses_nothing_and_recovers_when_space_returns() {
    let env = TestEnv::new();
    let Some(disk) = small_home(&env, "3m") else {
        return;
    };
    env.repo("api");
    let gate = env.dir.path().join("gate");
    let lines = 60_000;
    let agent = env.script(
        "agent.sh",
        &format!(
            "seq 1 {lines} | sed 's/$/ some padding to make the line longer than it was/'\nwhile [ ! -e {} ]; do sleep 0.05; done",
            gate.display()
        ),
    );
    let run = env.start("api", "fill the disk", &agent);
    let log = env.home.join("logs/daemon.log");
    common::wait_within(Duration::from_secs(60), "the disk to fill", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("full")
    });
    // The daemon is up, reads work, and the run is not wrongly over.
    env.ok(&["daemon", "status"]);
    assert_eq!(env.run_state(&run), "running");
    // A write from the command line says what is wrong.
    let out = env.run(&["device", "add", &"cd".repeat(32)]);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("full") || err.contains("m.db"), "{err}");
    }

    disk.resize("256m");
    std::fs::write(&gate, "").unwrap();
    env.ok(&["run", "wait", &run]);
    let stored = stored_stdout(&env, &run).len();
    assert_eq!(stored, lines, "every line stored once space returned");
    env.ok(&["daemon", "stop"]);
}

/// `m daemon run` in the foreground, with `stderr` as its log.
fn foreground_daemon(env: &TestEnv, stderr: Stdio, fault: Option<&str>) -> std::process::Child {
    let mut cmd = env.m();
    cmd.args(["daemon", "run"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    if let Some(fault) = fault {
        cmd.env("M_TEST_FAULT", fault);
    }
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while env
        .m()
        .args(["daemon", "status"])
        .env("M_NO_AUTOSTART", "1")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "the daemon never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Waits for a child to exit; its exit code.
fn exit_code_within(child: &mut std::process::Child, within: Duration) -> Option<i32> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(Instant::now() < deadline, "the daemon did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_daemon_whose_log_cannot_be_written_works_and_counts_the_lost_lines() {
    let env = TestEnv::new();
    env.repo("api");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut daemon = foreground_daemon(&env, Stdio::from(full), None);
    let agent = env.script("agent.sh", "seq 1 500");
    let run = env.start("api", "x", &agent);
    env.ok(&["run", "wait", &run]);
    let status = env.json(&["daemon", "status", "--json"]);
    let health = &status["daemon"]["health"];
    assert!(
        health["log_write_failures"].as_u64().unwrap() > 0,
        "{status}"
    );
    assert!(env.ok(&["status"]).contains("could not be written"));
    env.ok(&["daemon", "stop"]);
    assert_eq!(
        exit_code_within(&mut daemon, Duration::from_secs(30)),
        Some(0)
    );
}

#[test]
fn a_daemon_says_how_its_writer_and_disk_stand() {
    let env = TestEnv::new();
    env.ok(&["daemon", "start"]);
    let status = env.json(&["status", "--json"]);
    let health = &status["daemon"]["health"];
    assert_eq!(health["writer"], "ok", "{status}");
    assert!(health["free_bytes"].as_u64().unwrap() > 0, "{status}");
    assert!(health["last_commit_error"].is_null(), "{status}");
    let human = env.ok(&["status"]);
    assert!(human.contains("writer    ok"), "{human}");
    assert!(human.contains("free"), "{human}");
    let human = env.ok(&["daemon", "status"]);
    assert!(human.contains("writer: ok"), "{human}");
}

#[test]
fn a_daemon_whose_writer_dies_exits_at_once_and_the_next_one_recovers_the_run() {
    let env = TestEnv::new();
    env.repo("api");
    let log = std::fs::File::create(env.dir.path().join("daemon.err")).unwrap();
    let mut daemon = foreground_daemon(&env, Stdio::from(log), Some("writer"));
    let agent = env.script("agent.sh", "sleep 30");
    // The writer dies after its first commit (this run's creation).
    let _ = env.run(&[
        "run",
        "start",
        "-r",
        "api",
        "x",
        "--",
        agent.to_str().unwrap(),
    ]);
    let code = exit_code_within(&mut daemon, Duration::from_secs(20));
    assert_ne!(
        code,
        Some(0),
        "a daemon without its writer must not live on"
    );
    let err = std::fs::read_to_string(env.dir.path().join("daemon.err")).unwrap();
    assert!(err.contains("writer stopped"), "{err}");
    // The next command starts a daemon (without the fault) whose recovery
    // ends the run that was left active.
    let runs = env.json(&["run", "list", "--json"]);
    let run = runs[0]["id"].as_str().unwrap().to_string();
    env.ok(&["daemon", "start"]);
    env.wait_state(&run, "failed");
}

#[test]
fn a_daemon_whose_checkpointer_or_dispatcher_dies_exits_non_zero() {
    for fault in ["checkpointer", "dispatcher"] {
        let env = TestEnv::new();
        let mut daemon = env
            .m()
            .args(["daemon", "run"])
            .env("M_TEST_FAULT", fault)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let code = exit_code_within(&mut daemon, Duration::from_secs(20));
        assert_ne!(code, Some(0), "{fault}");
        let mut err = String::new();
        daemon
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(err.contains("stopped unexpectedly"), "{fault}: {err}");
    }
}

/// A command that waits on a stopped daemon gives up after its deadline
/// (2 s here), saying which daemon does not answer; it works again once the
/// daemon is continued. A follower of a quiet run is kept alive by
/// heartbeats meanwhile.
#[test]
fn a_stopped_daemon_gets_a_clear_answer_within_the_deadline() {
    let env = TestEnv::new();
    env.repo("api");
    let gate = env.dir.path().join("gate");
    let agent = env.script(
        "agent.sh",
        &format!(
            "m ask approval --type generic --title deploy\nwhile [ ! -e {} ]; do sleep 0.05; done",
            gate.display()
        ),
    );
    // The daemon it starts, and so the agent's `m ask`, waits a minute.
    let out = env
        .m()
        .args([
            "run",
            "start",
            "-r",
            "api",
            "x",
            "--",
            agent.to_str().unwrap(),
        ])
        .env("M_ANSWER_TIMEOUT_MS", "60000")
        .output()
        .unwrap();
    let run = String::from_utf8_lossy(&out.stdout).trim().to_string();
    env.wait_state(&run, "waiting_approval");
    let with_deadline = |args: &[&str]| {
        let mut cmd = env.m();
        cmd.args(args).env("M_ANSWER_TIMEOUT_MS", "2000");
        cmd
    };
    // A quiet run's follower outlives the deadline: heartbeats.
    let mut follower = with_deadline(&["events", &run, "--follow"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    assert!(follower.try_wait().unwrap().is_none(), "heartbeats keep it");

    let pid = env.daemon_pid().unwrap();
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    // The kernel wakes one thread for the SIGSTOP, and that one stops the
    // others once it gets a CPU: on a loaded machine another thread still
    // answered `m status` after kill() had returned.
    wait_all_threads_stopped(pid);
    let commands: Vec<Vec<&str>> = vec![
        vec!["status"],
        vec!["daemon", "status"],
        vec!["run", "cancel", &run],
        vec!["approve", &run],
        vec!["events", &run, "--follow"],
        vec!["run", "wait", &run],
    ];
    // All at once: each waits out the same deadline, so together they take
    // as long as one (the time each took is measured from the first start,
    // at most what it really took).
    let started = Instant::now();
    let clients: Vec<std::process::Child> = commands
        .iter()
        .map(|args| {
            with_deadline(args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (args, client) in commands.iter().zip(clients) {
        let out = client.wait_with_output().unwrap();
        let took = started.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "m {args:?}: {err}");
        assert!(
            err.contains(&format!("the daemon (pid {pid}) does not answer after 2 s")),
            "m {args:?}: {err}"
        );
        assert!(err.contains(&format!("kill -CONT {pid}")), "{err}");
        eprintln!("m {args:?} with the daemon stopped: exit 5 after {took:?} (deadline 2 s)");
        assert!(took < Duration::from_secs(8), "m {args:?} took {took:?}");
    }
    // The follower that was waiting hears the silence too.
    let code = exit_code_within(&mut follower, Duration::from_secs(8));
    assert_eq!(code, Some(5));

    unsafe { libc::kill(pid, libc::SIGCONT) };
    env.ok(&["status"]);
    // What was asked of it while stopped, by clients that gave up, is not
    // done behind their backs.
    assert_eq!(env.run_state(&run), "waiting_approval");
    env.ok(&["approve", &run]);
    std::fs::write(&gate, "").unwrap();
    env.ok(&["run", "wait", &run]);
}

/// Waits until every thread of the process is stopped (state `T`).
fn wait_all_threads_stopped(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let states: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .flatten()
            .map(|task| {
                let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
                stat.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .chars()
                    .take(1)
                    .collect()
            })
            .collect();
        if states.iter().all(|s| s == "T") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not stop: {states:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Someone else's socket where the daemon's should be (planted, or left by
/// another account) is refused before anything is read from it.
#[test]
fn a_socket_served_by_another_user_is_refused() {
    let is_root = unsafe { libc::geteuid() } == 0;
    if !is_root
        || std::process::Command::new("setpriv")
            .arg("--help")
            .output()
            .is_err()
    {
        eprintln!("skipped: needs root and setpriv");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let public = env.dir.path().join("public");
    std::fs::create_dir(&public).unwrap();
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o777)).unwrap();
    let planted = public.join("fake.sock");
    // A fake daemon, as nobody, that answers anything with a made-up pid.
    let script = format!(
        r#"use IO::Socket::UNIX; $SIG{{PIPE}} = "IGNORE"; my $l = IO::Socket::UNIX->new(Local => '{}', Listen => 5) or die "listen: $!"; $| = 1; print "listening\n"; while (my $c = $l->accept) {{ print $c '{}'; print $c '{{"type":"status","pid":4242,"version":"0","protocol":2,"started_at":0,"socket":"x","active_runs":[]}}' . "\n"; close $c; }}"#,
        planted.display(),
        hello().trim_end()
    );
    let mut fake = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/perl",
            "-e",
            &script,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The socket file appears at bind(), before listen(): connecting in
    // between is refused, which m rightly takes for no daemon at all. So
    // wait for the fake's word that it listens, not for the file.
    let mut said = String::new();
    BufReader::new(fake.stdout.take().unwrap())
        .read_line(&mut said)
        .unwrap();
    assert_eq!(said, "listening\n", "the fake daemon never listened");
    let run_dir = env.home.join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::set_permissions(&env.home, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::rename(&planted, socket(&env)).unwrap();
    for args in [&["status"][..], &["daemon", "status"]] {
        let err = env.fails(args, 5);
        assert!(err.contains("served by uid 65534"), "{err}");
        assert!(!err.contains("4242"), "{err}");
    }
    let _ = fake.kill();
    let _ = fake.wait();
    let _ = std::fs::remove_file(socket(&env));
}

/// A long M_HOME puts the socket under /tmp, named after the data
/// directory: every spelling of that directory must find the same one.
#[test]
fn every_spelling_of_m_home_reaches_one_daemon() {
    let env = TestEnv::new();
    let deep = env.dir.path().join("d".repeat(100));
    std::fs::create_dir_all(&deep).unwrap();
    let link = env.dir.path().join("link");
    std::os::unix::fs::symlink(&deep, &link).unwrap();
    let spellings = [
        deep.join("m").display().to_string(),
        format!("{}/", deep.join("m").display()),
        link.join("m").display().to_string(),
        format!("{}/./m/", link.display()),
    ];
    let m = |home: &str, args: &[&str]| {
        let out = env.m().env("M_HOME", home).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "M_HOME={home} m {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    m(&spellings[1], &["daemon", "start"]);
    let mut pids = Vec::new();
    for home in &spellings {
        m(home, &["daemon", "start"]);
        let status: serde_json::Value =
            serde_json::from_str(&m(home, &["daemon", "status", "--json"])).unwrap();
        pids.push(status["daemon"]["pid"].as_i64().unwrap());
    }
    assert!(pids.iter().all(|p| *p == pids[0]), "{pids:?}");
    m(&spellings[2], &["daemon", "stop"]);
}

/// Waits until `path` (the daemon log) holds `needle` `n` times.
fn wait_for_log(path: &std::path::Path, needle: &str, n: usize, within: Duration) {
    common::wait_within(within, &format!("{n} x {needle:?} in the log"), || {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        log.matches(needle).count() >= n
    });
}

/// Twenty followers that stop reading (`| less` with its screen full) of a
/// run with a big log: each is cut off once over its budget, so the daemon
/// holds no backlog for them; one that reads again later resumes from the
/// database by itself and gets every event once, in order; and the memory
/// is given back when they leave.
#[test]
fn followers_that_stop_reading_cost_the_daemon_bounded_memory() {
    let env = TestEnv::new();
    env.repo("api");
    // A 20 MB log; the issue's 180 MB with M_SLOW_TESTS.
    let lines = if std::env::var_os("M_SLOW_TESTS").is_some() {
        3_000_000
    } else {
        300_000
    };
    let gate = env.dir.path().join("gate");
    let agent = env.script(
        "agent.sh",
        &format!(
            "seq 1 {lines} | sed 's/$/ of a log line long enough to weigh something/'\nwhile [ ! -e {} ]; do sleep 0.05; done",
            gate.display()
        ),
    );
    let run = env.start("api", "big log", &agent);
    let deadline = Instant::now() + Duration::from_secs(120);
    let last_line = format!("%\"{lines} of a log line%");
    while env.count(&format!(
        "SELECT count(*) FROM events WHERE run_id = '{run}' AND data LIKE '{last_line}'"
    )) == 0
    {
        assert!(Instant::now() < deadline, "the output was never stored");
        std::thread::sleep(Duration::from_millis(200));
    }
    let pid = env.daemon_pid().unwrap();
    let mut followers: Vec<std::process::Child> = (0..20)
        .map(|_| {
            env.m()
                .args(["events", &run, "--follow", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let log = env.home.join("logs/daemon.log");
    wait_for_log(&log, "a follower fell behind", 20, Duration::from_secs(60));
    let stalled = rss_kb(pid);
    let log_mb = std::fs::metadata(env.db_path()).unwrap().len() / 1_000_000;
    eprintln!("daemon RSS {stalled} KiB with 20 stalled followers on a {log_mb} MB log");
    assert!(
        stalled < 64 * 1024,
        "daemon RSS {stalled} KiB with 20 stalled followers"
    );

    // The first one reads again: it resumes from the database on its own.
    let mut reader = followers.remove(0);
    let stdout = reader.stdout.take().unwrap();
    let collect = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(&l.unwrap()).unwrap())
            .collect::<Vec<_>>()
    });
    std::fs::write(&gate, "").unwrap();
    let events = collect.join().unwrap();
    assert!(reader.wait().unwrap().success());
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "every event once, in order"
    );
    let stored: usize = events
        .iter()
        .filter(|e| e["type"] == "output" && e["data"]["stream"] == "stdout")
        .map(|e| e["data"]["lines"].as_array().unwrap().len())
        .sum();
    assert_eq!(stored, lines);
    assert_eq!(events.last().unwrap()["type"], "run.finished");

    for mut follower in followers {
        let _ = follower.kill();
        let _ = follower.wait();
    }
    let left = rss_kb(pid);
    eprintln!("daemon RSS {left} KiB after they left");
    assert!(
        left < 64 * 1024,
        "daemon RSS {left} KiB after the followers left"
    );
}

/// At its limit of open files the daemon refuses new connections in words
/// (logging it once a minute, not once per refusal), `status` still
/// answers, and all is well again once connections close. It raises its
/// soft limit to the hard one first.
#[test]
fn at_its_limit_of_open_files_the_daemon_refuses_cleanly_and_status_answers() {
    use std::os::unix::process::CommandExt;
    let env = TestEnv::new();
    env.repo("api");
    let log = env.dir.path().join("daemon.err");
    let mut daemon = env.m();
    daemon
        .args(["daemon", "run"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    // SAFETY: setrlimit only, between fork and exec.
    unsafe {
        daemon.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 40,
                rlim_max: 120,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut daemon = daemon.spawn().unwrap();
    common::wait_for("the daemon to listen", || socket(&env).exists());
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", daemon.id())).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        open_files.split_whitespace().nth(3),
        Some("120"),
        "soft limit raised to the hard one: {open_files}"
    );
    let gate = env.dir.path().join("gate");
    let started = env.dir.path().join("started");
    let agent = env.script(
        "agent.sh",
        &format!(
            "touch {}\nwhile [ ! -e {} ]; do sleep 0.05; done",
            started.display(),
            gate.display()
        ),
    );
    let run = env.start("api", "x", &agent);
    common::wait_for("the agent to start", || started.exists());
    // Followers of every run (each holds one descriptor), until the daemon
    // has none left.
    let mut held = Vec::new();
    for _ in 0..200 {
        let mut stream = UnixStream::connect(socket(&env)).unwrap();
        stream
            .write_all(format!("{}{{\"type\":\"follow\",\"since\":0}}\n", hello()).as_bytes())
            .unwrap();
        held.push(stream);
    }
    let deadline = Instant::now() + Duration::from_secs(8);
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("at the limit of open files")
    {
        assert!(Instant::now() < deadline, "never at the limit");
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    let status = env.run(&["status"]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    env.repo("web");
    let err = env.fails(
        &[
            "run",
            "start",
            "-r",
            "web",
            "y",
            "--",
            agent.to_str().unwrap(),
        ],
        5,
    );
    assert!(err.contains("limit of open files"), "{err}");
    for _ in 0..5 {
        env.ok(&["daemon", "status"]);
    }
    let warnings = std::fs::read_to_string(&log)
        .unwrap()
        .matches("at the limit of open files")
        .count();
    assert!((1..=2).contains(&warnings), "{warnings} warnings");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = env.run(&["run", "cancel", &run]);
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            env.ok(&["events", &run]),
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    env.ok(&["daemon", "stop"]);
    let _ = daemon.wait();
}

/// Every stdout line the run stored, in order.
fn stored_stdout(env: &TestEnv, run: &str) -> Vec<String> {
    env.events(run)
        .iter()
        .filter(|e| e["type"] == "output" && e["data"]["stream"] == "stdout")
        .flat_map(|e| e["data"]["lines"].as_array().unwrap().clone())
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

/// Once space returned: the run completes with all `lines` lines its
/// agent printed (`seq`) stored, in order.
fn assert_every_line_stored(env: &TestEnv, run: &str, lines: usize) {
    env.ok(&["run", "wait", run]);
    let stored = stored_stdout(env, run);
    eprintln!("printed {lines} lines, stored {}", stored.len());
    assert_eq!(stored.len(), lines, "every line stored once space returned");
    assert_numbered_in_order(&stored);
}

/// Each line is the agent's line of its number (`seq`): none lost before
/// it, none twice, in order.
fn assert_numbered_in_order(stored: &[String]) {
    for (i, line) in stored.iter().enumerate() {
        assert!(line.starts_with(&format!("{} ", i + 1)), "line {i}: {line}");
    }
}

fn wait_for_file(path: &std::path::Path) {
    common::wait_within(Duration::from_secs(60), &path.display().to_string(), || {
        path.exists()
    });
}

/// Waits until the daemon's writer waits for disk space.
fn wait_for_a_full_disk(env: &TestEnv, within: Duration) {
    common::wait_within(within, "the disk to fill", || {
        env.json(&["daemon", "status", "--json"])["daemon"]["health"]["writer"]
            == "waiting_for_space"
    });
}

/// Fills the disk of `dir` to its last byte; the filler is removed to
/// give the space back.
fn fill_disk(dir: &std::path::Path) -> std::path::PathBuf {
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 64 * 1024];
    let mut size = block.len();
    // Smaller and smaller writes take the last blocks too.
    while size > 0 {
        if file.write_all(&block[..size]).is_err() {
            size /= 2;
        }
    }
    filler
}

/// An agent that prints its last lines and exits while the disk is full
/// (the log on it too): its output waits, in order, however long the disk
/// stays full, and the run ends only once all of it is stored. Before, the
/// lines still in the pipe were dropped 2 s after the agent exited.
#[test]
fn output_of_an_agent_that_exits_while_the_disk_is_full_is_stored_when_space_returns() {
    let env = TestEnv::new();
    let Some(_disk) = small_home(&env, "64m") else {
        return;
    };
    env.repo("api");
    let started = env.dir.path().join("started");
    let gate = env.dir.path().join("gate");
    let printed = env.dir.path().join("printed");
    // About 2 MB: within the run's output budget, so the agent can finish.
    let lines = 20_000;
    let agent = env.script(
        "agent.sh",
        &format!(
            "touch {}\nwhile [ ! -e {} ]; do sleep 0.05; done\nseq 1 {lines} | sed 's/$/ some padding to make the line longer than it was, and longer still/'\ntouch {}",
            started.display(),
            gate.display(),
            printed.display()
        ),
    );
    let run = env.start("api", "print while the disk is full", &agent);
    // The workspace is made after `m run start` returns: the disk fills once
    // the agent runs.
    wait_for_file(&started);
    let filler = fill_disk(&env.home);
    std::fs::write(&gate, "").unwrap();
    wait_for_file(&printed);
    // The disk stays full past the time a pipe's reader is given to finish.
    std::thread::sleep(Duration::from_secs(3));
    let status = env.json(&["daemon", "status", "--json"]);
    assert_eq!(
        status["daemon"]["health"]["writer"], "waiting_for_space",
        "{status}"
    );
    assert_eq!(env.run_state(&run), "running");

    std::fs::remove_file(&filler).unwrap();
    assert_every_line_stored(&env, &run, lines);
    env.ok(&["daemon", "stop"]);
}

/// The issue's case: a flood on a full disk with the log on it. Before, a
/// commit that SQLite had already rolled back on the full disk dropped the
/// output it held (313,210 of 400,001 lines stored on 20 MB).
#[test]
fn a_flood_on_a_full_disk_is_stored_whole_and_in_order_when_space_returns() {
    let env = TestEnv::new();
    let Some(disk) = small_home(&env, "8m") else {
        return;
    };
    env.repo("api");
    let gate = env.dir.path().join("gate");
    let lines = 150_000;
    let agent = env.script(
        "agent.sh",
        &format!(
            "seq 1 {lines} | sed 's/$/ some padding to make the line longer than it was, and longer still/'\nwhile [ ! -e {} ]; do sleep 0.05; done",
            gate.display()
        ),
    );
    let run = env.start("api", "fill the disk", &agent);
    wait_for_a_full_disk(&env, Duration::from_secs(120));
    assert_eq!(env.run_state(&run), "running");

    disk.resize("256m");
    std::fs::write(&gate, "").unwrap();
    assert_every_line_stored(&env, &run, lines);
    env.ok(&["daemon", "stop"]);
}

/// `m daemon stop` while the disk is full and an agent floods: the daemon
/// ends (before, it waited forever for its writer, which waited for space),
/// and the next start ends the run, whose stored output is a gapless,
/// in-order start of what the agent printed.
#[test]
fn a_daemon_stopped_while_the_disk_is_full_ends_and_the_next_start_ends_the_run() {
    let env = TestEnv::new();
    let Some(_disk) = small_home(&env, "64m") else {
        return;
    };
    env.repo("api");
    let started = env.dir.path().join("started");
    let gate = env.dir.path().join("gate");
    let agent = env.script(
        "agent.sh",
        &format!(
            "touch {}\nwhile [ ! -e {} ]; do sleep 0.05; done\nseq 1 1000000 | sed 's/$/ some padding to make the line longer than it was/'",
            started.display(),
            gate.display()
        ),
    );
    let run = env.start("api", "flood a full disk", &agent);
    let pid = env.json(&["daemon", "status", "--json"])["daemon"]["pid"]
        .as_i64()
        .unwrap() as i32;
    wait_for_file(&started);
    let filler = fill_disk(&env.home);
    std::fs::write(&gate, "").unwrap();
    wait_for_a_full_disk(&env, Duration::from_secs(60));

    let started = Instant::now();
    env.ok(&["daemon", "stop"]);
    eprintln!(
        "m daemon stop with the disk full took {:?}",
        started.elapsed()
    );
    common::wait_until_gone(pid, Duration::from_secs(10));

    std::fs::remove_file(&filler).unwrap();
    env.ok(&["daemon", "start"]);
    let shown = env.json(&["run", "show", &run, "--json"]);
    assert_eq!(shown["state"], "failed", "{shown}");
    assert!(
        shown["finished"]["reason"]
            .as_str()
            .unwrap()
            .contains("daemon stopped"),
        "{shown}"
    );
    let events = env.events(&run);
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["seq"], i as i64 + 1, "gapless");
    }
    let stored = stored_stdout(&env, &run);
    assert_numbered_in_order(&stored);
    env.ok(&["daemon", "stop"]);
}
