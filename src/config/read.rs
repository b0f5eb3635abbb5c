//! Reading the file and the environment into a [`Config`]: the sections,
//! the value readers the table of keys (`keys.rs`) uses, the error for an
//! invalid value and the warning (with a "did you mean") for an unknown key.

use std::path::PathBuf;
use std::time::Duration;

use toml::{Table, Value};

use super::{keys, AgentConfig, Config, Source, MAX_GRACE_SECONDS, MIN_ANSWER_SECONDS};
use crate::error::{Error, Result};
use crate::model::{parse_duration, ApprovalType};
use crate::presets;

impl Config {
    pub(super) fn invalid(&self, key: &str, why: impl std::fmt::Display) -> Error {
        Error::usage(format!(
            "invalid value for `{key}` in {}: {why}",
            self.file.display()
        ))
        .with_hint("fix or remove it; `m config --help` lists every key and its allowed values")
    }

    pub(super) fn unknown(&mut self, key: &str, known: &[&str]) {
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

    pub(super) fn apply_file(&mut self, text: &str) -> Result<()> {
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
                            "heartbeat" => {
                                self.remote.heartbeat = self.heartbeat(&full, &value)?;
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
                                        "heartbeat",
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
    pub(super) fn notify(&mut self, value: Value) -> Result<()> {
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

    pub(super) fn section(&self, key: &str, value: Value) -> Result<Table> {
        match value {
            Value::Table(table) => Ok(table),
            other => Err(self.invalid(
                key,
                format!("expected a section `[{key}]`, found {}", shown(&other)),
            )),
        }
    }

    pub(super) fn agent(&mut self, name: &str, value: Value) -> Result<()> {
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

    pub(super) fn boolean(&self, key: &str, value: &Value) -> Result<bool> {
        value.as_bool().ok_or_else(|| {
            self.invalid(
                key,
                format!("expected true or false, found {}", shown(value)),
            )
        })
    }

    pub(super) fn text(&self, key: &str, value: &Value) -> Result<String> {
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.invalid(key, format!("expected a string, found {}", shown(value))))
    }

    /// A file path; `~/` is the home directory.
    pub(super) fn path(&self, key: &str, value: &Value) -> Result<PathBuf> {
        let text = self.text(key, value)?;
        match (text.strip_prefix("~/"), std::env::var_os("HOME")) {
            (Some(rest), Some(home)) => Ok(PathBuf::from(home).join(rest)),
            _ => Ok(PathBuf::from(text)),
        }
    }

    /// A duration written as `"10m"` or `"2h"` (or a whole number of
    /// seconds); zero means none.
    pub(super) fn duration(&self, key: &str, value: &Value) -> Result<Option<Duration>> {
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
    pub(super) fn named<T: std::str::FromStr<Err = Error>>(
        &self,
        key: &str,
        value: &Value,
    ) -> Result<T> {
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

    /// How often an idle event stream says it is alive: often enough for
    /// clients and proxies that drop a quiet connection (many do after
    /// 60 s), at least a second apart.
    fn heartbeat(&self, key: &str, value: &Value) -> Result<Duration> {
        let interval = match value {
            Value::String(text) => parse_duration(text).map_err(|why| self.invalid(key, why))?,
            Value::Integer(n) if *n >= 0 => Duration::from_secs(*n as u64),
            other => {
                return Err(self.invalid(
                    key,
                    format!("expected a duration like \"15s\", found {}", shown(other)),
                ))
            }
        };
        if !(1..=3600).contains(&interval.as_secs()) {
            return Err(self.invalid(
                key,
                format!(
                    "expected from 1s to 1h, found {}",
                    crate::model::format_duration(interval)
                ),
            ));
        }
        Ok(interval)
    }

    pub(super) fn whole_seconds(&self, key: &str, value: &Value) -> Result<u64> {
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

    pub(super) fn grace(&self, key: &str, value: &Value) -> Result<Duration> {
        self.seconds(key, value, 0.0, MAX_GRACE_SECONDS)
    }

    pub(super) fn answer_timeout(&self, key: &str, value: &Value) -> Result<Duration> {
        self.seconds(key, value, MIN_ANSWER_SECONDS, MAX_GRACE_SECONDS)
    }

    /// A number of seconds, whole or not, from `min` to `max`.
    fn seconds(&self, key: &str, value: &Value, min: f64, max: f64) -> Result<Duration> {
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
        if !(min..=max).contains(&seconds) {
            return Err(self.invalid(
                key,
                format!("{seconds} is out of range ({min} to {max} seconds)"),
            ));
        }
        Ok(Duration::from_secs_f64(seconds))
    }

    pub(super) fn strings(&self, key: &str, value: &Value) -> Result<Vec<String>> {
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

    pub(super) fn approval_types(&self, key: &str, value: &Value) -> Result<Vec<ApprovalType>> {
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

    pub(super) fn commands(&self, key: &str, value: &Value) -> Result<Vec<String>> {
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

    pub(super) fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<()> {
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

/// Levenshtein distance, for "did you mean" on unknown keys.
fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

pub(super) fn edit_distance(a: &str, b: &str) -> usize {
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
