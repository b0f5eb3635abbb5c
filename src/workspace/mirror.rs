use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::absolute;
use super::git::{git_in, output, run_git, run_git_progress};
use super::url::GitUrl;
use crate::error::{Error, Result};

/// What the remote's HEAD pointed at when the mirror last fetched: the
/// default base of a run on a remote repo. Outside `refs/remotes/origin/*`
/// so that `--prune` leaves it alone.
pub(super) const MIRROR_HEAD: &str = "refs/m/origin-head";

/// Transports a fetch may use even if the user's config rewrites the URL;
/// `ext` and `fd` run programs.
const ALLOWED_PROTOCOLS: &str = "file:git:http:https:ssh";

/// `mirrors/<name>-<hash of the URL>.git`: readable, and one per URL.
pub(super) fn mirror_dir(mirrors_dir: &Path, url: &GitUrl) -> PathBuf {
    let name: String = url
        .default_name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let name = name.trim_start_matches(['.', '-']);
    let name = if name.is_empty() { "repo" } else { name };
    let hash = format!("{:016x}", fnv1a(url.as_str().as_bytes()));
    mirrors_dir.join(format!("{name}-{}.git", &hash[..12]))
}

/// A hash that stays the same across Rust releases (std's does not promise
/// to), so mirrors are found again after an upgrade.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Fetches the remote into its mirror, making the mirror the first time (in
/// a side directory renamed into place, so a half-made mirror is never
/// used). The caller holds the mirror's lock.
pub(super) fn update_mirror(
    mirror: &Path,
    url: &GitUrl,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    if mirror.exists() {
        let out = output(git_in(mirror).args(["config", "--get", "remote.origin.url"]))?;
        let configured = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if configured != url.as_str() {
            return Err(Error::failure(format!(
                "the mirror {} is not a mirror of {url} (its remote is '{configured}')",
                mirror.display()
            ))
            .with_hint("remove that directory; m makes the mirror again"));
        }
        return fetch(mirror, url, progress);
    }
    let partial = mirror.with_extension("partial");
    // Left by a crash: nobody else can be using it while we hold the lock.
    if fs::symlink_metadata(&partial).is_ok() {
        fs::remove_dir_all(&partial).map_err(|e| Error::io("remove", &partial, e))?;
    }
    let parent = mirror.parent().unwrap_or(Path::new("/"));
    let made = (|| {
        run_git(
            git_in(parent)
                .args(["init", "--bare", "--quiet", "--"])
                .arg(&partial),
            || format!("cannot make the mirror {}", partial.display()),
        )?;
        let head_refspec = format!("+HEAD:{MIRROR_HEAD}");
        for (key, value) in [
            ("remote.origin.url", url.as_str()),
            ("remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*"),
            ("remote.origin.fetch", "+refs/tags/*:refs/tags/*"),
            ("remote.origin.fetch", &head_refspec),
        ] {
            run_git(
                git_in(&partial).args(["config", "--add", "--", key, value]),
                || format!("cannot configure the mirror {}", partial.display()),
            )?;
        }
        fetch(&partial, url, progress)?;
        fs::rename(&partial, mirror).map_err(|e| Error::io("rename", &partial, e))
    })();
    if made.is_err() {
        let _ = fs::remove_dir_all(&partial);
    }
    made
}

pub(super) fn fetch(mirror: &Path, url: &GitUrl, progress: &mut dyn FnMut(&str)) -> Result<()> {
    run_git_progress(
        git_in(mirror)
            .env("GIT_ALLOW_PROTOCOL", ALLOWED_PROTOCOLS)
            .args(["fetch", "--prune", "--progress", "origin"]),
        || format!("cannot fetch {url}"),
        progress,
    )
    .map_err(|e| {
        e.with_hint("check the URL and that this machine can reach it (`git ls-remote URL`)")
    })
}

/// An exclusive `flock` held until dropped, so that two runs of the same
/// remote do not fetch into (or create) one mirror at once. The file is
/// private (0600) and removed with its repo ([`remove_mirror_lock`]).
pub(super) struct FileLock(#[allow(dead_code)] fs::File);

impl FileLock {
    pub(super) fn acquire(path: &Path) -> Result<FileLock> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
        loop {
            let file = fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| Error::io("open", path, e))?;
            let meta = file.metadata().map_err(|e| Error::io("inspect", path, e))?;
            // Made by an m that created them 0644.
            if meta.mode() & 0o077 != 0 {
                file.set_permissions(fs::Permissions::from_mode(0o600))
                    .map_err(|e| Error::io("restrict", path, e))?;
            }
            // SAFETY: flock on a file descriptor we own; no memory involved.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::io("lock", path, err));
            }
            // Whoever held it may have removed the file meanwhile: a lock on
            // a file no longer at `path` excludes nobody, so take the new one.
            let current = fs::metadata(path).ok();
            if current.is_some_and(|c| c.dev() == meta.dev() && c.ino() == meta.ino()) {
                return Ok(FileLock(file));
            }
        }
    }
}

/// Removes the lock file of a remote repo's mirror, once the repo is
/// removed; waits for whoever holds it. The mirror itself stays: branches
/// of removed runs may still hold work only it has.
pub fn remove_mirror_lock(git_url: &str, mirrors_dir: &Path) -> Result<()> {
    if git_url.starts_with('/') {
        return Ok(());
    }
    let url = GitUrl::parse(git_url)?;
    let lock = mirror_dir(&absolute(mirrors_dir)?, &url).with_extension("lock");
    if fs::symlink_metadata(&lock).is_err() {
        return Ok(());
    }
    let _held = FileLock::acquire(&lock)?;
    match fs::remove_file(&lock) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io("remove", &lock, e)),
        _ => Ok(()),
    }
}
