use super::read::edit_distance;
use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<Config> {
    Config::parse(Path::new("/cfg/config.toml"), text, &no_env)
}

#[test]
fn an_empty_file_is_all_defaults() {
    let config = parse("").unwrap();
    assert_eq!(config.daemon.grace, DEFAULT_GRACE);
    assert!(config.daemon.autostart);
    assert!(!config.run.review);
    assert!(config.approvals.auto_approve.is_empty());
    assert!(config.settings().iter().all(|s| s.source == "default"));
}

#[test]
fn remote_listen_is_checked_and_the_environment_wins() {
    let env = |name: &str| (name == "M_REMOTE_LISTEN").then(|| "127.0.0.1:9999".to_string());
    let config = Config::parse(
        Path::new("/x/config.toml"),
        "[remote]\nlisten = \"0.0.0.0:8443\"\n",
        &env,
    )
    .unwrap();
    assert_eq!(
        config.remote.listen,
        Some("127.0.0.1:9999".parse().unwrap())
    );
    assert_eq!(
        config.source("remote.listen"),
        Source::Env("M_REMOTE_LISTEN")
    );
    for bad in [
        "[remote]\nlisten = \"localhost\"\n",
        "[remote]\nlisten = 8443\n",
        "[remote]\ntls_cert = \"/c.pem\"\n",
        "[remote]\nhosts = [\"https://box\"]\n",
        "[remote]\npairing_code_seconds = 0\n",
        "[remote]\nheartbeat = \"0s\"\n",
        "[remote]\nheartbeat = \"2h\"\n",
        "[remote]\nheartbeat = \"soon\"\n",
        "[remote]\nheartbeat = 1.5\n",
    ] {
        let err = Config::parse(Path::new("/x/config.toml"), bad, &no_env).unwrap_err();
        assert!(err.message.contains("remote."), "{bad}: {}", err.message);
    }
    let bad_env = |name: &str| (name == "M_REMOTE_LISTEN").then(|| "nope".to_string());
    let err = Config::parse(Path::new("/x/config.toml"), "", &bad_env).unwrap_err();
    assert!(err.message.contains("M_REMOTE_LISTEN"), "{}", err.message);
}

#[test]
fn every_key_is_read_and_marked_as_from_the_file() {
    let config = parse(
        r#"
        [daemon]
        grace_seconds = 2.5
        autostart = false
        answer_timeout_seconds = 30
        containment = "keeper"
        [run]
        review = true
        idle_timeout_seconds = 600
        startup_timeout_seconds = 20
        on_busy = "queue"
        timeout = "2h"
        [approvals]
        auto_approve = ["command", "command"]
        allow_commands = ["cargo   test", "git status"]
        timeout = "1h"
        on_timeout = "cancel"
        remind_after = 600
        escalate_to = ["apns", "pager"]
        [retention]
        output_after = "30d"
        [agents.claude]
        command = ["/opt/claude-acp", "--verbose"]
        [notify]
        redact = true
        [remote]
        listen = "127.0.0.1:0"
        tls_cert = "/etc/m/cert.pem"
        tls_key = "/etc/m/key.pem"
        hosts = ["Box.tail1234.ts.net", "192.0.2.7"]
        pairing_code_seconds = 60
        heartbeat = "5s"
        "#,
    )
    .unwrap();
    assert_eq!(config.daemon.grace, Duration::from_millis(2500));
    assert_eq!(config.remote.listen, Some("127.0.0.1:0".parse().unwrap()));
    assert_eq!(config.remote.hosts, ["box.tail1234.ts.net", "192.0.2.7"]);
    assert_eq!(config.remote.pairing_code_lifetime, Duration::from_secs(60));
    assert_eq!(config.remote.heartbeat, Duration::from_secs(5));
    assert!(!config.daemon.autostart);
    assert_eq!(config.daemon.answer_timeout, Duration::from_secs(30));
    assert_eq!(config.daemon.containment, Containment::Keeper);
    assert!(config.run.review);
    assert_eq!(config.run.idle_timeout, Some(Duration::from_secs(600)));
    assert_eq!(config.run.startup_timeout, Duration::from_secs(20));
    assert_eq!(config.run.on_busy, OnBusy::Queue);
    assert_eq!(config.run.timeout, Some(Duration::from_secs(7200)));
    assert_eq!(config.approvals.auto_approve, vec![ApprovalType::Command]);
    assert_eq!(
        config.approvals.allow_commands,
        vec!["cargo test", "git status"]
    );
    assert_eq!(config.approvals.timeout, Some(Duration::from_secs(3600)));
    assert_eq!(config.approvals.on_timeout, Some(OnTimeout::Cancel));
    assert_eq!(
        config.approvals.remind_after,
        Some(Duration::from_secs(600))
    );
    assert_eq!(config.approvals.escalate_to, ["apns", "pager"]);
    assert_eq!(
        config.retention.output_after,
        Some(Duration::from_secs(30 * 86400))
    );
    assert_eq!(
        config.agent_command("claude").unwrap(),
        ["/opt/claude-acp", "--verbose"]
    );
    assert!(config.notify.redact);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let settings = config.settings();
    // Every key the file sets, and only those, comes from the file.
    let from_file = |s: &&Setting| s.source == "file";
    assert_eq!(
        settings.iter().filter(from_file).count(),
        24,
        "{settings:?}"
    );
    assert!(settings.iter().all(|s| s.source == "file"
        || [
            "notify.events",
            "notify.apns",
            "notify.webhook",
            "notify.command"
        ]
        .contains(&s.key.as_str())));
    assert_eq!(settings[0].value, json!(2.5));
}

#[test]
fn an_agent_may_name_its_auth_method_alone() {
    let config = parse("[agents.gemini]\nauth = \"gemini-api-key\"\n").unwrap();
    assert_eq!(config.agent_auth("gemini"), Some("gemini-api-key"));
    assert_eq!(config.agent_command("gemini"), None);
    assert_eq!(config.agent_auth("claude"), None);
    assert!(config
        .settings()
        .iter()
        .any(|s| s.key == "agents.gemini.auth" && s.source == "file"));
}

#[test]
fn unknown_keys_are_warnings_naming_key_and_file() {
    let config = parse("colour = 1\n[daemon]\ngrace_second = 3\n").unwrap();
    assert_eq!(config.warnings.len(), 2, "{:?}", config.warnings);
    assert!(config.warnings[0].contains("`colour`"));
    assert!(config.warnings[1].contains("`daemon.grace_second`"));
    assert!(config.warnings[1].contains("did you mean `grace_seconds`"));
    assert!(config.warnings[1].contains("/cfg/config.toml"));
    // Shortened words too (QA).
    let config = parse("[daemon]\ngrace_secs = 3\n[run]\nstartup_timeout = 9\n").unwrap();
    assert!(config.warnings[0].contains("did you mean `grace_seconds`"));
    assert!(config.warnings[1].contains("did you mean `startup_timeout_seconds`"));
}

#[test]
fn invalid_values_are_usage_errors_naming_key_and_file() {
    for (text, key) in [
        ("[daemon]\ngrace_seconds = \"five\"", "daemon.grace_seconds"),
        ("[daemon]\ngrace_seconds = -1", "daemon.grace_seconds"),
        ("[daemon]\nautostart = \"no\"", "daemon.autostart"),
        (
            "[daemon]\nanswer_timeout_seconds = 1",
            "daemon.answer_timeout_seconds",
        ),
        ("[run]\nreview = 1", "run.review"),
        ("[run]\non_busy = \"wait\"", "run.on_busy"),
        ("[run]\non_busy = true", "run.on_busy"),
        ("[run]\ntimeout = \"2 hours\"", "run.timeout"),
        ("[run]\ntimeout = -1", "run.timeout"),
        ("[approvals]\ntimeout = \"soon\"", "approvals.timeout"),
        (
            "[approvals]\non_timeout = \"approve\"",
            "approvals.on_timeout",
        ),
        ("[approvals]\nremind_after = true", "approvals.remind_after"),
        (
            "[approvals]\nescalate_to = \"apns\"",
            "approvals.escalate_to",
        ),
        ("[approvals]\nescalate_to = [\"\"]", "approvals.escalate_to"),
        (
            "[approvals]\nauto_approve = [\"all\"]",
            "approvals.auto_approve",
        ),
        (
            "[approvals]\nallow_commands = [\" \"]",
            "approvals.allow_commands",
        ),
        (
            "[approvals]\nallow_commands = \"cargo\"",
            "approvals.allow_commands",
        ),
        (
            "[approvals]\nallow_commands = [\"cargo test && cargo clippy\"]",
            "approvals.allow_commands",
        ),
        ("[agents.claude]\ncommand = []", "agents.claude.command"),
        ("[agents.claude]\nargs = [\"a\"]", "agents.claude"),
        ("[agents.gemini]\nauth = 3", "agents.gemini.auth"),
        ("[agents.gemini]\nauth = \" \"", "agents.gemini.auth"),
        ("[agents.\"a b\"]\ncommand = [\"a\"]", "agents.a b"),
        ("daemon = 3", "daemon"),
    ] {
        let err = parse(text).unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::Usage, "{text}");
        assert!(
            err.message.contains(&format!("`{key}`")) && err.message.contains("/cfg/config.toml"),
            "{text}: {}",
            err.message
        );
    }
}

#[test]
fn notify_is_parsed_its_unknown_keys_warned_and_its_secrets_not_shown() {
    let config = parse(
        r#"
        [notify]
        events = ["approval.requested"]
        [notify.apns]
        key_path = "/k.p8"
        key_id = "K"
        team_id = "T"
        topic = "com.example.m"
        [[notify.webhook]]
        name = "slack"
        url = "https://u:pw@hooks.example.com/services/T0/B0/secret"
        headers = { Authorization = "Bearer tk_secret" }
        timeout_secs = 5
        urll = "typo"
        [[notify.command]]
        argv = ["/bin/notify-me"]
        events = ["run.failed"]
        timeout_secs = 30
        "#,
    )
    .unwrap();
    assert_eq!(config.notify.webhooks[0].name.as_deref(), Some("slack"));
    assert_eq!(config.notify.commands[0].argv, ["/bin/notify-me"]);
    assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
    assert!(config.warnings[0].contains("`notify.webhook[1].urll`"));
    let shown = serde_json::to_string(&config.settings()).unwrap();
    assert!(
        !shown.contains("secret") && !shown.contains("pw"),
        "{shown}"
    );
    assert!(shown.contains("https://hooks.example.com/…"), "{shown}");
    assert!(shown.contains("Authorization"), "{shown}");

    let err = parse("[[notify.webhook]]\nurl = 3\n").unwrap_err();
    assert!(
        err.message.contains("`notify.webhook.url`"),
        "{}",
        err.message
    );
    let err = parse("[notify]\nredact = \"yes\"\n").unwrap_err();
    assert!(err.message.contains("`notify.redact`"), "{}", err.message);
}

#[test]
fn an_agent_m_does_not_know_is_a_warning() {
    let config = parse("[agents.claud]\ncommand = [\"x\"]\n").unwrap();
    assert!(config.agents.is_empty());
    assert!(
        config.warnings[0].contains("`agents.claud`")
            && config.warnings[0].contains("did you mean `claude`"),
        "{:?}",
        config.warnings
    );
}

#[test]
fn urls_are_cut_to_their_host() {
    assert_eq!(redact_url("https://ntfy.sh/topic"), "https://ntfy.sh/…");
    assert_eq!(redact_url("http://a:b@h:8080"), "http://h:8080");
    assert_eq!(redact_url("h/x?y"), "h/…");
}

#[test]
fn bad_toml_says_which_line() {
    let err = parse("[daemon]\ngrace_seconds = = 3\n").unwrap_err();
    assert!(err.message.contains("line 2"), "{}", err.message);
}

#[test]
fn the_environment_overrides_the_file() {
    let env = |name: &str| match name {
        "M_GRACE_MS" => Some("250".to_string()),
        "M_NO_AUTOSTART" => Some("1".to_string()),
        _ => None,
    };
    let config = Config::parse(
        Path::new("/c"),
        "[daemon]\ngrace_seconds = 9\nautostart = true",
        &env,
    )
    .unwrap();
    assert_eq!(config.daemon.grace, Duration::from_millis(250));
    assert!(!config.daemon.autostart);
    assert_eq!(
        config.source("daemon.autostart"),
        Source::Env("M_NO_AUTOSTART")
    );
    let bad = |name: &str| (name == "M_NO_AUTOSTART").then(|| "maybe".to_string());
    let err = Config::parse(Path::new("/c"), "", &bad).unwrap_err();
    assert!(err.message.contains("M_NO_AUTOSTART"), "{}", err.message);
}

#[test]
fn edit_distance_counts_edits() {
    assert_eq!(edit_distance("review", "review"), 0);
    assert_eq!(edit_distance("reveiw", "review"), 2);
    assert_eq!(edit_distance("", "abc"), 3);
}
