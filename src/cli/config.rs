use clap::Subcommand;
use serde_json::json;

use super::Ctx;
use crate::config::{print_warning, Config};
use crate::error::{exit, Result};

/// Every key, its default and what it does: the end of `m config --help`
/// and of `man m-config`. docs/config.md says the same at more length.
pub const KEYS_HELP: &str = "\
Keys, with their defaults (docs/config.md says more):

  [daemon]
  grace_seconds = 5      seconds between SIGTERM and SIGKILL for an
                         agent; env M_GRACE_MS (milliseconds) wins
  autostart = true       commands start a daemon when none runs;
                         env M_NO_AUTOSTART=1 wins
  answer_timeout_seconds = 10
                         a daemon silent this long does not answer
                         (exit 5); env M_ANSWER_TIMEOUT_MS wins
  [run]
  review = false         every run holds its diff for approval
                         (--review / --no-review for one run)
  idle_timeout_seconds = 0
                         a conversational agent run idle this long
                         is done (0: never)
  startup_timeout_seconds = 60
                         an ACP agent slower to start fails its run
  [approvals]
  auto_approve = []      types approved without asking:
                         command, diff, generic
  allow_commands = []    command prefixes approved without asking,
                         e.g. [\"cargo test\"], never a command line
                         with shell syntax (&& ; | $( ...); both lists
                         are added to each run's --auto-approve and --allow
  [agents.NAME]
  command = [\"...\"]      the command that starts agent NAME
                         (NAME: one of `m agents`)
  [notify]               notifications: events, redact, [notify.apns],
                         [[notify.webhook]], [[notify.command]]
                         (docs/config.md; check with `m notify test`)

An unknown key is a warning; an invalid value an error (exit 2)
naming the key and the file. The daemon reads the file when it
starts; every other command, each time it runs.";

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
            let rows: Vec<(String, String)> = settings
                .iter()
                .map(|s| (format!("{} = {}", s.key, s.value), source_text(s)))
                .collect();
            let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
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

fn source_text(setting: &crate::config::Setting) -> String {
    match setting.env {
        Some(var) => format!("env {var}"),
        None => setting.source.to_string(),
    }
}
