use std::io::Write;

use clap::Args;
use clap_complete::env::{EnvCompleter, Shells};
use clap_complete::Shell;

use super::complete;
use super::Ctx;
use crate::error::{exit, Result};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: Shell,
}

/// Prints the completion script on stdout (a closed pipe ends it quietly).
pub fn run(_ctx: &Ctx, args: CompletionsArgs) -> Result<u8> {
    let script = script(args.shell);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(exit::OK)
}

/// The completion script for `shell`: a small function that asks `m` itself
/// at each TAB (see [`complete`]), so that it offers the runs, approvals and
/// repos that exist then, and never a hidden command. It calls `m` by name,
/// so the script stays right wherever m is installed.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut script = Vec::new();
    let shells = Shells::builtins();
    let completer: &dyn EnvCompleter = shells
        .completer(&shell.to_string())
        .expect("clap_complete knows every Shell it names");
    // Writing to a Vec cannot fail.
    let _ = completer.write_registration(complete::VAR, "m", "m", "m", &mut script);
    script
}
