//! m on the user's machine, through the real binary: completions, the
//! service file and what clients do with it, `m status`, `m doctor`, and
//! progress on and off a terminal.

use crate::common;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestEnv;
use serde_json::Value;

fn exe() -> PathBuf {
    std::fs::canonicalize(env!("CARGO_BIN_EXE_m")).unwrap()
}

fn unit_file(env: &TestEnv) -> PathBuf {
    env.dir.path().join(".config/systemd/user/m.service")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `m daemon run` in the foreground, as a service manager runs it.
fn service_daemon(env: &TestEnv) -> Child {
    let child = env
        .m()
        .args(["daemon", "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !env.home.join("run/m.sock").exists() {
        assert!(Instant::now() < deadline, "the daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn stop(env: &TestEnv, mut daemon: Child) {
    env.ok(&["daemon", "stop"]);
    daemon.wait().unwrap();
}

// Completions

#[test]
fn completions_are_printed_for_every_shell() {
    let env = TestEnv::new();
    for (shell, marker) in [
        ("bash", "-F _clap_complete_m m"),
        ("zsh", "compdef _clap_dynamic_completer_m m"),
        ("fish", "--command m"),
        ("elvish", "edit:completion:arg-completer[m]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let script = env.ok(&["completions", shell]);
        assert!(script.contains(marker), "{shell}: no {marker}");
        // The script asks m at each TAB: it calls m by name, wherever
        // m is installed, and lists no command of its own (so never a
        // hidden one).
        assert!(script.contains("COMPLETE"), "{shell}: not dynamic");
        for hidden in ["generate-docs", "keeper"] {
            assert!(!script.contains(hidden), "{shell}: offers {hidden}");
        }
    }
    let err = env.fails(&["completions", "tcsh"], 2);
    assert!(err.contains("bash"), "{err}");
}

/// The values bash offers at a TAB after `words` (the last word is the one
/// being completed), through the script `m completions bash` prints, in a
/// real bash, from `cwd`. Options (offered beside values on an empty word)
/// are left out.
fn bash_tab(env: &TestEnv, cwd: &Path, words: &[&str]) -> Vec<String> {
    let script = env.ok(&["completions", "bash"]);
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
        .collect();
    let driver = format!(
        "{script}\nCOMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); COMP_TYPE=9\n\
         _clap_complete_m m \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        words = quoted.join(" ")
    );
    let mut bash = Command::new("bash");
    env.clean_env(&mut bash);
    let out = bash
        .current_dir(cwd)
        .args(["--norc", "--noprofile", "-c", &driver])
        .output()
        .unwrap();
    assert!(out.status.success(), "bash: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('-'))
        .map(String::from)
        .collect()
}

#[test]
fn a_tab_offers_what_exists_runs_repos_agents_states_and_event_types() {
    let env = TestEnv::new();
    // Before anything exists, a TAB offers no run and creates nothing.
    assert!(bash_tab(&env, env.dir.path(), &["m", "run", "show", ""]).is_empty());
    assert!(!env.home.exists(), "a TAB made the data directory");

    env.repo("api");
    let agent = env.script("agent.sh", "true");
    let agent = agent.to_str().unwrap();
    let first = env.ok(&[
        "run",
        "start",
        "-r",
        "api",
        "first run",
        "--wait",
        "--",
        agent,
    ]);
    let second = env.ok(&[
        "run",
        "start",
        "-r",
        "api",
        "second run",
        "--wait",
        "--",
        agent,
    ]);
    let short = |id: &str| id.trim()[..8].to_string();
    env.ok(&["daemon", "stop"]);

    let mut runs = bash_tab(&env, env.dir.path(), &["m", "run", "show", ""]);
    runs.sort();
    let mut want = vec![short(&first), short(&second)];
    want.sort();
    assert_eq!(runs, want);
    // A prefix narrows the choice, in every command taking a run.
    let prefix = &short(&first)[..7];
    for words in [
        vec!["m", "run", "cancel", prefix],
        vec!["m", "events", prefix],
        vec!["m", "run", "rm", prefix],
    ] {
        assert!(
            bash_tab(&env, env.dir.path(), &words).contains(&short(&first)),
            "{words:?}"
        );
    }
    // No daemon was started to answer a TAB.
    assert!(
        !env.home.join("run/m.sock").exists(),
        "a TAB started the daemon"
    );

    // -r offers repos, not the files of the current directory.
    let cwd = env.dir.path().join("somewhere");
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::write(cwd.join("apple.txt"), "").unwrap();
    assert_eq!(
        bash_tab(&env, &cwd, &["m", "run", "start", "-r", ""]),
        ["api"]
    );
    assert_eq!(
        bash_tab(&env, &cwd, &["m", "run", "list", "-r", "a"]),
        ["api"]
    );

    let agents = bash_tab(&env, &cwd, &["m", "run", "start", "--agent", "c"]);
    assert_eq!(agents, ["claude", "codex"]);
    let states = bash_tab(&env, &cwd, &["m", "run", "list", "--state", "w"]);
    assert_eq!(states, ["waiting_input", "waiting_approval"]);
    let states = bash_tab(&env, &cwd, &["m", "approvals", "--state", ""]);
    assert_eq!(states, ["pending", "approved", "rejected", "all"]);
    let types = bash_tab(&env, &cwd, &["m", "events", "--type", "approval.r"]);
    assert_eq!(types, ["approval.requested", "approval.resolved"]);
    // Nothing is pending: m approve offers nothing (not files).
    assert!(bash_tab(&env, &cwd, &["m", "approve", ""]).is_empty());

    let commands = bash_tab(&env, &cwd, &["m", ""]);
    assert!(commands.contains(&"run".to_string()), "{commands:?}");
    for hidden in ["generate-docs", "keeper"] {
        assert!(!commands.contains(&hidden.to_string()), "{commands:?}");
    }
}

#[test]
fn a_closed_pipe_ends_completions_quietly() {
    let env = TestEnv::new();
    let mut child = env
        .m()
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

// Service

#[test]
fn install_writes_a_systemd_user_unit_for_this_binary_and_uninstall_removes_it() {
    if cfg!(target_os = "macos") {
        return;
    }
    let env = TestEnv::new();
    let out = env.ok(&["daemon", "install"]);
    let unit = unit_file(&env);
    assert!(out.contains(unit.to_str().unwrap()), "{out}");
    assert!(
        out.contains("systemctl --user daemon-reload && systemctl --user enable --now m"),
        "{out}"
    );
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains(&format!("\nExecStart={} daemon run\n", exe().display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("\nEnvironment=M_HOME={}\n", env.home.display())),
        "{text}"
    );
    assert!(text.contains("\nEnvironment=PATH="), "{text}");
    assert!(text.contains("\nRestart=on-failure\n"), "{text}");
    // Its cgroup is the daemon's to divide: a cgroup per run.
    assert!(text.contains("\nDelegate=yes\n"), "{text}");
    assert!(text.contains("\nStandardError=journal\n"), "{text}");
    assert!(text.contains("\nWantedBy=default.target\n"), "{text}");
    verify_unit(&unit);

    // Installing again rewrites it; `enable` links are removed with it.
    assert!(env.ok(&["daemon", "install"]).starts_with("Rewrote"));
    let wants = unit.parent().unwrap().join("default.target.wants");
    std::fs::create_dir_all(&wants).unwrap();
    std::os::unix::fs::symlink(&unit, wants.join("m.service")).unwrap();
    let out = env.ok(&["daemon", "uninstall"]);
    assert!(
        out.contains("Removed") && out.contains("systemctl --user stop m"),
        "{out}"
    );
    assert!(!unit.exists());
    assert!(std::fs::symlink_metadata(wants.join("m.service")).is_err());
    let out = env.ok(&["daemon", "uninstall"]);
    assert!(out.contains("No m service is installed"), "{out}");
}

/// `systemd-analyze verify`, where it is available.
fn verify_unit(unit: &Path) {
    let Ok(out) = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(unit)
        .output()
    else {
        eprintln!("systemd-analyze is not available: not verifying the unit");
        return;
    };
    let err = stderr(&out);
    if err.contains("Failed to initialize manager") || err.contains("Failed to lookup") {
        eprintln!("systemd-analyze cannot run here ({err}): not verifying the unit");
        return;
    }
    assert!(out.status.success(), "systemd-analyze verify: {err}");
    assert!(
        !err.contains(unit.to_str().unwrap()),
        "systemd-analyze verify warns: {err}"
    );
}

#[test]
fn the_unit_goes_under_xdg_config_home_and_omits_m_home_when_unset() {
    if cfg!(target_os = "macos") {
        return;
    }
    let env = TestEnv::new();
    let xdg = env.dir.path().join("xdg");
    let out = env
        .m()
        .env("XDG_CONFIG_HOME", &xdg)
        .env_remove("M_HOME")
        .args(["daemon", "install"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(xdg.join("systemd/user/m.service")).unwrap();
    assert!(!text.contains("M_HOME"), "{text}");
    assert!(!unit_file(&env).exists());
}

#[test]
fn with_the_service_installed_clients_wait_for_its_daemon_instead_of_starting_one() {
    if cfg!(target_os = "macos") {
        return;
    }
    let env = TestEnv::new();
    env.repo("api");
    env.ok(&["daemon", "install"]);

    // No daemon: a command waits a little, then says how to start the service's.
    let started = Instant::now();
    let err = env.fails(&["run", "start", "-r", "api", "x", "--", "true"], 5);
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "it did not wait"
    );
    assert!(
        err.contains("systemd service") && err.contains("systemctl --user start m"),
        "{err}"
    );
    assert!(
        !env.home.join("run/m.sock").exists(),
        "a daemon was started"
    );
    let err = env.fails(&["daemon", "start"], 4);
    assert!(err.contains("systemctl --user start m"), "{err}");
    let status = env.ok(&["status"]);
    assert!(status.contains("systemctl --user start m"), "{status}");
    let doctor = env.run(&["doctor"]);
    assert_eq!(doctor.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&doctor.stdout).contains("fix: systemctl --user start m"));

    // The service's daemon is up (started as systemd would): clients use it.
    let daemon = service_daemon(&env);
    let out = env
        .m()
        .args(["run", "start", "-r", "api", "x", "--wait", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let status = env.json(&["status", "--json"]);
    assert_eq!(status["daemon"]["pid"], daemon.id());
    assert_eq!(status["service"]["manager"], "systemd");
    assert_eq!(status["service"]["file"], unit_file(&env).to_str().unwrap());
    stop(&env, daemon);

    // Another data directory is not the service's: it autostarts as usual.
    let other = env.dir.path().join("other");
    let out = env
        .m()
        .env("M_HOME", &other)
        .args(["daemon", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let out = env
        .m()
        .env("M_HOME", &other)
        .args(["events", "--all", "--follow"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Ready means answering, not only a socket file (bound, maybe not yet
    // listening).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !env
        .m()
        .env("M_HOME", &other)
        .env("M_NO_AUTOSTART", "1")
        .args(["daemon", "status"])
        .output()
        .unwrap()
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "no daemon was autostarted");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut follower = out;
    let stopped = env
        .m()
        .env("M_HOME", &other)
        .args(["daemon", "stop"])
        .output()
        .unwrap();
    assert!(stopped.status.success(), "{}", stderr(&stopped));
    // A follower of every run does not keep the daemon from stopping.
    let deadline = Instant::now() + Duration::from_secs(15);
    while follower.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = follower.kill();
            panic!("`m events --all --follow` outlived its daemon");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// Status

#[test]
fn status_shows_uptime_socket_runs_and_approvals() {
    let env = TestEnv::new();
    env.repo("api");
    let status = env.json(&["status", "--json"]);
    assert_eq!(status["daemon"], Value::Null);
    assert_eq!(status["service"], Value::Null);
    let socket = env.home.join("run/m.sock");
    assert_eq!(status["socket"], socket.to_str().unwrap());

    let agent = env.script("ask.sh", "m ask approval --type generic --title deploy");
    let run = env.start("api", "deploy it", &agent);
    env.fails(&["run", "wait", &run], 12);
    let status = env.json(&["status", "--json"]);
    let daemon = &status["daemon"];
    assert!(daemon["pid"].as_u64().unwrap() > 0);
    assert!(daemon["uptime_seconds"].as_i64().unwrap() >= 0);
    assert_eq!(daemon["socket"], socket.to_str().unwrap());
    assert_eq!(status["active_runs"][0]["id"], run.as_str());
    assert_eq!(status["pending_approvals"], 1);
    let text = env.ok(&["status"]);
    assert!(text.contains("daemon    running (pid"), "{text}");
    assert!(text.contains(", up "), "{text}");
    assert!(
        text.contains(&format!("socket    {}", socket.display())),
        "{text}"
    );
    assert!(
        text.contains("waiting_approval") && text.contains("deploy it"),
        "{text}"
    );
    assert!(text.contains("approvals 1 pending"), "{text}");
    assert!(
        text.contains(
            "notify    push not configured, 0 webhook(s), 0 hook command(s); delivered 0"
        ),
        "{text}"
    );
    assert_eq!(status["notifications"]["source"], "daemon");
    env.ok(&["run", "cancel", &run]);
}

// Doctor

fn doctor(env: &TestEnv, code: i32) -> (String, Value) {
    let out = env.run(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(code), "{text}{}", stderr(&out));
    let json = env.run(&["doctor", "--json"]);
    assert_eq!(json.status.code(), Some(code));
    (text, serde_json::from_slice(&json.stdout).unwrap())
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

/// A config whose `gemini` agent is `sh`, so one agent is on PATH.
fn config_with_an_agent(env: &TestEnv, more: &str) -> PathBuf {
    env.write_config(&format!("[agents.gemini]\ncommand = [\"sh\"]\n{more}"))
}

#[test]
fn doctor_passes_on_a_healthy_setup() {
    let env = TestEnv::new();
    config_with_an_agent(&env, "");
    env.repo("api");
    env.ok(&["daemon", "start"]);
    let (text, report) = doctor(&env, 0);
    assert!(text.contains("everything m needs is in place"), "{text}");
    assert_eq!(report["ok"], true);
    for name in [
        "git",
        "config",
        "database",
        "socket",
        "daemon",
        "service",
        "processes",
        "agents",
        "notify",
    ] {
        assert_eq!(check(&report, name)["status"], "ok", "{report}");
    }
    assert!(check(&report, "processes")["detail"]
        .as_str()
        .unwrap()
        .contains("child subreaper"));
    assert!(check(&report, "git")["detail"]
        .as_str()
        .unwrap()
        .starts_with("git version"));
    assert!(check(&report, "database")["detail"]
        .as_str()
        .unwrap()
        .contains("quick_check ok"));
    assert!(check(&report, "daemon")["detail"]
        .as_str()
        .unwrap()
        .contains("running: pid"));
    assert!(check(&report, "agents")["detail"]
        .as_str()
        .unwrap()
        .starts_with("on PATH: gemini"));
}

#[test]
fn doctor_warns_when_no_agent_is_installed_and_fails_a_configured_one_that_is_missing() {
    let env = TestEnv::new();
    let (_, report) = doctor(&env, 0);
    let agents = check(&report, "agents");
    assert_eq!(agents["status"], "warn");
    assert!(
        agents["fix"].as_str().unwrap().contains("m agents"),
        "{report}"
    );

    env.write_config("[agents.claude]\ncommand = [\"/nonexistent/claude-acp\"]\n");
    let (_, report) = doctor(&env, 1);
    let agents = check(&report, "agents");
    assert_eq!(agents["status"], "fail");
    let detail = agents["detail"].as_str().unwrap();
    assert!(
        detail.contains("`agents.claude.command`") && detail.contains("/nonexistent/claude-acp"),
        "{detail}"
    );
}

#[test]
fn doctor_and_status_name_a_webhook_that_cannot_work() {
    let env = TestEnv::new();
    config_with_an_agent(
        &env,
        "[[notify.webhook]]\nurl = \"ftp://example.com/hook\"\n",
    );
    let (text, report) = doctor(&env, 1);
    let notify = check(&report, "notify");
    assert_eq!(notify["status"], "fail");
    assert!(
        notify["detail"]
            .as_str()
            .unwrap()
            .contains("ftp://example.com/hook"),
        "{report}"
    );
    assert!(
        notify["fix"].as_str().unwrap().contains("m notify test"),
        "{report}"
    );
    assert!(text.contains("FAIL notify"), "{text}");

    let status = env.json(&["status", "--json"]);
    assert_eq!(status["notifications"]["source"], "config");
    assert_eq!(status["notifications"]["health"]["webhooks"], 0);
    let text = env.ok(&["status"]);
    assert!(
        text.contains("notify    push not configured, 0 webhook(s)"),
        "{text}"
    );
    assert!(
        text.contains("problem: ") && text.contains("ftp://"),
        "{text}"
    );
}

#[test]
fn doctor_on_an_empty_m_home_creates_nothing() {
    let env = TestEnv::new();
    let (_, report) = doctor(&env, 0);
    assert_eq!(check(&report, "daemon")["status"], "ok");
    assert!(!env.home.join("m.db").exists());
    assert!(!env.home.join("run").exists());
}

#[test]
fn doctor_names_a_garbage_database_and_how_to_move_it_aside() {
    let env = TestEnv::new();
    std::fs::create_dir_all(&env.home).unwrap();
    let db = env.home.join("m.db");
    std::fs::write(&db, vec![b'#'; 4096]).unwrap();
    let (text, report) = doctor(&env, 1);
    let database = check(&report, "database");
    assert_eq!(database["status"], "fail");
    assert!(database["fix"]
        .as_str()
        .unwrap()
        .contains(&format!("mv {}", db.display())));
    assert!(
        text.contains("FAIL database") && text.contains("fix:"),
        "{text}"
    );
    assert!(text.contains("1 problem(s) found"), "{text}");
}

#[test]
fn doctor_names_a_database_from_a_newer_m() {
    let env = TestEnv::new();
    env.ok(&["repo", "list"]);
    let db = env.home.join("m.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let (_, report) = doctor(&env, 1);
    let database = check(&report, "database");
    assert!(
        database["detail"]
            .as_str()
            .unwrap()
            .contains("schema version 99"),
        "{report}"
    );
    assert!(
        database["fix"].as_str().unwrap().contains("newer m"),
        "{report}"
    );
}

#[test]
fn doctor_names_a_socket_directory_others_can_reach() {
    let env = TestEnv::new();
    let dir = env.home.join("run");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (_, report) = doctor(&env, 1);
    let socket = check(&report, "socket");
    assert_eq!(socket["status"], "fail");
    assert!(
        socket["detail"].as_str().unwrap().contains("755"),
        "{report}"
    );
    assert_eq!(
        socket["fix"].as_str().unwrap(),
        format!(
            "chmod 700 {} (and make sure it is a directory you own)",
            dir.display()
        )
    );
    assert_eq!(check(&report, "daemon")["status"], "skip");
}

#[test]
fn doctor_names_a_bad_config_value_and_warns_of_an_unknown_key() {
    let env = TestEnv::new();
    let file = env.write_config("[run]\nreview = \"yes\"\n");
    let (_, report) = doctor(&env, 1);
    let config = check(&report, "config");
    assert_eq!(config["status"], "fail");
    let detail = config["detail"].as_str().unwrap();
    assert!(
        detail.contains("`run.review`") && detail.contains(file.to_str().unwrap()),
        "{detail}"
    );
    // What reads the config is said to be skipped, not left out (QA).
    assert_eq!(check(&report, "agents")["status"], "skip");
    assert_eq!(check(&report, "notify")["status"], "skip");

    config_with_an_agent(&env, "[run]\nreviews = true\n");
    let (text, report) = doctor(&env, 0);
    assert_eq!(check(&report, "config")["status"], "warn");
    assert!(text.contains("unknown key `run.reviews`"), "{text}");
    assert!(text.contains("1 warning(s)"), "{text}");
}

#[test]
fn doctor_names_a_service_that_starts_a_missing_binary() {
    if cfg!(target_os = "macos") {
        return;
    }
    let env = TestEnv::new();
    env.ok(&["daemon", "install"]);
    let unit = unit_file(&env);
    let text = std::fs::read_to_string(&unit).unwrap();
    std::fs::write(
        &unit,
        text.replace(&exe().display().to_string(), "/nonexistent/m"),
    )
    .unwrap();
    let (_, report) = doctor(&env, 1);
    let service = check(&report, "service");
    assert_eq!(service["status"], "fail");
    assert!(service["detail"]
        .as_str()
        .unwrap()
        .contains("/nonexistent/m"));
    assert_eq!(service["fix"], "m daemon install");
}

// Progress

#[test]
fn off_a_terminal_wait_prints_gits_fetch_steps_as_plain_lines() {
    let env = TestEnv::new();
    env.remote_repo();
    // A slow remote: its side of the fetch starts after 6 seconds, past the
    // 5 after which a wait prints git's steps (a quick fetch prints none).
    let slow = env.script("slow-pack.sh", "sleep 6; exec \"$@\"");
    std::fs::write(
        env.dir.path().join(".gitconfig"),
        format!("[uploadpack]\n\tpackObjectsHook = {}\n", slow.display()),
    )
    .unwrap();
    let out = env
        .m()
        .args(["run", "start", "-r", "remote", "x", "--wait", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let run = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let err = stderr(&out);
    let prefix = format!("run {}: ", &run[..8]);
    assert!(
        !err.is_empty() && err.lines().all(|l| l.starts_with(&prefix)),
        "{err}"
    );
    assert!(err.contains("done."), "{err}");
    assert!(!err.contains('\x1b') && !err.contains('\r'), "{err:?}");
}

/// Runs `m ARGS` on a pseudo-terminal (util-linux `script`); None without it.
fn on_a_terminal(env: &TestEnv, args: &str, no_color: bool) -> Option<String> {
    let mut cmd = Command::new("script");
    env.clean_env(&mut cmd);
    cmd.env("TERM", "xterm-256color");
    if !no_color {
        cmd.env_remove("NO_COLOR");
    }
    let line = format!("{} {args}", exe().display());
    let out = cmd.args(["-qec", &line, "/dev/null"]).output().ok()?;
    if !out.status.success() && out.stdout.is_empty() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn on_a_terminal_wait_draws_a_spinner_in_colour_unless_no_color() {
    let env = TestEnv::new();
    env.repo("api");
    let agent = env.script("agent.sh", "echo 'the last line'; sleep 2");
    let args = format!("run start -r api x --wait -- {}", agent.display());
    let Some(shown) = on_a_terminal(&env, &args, false) else {
        eprintln!("no `script` to make a terminal: skipped");
        return;
    };
    assert!(shown.contains("the last line"), "{shown:?}");
    assert!(shown.contains("\x1b[2K"), "no spinner redraws: {shown:?}");
    assert!(shown.contains("\x1b[36m"), "no colour: {shown:?}");
    let shown = on_a_terminal(&env, &args, true).unwrap();
    assert!(shown.contains("the last line"), "{shown:?}");
    assert!(
        !shown.contains("\x1b[36m"),
        "colour despite NO_COLOR: {shown:?}"
    );
}
