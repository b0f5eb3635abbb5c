use super::*;

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
