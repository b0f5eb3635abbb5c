use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::create::{ref_commit, Workspace};
use super::git::{
    git_error, git_in, inherited_env, output, run_git, run_git_bytes, run_git_with_input,
};
use crate::error::{Error, Result};

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
/// A run's commit message: the prompt's first line (at most 72 characters)
/// as the subject, the rest of it as the body, then `note`, then an `M-Run`
/// trailer with the run's id, so that `git log` says what each run was
/// asked and `git log --grep "M-Run: ID"` finds it.
pub fn commit_message(prompt: &str, run_id: &str, note: Option<&str>) -> String {
    const SUBJECT: usize = 72;
    let prompt = prompt.trim();
    let (first, rest) = prompt.split_once('\n').unwrap_or((prompt, ""));
    let first = first.trim();
    let mut message = if first.chars().count() > SUBJECT {
        let cut: String = first.chars().take(SUBJECT - 1).collect();
        // The whole line goes in the body: nothing is lost.
        format!("{}…\n\n{first}", cut.trim_end())
    } else {
        first.to_string()
    };
    let rest = rest.trim();
    if !rest.is_empty() {
        message.push_str("\n\n");
        message.push_str(rest);
    }
    if let Some(note) = note {
        message.push_str("\n\n");
        message.push_str(note);
    }
    message.push_str(&format!("\n\nM-Run: {run_id}\n"));
    message
}

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
            // On stdin: a message holding a long prompt is no argument.
            cmd.args([
                "commit",
                "--quiet",
                "--no-verify",
                "--no-gpg-sign",
                "--cleanup=whitespace",
                "--file=-",
            ]);
            run_git_with_input(&mut cmd, message.as_bytes(), || {
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
    Ok(Some(measure(ws, base, tip)?))
}

/// What an end-of-run review shows, read from the worktree once: the tree
/// its content hash covers, the patch and stat a human sees, the check of
/// "nothing to review" and the commit an approval makes are all of this
/// one tree, so that no change made while it is prepared slips into one
/// and not the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewSnapshot {
    /// The worktree's tree (as [`worktree_tree`]), taken after the commit.
    pub tree: String,
    /// The run's changes, from its base to `tree`: empty when it changed
    /// nothing (commits that undo each other included).
    pub patch: String,
    /// As [`commit_all`] measures, but from the base to `tree`; its
    /// `commit` is the branch's commit once the work was committed (the
    /// base when there was nothing to commit), which [`commit_approved`]
    /// puts `tree` on.
    pub stat: DiffStat,
}

/// Commits the work (as [`commit_all`]) and reads it back once, for a
/// review: see [`ReviewSnapshot`].
pub fn review_snapshot(ws: &Workspace, message: &str) -> Result<ReviewSnapshot> {
    let committed = commit_all(ws, message)?;
    let base = ws.base()?;
    let tree = worktree_tree(ws)?;
    let patch = run_git(
        git_in(&ws.path)
            .args(["diff", "--no-color", "--no-ext-diff", "--end-of-options"])
            .args([base, tree.as_str(), "--"]),
        || format!("cannot diff {}", ws.path.display()),
    )?;
    let mut stat = measure(ws, base, tree.clone())?;
    stat.commit = committed.map_or_else(|| base.to_owned(), |c| c.commit);
    Ok(ReviewSnapshot { tree, patch, stat })
}

/// What [`commit_approved`] put on the run's branch, and what it left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovedCommit {
    /// As [`commit_all`] measures it; None when the approved work is the
    /// run's base.
    pub stat: Option<DiffStat>,
    /// The worktree no longer holds the approved tree (or the branch had
    /// moved past the reviewed commit): what changed after the approval is
    /// not on the branch, and is left in the worktree.
    pub changed_after: bool,
}

/// Commits exactly `tree`, the worktree an end-of-run review showed and a
/// human approved, never what the worktree holds now: anything changed
/// after the check that preceded the approval (a process the agent left, a
/// file the user edited) stays out of the branch and is left in the
/// worktree, uncommitted.
///
/// `reviewed` is the commit the review made of the work (the branch's
/// commit when it was asked). Its tree is usually `tree` itself, and the
/// branch is only checked to be on it; otherwise `tree` is committed on it
/// with `message` (`git commit-tree`, hooks and signing skipped as in
/// [`commit_all`]). The branch is then moved there, from wherever it went
/// since, and where HEAD is the branch the index follows it, so that `git
/// status` shows the later changes as changes to the approved work.
pub fn commit_approved(
    ws: &Workspace,
    tree: &str,
    reviewed: &str,
    message: &str,
) -> Result<ApprovedCommit> {
    let (Some(repo), Some(branch)) = (&ws.repo_dir, &ws.branch) else {
        return Ok(ApprovedCommit {
            stat: None,
            changed_after: false,
        });
    };
    let base = ws.base()?;
    check_worktree(ws, repo)?;
    // Nothing else is committed in its place: a tree that is not there
    // (a recorded id whose object is gone) is an error, and the worktree
    // is left as it is.
    run_git(
        git_in(&ws.path).args([
            "cat-file",
            "-e",
            "--end-of-options",
            &format!("{tree}^{{tree}}"),
        ]),
        || {
            format!(
                "the approved tree {tree} is not in the repository {}",
                repo.display()
            )
        },
    )?;
    let mut changed_after = worktree_tree(ws)? != tree;
    let refname = format!("refs/heads/{branch}");
    let Some(tip) = ref_commit(&ws.path, &refname)? else {
        return Err(Error::failure(format!(
            "the run's branch {branch} no longer exists in {}: the approved work was not committed",
            repo.display()
        ))
        .with_hint(format!(
            "the approved tree is {tree}; `git -C {} commit-tree {tree} -p {reviewed}` makes a commit of it",
            repo.display()
        )));
    };
    let reviewed = if reviewed.is_empty() {
        tip.as_str()
    } else {
        reviewed
    };
    let reviewed_tree = run_git(
        git_in(&ws.path).args([
            "rev-parse",
            "--verify",
            "--end-of-options",
            &format!("{reviewed}^{{tree}}"),
        ]),
        || {
            format!(
                "cannot read the reviewed commit {reviewed} in {}",
                ws.path.display()
            )
        },
    )?;
    let target = if reviewed_tree.trim() == tree {
        reviewed.to_owned()
    } else {
        let mut cmd = git_in(&ws.path);
        for setting in identity_fallback(&ws.path)? {
            cmd.args(["-c", setting]);
        }
        cmd.args([
            "commit-tree",
            "--no-gpg-sign",
            "-F",
            "-",
            "-p",
            reviewed,
            tree,
        ]);
        run_git_with_input(&mut cmd, message.as_bytes(), || {
            format!("cannot commit the approved work of {}", ws.path.display())
        })?
        .trim()
        .to_owned()
    };
    if tip != target {
        // Something committed on the branch after the review was asked:
        // not approved, so not on the branch (its commit stays in the
        // reflog, and its files in the worktree).
        changed_after |= tip != reviewed;
        run_git(
            git_in(&ws.path)
                .args(["update-ref", "-m", "m: the approved work of the run"])
                .args([
                    "--end-of-options",
                    refname.as_str(),
                    target.as_str(),
                    tip.as_str(),
                ]),
            || format!("cannot move {branch} to the approved work at {target}"),
        )?;
        if head_branch(&ws.path).as_deref() == Some(branch.as_str()) {
            run_git(
                git_in(&ws.path).args(["read-tree", "--end-of-options", &target]),
                || {
                    format!(
                        "cannot bring the index of {} to the approved work",
                        ws.path.display()
                    )
                },
            )?;
        }
    }
    if target == base {
        return Ok(ApprovedCommit {
            stat: None,
            changed_after,
        });
    }
    Ok(ApprovedCommit {
        stat: Some(measure(ws, base, target)?),
        changed_after,
    })
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
pub(super) fn head_branch(dir: &Path) -> Option<String> {
    let out = output(git_in(dir).args(["symbolic-ref", "--quiet", "--short", "HEAD"])).ok()?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !name.is_empty()).then_some(name)
}

/// Whether `ancestor` is `descendant` or one of its ancestors.
pub(super) fn is_ancestor(dir: &Path, ancestor: &str, descendant: &str) -> Result<bool> {
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

/// The changes from `base` to the commit `tip`, as a [`DiffStat`] naming it.
fn measure(ws: &Workspace, base: &str, tip: String) -> Result<DiffStat> {
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
    Ok(stat)
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
pub(super) fn check_worktree(ws: &Workspace, repo: &Path) -> Result<()> {
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
    diff_bytes(ws, stat_only).map(|patch| String::from_utf8_lossy(&patch).into_owned())
}

/// [`diff`] exactly as git wrote it, bytes that are not UTF-8 included, so
/// that a patch saved from it applies.
pub fn diff_bytes(ws: &Workspace, stat_only: bool) -> Result<Vec<u8>> {
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
        run_git_bytes(
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
        run_git_bytes(git_in(repo).args(&args), || {
            format!("cannot diff {branch} in {}", repo.display())
        })
    }
}

/// The git tree id of the worktree as it stands, uncommitted and untracked
/// files included (what [`commit_all`] would commit), made in a copy of
/// its index so that the worktree's own index is left as it was. The end
/// of run review is bound to it: a worktree whose tree id moved is not the
/// one its reviewer saw.
pub fn worktree_tree(ws: &Workspace) -> Result<String> {
    let Some(repo) = &ws.repo_dir else {
        return Err(Error::usage(format!(
            "the workspace {} is a scratch directory: it has no git tree",
            ws.path.display()
        )));
    };
    check_worktree(ws, repo)?;
    let index = TempIndex::new(&ws.path)?;
    run_git(
        git_in(&ws.path)
            .env("GIT_INDEX_FILE", &index.0)
            .args(["add", "--all"]),
        || format!("cannot read the changes in {}", ws.path.display()),
    )?;
    let tree = run_git(
        git_in(&ws.path)
            .env("GIT_INDEX_FILE", &index.0)
            .args(["write-tree"]),
        || format!("cannot read the tree of {}", ws.path.display()),
    )?;
    Ok(tree.trim().to_owned())
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

#[cfg(test)]
mod message_tests {
    use super::*;

    #[test]
    fn a_commit_message_says_what_the_run_was_asked() {
        assert_eq!(
            commit_message(
                "fix the flaky test\n\nIt is in tests/a.rs.\n",
                "abc-123",
                None
            ),
            "fix the flaky test\n\nIt is in tests/a.rs.\n\nM-Run: abc-123\n"
        );
        assert_eq!(
            commit_message("  tidy  ", "r", Some("Recovered.")),
            "tidy\n\nRecovered.\n\nM-Run: r\n"
        );
        let long = "word ".repeat(30);
        let message = commit_message(&long, "r", None);
        let subject = message.lines().next().unwrap();
        assert!(subject.chars().count() <= 72, "{subject}");
        assert!(subject.ends_with('…'));
        assert!(message.contains(long.trim()), "the whole line is kept");
    }
}
