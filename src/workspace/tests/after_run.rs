use super::*;

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

/// After an approved review, only the approved tree reaches the branch:
/// a commit made on the branch after the review was asked is taken off it
/// (its files stay in the worktree), and a tree the review's own commit
/// lacks is committed on it.
#[test]
fn commit_approved_puts_only_the_approved_tree_on_the_branch() {
    let fx = Fx::new();
    let repo = fx.repo("proj");
    let ws = create(&fx.req(&run_id(), Some(s(&repo)), None), &mut quiet()).unwrap();
    let branch = ws.branch.clone().unwrap();
    fs::write(ws.path.join("a.txt"), "approved\n").unwrap();
    let reviewed = commit_all(&ws, "work").unwrap().unwrap().commit;
    let tree = worktree_tree(&ws).unwrap();
    commit_file(&ws.path, "late.txt", "late\n");
    let done = commit_approved(&ws, &tree, &reviewed, "work\n\nM-Run: r\n").unwrap();
    assert!(done.changed_after);
    assert_eq!(done.stat.unwrap().commit, reviewed);
    assert_eq!(git(&repo, &["rev-parse", &branch]), reviewed);
    assert_eq!(git(&ws.path, &["status", "--porcelain"]), "?? late.txt");

    // The approved tree is not the reviewed commit's: committed on it.
    fs::remove_file(ws.path.join("late.txt")).unwrap();
    fs::write(ws.path.join("a.txt"), "approved later\n").unwrap();
    let tree = worktree_tree(&ws).unwrap();
    let done = commit_approved(&ws, &tree, &reviewed, "work\n\nM-Run: r\n").unwrap();
    assert!(!done.changed_after);
    let commit = done.stat.unwrap().commit;
    assert_eq!(git(&repo, &["rev-parse", &branch]), commit);
    assert_eq!(
        git(&repo, &["rev-parse", &format!("{commit}^{{tree}}")]),
        tree
    );
    assert_eq!(git(&repo, &["rev-parse", &format!("{commit}~")]), reviewed);
    assert_eq!(git(&ws.path, &["status", "--porcelain"]), "");
}

/// A review's patch, stat and tree are of one reading of the worktree; an
/// unchanged one has an empty patch on the base's tree and commit, which
/// `commit_approved` keeps the branch at, leaving a later change out.
#[test]
fn a_review_snapshot_is_one_tree_and_an_unchanged_one_commits_nothing_later() {
    let fx = Fx::new();
    let repo = fx.repo("proj");
    let ws = create(&fx.req(&run_id(), Some(s(&repo)), None), &mut quiet()).unwrap();
    let branch = ws.branch.clone().unwrap();
    let base = ws.base_commit.clone().unwrap();

    let unchanged = review_snapshot(&ws, "nothing").unwrap();
    assert_eq!(unchanged.patch, "");
    assert_eq!(unchanged.stat.commit, base);
    assert_eq!(
        unchanged.tree,
        git(&repo, &["rev-parse", &format!("{base}^{{tree}}")])
    );
    fs::write(ws.path.join("late.txt"), "late\n").unwrap();
    let done = commit_approved(&ws, &unchanged.tree, &unchanged.stat.commit, "x").unwrap();
    assert!(done.changed_after);
    assert_eq!(done.stat, None);
    assert_eq!(git(&repo, &["rev-parse", &branch]), base);
    assert_eq!(git(&ws.path, &["status", "--porcelain"]), "?? late.txt");

    let changed = review_snapshot(&ws, "work").unwrap();
    assert!(changed.patch.contains("+late"), "{}", changed.patch);
    assert_eq!(changed.tree, worktree_tree(&ws).unwrap());
    assert_eq!(
        (changed.stat.files, changed.stat.insertions),
        (1, 1),
        "{:?}",
        changed.stat
    );
    assert_eq!(git(&repo, &["rev-parse", &branch]), changed.stat.commit);

    // A tree that is not in the repository is refused, and nothing moves.
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let err = commit_approved(&ws, missing, &changed.stat.commit, "x").unwrap_err();
    assert!(
        err.message.contains("is not in the repository"),
        "{}",
        err.message
    );
    assert_eq!(git(&repo, &["rev-parse", &branch]), changed.stat.commit);
}
