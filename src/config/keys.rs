//! The table of keys: every key of `[daemon]`, `[run]`, `[approvals]` and
//! `[retention]`, written once with its name, what `m config --help` says of
//! it, how the file's value is read, and how `m config show` shows the value
//! in effect.
//! The parser, the known keys (for the "did you mean" of an unknown one),
//! `Config::settings` and the help are all made from it, as ripgrep's flag
//! definitions make its parser, help and man page; a key's default is the
//! `Config::defaults` value, shown through `show`.
//!
//! A new key is a field with its default (`config/mod.rs`), one entry here
//! and its line in docs/config.md (`tests/docs.rs` checks that one).
//! `[agents.NAME]` and `[notify]` are tables of tables, read on their own.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value as Json};
use toml::Value;

use super::Config;
use crate::error::Result;
use crate::model::{format_duration, OnTimeout};

pub struct Key {
    /// `section.key`, as in the file and `m config show`.
    pub name: &'static str,
    /// What `m config --help` says, in lines of at most 47 characters.
    pub help: &'static str,
    /// Reads the file's value (`name` for the error) into the config.
    read: fn(&mut Config, &str, &Value) -> Result<()>,
    /// The value in effect, as `m config show` prints it.
    show: fn(&Config) -> Json,
}

impl Key {
    pub(super) fn read(&self, config: &mut Config, value: &Value) -> Result<()> {
        (self.read)(config, self.name, value)
    }

    pub fn show(&self, config: &Config) -> Json {
        (self.show)(config)
    }

    /// The section it belongs to (`run`), and its name there (`timeout`).
    pub fn split(&self) -> (&'static str, &'static str) {
        self.name.split_once('.').unwrap_or(("", self.name))
    }
}

/// The key named `name` (`run.timeout`).
pub fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|key| key.name == name)
}

/// The names of the keys of `section`, as written there.
pub fn in_section(section: &str) -> Vec<&'static str> {
    KEYS.iter()
        .map(Key::split)
        .filter(|(s, _)| *s == section)
        .map(|(_, name)| name)
        .collect()
}

/// The keys of the table, their defaults and help, as `m config --help`
/// lists them: `  key = default` with the help beside it, or below it
/// when the two do not fit.
pub fn help() -> String {
    const COLUMN: usize = 25;
    let defaults = Config::defaults(Path::new(""));
    let mut out = String::new();
    let mut section = "";
    for key in KEYS {
        let (in_section, name) = key.split();
        if in_section != section {
            section = in_section;
            out.push_str(&format!("  [{section}]\n"));
        }
        let left = format!("  {name} = {}", key.show(&defaults));
        let mut lines = key.help.lines();
        if left.len() < COLUMN {
            let first = lines.next().unwrap_or_default();
            out.push_str(&format!("{left:COLUMN$}{first}\n"));
        } else {
            out.push_str(&format!("{left}\n"));
        }
        for line in lines {
            out.push_str(&format!("{:COLUMN$}{line}\n", ""));
        }
    }
    out
}

/// Seconds as a number, whole when they are.
fn seconds(duration: Duration) -> Json {
    let secs = duration.as_secs_f64();
    if secs.fract() == 0.0 {
        json!(secs as u64)
    } else {
        json!(secs)
    }
}

/// A duration as typed (`"2h"`), 0 for none.
fn duration(duration: Option<Duration>) -> Json {
    match duration {
        Some(duration) => json!(format_duration(duration)),
        None => json!(0),
    }
}

pub const KEYS: &[Key] = &[
    Key {
        name: "daemon.grace_seconds",
        help: "seconds between SIGTERM and SIGKILL for an\n\
               agent; env M_GRACE_MS (milliseconds) wins",
        read: |c, k, v| {
            c.daemon.grace = c.grace(k, v)?;
            Ok(())
        },
        show: |c| seconds(c.daemon.grace),
    },
    Key {
        name: "daemon.autostart",
        help: "commands start a daemon when none runs;\n\
               env M_NO_AUTOSTART=1 wins",
        read: |c, k, v| {
            c.daemon.autostart = c.boolean(k, v)?;
            Ok(())
        },
        show: |c| json!(c.daemon.autostart),
    },
    Key {
        name: "daemon.answer_timeout_seconds",
        help: "a daemon silent this long does not answer\n\
               (exit 5); env M_ANSWER_TIMEOUT_MS wins",
        read: |c, k, v| {
            c.daemon.answer_timeout = c.answer_timeout(k, v)?;
            Ok(())
        },
        show: |c| seconds(c.daemon.answer_timeout),
    },
    Key {
        name: "daemon.containment",
        help: "a cgroup v2 per run where the daemon can\n\
               make one (\"auto\"), always (\"cgroup\"), or\n\
               the keeper alone (\"keeper\"); env\n\
               M_CONTAINMENT wins",
        read: |c, k, v| {
            c.daemon.containment = c.named(k, v)?;
            Ok(())
        },
        show: |c| json!(c.daemon.containment),
    },
    Key {
        name: "run.review",
        help: "every run holds its diff for approval\n\
               (--review / --no-review for one run)",
        read: |c, k, v| {
            c.run.review = c.boolean(k, v)?;
            Ok(())
        },
        show: |c| json!(c.run.review),
    },
    Key {
        name: "run.idle_timeout_seconds",
        help: "a conversational agent run idle this long\n\
               is done (0: never)",
        read: |c, k, v| {
            let secs = c.whole_seconds(k, v)?;
            c.run.idle_timeout = (secs > 0).then(|| Duration::from_secs(secs));
            Ok(())
        },
        show: |c| json!(c.run.idle_timeout.map_or(0, |d| d.as_secs())),
    },
    Key {
        name: "run.startup_timeout_seconds",
        help: "an ACP agent slower to start fails its run",
        read: |c, k, v| {
            let secs = c.whole_seconds(k, v)?;
            if secs == 0 {
                // 0 means "never" for the idle timeout; here it would
                // fail every ACP run.
                return Err(c.invalid(k, "expected at least 1 second, found 0"));
            }
            c.run.startup_timeout = Duration::from_secs(secs);
            Ok(())
        },
        show: |c| json!(c.run.startup_timeout.as_secs()),
    },
    Key {
        name: "run.on_busy",
        help: "a busy repo refuses a run (exit 4), or\n\
               \"queue\" queues it (--queue / --no-queue)",
        read: |c, k, v| {
            c.run.on_busy = c.named(k, v)?;
            Ok(())
        },
        show: |c| json!(c.run.on_busy),
    },
    Key {
        name: "run.timeout",
        help: "a run going this long is cancelled, e.g.\n\
               \"2h\" (--timeout; 0: no limit)",
        read: |c, k, v| {
            c.run.timeout = c.duration(k, v)?;
            Ok(())
        },
        show: |c| duration(c.run.timeout),
    },
    Key {
        name: "approvals.auto_approve",
        help: "types approved without asking:\n\
               command, diff, generic",
        read: |c, k, v| {
            c.approvals.auto_approve = c.approval_types(k, v)?;
            Ok(())
        },
        show: |c| json!(c.approvals.auto_approve),
    },
    Key {
        name: "approvals.allow_commands",
        help: "command prefixes approved without asking,\n\
               e.g. [\"cargo test\"], never a command line\n\
               with shell syntax (&& ; | $( ...); both lists\n\
               are added to each run's --auto-approve and --allow",
        read: |c, k, v| {
            c.approvals.allow_commands = c.commands(k, v)?;
            Ok(())
        },
        show: |c| json!(c.approvals.allow_commands),
    },
    Key {
        name: "approvals.timeout",
        help: "an approval or question unanswered this long\n\
               is decided by on_timeout, e.g. \"1h\"\n\
               (--approval-timeout; 0: waits for ever)",
        read: |c, k, v| {
            c.approvals.timeout = c.duration(k, v)?;
            Ok(())
        },
        show: |c| duration(c.approvals.timeout),
    },
    Key {
        name: "approvals.on_timeout",
        help: "the approval is rejected, or \"cancel\": the\n\
               run is cancelled; a question takes its default\n\
               answer, or without one ends the run",
        read: |c, k, v| {
            c.approvals.on_timeout = Some(c.named(k, v)?);
            Ok(())
        },
        show: |c| json!(c.approvals.on_timeout.unwrap_or(OnTimeout::Reject)),
    },
    Key {
        name: "approvals.remind_after",
        help: "notify again about what is still open after\n\
               this long, e.g. \"10m\" (0: never)",
        read: |c, k, v| {
            c.approvals.remind_after = c.duration(k, v)?;
            Ok(())
        },
        show: |c| duration(c.approvals.remind_after),
    },
    Key {
        name: "approvals.escalate_to",
        help: "the sinks reminders go to (\"apns\", webhook\n\
               and hook command names); empty: all",
        read: |c, k, v| {
            let names = c.strings(k, v)?;
            if names.iter().any(|n| n.trim().is_empty()) {
                return Err(c.invalid(
                    k,
                    "expected sink names: \"apns\", or a webhook's or hook command's name",
                ));
            }
            c.approvals.escalate_to = names;
            Ok(())
        },
        show: |c| json!(c.approvals.escalate_to),
    },
    Key {
        name: "retention.output_after",
        help: "drop what agents printed in runs finished\n\
               longer ago than this, e.g. \"30d\" (hourly by\n\
               the daemon, and `m gc`); the runs, approvals,\n\
               decisions and state changes stay (0: for ever)",
        read: |c, k, v| {
            c.retention.output_after = c.duration(k, v)?;
            Ok(())
        },
        show: |c| duration(c.retention.output_after),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_is_in_the_table_once_and_sections_are_together() {
        let mut seen: Vec<&str> = Vec::new();
        let mut sections: Vec<&str> = Vec::new();
        for key in KEYS {
            assert!(!seen.contains(&key.name), "{} twice", key.name);
            seen.push(key.name);
            let (section, _) = key.split();
            if sections.last() != Some(&section) {
                assert!(!sections.contains(&section), "{section} split");
                sections.push(section);
            }
        }
        assert_eq!(sections, ["daemon", "run", "approvals", "retention"]);
    }

    #[test]
    fn the_help_shows_each_default_beside_its_help() {
        let help = help();
        assert!(help.starts_with("  [daemon]\n  grace_seconds = 5      seconds between"));
        assert!(help.contains("\n  on_busy = \"refuse\"     a busy repo refuses"));
        assert!(help
            .contains("\n  idle_timeout_seconds = 0\n                         a conversational"));
        for key in KEYS {
            assert!(
                help.contains(&format!("  {} = ", key.split().1)),
                "{}",
                key.name
            );
            for line in key.help.lines() {
                assert!(line.len() <= 52, "{}: {line}", key.name);
            }
        }
    }
}
