use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::commit::{check_worktree, head_branch, is_ancestor};
use super::create::{ref_commit, Workspace};
use super::git::{git_in, git_message, output, run_git};
use crate::error::{Error, Result};

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
    /// Deleted by [`remove_discarding`] although it held work found nowhere
    /// else: `tip` brings it back (`git branch NAME TIP`) until git's
    /// garbage collection.
    Discarded {
        name: String,
        tip: String,
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
    remove_with(ws, false)
}

/// As [`remove`], but work found nowhere else goes too (`--force`): changes
/// in the worktree are discarded, and a branch with commits nowhere else is
/// deleted ([`BranchOutcome::Discarded`] names its tip). A branch checked
/// out in another worktree still stays.
pub fn remove_discarding(ws: &Workspace) -> Result<RemoveOutcome> {
    remove_with(ws, true)
}

fn remove_with(ws: &Workspace, discard: bool) -> Result<RemoveOutcome> {
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
        if !discard {
            check_removable(ws)?;
        }
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
        Some(name) => Some(settle_branch(
            repo,
            name,
            ws.base_commit.as_deref(),
            discard,
        )?),
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

fn settle_branch(
    repo: &Path,
    name: &str,
    base: Option<&str>,
    discard: bool,
) -> Result<BranchOutcome> {
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
    if safe || discard {
        // Deletes only if the branch still points at `tip`.
        run_git(
            git_in(repo)
                .args(["update-ref", "-d", "--end-of-options"])
                .args([refname.as_str(), tip.as_str()]),
            || format!("cannot delete the branch {name} in {}", repo.display()),
        )?;
        return Ok(if safe {
            BranchOutcome::Deleted { name: name.into() }
        } else {
            BranchOutcome::Discarded {
                name: name.into(),
                tip,
            }
        });
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
