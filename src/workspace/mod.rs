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

mod commit;
mod create;
mod git;
mod locate;
mod mirror;
mod remove;
mod url;

pub use self::commit::{
    commit_all, commit_approved, commit_message, diff, diff_bytes, review_snapshot, worktree_tree,
    ApprovedCommit, DiffStat, ReviewSnapshot,
};
pub use self::create::{create, discard_unfinished, Workspace, WorkspaceRequest};
pub use self::locate::{locate_repo, repository_identity, RepoLocation};
pub use self::mirror::remove_mirror_lock;
pub use self::remove::{check_removable, remove, remove_discarding, BranchOutcome, RemoveOutcome};
pub use self::url::GitUrl;

/// `path` made absolute (without resolving symlinks), for the workspace and
/// mirror directories that runs record.
fn absolute(path: &std::path::Path) -> crate::error::Result<std::path::PathBuf> {
    std::path::absolute(path).map_err(|e| crate::error::Error::io("resolve", path, e))
}

#[cfg(test)]
mod tests;
