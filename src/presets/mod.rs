//! The agents m knows by name. Each preset is an Agent Client Protocol
//! adapter and the command that starts it; config may replace the command
//! (a wrapper script, a pinned path), never the name.

pub mod opencode;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    /// The default command line; `argv[0]` is looked up on `PATH`.
    pub argv: &'static [&'static str],
    /// What the agent is, for `m agents`.
    pub about: &'static str,
    /// The command that installs it, shown when it is missing.
    pub install: &'static str,
    /// What each of the agent's auth methods (by id) wants from the user,
    /// for the hint of a run that fails for want of auth: m never picks a
    /// method itself.
    pub auth_needs: &'static [(&'static str, &'static str)],
    /// The session modes (by id) in which the agent acts without asking
    /// m, and what it then does unasked.
    pub quiet_modes: &'static [(&'static str, &'static str)],
    /// The session mode m selects (`session/set_mode`) when the session
    /// opens in another one, so that a user's or a repository's settings
    /// cannot turn the asking off; a run whose agent refuses it fails.
    pub ask_mode: Option<&'static str>,
    /// What the agent asks m about before it acts, as m starts it, for
    /// `m agents`; where it cannot be made to ask about everything, this
    /// says what slips by (checked against each agent: docs/agents.md).
    pub asks: &'static str,
}

/// Gemini CLI's auth methods (`AuthType` in its source) and what each
/// reads: `validateAuthMethod` in packages/cli/src/config/auth.ts.
const GEMINI_AUTH: &[(&str, &str)] = &[
    (
        "gemini-api-key",
        "GEMINI_API_KEY in the environment of m's daemon (Gemini ignores ~/.gemini/.env in folders it does not trust, such as m's workspaces)",
    ),
    (
        "vertex-ai",
        "GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION, or GOOGLE_API_KEY, in the environment of m's daemon",
    ),
    (
        "oauth-personal",
        "a Google login: run `gemini` once in a terminal and log in",
    ),
    ("gateway", "GOOGLE_GEMINI_BASE_URL in the environment of m's daemon"),
];

/// Gemini CLI's approval modes (`ApprovalMode`) that skip the client.
const GEMINI_QUIET: &[(&str, &str)] = &[
    ("autoEdit", "edits files without asking"),
    ("yolo", "edits files and runs commands without asking"),
];

/// Claude Code's permission modes that skip the client.
const CLAUDE_QUIET: &[(&str, &str)] = &[
    ("acceptEdits", "edits files without asking"),
    (
        "bypassPermissions",
        "edits files and runs commands without asking",
    ),
];

/// goose's modes (`GooseMode`) that skip the client.
const GOOSE_QUIET: &[(&str, &str)] = &[
    ("auto", "runs every tool without asking"),
    (
        "smart_approve",
        "runs the tools it judges safe without asking",
    ),
];

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "claude",
        argv: &["claude-agent-acp"],
        about: "Claude Code through the claude-agent-acp adapter",
        install: "npm install -g @zed-industries/claude-agent-acp",
        auth_needs: &[],
        quiet_modes: CLAUDE_QUIET,
        // Claude Code's permission mode comes from the user's and the
        // repository's settings (`permissions.defaultMode`): `default` asks.
        ask_mode: Some("default"),
        asks: "every edit and every command Claude Code does not know to be read-only, \
               except what `permissions.allow` in Claude's own settings allows",
    },
    Preset {
        name: "codex",
        // Codex's default policy runs commands in its sandbox unasked;
        // `untrusted` asks before every command not known to be safe.
        argv: &["codex-acp", "-c", "approval_policy=\"untrusted\""],
        about: "OpenAI Codex through the codex-acp adapter",
        install: "npm install -g @zed-industries/codex-acp",
        auth_needs: &[],
        quiet_modes: &[],
        ask_mode: None,
        asks: "every edit and every command Codex does not know to be read-only \
               (`approval_policy = \"untrusted\"`)",
    },
    Preset {
        name: "gemini",
        // `--approval-mode default` whatever the user's settings say
        // (`general.defaultApprovalMode`): Gemini then asks before every
        // edit and command.
        argv: &["gemini", "--acp", "--approval-mode", "default"],
        about: "Google Gemini CLI",
        install: "npm install -g @google/gemini-cli",
        auth_needs: GEMINI_AUTH,
        quiet_modes: GEMINI_QUIET,
        ask_mode: None,
        asks: "every edit and every shell command (approval mode `default`)",
    },
    Preset {
        name: "opencode",
        argv: &["opencode", "acp"],
        about: "opencode",
        install: "npm install -g opencode-ai",
        auth_needs: &[],
        quiet_modes: &[],
        ask_mode: None,
        asks: "every edit and every shell command, except what the user's own \
               OpenCode permissions deny (`OPENCODE_PERMISSION`)",
    },
    Preset {
        name: "goose",
        argv: &["goose", "acp"],
        about: "Block's goose",
        install: "curl -fsSL https://github.com/aaif-goose/goose/releases/download/stable/download_cli.sh | bash",
        auth_needs: &[],
        quiet_modes: GOOSE_QUIET,
        // goose runs every tool unasked in its default `auto` mode.
        ask_mode: Some("approve"),
        asks: "every tool call (goose mode `approve`)",
    },
    Preset {
        name: "qwen",
        // Overrides the approval mode of the user's settings.
        argv: &["qwen", "--acp", "--approval-mode", "default"],
        about: "Qwen Code",
        install: "npm install -g @qwen-code/qwen-code",
        auth_needs: &[],
        quiet_modes: &[],
        ask_mode: None,
        asks: "every edit and every shell command (approval mode `default`)",
    },
];

/// The preset called `name`, if m knows it.
pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// The command line that starts preset `name`: `override_argv` (from
/// config) when given and not empty, else the preset's own.
pub fn command(name: &str, override_argv: Option<&[String]>) -> Result<Vec<String>> {
    let preset = find(name).ok_or_else(|| {
        Error::usage(format!("unknown agent '{name}'")).with_hint(format!(
            "use one of: {} (see `m agents`); or put the agent's command after `--` \
             (with --acp if it speaks ACP): m run start -r REPO \"PROMPT\" -- COMMAND",
            PRESETS
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    match override_argv {
        Some(argv) if !argv.is_empty() => Ok(argv.to_vec()),
        _ => Ok(preset.argv.iter().map(|s| s.to_string()).collect()),
    }
}

/// The environment preset `name` is started with, for a run in
/// `workspace`, whatever its command: what makes the agent ask m. `env` is
/// the environment the agent gets otherwise (its caller's).
pub fn environment(
    name: &str,
    workspace: &Path,
    env: &[(String, String)],
) -> Vec<(String, String)> {
    let var = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    match name {
        "opencode" => opencode::environment(workspace, &var),
        // goose's mode from its config; `approve` asks before every tool.
        "goose" => vec![("GOOSE_MODE".into(), "approve".into())],
        _ => Vec::new(),
    }
}

/// Where `program` would be found: itself when it names a path, else the
/// first executable file of that name on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    which_in(program, std::env::var_os("PATH").as_deref())
}

fn which_in(program: &str, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    if program.contains('/') {
        let candidate = PathBuf::from(program);
        return is_executable(&candidate).then_some(candidate);
    }
    std::env::split_paths(path?)
        .map(|dir| {
            // An empty PATH entry means the current directory.
            let dir = if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            };
            dir.join(program)
        })
        .find(|candidate| is_executable(candidate))
}

/// Whether `argv[0]` of a command line can be found.
pub fn is_installed(argv: &[String]) -> bool {
    argv.first().is_some_and(|program| which(program).is_some())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_has_a_command_and_a_way_to_install_it() {
        for preset in PRESETS {
            assert!(!preset.argv.is_empty(), "{}", preset.name);
            assert!(!preset.install.is_empty(), "{}", preset.name);
            assert!(!preset.asks.is_empty(), "{}", preset.name);
            assert_eq!(find(preset.name), Some(preset));
        }
    }

    #[test]
    fn the_preset_command_can_be_overridden() {
        let gemini = ["gemini", "--acp", "--approval-mode", "default"];
        assert_eq!(command("gemini", None).unwrap(), gemini);
        let custom = vec!["/opt/gemini".to_string(), "--acp".to_string()];
        assert_eq!(command("gemini", Some(&custom)).unwrap(), custom);
        assert_eq!(command("gemini", Some(&[])).unwrap(), gemini);
    }

    #[test]
    fn each_preset_is_started_so_that_it_asks() {
        let ws = tempfile::tempdir().unwrap();
        for preset in PRESETS {
            let env = environment(preset.name, ws.path(), &[]);
            match preset.name {
                "gemini" => {
                    assert_eq!(
                        preset.argv,
                        ["gemini", "--acp", "--approval-mode", "default"]
                    );
                    assert!(env.is_empty());
                }
                "opencode" => {
                    assert_eq!(preset.argv, ["opencode", "acp"]);
                    assert_eq!(env.len(), 1);
                    assert_eq!(env[0].0, "OPENCODE_PERMISSION");
                    let permission: serde_json::Value = serde_json::from_str(&env[0].1).unwrap();
                    assert!(permission["edit"].is_string() && permission["bash"].is_string());
                }
                "codex" => {
                    assert_eq!(
                        preset.argv,
                        ["codex-acp", "-c", "approval_policy=\"untrusted\""]
                    );
                    assert!(env.is_empty());
                }
                "qwen" => {
                    assert_eq!(preset.argv, ["qwen", "--acp", "--approval-mode", "default"]);
                    assert!(env.is_empty());
                }
                "goose" => {
                    assert_eq!(env, [("GOOSE_MODE".to_string(), "approve".to_string())]);
                    assert_eq!(preset.ask_mode, Some("approve"));
                }
                "claude" => {
                    assert!(env.is_empty());
                    assert_eq!(preset.ask_mode, Some("default"));
                }
                _ => assert!(env.is_empty(), "{}", preset.name),
            }
        }
    }

    #[test]
    fn an_unknown_preset_lists_the_known_ones() {
        let err = command("clippy", None).unwrap_err();
        assert!(err.message.contains("clippy"));
        assert!(err.hint.unwrap().contains("claude, codex, gemini"));
    }

    #[test]
    fn programs_are_found_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        let not_exec = dir.path().join("data");
        std::fs::write(&not_exec, "").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([Path::new("/nonexistent"), dir.path()]).unwrap();
        assert_eq!(which_in("tool", Some(&path)), Some(tool.clone()));
        assert_eq!(which_in("data", Some(&path)), None);
        assert_eq!(which_in("absent", Some(&path)), None);
        assert_eq!(which_in(tool.to_str().unwrap(), None), Some(tool));
    }
}
