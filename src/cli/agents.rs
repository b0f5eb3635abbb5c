use clap::Args;
use serde_json::json;

use super::output::printable;
use super::Ctx;
use crate::error::{exit, Result};
use crate::model::short_id;
use crate::presets::{self, PRESETS};

#[derive(Debug, Args)]
pub struct AgentsArgs {
    /// A JSON list of {name, command, installed, path, install, about}.
    #[arg(long)]
    pub json: bool,
}

/// The agents m knows by name, and whether each is installed here.
pub fn run(ctx: &Ctx, args: AgentsArgs) -> Result<u8> {
    let config = ctx.config()?;
    // A mode in which the agent did not ask m, as its newest run reported:
    // the user's own settings for that agent put it there.
    let quiet = |name: &str| -> Result<Option<(String, serde_json::Value)>> {
        if !ctx.paths.database().exists() {
            return Ok(None);
        }
        ctx.store()?.last_quiet_mode(name)
    };
    let rows: Vec<_> = PRESETS
        .iter()
        .map(|p| -> Result<_> {
            // `[agents.NAME] command` in the config replaces the preset's.
            let argv: Vec<String> = match config.agent_command(p.name) {
                Some(argv) => argv.to_vec(),
                None => p.argv.iter().map(|s| s.to_string()).collect(),
            };
            let found = presets::which(&argv[0]);
            Ok((p, argv, found, quiet(p.name)?))
        })
        .collect::<Result<_>>()?;
    if args.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(p, argv, found, quiet)| {
                let mut agent = json!({
                    "name": p.name,
                    "command": argv,
                    "installed": found.is_some(),
                    "path": found,
                    "install": p.install,
                    "about": p.about,
                    "ask_mode": p.ask_mode,
                    "asks": p.asks,
                });
                if let Some((run, mode)) = quiet {
                    agent["quietMode"] =
                        json!({ "run": run, "modeId": mode["modeId"], "message": mode["message"] });
                }
                agent
            })
            .collect();
        ctx.ui.json(&list)?;
        return Ok(exit::OK);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|(p, argv, found, _)| {
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
    for (p, _, _, quiet) in &rows {
        if let Some((run, mode)) = quiet {
            let message = mode["message"].as_str().unwrap_or("it does not ask m");
            ctx.ui.line(ctx.ui.paint(
                &console::Style::new().yellow(),
                printable(&format!(
                    "warning: {}'s newest run ({}) said: {message}; check its own settings",
                    p.name,
                    short_id(run)
                )),
            ))?;
        }
    }
    ctx.ui.line("")?;
    ctx.ui
        .line("What each asks m about before it acts, as m starts it:")?;
    for (p, _, _, _) in &rows {
        ctx.ui.line(format!("  {}: {}", p.name, p.asks))?;
    }
    ctx.ui
        .line("Start one with `m run start -r REPO --agent NAME \"PROMPT\"`.")?;
    Ok(exit::OK)
}
