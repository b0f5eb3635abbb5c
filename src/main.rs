use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use m::error::ErrorKind;

fn main() -> ExitCode {
    // A shell's TAB: answered before anything else runs or prints.
    m::cli::answer_completion_if_asked();
    let cli = m::cli::Cli::try_parse().unwrap_or_else(|err| {
        let args: Vec<String> = std::env::args_os()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let mut cmd = m::cli::Cli::command();
        cmd.build();
        m::cli::suggest::improve(err, &cmd, &args).exit()
    });
    match m::cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) if err.kind == ErrorKind::OutputClosed => ExitCode::SUCCESS,
        Err(err) => {
            m::cli::output::print_error(&err);
            err.exit_code()
        }
    }
}
