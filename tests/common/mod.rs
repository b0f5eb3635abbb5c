//! Helpers shared by the integration tests: a private M_HOME per test, a
//! clean environment, real git repositories, and the real `m` binary.
//! `TestEnv` runs m (`ok`, `fails`, `json`; `exits` for a command of one's
//! own), sets up (`repo`, `remote_repo`, `script`, `write_config`, `start`,
//! `start_with`) and reads a run (`events_of`, `event_types`,
//! `output_lines`, `approvals_of`, `finished_reason`); the waits poll
//! (`wait_for`, `wait_state`, `wait_event`, ...) and fail naming what never
//! came. A helper used by one file stays in that file.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub struct TestEnv {
    pub dir: TempDir,
    pub home: PathBuf,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let dir = tempfile::Builder::new()
            .prefix("m-test")
            .tempdir()
            .expect("temp dir");
        let home = dir.path().join("m");
        TestEnv { dir, home }
    }

    /// `m` with a clean environment: only what the test sets.
    pub fn m(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_m"));
        self.clean_env(&mut cmd);
        cmd
    }

    pub fn clean_env(&self, cmd: &mut Command) {
        // Agents call `m ask`: the binary under test comes first on PATH.
        let bin_dir = Path::new(env!("CARGO_BIN_EXE_m")).parent().unwrap();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", self.dir.path())
            .env("M_HOME", &self.home)
            .env("M_GRACE_MS", "1000")
            .env("M_LOG", "debug")
            .env("NO_COLOR", "1")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com");
    }

    /// Runs `m ARGS`, returning its output whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.m().args(args).output().expect("run m")
    }

    /// Runs `m ARGS` and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = exits(self.m().args(args), 0);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `m ARGS`, expects exit `code`; returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = exits(self.m().args(args), code);
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).expect("valid JSON")
    }

    /// A git repository with one commit, inside the test's directory.
    pub fn git_repo(&self, name: &str) -> PathBuf {
        let repo = self.dir.path().join(name);
        std::fs::create_dir_all(&repo).unwrap();
        self.git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("README"), "hello\n").unwrap();
        self.git(&repo, &["add", "."]);
        self.git(&repo, &["commit", "-q", "-m", "init"]);
        repo
    }

    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        let mut cmd = Command::new("git");
        self.clean_env(&mut cmd);
        let out = cmd.current_dir(dir).args(args).output().expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A bare clone of a fresh repository, registered as the repo
    /// `remote` by its `file://` URL, as a repository on a server is.
    pub fn remote_repo(&self) {
        let origin = self.git_repo("origin");
        let bare = self.dir.path().join("origin.git");
        let (origin, bare) = (origin.to_str().unwrap(), bare.to_str().unwrap());
        self.git(self.dir.path(), &["clone", "-q", "--bare", origin, bare]);
        self.ok(&["repo", "add", &format!("file://{bare}"), "--name", "remote"]);
    }

    /// Writes an executable shell script for use as an agent.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// Registers a fresh git repo under `name`; returns its path.
    pub fn repo(&self, name: &str) -> PathBuf {
        let path = self.git_repo(name);
        self.ok(&["repo", "add", path.to_str().unwrap(), "--name", name]);
        path
    }

    /// Starts a run of `script` on `repo`; returns the run id.
    pub fn start(&self, repo: &str, prompt: &str, script: &Path) -> String {
        self.start_with(repo, prompt, &[], script)
    }

    /// Starts a run of `script` on `repo` with more options of `m run
    /// start` (`--review`, `--allow RULE`, ...); returns the run id.
    pub fn start_with(&self, repo: &str, prompt: &str, options: &[&str], script: &Path) -> String {
        let mut args = vec!["run", "start", "-r", repo, prompt];
        args.extend_from_slice(options);
        args.extend(["--", script.to_str().unwrap()]);
        self.ok(&args).trim().to_string()
    }

    /// Writes m's config file (making M_HOME, which m makes only when it
    /// first runs); returns its path.
    pub fn write_config(&self, text: &str) -> PathBuf {
        std::fs::create_dir_all(&self.home).unwrap();
        let file = self.home.join("config.toml");
        std::fs::write(&file, text).unwrap();
        file
    }

    pub fn run_state(&self, run: &str) -> String {
        self.json(&["run", "show", run, "--json"])["state"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Waits until the run is in `state` (polling the database).
    pub fn wait_state(&self, run: &str, state: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = self.run_state(run);
            if now == state {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "run {run} stayed {now}, expected {state}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the run's log has an event of this type.
    pub fn wait_event(&self, run: &str, event_type: &str) {
        wait_for(&format!("run {run} to have {event_type}"), || {
            !self.events_of(run, event_type).is_empty()
        });
    }

    pub fn events(&self, run: &str) -> Vec<serde_json::Value> {
        self.ok(&["events", run, "--json"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("event JSON"))
            .collect()
    }

    /// Every line the run's agent printed (stdout and stderr), in order.
    pub fn output_lines(&self, run: &str) -> Vec<String> {
        self.events_of(run, "output")
            .iter()
            .flat_map(|e| e["data"]["lines"].as_array().cloned().unwrap_or_default())
            .filter_map(|l| l.as_str().map(str::to_string))
            .collect()
    }

    /// The run's events of one type, in order.
    pub fn events_of(&self, run: &str, event_type: &str) -> Vec<serde_json::Value> {
        self.events(run)
            .into_iter()
            .filter(|e| e["type"] == event_type)
            .collect()
    }

    /// Why the run ended, as its `run.finished` event says.
    pub fn finished_reason(&self, run: &str) -> String {
        let finished = self.events_of(run, "run.finished");
        let last = finished.last().expect("a run.finished event");
        last["data"]["reason"].as_str().unwrap().to_string()
    }

    /// The types of the run's events, in order.
    pub fn event_types(&self, run: &str) -> Vec<String> {
        self.events(run)
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect()
    }

    /// Every approval the run asked for, decided or not.
    pub fn approvals_of(&self, run: &str) -> Vec<serde_json::Value> {
        self.json(&["approvals", "--run", run, "--state", "all", "--json"])
            .as_array()
            .expect("a JSON array")
            .clone()
    }

    /// Where m keeps its database under this test's M_HOME.
    pub fn db_path(&self) -> PathBuf {
        self.home.join("m.db")
    }

    /// The store API on this test's database, for seeding it.
    pub fn store(&self) -> m::store::Store {
        m::store::Store::open(&self.db_path()).expect("open the store")
    }

    /// One integer from the database, read behind m's back.
    pub fn count(&self, sql: &str) -> i64 {
        let conn = rusqlite::Connection::open(self.db_path()).expect("open the database");
        conn.query_row(sql, [], |r| r.get(0)).expect(sql)
    }

    pub fn daemon_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.home.join("daemon.lock"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Kills the daemon with SIGKILL (a crash: no shutdown runs) and waits
    /// until it is gone; returns its pid.
    pub fn kill_daemon(&self) -> i32 {
        let daemon = self.daemon_pid().expect("daemon pid");
        unsafe { libc::kill(daemon, libc::SIGKILL) };
        wait_until_gone(daemon, Duration::from_secs(10));
        daemon
    }
}

impl Drop for TestEnv {
    /// Never leave a daemon (or its agents) behind. A failing test shows
    /// the daemon's log, the first thing one wants to read.
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log =
                std::fs::read_to_string(self.home.join("logs/daemon.log")).unwrap_or_default();
            eprintln!("--- daemon log ---\n{log}--- end of daemon log ---");
        }
        if self.home.join("run").join("m.sock").exists() {
            let _ = self
                .m()
                .args(["daemon", "stop"])
                .env("M_NO_AUTOSTART", "1")
                .output();
        }
    }
}

/// Runs `cmd` (an `m` with an environment or directory of its own, say)
/// and expects exit `code`; returns its output.
pub fn exits(cmd: &mut Command, code: i32) -> Output {
    let out = cmd.output().expect("run the command");
    assert_eq!(
        out.status.code(),
        Some(code),
        "{:?} {:?}: expected exit {code}\nstdout: {}\nstderr: {}",
        cmd.get_program(),
        cmd.get_args().collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Polls `done` until it holds, failing the test after 30 s naming `what`.
pub fn wait_for(what: &str, done: impl FnMut() -> bool) {
    wait_within(Duration::from_secs(30), what, done)
}

/// Polls `done` until it holds, failing the test after `within`.
pub fn wait_within(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether a process is alive: any of its threads is not a zombie. (The
/// main thread of a killed multi-threaded process can be a zombie while the
/// others still hold its files open.)
pub fn alive(pid: i32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|task| {
        std::fs::read_to_string(task.path().join("stat"))
            .map(|stat| {
                !stat
                    .rsplit(')')
                    .next()
                    .map(|rest| rest.trim_start().starts_with('Z'))
                    .unwrap_or(true)
            })
            .unwrap_or(false)
    })
}

/// Waits until the process is gone (see `alive`), failing the test after
/// `within`.
pub fn wait_until_gone(pid: i32, within: Duration) {
    wait_within(within, &format!("process {pid} to exit"), || !alive(pid));
}

/// The agent processes of a run still alive (they carry its `M_RUN_ID`).
pub fn agents_of(run: &str) -> usize {
    let marker = format!("M_RUN_ID={run}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            let environ = std::fs::read(e.path().join("environ")).unwrap_or_default();
            environ.split(|&b| b == 0).any(|v| v == marker.as_bytes())
                && e.file_name()
                    .to_str()
                    .and_then(|p| p.parse::<i32>().ok())
                    .is_some_and(alive)
        })
        .count()
}

/// Waits until no agent process of the run is alive (a killed daemon's
/// keepers take a moment to kill them).
pub fn wait_no_agents(run: &str) {
    wait_for(&format!("the agents of {run} to exit"), || {
        agents_of(run) == 0
    });
}

/// Waits until the file lists at least `n` lines (pids an agent wrote).
pub fn wait_for_lines(path: &Path, n: usize) {
    wait_for(&format!("{} to have {n} lines", path.display()), || {
        std::fs::read_to_string(path).map_or(0, |s| s.lines().count()) >= n
    });
}

/// Asserts that every pid listed in the file is gone (within a few seconds:
/// killed processes take a moment to be reaped).
pub fn assert_all_gone(pids: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for pid in std::fs::read_to_string(pids).unwrap().lines() {
        let pid: i32 = pid.trim().parse().unwrap();
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(pid), "process {pid} outlived its run");
    }
}

/// A command running with stdout and stderr on a pseudo-terminal, as in a
/// person's shell; what it prints is collected as it comes.
pub struct Terminal {
    pub child: std::process::Child,
    printed: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Terminal {
    pub fn spawn(mut cmd: Command) -> Terminal {
        use std::io::Read;
        use std::os::fd::{FromRawFd, OwnedFd};
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two new descriptors, which we then own.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // Keep both ends out of processes other tests start meanwhile, or
        // the terminal would stay open after the command exits.
        for fd in [master, slave] {
            // SAFETY: fcntl on descriptors we own.
            assert_eq!(
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) },
                0
            );
        }
        // SAFETY: both descriptors are ours alone.
        let mut master = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(master) });
        let slave = unsafe { OwnedFd::from_raw_fd(slave) };
        let child = cmd
            .env("TERM", "xterm")
            .stdout(slave.try_clone().unwrap())
            .stderr(slave)
            .spawn()
            .unwrap();
        // The command (and its copies of the terminal) is dropped here, so
        // reading ends when the command exits.
        drop(cmd);
        let printed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = printed.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0; 4096];
            loop {
                match master.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&buf[..n]),
                    // Linux reports the other side's close as EIO.
                    Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
                    Err(e) => panic!("reading the terminal: {e}"),
                }
            }
        });
        Terminal {
            child,
            printed,
            reader,
        }
    }

    /// What it printed so far.
    pub fn printed(&self) -> String {
        String::from_utf8_lossy(&self.printed.lock().unwrap()).into_owned()
    }

    /// Waits until it has printed `text`.
    pub fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.printed().contains(text) {
            assert!(
                Instant::now() < deadline,
                "never printed {text:?}: {:?}",
                self.printed()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the command to exit: its exit code and all it printed.
    pub fn finish(self) -> (Option<i32>, String) {
        let Terminal {
            mut child,
            printed,
            reader,
        } = self;
        let status = child.wait().unwrap();
        reader.join().unwrap();
        let printed = String::from_utf8_lossy(&printed.lock().unwrap()).into_owned();
        (status.code(), printed)
    }
}
