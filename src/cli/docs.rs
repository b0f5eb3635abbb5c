//! `m generate-docs` (hidden): writes `completions/` and `man/` from the
//! clap definition. Run `cargo run -- generate-docs` at the top of the
//! repository after changing a command; tests/docs.rs fails while they are
//! stale.

use std::fs;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::{Generator, Shell};

use super::{Cli, Ctx};
use crate::error::{exit, Error, Result};

#[derive(Debug, Args)]
pub struct GenerateDocsArgs {
    /// The directory that gets `completions/` and `man/` (the repository's top).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
}

pub fn run(ctx: &Ctx, args: GenerateDocsArgs) -> Result<u8> {
    let written = generate(&args.out)?;
    ctx.ui.line(format!(
        "wrote {} files under {}",
        written.len(),
        args.out.join("completions").display()
    ))?;
    ctx.ui
        .line(format!("  and {}", args.out.join("man").display()))?;
    Ok(exit::OK)
}

/// Writes every completion script and man page under `out`, removing pages
/// of commands that no longer exist. Returns the files written.
pub fn generate(out: &Path) -> Result<Vec<PathBuf>> {
    let completions = out.join("completions");
    let man = out.join("man");
    for dir in [&completions, &man] {
        fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    }
    let mut written = Vec::new();
    for shell in Shell::value_variants() {
        let file = completions.join(shell.file_name("m"));
        write(&file, &super::completions::script(*shell))?;
        written.push(file);
    }
    for entry in fs::read_dir(&man).map_err(|e| Error::io("read", &man, e))? {
        let path = entry.map_err(|e| Error::io("read", &man, e))?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.ends_with(".1") && (name == "m.1" || name.starts_with("m-")) {
            fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
        }
    }
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    man_pages(&cmd, &man, &mut written)?;
    written.sort();
    Ok(written)
}

/// One page for `cmd` and for each of its visible subcommands, recursively.
fn man_pages(cmd: &clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub, dir, written)?;
    }
    let page = clap_mangen::Man::new(cmd.clone()).source(format!("m {}", crate::protocol::VERSION));
    let file = dir.join(page.get_filename());
    let mut text = Vec::new();
    page.render(&mut text)
        .map_err(|e| Error::failure(format!("cannot render {}: {e}", file.display())))?;
    write(&file, &text)?;
    written.push(file);
    Ok(())
}

fn write(file: &Path, contents: &[u8]) -> Result<()> {
    fs::write(file, contents).map_err(|e| Error::io("write", file, e))
}
