//! The `[notify]` section of the configuration file, as written, and its
//! validation into typed settings. Unknown keys are not refused here: the
//! configuration loader warns about them.
//!
//! ```toml
//! [notify]
//! events = ["approval.requested", "input.requested", "run.failed"]  # default: all
//! redact = true            # no code, command or prompt text to APNs or webhooks
//!                          # (hook commands run here and get the full text)
//!
//! [notify.apns]
//! key_path = "~/.config/m/AuthKey_ABCDE12345.p8"
//! key_id = "ABCDE12345"
//! team_id = "FGHIJ67890"
//! topic = "com.example.m"  # the app's bundle id
//!
//! [[notify.webhook]]
//! name = "ntfy"            # optional; default webhook-1, webhook-2, ...
//! url = "https://ntfy.sh/my-topic"
//! events = ["approval.requested"]   # optional: narrows [notify] events
//! headers = { Authorization = "Bearer tk_..." }
//! timeout_secs = 10
//!
//! [[notify.command]]
//! argv = ["/usr/local/bin/notify-me", "--quiet"]
//! timeout_secs = 30
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::model::Trigger;

const DEFAULT_WEBHOOK_TIMEOUT_SECS: f64 = 10.0;
const DEFAULT_COMMAND_TIMEOUT_SECS: f64 = 30.0;
const MAX_TIMEOUT_SECS: f64 = 300.0;

/// `[notify]` as written in the configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct NotifyConfig {
    /// Which events notify at all; every one when absent.
    pub events: Option<Vec<String>>,
    /// Send no code, command or prompt text to APNs or webhooks.
    pub redact: bool,
    pub apns: Option<ApnsConfig>,
    #[serde(rename = "webhook")]
    pub webhooks: Vec<WebhookConfig>,
    #[serde(rename = "command")]
    pub commands: Vec<CommandConfig>,
}

/// `[notify.apns]`: token authentication with a .p8 key.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ApnsConfig {
    pub key_path: Option<String>,
    pub key_id: Option<String>,
    pub team_id: Option<String>,
    pub topic: Option<String>,
    pub events: Option<Vec<String>>,
}

/// One `[[notify.webhook]]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct WebhookConfig {
    pub name: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub headers: BTreeMap<String, String>,
    pub timeout_secs: Option<f64>,
}

/// One `[[notify.command]]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct CommandConfig {
    pub name: Option<String>,
    pub argv: Vec<String>,
    pub events: Option<Vec<String>>,
    pub timeout_secs: Option<f64>,
}

/// The validated `[notify]` section. Each sink's `events` is already the
/// intersection of `[notify] events` and its own list.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifySettings {
    pub events: Vec<Trigger>,
    pub redact: bool,
    pub apns: Option<ApnsSettings>,
    pub webhooks: Vec<WebhookSettings>,
    pub commands: Vec<CommandSettings>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApnsSettings {
    /// Absolute (a leading `~/` is expanded).
    pub key_path: PathBuf,
    pub key_id: String,
    pub team_id: String,
    pub topic: String,
    pub events: Vec<Trigger>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    pub name: String,
    pub url: http::Uri,
    pub events: Vec<Trigger>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CommandSettings {
    pub name: String,
    pub argv: Vec<String>,
    pub events: Vec<Trigger>,
    pub timeout: Duration,
}

impl NotifyConfig {
    /// Validates the whole section; the first problem is the error, naming
    /// its key (for `m doctor` and configuration checks).
    pub fn validate(&self) -> Result<NotifySettings> {
        let (settings, mut problems) = self.validate_lenient();
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(problems.remove(0))
        }
    }

    /// Validates what it can: a sink with a problem is left out and its
    /// error returned, so the daemon runs on with the others. An invalid
    /// `[notify] events` falls back to every event.
    pub fn validate_lenient(&self) -> (NotifySettings, Vec<Error>) {
        let mut problems = Vec::new();
        let events = match parse_events("notify.events", self.events.as_deref(), Trigger::ALL) {
            Ok(events) => events,
            Err(e) => {
                problems.push(e);
                Trigger::ALL.to_vec()
            }
        };
        let apns = self
            .apns
            .as_ref()
            .and_then(|apns| keep(apns.validate(&events), &mut problems));
        let mut webhooks: Vec<WebhookSettings> = Vec::new();
        for (i, hook) in self.webhooks.iter().enumerate() {
            if let Some(hook) = keep(hook.validate(i + 1, &events), &mut problems) {
                if webhooks.iter().any(|w| w.name == hook.name) {
                    problems.push(duplicate_name("webhook", i + 1, &hook.name));
                } else {
                    webhooks.push(hook);
                }
            }
        }
        let mut commands: Vec<CommandSettings> = Vec::new();
        for (i, command) in self.commands.iter().enumerate() {
            if let Some(command) = keep(command.validate(i + 1, &events), &mut problems) {
                if commands.iter().any(|c| c.name == command.name) {
                    problems.push(duplicate_name("command", i + 1, &command.name));
                } else {
                    commands.push(command);
                }
            }
        }
        let settings = NotifySettings {
            events,
            redact: self.redact,
            apns,
            webhooks,
            commands,
        };
        (settings, problems)
    }
}

fn keep<T>(result: Result<T>, problems: &mut Vec<Error>) -> Option<T> {
    result.map_err(|e| problems.push(e)).ok()
}

fn duplicate_name(kind: &str, index: usize, name: &str) -> Error {
    invalid(
        &format!("notify.{kind}[{index}].name"),
        format!("'{name}' is already the name of another {kind}"),
    )
    .with_hint(format!("give each [[notify.{kind}]] its own name"))
}

fn invalid(key: &str, problem: impl std::fmt::Display) -> Error {
    Error::usage(format!("invalid notification setting {key}: {problem}"))
        .with_hint("fix it in the configuration file; `m doctor` checks it")
}

fn missing(key: &str) -> Error {
    Error::usage(format!("notification setting {key} is missing"))
        .with_hint("add it to the configuration file; `m doctor` checks it")
}

/// Parses an `events` list; `allowed` is what the enclosing level allows.
/// An absent list means all of `allowed`; a sink's list keeps only what the
/// section allows.
fn parse_events(key: &str, names: Option<&[String]>, allowed: &[Trigger]) -> Result<Vec<Trigger>> {
    let Some(names) = names else {
        return Ok(allowed.to_vec());
    };
    let mut events = Vec::new();
    for name in names {
        let trigger: Trigger = name.parse().map_err(|e: Error| {
            let error = invalid(key, e.message);
            match e.hint {
                Some(hint) => error.with_hint(hint),
                None => error,
            }
        })?;
        if allowed.contains(&trigger) && !events.contains(&trigger) {
            events.push(trigger);
        }
    }
    Ok(events)
}

fn parse_timeout(key: &str, secs: Option<f64>, default: f64) -> Result<Duration> {
    let secs = secs.unwrap_or(default);
    if !(secs > 0.0 && secs <= MAX_TIMEOUT_SECS) {
        return Err(invalid(
            key,
            format!("{secs} is not a number of seconds above 0 and at most {MAX_TIMEOUT_SECS}"),
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_name(key: &str, name: Option<&str>, default: String) -> Result<String> {
    let Some(name) = name else {
        return Ok(default);
    };
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(invalid(
            key,
            format!("'{name}' is not a name of up to 64 letters, digits, '-', '_' or '.'"),
        ));
    }
    Ok(name.to_string())
}

/// Apple's key and team ids are 10 upper-case letters and digits.
fn parse_apple_id(key: &str, value: Option<&str>, what: &str) -> Result<String> {
    let value = value.ok_or_else(|| missing(key))?.trim();
    if value.len() != 10 || !value.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(invalid(
            key,
            format!("'{value}' is not a 10-character {what}"),
        ));
    }
    Ok(value.to_ascii_uppercase())
}

impl ApnsConfig {
    fn validate(&self, allowed: &[Trigger]) -> Result<ApnsSettings> {
        let key_path = self
            .key_path
            .as_deref()
            .ok_or_else(|| missing("notify.apns.key_path"))?;
        let key_path = expand_home(key_path)
            .filter(|p| p.is_absolute())
            .ok_or_else(|| {
                invalid(
                    "notify.apns.key_path",
                    format!("'{key_path}' is not an absolute path (or one starting with ~/)"),
                )
            })?;
        let key_id = parse_apple_id(
            "notify.apns.key_id",
            self.key_id.as_deref(),
            "Key ID (it is in the key's file name: AuthKey_KEYID.p8)",
        )?;
        let team_id = parse_apple_id(
            "notify.apns.team_id",
            self.team_id.as_deref(),
            "Team ID (Apple developer account, Membership)",
        )?;
        let topic = self
            .topic
            .as_deref()
            .ok_or_else(|| missing("notify.apns.topic"))?
            .trim();
        let topic_ok = !topic.is_empty()
            && topic
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
        if !topic_ok {
            return Err(invalid(
                "notify.apns.topic",
                format!("'{topic}' is not an app bundle id (such as com.example.m)"),
            ));
        }
        Ok(ApnsSettings {
            key_path,
            key_id,
            team_id,
            topic: topic.to_string(),
            events: parse_events("notify.apns.events", self.events.as_deref(), allowed)?,
        })
    }
}

impl WebhookConfig {
    fn validate(&self, index: usize, allowed: &[Trigger]) -> Result<WebhookSettings> {
        let key = |field: &str| format!("notify.webhook[{index}].{field}");
        let name = parse_name(
            &key("name"),
            self.name.as_deref(),
            format!("webhook-{index}"),
        )?;
        let url = self.url.as_deref().ok_or_else(|| missing(&key("url")))?;
        let uri: http::Uri = url
            .parse()
            .map_err(|e| invalid(&key("url"), format!("'{url}' is not a URL: {e}")))?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http") | Some("https"));
        if !scheme_ok || uri.host().is_none() {
            return Err(invalid(
                &key("url"),
                format!("'{url}' is not an http:// or https:// URL with a host"),
            ));
        }
        let mut headers = Vec::new();
        for (header, value) in &self.headers {
            let header_key = key(&format!("headers.{header}"));
            let name = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| invalid(&header_key, "not a valid HTTP header name"))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| invalid(&header_key, "not a valid HTTP header value"))?;
            headers.push((name, value));
        }
        Ok(WebhookSettings {
            name,
            url: uri,
            events: parse_events(&key("events"), self.events.as_deref(), allowed)?,
            headers,
            timeout: parse_timeout(
                &key("timeout_secs"),
                self.timeout_secs,
                DEFAULT_WEBHOOK_TIMEOUT_SECS,
            )?,
        })
    }
}

impl CommandConfig {
    fn validate(&self, index: usize, allowed: &[Trigger]) -> Result<CommandSettings> {
        let key = |field: &str| format!("notify.command[{index}].{field}");
        let name = parse_name(
            &key("name"),
            self.name.as_deref(),
            format!("command-{index}"),
        )?;
        match self.argv.first() {
            None => return Err(missing(&key("argv"))),
            Some(program) if program.is_empty() => {
                return Err(invalid(
                    &key("argv"),
                    "the program (first element) is empty",
                ))
            }
            Some(_) => {}
        }
        Ok(CommandSettings {
            name,
            argv: self.argv.clone(),
            events: parse_events(&key("events"), self.events.as_deref(), allowed)?,
            timeout: parse_timeout(
                &key("timeout_secs"),
                self.timeout_secs,
                DEFAULT_COMMAND_TIMEOUT_SECS,
            )?,
        })
    }
}

/// Expands a leading `~/`; `None` when HOME is needed and unset.
fn expand_home(path: &str) -> Option<PathBuf> {
    match path.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME").map(|home| PathBuf::from(home).join(rest)),
        None => Some(PathBuf::from(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        notify: NotifyConfig,
    }

    fn parse(toml_text: &str) -> NotifyConfig {
        toml::from_str::<File>(toml_text).unwrap().notify
    }

    fn error_of(toml_text: &str) -> String {
        parse(toml_text).validate().unwrap_err().message
    }

    #[test]
    fn an_absent_section_notifies_every_event_through_no_sink() {
        let settings = parse("").validate().unwrap();
        assert_eq!(settings.events, Trigger::ALL);
        assert!(!settings.redact);
        assert_eq!(settings.apns, None);
        assert!(settings.webhooks.is_empty() && settings.commands.is_empty());
    }

    #[test]
    fn a_full_section_becomes_typed_settings() {
        let settings = parse(
            r#"
            [notify]
            events = ["approval.requested", "run.failed", "input.requested"]
            redact = true
            unknown_key = "is warned about elsewhere"

            [notify.apns]
            key_path = "/etc/m/AuthKey_ABCDE12345.p8"
            key_id = "abcde12345"
            team_id = "FGHIJ67890"
            topic = "com.example.m"

            [[notify.webhook]]
            url = "https://ntfy.example/topic"
            events = ["approval.requested", "run.completed"]
            headers = { Authorization = "Bearer x", "X-Priority" = "5" }
            timeout_secs = 2.5

            [[notify.webhook]]
            name = "slack"
            url = "http://127.0.0.1:9/hook"

            [[notify.command]]
            argv = ["notify-send", "m"]
            "#,
        )
        .validate()
        .unwrap();
        use Trigger::*;
        assert_eq!(
            settings.events,
            [ApprovalRequested, RunFailed, InputRequested]
        );
        assert!(settings.redact);
        let apns = settings.apns.unwrap();
        assert_eq!(apns.key_path, PathBuf::from("/etc/m/AuthKey_ABCDE12345.p8"));
        assert_eq!(apns.key_id, "ABCDE12345");
        assert_eq!(apns.team_id, "FGHIJ67890");
        assert_eq!(apns.topic, "com.example.m");
        assert_eq!(apns.events, settings.events);
        let hook = &settings.webhooks[0];
        assert_eq!(hook.name, "webhook-1");
        assert_eq!(hook.url.host(), Some("ntfy.example"));
        // run.completed is not in [notify] events, so the webhook never gets it.
        assert_eq!(hook.events, [ApprovalRequested]);
        assert_eq!(hook.headers.len(), 2);
        assert_eq!(hook.headers[0].0, "authorization");
        assert_eq!(hook.timeout, Duration::from_millis(2500));
        assert_eq!(settings.webhooks[1].name, "slack");
        assert_eq!(settings.webhooks[1].timeout, Duration::from_secs(10));
        let command = &settings.commands[0];
        assert_eq!(command.name, "command-1");
        assert_eq!(command.argv, ["notify-send", "m"]);
        assert_eq!(command.timeout, Duration::from_secs(30));
    }

    #[test]
    fn errors_name_the_key_at_fault() {
        let cases = [
            (
                r#"[notify]
                events = ["approval.requested", "run.exploded"]"#,
                "notify.events: unknown notification event 'run.exploded'",
            ),
            (
                r#"[notify.apns]
                key_id = "ABCDE12345"
                team_id = "FGHIJ67890"
                topic = "com.example.m""#,
                "notify.apns.key_path is missing",
            ),
            (
                r#"[notify.apns]
                key_path = "keys/AuthKey.p8"
                key_id = "ABCDE12345"
                team_id = "FGHIJ67890"
                topic = "com.example.m""#,
                "notify.apns.key_path: 'keys/AuthKey.p8' is not an absolute path",
            ),
            (
                r#"[notify.apns]
                key_path = "/k.p8"
                key_id = "ABC"
                team_id = "FGHIJ67890"
                topic = "com.example.m""#,
                "notify.apns.key_id: 'ABC' is not a 10-character Key ID",
            ),
            (
                r#"[notify.apns]
                key_path = "/k.p8"
                key_id = "ABCDE12345"
                team_id = "FGHIJ-6789"
                topic = "com.example.m""#,
                "notify.apns.team_id: 'FGHIJ-6789' is not a 10-character Team ID",
            ),
            (
                r#"[notify.apns]
                key_path = "/k.p8"
                key_id = "ABCDE12345"
                team_id = "FGHIJ67890""#,
                "notify.apns.topic is missing",
            ),
            (
                r#"[notify.apns]
                key_path = "/k.p8"
                key_id = "ABCDE12345"
                team_id = "FGHIJ67890"
                topic = "com example""#,
                "notify.apns.topic: 'com example' is not an app bundle id",
            ),
            (
                r#"[[notify.webhook]]
                name = "a""#,
                "notify.webhook[1].url is missing",
            ),
            (
                r#"[[notify.webhook]]
                url = "https://ok.example"
                [[notify.webhook]]
                url = "ftp://example.com/x""#,
                "notify.webhook[2].url: 'ftp://example.com/x' is not an http:// or https:// URL",
            ),
            (
                r#"[[notify.webhook]]
                url = "https://ok.example"
                headers = { "Bad Header" = "x" }"#,
                "notify.webhook[1].headers.Bad Header: not a valid HTTP header name",
            ),
            (
                r#"[[notify.webhook]]
                url = "https://ok.example"
                headers = { X = "line\nbreak" }"#,
                "notify.webhook[1].headers.X: not a valid HTTP header value",
            ),
            (
                r#"[[notify.webhook]]
                url = "https://ok.example"
                timeout_secs = 0"#,
                "notify.webhook[1].timeout_secs: 0 is not a number of seconds",
            ),
            (
                r#"[[notify.webhook]]
                url = "https://ok.example"
                events = ["approval"]"#,
                "notify.webhook[1].events: unknown notification event 'approval'",
            ),
            (
                r#"[[notify.webhook]]
                name = "x"
                url = "https://a.example"
                [[notify.webhook]]
                name = "x"
                url = "https://b.example""#,
                "notify.webhook[2].name: 'x' is already the name",
            ),
            (
                r#"[[notify.command]]
                name = "hook""#,
                "notify.command[1].argv is missing",
            ),
            (
                r#"[[notify.command]]
                argv = [""]"#,
                "notify.command[1].argv: the program (first element) is empty",
            ),
            (
                r#"[[notify.command]]
                argv = ["x"]
                timeout_secs = 1000"#,
                "notify.command[1].timeout_secs: 1000 is not a number of seconds",
            ),
            (
                r#"[[notify.command]]
                name = "no spaces please"
                argv = ["x"]"#,
                "notify.command[1].name: 'no spaces please' is not a name",
            ),
        ];
        for (text, expected) in cases {
            let message = error_of(text);
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }
    }

    #[test]
    fn unknown_events_list_the_known_ones_in_the_hint() {
        let error = parse("[notify]\nevents = [\"nope\"]")
            .validate()
            .unwrap_err();
        let hint = error.hint.unwrap();
        for trigger in Trigger::ALL {
            assert!(hint.contains(trigger.as_str()), "{hint}");
        }
    }

    #[test]
    fn lenient_validation_keeps_the_good_sinks_and_reports_the_bad() {
        let config = parse(
            r#"
            [notify.apns]
            key_path = "/k.p8"
            [[notify.webhook]]
            url = "not a url"
            [[notify.webhook]]
            url = "https://good.example/hook"
            [[notify.command]]
            argv = ["true"]
            "#,
        );
        let (settings, problems) = config.validate_lenient();
        assert_eq!(settings.apns, None);
        assert_eq!(settings.webhooks.len(), 1);
        assert_eq!(settings.webhooks[0].name, "webhook-2");
        assert_eq!(settings.commands.len(), 1);
        let messages: Vec<String> = problems.into_iter().map(|p| p.message).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].contains("notify.apns.key_id is missing"));
        assert!(messages[1].contains("notify.webhook[1].url"));
    }

    #[test]
    fn a_home_relative_key_path_is_expanded() {
        let Some(home) = std::env::var_os("HOME") else {
            return;
        };
        let settings = parse(
            r#"[notify.apns]
               key_path = "~/keys/AuthKey.p8"
               key_id = "ABCDE12345"
               team_id = "FGHIJ67890"
               topic = "com.example.m""#,
        )
        .validate()
        .unwrap();
        assert_eq!(
            settings.apns.unwrap().key_path,
            PathBuf::from(home).join("keys/AuthKey.p8")
        );
    }
}
