//! Where a run's agent works: a git worktree on a branch of its own (from the
//! user's repository, or from a cached mirror of a remote one), or an empty
//! scratch directory for a repo without a URL.
//!
//! Git runs as the `git` program, so the user's credentials, ssh config and
//! `insteadOf` rules apply as they do in a terminal. Everything here blocks:
//! the daemon calls it from `spawn_blocking`.
//!
//! Every value that came from a person (a URL, a `--base` ref, a path) goes
//! after `--` or `--end-of-options`, and URLs are checked by [`GitUrl::parse`]
//! before git sees them, because git reads a leading `-` as an option and
//! `ext::` as a command to run.
//!
//! Mirrors are bare repositories that fetch the remote's branches into
//! `refs/remotes/origin/*` (not the `+refs/*:refs/*` of `git clone --mirror`):
//! run branches live in the mirror's `refs/heads/m/*`, and a mirror-style
//! `fetch --prune` would delete every one of them, with the agent's work, on
//! the next fetch.

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The schemes git may be given. `git+ssh` and `ssh+git` are git's own
/// spellings of ssh.
const SCHEMES: &[&str] = &["https", "http", "ssh", "git", "file", "git+ssh", "ssh+git"];

/// What the remote's HEAD pointed at when the mirror last fetched: the
/// default base of a run on a remote repo. Outside `refs/remotes/origin/*`
/// so that `--prune` leaves it alone.
const MIRROR_HEAD: &str = "refs/m/origin-head";

/// Transports a fetch may use even if the user's config rewrites the URL;
/// `ext` and `fd` run programs.
const ALLOWED_PROTOCOLS: &str = "file:git:http:https:ssh";

/// Inherited variables that would point git at another repository or index
/// than the one named (the daemon may have been started from a git hook).
const REPO_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
];

// ---------------------------------------------------------------------------
// URLs

/// A remote repository URL that is safe to hand to git: a known scheme or
/// scp-like `[user@]host:path`, no transport helper (`ext::`), no component
/// that git or ssh could read as an option, no whitespace or control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GitUrl(String);

impl GitUrl {
    /// Refuses, as a usage error naming the URL and the rule it breaks,
    /// anything git could run a program or an option from.
    pub fn parse(input: &str) -> Result<GitUrl> {
        check_url(input).map_err(|rule| {
            Error::usage(format!(
                "refusing git URL '{}': {rule}",
                input.escape_default()
            ))
            .with_hint(
                "use https://host/path, ssh://[user@]host/path, git://host/path, \
                 file:///path or [user@]host:path",
            )
        })?;
        Ok(GitUrl(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The repository's name as people say it: the last path component
    /// without `.git` (`https://host/org/tool.git` -> `tool`).
    pub fn default_name(&self) -> String {
        let s = self.as_str();
        let (host, path) = match split_scheme(s) {
            Some((_, rest)) => match rest.split_once('/') {
                Some((authority, path)) => (authority, path),
                None => (rest, ""),
            },
            None => split_scp(s).unwrap_or((s, "")),
        };
        let path = path.split(['?', '#']).next().unwrap_or("");
        let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        let last = last.strip_suffix(".git").unwrap_or(last);
        if !last.is_empty() {
            return last.to_owned();
        }
        let host = host.rsplit('@').next().unwrap_or(host);
        if host.is_empty() {
            "repo".to_owned()
        } else {
            host.to_owned()
        }
    }
}

impl fmt::Display for GitUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for GitUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<GitUrl> {
        GitUrl::parse(s)
    }
}

/// `Err(rule)` names the rule `input` breaks.
fn check_url(input: &str) -> std::result::Result<(), String> {
    if input.is_empty() {
        return Err("it is empty".into());
    }
    if input.chars().any(is_bad_char) {
        return Err("it contains whitespace or control characters".into());
    }
    if input.starts_with('-') {
        return Err("it starts with '-', so git would read it as an option".into());
    }
    if let Some(helper) = transport_helper(input) {
        return Err(format!(
            "the '{helper}::' form makes git run a transport helper program; \
             only plain URLs are allowed"
        ));
    }
    if let Some((scheme, rest)) = split_scheme(input) {
        let scheme = scheme.to_ascii_lowercase();
        if !SCHEMES.contains(&scheme.as_str()) {
            return Err(format!(
                "unknown scheme '{scheme}' (use https, http, ssh, git or file)"
            ));
        }
        // git percent-decodes a URL before it connects, so `%2d` is a `-`
        // and `%0a` a newline by the time ssh sees them.
        let decoded = percent_decode(rest);
        if decoded.chars().any(is_bad_char) {
            return Err("it contains encoded whitespace or control characters".into());
        }
        let (authority, path) = match decoded.find('/') {
            Some(i) => decoded.split_at(i),
            None => (decoded.as_str(), ""),
        };
        if scheme == "file" {
            if !(authority.is_empty() || authority.eq_ignore_ascii_case("localhost")) {
                return Err(format!(
                    "a file:// URL names no host (file:///path), not '{authority}'"
                ));
            }
            if path.trim_matches('/').is_empty() {
                return Err("the path is empty".into());
            }
        } else {
            check_authority(authority)?;
        }
        check_path(path)
    } else if let Some((authority, path)) = split_scp(input) {
        check_authority(authority)?;
        if path.is_empty() {
            return Err("the path after ':' is empty".into());
        }
        check_path(path)
    } else {
        Err("it is not a URL (scheme://host/path or [user@]host:path)".into())
    }
}

fn is_bad_char(c: char) -> bool {
    c.is_control() || c.is_whitespace()
}

/// `[user[:password]@]host[:port]`, host possibly `[bracketed]`.
fn check_authority(authority: &str) -> std::result::Result<(), String> {
    let (user, host_port) = match authority.rsplit_once('@') {
        Some((user, rest)) => (Some(user), rest),
        None => (None, authority),
    };
    if let Some(user) = user {
        if user.is_empty() {
            return Err("the user name before '@' is empty".into());
        }
        // ssh may split `a@b@host` differently than we do: no part may look
        // like an option.
        if user.split(['@', ':']).any(|part| part.starts_with('-')) {
            return Err("the user name starts with '-'".into());
        }
    }
    let (host, port) = match host_port.strip_prefix('[') {
        Some(rest) => {
            let (inner, after) = rest
                .split_once(']')
                .ok_or_else(|| "the host has '[' without ']'".to_string())?;
            let port = match after {
                "" => None,
                after => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| format!("unexpected '{after}' after the host"))?,
                ),
            };
            (inner, port)
        }
        None => match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if host.starts_with('-') {
        return Err("the host starts with '-'".into());
    }
    if let Some(port) = port {
        if port.starts_with('-') {
            return Err("the port starts with '-'".into());
        }
        if !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("the port '{port}' is not a number"));
        }
    }
    Ok(())
}

fn check_path(path: &str) -> std::result::Result<(), String> {
    if path.split('/').any(|part| part.starts_with('-')) {
        return Err("a path component starts with '-'".into());
    }
    Ok(())
}

/// `scheme://rest`, as git recognises a URL.
fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once("://")?;
    is_scheme(scheme).then_some((scheme, rest))
}

fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// git's `<transport>::<address>` form, which runs `git-remote-<transport>`.
fn transport_helper(s: &str) -> Option<&str> {
    let (prefix, _) = s.split_once("::")?;
    is_scheme(prefix).then_some(prefix)
}

/// git's scp-like syntax: a `:` with no `/` before it (`host:path`,
/// `user@host:path`, `[user@host:port]:path`). Returns (authority, path).
fn split_scp(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        return after.strip_prefix(':').map(|path| (inner, path));
    }
    let (authority, path) = s.split_once(':')?;
    (!authority.contains('/')).then_some((authority, path))
}

/// As git decodes: `%XX` becomes a byte, anything else stays as it is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------
// Registering a repo

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

fn looks_like_url(arg: &str) -> bool {
    split_scheme(arg).is_some()
        || transport_helper(arg).is_some()
        || (split_scp(arg).is_some() && !arg.starts_with(['/', '.', '~']))
}

// ---------------------------------------------------------------------------
// Workspaces

/// What [`create`] needs to know about a run.
#[derive(Debug, Clone, Copy)]
pub struct WorkspaceRequest<'a> {
    /// The run's id (a UUID): names the directory and, by its first eight
    /// characters, the branch.
    pub run_id: &'a str,
    /// The repo row's `git_url`: an absolute local path, a remote URL, or
    /// None for a scratch directory.
    pub git_url: Option<&'a str>,
    /// `--base REF`: what the branch starts from (default: HEAD of the
    /// repository, or of the remote).
    pub base: Option<&'a str>,
    pub workspaces_dir: &'a Path,
    pub mirrors_dir: &'a Path,
}

/// A run's workspace. The daemon should keep it (it is serde) with the run:
/// [`diff`] and [`remove`] need it after the run, and `base_commit` cannot be
/// recomputed reliably later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    /// The directory the agent works in.
    pub path: PathBuf,
    /// The user's repository or m's mirror that holds the branch; None for a
    /// scratch directory.
    pub repo_dir: Option<PathBuf>,
    /// `m/<first 8 characters of the run id>`.
    pub branch: Option<String>,
    /// The commit the branch started from.
    pub base_commit: Option<String>,
}

impl Workspace {
    /// Where [`create`] puts (or put) this run's workspace, computed without
    /// touching anything. `base_commit` is None: this is for cleaning up
    /// after a daemon died while the workspace was being made, when nothing
    /// was recorded; [`remove`] works with it, [`diff`] does not.
    pub fn for_request(req: &WorkspaceRequest<'_>) -> Result<Workspace> {
        plan(req).map(|(ws, _)| ws)
    }

    /// A run's workspace as recorded: where [`create`] put it, with the
    /// branch and base commit kept with the run (None for either if the
    /// workspace was never finished).
    pub fn recorded(
        req: &WorkspaceRequest<'_>,
        branch: Option<String>,
        base_commit: Option<String>,
    ) -> Result<Workspace> {
        let mut ws = Workspace::for_request(req)?;
        ws.base_commit = base_commit;
        if branch.is_some() {
            ws.branch = branch;
        }
        Ok(ws)
    }

    fn base(&self) -> Result<&str> {
        self.base_commit.as_deref().ok_or_else(|| {
            Error::failure(format!(
                "the base commit of the workspace {} is not known",
                self.path.display()
            ))
        })
    }
}

enum Source {
    Local,
    Remote(GitUrl),
}

/// The workspace `req` asks for, and where its history comes from.
fn plan(req: &WorkspaceRequest<'_>) -> Result<(Workspace, Option<Source>)> {
    check_run_id(req.run_id)?;
    let path = absolute(&req.workspaces_dir.join(req.run_id))?;
    let (repo_dir, source) = match req.git_url {
        None => (None, None),
        Some(local) if local.starts_with('/') => (Some(PathBuf::from(local)), Some(Source::Local)),
        Some(url) => {
            let url = GitUrl::parse(url)?;
            let mirror = mirror_dir(&absolute(req.mirrors_dir)?, &url);
            (Some(mirror), Some(Source::Remote(url)))
        }
    };
    let ws = Workspace {
        path,
        branch: repo_dir.as_ref().map(|_| branch_name(req.run_id)),
        repo_dir,
        base_commit: None,
    };
    Ok((ws, source))
}

/// Run ids become a directory name and a branch name, so only what a UUID
/// is made of may pass.
fn check_run_id(run_id: &str) -> Result<()> {
    let ok = run_id.len() >= 8
        && !run_id.starts_with('-')
        && run_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::failure(format!(
            "'{}' is not a valid run id for a workspace",
            run_id.escape_default()
        )))
    }
}

fn branch_name(run_id: &str) -> String {
    format!("m/{}", crate::model::short_id(run_id))
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::io("resolve", path, e))
}

/// Makes the run's workspace. Remote repos are fetched first, and git's
/// progress lines go to `progress` as they come. On failure nothing of the
/// workspace is left behind (a mirror, being a cache, stays).
pub fn create(req: &WorkspaceRequest<'_>, progress: &mut dyn FnMut(&str)) -> Result<Workspace> {
    if let Some(base) = req.base {
        check_base_arg(base)?;
    }
    let (mut ws, source) = plan(req)?;
    crate::paths::create_private_dir(req.workspaces_dir)?;
    if fs::symlink_metadata(&ws.path).is_ok() {
        return Err(Error::conflict(format!(
            "the workspace directory {} already exists",
            ws.path.display()
        ))
        .with_hint("remove it if no run uses it, then start the run again"));
    }
    let (Some(source), Some(repo), Some(branch)) = (source, &ws.repo_dir, &ws.branch) else {
        fs::create_dir(&ws.path).map_err(|e| Error::io("create workspace", &ws.path, e))?;
        return Ok(ws);
    };
    let base = match source {
        Source::Remote(url) => {
            crate::paths::create_private_dir(req.mirrors_dir)?;
            let _lock = FileLock::acquire(&repo.with_extension("lock"))?;
            update_mirror(repo, &url, progress)?;
            let base = resolve_base(repo, req.base, true)?;
            add_worktree(repo, &ws.path, branch, &base)?;
            base
        }
        Source::Local => {
            if !repo.is_dir() {
                return Err(Error::not_found(format!(
                    "the repository {} no longer exists",
                    repo.display()
                ))
                .with_hint("register it again with `m repo add`, or remove it with `m repo rm`"));
            }
            let base = resolve_base(repo, req.base, false)?;
            add_worktree(repo, &ws.path, branch, &base)?;
            base
        }
    };
    ws.base_commit = Some(base);
    Ok(ws)
}

fn check_base_arg(base: &str) -> Result<()> {
    if base.is_empty() {
        return Err(
            Error::usage("the base ref is empty").with_hint("pass --base a branch, tag or commit")
        );
    }
    if base.starts_with('-') || base.chars().any(is_bad_char) {
        return Err(Error::usage(format!(
            "'{}' is not a usable base: it looks like an option or holds whitespace",
            base.escape_default()
        ))
        .with_hint("pass --base a branch, tag or commit"));
    }
    Ok(())
}

/// The commit the run's branch starts from. In a mirror, a bare name also
/// means the remote's branch (`main` is `refs/remotes/origin/main`), since
/// the mirror has no branches of its own but the runs'.
fn resolve_base(repo: &Path, base: Option<&str>, mirror: bool) -> Result<String> {
    let Some(base) = base else {
        let default = if mirror { MIRROR_HEAD } else { "HEAD" };
        return commit_of(repo, default)?.map_err(|msg| {
            let (what, hint) = if mirror {
                (
                    "the remote repository has no default branch to start from",
                    "if it is empty, push a first commit to it; or pass --base",
                )
            } else {
                (
                    "the repository has no commits yet",
                    "commit something first, or pass --base",
                )
            };
            Error::not_found(format!("{what} ({}): {msg}", repo.display())).with_hint(hint)
        });
    };
    let mut found = commit_of(repo, base)?;
    if mirror && found.is_err() {
        if let Ok(commit) = commit_of(repo, &format!("refs/remotes/origin/{base}"))? {
            found = Ok(commit);
        }
    }
    found.map_err(|msg| {
        Error::not_found(format!(
            "no commit named '{base}' in {}: {msg}",
            repo.display()
        ))
        .with_hint("pass --base a branch, tag or commit that exists in the repository")
    })
}

/// The commit `rev` names in `repo`: Ok(Err(git's message)) if it names none.
fn commit_of(repo: &Path, rev: &str) -> Result<std::result::Result<String, String>> {
    let out = output(
        git_in(repo)
            .args(["rev-parse", "--verify", "--end-of-options"])
            .arg(format!("{rev}^{{commit}}")),
    )?;
    let commit = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() && !commit.is_empty() {
        Ok(Ok(commit))
    } else {
        Ok(Err(git_message(&out.status, &out.stderr)))
    }
}

/// The commit a full ref name points at, if it exists.
fn ref_commit(repo: &Path, refname: &str) -> Result<Option<String>> {
    let out = output(
        git_in(repo)
            .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
            .arg(refname),
    )?;
    let commit = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    match out.status.code() {
        Some(0) if !commit.is_empty() => Ok(Some(commit)),
        Some(1) => Ok(None),
        _ => Err(git_error(
            format!("cannot read {refname} in {}", repo.display()),
            &out.status,
            &out.stderr,
        )),
    }
}

fn add_worktree(repo: &Path, path: &Path, branch: &str, base: &str) -> Result<()> {
    if ref_commit(repo, &format!("refs/heads/{branch}"))?.is_some() {
        return Err(Error::conflict(format!(
            "a branch named {branch} already exists in {}",
            repo.display()
        ))
        .with_hint(format!(
            "it was left by an earlier run with the same id prefix: \
             merge or delete it (`git branch -d {branch}`), then start the run again"
        )));
    }
    let result = run_git(
        git_in(repo)
            .args([
                "worktree",
                "add",
                "--quiet",
                "--no-track",
                "-b",
                branch,
                "--",
            ])
            .arg(path)
            .arg(base),
        || {
            format!(
                "cannot create the worktree {} from {}",
                path.display(),
                repo.display()
            )
        },
    );
    if result.is_err() {
        discard_worktree(repo, path, branch, base);
    }
    result.map(drop)
}

/// Undoes a failed `worktree add` as far as it got: git may leave the
/// branch, the directory and its record of the worktree behind (a failing
/// post-checkout hook does). Best effort: the error being reported matters
/// more than one of these failing too.
fn discard_worktree(repo: &Path, path: &Path, branch: &str, base: &str) {
    if fs::symlink_metadata(path).is_ok() {
        let _ = fs::remove_dir_all(path);
    }
    let _ = output(git_in(repo).args(["worktree", "prune"]));
    // Only while it still points at the base: the branch is ours (it did not
    // exist before), and deleting it then throws no commit away.
    let _ = output(
        git_in(repo)
            .args(["update-ref", "-d", "--end-of-options"])
            .arg(format!("refs/heads/{branch}"))
            .arg(base),
    );
}

/// `mirrors/<name>-<hash of the URL>.git`: readable, and one per URL.
fn mirror_dir(mirrors_dir: &Path, url: &GitUrl) -> PathBuf {
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
fn update_mirror(mirror: &Path, url: &GitUrl, progress: &mut dyn FnMut(&str)) -> Result<()> {
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

fn fetch(mirror: &Path, url: &GitUrl, progress: &mut dyn FnMut(&str)) -> Result<()> {
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
struct FileLock(#[allow(dead_code)] fs::File);

impl FileLock {
    fn acquire(path: &Path) -> Result<FileLock> {
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

// ---------------------------------------------------------------------------
// After the run

/// How much a run changed, against its base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffStat {
    pub files: u64,
    pub insertions: u64,
    pub deletions: u64,
    /// The branch's commit after the run.
    pub commit: String,
}

/// Commits everything in the worktree (new files included, ignored files
/// not) and measures the run's branch against its base. Ok(None) when the
/// run left nothing: no change to commit and no commit of the agent's own on
/// the branch (and always for a scratch workspace, which has no history).
///
/// Hooks and commit signing are skipped: this commit records what the agent
/// did, and a failing lint hook or a pinentry the daemon cannot answer must
/// not lose it. The user's identity is used when configured, m's otherwise.
///
/// The commit lands wherever the agent left HEAD, which need not be the
/// run's branch (`git checkout --detach`, `git switch -c other`); the branch
/// is then brought to the work, see [`bring_branch_to_head`]. Work that
/// cannot be put on the branch is an error, and is left where it is.
pub fn commit_all(ws: &Workspace, message: &str) -> Result<Option<DiffStat>> {
    let (Some(repo), Some(branch)) = (&ws.repo_dir, &ws.branch) else {
        return Ok(None);
    };
    let base = ws.base()?;
    check_worktree(ws, repo)?;
    run_git(git_in(&ws.path).args(["add", "--all"]), || {
        format!("cannot stage the changes in {}", ws.path.display())
    })?;
    let staged = output(git_in(&ws.path).args(["diff", "--cached", "--quiet", "--no-ext-diff"]))?;
    match staged.status.code() {
        Some(0) => {}
        Some(1) => {
            let message = if message.trim().is_empty() {
                "m: the agent's changes"
            } else {
                message
            };
            let mut cmd = git_in(&ws.path);
            for setting in identity_fallback(&ws.path)? {
                cmd.args(["-c", setting]);
            }
            cmd.args(["commit", "--quiet", "--no-verify", "--no-gpg-sign"])
                .arg(format!("--message={message}"));
            run_git(&mut cmd, || {
                format!("cannot commit the changes in {}", ws.path.display())
            })?;
        }
        _ => {
            return Err(git_error(
                format!("cannot read the changes in {}", ws.path.display()),
                &staged.status,
                &staged.stderr,
            ))
        }
    }
    let head = run_git(
        git_in(&ws.path).args(["rev-parse", "--verify", "HEAD"]),
        || format!("cannot read HEAD in {}", ws.path.display()),
    )?
    .trim()
    .to_owned();
    let tip = bring_branch_to_head(ws, repo, branch, &head)?;
    if tip == base {
        return Ok(None);
    }
    let numstat = run_git(
        git_in(&ws.path)
            .args([
                "diff",
                "--numstat",
                "--no-color",
                "--no-ext-diff",
                "--end-of-options",
            ])
            .args([base, tip.as_str(), "--"]),
        || format!("cannot measure the changes in {}", ws.path.display()),
    )?;
    let mut stat = parse_numstat(&numstat);
    stat.commit = tip;
    Ok(Some(stat))
}

/// Puts the work at `head` (the worktree's HEAD, everything committed) on
/// the run's branch, and returns the branch's commit. An agent may have
/// left the branch: a detached HEAD, or a branch of its own. Its commits are
/// then on no branch m knows of, and removing the worktree would lose them.
///
/// - HEAD is the branch's commit, or one the branch already contains: done.
/// - The branch's commit is an ancestor of HEAD: the branch is fast-forwarded
///   to HEAD (only if it has not moved meanwhile). HEAD stays as the agent
///   left it; it is the same commit.
/// - Otherwise (the branch went elsewhere, or is gone) nothing is moved and
///   the error says where the work is.
fn bring_branch_to_head(ws: &Workspace, repo: &Path, branch: &str, head: &str) -> Result<String> {
    let refname = format!("refs/heads/{branch}");
    let lost = |why: String| {
        let on = match head_branch(&ws.path) {
            Some(other) => format!("on branch {other}"),
            None => "detached HEAD".to_owned(),
        };
        Error::failure(format!(
            "the agent's work is at commit {head} ({on}) in {}, not on the run's branch {branch}, \
             which {why}; it was left there",
            ws.path.display()
        ))
        .with_hint(format!(
            "look at it with `git -C {} log {head}`; keep it with `git -C {} branch NAME {head}` \
             or merge it into {branch}",
            ws.path.display(),
            repo.display()
        ))
    };
    let Some(tip) = ref_commit(&ws.path, &refname)? else {
        return Err(lost("no longer exists".to_owned()));
    };
    if tip == head || is_ancestor(&ws.path, head, &tip)? {
        return Ok(tip);
    }
    if !is_ancestor(&ws.path, &tip, head)? {
        return Err(lost(format!(
            "is at {tip} and cannot be fast-forwarded to it"
        )));
    }
    // With the old value: if anything moved the branch since it was read,
    // git refuses rather than overwrite it.
    run_git(
        git_in(&ws.path)
            .args([
                "update-ref",
                "-m",
                "m: the run's work, committed off its branch",
            ])
            .args(["--end-of-options", refname.as_str(), head, tip.as_str()]),
        || format!("cannot move {branch} to the agent's work at {head}"),
    )?;
    Ok(head.to_owned())
}

/// The branch the worktree at `dir` has checked out; None for a detached
/// HEAD (or a HEAD git cannot read).
fn head_branch(dir: &Path) -> Option<String> {
    let out = output(git_in(dir).args(["symbolic-ref", "--quiet", "--short", "HEAD"])).ok()?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !name.is_empty()).then_some(name)
}

/// Whether `ancestor` is `descendant` or one of its ancestors.
fn is_ancestor(dir: &Path, ancestor: &str, descendant: &str) -> Result<bool> {
    let out = output(git_in(dir).args(["merge-base", "--is-ancestor", ancestor, descendant]))?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(git_error(
            format!(
                "cannot tell whether {ancestor} is an ancestor of {descendant} in {}",
                dir.display()
            ),
            &out.status,
            &out.stderr,
        )),
    }
}

/// `-c` settings for what the repository's config lacks of an identity.
/// Environment variables (`GIT_AUTHOR_NAME`, ...) still win over `-c`;
/// `EMAIL` does not, so it counts as configured.
fn identity_fallback(dir: &Path) -> Result<Vec<&'static str>> {
    let out = output(git_in(dir).args([
        "config",
        "--get-regexp",
        r"^(user|author|committer)\.(name|email)$",
    ]))?;
    let config = String::from_utf8_lossy(&out.stdout);
    let has = |key: &str| {
        config.lines().any(|line| {
            line.split_once(' ')
                .is_some_and(|(k, v)| k == key && !v.trim().is_empty())
        })
    };
    // `author.X` and `committer.X` (git 2.22) count only as a pair.
    let configured = |what: &str| {
        has(&format!("user.{what}"))
            || (has(&format!("author.{what}")) && has(&format!("committer.{what}")))
    };
    let mut settings = Vec::new();
    if !configured("name") {
        settings.push("user.name=m");
    }
    let email_env = inherited_env("EMAIL").is_some_and(|v| !v.is_empty());
    if !configured("email") && !email_env {
        settings.push("user.email=m@localhost");
    }
    Ok(settings)
}

fn parse_numstat(numstat: &str) -> DiffStat {
    let mut stat = DiffStat {
        files: 0,
        insertions: 0,
        deletions: 0,
        commit: String::new(),
    };
    for line in numstat.lines().filter(|l| !l.is_empty()) {
        let mut fields = line.splitn(3, '\t');
        // Binary files count as changed files with `-` for line counts.
        let mut count = || {
            fields
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        };
        stat.insertions += count();
        stat.deletions += count();
        stat.files += 1;
    }
    stat
}

/// The worktree exists and still belongs to `repo`: the agent had the run
/// of it, and may have deleted or replaced its `.git`.
fn check_worktree(ws: &Workspace, repo: &Path) -> Result<()> {
    if !ws.path.is_dir() {
        return Err(Error::not_found(format!(
            "the workspace {} no longer exists",
            ws.path.display()
        )));
    }
    let common_dir = |dir: &Path| -> Result<Option<PathBuf>> {
        let out =
            output(git_in(dir).args(["rev-parse", "--path-format=absolute", "--git-common-dir"]))?;
        let path = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
        Ok((out.status.success() && !path.is_empty())
            .then(|| fs::canonicalize(&path).unwrap_or_else(|_| PathBuf::from(path))))
    };
    let theirs = common_dir(&ws.path)?;
    if theirs.is_none() || theirs != common_dir(repo)? {
        return Err(Error::failure(format!(
            "the workspace {} is no longer a worktree of {}",
            ws.path.display(),
            repo.display()
        ))
        .with_hint(format!(
            "its .git was removed or replaced; `git -C {} worktree repair {}` may fix it",
            repo.display(),
            ws.path.display()
        )));
    }
    Ok(())
}

/// The run's changes against its base, as a patch or (`stat_only`) as
/// `git diff --stat` shows them.
///
/// While the worktree exists this is its current state, uncommitted and
/// untracked files included (what [`commit_all`] would commit), so a diff
/// asked for mid-run shows the work so far. Once the worktree is removed it
/// is the branch.
pub fn diff(ws: &Workspace, stat_only: bool) -> Result<String> {
    let (Some(repo), Some(branch)) = (&ws.repo_dir, &ws.branch) else {
        return Err(Error::usage(format!(
            "the workspace {} is a scratch directory: it has no history to diff",
            ws.path.display()
        ))
        .with_hint("register the repo with a path or URL to get diffs of its runs"));
    };
    let base = ws.base()?;
    let mut args = vec!["diff", "--no-color", "--no-ext-diff"];
    if stat_only {
        args.push("--stat");
    }
    if ws.path.is_dir() {
        check_worktree(ws, repo)?;
        // `git add -A` into a copy of the index sees new files too, and
        // leaves the worktree's own index as the agent left it.
        let index = TempIndex::new(&ws.path)?;
        run_git(
            git_in(&ws.path)
                .env("GIT_INDEX_FILE", &index.0)
                .args(["add", "--all"]),
            || format!("cannot read the changes in {}", ws.path.display()),
        )?;
        args.extend(["--cached", "--end-of-options", base, "--"]);
        run_git(
            git_in(&ws.path).env("GIT_INDEX_FILE", &index.0).args(&args),
            || format!("cannot diff {}", ws.path.display()),
        )
    } else {
        let refname = format!("refs/heads/{branch}");
        if ref_commit(repo, &refname)?.is_none() {
            return Err(Error::not_found(format!(
                "the branch {branch} no longer exists in {}",
                repo.display()
            )));
        }
        args.extend(["--end-of-options", base, refname.as_str(), "--"]);
        run_git(git_in(repo).args(&args), || {
            format!("cannot diff {branch} in {}", repo.display())
        })
    }
}

/// A scratch copy of a worktree's index, deleted when dropped.
struct TempIndex(PathBuf);

impl TempIndex {
    fn new(worktree: &Path) -> Result<TempIndex> {
        let index = run_git(
            git_in(worktree).args(["rev-parse", "--git-path", "index"]),
            || format!("cannot find the index of {}", worktree.display()),
        )?;
        let index = worktree.join(index.trim_end_matches('\n'));
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mut name = index.clone().into_os_string();
        name.push(format!(
            ".m-diff-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let temp = TempIndex(PathBuf::from(name));
        if index.exists() {
            fs::copy(&index, &temp.0).map_err(|e| Error::io("copy", &index, e))?;
        }
        Ok(temp)
    }
}

impl Drop for TempIndex {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// What [`remove`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveOutcome {
    /// False if the directory was already gone.
    pub removed_dir: bool,
    /// None for a scratch workspace.
    pub branch: Option<BranchOutcome>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum BranchOutcome {
    Deleted {
        name: String,
    },
    /// It holds commits found nowhere else, or is checked out somewhere.
    Kept {
        name: String,
        reason: String,
    },
    /// Someone deleted it already (or its repository is gone).
    Missing {
        name: String,
    },
}

/// Removes the workspace directory (a worktree is unregistered from its
/// repository too), then the run's branch unless it holds work found
/// nowhere else: such a branch is kept, and the outcome says why.
///
/// A branch goes if `git branch -d` agrees (merged into HEAD), if the run
/// added no commit to it, or, in a mirror, if the remote has its commits.
/// It is never force-deleted. A worktree holding work its branch lacks is
/// not removed at all ([`check_removable`]).
pub fn remove(ws: &Workspace) -> Result<RemoveOutcome> {
    let existed = fs::symlink_metadata(&ws.path).is_ok();
    let Some(repo) = &ws.repo_dir else {
        if existed {
            fs::remove_dir_all(&ws.path).map_err(|e| Error::io("remove", &ws.path, e))?;
        }
        return Ok(RemoveOutcome {
            removed_dir: existed,
            branch: None,
        });
    };
    if !repo.is_dir() {
        // The branch went with its repository; what is left is plain files.
        if existed {
            fs::remove_dir_all(&ws.path).map_err(|e| Error::io("remove", &ws.path, e))?;
        }
        return Ok(RemoveOutcome {
            removed_dir: existed,
            branch: ws
                .branch
                .clone()
                .map(|name| BranchOutcome::Missing { name }),
        });
    }
    if existed {
        check_removable(ws)?;
        let removed = run_git(
            git_in(repo)
                .args(["worktree", "remove", "--force", "--"])
                .arg(&ws.path),
            || format!("cannot remove the worktree {}", ws.path.display()),
        );
        // git refuses a worktree whose `.git` the agent broke; the
        // directory is ours all the same, and prune forgets it below.
        if let Err(err) = removed {
            if fs::remove_dir_all(&ws.path).is_err() {
                return Err(err);
            }
        }
    }
    run_git(git_in(repo).args(["worktree", "prune"]), || {
        format!("cannot prune the worktrees of {}", repo.display())
    })?;
    let branch = match &ws.branch {
        Some(name) => Some(settle_branch(repo, name, ws.base_commit.as_deref())?),
        None => None,
    };
    Ok(RemoveOutcome {
        removed_dir: existed,
        branch,
    })
}

/// Refuses (a conflict, naming what and where) to remove a worktree that
/// holds work its branch lacks: changes never committed, or a HEAD the
/// agent moved off the branch. Removing the worktree would lose them; its
/// branch is all that stays. A scratch directory, a workspace already gone
/// and a worktree whose `.git` the agent broke (git cannot read it, and the
/// run already failed saying its work could not be committed) pass.
pub fn check_removable(ws: &Workspace) -> Result<()> {
    let (Some(repo), Some(branch)) = (&ws.repo_dir, &ws.branch) else {
        return Ok(());
    };
    if !ws.path.is_dir() || !repo.is_dir() || check_worktree(ws, repo).is_err() {
        return Ok(());
    }
    let path = ws.path.display();
    let again = "then try again";
    let status = run_git(
        git_in(&ws.path).args(["status", "--porcelain", "--untracked-files=all"]),
        || format!("cannot read the changes in {path}"),
    )?;
    let changed: Vec<&str> = status.lines().filter(|l| !l.is_empty()).collect();
    if let Some(first) = changed.first() {
        return Err(Error::conflict(format!(
            "the workspace {path} has changes not committed on the run's branch {branch} \
             ({} file(s), first: {}); it was kept",
            changed.len(),
            first.get(3..).unwrap_or(first)
        ))
        .with_hint(format!(
            "commit them (`git -C {path} add -A && git -C {path} commit`) or discard them \
             (`git -C {path} reset --hard && git -C {path} clean -fd`), {again}"
        )));
    }
    let Some(head) = ref_commit(&ws.path, "HEAD")? else {
        return Ok(());
    };
    let tip = ref_commit(&ws.path, &format!("refs/heads/{branch}"))?;
    let on_branch = match &tip {
        Some(tip) => tip == &head || is_ancestor(&ws.path, &head, tip)?,
        None => false,
    };
    if !on_branch {
        let on = match head_branch(&ws.path) {
            Some(other) => format!("on branch {other}"),
            None => "detached".to_owned(),
        };
        let missing = if tip.is_none() {
            format!(
                " (which no longer exists: `git -C {} branch {branch} {head}` makes it again)",
                repo.display()
            )
        } else {
            String::new()
        };
        return Err(Error::conflict(format!(
            "the workspace {path} has its HEAD at {head} ({on}), which is not on the run's \
             branch {branch}{missing}; it was kept"
        ))
        .with_hint(format!(
            "merge that work into the branch (`git -C {path} switch {branch} && git -C {path} merge {head}`), \
             or keep it apart (`git -C {} branch NAME {head}`) and `git -C {path} switch {branch}`; {again}",
            repo.display()
        )));
    }
    Ok(())
}

fn settle_branch(repo: &Path, name: &str, base: Option<&str>) -> Result<BranchOutcome> {
    let refname = format!("refs/heads/{name}");
    let Some(tip) = ref_commit(repo, &refname)? else {
        return Ok(BranchOutcome::Missing { name: name.into() });
    };
    let kept = |reason: String| {
        Ok(BranchOutcome::Kept {
            name: name.into(),
            reason,
        })
    };
    if let Some(worktree) = checked_out_at(repo, &refname)? {
        return kept(format!("it is checked out in {}", worktree.display()));
    }
    let bare = run_git(
        git_in(repo).args(["rev-parse", "--is-bare-repository"]),
        || format!("cannot inspect {}", repo.display()),
    )?
    .trim()
        == "true";
    let mut refused = String::new();
    if !bare {
        let out = output(git_in(repo).args(["branch", "--delete", "--"]).arg(name))?;
        if out.status.success() {
            return Ok(BranchOutcome::Deleted { name: name.into() });
        }
        refused = git_message(&out.status, &out.stderr);
    }
    // Equal to its base, the branch holds nothing of its own even where the
    // base is not merged into HEAD; in a mirror (whose HEAD means nothing)
    // the work is safe once the remote has it.
    let safe = base == Some(tip.as_str()) || (bare && remote_has(repo, &tip)?);
    if safe {
        // Deletes only if the branch still points at `tip`.
        run_git(
            git_in(repo)
                .args(["update-ref", "-d", "--end-of-options"])
                .args([refname.as_str(), tip.as_str()]),
            || format!("cannot delete the branch {name} in {}", repo.display()),
        )?;
        return Ok(BranchOutcome::Deleted { name: name.into() });
    }
    let (exclude, where_): (&[&str], &str) = if bare {
        (&["--remotes=origin", "--tags"], "on the remote")
    } else {
        (&["HEAD"], "merged into HEAD")
    };
    let count = output(
        git_in(repo)
            .args(["rev-list", "--count", &tip, "--not"])
            .args(exclude),
    )?;
    let count = String::from_utf8_lossy(&count.stdout).trim().parse::<u64>();
    // Work kept in a mirror is out of the user's sight: say how to get it.
    let fetch_it = if bare {
        format!("; to get it: git fetch {} {name}", repo.display())
    } else {
        String::new()
    };
    match count {
        Ok(n) if n > 0 => kept(format!(
            "it has {n} commit{} not {where_}{fetch_it}",
            if n == 1 { "" } else { "s" }
        )),
        _ if !refused.is_empty() => kept(refused),
        _ => kept(format!("its commits are not {where_}")),
    }
}

/// Whether a branch or tag of the remote (as last fetched) contains `commit`.
fn remote_has(repo: &Path, commit: &str) -> Result<bool> {
    let found = run_git(
        git_in(repo)
            .args(["for-each-ref", "--count=1", "--format=%(refname)"])
            .arg(format!("--contains={commit}"))
            .args(["refs/remotes/origin/", "refs/tags/"]),
        || format!("cannot read the refs of {}", repo.display()),
    )?;
    Ok(!found.trim().is_empty())
}

/// `git worktree list --porcelain`, as (path, checked-out ref) pairs.
fn worktrees(repo: &Path) -> Result<Vec<(PathBuf, Option<String>)>> {
    let list = run_git(
        git_in(repo).args(["worktree", "list", "--porcelain"]),
        || format!("cannot list the worktrees of {}", repo.display()),
    )?;
    let mut found = Vec::new();
    for line in list.lines() {
        if let Some(path) = line.strip_prefix("worktree ") {
            found.push((PathBuf::from(path), None));
        } else if let (Some(branch), Some(last)) = (line.strip_prefix("branch "), found.last_mut())
        {
            last.1 = Some(branch.to_owned());
        }
    }
    Ok(found)
}

fn checked_out_at(repo: &Path, refname: &str) -> Result<Option<PathBuf>> {
    Ok(worktrees(repo)?
        .into_iter()
        .find(|(_, branch)| branch.as_deref() == Some(refname))
        .map(|(path, _)| path))
}

// ---------------------------------------------------------------------------
// Running git

/// `git`, run in the repository or worktree at `dir` and nowhere else: if
/// `dir` is no longer one (an agent deleted the worktree's `.git`), git
/// must fail rather than find whatever repository holds m's data directory.
fn git_in(dir: &Path) -> Command {
    let mut cmd = git_searching(dir);
    if let Some(parent) = dir.parent().filter(|p| p.is_absolute()) {
        cmd.env("GIT_CEILING_DIRECTORIES", parent);
    }
    cmd
}

/// `git`, run in `dir` (or the repository above it), with no terminal to
/// prompt on and no inherited variable redirecting it elsewhere.
fn git_searching(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    for var in REPO_ENV {
        cmd.env_remove(var);
    }
    #[cfg(test)]
    tests::apply_env(&mut cmd);
    cmd
}

/// A variable git will see in its environment.
fn inherited_env(name: &str) -> Option<std::ffi::OsString> {
    #[cfg(test)]
    if tests::isolated() {
        return None;
    }
    std::env::var_os(name)
}

fn output(cmd: &mut Command) -> Result<Output> {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| spawn_error(cmd, e))
}

fn spawn_error(cmd: &Command, err: io::Error) -> Error {
    match cmd.get_current_dir() {
        Some(dir) if !dir.is_dir() => Error::not_found(format!(
            "cannot run git in {}: the directory does not exist",
            dir.display()
        )),
        _ if err.kind() == io::ErrorKind::NotFound => {
            Error::failure("cannot run git: it is not installed (or not on PATH)")
                .with_hint("install git")
        }
        _ => Error::failure(format!("cannot run git: {err}")),
    }
}

/// Its stdout if git succeeds; otherwise an error saying `what` failed and
/// why, in git's words.
fn run_git(cmd: &mut Command, what: impl FnOnce() -> String) -> Result<String> {
    let out = output(cmd)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(git_error(what(), &out.status, &out.stderr))
    }
}

fn git_error(what: String, status: &ExitStatus, stderr: &[u8]) -> Error {
    Error::failure(format!("{what}: {}", git_message(status, stderr)))
}

/// git's stderr, trimmed, or the exit status if it said nothing.
fn git_message(status: &ExitStatus, stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !is_progress(l))
        .collect();
    if lines.is_empty() {
        format!("git exited with {status}")
    } else {
        lines.join("\n")
    }
}

/// `Receiving objects:  45% (9/20)`, `..., done.`: progress, not a reason.
fn is_progress(line: &str) -> bool {
    line.contains("% (") || line.ends_with(", done.")
}

/// Like [`run_git`], for commands that report progress on stderr: each piece
/// of it (git ends a progress update with `\r`, a line with `\n`) goes to
/// `progress` as it arrives.
fn run_git_progress(
    cmd: &mut Command,
    what: impl FnOnce() -> String,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(cmd, e))?;
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = Vec::new();
    let mut piece = Vec::new();
    let mut buf = [0u8; 8192];
    let mut emit = |piece: &mut Vec<u8>, whole_line: bool| {
        let text = String::from_utf8_lossy(piece);
        let text = text.trim();
        if !text.is_empty() {
            progress(text);
            if whole_line {
                lines.extend_from_slice(text.as_bytes());
                lines.push(b'\n');
            }
        }
        piece.clear();
    };
    loop {
        let n = match stderr.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        for &b in &buf[..n] {
            match b {
                b'\n' => emit(&mut piece, true),
                b'\r' => emit(&mut piece, false),
                b => piece.push(b),
            }
        }
    }
    emit(&mut piece, true);
    let status = child
        .wait()
        .map_err(|e| Error::failure(format!("cannot wait for git: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(git_error(what(), &status, &lines))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::cell::RefCell;
    use std::os::unix::fs::PermissionsExt;
    use tempfile::TempDir;

    thread_local! {
        /// The HOME of the test running on this thread: git run by the
        /// code under test sees no config but the test's own.
        static HOME: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
    }

    pub(super) fn isolated() -> bool {
        HOME.with(|h| h.borrow().is_some())
    }

    pub(super) fn apply_env(cmd: &mut Command) {
        HOME.with(|h| {
            if let Some(home) = &*h.borrow() {
                cmd.env("HOME", home)
                    .env("XDG_CONFIG_HOME", home.join(".config"))
                    .env("GIT_CONFIG_NOSYSTEM", "1");
                for var in [
                    "GIT_CONFIG_GLOBAL",
                    "GIT_CONFIG_SYSTEM",
                    "GIT_CONFIG_PARAMETERS",
                    "GIT_CONFIG_COUNT",
                    "GIT_AUTHOR_NAME",
                    "GIT_AUTHOR_EMAIL",
                    "GIT_COMMITTER_NAME",
                    "GIT_COMMITTER_EMAIL",
                    "EMAIL",
                ] {
                    cmd.env_remove(var);
                }
            }
        });
    }

    /// A temporary directory holding the user's repos and m's data dir.
    struct Fx {
        dir: TempDir,
        workspaces: PathBuf,
        mirrors: PathBuf,
    }

    impl Fx {
        fn new() -> Fx {
            let dir = TempDir::new().unwrap();
            let home = dir.path().join("home");
            fs::create_dir(&home).unwrap();
            HOME.with(|h| *h.borrow_mut() = Some(home));
            Fx {
                workspaces: dir.path().join("data/workspaces"),
                mirrors: dir.path().join("data/mirrors"),
                dir,
            }
        }

        fn path(&self, rel: &str) -> PathBuf {
            self.dir.path().join(rel)
        }

        /// A repo with one commit: README.md (1 line) and a.txt (3 lines).
        fn repo(&self, name: &str) -> PathBuf {
            let repo = self.path(name);
            fs::create_dir_all(&repo).unwrap();
            git(&repo, &["init", "-q", "-b", "main"]);
            fs::write(repo.join("README.md"), "hello\n").unwrap();
            fs::write(repo.join("a.txt"), "one\ntwo\nthree\n").unwrap();
            git(&repo, &["add", "-A"]);
            git(&repo, &["commit", "-q", "-m", "first"]);
            repo
        }

        fn req<'a>(
            &'a self,
            run_id: &'a str,
            git_url: Option<&'a str>,
            base: Option<&'a str>,
        ) -> WorkspaceRequest<'a> {
            WorkspaceRequest {
                run_id,
                git_url,
                base,
                workspaces_dir: &self.workspaces,
                mirrors_dir: &self.mirrors,
            }
        }
    }

    impl Drop for Fx {
        fn drop(&mut self) {
            HOME.with(|h| *h.borrow_mut() = None);
        }
    }

    /// git as the test's user, who has an identity.
    fn git(dir: &Path, args: &[&str]) -> String {
        let out = output(
            git_in(dir)
                .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
                .args(args),
        )
        .unwrap();
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    }

    fn commit_file(repo: &Path, name: &str, content: &str) -> String {
        fs::write(repo.join(name), content).unwrap();
        git(repo, &["add", "-A"]);
        git(repo, &["commit", "-q", "-m", name]);
        git(repo, &["rev-parse", "HEAD"])
    }

    fn run_id() -> String {
        uuid::Uuid::new_v4().to_string()
    }

    fn s(path: &Path) -> &str {
        path.to_str().unwrap()
    }

    fn quiet() -> impl FnMut(&str) {
        |_: &str| {}
    }

    fn branches(repo: &Path) -> String {
        git(
            repo,
            &["branch", "--list", "m/*", "--format=%(refname:short)"],
        )
    }

    fn worktree_count(repo: &Path) -> usize {
        git(repo, &["worktree", "list", "--porcelain"])
            .lines()
            .filter(|l| l.starts_with("worktree "))
            .count()
    }

    #[test]
    fn urls_git_can_use_are_accepted() {
        for url in [
            "https://github.com/org/repo.git",
            "HTTPS://Example.com/repo",
            "http://example.com/repo",
            "https://user:secret@example.com/repo.git",
            "https://example.com/a-b/c-d.git",
            "https://example.com:8443/repo.git",
            "ssh://git@example.com/org/repo.git",
            "ssh://git@example.com:2222/org/repo.git",
            "ssh://[::1]:22/repo",
            "ssh://user@[fe80::1]/repo",
            "git+ssh://host/repo",
            "ssh+git://host/repo",
            "git://example.com/repo.git",
            "file:///srv/git/repo.git",
            "file://localhost/srv/repo",
            "git@github.com:org/repo.git",
            "example.com:repo.git",
            "user@host:~/repos/x",
            "[git@host:2222]:repo",
        ] {
            let parsed = GitUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(parsed.as_str(), url);
            assert_eq!(parsed.to_string(), url);
        }
    }

    #[test]
    fn urls_that_could_run_commands_or_make_no_sense_are_refused() {
        for (url, rule) in [
            ("", "empty"),
            ("ext::sh%20-c%20touch%20x", "transport helper"),
            ("EXT::sh", "transport helper"),
            ("fd::17", "transport helper"),
            ("--upload-pack=touch x", "whitespace"),
            ("--upload-pack=x", "starts with '-'"),
            ("-x@host:p", "starts with '-'"),
            ("-oProxyCommand=x:y", "starts with '-'"),
            ("ssh://-oProxyCommand=x/y", "host starts with '-'"),
            ("ssh://%2doProxyCommand=x/y", "host starts with '-'"),
            ("ssh://user@-host/repo", "host starts with '-'"),
            ("x@-host:repo", "host starts with '-'"),
            ("ssh://-user@host/repo", "user name starts with '-'"),
            ("ssh://a@-b@host/repo", "user name starts with '-'"),
            ("ssh://host:-22/repo", "port starts with '-'"),
            ("ssh://host:abc/repo", "not a number"),
            ("https://host/-repo", "path component starts with '-'"),
            (
                "https://host/a/--upload-pack=x",
                "path component starts with '-'",
            ),
            ("https://host/%2drepo", "path component starts with '-'"),
            ("host:-repo", "path component starts with '-'"),
            ("file:///srv/-x", "path component starts with '-'"),
            ("https://host/a b", "whitespace"),
            ("https://host/a\nb", "whitespace"),
            ("https://host/a\tb", "whitespace"),
            ("https://host/a\u{7f}b", "whitespace or control"),
            (" https://host/a", "whitespace"),
            ("https://host/a%0ab", "encoded whitespace"),
            ("https://host/a%20b", "encoded whitespace"),
            ("ftp://host/repo", "unknown scheme"),
            ("foo://bar/baz", "unknown scheme"),
            ("https:///repo", "host is empty"),
            ("ssh://user@/repo", "host is empty"),
            (":repo", "host is empty"),
            ("ssh://[::1/repo", "without ']'"),
            ("file://host/repo", "names no host"),
            ("file://", "path is empty"),
            ("host:", "path after ':' is empty"),
            ("relative/path", "not a URL"),
            ("/abs/path", "not a URL"),
            ("./x:y", "not a URL"),
        ] {
            let err = GitUrl::parse(url).expect_err(url);
            assert_eq!(err.kind, ErrorKind::Usage, "{url}");
            assert!(
                err.message.contains(rule),
                "{url:?}: expected '{rule}' in: {}",
                err.message
            );
            assert!(
                err.message.contains(&url.escape_default().to_string()),
                "{}",
                err.message
            );
            assert!(err.hint.is_some());
        }
    }

    #[test]
    fn url_default_names_drop_the_git_suffix() {
        for (url, name) in [
            ("https://github.com/org/repo.git", "repo"),
            ("git@github.com:org/tool.git", "tool"),
            ("host:repo", "repo"),
            ("ssh://host/a/b/", "b"),
            ("file:///srv/x.git/", "x"),
            ("https://host/r.git?x=1", "r"),
            ("https://example.com", "example.com"),
            ("https://user@example.com/", "example.com"),
        ] {
            assert_eq!(GitUrl::parse(url).unwrap().default_name(), name, "{url}");
        }
    }

    #[test]
    fn locate_repo_finds_the_top_of_the_work_tree() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        let sub = repo.join("src/deep");
        fs::create_dir_all(&sub).unwrap();
        let (location, name) = locate_repo(s(&sub)).unwrap();
        assert_eq!(
            location,
            RepoLocation::Local(fs::canonicalize(&repo).unwrap())
        );
        assert_eq!(name, "proj");
        assert_eq!(location.to_git_url(), s(&fs::canonicalize(&repo).unwrap()));
    }

    /// Regression: a repository without a commit was accepted, and its
    /// first run failed.
    #[test]
    fn locate_repo_refuses_a_repository_without_commits() {
        let fx = Fx::new();
        let empty = fx.path("empty");
        fs::create_dir(&empty).unwrap();
        git(&empty, &["init", "-q"]);
        let err = locate_repo(s(&empty)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage);
        assert!(err.message.contains("no commits yet"), "{}", err.message);
        assert!(err.hint.unwrap().contains("commit --allow-empty"));
    }

    #[test]
    fn locate_repo_refuses_what_is_not_a_repo() {
        let fx = Fx::new();
        let plain = fx.path("plain");
        fs::create_dir(&plain).unwrap();
        let err = locate_repo(s(&plain)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage);
        assert!(
            err.message.contains("not inside a git work tree"),
            "{}",
            err.message
        );
        assert!(err.message.contains(s(&plain)));
        assert!(err.hint.unwrap().contains("git init"));

        let missing = fx.path("missing");
        let err = locate_repo(s(&missing)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert!(err.message.contains(s(&missing)));

        let file = fx.path("file");
        fs::write(&file, "x").unwrap();
        assert_eq!(locate_repo(s(&file)).unwrap_err().kind, ErrorKind::Usage);

        assert_eq!(locate_repo("").unwrap_err().kind, ErrorKind::Usage);
        assert_eq!(
            locate_repo("--upload-pack=x").unwrap_err().kind,
            ErrorKind::Usage
        );
        assert_eq!(locate_repo("ext::sh").unwrap_err().kind, ErrorKind::Usage);
    }

    #[test]
    fn locate_repo_takes_urls() {
        let (location, name) = locate_repo("git@github.com:org/tool.git").unwrap();
        assert_eq!(
            location,
            RepoLocation::Remote(GitUrl::parse("git@github.com:org/tool.git").unwrap())
        );
        assert_eq!(name, "tool");
        let (_, name) = locate_repo("https://example.com/x/y.git").unwrap();
        assert_eq!(name, "y");
        let err = locate_repo("ssh://-oProxyCommand=x/y").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage);
    }

    #[test]
    fn local_worktree_is_on_a_branch_visible_in_the_users_repo() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        let head = git(&repo, &["rev-parse", "HEAD"]);
        let id = run_id();
        let req = fx.req(&id, Some(s(&repo)), None);
        let ws = create(&req, &mut quiet()).unwrap();
        let branch = format!("m/{}", &id[..8]);
        assert_eq!(ws.path, fx.workspaces.join(&id));
        assert_eq!(ws.repo_dir.as_deref(), Some(repo.as_path()));
        assert_eq!(ws.branch.as_deref(), Some(branch.as_str()));
        assert_eq!(ws.base_commit.as_deref(), Some(head.as_str()));
        assert_eq!(
            fs::read_to_string(ws.path.join("a.txt")).unwrap(),
            "one\ntwo\nthree\n"
        );
        assert_eq!(branches(&repo), branch);
        assert_eq!(git(&ws.path, &["symbolic-ref", "--short", "HEAD"]), branch);
        // The user's own checkout is untouched.
        assert_eq!(git(&repo, &["symbolic-ref", "--short", "HEAD"]), "main");

        let mut expected = Workspace::for_request(&req).unwrap();
        expected.base_commit = ws.base_commit.clone();
        assert_eq!(expected, ws);
        let json = serde_json::to_string(&ws).unwrap();
        assert_eq!(serde_json::from_str::<Workspace>(&json).unwrap(), ws);
    }

    #[test]
    fn base_may_be_a_tag() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        git(&repo, &["tag", "v1"]);
        let v1 = git(&repo, &["rev-parse", "HEAD"]);
        commit_file(&repo, "a.txt", "changed later\n");
        let id = run_id();
        let ws = create(&fx.req(&id, Some(s(&repo)), Some("v1")), &mut quiet()).unwrap();
        assert_eq!(ws.base_commit.as_deref(), Some(v1.as_str()));
        assert_eq!(git(&ws.path, &["rev-parse", "HEAD"]), v1);
        assert_eq!(
            fs::read_to_string(ws.path.join("a.txt")).unwrap(),
            "one\ntwo\nthree\n"
        );
    }

    #[test]
    fn a_bad_base_creates_nothing() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        for (base, kind) in [
            ("nope", ErrorKind::NotFound),
            ("main~5", ErrorKind::NotFound),
            ("--output=/tmp/x", ErrorKind::Usage),
            ("-b", ErrorKind::Usage),
            ("", ErrorKind::Usage),
            ("a b", ErrorKind::Usage),
        ] {
            let id = run_id();
            let err = create(&fx.req(&id, Some(s(&repo)), Some(base)), &mut quiet()).unwrap_err();
            assert_eq!(err.kind, kind, "{base}: {}", err.message);
            assert!(err.message.contains(base), "{}", err.message);
            assert!(!fx.workspaces.join(&id).exists());
        }
        let err = create(
            &fx.req(&run_id(), Some(s(&repo)), Some("nope")),
            &mut quiet(),
        )
        .unwrap_err();
        // git's own words are part of the error.
        assert!(err.message.contains("fatal:"), "{}", err.message);
        assert_eq!(branches(&repo), "");
        assert_eq!(worktree_count(&repo), 1);
    }

    #[test]
    fn a_repo_without_commits_or_gone_is_a_clear_error() {
        let fx = Fx::new();
        let empty = fx.path("empty");
        fs::create_dir(&empty).unwrap();
        git(&empty, &["init", "-q"]);
        let id = run_id();
        let err = create(&fx.req(&id, Some(s(&empty)), None), &mut quiet()).unwrap_err();
        assert!(err.message.contains("no commits yet"), "{}", err.message);
        assert!(!fx.workspaces.join(&id).exists());

        let gone = fx.path("gone");
        let err = create(&fx.req(&id, Some(s(&gone)), None), &mut quiet()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert!(err.message.contains(s(&gone)));
    }

    #[test]
    fn bad_run_ids_and_stored_urls_are_refused() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        for id in ["../../etc", "short", "-abcdefgh", "abc/defgh-1234"] {
            assert!(create(&fx.req(id, Some(s(&repo)), None), &mut quiet()).is_err());
        }
        let err = create(&fx.req(&run_id(), Some("ext::sh -c x"), None), &mut quiet()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage);
        assert_eq!(branches(&repo), "");
    }

    #[test]
    fn failure_after_git_made_the_worktree_leaves_nothing() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        // git worktree add fails after making the branch, directory and
        // record when the post-checkout hook fails.
        let hook = repo.join(".git/hooks/post-checkout");
        fs::write(&hook, "#!/bin/sh\necho hook says no >&2\nexit 1\n").unwrap();
        fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
        let id = run_id();
        let err = create(&fx.req(&id, Some(s(&repo)), None), &mut quiet()).unwrap_err();
        assert!(err.message.contains("hook says no"), "{}", err.message);
        assert!(err.message.contains(s(&fx.workspaces.join(&id))));
        assert!(!fx.workspaces.join(&id).exists());
        assert_eq!(branches(&repo), "");
        assert_eq!(worktree_count(&repo), 1);
    }

    #[test]
    fn an_existing_branch_is_neither_reused_nor_deleted() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        let id = run_id();
        let branch = format!("m/{}", &id[..8]);
        git(&repo, &["branch", &branch]);
        let err = create(&fx.req(&id, Some(s(&repo)), None), &mut quiet()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Conflict);
        assert!(err.message.contains(&branch));
        assert_eq!(branches(&repo), branch);
        assert!(!fx.workspaces.join(&id).exists());
    }

    #[test]
    fn an_existing_directory_is_not_touched() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        let id = run_id();
        let dir = fx.workspaces.join(&id);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("keep"), "x").unwrap();
        let err = create(&fx.req(&id, Some(s(&repo)), None), &mut quiet()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Conflict);
        assert!(dir.join("keep").exists());
        assert_eq!(branches(&repo), "");
    }

    /// A bare repository served by path, with a work clone to push from.
    fn upstream(fx: &Fx) -> (PathBuf, String, PathBuf) {
        let src = fx.repo("src");
        let bare = fx.path("up.git");
        git(fx.dir.path(), &["clone", "-q", "--bare", s(&src), s(&bare)]);
        git(&src, &["remote", "add", "up", s(&bare)]);
        let url = format!("file://{}", bare.display());
        (bare, url, src)
    }

    #[test]
    fn remote_repo_is_mirrored_then_fetched_each_run() {
        let fx = Fx::new();
        let (bare, url, src) = upstream(&fx);
        let id1 = run_id();
        let mut lines = Vec::new();
        let ws1 = create(&fx.req(&id1, Some(&url), None), &mut |l: &str| {
            lines.push(l.to_owned())
        })
        .unwrap();
        assert!(!lines.is_empty(), "git's progress reaches the caller");
        assert!(lines.iter().all(|l| !l.contains(['\r', '\n'])));
        let mirror = ws1.repo_dir.clone().unwrap();
        assert!(mirror.starts_with(&fx.mirrors), "{}", mirror.display());
        let mirror_name = mirror.file_name().unwrap().to_str().unwrap();
        assert!(mirror_name.starts_with("up-") && mirror_name.ends_with(".git"));
        assert_eq!(git(&mirror, &["rev-parse", "--is-bare-repository"]), "true");
        let head1 = git(&bare, &["rev-parse", "HEAD"]);
        assert_eq!(ws1.base_commit.as_deref(), Some(head1.as_str()));
        assert_eq!(
            fs::read_to_string(ws1.path.join("README.md")).unwrap(),
            "hello\n"
        );

        // The first run leaves work on its branch.
        fs::write(ws1.path.join("new.txt"), "agent\n").unwrap();
        commit_all(&ws1, "run 1").unwrap().unwrap();

        // Upstream moves on; the next run starts from the new commit.
        let head2 = commit_file(&src, "b.txt", "later\n");
        git(&src, &["push", "-q", "up", "main"]);
        let id2 = run_id();
        let ws2 = create(&fx.req(&id2, Some(&url), None), &mut quiet()).unwrap();
        assert_eq!(ws2.repo_dir.as_ref(), Some(&mirror));
        assert_eq!(ws2.base_commit.as_deref(), Some(head2.as_str()));
        assert!(ws2.path.join("b.txt").exists());
        // Fetching with --prune kept the first run's branch.
        let branch1 = ws1.branch.clone().unwrap();
        assert!(branches(&mirror).contains(&branch1));

        // A bare branch name means the remote's branch.
        git(&src, &["tag", "v1", &head1]);
        git(&src, &["push", "-q", "up", "v1"]);
        let ws3 = create(&fx.req(&run_id(), Some(&url), Some("main")), &mut quiet()).unwrap();
        assert_eq!(ws3.base_commit.as_deref(), Some(head2.as_str()));
        let ws4 = create(&fx.req(&run_id(), Some(&url), Some("v1")), &mut quiet()).unwrap();
        assert_eq!(ws4.base_commit.as_deref(), Some(head1.as_str()));

        // Work found only in the mirror is kept; a run that did nothing goes.
        let out = remove(&ws1).unwrap();
        match out.branch {
            Some(BranchOutcome::Kept { name, reason }) => {
                assert_eq!(name, branch1);
                assert!(reason.contains("1 commit not on the remote"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        for ws in [&ws2, &ws3, &ws4] {
            let out = remove(ws).unwrap();
            assert!(
                matches!(out.branch, Some(BranchOutcome::Deleted { .. })),
                "{out:?}"
            );
        }
        assert_eq!(branches(&mirror), branch1);
        assert_eq!(worktree_count(&mirror), 1);
    }

    #[test]
    fn a_mirror_branch_pushed_upstream_is_deleted() {
        let fx = Fx::new();
        let (_bare, url, _src) = upstream(&fx);
        let ws = create(&fx.req(&run_id(), Some(&url), None), &mut quiet()).unwrap();
        fs::write(ws.path.join("x"), "x\n").unwrap();
        let stat = commit_all(&ws, "work").unwrap().unwrap();
        let mirror = ws.repo_dir.clone().unwrap();
        let branch = ws.branch.clone().unwrap();
        git(
            &mirror,
            &["push", "-q", "origin", &format!("{branch}:refs/heads/done")],
        );
        create(&fx.req(&run_id(), Some(&url), None), &mut quiet()).unwrap();
        assert_eq!(
            git(&mirror, &["rev-parse", "refs/remotes/origin/done"]),
            stat.commit
        );
        let out = remove(&ws).unwrap();
        assert_eq!(out.branch, Some(BranchOutcome::Deleted { name: branch }));
    }

    /// Regression: lock files were 0644 and stayed after their repo went.
    #[test]
    fn a_mirror_lock_is_private_and_goes_with_its_repo() {
        use std::os::unix::fs::MetadataExt;
        let fx = Fx::new();
        let (_bare, url, _src) = upstream(&fx);
        let ws = create(&fx.req(&run_id(), Some(&url), None), &mut quiet()).unwrap();
        let lock = ws.repo_dir.clone().unwrap().with_extension("lock");
        assert_eq!(fs::metadata(&lock).unwrap().mode() & 0o777, 0o600);
        // One made by an older m is made private when next taken.
        fs::set_permissions(&lock, fs::Permissions::from_mode(0o644)).unwrap();
        create(&fx.req(&run_id(), Some(&url), None), &mut quiet()).unwrap();
        assert_eq!(fs::metadata(&lock).unwrap().mode() & 0o777, 0o600);
        remove_mirror_lock(&url, &fx.mirrors).unwrap();
        assert!(!lock.exists());
        assert!(ws.repo_dir.as_ref().unwrap().is_dir(), "the mirror stays");
        remove_mirror_lock(&url, &fx.mirrors).unwrap();
        remove_mirror_lock("/a/local/path", &fx.mirrors).unwrap();
    }

    #[test]
    fn an_unreachable_remote_leaves_no_mirror() {
        let fx = Fx::new();
        let url = format!("file://{}", fx.path("nothing-here.git").display());
        let id = run_id();
        let err = create(&fx.req(&id, Some(&url), None), &mut quiet()).unwrap_err();
        assert!(err.message.contains(&url), "{}", err.message);
        assert!(err.message.contains("fatal:"), "{}", err.message);
        assert!(!fx.workspaces.join(&id).exists());
        let left: Vec<_> = fs::read_dir(&fx.mirrors)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.ends_with(".lock"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn scratch_workspace_is_an_empty_directory() {
        let fx = Fx::new();
        let id = run_id();
        let ws = create(&fx.req(&id, None, None), &mut quiet()).unwrap();
        assert_eq!(ws.path, fx.workspaces.join(&id));
        assert!(ws.path.is_dir());
        assert_eq!(fs::read_dir(&ws.path).unwrap().count(), 0);
        assert_eq!(ws.repo_dir, None);
        assert_eq!(ws.branch, None);
        assert_eq!(ws.base_commit, None);
        fs::write(ws.path.join("out"), "x").unwrap();
        assert_eq!(commit_all(&ws, "msg").unwrap(), None);
        assert_eq!(diff(&ws, false).unwrap_err().kind, ErrorKind::Usage);
        let out = remove(&ws).unwrap();
        assert_eq!(
            out,
            RemoveOutcome {
                removed_dir: true,
                branch: None
            }
        );
        assert!(!ws.path.exists());
    }

    #[test]
    fn commit_all_commits_everything_and_counts_it() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        let ws = create(&fx.req(&run_id(), Some(s(&repo)), None), &mut quiet()).unwrap();
        fs::write(ws.path.join("a.txt"), "one\nTWO\nthree\n").unwrap(); // +1 -1
        fs::write(ws.path.join("b.txt"), "new\nfile\n").unwrap(); // +2
        fs::remove_file(ws.path.join("README.md")).unwrap(); // -1
        fs::write(ws.path.join("bin"), [0u8, 1, 2, 0, 255]).unwrap(); // binary: no lines
        let stat = commit_all(&ws, "the agent's work").unwrap().unwrap();
        assert_eq!(
            (stat.files, stat.insertions, stat.deletions),
            (4, 3, 2),
            "{stat:?}"
        );
        let branch = ws.branch.as_deref().unwrap();
        assert_eq!(git(&repo, &["rev-parse", branch]), stat.commit);
        assert_eq!(git(&ws.path, &["status", "--porcelain"]), "");
        // No identity is configured anywhere in this test: m's is used.
        assert_eq!(
            git(&repo, &["log", "-1", "--format=%an <%ae>|%s", branch]),
            "m <m@localhost>|the agent's work"
        );

        // Again with nothing new: the same commit and numbers.
        let again = commit_all(&ws, "nothing").unwrap().unwrap();
        assert_eq!(again, stat);

        let json = serde_json::to_value(&stat).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"files": 4, "insertions": 3, "deletions": 2, "commit": stat.commit})
        );
    }

    /// Regression: a run that changed nothing recorded a `workspace.diff`
    /// of 0 files at its base.
    #[test]
    fn commit_all_with_nothing_done_reports_nothing() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        let ws = create(&fx.req(&run_id(), Some(s(&repo)), None), &mut quiet()).unwrap();
        assert_eq!(commit_all(&ws, "nothing").unwrap(), None);
        let branch = ws.branch.as_deref().unwrap();
        assert_eq!(
            Some(git(&repo, &["rev-parse", branch])),
            ws.base_commit.clone()
        );
    }

    #[test]
    fn commit_all_counts_the_agents_own_commits() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        let ws = create(&fx.req(&run_id(), Some(s(&repo)), None), &mut quiet()).unwrap();
        let commit = commit_file(&ws.path, "own.txt", "mine\n");
        let stat = commit_all(&ws, "nothing left").unwrap().unwrap();
        assert_eq!((stat.files, stat.insertions, stat.commit), (1, 1, commit));
    }

    /// Regression (data loss): an agent that detached HEAD or switched to a
    /// branch of its own had the end-of-run commit land there, and the run's
    /// branch stayed at its base.
    #[test]
    fn commit_all_brings_the_branch_to_work_committed_off_it() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        for leave in [
            &["checkout", "-q", "--detach"][..],
            &["checkout", "-q", "-b", "sneaky"],
        ] {
            let ws = create(&fx.req(&run_id(), Some(s(&repo)), None), &mut quiet()).unwrap();
            let branch = ws.branch.clone().unwrap();
            git(&ws.path, leave);
            let own = commit_file(&ws.path, "own.txt", "own\n");
            fs::write(ws.path.join("left.txt"), "left\n").unwrap();
            let stat = commit_all(&ws, "work").unwrap().unwrap();
            let head = git(&ws.path, &["rev-parse", "HEAD"]);
            assert_eq!(stat.commit, head, "{leave:?}");
            assert_eq!(git(&repo, &["rev-parse", &branch]), head, "{leave:?}");
            assert_eq!(git(&repo, &["rev-parse", &format!("{head}~")]), own);
            assert_eq!((stat.files, stat.insertions), (2, 2), "{leave:?}");
            check_removable(&ws).unwrap();
            assert!(remove(&ws).unwrap().removed_dir);
        }
    }

    #[test]
    fn commit_all_leaves_work_it_cannot_put_on_the_branch_and_says_where() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        let ws = create(&fx.req(&run_id(), Some(s(&repo)), None), &mut quiet()).unwrap();
        let branch = ws.branch.clone().unwrap();
        let on_branch = commit_file(&ws.path, "one.txt", "one\n");
        git(&ws.path, &["checkout", "-q", "--detach", "HEAD~"]);
        fs::write(ws.path.join("two.txt"), "two\n").unwrap();
        let err = commit_all(&ws, "work").unwrap_err();
        let head = git(&ws.path, &["rev-parse", "HEAD"]);
        assert_ne!(head, on_branch);
        assert!(err.message.contains(&head), "{}", err.message);
        assert!(err.message.contains("detached HEAD"), "{}", err.message);
        assert!(err.message.contains(&branch), "{}", err.message);
        assert!(err.hint.unwrap().contains(&head));
        // Nothing moved: the branch keeps its own commit, HEAD the new one.
        assert_eq!(git(&repo, &["rev-parse", &branch]), on_branch);
        assert_eq!(
            git(&ws.path, &["show", "--format=", "--name-only", "HEAD"]),
            "two.txt"
        );

        // And removing the run keeps the worktree and everything in it.
        let err = remove(&ws).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Conflict);
        assert!(
            err.message.contains(&head) && err.message.contains("kept"),
            "{}",
            err.message
        );
        assert!(ws.path.join("two.txt").exists());
        assert_eq!(worktree_count(&repo), 2);
    }

    #[test]
    fn remove_keeps_a_worktree_with_changes_never_committed() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        let ws = create(&fx.req(&run_id(), Some(s(&repo)), None), &mut quiet()).unwrap();
        fs::write(ws.path.join("new.txt"), "new\n").unwrap();
        let err = remove(&ws).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Conflict);
        assert!(err.message.contains("new.txt"), "{}", err.message);
        assert!(err.message.contains(s(&ws.path)), "{}", err.message);
        assert!(err.hint.unwrap().contains("commit"));
        assert!(ws.path.join("new.txt").exists());
        // Ignored files are not work.
        commit_all(&ws, "work").unwrap();
        fs::write(ws.path.join(".gitignore"), "target/\n").unwrap();
        commit_all(&ws, "ignore").unwrap();
        fs::create_dir(ws.path.join("target")).unwrap();
        fs::write(ws.path.join("target/build"), "x").unwrap();
        assert!(remove(&ws).unwrap().removed_dir);
    }

    #[test]
    fn commit_all_uses_the_users_identity_and_skips_hooks() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        git(&repo, &["config", "user.name", "Alice"]);
        git(&repo, &["config", "user.email", "alice@example.com"]);
        let hook = repo.join(".git/hooks/pre-commit");
        fs::write(&hook, "#!/bin/sh\nexit 1\n").unwrap();
        fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
        let ws = create(&fx.req(&run_id(), Some(s(&repo)), None), &mut quiet()).unwrap();
        fs::write(ws.path.join("c.txt"), "c\n").unwrap();
        let stat = commit_all(&ws, "work").unwrap().unwrap();
        assert_eq!((stat.files, stat.insertions), (1, 1));
        assert_eq!(
            git(&ws.path, &["log", "-1", "--format=%an <%ae>"]),
            "Alice <alice@example.com>"
        );
    }

    #[test]
    fn diff_shows_work_in_progress_and_then_the_branch() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        let ws = create(&fx.req(&run_id(), Some(s(&repo)), None), &mut quiet()).unwrap();
        assert_eq!(diff(&ws, false).unwrap(), "");
        fs::write(ws.path.join("a.txt"), "one\nchanged\nthree\n").unwrap();
        fs::write(ws.path.join("new.txt"), "fresh\n").unwrap();
        let patch = diff(&ws, false).unwrap();
        assert!(patch.contains("+changed"), "{patch}");
        assert!(patch.contains("+++ b/new.txt"), "{patch}");
        let stat = diff(&ws, true).unwrap();
        assert!(stat.contains("a.txt") && stat.contains("new.txt"), "{stat}");
        assert!(stat.contains("2 files changed"), "{stat}");
        // The worktree's own index is left as the agent had it.
        assert_eq!(
            git(&ws.path, &["status", "--porcelain"]),
            " M a.txt\n?? new.txt"
        );

        commit_all(&ws, "work").unwrap();
        let out = remove(&ws).unwrap();
        assert!(matches!(out.branch, Some(BranchOutcome::Kept { .. })));
        let after = diff(&ws, false).unwrap();
        assert_eq!(after, patch);
    }

    #[test]
    fn remove_keeps_a_branch_with_unmerged_work() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        let ws = create(&fx.req(&run_id(), Some(s(&repo)), None), &mut quiet()).unwrap();
        fs::write(ws.path.join("x"), "x\n").unwrap();
        commit_all(&ws, "work").unwrap();
        let branch = ws.branch.clone().unwrap();
        let out = remove(&ws).unwrap();
        assert!(out.removed_dir);
        match &out.branch {
            Some(BranchOutcome::Kept { name, reason }) => {
                assert_eq!(name, &branch);
                assert!(reason.contains("1 commit not merged into HEAD"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(!ws.path.exists());
        assert_eq!(branches(&repo), branch);
        assert_eq!(worktree_count(&repo), 1);
        let json = serde_json::to_value(&out).unwrap();
        assert_eq!(json["branch"]["outcome"], "kept");
    }

    #[test]
    fn remove_deletes_a_merged_or_empty_branch() {
        let fx = Fx::new();
        let repo = fx.repo("proj");

        // Merged into the user's HEAD.
        let merged = create(&fx.req(&run_id(), Some(s(&repo)), None), &mut quiet()).unwrap();
        fs::write(merged.path.join("x"), "x\n").unwrap();
        commit_all(&merged, "work").unwrap();
        let branch = merged.branch.clone().unwrap();
        git(&repo, &["merge", "-q", "--ff-only", &branch]);
        let out = remove(&merged).unwrap();
        assert_eq!(out.branch, Some(BranchOutcome::Deleted { name: branch }));

        // No commits of its own, from a base that HEAD does not contain.
        git(&repo, &["checkout", "-q", "-b", "side"]);
        commit_file(&repo, "side.txt", "side\n");
        git(&repo, &["checkout", "-q", "main"]);
        let empty = create(
            &fx.req(&run_id(), Some(s(&repo)), Some("side")),
            &mut quiet(),
        )
        .unwrap();
        commit_all(&empty, "nothing").unwrap();
        let out = remove(&empty).unwrap();
        assert!(
            matches!(out.branch, Some(BranchOutcome::Deleted { .. })),
            "{out:?}"
        );
        assert_eq!(branches(&repo), "");
        assert_eq!(worktree_count(&repo), 1);
    }

    #[test]
    fn remove_copes_with_a_worktree_already_gone() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        let ws = create(&fx.req(&run_id(), Some(s(&repo)), None), &mut quiet()).unwrap();
        fs::remove_dir_all(&ws.path).unwrap();
        let out = remove(&ws).unwrap();
        assert!(!out.removed_dir);
        assert!(
            matches!(out.branch, Some(BranchOutcome::Deleted { .. })),
            "{out:?}"
        );
        assert_eq!(worktree_count(&repo), 1);
        // And again: nothing left to do.
        let out = remove(&ws).unwrap();
        assert_eq!(
            out.branch,
            Some(BranchOutcome::Missing {
                name: ws.branch.clone().unwrap()
            })
        );
        assert_eq!(diff(&ws, false).unwrap_err().kind, ErrorKind::NotFound);
    }

    #[test]
    fn remove_keeps_a_branch_the_user_checked_out() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        let ws = create(&fx.req(&run_id(), Some(s(&repo)), None), &mut quiet()).unwrap();
        let branch = ws.branch.clone().unwrap();
        fs::remove_dir_all(&ws.path).unwrap();
        git(&repo, &["worktree", "prune"]);
        git(&repo, &["checkout", "-q", &branch]);
        let out = remove(&ws).unwrap();
        match out.branch {
            Some(BranchOutcome::Kept { reason, .. }) => {
                assert!(reason.contains("checked out"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(branches(&repo), branch);
    }

    #[test]
    fn for_request_finds_a_half_made_workspace_to_remove() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        let id = run_id();
        let req = fx.req(&id, Some(s(&repo)), None);
        create(&req, &mut quiet()).unwrap();
        let found = Workspace::for_request(&req).unwrap();
        assert_eq!(found.base_commit, None);
        let out = remove(&found).unwrap();
        assert!(out.removed_dir);
        assert!(
            matches!(out.branch, Some(BranchOutcome::Deleted { .. })),
            "{out:?}"
        );
        assert_eq!(branches(&repo), "");
    }

    #[test]
    fn a_broken_worktree_is_refused_not_mistaken_for_another_repo() {
        let fx = Fx::new();
        let repo = fx.repo("proj");
        // m's data directory inside some other repository.
        let outer = fx.path("outer");
        fs::create_dir(&outer).unwrap();
        git(&outer, &["init", "-q", "-b", "main"]);
        let workspaces = outer.join("data/workspaces");
        let id = run_id();
        let req = WorkspaceRequest {
            workspaces_dir: &workspaces,
            ..fx.req(&id, Some(s(&repo)), None)
        };
        let ws = create(&req, &mut quiet()).unwrap();
        fs::write(ws.path.join("x"), "x\n").unwrap();
        fs::remove_file(ws.path.join(".git")).unwrap();
        let err = commit_all(&ws, "work").unwrap_err();
        assert!(
            err.message.contains("no longer a worktree"),
            "{}",
            err.message
        );
        assert!(diff(&ws, false).is_err());
        assert_eq!(git(&outer, &["status", "--porcelain"]), "?? data/");

        // The agent's `git init` does not fool it either.
        git(&ws.path, &["init", "-q"]);
        assert!(commit_all(&ws, "work").is_err());

        let out = remove(&ws).unwrap();
        assert!(out.removed_dir);
        assert!(!ws.path.exists());
        assert_eq!(worktree_count(&repo), 1);
        assert!(
            matches!(out.branch, Some(BranchOutcome::Deleted { .. })),
            "{out:?}"
        );
    }

    #[test]
    fn progress_is_split_on_carriage_returns() {
        let fx = Fx::new();
        let mut seen = Vec::new();
        run_git_progress(
            Command::new("sh").args(["-c", "printf 'a 1%%\\ra 2%%\\rdone\\nlast' >&2"]),
            || "x".into(),
            &mut |l: &str| seen.push(l.to_owned()),
        )
        .unwrap();
        assert_eq!(seen, ["a 1%", "a 2%", "done", "last"]);
        let err = run_git_progress(
            Command::new("sh").args([
                "-c",
                "printf 'Counting: 50%% (1/2)\\rfatal: nope\\n' >&2; exit 3",
            ]),
            || "cannot fetch".into(),
            &mut |_: &str| {},
        )
        .unwrap_err();
        assert_eq!(err.message, "cannot fetch: fatal: nope");
        drop(fx);
    }
}
