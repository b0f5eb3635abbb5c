use clap::Args;
use serde_json::json;

use super::Ctx;
use crate::agent::presets::{self, PRESETS};
use crate::error::{exit, Result};

#[derive(Debug, Args)]
pub struct AgentsArgs {
    /// A JSON list of {name, command, installed, path, install, about}.
    #[arg(long)]
    pub json: bool,
}

/// The agents m knows by name, and whether each is installed here.
pub fn run(ctx: &Ctx, args: AgentsArgs) -> Result<u8> {
    let config = ctx.config()?;
    let rows: Vec<(&presets::Preset, Vec<String>, Option<std::path::PathBuf>)> = PRESETS
        .iter()
        .map(|p| {
            // `[agents.NAME] command` in the config replaces the preset's.
            let argv: Vec<String> = match config.agent_command(p.name) {
                Some(argv) => argv.to_vec(),
                None => p.argv.iter().map(|s| s.to_string()).collect(),
            };
            let found = presets::which(&argv[0]);
            (p, argv, found)
        })
        .collect();
    if args.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(p, argv, found)| {
                json!({
                    "name": p.name,
                    "command": argv,
                    "installed": found.is_some(),
                    "path": found,
                    "install": p.install,
                    "about": p.about,
                })
            })
            .collect();
        ctx.ui.json(&list)?;
        return Ok(exit::OK);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|(p, argv, found)| {
            vec![
                p.name.to_string(),
                argv.join(" "),
                match found {
                    Some(path) => ctx.ui.paint(&console::Style::new().green(), path.display()),
                    None => ctx.ui.dim(format!("missing: {}", p.install)),
                },
            ]
        })
        .collect();
    ctx.ui.table(&["AGENT", "COMMAND", "INSTALLED"], &table)?;
    ctx.ui
        .line("Start one with `m run start -r REPO --agent NAME \"PROMPT\"`.")?;
    Ok(exit::OK)
}
