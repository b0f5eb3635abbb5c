use super::git::{git_in, output, run_git_progress};
use super::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

mod after_run;
mod create;
mod mirror;
mod url;

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
