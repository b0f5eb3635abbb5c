use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::absolute;
use super::git::{git_error, git_in, git_message, output, run_git};
use super::mirror::{mirror_dir, update_mirror, FileLock, MIRROR_HEAD};
use super::url::{is_bad_char, GitUrl};
use crate::error::{Error, Result};

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

    pub(super) fn base(&self) -> Result<&str> {
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
pub(super) fn commit_of(repo: &Path, rev: &str) -> Result<std::result::Result<String, String>> {
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
pub(super) fn ref_commit(repo: &Path, refname: &str) -> Result<Option<String>> {
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

/// Undoes a `worktree add` that a killed daemon cut short (its run never
/// recorded a base commit, so its agent never started and nothing in it is
/// anyone's work): the directory, git's record of it, and the branch made
/// for it. git, killed while it wrote that record, can leave it locked
/// ("initializing", which `git worktree prune` keeps) and incomplete, and
/// then every later `git worktree add` in the repository fails (`failed to
/// read .git/worktrees/ID/commondir`). Best effort, like
/// [`discard_worktree`]; a workspace without a repository is left alone.
pub fn discard_unfinished(ws: &Workspace) {
    let Some(repo) = ws.repo_dir.as_deref().filter(|r| r.is_dir()) else {
        return;
    };
    let common = output(git_in(repo).args(["rev-parse", "--git-common-dir"]))
        .ok()
        .filter(|o| o.status.success())
        .map(|o| repo.join(String::from_utf8_lossy(&o.stdout).trim()));
    // Whether `worktree add` got as far as this run's worktree: then the
    // branch is the one it made (it refuses a branch that exists: another
    // run's, with the same id prefix, is never ours to delete).
    let mut started = false;
    if let Some(records) = common.map(|c| c.join("worktrees")) {
        let ours = ws.path.join(".git");
        for entry in fs::read_dir(&records).into_iter().flatten().flatten() {
            let gitdir = fs::read_to_string(entry.path().join("gitdir")).ok();
            let mine = match gitdir {
                Some(gitdir) => Path::new(gitdir.trim()) == ours,
                None => Some(entry.file_name().as_os_str()) == ws.path.file_name(),
            };
            if mine {
                started = true;
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    if fs::symlink_metadata(&ws.path).is_ok() {
        started = true;
        let _ = fs::remove_dir_all(&ws.path);
    }
    let _ = output(git_in(repo).args(["worktree", "prune"]));
    if let Some(branch) = ws.branch.as_ref().filter(|_| started) {
        // Refused while a worktree has it checked out.
        let _ = output(git_in(repo).args(["branch", "-D", "--", branch]));
    }
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
