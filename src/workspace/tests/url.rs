use super::*;

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
