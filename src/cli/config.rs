use clap::Subcommand;
use serde_json::json;

use super::Ctx;
use crate::config::{print_warning, Config};
use crate::error::{exit, Result};

/// Every key, its default and what it does: the end of `m config --help`
/// and of `man m-config`, the scalar keys from the key table
/// (`config::keys`). docs/config.md says the same at more length.
pub fn keys_help() -> String {
    format!(
        "\
Keys, with their defaults (docs/config.md says more):

{}  [agents.NAME]
  command = [\"...\"]      the command that starts agent NAME
                         (NAME: one of `m agents`)
  auth = \"METHOD\"        the auth method m asks agent NAME to use
                         when it needs one (m never picks one)
  [notify]               notifications: events, redact, [notify.apns],
                         [[notify.webhook]], [[notify.command]]
                         (docs/config.md; check with `m notify test`)
  [remote]               the HTTPS API for phones (docs/api.md):
  listen = off           \"0.0.0.0:8443\" turns it on (M_REMOTE_LISTEN wins)
  tls_cert, tls_key      a real certificate (default: self-signed)
  hosts = []             names phones use (Host check, pairing URL)
  pairing_code_seconds = 600  how long an `m device pair` code works
  heartbeat = \"15s\"      how often a quiet event stream says it is alive

An unknown key is a warning; an invalid value an error (exit 2)
naming the key and the file. The daemon reads the file when it
starts; every other command, each time it runs.",
        crate::config::keys::help()
    )
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the configuration file's path (it need not exist).
    Path,
    /// Print every setting in effect and where it came from: default, file or env.
    Show {
        /// One JSON document: {file, exists, settings: [{key, value, source, env?}], warnings}.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(ctx: &Ctx, cmd: ConfigCommand) -> Result<u8> {
    match cmd {
        ConfigCommand::Path => {
            ctx.ui.line(ctx.paths.config_file.display().to_string())?;
            Ok(exit::OK)
        }
        ConfigCommand::Show { json } => {
            let config = Config::read(&ctx.paths)?;
            for warning in &config.warnings {
                print_warning(warning);
            }
            let settings = config.settings();
            if json {
                ctx.ui.json(&json!({
                    "file": config.file,
                    "exists": config.file_exists,
                    "settings": settings,
                    "warnings": config.warnings,
                }))?;
                return Ok(exit::OK);
            }
            let state = if config.file_exists {
                ""
            } else {
                " (not found: every value is a default)"
            };
            ctx.ui
                .line(ctx.ui.dim(format!("# {}{state}", config.file.display())))?;
            // Valid TOML: each setting a dotted key, where it came from a
            // comment; a setting with no value (none given) only a comment.
            let rows: Vec<(String, String)> = settings
                .iter()
                .map(|s| match toml_value(&s.value) {
                    Some(value) => (format!("{} = {value}", toml_key(&s.key)), source_text(s)),
                    None => (format!("# {} is not set", s.key), source_text(s)),
                })
                .collect();
            // Comments line up, but a long value does not push every other
            // line's comment out to its width.
            let width = rows
                .iter()
                .map(|(l, _)| l.len())
                .filter(|len| *len <= ALIGN_UP_TO)
                .max()
                .unwrap_or(0);
            for (line, source) in rows {
                ctx.ui.line(format!(
                    "{line:<width$}  {}",
                    ctx.ui.dim(format!("# {source}"))
                ))?;
            }
            Ok(exit::OK)
        }
    }
}

/// Lines longer than this get their comment two spaces after them.
const ALIGN_UP_TO: usize = 50;

/// A setting's key as TOML writes it: each part bare when it can be.
fn toml_key(key: &str) -> String {
    key.split('.')
        .map(|part| {
            let bare = !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if bare {
                part.to_string()
            } else {
                toml::Value::String(part.to_string()).to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The TOML form of a setting's value; TOML has no null, so a missing value
/// is left out (`None` for the whole value).
fn toml_value(value: &serde_json::Value) -> Option<toml::Value> {
    use serde_json::Value as Json;
    Some(match value {
        Json::Null => return None,
        Json::Bool(b) => toml::Value::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        Json::String(s) => toml::Value::String(s.clone()),
        Json::Array(items) => toml::Value::Array(items.iter().filter_map(toml_value).collect()),
        Json::Object(fields) => toml::Value::Table(
            fields
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), toml_value(v)?)))
                .collect(),
        ),
    })
}

fn source_text(setting: &crate::config::Setting) -> String {
    match setting.env {
        Some(var) => format!("env {var}"),
        None => setting.source.to_string(),
    }
}
