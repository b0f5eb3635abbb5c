//! `m doctor`: checks what m depends on (git, the config file, the
//! database, the socket directory, the daemon, the service file, the agents
//! on PATH, notifications) and prints, for each problem, the command that
//! fixes it. Exit 1 when a check fails; warnings alone exit 0.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use clap::Args;
use console::Style;
use serde::Serialize;

use super::Ctx;
use crate::client::Client;
use crate::config::Config;
use crate::error::{exit, Result};
use crate::model::{now, relative_time};
use crate::notify::{ApnsStatus, Dispatcher};
use crate::paths;
use crate::presets;
use crate::protocol::{Hello, Request, Response, VERSION};
use crate::service::{self, Manager};
use crate::store;

/// The oldest git m works with (`worktree` and `-C` behaviour it relies on).
const MIN_GIT: (u32, u32) = (2, 20);

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// One JSON document: {ok, checks: [{name, status, detail, fix?}]};
    /// status is ok, warn, fail or skip.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    status: Status,
    detail: String,
    /// The command (or step) that fixes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

impl Check {
    fn new(name: &'static str, status: Status, detail: impl Into<String>) -> Check {
        Check {
            name,
            status,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

pub fn run(ctx: &Ctx, args: DoctorArgs) -> Result<u8> {
    let config = Config::read(&ctx.paths);
    let socket_dir = check_socket_dir(ctx);
    let socket_ok = socket_dir.status != Status::Fail;
    let database = store::check::inspect(&ctx.paths.database()).ok();
    let mut checks = vec![
        check_git(),
        check_config(&config),
        check_database(ctx),
        socket_dir,
        check_daemon(ctx, config.as_ref().ok(), socket_ok),
        check_service(ctx),
        check_containment(ctx, config.as_ref().ok(), socket_ok),
    ];
    match &config {
        Ok(config) => {
            checks.push(check_agents(config));
            checks.push(check_notifications(
                config,
                database.as_ref().map(|d| d.devices),
            ));
        }
        // Said, rather than left out: they read the config.
        Err(_) => {
            for name in ["agents", "notify"] {
                checks.push(Check::new(
                    name,
                    Status::Skip,
                    "not checked until the config file is fixed",
                ));
            }
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if args.json {
        ctx.ui
            .json(&serde_json::json!({ "ok": failed == 0, "checks": checks }))?;
    } else {
        for check in &checks {
            let (label, style) = match check.status {
                Status::Ok => ("ok", Style::new().green()),
                Status::Warn => ("warn", Style::new().yellow().bold()),
                Status::Fail => ("FAIL", Style::new().red().bold()),
                Status::Skip => ("skip", Style::new().dim()),
            };
            ctx.ui.line(format!(
                "{} {:<9} {}",
                ctx.ui.paint(&style, format!("{label:<4}")),
                check.name,
                check.detail
            ))?;
            if let Some(fix) = &check.fix {
                ctx.ui
                    .line(format!("               {} {fix}", ctx.ui.bold("fix:")))?;
            }
        }
        let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
        ctx.ui.line(match (failed, warned) {
            (0, 0) => "everything m needs is in place".to_string(),
            (0, w) => format!("no problem, {w} warning(s)"),
            (f, _) => format!("{f} problem(s) found"),
        })?;
    }
    Ok(if failed == 0 { exit::OK } else { exit::FAILURE })
}

fn check_git() -> Check {
    let install = "install git 2.20 or later (`sudo apt install git`, `brew install git`)";
    let out = match Command::new("git").arg("--version").output() {
        Ok(out) if out.status.success() => out,
        Ok(out) => {
            return Check::new(
                "git",
                Status::Fail,
                format!(
                    "`git --version` failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            )
            .fix(install)
        }
        Err(e) => {
            return Check::new("git", Status::Fail, format!("git is not on PATH ({e})"))
                .fix(install)
        }
    };
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match parse_git_version(&text) {
        Some(version) if version >= MIN_GIT => Check::new("git", Status::Ok, text),
        Some(_) => Check::new(
            "git",
            Status::Fail,
            format!("{text} is too old; m needs {}.{}", MIN_GIT.0, MIN_GIT.1),
        )
        .fix(install),
        None => Check::new(
            "git",
            Status::Warn,
            format!("cannot tell git's version from `{text}`"),
        ),
    }
}

/// `git version 2.39.3 (Apple Git-145)` -> (2, 39).
fn parse_git_version(text: &str) -> Option<(u32, u32)> {
    let version = text
        .strip_prefix("git version ")?
        .split_whitespace()
        .next()?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()?;
    Some((major, minor))
}

fn check_config(config: &Result<Config>) -> Check {
    match config {
        Err(err) => Check::new("config", Status::Fail, err.message.clone()).fix(
            err.hint
                .clone()
                .unwrap_or_else(|| "fix the file named above".into()),
        ),
        Ok(config) if !config.warnings.is_empty() => {
            Check::new("config", Status::Warn, config.warnings.join("; ")).fix(format!(
                "remove or rename the key in {} (`m config --help` lists the keys)",
                config.file.display()
            ))
        }
        Ok(config) if !config.file_exists => Check::new(
            "config",
            Status::Ok,
            format!("no file at {}; defaults apply", config.file.display()),
        ),
        Ok(config) => Check::new("config", Status::Ok, config.file.display().to_string()),
    }
}

fn check_database(ctx: &Ctx) -> Check {
    let db = ctx.paths.database();
    let shown = db.display();
    let meta = match std::fs::metadata(&db) {
        Ok(meta) => meta,
        Err(_) => {
            return Check::new(
                "database",
                Status::Ok,
                format!("no database yet at {shown}; the first command creates it"),
            )
        }
    };
    let health = match store::check::inspect(&db) {
        Ok(health) => health,
        Err(err) => {
            let fix = err
                .hint
                .clone()
                .unwrap_or_else(|| format!("move it aside: `mv {shown} {shown}.bad`"));
            return Check::new("database", Status::Fail, err.message).fix(fix);
        }
    };
    if !health.problems.is_empty() {
        return Check::new(
            "database",
            Status::Fail,
            format!(
                "{shown} is damaged: {}",
                health.problems.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
            ),
        )
        .fix(format!(
            "stop the daemon (`m daemon stop`), then recover it: `sqlite3 {shown} .recover > m.sql`, or move it aside: `mv {shown} {shown}.bad`"
        ));
    }
    if health.schema_version > health.latest_version {
        return Check::new(
            "database",
            Status::Fail,
            format!(
                "{shown} has schema version {}; this m knows up to {}",
                health.schema_version, health.latest_version
            ),
        )
        .fix("install the newer m that wrote it");
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Check::new(
            "database",
            Status::Warn,
            format!(
                "{shown} can be read by others (mode {:o})",
                meta.permissions().mode() & 0o777
            ),
        )
        .fix(format!("chmod 600 {shown}"));
    }
    let upgrade = if health.schema_version < health.latest_version {
        format!(", upgraded to {} on next use", health.latest_version)
    } else {
        String::new()
    };
    Check::new(
        "database",
        Status::Ok,
        format!(
            "{shown} (schema version {}{upgrade}, quick_check ok)",
            health.schema_version
        ),
    )
}

fn check_socket_dir(ctx: &Ctx) -> Check {
    let dir = &ctx.paths.runtime_dir;
    if std::fs::symlink_metadata(dir).is_err() {
        return Check::new(
            "socket",
            Status::Ok,
            format!(
                "{} does not exist yet; the daemon creates it (0700)",
                dir.display()
            ),
        );
    }
    match paths::check_private_dir(dir) {
        Ok(()) => Check::new(
            "socket",
            Status::Ok,
            format!("{} is private (0700)", dir.display()),
        ),
        Err(err) => Check::new("socket", Status::Fail, err.message).fix(format!(
            "chmod 700 {} (and make sure it is a directory you own)",
            dir.display()
        )),
    }
}

fn check_daemon(ctx: &Ctx, config: Option<&Config>, socket_ok: bool) -> Check {
    if !socket_ok {
        return Check::new(
            "daemon",
            Status::Skip,
            "not checked while the socket directory is unsafe",
        );
    }
    let service = service::installed_for(&ctx.paths);
    let (client, hello) = match Client::try_connect(&ctx.paths) {
        Ok(Some(found)) => found,
        Ok(None) => {
            if let Some(service) = service {
                return Check::new(
                    "daemon",
                    Status::Fail,
                    format!(
                        "not running; it runs as a {} service here, so commands wait for it",
                        service.manager.name()
                    ),
                )
                .fix(service.manager.start_command());
            }
            if config.is_none_or(|c| c.daemon.autostart) {
                return Check::new(
                    "daemon",
                    Status::Ok,
                    "not running; the next command that needs it starts it",
                );
            }
            return Check::new(
                "daemon",
                Status::Warn,
                "not running, and autostart is off (daemon.autostart or M_NO_AUTOSTART)",
            )
            .fix("m daemon start");
        }
        Err(err) => {
            return Check::new("daemon", Status::Fail, err.message).fix(
                err.hint
                    .unwrap_or_else(|| "m daemon stop; m daemon start".into()),
            )
        }
    };
    let replace = match &service {
        Some(service) => service.manager.restart_command(),
        None => "m daemon stop".into(),
    };
    if hello != Hello::ours() {
        return Check::new(
            "daemon",
            Status::Warn,
            format!(
                "running m {} (protocol {}), but this is m {VERSION}",
                hello.version, hello.protocol
            ),
        )
        .fix(format!(
            "{replace} (its active runs will fail); the next command starts this version"
        ));
    }
    match client.request(&Request::Status) {
        Ok(Response::Status(status)) => Check::new(
            "daemon",
            Status::Ok,
            format!(
                "running: pid {}, version {}, up since {}, {} active run(s)",
                status.pid,
                status.version,
                relative_time(status.started_at, now()),
                status.active_runs.len()
            ),
        ),
        Ok(other) => Check::new(
            "daemon",
            Status::Fail,
            format!("unexpected answer from the daemon: {other:?}"),
        )
        .fix(replace),
        Err(err) => Check::new("daemon", Status::Fail, err.message).fix(replace),
    }
}

fn check_service(ctx: &Ctx) -> Check {
    let manager = Manager::native();
    let Some(service) = service::installed() else {
        return Check::new(
            "service",
            Status::Ok,
            format!(
                "not installed (optional: `m daemon install` runs the daemon under {})",
                manager.name()
            ),
        );
    };
    let file = service.file.display();
    if !service.serves(&ctx.paths) {
        let dir = service
            .m_home
            .as_ref()
            .map(|h| h.display().to_string())
            .unwrap_or_else(|| "the default data directory".into());
        return Check::new(
            "service",
            Status::Ok,
            format!("{file} serves {dir}, not {}", ctx.paths.data_dir.display()),
        );
    }
    let this = std::env::current_exe().and_then(std::fs::canonicalize).ok();
    match &service.exe {
        Some(exe) if !exe.exists() => Check::new(
            "service",
            Status::Fail,
            format!("{file} starts {}, which does not exist", exe.display()),
        )
        .fix("m daemon install"),
        Some(exe) if this.as_ref().is_some_and(|this| this != exe) => Check::new(
            "service",
            Status::Warn,
            format!("{file} starts {}, not this m", exe.display()),
        )
        .fix("m daemon install (to make the service run this m)"),
        Some(_) => Check::new(
            "service",
            Status::Ok,
            format!("{file} ({})", manager.name()),
        ),
        None => Check::new(
            "service",
            Status::Fail,
            format!("{file} was not written by this m: no binary found in it"),
        )
        .fix("m daemon install"),
    }
}

/// How a run's processes are held: the running daemon's answer, or, with
/// none running, what one started from here would likely use (nothing is
/// made to find out).
fn check_containment(ctx: &Ctx, config: Option<&Config>, socket_ok: bool) -> Check {
    use crate::model::Containment as Wanted;
    use crate::process::cgroup::RunCgroups;
    let running = socket_ok
        .then(|| super::daemon::status(ctx).ok().flatten())
        .flatten()
        .and_then(|status| status.containment);
    if let Some(running) = running {
        return match (running.mechanism.as_str(), running.cgroup, running.reason) {
            ("cgroup", Some(dir), _) => cgroup_check(&format!("under {dir}")),
            (_, _, reason) => {
                keeper_check(reason.as_deref().unwrap_or("the daemon did not say why"))
            }
        };
    }
    let wanted = config.map_or(Wanted::Auto, |c| c.daemon.containment);
    if wanted == Wanted::Keeper {
        let setting = config.map(Config::containment_setting).unwrap_or_default();
        return keeper_check(&format!("{setting} asks for it"));
    }
    let predicted = RunCgroups::locate(&ctx.paths.data_dir).and_then(|c| c.predict().map(|()| c));
    match predicted {
        Ok(cgroups) => cgroup_check(&format!(
            "under {} (once a daemon started from here runs)",
            cgroups.dir.display()
        )),
        Err(reason) if wanted == Wanted::Cgroup => Check::new(
            "processes",
            Status::Fail,
            format!(
                "{} asks for a cgroup per run, but {reason}: the daemon will not start",
                config.map(Config::containment_setting).unwrap_or_default()
            ),
        )
        .fix("set daemon.containment = \"auto\", or `m daemon install` (a systemd user service with Delegate=yes)"),
        Err(reason) => keeper_check(&reason),
    }
}

fn cgroup_check(where_: &str) -> Check {
    Check::new(
        "processes",
        Status::Ok,
        format!(
            "cgroup v2: each run's processes in a cgroup of their own {where_}, killed at once \
             with cgroup.kill; each run's agent under its keeper too (a child subreaper)"
        ),
    )
}

fn keeper_check(no_cgroup: &str) -> Check {
    match crate::process::keeper::mechanism() {
        crate::process::keeper::Mechanism::Subreaper => Check::new(
            "processes",
            Status::Ok,
            format!(
                "keeper: each run's agent runs under a keeper (a child subreaper): whatever it \
                 starts, however it daemonises, ends with the run and with the daemon; no cgroup \
                 per run: {no_cgroup}"
            ),
        ),
        crate::process::keeper::Mechanism::ProcessGroup => Check::new(
            "processes",
            Status::Warn,
            format!(
                "keeper: each run's agent runs under a keeper that kills its process group; a \
                 process that leaves the group (setsid) outlives its run here (no subreaper, no \
                 /proc); no cgroup per run: {no_cgroup}"
            ),
        )
        .fix("see docs/reliability.md: run agents in a sandbox if that matters"),
    }
}

/// The agents m knows by name: their commands (the config's, if set) on PATH.
fn check_agents(config: &Config) -> Check {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for preset in presets::PRESETS {
        let configured = config.agent_command(preset.name);
        let argv: Vec<String> = match configured {
            Some(argv) => argv.to_vec(),
            None => preset.argv.iter().map(|s| s.to_string()).collect(),
        };
        match presets::which(&argv[0]) {
            Some(_) => found.push(preset.name),
            None if configured.is_some() => {
                return Check::new(
                    "agents",
                    Status::Fail,
                    format!(
                        "`agents.{}.command` in {} runs {}, which is not on PATH",
                        preset.name,
                        config.file.display(),
                        argv[0]
                    ),
                )
                .fix(format!(
                    "fix the command in {}, or install it: {}",
                    config.file.display(),
                    preset.install
                ))
            }
            None => missing.push(preset),
        }
    }
    let missing_names: Vec<&str> = missing.iter().map(|p| p.name).collect();
    if found.is_empty() {
        let example = missing.first().map(|p| p.install).unwrap_or_default();
        return Check::new(
            "agents",
            Status::Warn,
            format!(
                "none of {} is on PATH (any command still runs with `-- COMMAND`)",
                missing_names.join(", ")
            ),
        )
        .fix(format!(
            "install one, e.g. `{example}` (`m agents` lists them all)"
        ));
    }
    let mut detail = format!("on PATH: {}", found.join(", "));
    if !missing_names.is_empty() {
        detail.push_str(&format!(
            "; not installed: {} (`m agents` says how)",
            missing_names.join(", ")
        ));
    }
    Check::new("agents", Status::Ok, detail)
}

/// `[notify]`: what the daemon would make of it, and a phone to push to.
fn check_notifications(config: &Config, devices: Option<i64>) -> Check {
    let health = Dispatcher::from_config(&config.notify)
        .with_escalation(&config.approvals.escalate_to)
        .health();
    let file = config.file.display();
    if !health.is_healthy() {
        let mut problems = health.problems.clone();
        if let ApnsStatus::Unavailable { error } = &health.apns {
            if !problems.contains(error) {
                problems.push(error.clone());
            }
        }
        return Check::new("notify", Status::Fail, problems.join("; ")).fix(format!(
            "fix [notify] in {file}, check with `m notify test`, then restart the daemon"
        ));
    }
    let push = health.apns == ApnsStatus::Ready;
    if !push && health.webhooks == 0 && health.commands == 0 {
        return Check::new(
            "notify",
            Status::Ok,
            "not configured (optional: [notify] in the config file, see docs/config.md)",
        );
    }
    let detail = format!(
        "push {}, {} webhook(s), {} hook command(s)",
        if push { "ready" } else { "not configured" },
        health.webhooks,
        health.commands
    );
    if push && devices == Some(0) {
        return Check::new(
            "notify",
            Status::Warn,
            format!("{detail}; no phone registered"),
        )
        .fix("m device add TOKEN (the m app shows its token)");
    }
    Check::new("notify", Status::Ok, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_versions_are_read_from_their_usual_shapes() {
        assert_eq!(parse_git_version("git version 2.47.3"), Some((2, 47)));
        assert_eq!(
            parse_git_version("git version 2.39.3 (Apple Git-145)"),
            Some((2, 39))
        );
        assert_eq!(
            parse_git_version("git version 2.45.windows.1"),
            Some((2, 45))
        );
        assert_eq!(parse_git_version("git version 2.9rc1"), Some((2, 9)));
        assert_eq!(parse_git_version("hg 6"), None);
        assert!(Some((2, 9)) < Some(MIN_GIT));
    }
}
