//! Ctrl-C while a command follows or waits on a run: the run goes on in the
//! daemon, so say so and how to stop it, on a line of its own (the spinner's
//! line cleared first), and exit 130, as shells report an interrupt.

use std::io::IsTerminal;
use std::sync::OnceLock;

use crate::model::short_id;

/// What the handler writes: prepared beforehand, since a signal handler may
/// only call async-signal-safe functions (`write`, `_exit`).
static MESSAGE: OnceLock<Vec<u8>> = OnceLock::new();

/// From now on, Ctrl-C prints `run 1a2b3c4d continues; m run cancel
/// 1a2b3c4d stops it` on stderr and exits 130.
pub fn say_run_continues(run_id: &str) {
    let short = short_id(run_id);
    // Carriage return and "erase line": the spinner's line goes.
    let clear = if std::io::stderr().is_terminal() {
        "\r\x1b[2K"
    } else {
        ""
    };
    let message = format!("{clear}run {short} continues; m run cancel {short} stops it\n");
    if MESSAGE.set(message.into_bytes()).is_err() {
        return;
    }
    // SAFETY: installs a handler that only reads MESSAGE (set above, never
    // changed again) and calls async-signal-safe functions.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_interrupt as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
}

extern "C" fn on_interrupt(_signal: libc::c_int) {
    if let Some(message) = MESSAGE.get() {
        // SAFETY: write and _exit are async-signal-safe; the buffer lives
        // for the whole program.
        unsafe {
            libc::write(libc::STDERR_FILENO, message.as_ptr().cast(), message.len());
        }
    }
    // SAFETY: as above.
    unsafe { libc::_exit(crate::error::exit::INTERRUPTED.into()) }
}
