//! The configuration file: one TOML file at [`Paths::config_file`]
//! (`$M_HOME/config.toml` when `M_HOME` is set, else the platform's config
//! directory, `~/.config/m/config.toml` on Linux). It is optional: every key
//! has a default, listed in docs/config.md and `m config --help`.
//!
//! Values are checked strictly and names leniently: an invalid value is an
//! error naming the key and the file (exit 2), an unknown key only a warning
//! naming it, so a file written for a newer m still works with this one.
//! Five environment variables override the file (tests and service
//! managers use them): `M_GRACE_MS`, `M_ANSWER_TIMEOUT_MS`, `M_NO_AUTOSTART`,
//! `M_CONTAINMENT` and `M_REMOTE_LISTEN`.
//!
//! To add a section: a field on [`Config`], a branch in `apply_file`
//! (`read.rs`, which reads the file and the environment), its keys in
//! `settings`, and a line in docs/config.md (a test checks it).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value as Json};

pub mod keys;
pub mod notify;
mod read;

pub use self::notify::NotifyConfig;

use crate::error::{Error, Result};
use crate::model::{ApprovalType, Containment, OnBusy, OnTimeout};
use crate::paths::Paths;

/// How long an agent has between SIGTERM and SIGKILL, unless configured.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// How long a command waits for each frame from the daemon.
pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// The shortest wait allowed: twice the daemon's heartbeat.
const MIN_ANSWER_SECONDS: f64 = 2.0;
const MAX_GRACE_SECONDS: f64 = 3600.0;

/// Where an effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Default,
    File,
    /// The environment variable of that name.
    Env(&'static str),
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::File => "file",
            Source::Env(_) => "env",
        }
    }
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (which may not exist).
    pub file: PathBuf,
    pub file_exists: bool,
    pub daemon: DaemonConfig,
    pub run: RunConfig,
    pub approvals: ApprovalsConfig,
    pub retention: RetentionConfig,
    /// `[agents.NAME]`: replacements for the commands that start named agents.
    pub agents: BTreeMap<String, AgentConfig>,
    /// `[notify]`, parsed: values of the wrong type are errors here; the
    /// notifications module checks the rest (`NotifyConfig::validate`).
    pub notify: NotifyConfig,
    /// `[remote]`: the HTTPS API for phones (off unless `listen` is set).
    pub remote: RemoteConfig,
    /// Unknown keys, one message each (naming the key and the file).
    pub warnings: Vec<String>,
    sources: BTreeMap<String, Source>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DaemonConfig {
    /// `grace_seconds`: between SIGTERM and SIGKILL when an agent is stopped.
    pub grace: Duration,
    /// Whether a client may start a daemon when none answers.
    pub autostart: bool,
    /// `answer_timeout_seconds`: how long a command waits for the daemon's
    /// next frame before saying it does not answer (exit 5).
    pub answer_timeout: Duration,
    /// How runs' processes are held: a cgroup per run, or the keeper alone.
    pub containment: Containment,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// Every run holds its diff for approval unless `--no-review`.
    pub review: bool,
    /// A conversational (ACP) run that waits this long for its next prompt
    /// is done, as if `m run done` had been said. None: it waits for ever.
    pub idle_timeout: Option<Duration>,
    /// How long an ACP agent may take to start (answer `initialize` and
    /// open its session) before its run fails.
    pub startup_timeout: Duration,
    /// What `m run start` does on a repo with an active run, without
    /// `--queue` or `--no-queue`.
    pub on_busy: OnBusy,
    /// The time limit of every run without `--timeout`. None: no limit.
    pub timeout: Option<Duration>,
}

impl Default for RunConfig {
    fn default() -> RunConfig {
        RunConfig {
            review: false,
            idle_timeout: None,
            startup_timeout: Duration::from_secs(60),
            on_busy: OnBusy::Refuse,
            timeout: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApprovalsConfig {
    /// Approval types decided without a human, added to `--auto-approve`.
    pub auto_approve: Vec<ApprovalType>,
    /// Command prefixes approved without a human, added to `--allow`.
    pub allow_commands: Vec<String>,
    /// How long an approval or a question waits for a human before
    /// `on_timeout` decides (`--approval-timeout`). None: for ever.
    pub timeout: Option<Duration>,
    /// What the timeout decides; None is `reject`.
    pub on_timeout: Option<OnTimeout>,
    /// Notify again about what is still open after this long.
    pub remind_after: Option<Duration>,
    /// The sinks reminders go to (`apns`, a webhook's or a hook command's
    /// name); empty: every sink that takes the event.
    pub escalate_to: Vec<String>,
}

/// `[remote]`: the daemon's HTTPS listener for the iOS app and the phone
/// page (docs/api.md).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteConfig {
    /// `listen = "ADDR:PORT"` (`M_REMOTE_LISTEN` wins); None: off.
    pub listen: Option<std::net::SocketAddr>,
    /// A real certificate and its key (PEM), instead of the self-signed one.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Names phones reach this machine by (a tailnet or DNS name): the
    /// `Host` headers accepted besides the bound address, and the first is
    /// the one the pairing URL uses.
    pub hosts: Vec<String>,
    /// How long a pairing code works.
    pub pairing_code_lifetime: Duration,
    /// How often an idle event stream sends a heartbeat.
    pub heartbeat: Duration,
}

impl Default for RemoteConfig {
    fn default() -> RemoteConfig {
        RemoteConfig {
            listen: None,
            tls_cert: None,
            tls_key: None,
            hosts: Vec::new(),
            pairing_code_lifetime: Duration::from_secs(600),
            heartbeat: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RetentionConfig {
    /// `output_after`: the `output` events of a run that finished longer
    /// ago than this are dropped (by `m gc`, and by the daemon every hour).
    /// None: kept for ever.
    pub output_after: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// The command line that starts the agent (never empty), when it
    /// replaces the preset's.
    pub command: Option<Vec<String>>,
    /// The auth method m asks the agent to use when it says it needs one:
    /// m never picks one itself.
    pub auth: Option<String>,
}

/// One effective value, for `m config show`.
#[derive(Debug, Clone, Serialize)]
pub struct Setting {
    pub key: String,
    pub value: Json,
    /// `default`, `file` or `env`.
    pub source: &'static str,
    /// The environment variable, when `source` is `env`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<&'static str>,
}

impl Config {
    /// Every key at its default, for `file`.
    pub fn defaults(file: &Path) -> Config {
        Config {
            file: file.to_path_buf(),
            file_exists: false,
            daemon: DaemonConfig {
                grace: DEFAULT_GRACE,
                autostart: true,
                answer_timeout: DEFAULT_ANSWER_TIMEOUT,
                containment: Containment::Auto,
            },
            run: RunConfig::default(),
            approvals: ApprovalsConfig::default(),
            retention: RetentionConfig::default(),
            agents: BTreeMap::new(),
            notify: NotifyConfig::default(),
            remote: RemoteConfig::default(),
            warnings: Vec::new(),
            sources: BTreeMap::new(),
        }
    }

    /// Reads the configuration file (absent: defaults) and applies the
    /// environment. Prints nothing; see [`load`] for the cached, warning one.
    pub fn read(paths: &Paths) -> Result<Config> {
        Config::read_file(&paths.config_file, &|name| std::env::var(name).ok())
    }

    pub fn read_file(file: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config> {
        match std::fs::read_to_string(file) {
            Ok(text) => Config::parse(file, &text, env),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut config = Config::defaults(file);
                config.apply_env(env)?;
                Ok(config)
            }
            Err(e) => Err(Error::io("read the config file", file, e)
                .with_hint("make it a readable file, or move it aside to use the defaults")),
        }
    }

    /// Parses `text` as the contents of `file`, then applies `env`.
    pub fn parse(file: &Path, text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config> {
        let mut config = Config::defaults(file);
        config.file_exists = true;
        config.apply_file(text)?;
        config.apply_env(env)?;
        Ok(config)
    }

    /// Where `key` (e.g. `daemon.grace_seconds`) got its value.
    pub fn source(&self, key: &str) -> Source {
        self.sources.get(key).copied().unwrap_or(Source::Default)
    }

    /// `daemon.containment` as the user set it: the variable or the file,
    /// and the value (`M_CONTAINMENT=keeper`).
    pub fn containment_setting(&self) -> String {
        let value = self.daemon.containment;
        match self.source("daemon.containment") {
            Source::Env(name) => format!("{name}={value}"),
            Source::File => format!(
                "daemon.containment = \"{value}\" in {}",
                self.file.display()
            ),
            Source::Default => format!("daemon.containment = \"{value}\""),
        }
    }

    /// The configured command of agent `name`, if any.
    pub fn agent_command(&self, name: &str) -> Option<&[String]> {
        self.agents.get(name)?.command.as_deref()
    }

    /// The auth method configured for agent `name`, if any.
    pub fn agent_auth(&self, name: &str) -> Option<&str> {
        self.agents.get(name)?.auth.as_deref()
    }

    /// Every effective value, in the file's order of sections.
    pub fn settings(&self) -> Vec<Setting> {
        let mut values: Vec<(String, Json)> = keys::KEYS
            .iter()
            .map(|key| (key.name.to_string(), key.show(self)))
            .collect();
        for (name, agent) in &self.agents {
            if let Some(command) = &agent.command {
                values.push((format!("agents.{name}.command"), json!(command)));
            }
            if let Some(auth) = &agent.auth {
                values.push((format!("agents.{name}.auth"), json!(auth)));
            }
        }
        let n = &self.notify;
        values.extend([
            ("notify.events".to_string(), json!(n.events)),
            ("notify.redact".into(), json!(n.redact)),
            (
                "notify.apns".into(),
                match &n.apns {
                    Some(a) => json!({
                        "key_path": a.key_path, "key_id": a.key_id, "team_id": a.team_id,
                        "topic": a.topic, "events": a.events,
                    }),
                    None => Json::Null,
                },
            ),
            (
                // Webhook URLs and headers often hold secrets: shown cut.
                "notify.webhook".into(),
                Json::Array(
                    n.webhooks
                        .iter()
                        .map(|w| {
                            json!({
                                "name": w.name, "url": w.url.as_deref().map(redact_url),
                                "events": w.events, "timeout_secs": w.timeout_secs,
                                "headers": w.headers.keys().collect::<Vec<_>>(),
                            })
                        })
                        .collect(),
                ),
            ),
            (
                "notify.command".into(),
                Json::Array(
                    n.commands
                        .iter()
                        .map(|c| {
                            json!({
                                "name": c.name, "argv": c.argv,
                                "events": c.events, "timeout_secs": c.timeout_secs,
                            })
                        })
                        .collect(),
                ),
            ),
        ]);
        let r = &self.remote;
        values.extend([
            (
                "remote.listen".to_string(),
                json!(r.listen.map(|a| a.to_string())),
            ),
            ("remote.tls_cert".into(), json!(r.tls_cert)),
            ("remote.tls_key".into(), json!(r.tls_key)),
            ("remote.hosts".into(), json!(r.hosts)),
            (
                "remote.pairing_code_seconds".into(),
                json!(r.pairing_code_lifetime.as_secs()),
            ),
            (
                "remote.heartbeat".into(),
                json!(crate::model::format_duration(r.heartbeat)),
            ),
        ]);
        values
            .into_iter()
            .map(|(key, value)| {
                let source = self.source(&key);
                Setting {
                    value,
                    source: source.as_str(),
                    env: match source {
                        Source::Env(name) => Some(name),
                        _ => None,
                    },
                    key,
                }
            })
            .collect()
    }
}

/// `https://user:pw@hooks.example.com/services/T0/B0/x` ->
/// `https://hooks.example.com/…`: enough to recognise, nothing to reuse.
fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let cut = if rest.len() > authority.len() {
        "/…"
    } else {
        ""
    };
    if scheme.is_empty() {
        format!("{host}{cut}")
    } else {
        format!("{scheme}://{host}{cut}")
    }
}

static LOADED: Mutex<Option<Arc<Config>>> = Mutex::new(None);

/// The configuration for `paths`, read once per process; its warnings are
/// printed on stderr the first time. Commands and the daemon use this.
pub fn load(paths: &Paths) -> Result<Arc<Config>> {
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(config) = loaded.as_ref().filter(|c| c.file == paths.config_file) {
        return Ok(config.clone());
    }
    let config = Arc::new(Config::read(paths)?);
    for warning in &config.warnings {
        print_warning(warning);
    }
    *loaded = Some(config.clone());
    Ok(config)
}

/// `warning: ...` on stderr, yellow on a terminal unless NO_COLOR is set.
pub fn print_warning(message: &str) {
    let color = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let label = console::Style::new()
        .yellow()
        .bold()
        .force_styling(color)
        .apply_to("warning:");
    let _ = writeln!(std::io::stderr().lock(), "{label} {message}");
}

#[cfg(test)]
mod tests;
