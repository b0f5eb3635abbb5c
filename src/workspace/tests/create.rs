use super::*;

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
