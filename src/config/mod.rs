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
//! To add a section: a field on [`Config`], a branch in `apply_file`, its
//! keys in `settings`, and a line in docs/config.md (a test checks it).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value as Json};
use toml::{Table, Value};

pub mod keys;
pub mod notify;

pub use self::notify::NotifyConfig;

use crate::error::{Error, Result};
use crate::model::{parse_duration, ApprovalType, Containment, OnBusy, OnTimeout};
use crate::paths::Paths;
use crate::presets;

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
}

impl Default for RemoteConfig {
    fn default() -> RemoteConfig {
        RemoteConfig {
            listen: None,
            tls_cert: None,
            tls_key: None,
            hosts: Vec::new(),
            pairing_code_lifetime: Duration::from_secs(600),
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

    fn invalid(&self, key: &str, why: impl std::fmt::Display) -> Error {
        Error::usage(format!(
            "invalid value for `{key}` in {}: {why}",
            self.file.display()
        ))
        .with_hint("fix or remove it; `m config --help` lists every key and its allowed values")
    }

    fn unknown(&mut self, key: &str, known: &[&str]) {
        let last = key.rsplit('.').next().unwrap_or(key);
        // A typo, or a shortened word (`grace_secs`, `startup_timeout`).
        let close = |k: &&&str| {
            edit_distance(k, last) <= 2
                || (last.len() >= 4 && k.starts_with(last))
                || common_prefix(k, last) >= 6
        };
        let guess = known
            .iter()
            .filter(close)
            .min_by_key(|k| edit_distance(k, last))
            .map(|k| format!(" (did you mean `{k}`?)"))
            .unwrap_or_default();
        self.warnings.push(format!(
            "unknown key `{key}` in {} is ignored{guess}",
            self.file.display()
        ));
    }

    fn apply_file(&mut self, text: &str) -> Result<()> {
        let table: Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
            Error::usage(format!(
                "cannot read {}: it is not valid TOML{at}: {}",
                self.file.display(),
                e.message().trim()
            ))
            .with_hint("fix the line, or move the file aside to use the defaults")
        })?;
        const SECTIONS: &[&str] = &[
            "daemon",
            "run",
            "approvals",
            "retention",
            "agents",
            "notify",
            "remote",
        ];
        for (section, value) in table {
            match section.as_str() {
                "daemon" | "run" | "approvals" | "retention" => {
                    for (name, value) in self.section(&section, value)? {
                        let full = format!("{section}.{name}");
                        match keys::find(&full) {
                            Some(key) => {
                                key.read(self, &value)?;
                                self.sources.insert(full, Source::File);
                            }
                            None => self.unknown(&full, &keys::in_section(&section)),
                        }
                    }
                }
                "agents" => {
                    for (name, value) in self.section(&section, value)? {
                        self.agent(&name, value)?;
                    }
                }
                "notify" => self.notify(value)?,
                "remote" => {
                    for (key, value) in self.section(&section, value)? {
                        let full = format!("remote.{key}");
                        match key.as_str() {
                            "listen" => {
                                let text = self.text(&full, &value)?;
                                self.remote.listen = Some(
                                    parse_listen(&text).map_err(|why| self.invalid(&full, why))?,
                                );
                            }
                            "tls_cert" => {
                                self.remote.tls_cert = Some(self.path(&full, &value)?);
                            }
                            "tls_key" => self.remote.tls_key = Some(self.path(&full, &value)?),
                            "hosts" => {
                                let hosts = self.strings(&full, &value)?;
                                if let Some(bad) = hosts.iter().find(|h| !valid_host(h)) {
                                    return Err(self.invalid(
                                        &full,
                                        format!("`{bad}` is not a host name (no port, no scheme)"),
                                    ));
                                }
                                self.remote.hosts =
                                    hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
                            }
                            "pairing_code_seconds" => {
                                let secs = self.whole_seconds(&full, &value)?;
                                if secs == 0 {
                                    return Err(
                                        self.invalid(&full, "expected at least 1 second, found 0")
                                    );
                                }
                                self.remote.pairing_code_lifetime = Duration::from_secs(secs);
                            }
                            _ => {
                                self.unknown(
                                    &full,
                                    &[
                                        "listen",
                                        "tls_cert",
                                        "tls_key",
                                        "hosts",
                                        "pairing_code_seconds",
                                    ],
                                );
                                continue;
                            }
                        }
                        self.sources.insert(full, Source::File);
                    }
                    if self.remote.tls_cert.is_some() != self.remote.tls_key.is_some() {
                        return Err(self.invalid(
                            "remote.tls_cert",
                            "`tls_cert` and `tls_key` go together: give both, or neither for the self-signed certificate",
                        ));
                    }
                }
                _ => self.unknown(&section, SECTIONS),
            }
        }
        Ok(())
    }

    /// `[notify]`: unknown keys warned about, then parsed into
    /// [`NotifyConfig`]; a value of the wrong type is an error naming it.
    fn notify(&mut self, value: Value) -> Result<()> {
        const TOP: &[&str] = &["events", "redact", "apns", "webhook", "command"];
        const APNS: &[&str] = &["key_path", "key_id", "team_id", "topic", "events"];
        const WEBHOOK: &[&str] = &["name", "url", "events", "headers", "timeout_secs"];
        const COMMAND: &[&str] = &["name", "argv", "events", "timeout_secs"];
        let table = self.section("notify", value)?;
        for (key, value) in &table {
            let full = format!("notify.{key}");
            let (known, items): (&[&str], Vec<(String, &Value)>) = match key.as_str() {
                "apns" => (APNS, vec![(full.clone(), value)]),
                "webhook" | "command" => (
                    if key == "webhook" { WEBHOOK } else { COMMAND },
                    value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .enumerate()
                        .map(|(i, item)| (format!("{full}[{}]", i + 1), item))
                        .collect(),
                ),
                _ if TOP.contains(&key.as_str()) => (&[], Vec::new()),
                _ => {
                    self.unknown(&full, TOP);
                    continue;
                }
            };
            for (prefix, item) in items {
                for field in item.as_table().into_iter().flat_map(|t| t.keys()) {
                    if !known.contains(&field.as_str()) {
                        self.unknown(&format!("{prefix}.{field}"), known);
                    }
                }
            }
            self.sources.insert(full, Source::File);
        }
        self.notify = Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                // toml says where: "...\nin `webhook.url`".
                let text = e.to_string();
                let key = text
                    .lines()
                    .find_map(|l| l.strip_prefix("in `")?.strip_suffix('`'))
                    .map(|k| format!("notify.{k}"))
                    .unwrap_or_else(|| "notify".into());
                self.invalid(&key, e.message())
            })?;
        Ok(())
    }

    fn section(&self, key: &str, value: Value) -> Result<Table> {
        match value {
            Value::Table(table) => Ok(table),
            other => Err(self.invalid(
                key,
                format!("expected a section `[{key}]`, found {}", shown(&other)),
            )),
        }
    }

    fn agent(&mut self, name: &str, value: Value) -> Result<()> {
        let key = format!("agents.{name}");
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            return Err(self.invalid(
                &key,
                "an agent's name may only have letters, digits, `-` and `_`",
            ));
        }
        let table = self.section(&key, value)?;
        let mut agent = AgentConfig {
            command: None,
            auth: None,
        };
        for (field, value) in table {
            let full = format!("{key}.{field}");
            match field.as_str() {
                "command" => {
                    let argv = self.strings(&full, &value)?;
                    if argv.first().is_none_or(|program| program.trim().is_empty()) {
                        return Err(self.invalid(
                            &full,
                            "expected the command and its arguments, e.g. [\"claude-agent-acp\"]",
                        ));
                    }
                    self.sources.insert(full, Source::File);
                    agent.command = Some(argv);
                }
                "auth" => {
                    let method = match value {
                        Value::String(s) if !s.trim().is_empty() => s,
                        other => {
                            return Err(self.invalid(
                                &full,
                                format!(
                                    "expected the id of one of the agent's auth methods, e.g. \"gemini-api-key\", found {}",
                                    shown(&other)
                                ),
                            ))
                        }
                    };
                    self.sources.insert(full, Source::File);
                    agent.auth = Some(method);
                }
                _ => self.unknown(&full, &["command", "auth"]),
            }
        }
        if agent.command.is_none() && agent.auth.is_none() {
            return Err(self.invalid(
                &key,
                format!("`[{key}]` needs a `command` or an `auth`, e.g. command = [\"{name}\"]"),
            ));
        }
        if presets::find(name).is_none() {
            let names: Vec<&str> = presets::PRESETS.iter().map(|p| p.name).collect();
            self.unknown(&key, &names);
            return Ok(());
        }
        self.agents.insert(name.to_string(), agent);
        Ok(())
    }

    fn boolean(&self, key: &str, value: &Value) -> Result<bool> {
        value.as_bool().ok_or_else(|| {
            self.invalid(
                key,
                format!("expected true or false, found {}", shown(value)),
            )
        })
    }

    fn text(&self, key: &str, value: &Value) -> Result<String> {
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.invalid(key, format!("expected a string, found {}", shown(value))))
    }

    /// A file path; `~/` is the home directory.
    fn path(&self, key: &str, value: &Value) -> Result<PathBuf> {
        let text = self.text(key, value)?;
        match (text.strip_prefix("~/"), std::env::var_os("HOME")) {
            (Some(rest), Some(home)) => Ok(PathBuf::from(home).join(rest)),
            _ => Ok(PathBuf::from(text)),
        }
    }

    /// A duration written as `"10m"` or `"2h"` (or a whole number of
    /// seconds); zero means none.
    fn duration(&self, key: &str, value: &Value) -> Result<Option<Duration>> {
        let duration = match value {
            Value::String(text) => parse_duration(text).map_err(|why| self.invalid(key, why))?,
            Value::Integer(n) if *n >= 0 => Duration::from_secs(*n as u64),
            other => {
                return Err(self.invalid(
                    key,
                    format!(
                        "expected a duration like \"10m\" or \"2h\" (0: none), found {}",
                        shown(other)
                    ),
                ))
            }
        };
        Ok((!duration.is_zero()).then_some(duration))
    }

    /// One of a closed set of names (`"queue"`, `"reject"`...).
    fn named<T: std::str::FromStr<Err = Error>>(&self, key: &str, value: &Value) -> Result<T> {
        let text = value.as_str().ok_or_else(|| {
            self.invalid(key, format!("expected a string, found {}", shown(value)))
        })?;
        text.parse().map_err(|err: Error| {
            let why = match err.hint {
                Some(hint) => format!("{}; {hint}", err.message),
                None => err.message,
            };
            self.invalid(key, why)
        })
    }

    fn whole_seconds(&self, key: &str, value: &Value) -> Result<u64> {
        match value {
            Value::Integer(n) if *n >= 0 => Ok(*n as u64),
            other => Err(self.invalid(
                key,
                format!(
                    "expected a whole number of seconds (0: never), found {}",
                    shown(other)
                ),
            )),
        }
    }

    fn grace(&self, key: &str, value: &Value) -> Result<Duration> {
        let seconds = match value {
            Value::Integer(n) => *n as f64,
            Value::Float(f) => *f,
            other => {
                return Err(self.invalid(
                    key,
                    format!("expected a number of seconds, found {}", shown(other)),
                ))
            }
        };
        if !(0.0..=MAX_GRACE_SECONDS).contains(&seconds) {
            return Err(self.invalid(
                key,
                format!("{seconds} is out of range (0 to {MAX_GRACE_SECONDS} seconds)"),
            ));
        }
        Ok(Duration::from_secs_f64(seconds))
    }

    fn answer_timeout(&self, key: &str, value: &Value) -> Result<Duration> {
        let seconds = match value {
            Value::Integer(n) => *n as f64,
            Value::Float(f) => *f,
            other => {
                return Err(self.invalid(
                    key,
                    format!("expected a number of seconds, found {}", shown(other)),
                ))
            }
        };
        if !(MIN_ANSWER_SECONDS..=MAX_GRACE_SECONDS).contains(&seconds) {
            return Err(self.invalid(
                key,
                format!(
                    "{seconds} is out of range ({MIN_ANSWER_SECONDS} to {MAX_GRACE_SECONDS} seconds)"
                ),
            ));
        }
        Ok(Duration::from_secs_f64(seconds))
    }

    fn strings(&self, key: &str, value: &Value) -> Result<Vec<String>> {
        let expected = || {
            self.invalid(
                key,
                format!("expected a list of strings, found {}", shown(value)),
            )
        };
        let Value::Array(items) = value else {
            return Err(expected());
        };
        items
            .iter()
            .map(|item| item.as_str().map(str::to_string).ok_or_else(expected))
            .collect()
    }

    fn approval_types(&self, key: &str, value: &Value) -> Result<Vec<ApprovalType>> {
        let mut types = Vec::new();
        for name in self.strings(key, value)? {
            let t: ApprovalType = name.parse().map_err(|_| {
                self.invalid(
                    key,
                    format!(
                        "`{name}` is not an approval type (use {})",
                        ApprovalType::ALL
                            .iter()
                            .map(|t| t.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
            if !types.contains(&t) {
                types.push(t);
            }
        }
        Ok(types)
    }

    fn commands(&self, key: &str, value: &Value) -> Result<Vec<String>> {
        let mut commands = Vec::new();
        for command in self.strings(key, value)? {
            let words = crate::policy::parse_allow_rule(&command)
                .map_err(|reason| self.invalid(key, &reason))?;
            if !commands.contains(&words) {
                commands.push(words);
            }
        }
        Ok(commands)
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<()> {
        if let Some(ms) = env("M_GRACE_MS").filter(|v| !v.is_empty()) {
            let ms: u64 = ms.trim().parse().map_err(|_| {
                Error::usage(format!(
                    "invalid value for M_GRACE_MS: `{ms}` is not a whole number of milliseconds"
                ))
                .with_hint("unset it to use `daemon.grace_seconds` from the config file")
            })?;
            self.daemon.grace = Duration::from_millis(ms);
            self.sources
                .insert("daemon.grace_seconds".into(), Source::Env("M_GRACE_MS"));
        }
        if let Some(ms) = env("M_ANSWER_TIMEOUT_MS").filter(|v| !v.is_empty()) {
            let ms = ms
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|ms| *ms as f64 >= MIN_ANSWER_SECONDS * 1000.0)
                .ok_or_else(|| {
                    Error::usage(format!(
                        "invalid value for M_ANSWER_TIMEOUT_MS: `{ms}` is not a whole number of milliseconds of at least {}",
                        MIN_ANSWER_SECONDS * 1000.0
                    ))
                    .with_hint("unset it to use `daemon.answer_timeout_seconds` from the config file")
                })?;
            self.daemon.answer_timeout = Duration::from_millis(ms);
            self.sources.insert(
                "daemon.answer_timeout_seconds".into(),
                Source::Env("M_ANSWER_TIMEOUT_MS"),
            );
        }
        if let Some(value) = env("M_NO_AUTOSTART").filter(|v| !v.is_empty()) {
            self.daemon.autostart = match value.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" => false,
                "0" | "false" | "no" => true,
                _ => {
                    return Err(Error::usage(format!(
                        "invalid value for M_NO_AUTOSTART: `{value}` (use 1 to keep clients from starting a daemon, 0 to let them)"
                    ))
                    .with_hint("unset it to use `daemon.autostart` from the config file"))
                }
            };
            self.sources
                .insert("daemon.autostart".into(), Source::Env("M_NO_AUTOSTART"));
        }
        if let Some(value) = env("M_CONTAINMENT").filter(|v| !v.trim().is_empty()) {
            self.daemon.containment = value.trim().parse().map_err(|e: Error| {
                Error::usage(format!("invalid value for M_CONTAINMENT: {}", e.message))
                    .with_hint("use auto, cgroup or keeper, or unset it to use `daemon.containment` from the config file")
            })?;
            self.sources
                .insert("daemon.containment".into(), Source::Env("M_CONTAINMENT"));
        }
        if let Some(listen) = env("M_REMOTE_LISTEN").filter(|v| !v.trim().is_empty()) {
            self.remote.listen = Some(parse_listen(&listen).map_err(|why| {
                Error::usage(format!("invalid value for M_REMOTE_LISTEN: {why}"))
                    .with_hint("unset it to use `remote.listen` from the config file")
            })?);
            self.sources
                .insert("remote.listen".into(), Source::Env("M_REMOTE_LISTEN"));
        }
        Ok(())
    }
}

/// `ADDR:PORT` for the remote listener: an IP address (`0.0.0.0` for every
/// interface, `[::1]` for IPv6) and a port (0 picks a free one).
fn parse_listen(text: &str) -> std::result::Result<std::net::SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "`{}` is not an address and port, such as \"0.0.0.0:8443\" or \"127.0.0.1:0\"",
            text.trim()
        )
    })
}

/// A DNS name or an IP address, without port or scheme.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && (host.parse::<std::net::IpAddr>().is_ok()
            || host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            }))
}

/// A value as an error message shows it: its type and its text.
fn shown(value: &Value) -> String {
    match value {
        Value::Table(_) => "a table".into(),
        Value::Array(_) => format!("an array {value}"),
        other => format!("{} {other}", other.type_str()),
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

/// Levenshtein distance, for "did you mean" on unknown keys.
fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(cur)
            };
            prev = cur;
        }
    }
    row[b.len()]
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
mod tests {
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
            "#,
        )
        .unwrap();
        assert_eq!(config.daemon.grace, Duration::from_millis(2500));
        assert_eq!(config.remote.listen, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(config.remote.hosts, ["box.tail1234.ts.net", "192.0.2.7"]);
        assert_eq!(config.remote.pairing_code_lifetime, Duration::from_secs(60));
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
            23,
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
                err.message.contains(&format!("`{key}`"))
                    && err.message.contains("/cfg/config.toml"),
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
}
