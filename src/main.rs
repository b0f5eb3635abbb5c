use std::process::ExitCode;

use clap::Parser;
use m::error::ErrorKind;

fn main() -> ExitCode {
    let cli = m::cli::Cli::parse();
    match m::cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) if err.kind == ErrorKind::OutputClosed => ExitCode::SUCCESS,
        Err(err) => {
            m::cli::output::print_error(&err);
            err.exit_code()
        }
    }
}
