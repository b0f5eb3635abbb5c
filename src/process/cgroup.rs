//! A cgroup v2 per run, where the daemon may make cgroups: below its own
//! cgroup (delegated to it by systemd with `Delegate=yes`, which `m daemon
//! install` writes, or writable because it runs as root), in a directory of
//! this data directory's own (`m-HASH`), one cgroup per run named by its id.
//!
//! A run's agent is moved into its cgroup before it executes (by its keeper,
//! which stays outside it), so everything the agent starts is in it, however
//! it daemonised, and `cgroup.kill` ends all of it at once: no process can
//! fork its way past it as it can past a walk of /proc. The keeper stays:
//! it is the agent's parent and subreaper (it reaps, it reports the agent's
//! exit, it sees the daemon die), and it is what kills the run when the
//! daemon dies; from outside the cgroup it can kill all of it, wait until it
//! is empty and remove it.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where this data directory's run cgroups go, and how /proc names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCgroups {
    /// In the file system: `MOUNT/DAEMON-CGROUP/m-HASH`.
    pub dir: PathBuf,
    /// As `/proc/PID/cgroup` names it: `/DAEMON-CGROUP/m-HASH`.
    pub name: String,
}

impl RunCgroups {
    /// Where the run cgroups of `data_dir` go, below this process's own
    /// cgroup; why there are none. Makes nothing.
    pub fn locate(data_dir: &Path) -> Result<RunCgroups, String> {
        if !cfg!(target_os = "linux") {
            return Err("cgroups are Linux's; there are none here".into());
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
        let data_dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        RunCgroups::locate_in(&mountinfo, &own, &data_dir)
    }

    /// `locate` from the texts of /proc/self/mountinfo and /proc/self/cgroup.
    pub fn locate_in(mountinfo: &str, own: &str, data_dir: &Path) -> Result<RunCgroups, String> {
        let mounts = cgroup2_mounts(mountinfo);
        if mounts.is_empty() {
            return Err("no cgroup v2 file system is mounted".into());
        }
        let own = unified_path(own).ok_or(
            "this process is in no cgroup v2 hierarchy (/proc/self/cgroup has no 0:: line)",
        )?;
        let leaf = format!("m-{:016x}", fnv1a(data_dir.as_os_str().as_encoded_bytes()));
        for (point, root) in &mounts {
            let below = if root == "/" {
                Some(own.as_str())
            } else if own == *root {
                Some("")
            } else {
                own.strip_prefix(root.as_str())
                    .filter(|rest| rest.starts_with('/'))
            };
            let Some(below) = below else { continue };
            let mut dir = point.clone();
            for part in below.split('/').filter(|p| !p.is_empty()) {
                dir.push(part);
            }
            dir.push(&leaf);
            let name = format!("{}/{leaf}", own.trim_end_matches('/'));
            return Ok(RunCgroups { dir, name });
        }
        Err(format!(
            "this process's cgroup {own} is outside every cgroup v2 mount ({})",
            mounts
                .iter()
                .map(|(point, _)| point.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }

    /// The cgroup of run `run_id`.
    pub fn run(&self, run_id: &str) -> PathBuf {
        self.dir.join(run_id)
    }

    /// Tries the whole mechanism once, as a run uses it: makes a cgroup,
    /// moves a process into it, kills it and removes the cgroup. Why it
    /// does not work here, if it does not.
    pub fn probe(&self) -> Result<(), String> {
        let parent = self.dir.parent().unwrap_or(Path::new("/"));
        if let Err(e) = std::fs::create_dir_all(&self.dir) {
            return Err(match e.kind() {
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => format!(
                    "cannot create cgroups under {} ({e}): the daemon's cgroup is not delegated to it",
                    parent.display()
                ),
                _ => format!("cannot create {}: {e}", self.dir.display()),
            });
        }
        if !self.dir.join("cgroup.kill").exists() {
            let _ = std::fs::remove_dir(&self.dir);
            return Err("the kernel has no cgroup.kill (it came with Linux 5.14)".into());
        }
        let probe = self.dir.join(format!("probe-{}", std::process::id()));
        if let Err(e) = std::fs::create_dir(&probe) {
            if e.kind() != io::ErrorKind::AlreadyExists {
                return Err(format!("cannot create {}: {e}", probe.display()));
            }
        }
        let moved = move_a_child_into(&probe);
        let killed = kill(&probe);
        let removed = remove(&probe, Duration::from_secs(1));
        // Made again by the first run: a daemon that goes no further than
        // this (a bad database, a kill) leaves nothing behind.
        let _ = std::fs::remove_dir(&self.dir);
        moved
            .map_err(|e| format!("cannot move a process into {}: {e}", probe.display()))
            .and(killed.map_err(|e| format!("cannot write {}/cgroup.kill: {e}", probe.display())))
            .and(removed.map_err(|e| format!("cannot remove {}: {e}", probe.display())))
    }

    /// Whether a daemon started as this process would likely manage, from
    /// what can be read (no cgroup is made): `m doctor` with no daemon.
    pub fn predict(&self) -> Result<(), String> {
        let parent = self.dir.parent().unwrap_or(Path::new("/"));
        let procs = parent.join("cgroup.procs");
        for (path, what) in [
            (parent, "create cgroups under"),
            (&procs, "move processes in"),
        ] {
            let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
                .map_err(|_| format!("{} is not a path", path.display()))?;
            // SAFETY: access reads the NUL-terminated path only.
            if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
                return Err(format!(
                    "cannot {what} {} ({}): the cgroup is not delegated to this user",
                    parent.display(),
                    io::Error::last_os_error()
                ));
            }
        }
        if !kernel_at_least(5, 14) {
            return Err("the kernel has no cgroup.kill (it came with Linux 5.14)".into());
        }
        Ok(())
    }

    /// Makes run `run_id`'s cgroup (one already there is emptied first: a
    /// run starts with nothing of it alive).
    pub fn create(&self, run_id: &str) -> io::Result<PathBuf> {
        let cgroup = self.run(run_id);
        // A keeper that ends removes the directory of the run cgroups when
        // it is the last; it may do so between our two mkdirs.
        let mut tries = 0;
        loop {
            let _ = std::fs::create_dir(&self.dir);
            match std::fs::create_dir(&cgroup) {
                Ok(()) => return Ok(cgroup),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    remove(&cgroup, Duration::from_secs(2))?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 5 => {}
                Err(e) => return Err(e),
            }
            tries += 1;
        }
    }

    /// Kills and removes every run cgroup left here (by a daemon that was
    /// killed together with its keepers), and the directory itself when it
    /// is empty. Returns how many processes were killed.
    pub fn clear(&self) -> usize {
        let mut killed = 0;
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    killed += members(&entry.path()).len();
                    if let Err(e) = remove(&entry.path(), Duration::from_secs(2)) {
                        tracing::warn!(cgroup = %entry.path().display(), "cannot remove a run's cgroup: {e}");
                    }
                }
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
        killed
    }

    /// The run whose cgroup process `pid` is in, if any.
    pub fn run_of(&self, pid: i32) -> Option<String> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let path = unified_path(&text)?;
        let below = path.strip_prefix(&self.name)?.strip_prefix('/')?;
        below
            .split('/')
            .next()
            .filter(|id| !id.is_empty())
            .map(str::to_string)
    }
}

/// Kills every process in the cgroup and below it, at once.
pub fn kill(cgroup: &Path) -> io::Result<()> {
    match std::fs::OpenOptions::new()
        .write(true)
        .open(cgroup.join("cgroup.kill"))
        .and_then(|mut f| f.write_all(b"1"))
    {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Whether any process is alive in the cgroup or below it (a zombie is
/// not). A cgroup that is gone is empty.
pub fn populated(cgroup: &Path) -> bool {
    std::fs::read_to_string(cgroup.join("cgroup.events"))
        .map(|events| events.lines().any(|l| l.trim() == "populated 1"))
        .unwrap_or(false)
}

/// The processes in the cgroup itself.
pub fn members(cgroup: &Path) -> Vec<i32> {
    std::fs::read_to_string(cgroup.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Kills everything in the cgroup, waits (up to `within`) until it is
/// empty, and removes it with the cgroups an agent may have made below.
/// A cgroup that is gone is removed.
pub fn remove(cgroup: &Path, within: Duration) -> io::Result<()> {
    if !cgroup.exists() {
        return Ok(());
    }
    kill(cgroup)?;
    let deadline = Instant::now() + within;
    while populated(cgroup) {
        if Instant::now() >= deadline {
            return Err(io::Error::other(format!(
                "processes of {} outlived cgroup.kill for {within:?}",
                cgroup.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
        kill(cgroup)?;
    }
    remove_tree(cgroup)
}

/// Removes an empty cgroup and the empty cgroups below it, deepest first.
pub fn remove_tree(cgroup: &Path) -> io::Result<()> {
    if let Ok(entries) = std::fs::read_dir(cgroup) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path())?;
            }
        }
    }
    match std::fs::remove_dir(cgroup) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Starts a child that moves itself into `cgroup` and exits at once;
/// whether it could.
fn move_a_child_into(cgroup: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let procs = std::fs::OpenOptions::new()
        .write(true)
        .open(cgroup.join("cgroup.procs"))?;
    let fd = procs.as_raw_fd();
    // SAFETY: the child calls only write and _exit (async-signal-safe)
    // before it exits; the parent waits for it.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(io::Error::last_os_error());
    }
    if child == 0 {
        // SAFETY: as above; reading errno allocates nothing.
        unsafe {
            let code = if libc::write(fd, b"0".as_ptr().cast(), 1) == 1 {
                0
            } else {
                io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO)
            };
            libc::_exit(code & 0xff);
        }
    }
    let mut status = 0;
    // SAFETY: waits for the child we just made.
    while unsafe { libc::waitpid(child, &mut status, 0) } < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    match libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)) {
        Some(0) => Ok(()),
        Some(errno) => Err(io::Error::from_raw_os_error(errno)),
        None => Err(io::Error::other("the probe process was killed")),
    }
}

/// The cgroup2 mounts in /proc/self/mountinfo: where, and which cgroup is
/// their root.
fn cgroup2_mounts(mountinfo: &str) -> Vec<(PathBuf, String)> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, fs) = line.split_once(" - ")?;
            if fs.split_whitespace().next()? != "cgroup2" {
                return None;
            }
            let fields: Vec<&str> = mount.split_whitespace().collect();
            let root = unescape(fields.get(3)?);
            let point = unescape(fields.get(4)?);
            Some((PathBuf::from(point), root))
        })
        .collect()
}

/// A mountinfo field: spaces, tabs, newlines and backslashes are octal
/// escapes there.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |n, b| n * 8 + u32::from(b - b'0'));
            out.push(value as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroup v2 path in a /proc/PID/cgroup text (its `0::` line).
fn unified_path(text: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(|path| path.trim_end_matches(" (deleted)").to_string())
}

/// FNV-1a: the same name for the same data directory from any build of m
/// (a restarted daemon finds what its predecessor left).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn the_run_cgroups_go_below_the_daemons_own_on_the_cgroup2_mount() {
        let own =
            "4:memory:/x\n0::/user.slice/user-1000.slice/user@1000.service/app.slice/m.service\n";
        let found =
            RunCgroups::locate_in(HYBRID, own, Path::new("/home/a/.local/share/m")).unwrap();
        let leaf = found.dir.file_name().unwrap().to_str().unwrap().to_string();
        assert!(leaf.starts_with("m-") && leaf.len() == 18, "{leaf}");
        assert_eq!(
            found.dir,
            Path::new("/sys/fs/cgroup/unified/user.slice/user-1000.slice/user@1000.service/app.slice/m.service")
                .join(&leaf)
        );
        assert_eq!(
            found.name,
            format!("/user.slice/user-1000.slice/user@1000.service/app.slice/m.service/{leaf}")
        );
        // At the root, and another data directory: another directory.
        let root = RunCgroups::locate_in(HYBRID, "0::/\n", Path::new("/tmp/m")).unwrap();
        assert_eq!(
            root.dir.parent().unwrap(),
            Path::new("/sys/fs/cgroup/unified")
        );
        assert!(
            root.name.starts_with("/m-") && root.name.len() == 19,
            "{}",
            root.name
        );
        assert_ne!(root.dir.file_name(), found.dir.file_name());
    }

    #[test]
    fn a_mount_of_a_subtree_and_an_escaped_mount_point_are_followed() {
        let info = "41 31 0:38 /docker/abc /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw\n";
        let found = RunCgroups::locate_in(info, "0::/docker/abc/svc\n", Path::new("/d")).unwrap();
        assert_eq!(
            found.dir.parent().unwrap(),
            Path::new("/sys/fs/my cgroup/svc")
        );
        assert!(found.name.starts_with("/docker/abc/svc/m-"));
        let outside = RunCgroups::locate_in(info, "0::/elsewhere\n", Path::new("/d")).unwrap_err();
        assert!(
            outside.contains("outside every cgroup v2 mount"),
            "{outside}"
        );
    }

    #[test]
    fn without_cgroup2_the_reason_says_what_is_missing() {
        let v1 = "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        assert_eq!(
            RunCgroups::locate_in(v1, "0::/\n", Path::new("/d")).unwrap_err(),
            "no cgroup v2 file system is mounted"
        );
        let why = RunCgroups::locate_in(HYBRID, "4:memory:/\n", Path::new("/d")).unwrap_err();
        assert!(why.contains("no 0:: line"), "{why}");
    }

    #[test]
    fn the_name_of_a_data_directory_stays_the_same() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
