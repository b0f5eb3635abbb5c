use clap::Args;

use console::Style;

use crate::cli::output::printable;
use crate::cli::Ctx;
use crate::error::{exit, Result};
use crate::workspace;

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Run id (any unique prefix).
    #[arg(add = crate::cli::complete::run_ids())]
    pub run: String,
    /// Only the summary of changed files.
    #[arg(long)]
    pub stat: bool,
}

/// The run's changes against the commit its branch started from
/// (uncommitted work included while the run is active). Into a pipe or a
/// file, exactly as git wrote them (`m run diff RUN > x.patch` applies); on
/// a terminal, the agent's bytes with their control characters shown as
/// `^X`, so a file it wrote cannot drive the terminal, and colours from m.
pub fn run(ctx: &Ctx, args: DiffArgs) -> Result<u8> {
    let store = ctx.store()?;
    let run = store.find_run(&args.run)?;
    let ws = super::workspace_of(ctx, &store, &run)?;
    let patch = workspace::diff_bytes(&ws, args.stat)?;
    if !ctx.ui.terminal {
        return ctx.ui.raw(&patch).map(|()| exit::OK);
    }
    let text = String::from_utf8_lossy(&patch);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    ctx.ui.batch(|| {
        for line in text.split('\n') {
            let shown = printable(line);
            match line_style(line, args.stat) {
                Some(style) => ctx.ui.line(ctx.ui.paint(&style, shown))?,
                None => ctx.ui.line(shown)?,
            }
        }
        Ok(())
    })?;
    Ok(exit::OK)
}

/// How a line of a patch is coloured (as `git diff --color` does).
fn line_style(line: &str, stat: bool) -> Option<Style> {
    if stat {
        return None;
    }
    let starts = |prefix: &str| line.starts_with(prefix);
    if starts("diff --git") || starts("index ") || starts("--- ") || starts("+++ ") {
        Some(Style::new().bold())
    } else if starts("@@") {
        Some(Style::new().cyan())
    } else if starts("+") {
        Some(Style::new().green())
    } else if starts("-") {
        Some(Style::new().red())
    } else {
        None
    }
}
