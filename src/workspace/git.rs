use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};

use crate::error::{Error, Result};

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

/// `git`, run in the repository or worktree at `dir` and nowhere else: if
/// `dir` is no longer one (an agent deleted the worktree's `.git`), git
/// must fail rather than find whatever repository holds m's data directory.
pub(super) fn git_in(dir: &Path) -> Command {
    let mut cmd = git_searching(dir);
    if let Some(parent) = dir.parent().filter(|p| p.is_absolute()) {
        cmd.env("GIT_CEILING_DIRECTORIES", parent);
    }
    cmd
}

/// `git`, run in `dir` (or the repository above it), with no terminal to
/// prompt on and no inherited variable redirecting it elsewhere.
pub(super) fn git_searching(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    // A daemon killed mid-checkout takes its git with it. (The thread that
    // starts git waits for it, so it is the thread's death that counts.)
    let parent = std::process::id() as i32;
    // SAFETY: die_with_parent is async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(move || crate::process::die_with_parent(parent));
    }
    for var in REPO_ENV {
        cmd.env_remove(var);
    }
    #[cfg(test)]
    super::tests::apply_env(&mut cmd);
    cmd
}

/// A variable git will see in its environment.
pub(super) fn inherited_env(name: &str) -> Option<std::ffi::OsString> {
    #[cfg(test)]
    if super::tests::isolated() {
        return None;
    }
    std::env::var_os(name)
}

pub(super) fn output(cmd: &mut Command) -> Result<Output> {
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
pub(super) fn run_git(cmd: &mut Command, what: impl FnOnce() -> String) -> Result<String> {
    run_git_bytes(cmd, what).map(|out| String::from_utf8_lossy(&out).into_owned())
}

/// [`run_git`], its output as git wrote it.
pub(super) fn run_git_bytes(cmd: &mut Command, what: impl FnOnce() -> String) -> Result<Vec<u8>> {
    let out = output(cmd)?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(git_error(what(), &out.status, &out.stderr))
    }
}

/// [`run_git`], with `input` on its stdin.
pub(super) fn run_git_with_input(
    cmd: &mut Command,
    input: &[u8],
    what: impl FnOnce() -> String,
) -> Result<String> {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(cmd, e))?;
    // A git that exits early closes its stdin: its status says why.
    let _ = child.stdin.take().expect("stdin is piped").write_all(input);
    let out = child.wait_with_output().map_err(|e| spawn_error(cmd, e))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(git_error(what(), &out.status, &out.stderr))
    }
}

pub(super) fn git_error(what: String, status: &ExitStatus, stderr: &[u8]) -> Error {
    Error::failure(format!("{what}: {}", git_message(status, stderr)))
}

/// git's stderr, trimmed, or the exit status if it said nothing.
pub(super) fn git_message(status: &ExitStatus, stderr: &[u8]) -> String {
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
pub(super) fn run_git_progress(
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
