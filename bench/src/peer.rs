//! The peer: pueue, installed by `bench/run` into bench/.peer, run with a
//! private config, data directory and socket, so it never meets the user's.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::util::{fail, proc_kb, run_ok, wait_for, Bench, Res};

#[derive(Clone)]
pub struct PeerBins {
    pub pueue: PathBuf,
    pub pueued: PathBuf,
    pub version: String,
}

impl PeerBins {
    /// The installed pueue, if `dir` holds both binaries and they run.
    pub fn find(dir: &Path) -> Result<PeerBins, String> {
        // Absolute: the peer's commands run in its own directory.
        let dir = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let pueue = dir.join("pueue");
        let pueued = dir.join("pueued");
        if !pueue.exists() || !pueued.exists() {
            return Err(format!("pueue is not installed in {}", dir.display()));
        }
        let out = Command::new(&pueue)
            .arg("--version")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", pueue.display()))?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(PeerBins {
            pueue,
            pueued,
            version,
        })
    }
}

/// A running pueued of our own; shut down when dropped.
pub struct Peer<'a> {
    bench: &'a Bench,
    bins: PeerBins,
    pub dir: PathBuf,
    config: PathBuf,
    child: Option<Child>,
}

impl<'a> Peer<'a> {
    pub fn start(bench: &'a Bench, name: &str) -> Res<Peer<'a>> {
        let Some(bins) = bench.pueue.clone() else {
            return fail("peer unavailable");
        };
        let dir = bench.work.join("peer").join(name);
        crate::util::remove(&dir)?;
        std::fs::create_dir_all(dir.join("run"))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("run"), std::fs::Permissions::from_mode(0o700))?;
        let config = dir.join("pueue.yml");
        std::fs::write(
            &config,
            format!(
                "shared:\n  pueue_directory: {0}/data\n  runtime_directory: {0}/run\n  \
                 use_unix_socket: true\n  unix_socket_path: {0}/run/pueue.sock\n",
                dir.display()
            ),
        )?;
        let mut peer = Peer {
            bench,
            bins,
            dir,
            config,
            child: None,
        };
        peer.spawn()?;
        Ok(peer)
    }

    fn spawn(&mut self) -> Res<()> {
        let log = std::fs::File::create(self.dir.join("pueued.log"))?;
        let child = self
            .bench
            .cmd(&self.bins.pueued)
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        wait_for("pueued to answer", Duration::from_secs(20), || {
            Ok(self.cmd().arg("status").output()?.status.success())
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn rss_kb(&self) -> u64 {
        proc_kb(self.pid(), "VmRSS").unwrap_or(0)
    }

    pub fn cmd(&self) -> Command {
        let mut cmd = self.bench.cmd(&self.bins.pueue);
        cmd.arg("-c").arg(&self.config).current_dir(&self.dir);
        cmd
    }

    /// `pueue add --print-task-id --escape -- ARGV`: the task's id.
    pub fn add(&self, argv: &[&str]) -> Res<u64> {
        let out = run_ok(self.cmd().args(["add", "-p", "-e", "--"]).args(argv))?;
        Ok(out.trim().parse()?)
    }

    /// `pueue wait ID` (it polls every 2 s).
    pub fn wait(&self, id: u64) -> Res<()> {
        run_ok(self.cmd().args(["wait", "-q", &id.to_string()])).map(drop)
    }

    pub fn status(&self) -> Res<Value> {
        Ok(serde_json::from_str(&run_ok(
            self.cmd().args(["status", "--json"]),
        )?)?)
    }

    /// Polls `pueue status --json` every 10 ms until the task is done: the
    /// soonest a script can learn it through pueue's client.
    pub fn poll_done(&self, id: u64) -> Res<()> {
        loop {
            let status = self.status()?;
            let task = &status["tasks"][id.to_string()]["status"];
            if task.get("Done").is_some() {
                return match task["Done"]["result"].as_str() {
                    Some("Success") => Ok(()),
                    _ => fail(format!("pueue task {id} did not succeed: {task}")),
                };
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn count(&self, state: &str) -> Res<usize> {
        let status = self.status()?;
        Ok(status["tasks"]
            .as_object()
            .map(|tasks| {
                tasks
                    .values()
                    .filter(|t| t["status"].get(state).is_some())
                    .count()
            })
            .unwrap_or(0))
    }

    pub fn ok(&self, args: &[&str]) -> Res<String> {
        run_ok(self.cmd().args(args))
    }

    pub fn task_log(&self, id: u64) -> PathBuf {
        self.dir.join("data/task_logs").join(format!("{id}.log"))
    }

    fn shutdown(&mut self) {
        let _ = self.cmd().arg("shutdown").stdin(Stdio::null()).output();
        if let Some(mut child) = self.child.take() {
            for _ in 0..500 {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Restarts pueued on a state file holding `n` finished copies of its
    /// first task (adding 10k tasks one `pueue add` at a time would take
    /// minutes); the copies are pueue's own JSON, so the format is its own.
    pub fn restart_with_copies(&mut self, n: usize) -> Res<()> {
        self.shutdown();
        let path = self.dir.join("data/state.json");
        let mut state: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        let Some(tasks) = state["tasks"].as_object_mut() else {
            return fail("pueue's state.json has no tasks map");
        };
        let Some(template) = tasks.values().next().cloned() else {
            return fail("pueue's state.json has no task to copy");
        };
        tasks.clear();
        for id in 0..n {
            let mut task = template.clone();
            task["id"] = id.into();
            tasks.insert(id.to_string(), task);
        }
        std::fs::write(&path, serde_json::to_vec(&state)?)?;
        self.spawn()
    }
}

impl Drop for Peer<'_> {
    fn drop(&mut self) {
        let _ = self.cmd().args(["kill", "--all"]).output();
        self.shutdown();
    }
}
