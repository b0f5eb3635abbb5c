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
            let home = absolute(Path::new(&home))?;
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
            runtime_dir: home.join("run"),
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

    pub fn logs(&self) -> PathBuf {
        self.data_dir.join("logs")
    }

    pub fn daemon_log(&self) -> PathBuf {
        self.logs().join("daemon.log")
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
