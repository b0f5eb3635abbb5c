//! `m ask`: the in-run side of approvals and questions. Any script running
//! as an agent can stop and wait for a human.

use std::io::{IsTerminal, Read};
use std::os::unix::process::CommandExt;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::output::print_error;
use super::Ctx;
use crate::client::Client;
use crate::error::{exit, Error, Result};
use crate::model::ApprovalType;
use crate::policy::shell_words;
use crate::protocol::{AskApprovalRequest, AskInputRequest, Request, Response};

#[derive(Debug, Subcommand)]
pub enum AskCommand {
    /// Ask a human to approve something; wait for the decision.
    ///
    /// Exit 0 approved, 1 rejected (the reason on stdout), 11 the run ended
    /// first, 4 the run had already ended. With `-- COMMAND`, an approved
    /// command is then run in m's place (its exit code is m's), as sudo
    /// does: `m ask approval --type command -- cargo publish`; 127 if it is
    /// not found, 126 if it cannot be run.
    Approval(ApprovalArgs),
    /// Ask a human a question; print the answer.
    Input(InputArgs),
}

#[derive(Debug, Args)]
pub struct ApprovalArgs {
    /// What is to be approved: `command` (the command after `--`, or
    /// --payload), `diff` (a unified diff on stdin or in --diff-file), or
    /// `generic` (--title and --details).
    #[arg(long = "type", value_name = "TYPE")]
    pub approval_type: ApprovalType,
    /// A one-line title for the human.
    #[arg(long)]
    pub title: Option<String>,
    /// More text for a generic approval.
    #[arg(long)]
    pub details: Option<String>,
    /// The whole payload as JSON (`-` reads stdin); for `diff`, a unified diff
    /// is read from stdin or from --diff-file instead.
    #[arg(long)]
    pub payload: Option<String>,
    /// For `diff`: the file holding the unified diff (default: stdin).
    #[arg(long)]
    pub diff_file: Option<std::path::PathBuf>,
    /// For `command`: the command to approve, and to run once approved.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InputArgs {
    /// The question.
    pub question: String,
}

pub fn run(ctx: &Ctx, cmd: AskCommand) -> Result<u8> {
    let run_id = std::env::var("M_RUN_ID").ok().filter(|v| !v.is_empty()).ok_or_else(|| {
        Error::usage("`m ask` works only inside a run (M_RUN_ID is not set)")
            .with_hint("agents started by `m run start` have it; humans answer with `m approve`, `m reject` and `m reply`")
    })?;
    match cmd {
        AskCommand::Approval(args) => ask_approval(ctx, run_id, args),
        AskCommand::Input(args) => {
            if args.question.trim().is_empty() {
                return Err(Error::usage("the question is empty").with_hint(
                    "say what the human should answer: m ask input \"which database?\"",
                ));
            }
            let response = run_daemon(ctx)?.request(&Request::AskInput(AskInputRequest {
                run_id,
                question: args.question,
            }))?;
            match response {
                Response::Answer {
                    run_ended: true, ..
                } => {
                    eprintln!("m: the run ended before anyone answered");
                    Ok(exit::RUN_CANCELLED)
                }
                Response::Answer { text, .. } => {
                    ctx.ui.line(text.unwrap_or_default())?;
                    Ok(exit::OK)
                }
                other => Err(Error::failure(format!(
                    "unexpected answer from the daemon: {other:?}"
                ))),
            }
        }
    }
}

fn ask_approval(ctx: &Ctx, run_id: String, args: ApprovalArgs) -> Result<u8> {
    let payload = build_payload(&args)?;
    let response = run_daemon(ctx)?.request(&Request::AskApproval(AskApprovalRequest {
        run_id,
        approval_type: args.approval_type,
        payload,
    }))?;
    match response {
        Response::Verdict {
            run_ended: true, ..
        } => {
            eprintln!("m: the run ended before anyone decided");
            Ok(exit::RUN_CANCELLED)
        }
        Response::Verdict {
            approved: false,
            reason,
            ..
        } => {
            ctx.ui.line(reason.unwrap_or_default())?;
            Ok(exit::FAILURE)
        }
        Response::Verdict { approved: true, .. } => match args.command.split_first() {
            Some((program, rest)) if args.approval_type == ApprovalType::Command => {
                let err = std::process::Command::new(program).args(rest).exec();
                // Not 1, which says "rejected" to the script.
                print_error(&Error::failure(format!(
                    "approved, but cannot run '{program}': {err}"
                )));
                Ok(if err.kind() == std::io::ErrorKind::NotFound {
                    exit::COMMAND_NOT_FOUND
                } else {
                    exit::CANNOT_EXECUTE
                })
            }
            _ => Ok(exit::OK),
        },
        other => Err(Error::failure(format!(
            "unexpected answer from the daemon: {other:?}"
        ))),
    }
}

/// The daemon that owns this run. Never a new one: if it is gone, so is
/// the run (a new daemon would only fail it).
fn run_daemon(ctx: &Ctx) -> Result<Client> {
    Client::connect_running(&ctx.paths).map_err(|err| match err.kind {
        crate::error::ErrorKind::DaemonUnavailable => Error::new(
            err.kind,
            "the daemon that owned this run is gone, and the run with it",
        ),
        _ => err,
    })
}

fn read_stdin(what: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        return Err(Error::usage(format!(
            "expected {what} on stdin, but stdin is a terminal"
        )));
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| Error::usage(format!("cannot read {what} from stdin: {e}")))?;
    Ok(text)
}

fn build_payload(args: &ApprovalArgs) -> Result<Value> {
    let mut payload = match &args.payload {
        Some(text) => {
            let text = if text == "-" {
                read_stdin("the payload")?
            } else {
                text.clone()
            };
            serde_json::from_str::<Value>(&text)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| Error::usage("--payload must be a JSON object"))?
        }
        None => json!({}),
    };
    let map = payload.as_object_mut().expect("payload is an object");
    // `optionKinds` tells `m approve --always` what an ACP agent offered;
    // an `m ask` approval offers no "always".
    if map.contains_key("optionKinds") {
        return Err(Error::usage(
            "--payload cannot set `optionKinds`: it records the options an ACP agent offered",
        )
        .with_hint("drop it from the payload"));
    }
    if let Some(title) = &args.title {
        map.insert("title".into(), json!(title));
    }
    match args.approval_type {
        ApprovalType::Command => {
            if !args.command.is_empty() {
                map.insert("argv".into(), json!(args.command));
                map.insert("command".into(), json!(shell_words(&args.command)));
            } else if map.contains_key("argv") {
                // `argv` says what m runs once approved (allow rules trust
                // it): it comes from the command after `--`, never the payload.
                return Err(Error::usage(
                    "--payload cannot set `argv`: it is the command m runs once approved",
                )
                .with_hint(
                    "put the command after `--`: m ask approval --type command -- cargo test",
                ));
            }
            if !map.contains_key("command") {
                return Err(
                    Error::usage("a command approval needs the command").with_hint(
                        "put it after `--`: m ask approval --type command -- cargo publish",
                    ),
                );
            }
            if let Ok(cwd) = std::env::current_dir() {
                map.entry("cwd").or_insert(json!(cwd));
            }
        }
        ApprovalType::Diff => {
            if !map.contains_key("patch") {
                let (patch, source) = match &args.diff_file {
                    Some(path) => (
                        std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?,
                        format!("--diff-file {}", path.display()),
                    ),
                    None => (read_stdin("a unified diff")?, "stdin".to_string()),
                };
                // A human asked to approve nothing, or text that is no
                // change, can only guess what they approve.
                if !is_unified_diff(&patch) {
                    let what = if patch.trim().is_empty() {
                        "is empty"
                    } else {
                        "holds no unified diff (no `diff --git` header, or `---`/`+++` lines with an `@@` hunk)"
                    };
                    return Err(Error::usage(format!("a diff approval needs a unified diff, but {source} {what}"))
                        .with_hint("give it the output of `git diff` or `diff -u`: git diff | m ask approval --type diff"));
                }
                map.insert("stat".into(), diff_stat(&patch));
                map.insert("patch".into(), json!(patch));
            }
        }
        ApprovalType::Generic => {
            if let Some(details) = &args.details {
                map.insert("details".into(), json!(details));
            }
            if !map.contains_key("title") && !map.contains_key("details") {
                return Err(Error::usage(
                    "a generic approval needs --title or --details",
                ));
            }
        }
    }
    Ok(payload)
}

/// Whether `patch` holds a unified diff: a hunk (`@@`) under file headers
/// (`---` and `+++`), or a `diff --git` header, which is all a rename, a
/// mode change or a binary file has.
fn is_unified_diff(patch: &str) -> bool {
    let has = |prefix: &str| patch.lines().any(|line| line.starts_with(prefix));
    has("diff --git ") || (has("--- ") && has("+++ ") && has("@@ "))
}

/// Counts files and changed lines of a unified diff.
pub fn diff_stat(patch: &str) -> Value {
    let (mut files, mut insertions, mut deletions) = (0u64, 0u64, 0u64);
    for line in patch.lines() {
        if line.starts_with("+++ ") {
            files += 1;
        } else if line.starts_with('+') {
            insertions += 1;
        } else if line.starts_with('-') && !line.starts_with("--- ") {
            deletions += 1;
        }
    }
    json!({ "files": files, "insertions": insertions, "deletions": deletions })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unified_diff_has_a_hunk_under_file_headers_or_a_git_header() {
        assert!(is_unified_diff(
            "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n"
        ));
        assert!(is_unified_diff(
            "diff --git a/logo.png b/logo.png\nBinary files differ\n"
        ));
        assert!(!is_unified_diff(""));
        assert!(!is_unified_diff("\n"));
        assert!(!is_unified_diff("please approve my change\n"));
        assert!(!is_unified_diff("--- a/x\n+++ b/x\n"));
    }

    #[test]
    fn diff_stat_counts_files_and_lines() {
        let patch =
            "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-old\n+new\n+more\n ctx\n";
        assert_eq!(
            diff_stat(patch),
            json!({"files": 1, "insertions": 2, "deletions": 1})
        );
    }
}
