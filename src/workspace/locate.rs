use std::fs;
use std::io::{self};
use std::path::{Path, PathBuf};

use super::create::commit_of;
use super::git::{git_message, git_searching, output};
use super::url::{percent_decode, split_scheme, split_scp, transport_helper, GitUrl};
use crate::error::{Error, Result};

/// Where a registered repo lives: its row's `git_url` is the local path
/// (absolute) or the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoLocation {
    /// The top level of a work tree on this machine.
    Local(PathBuf),
    Remote(GitUrl),
}

impl RepoLocation {
    /// What to store as the repo's `git_url`.
    pub fn to_git_url(&self) -> String {
        match self {
            RepoLocation::Local(path) => path.to_string_lossy().into_owned(),
            RepoLocation::Remote(url) => url.as_str().to_owned(),
        }
    }
}

/// Reads the argument of `m repo add PATH|URL`, and returns where the repo
/// is and the name it gets by default. An existing local path wins over a
/// URL-looking reading of the same text (a directory may be called `a:b`).
pub fn locate_repo(arg: &str) -> Result<(RepoLocation, String)> {
    if arg.is_empty() {
        return Err(Error::usage("the repository path or URL is empty"));
    }
    let path = Path::new(arg);
    let exists = fs::symlink_metadata(path).is_ok();
    if !exists && (arg.starts_with('-') || looks_like_url(arg)) {
        let url = GitUrl::parse(arg)?;
        let name = url.default_name();
        return Ok((RepoLocation::Remote(url), name));
    }
    // Messages name the path as it is on disk: `.` or `src` alone say little.
    let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let shown = shown.display();
    let meta = fs::metadata(path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            Error::not_found(format!("no such directory: {shown}")).with_hint(
                "give the path of a git repository, or its URL \
                 (https://..., ssh://..., user@host:path)",
            )
        } else {
            Error::io("inspect", path, e)
        }
    })?;
    if !meta.is_dir() {
        return Err(Error::usage(format!("{shown} is not a directory"))
            .with_hint("give the directory of a git repository, or its URL"));
    }
    let out = output(git_searching(path).args(["rev-parse", "--show-toplevel"]))?;
    let top = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
    if !out.status.success() || top.is_empty() {
        return Err(Error::usage(format!(
            "{shown} is not inside a git work tree: {}",
            git_message(&out.status, &out.stderr)
        ))
        .with_hint(
            "run `git init` there (and commit something) first, or give the repository's URL \
             (for a bare repository: file:///its/path)",
        ));
    }
    // git gives the real path already; canonical all the same, since one
    // repository must not be registered twice under different spellings.
    let top = fs::canonicalize(&top).unwrap_or_else(|_| PathBuf::from(top));
    if commit_of(&top, "HEAD")?.is_err() {
        return Err(Error::usage(format!(
            "the repository {} has no commits yet (its HEAD names none), and runs start from a commit",
            top.display()
        ))
        .with_hint(format!(
            "make a first commit (`git -C {} commit --allow-empty -m 'first commit'`), then add it again",
            top.display()
        )));
    }
    let name = top
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repo".to_owned());
    Ok((RepoLocation::Local(top), name))
}

/// What makes one repository of several spellings: the real path of its
/// git common directory. A work tree whose `.git` is a symlink or a
/// `gitdir:` file, a linked worktree, a `file://` URL and the path itself
/// all name the same objects and refs, so runs in two of them at once would
/// share branches. None for a remote URL, or a location that is no
/// repository (now).
pub fn repository_identity(git_url: &str) -> Option<PathBuf> {
    let dir = match git_url.strip_prefix('/') {
        Some(_) => PathBuf::from(git_url),
        None => file_url_path(git_url)?,
    };
    let out = output(git_searching(&dir).args([
        "rev-parse",
        "--path-format=absolute",
        "--git-common-dir",
    ]))
    .ok()?;
    let common = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
    if !out.status.success() || common.is_empty() {
        return None;
    }
    fs::canonicalize(common).ok()
}

/// The local path of a `file://` URL (`file:///p`, `file://localhost/p`).
fn file_url_path(url: &str) -> Option<PathBuf> {
    let (scheme, rest) = split_scheme(url)?;
    if !scheme.eq_ignore_ascii_case("file") {
        return None;
    }
    let rest = percent_decode(rest);
    let path = match rest.get(..9) {
        Some(host) if host.eq_ignore_ascii_case("localhost") => &rest[9..],
        _ => rest.as_str(),
    };
    path.starts_with('/').then(|| PathBuf::from(path))
}

fn looks_like_url(arg: &str) -> bool {
    split_scheme(arg).is_some()
        || transport_helper(arg).is_some()
        || (split_scp(arg).is_some() && !arg.starts_with(['/', '.', '~']))
}
