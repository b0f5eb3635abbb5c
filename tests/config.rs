//! The config file through the real binary: where it is, what `config show`
//! says, warnings and errors, and the settings reaching runs and the daemon.

use crate::common;

use std::time::{Duration, Instant};

use common::{alive, wait_for_lines, TestEnv};
use serde_json::Value;

fn setting<'a>(shown: &'a Value, key: &str) -> &'a Value {
    shown["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("no {key} in {shown}"))
}

fn created_options(env: &TestEnv, run: &str) -> Value {
    env.events(run)
        .into_iter()
        .find(|e| e["type"] == "run.created")
        .unwrap()["data"]["options"]
        .clone()
}

#[test]
fn the_file_is_in_m_home_and_every_value_starts_as_a_default() {
    let env = TestEnv::new();
    let path = env.ok(&["config", "path"]);
    assert_eq!(path.trim(), env.home.join("config.toml").to_str().unwrap());
    let shown = env.json(&["config", "show", "--json"]);
    assert_eq!(shown["exists"], false);
    let settings = shown["settings"].as_array().unwrap();
    let keys: Vec<&str> = settings
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "daemon.grace_seconds",
            "daemon.autostart",
            "daemon.answer_timeout_seconds",
            "daemon.containment",
            "run.review",
            "run.idle_timeout_seconds",
            "run.startup_timeout_seconds",
            "run.on_busy",
            "run.timeout",
            "approvals.auto_approve",
            "approvals.allow_commands",
            "approvals.timeout",
            "approvals.on_timeout",
            "approvals.remind_after",
            "approvals.escalate_to",
            "retention.output_after",
            "notify.events",
            "notify.redact",
            "notify.apns",
            "notify.webhook",
            "notify.command",
            "remote.listen",
            "remote.tls_cert",
            "remote.tls_key",
            "remote.hosts",
            "remote.pairing_code_seconds",
            "remote.heartbeat",
        ]
    );
    // TestEnv sets M_GRACE_MS; everything else is a default.
    assert_eq!(setting(&shown, "daemon.grace_seconds")["source"], "env");
    assert_eq!(setting(&shown, "daemon.grace_seconds")["env"], "M_GRACE_MS");
    assert_eq!(setting(&shown, "daemon.grace_seconds")["value"], 1);
    assert_eq!(setting(&shown, "daemon.autostart")["source"], "default");
    let text = env.ok(&["config", "show"]);
    assert!(text.contains("not found"), "{text}");
    assert!(
        text.contains("run.review = false") && text.contains("# default"),
        "{text}"
    );
    assert!(text.contains("# env M_GRACE_MS"), "{text}");
}

#[test]
fn show_says_which_values_come_from_the_file_and_which_from_the_environment() {
    let env = TestEnv::new();
    env.write_config(
        r#"
[daemon]
grace_seconds = 2.5
autostart = false
[run]
review = true
[approvals]
allow_commands = ["cargo test"]
[agents.claude]
command = ["/opt/claude-acp", "--verbose"]
"#,
    );
    let out = env
        .m()
        .env_remove("M_GRACE_MS")
        .env("M_NO_AUTOSTART", "0")
        .args(["config", "show", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["exists"], true);
    assert_eq!(setting(&shown, "daemon.grace_seconds")["value"], 2.5);
    assert_eq!(setting(&shown, "daemon.grace_seconds")["source"], "file");
    assert_eq!(setting(&shown, "daemon.autostart")["value"], true);
    assert_eq!(setting(&shown, "daemon.autostart")["env"], "M_NO_AUTOSTART");
    assert_eq!(setting(&shown, "run.review")["source"], "file");
    assert_eq!(
        setting(&shown, "approvals.auto_approve")["source"],
        "default"
    );
    assert_eq!(
        setting(&shown, "agents.claude.command")["value"],
        serde_json::json!(["/opt/claude-acp", "--verbose"])
    );
}

/// `daemon.containment` takes auto, cgroup or keeper, from the file or
/// `M_CONTAINMENT`, which wins; anything else is an error naming them.
#[test]
fn containment_is_read_from_the_file_and_m_containment_wins() {
    let env = TestEnv::new();
    env.write_config("[daemon]\ncontainment = \"keeper\"\n");
    let shown = env.json(&["config", "show", "--json"]);
    assert_eq!(setting(&shown, "daemon.containment")["value"], "keeper");
    assert_eq!(setting(&shown, "daemon.containment")["source"], "file");
    let out = env
        .m()
        .env("M_CONTAINMENT", "cgroup")
        .args(["config", "show", "--json"])
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(setting(&shown, "daemon.containment")["value"], "cgroup");
    assert_eq!(
        setting(&shown, "daemon.containment")["env"],
        "M_CONTAINMENT"
    );
    let out = env
        .m()
        .env("M_CONTAINMENT", "sandbox")
        .args(["run", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid value for M_CONTAINMENT: unknown containment value 'sandbox'")
            && err.contains("auto, cgroup or keeper"),
        "{err}"
    );
    let file = env.write_config("[daemon]\ncontainment = \"jail\"\n");
    let err = env.fails(&["run", "list"], 2);
    assert!(
        err.contains("daemon.containment") && err.contains(file.to_str().unwrap()),
        "{err}"
    );
    assert!(err.contains("auto, cgroup, keeper"), "{err}");
}

#[test]
fn an_unknown_key_is_a_warning_naming_it_and_the_file() {
    let env = TestEnv::new();
    let file = env.write_config("[run]\nreveiw = true\n[colours]\nx = 1\n");
    let out = env.run(&["run", "list"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: unknown key `run.reveiw`")
            && err.contains(file.to_str().unwrap())
            && err.contains("did you mean `review`"),
        "{err}"
    );
    assert!(err.contains("`colours`"), "{err}");
    // Said once per command, not once per read.
    assert_eq!(err.matches("run.reveiw").count(), 1, "{err}");
    // The value still is the default.
    let shown = env.json(&["config", "show", "--json"]);
    assert_eq!(setting(&shown, "run.review")["value"], false);
    assert_eq!(shown["warnings"].as_array().unwrap().len(), 2);
}

#[test]
fn an_invalid_value_is_a_usage_error_naming_key_and_file() {
    let env = TestEnv::new();
    let file = env.write_config("[daemon]\ngrace_seconds = \"five\"\n");
    for args in [&["run", "list"][..], &["config", "show"], &["status"]] {
        let err = env.fails(args, 2);
        assert!(
            err.contains("`daemon.grace_seconds`")
                && err.contains(file.to_str().unwrap())
                && err.contains("expected a number of seconds"),
            "{args:?}: {err}"
        );
        assert!(err.contains("hint:"), "{err}");
    }
    // The path is still there to find it.
    assert!(env.ok(&["config", "path"]).contains("config.toml"));

    // Regression (QA): 0 was quietly taken as 1.
    env.write_config("[run]\nstartup_timeout_seconds = 0\n");
    let err = env.fails(&["run", "list"], 2);
    assert!(
        err.contains("`run.startup_timeout_seconds`") && err.contains("at least 1"),
        "{err}"
    );

    env.write_config("[approvals]\nauto_approve = [\"everything\"]\n");
    let err = env.fails(&["run", "list"], 2);
    assert!(
        err.contains("`approvals.auto_approve`") && err.contains("`everything`"),
        "{err}"
    );

    env.write_config("[daemon\n");
    let err = env.fails(&["run", "list"], 2);
    assert!(err.contains("not valid TOML (line 1)"), "{err}");
}

#[test]
fn runs_get_the_configured_approvals_and_review_merged_with_their_flags() {
    let env = TestEnv::new();
    env.repo("api");
    env.write_config(
        r#"
[run]
review = true
[approvals]
auto_approve = ["generic"]
allow_commands = ["echo hi"]
"#,
    );
    let out = env.dir.path().join("out");
    // Both asks are decided by policy: one by the config, one by the flag.
    let agent = env.script(
        "agent.sh",
        &format!(
            "m ask approval --type command -- echo hi there >> {0}\nm ask approval --type command -- true && echo ok >> {0}",
            out.display()
        ),
    );
    let run = env
        .ok(&[
            "run",
            "start",
            "-r",
            "api",
            "ask",
            "--no-review",
            "--allow",
            "true",
            "--auto-approve",
            "diff",
            "--",
            agent.to_str().unwrap(),
        ])
        .trim()
        .to_string();
    env.fails(&["run", "wait", &run], 0);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "hi there\nok\n",
        "both commands ran without a human"
    );
    let options = created_options(&env, &run);
    assert_eq!(options["review"], false, "--no-review beats the config");
    assert_eq!(
        options["auto_approve"],
        serde_json::json!(["generic", "diff"])
    );
    assert_eq!(
        options["allow_commands"],
        serde_json::json!(["echo hi", "true"])
    );

    // Without the flag, the config's review holds the run for its diff.
    let agent = env.script("edit.sh", "echo change > new.txt");
    let run = env.start("api", "edit", &agent);
    env.fails(&["run", "wait", &run], 12);
    assert_eq!(created_options(&env, &run)["review"], true);
    env.ok(&["approve", &run]);
    env.fails(&["run", "wait", &run], 0);
}

#[test]
fn the_daemon_takes_its_grace_period_from_the_config() {
    let env = TestEnv::new();
    env.repo("api");
    env.write_config("[daemon]\ngrace_seconds = 0.2\n");
    common::exits(
        env.m().env_remove("M_GRACE_MS").args(["daemon", "start"]),
        0,
    );
    let ready = env.dir.path().join("ready");
    // Everything in the group ignores SIGTERM: only SIGKILL, after the
    // grace period, ends it (the default would take 5 seconds).
    let agent = env.script(
        "stubborn.sh",
        &format!(
            "trap '' TERM\necho $$ > {}\nwhile true; do sleep 0.1; done",
            ready.display()
        ),
    );
    let run = env.start("api", "stubborn", &agent);
    wait_for_lines(&ready, 1);
    let agent_pid: i32 = std::fs::read_to_string(&ready)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Timed from the cancel to the agent's death, not to the end of the run
    // (which commits the workspace): 0.2 s of grace, not the default 5 s.
    let started = Instant::now();
    let cancel = env.m().args(["run", "cancel", &run]).spawn().unwrap();
    while alive(agent_pid) {
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "the agent outlived a 0.2 s grace period by {:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(cancel.wait_with_output().unwrap().status.success());
}

#[test]
fn autostart_off_in_the_config_is_an_error_that_says_where_and_the_env_can_override_it() {
    let env = TestEnv::new();
    env.repo("api");
    let file = env.write_config("[daemon]\nautostart = false\n");
    let err = env.fails(&["run", "start", "-r", "api", "x", "--", "true"], 5);
    assert!(
        err.contains("`daemon.autostart = false`")
            && err.contains(file.to_str().unwrap())
            && err.contains("m daemon start"),
        "{err}"
    );
    common::exits(
        env.m()
            .env("M_NO_AUTOSTART", "0")
            .args(["run", "start", "-r", "api", "x", "--wait", "--", "true"]),
        0,
    );
    let out = env
        .m()
        .env("M_NO_AUTOSTART", "perhaps")
        .args(["run", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("M_NO_AUTOSTART"));
}

#[test]
fn a_configured_agent_command_replaces_the_presets() {
    let env = TestEnv::new();
    env.repo("api");
    env.write_config("[agents.claude]\ncommand = [\"/nonexistent/claude-acp\", \"--fast\"]\n");
    let agents = env.json(&["agents", "--json"]);
    let claude = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "claude")
        .unwrap();
    assert_eq!(
        claude["command"],
        serde_json::json!(["/nonexistent/claude-acp", "--fast"])
    );
    assert_eq!(claude["installed"], false);
    let err = env.fails(&["run", "start", "-r", "api", "--agent", "claude", "x"], 3);
    assert!(err.contains("/nonexistent/claude-acp"), "{err}");

    // An agent m does not know is a warning, not a command.
    env.write_config("[agents.claud]\ncommand = [\"x\"]\n");
    let out = env.run(&["agents"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown key `agents.claud`") && err.contains("did you mean `claude`"),
        "{err}"
    );
}
