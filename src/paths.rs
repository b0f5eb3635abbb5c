//! Where m keeps its files. `M_HOME` relocates every one of them (tests and
//! people who want several independent m's use it); otherwise the platform's
//! usual directories are used.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct Paths {
    /// Database, workspaces, mirrors, logs.
    pub data_dir: PathBuf,
    /// The private directory holding the daemon's socket.
    pub runtime_dir: PathBuf,
    pub config_file: PathBuf,
}

impl Paths {
    pub fn from_env() -> Result<Paths> {
        if let Some(home) = std::env::var_os("M_HOME").filter(|v| !v.is_empty()) {
            let home = canonical(&absolute(Path::new(&home))?);
            return Ok(Paths::under(&home));
        }
        let dirs = directories::ProjectDirs::from("", "", "m").ok_or_else(|| {
            Error::failure("cannot find a home directory for m's data")
                .with_hint("set M_HOME to the directory m should use")
        })?;
        let data_dir = dirs.data_dir().to_path_buf();
        let runtime_dir = dirs
            .runtime_dir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| data_dir.join("run"));
        let runtime_dir = socket_dir_that_fits(runtime_dir, &data_dir);
        Ok(Paths {
            runtime_dir,
            config_file: dirs.config_dir().join("config.toml"),
            data_dir,
        })
    }

    /// Every path inside one directory.
    pub fn under(home: &Path) -> Paths {
        Paths {
            data_dir: home.to_path_buf(),
            runtime_dir: socket_dir_that_fits(home.join("run"), home),
            config_file: home.join("config.toml"),
        }
    }

    pub fn database(&self) -> PathBuf {
        self.data_dir.join("m.db")
    }

    pub fn socket(&self) -> PathBuf {
        self.runtime_dir.join("m.sock")
    }

    pub fn daemon_lock(&self) -> PathBuf {
        self.data_dir.join("daemon.lock")
    }

    /// Held briefly by a client that is starting a daemon, so that twenty
    /// racing clients start one.
    pub fn autostart_lock(&self) -> PathBuf {
        self.data_dir.join("autostart.lock")
    }

    pub fn workspaces(&self) -> PathBuf {
        self.data_dir.join("workspaces")
    }

    pub fn mirrors(&self) -> PathBuf {
        self.data_dir.join("mirrors")
    }

    /// Each run's prompt, in a file named by its id (`M_PROMPT_FILE`).
    pub fn prompts(&self) -> PathBuf {
        self.data_dir.join("prompts")
    }

    pub fn prompt_file(&self, run_id: &str) -> PathBuf {
        self.prompts().join(run_id)
    }

    pub fn logs(&self) -> PathBuf {
        self.data_dir.join("logs")
    }

    pub fn daemon_log(&self) -> PathBuf {
        self.logs().join("daemon.log")
    }
}

/// The longest socket path the OS takes (`sun_path`, less its NUL).
const MAX_SOCKET_PATH: usize = if cfg!(target_os = "linux") { 107 } else { 103 };

/// `preferred` when a socket in it has a path the OS takes. A deep data
/// directory would make it too long to bind or connect to; the socket then
/// lives in the temporary directory, in a private directory named after the
/// user and the data directory (so each data directory keeps its own
/// daemon), which `/tmp`'s sticky bit keeps others from replacing.
fn socket_dir_that_fits(preferred: PathBuf, data_dir: &Path) -> PathBuf {
    let fits = |dir: &Path| dir.join("m.sock").as_os_str().len() <= MAX_SOCKET_PATH;
    if fits(&preferred) {
        return preferred;
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let name = format!(
        "m-{uid}-{:016x}",
        fnv1a(data_dir.as_os_str().as_encoded_bytes())
    );
    let in_temp = std::env::temp_dir().join(&name);
    if fits(&in_temp) {
        in_temp
    } else {
        Path::new("/tmp").join(name)
    }
}

/// A hash that stays the same across builds (std's may not), since a client
/// and a daemon of different versions must find the same socket.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One spelling per directory: the real path of the longest part of `path`
/// that exists, then the rest. Two spellings of one `M_HOME` (a trailing
/// slash, a symlink) would otherwise mean two sockets and two daemons
/// fighting over one data directory.
fn canonical(path: &Path) -> PathBuf {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = fs::canonicalize(existing) {
            return rest.iter().rev().fold(real, |dir, part| dir.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return path.components().collect(),
        }
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::io("resolve", path, e))
}

/// Creates `dir` (and its parents) if needed, with mode 0700 from the start.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io("create directory", dir, e))
}

/// The socket directory must be ours alone: a real directory (not a
/// symlink), owned by this user, with no group or other permissions.
/// Anything else could let another user talk to, or impersonate, the daemon.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    if !dir.exists() && fs::symlink_metadata(dir).is_err() {
        create_private_dir(dir)?;
    }
    check_private_dir(dir)
}

pub fn check_private_dir(dir: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(dir).map_err(|e| Error::io("inspect", dir, e))?;
    let fix = format!(
        "remove it or fix it: `chmod 700 {0}` and make sure it is a directory you own",
        dir.display()
    );
    if meta.file_type().is_symlink() {
        return Err(Error::failure(format!(
            "refusing to use {}: it is a symbolic link",
            dir.display()
        ))
        .with_hint(fix));
    }
    if !meta.is_dir() {
        return Err(Error::failure(format!(
            "refusing to use {}: it is not a directory",
            dir.display()
        ))
        .with_hint(fix));
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    if meta.uid() != uid {
        return Err(Error::failure(format!(
            "refusing to use {}: it is owned by uid {}, not by you (uid {uid})",
            dir.display(),
            meta.uid()
        ))
        .with_hint(fix));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(Error::failure(format!(
            "refusing to use {}: its mode is {:o}; others could reach the daemon",
            dir.display(),
            meta.permissions().mode() & 0o777
        ))
        .with_hint(fix));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_home_keeps_its_socket_inside() {
        let paths = Paths::under(Path::new("/home/me/.m"));
        assert_eq!(paths.socket(), Path::new("/home/me/.m/run/m.sock"));
    }

    #[test]
    fn a_deep_home_gets_a_socket_path_the_os_takes_and_its_own() {
        let deep = PathBuf::from(format!("/data/{}/m", "x".repeat(120)));
        let other = PathBuf::from(format!("/data/{}/n", "x".repeat(120)));
        let socket = Paths::under(&deep).socket();
        assert!(socket.as_os_str().len() <= MAX_SOCKET_PATH, "{socket:?}");
        assert_eq!(socket, Paths::under(&deep).socket(), "stable");
        assert_ne!(socket, Paths::under(&other).socket());
    }

    #[test]
    fn spellings_of_one_directory_are_one_path() {
        let dir = tempfile::tempdir().unwrap();
        let real = fs::canonicalize(dir.path()).unwrap();
        std::os::unix::fs::symlink(&real, real.join("link")).unwrap();
        let plain = canonical(&real.join("m"));
        assert_eq!(plain, real.join("m"));
        for spelling in ["m/", "./m", "link/m", "link/m/"] {
            assert_eq!(canonical(&real.join(spelling)), plain, "{spelling}");
        }
        fs::create_dir(real.join("m")).unwrap();
        assert_eq!(canonical(&real.join("link/m/")), plain);
    }

    #[test]
    fn the_hash_is_fnv1a() {
        // Published FNV-1a 64 test vectors: a change would strand daemons.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
