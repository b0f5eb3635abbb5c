//! ACP permission requests as m approvals: what the human is shown, and
//! which of the agent's options their decision selects.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::diff;
use super::protocol::{self, PermissionOption};
use crate::agent::{ApprovalRequest, Verdict};
use crate::model::ApprovalType;

/// The approval for a permission request: what the tool call does, and the
/// kinds of the options the agent offered (`optionKinds`), by which `m
/// approve --always` says at once whether "always" is on offer.
pub fn request(
    tool: &Map<String, Value>,
    options: &[PermissionOption],
    workspace: &Path,
) -> ApprovalRequest {
    let mut request = for_tool(tool, workspace);
    let kinds: Vec<&str> = options.iter().map(|o| o.kind.as_str()).collect();
    request.payload["optionKinds"] = json!(kinds);
    request
}

/// The approval for a tool call (its state as m knows it, merged with what
/// the permission request says).
fn for_tool(tool: &Map<String, Value>, workspace: &Path) -> ApprovalRequest {
    let str_field = |name: &str| tool.get(name).and_then(Value::as_str).unwrap_or("");
    let tool_call_id = str_field("toolCallId");
    let title = str_field("title");
    let kind = str_field("kind");
    let diffs = protocol::diffs(tool);

    if matches!(kind, "edit" | "delete" | "move") || !diffs.is_empty() {
        let mut paths: Vec<String> = diffs.iter().map(|d| relative(&d.path, workspace)).collect();
        for location in tool
            .get("locations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(path) = location.get("path").and_then(Value::as_str) {
                let path = relative(path, workspace);
                if !paths.contains(&path) {
                    paths.push(path);
                }
            }
        }
        let text: String = diffs
            .iter()
            .map(|d| {
                diff::unified(
                    &relative(&d.path, workspace),
                    d.old_text.as_deref(),
                    &d.new_text,
                )
            })
            .collect();
        return ApprovalRequest {
            approval_type: ApprovalType::Diff,
            payload: json!({
                "toolCallId": tool_call_id,
                "title": title,
                "kind": kind,
                "path": paths.first(),
                "paths": paths,
                "diff": text,
            }),
        };
    }

    let raw_input = tool.get("rawInput").cloned().unwrap_or(Value::Null);
    if kind == "execute" {
        // Gemini CLI before 0.35 titled a command `CMD [in DIR] (WHY)`.
        let command = command_of(&raw_input);
        let titled = title[..words_start(title).unwrap_or(title.len())].trim();
        let description = text_content(tool);
        let cwd = ["cwd", "workdir", "working_directory"]
            .iter()
            .find_map(|k| raw_input.get(k).and_then(Value::as_str))
            .or_else(|| {
                [Some(title), description.as_deref()]
                    .into_iter()
                    .flatten()
                    .find_map(directory_in_words)
            })
            .map(|dir| workspace.join(dir).display().to_string())
            .unwrap_or_else(|| workspace.display().to_string());
        let mut payload = json!({
            "toolCallId": tool_call_id,
            "title": title,
            "command": command.as_ref().map_or(titled, |c| c.shown.as_str()),
            "cwd": cwd,
        });
        if let Some(raw) = command.and_then(|c| c.wrapped) {
            payload["rawCommand"] = json!(raw);
        }
        if let Some(description) = description {
            payload["description"] = json!(description);
        }
        return ApprovalRequest {
            approval_type: ApprovalType::Command,
            payload,
        };
    }

    let details = if raw_input.is_null() {
        text_content(tool).map(Value::String).unwrap_or(Value::Null)
    } else {
        raw_input
    };
    ApprovalRequest {
        approval_type: ApprovalType::Generic,
        payload: json!({
            "toolCallId": tool_call_id,
            "title": title,
            "kind": kind,
            "details": details,
        }),
    }
}

/// What a permission request asks to do, as the prompt that tells the
/// agent of a rejection names it: "The user refused `touch ran.txt`".
pub fn refers_to(request: &ApprovalRequest) -> String {
    let text = |key: &str| {
        request
            .payload
            .get(key)
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())
    };
    match request.approval_type {
        ApprovalType::Command => match text("command") {
            Some(command) => format!("`{command}`"),
            None => "the command".into(),
        },
        ApprovalType::Diff => {
            let paths: Vec<&str> = request
                .payload
                .get("paths")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if paths.is_empty() {
                "the edit".into()
            } else {
                format!("the edit of {}", paths.join(", "))
            }
        }
        ApprovalType::Generic => match text("title") {
            Some(title) => format!("`{title}`"),
            None => "the tool call".into(),
        },
    }
}

/// The option a decision selects, by kind and never by id: `None` means
/// the request is answered `cancelled`. An approval never grants more than
/// the human gave: `allow_always` only when the human let the agent keep
/// the grant (`--persist`), since an agent's "always" may outlive the run
/// (Codex writes it into its rules for good); a rejection may fall back to
/// `reject_always`, which grants nothing.
pub fn choose<'a>(
    options: &'a [PermissionOption],
    verdict: &Verdict,
) -> Option<&'a PermissionOption> {
    let kinds: &[&str] = match verdict {
        Verdict::Approved { persist: true } => &["allow_always", "allow_once"],
        Verdict::Approved { persist: false } => &["allow_once"],
        Verdict::Rejected { .. } => &["reject_once", "reject_always"],
        Verdict::RunEnded => &[],
    };
    kinds
        .iter()
        .find_map(|kind| options.iter().find(|o| o.kind == *kind))
}

/// A command a tool wants to run.
struct Command {
    /// What the human is shown and allow rules match: the command line a
    /// shell runs.
    shown: String,
    /// The argument vector as the agent gave it, when it was a shell
    /// wrapped around the command line shown (`bash -lc 'touch x'`).
    wrapped: Option<Vec<String>>,
}

/// The command a tool wants to run, from its raw input: a string, or an
/// argument vector shown as a shell would take it, unwrapped when it only
/// hands a command line to a shell (Codex runs every command as
/// `/bin/bash -lc LINE`).
fn command_of(raw_input: &Value) -> Option<Command> {
    let command = match raw_input {
        Value::Object(o) => ["command", "cmd", "commandLine"]
            .iter()
            .find_map(|k| o.get(*k))?,
        other => other,
    };
    match command {
        Value::String(s) => Some(Command {
            shown: s.clone(),
            wrapped: None,
        }),
        Value::Array(args) => {
            let args: Vec<String> = args
                .iter()
                .map(|a| a.as_str().map(str::to_string))
                .collect::<Option<_>>()?;
            Some(match shell_line(&args) {
                Some(line) => Command {
                    shown: line.to_string(),
                    wrapped: Some(args.clone()),
                },
                None => Command {
                    shown: crate::policy::shell_words(&args),
                    wrapped: None,
                },
            })
        }
        _ => None,
    }
}

/// The command line of `<shell> -c LINE` (or `-lc`): what the shell runs.
fn shell_line(argv: &[String]) -> Option<&str> {
    const SHELLS: &[&str] = &["sh", "bash", "zsh", "dash", "ksh"];
    let [shell, flag, line] = argv else {
        return None;
    };
    let name = shell.rsplit('/').next().unwrap_or(shell);
    (SHELLS.contains(&name) && matches!(flag.as_str(), "-c" | "-lc")).then_some(line.as_str())
}

/// The directory a command runs in where an agent gives it only in words:
/// Gemini CLI describes a shell command with `[in DIR]` (relative to its
/// workspace) or `[current working directory DIR]`.
fn directory_in_words(text: &str) -> Option<&str> {
    DIRECTORY_WORDS
        .iter()
        .map(|words| words.trim_start())
        .find_map(|open| {
            let start = text.find(open)? + open.len();
            let len = text[start..].find(']')?;
            Some(text[start..start + len].trim())
        })
        .filter(|dir| !dir.is_empty())
}

const DIRECTORY_WORDS: [&str; 2] = [" [in ", " [current working directory "];

/// Where a title's words about the directory start, if it has them.
fn words_start(title: &str) -> Option<usize> {
    DIRECTORY_WORDS.iter().filter_map(|w| title.find(w)).min()
}

/// The text blocks of a tool call's content, joined.
fn text_content(tool: &Map<String, Value>) -> Option<String> {
    let texts: Vec<&str> = tool
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("content")?.get("text")?.as_str())
        .collect();
    (!texts.is_empty()).then(|| texts.join("\n"))
}

/// `path` relative to the workspace when it is inside it.
fn relative(path: &str, workspace: &Path) -> String {
    Path::new(path)
        .strip_prefix(workspace)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn option(id: &str, kind: &str) -> PermissionOption {
        PermissionOption {
            option_id: id.into(),
            name: id.into(),
            kind: kind.into(),
        }
    }

    #[test]
    fn an_edit_is_a_diff_approval_with_a_unified_diff() {
        let req = for_tool(
            &tool(json!({
                "toolCallId": "t1", "title": "Edit lib.rs", "kind": "edit",
                "content": [{"type": "diff", "path": "/ws/src/lib.rs", "oldText": "a\nb\n", "newText": "a\nc\n"}],
            })),
            Path::new("/ws"),
        );
        assert_eq!(req.approval_type, ApprovalType::Diff);
        assert_eq!(req.payload["path"], "src/lib.rs");
        assert_eq!(
            req.payload["diff"],
            "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
        );
    }

    #[test]
    fn diff_content_makes_a_diff_approval_whatever_the_kind() {
        let req = for_tool(
            &tool(json!({"toolCallId": "t", "title": "x", "kind": "other",
                "content": [{"type": "diff", "path": "/elsewhere/f", "newText": "n\n"}]})),
            Path::new("/ws"),
        );
        assert_eq!(req.approval_type, ApprovalType::Diff);
        assert_eq!(req.payload["paths"], json!(["/elsewhere/f"]));
    }

    #[test]
    fn a_delete_without_diff_names_its_locations() {
        let req = for_tool(
            &tool(
                json!({"toolCallId": "t", "title": "rm old.txt", "kind": "delete",
                "locations": [{"path": "/ws/old.txt"}]}),
            ),
            Path::new("/ws"),
        );
        assert_eq!(req.approval_type, ApprovalType::Diff);
        assert_eq!(req.payload["path"], "old.txt");
        assert_eq!(req.payload["diff"], "");
    }

    #[test]
    fn execute_is_a_command_approval() {
        let ws = Path::new("/ws");
        let req = for_tool(
            &tool(
                json!({"toolCallId": "t", "title": "Run tests", "kind": "execute",
                "rawInput": {"command": ["cargo", "test", "it's"]}}),
            ),
            ws,
        );
        assert_eq!(req.approval_type, ApprovalType::Command);
        assert_eq!(req.payload["command"], r"cargo test 'it'\''s'");
        assert_eq!(req.payload["cwd"], "/ws");
        assert!(req.payload.get("rawCommand").is_none());
        let req = for_tool(
            &tool(json!({"toolCallId": "t", "title": "ls -la", "kind": "execute"})),
            ws,
        );
        assert_eq!(req.payload["command"], "ls -la");
    }

    #[test]
    fn a_shell_wrapped_command_shows_the_line_the_shell_runs() {
        let run = |argv: Value| {
            for_tool(
                &tool(json!({"toolCallId": "t", "title": "x", "kind": "execute",
                    "rawInput": {"command": argv}})),
                Path::new("/ws"),
            )
            .payload
        };
        for shell in ["/bin/bash", "bash", "/usr/bin/zsh", "sh"] {
            for flag in ["-c", "-lc"] {
                let payload = run(json!([shell, flag, "touch ran.txt && ls"]));
                assert_eq!(payload["command"], "touch ran.txt && ls");
                assert_eq!(
                    payload["rawCommand"],
                    json!([shell, flag, "touch ran.txt && ls"])
                );
            }
        }
        // Anything else is not a shell handed one line: shown whole.
        for argv in [
            json!(["python", "-c", "print(1)"]),
            json!(["bash", "-x", "script.sh"]),
            json!(["bash", "-c", "ls", "extra"]),
        ] {
            let payload = run(argv.clone());
            assert!(payload.get("rawCommand").is_none(), "{argv}");
            let words: Vec<&str> = argv
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(payload["command"], crate::policy::shell_words(&words));
        }
    }

    #[test]
    fn a_command_runs_where_the_agent_says_in_words() {
        let ws = Path::new("/ws");
        // Gemini CLI: the command is the title, the directory only in the
        // text it shows with the request.
        let req = for_tool(
            &tool(
                json!({"toolCallId": "t", "title": "touch ran.txt", "kind": "execute",
                "content": [{"type": "content", "content": {"type": "text", "text": "[in sub] (Create the file)"}}]}),
            ),
            ws,
        );
        assert_eq!(req.payload["command"], "touch ran.txt");
        assert_eq!(req.payload["cwd"], "/ws/sub");
        assert_eq!(req.payload["description"], "[in sub] (Create the file)");
        // Before 0.35, all in the title.
        let req = for_tool(
            &tool(
                json!({"toolCallId": "t", "title": "ls -l [in /elsewhere] (list it)", "kind": "execute"}),
            ),
            ws,
        );
        assert_eq!(req.payload["cwd"], "/elsewhere");
        assert_eq!(req.payload["command"], "ls -l");
        let req = for_tool(
            &tool(json!({"toolCallId": "t", "title": "ls", "kind": "execute",
                "content": [{"type": "content", "content": {"type": "text", "text": "[current working directory /ws]"}}]})),
            ws,
        );
        assert_eq!(req.payload["cwd"], "/ws");
        // What the agent's input says wins over words.
        let req = for_tool(
            &tool(
                json!({"toolCallId": "t", "title": "ls [in a]", "kind": "execute",
                "rawInput": {"command": "ls", "workdir": "/ws/b"}}),
            ),
            ws,
        );
        assert_eq!(req.payload["cwd"], "/ws/b");
        assert_eq!(req.payload.get("description"), None);
    }

    #[test]
    fn anything_else_is_generic() {
        let req = for_tool(
            &tool(
                json!({"toolCallId": "t", "title": "Fetch docs", "kind": "fetch",
                "rawInput": {"url": "https://example.com"}}),
            ),
            Path::new("/ws"),
        );
        assert_eq!(req.approval_type, ApprovalType::Generic);
        assert_eq!(req.payload["details"]["url"], "https://example.com");
    }

    #[test]
    fn the_offered_option_kinds_are_in_the_payload() {
        let req = request(
            &tool(json!({"toolCallId": "t", "title": "ls", "kind": "execute"})),
            &[option("y", "allow_once"), option("n", "reject_once")],
            Path::new("/ws"),
        );
        assert_eq!(
            req.payload["optionKinds"],
            json!(["allow_once", "reject_once"])
        );
    }

    #[test]
    fn decisions_select_options_by_kind() {
        let all = [
            option("x1", "reject_always"),
            option("x2", "allow_always"),
            option("x3", "reject_once"),
            option("x4", "allow_once"),
        ];
        let pick = |d: Verdict| choose(&all, &d).map(|o| o.option_id.as_str());
        assert_eq!(pick(Verdict::Approved { persist: false }), Some("x4"));
        assert_eq!(pick(Verdict::Approved { persist: true }), Some("x2"));
        let reject = || Verdict::Rejected {
            reason: "no".into(),
        };
        assert_eq!(pick(reject()), Some("x3"));
        assert_eq!(pick(Verdict::RunEnded), None);

        let once_only = [option("a", "allow_once"), option("r", "reject_always")];
        let pick = |d: Verdict| choose(&once_only, &d).map(|o| o.option_id.as_str());
        assert_eq!(pick(Verdict::Approved { persist: true }), Some("a"));
        assert_eq!(pick(reject()), Some("r"));

        let always_only = [option("aa", "allow_always")];
        assert_eq!(
            choose(&always_only, &Verdict::Approved { persist: false }),
            None
        );
    }
}
