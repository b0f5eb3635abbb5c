use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use m::error::ErrorKind;

fn main() -> ExitCode {
    let cli = m::cli::Cli::parse();
    match m::cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) if err.kind == ErrorKind::OutputClosed => ExitCode::SUCCESS,
        Err(err) => {
            let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let paint =
                |s: &str, style: console::Style| style.force_styling(color).apply_to(s).to_string();
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(
                stderr,
                "{} {}",
                paint("error:", console::Style::new().red().bold()),
                err.message
            );
            if let Some(hint) = &err.hint {
                let _ = writeln!(
                    stderr,
                    "{} {hint}",
                    paint("hint:", console::Style::new().cyan().bold())
                );
            }
            err.exit_code()
        }
    }
}
