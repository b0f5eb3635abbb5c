//! One error type for the whole program. Its kind decides the exit code, so
//! scripts can branch on what went wrong; its message names the thing and the
//! cause; its hint says what to do.

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

/// Documented exit codes (README "Exit codes"). Scripts depend on these
/// numbers: never renumber, only add.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NOT_FOUND: u8 = 3;
    pub const CONFLICT: u8 = 4;
    pub const DAEMON_UNAVAILABLE: u8 = 5;
    pub const DATABASE: u8 = 6;
    /// A process of a run tried to decide (approve, reject, reply, done):
    /// only humans decide.
    pub const REFUSED: u8 = 7;
    /// `--wait`, `run wait`, `events --follow`: how the run stands.
    pub const RUN_FAILED: u8 = 10;
    pub const RUN_CANCELLED: u8 = 11;
    pub const RUN_WAITING_APPROVAL: u8 = 12;
    pub const RUN_WAITING_INPUT: u8 = 13;
    /// `m run wait --timeout`: the run still went on when time was up (as
    /// `timeout` says it).
    pub const TIMED_OUT: u8 = 124;
    /// Ctrl-C while following or waiting on a run, which goes on (128 + SIGINT).
    pub const INTERRUPTED: u8 = 130;
    /// `m ask approval -- CMD`: approved, but CMD could not be started
    /// (as shells, `env` and `timeout` say it).
    pub const CANNOT_EXECUTE: u8 = 126;
    pub const COMMAND_NOT_FOUND: u8 = 127;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Something failed that the user can not fix by changing the command.
    Failure,
    /// The command line itself is wrong (bad value, missing argument).
    Usage,
    /// An id, name or token matched nothing.
    NotFound,
    /// The request is valid but clashes with the current state
    /// (duplicate name, active run, already decided approval).
    Conflict,
    /// No daemon answers and none may be started.
    DaemonUnavailable,
    /// The database file is not usable by this binary.
    Database,
    /// Not for this caller: a run's process may not decide.
    Refused,
    /// The disk holding m's data is full: the write can be tried again
    /// once there is space.
    DiskFull,
    /// Our reader went away (`m events RUN | head -1`): not a failure.
    OutputClosed,
    /// A wait given a time limit (`m run wait --timeout`) ran out of it.
    TimedOut,
}

impl ErrorKind {
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Failure => exit::FAILURE,
            ErrorKind::Usage => exit::USAGE,
            ErrorKind::NotFound => exit::NOT_FOUND,
            ErrorKind::Conflict => exit::CONFLICT,
            ErrorKind::DaemonUnavailable => exit::DAEMON_UNAVAILABLE,
            ErrorKind::Database => exit::DATABASE,
            ErrorKind::Refused => exit::REFUSED,
            ErrorKind::DiskFull => exit::FAILURE,
            ErrorKind::OutputClosed => exit::OK,
            ErrorKind::TimedOut => exit::TIMED_OUT,
        }
    }
}

#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub hint: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    pub fn failure(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Failure, message)
    }

    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Usage, message)
    }

    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Conflict, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Error {
        self.hint = Some(hint.into());
        self
    }

    /// An I/O failure on a file or directory, naming the path.
    pub fn io(action: &str, path: &Path, err: std::io::Error) -> Error {
        Error::failure(format!("cannot {action} {}: {err}", path.display()))
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.kind.exit_code())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Writing to a closed pipe (`m events RUN | head -1`) is how a reader says it
/// has seen enough: the program ends quietly with success.
pub fn is_broken_pipe(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::BrokenPipe
}

impl From<std::io::Error> for Error {
    /// Only for writes to stdout/stderr; anything touching a file goes
    /// through [`Error::io`] so the path is named.
    fn from(err: std::io::Error) -> Error {
        if is_broken_pipe(&err) {
            Error::new(ErrorKind::OutputClosed, "output closed")
        } else {
            Error::failure(format!("cannot write output: {err}"))
        }
    }
}
