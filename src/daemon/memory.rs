//! Giving freed memory back to the system. glibc's malloc keeps what a
//! flood freed (the batches of a million-line ingest, the buffers of a
//! hundred followers) in its arenas, one per thread that allocated, for
//! reuse: the daemon stayed at 52 MB idle after a 1M-line ingest (12 MB
//! before). So within two seconds of a run ending or a connection closing,
//! `malloc_trim(0)` gives the free pages of every arena back, and again
//! once the threads that served the peak have exited. Another allocator (jemalloc, mimalloc) returns
//! memory by itself, but would add a C build to m and change the cost of
//! every allocation for the sake of the moments after a peak; the trim is
//! one call there. Other C libraries (musl gives memory back by itself)
//! have no trim, and nothing is called.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static ENDED: AtomicBool = AtomicBool::new(false);

/// How long an idle thread of the runtime's blocking pool lives (tokio's
/// default is 10 s). A thread hands what it cached (glibc's per-thread
/// cache) back to the arenas only when it exits: a hundred followers
/// reading their backlogs left ~2 MB that a trim made before those
/// threads exited could not give back.
pub const BLOCKING_THREAD_KEEP_ALIVE: Duration = Duration::from_secs(2);

/// How often the trimmer looks, and how many of its looks trim after an end:
/// the first within two seconds, the last after the blocking threads that
/// served the peak have exited ([`BLOCKING_THREAD_KEEP_ALIVE`]).
const TICK: Duration = Duration::from_secs(2);
const TRIMS_AFTER_AN_END: u8 = 3;

/// Something that held memory ended (a run, a connection): trim soon.
pub fn something_ended() {
    ENDED.store(true, Ordering::Relaxed);
}

/// Trims within two seconds of an end and twice more two seconds apart,
/// however often things end (at most once a tick), on a blocking thread
/// (after a flood a trim walks every arena for a few milliseconds).
pub async fn trim_after_peaks() {
    let mut trims_left = 0u8;
    loop {
        tokio::time::sleep(TICK).await;
        if ENDED.swap(false, Ordering::Relaxed) {
            trims_left = TRIMS_AFTER_AN_END;
        }
        if trims_left > 0 {
            trims_left -= 1;
            let _ = tokio::task::spawn_blocking(trim).await;
        }
    }
}

fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of malloc's own
    // arenas; it is thread-safe (it takes each arena's lock).
    unsafe {
        libc::malloc_trim(0);
    }
}
