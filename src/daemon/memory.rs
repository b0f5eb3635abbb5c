//! Giving freed memory back to the system. glibc's malloc keeps what a
//! flood freed (the batches of a million-line ingest, the buffers of a
//! hundred followers) in its arenas, one per thread that allocated, for
//! reuse: the daemon stayed at 52 MB idle after a 1M-line ingest (12 MB
//! before). So within two seconds of a run ending or a connection closing,
//! the writer empties its page cache and `malloc_trim(0)` gives the free
//! pages of every arena back, and again once the threads that served the
//! peak have exited. With a fixed trim threshold ([`configure`]) the tops
//! of the threads' arenas, which the trim leaves alone, shrink too.
//!
//! glibc stays the allocator: it returns the most. Measured (bench row 8's
//! steps, the same release build, each allocator preloaded): RSS 10 s after
//! a 1M-line ingest and 10 s after 100 followers leave, glibc with these
//! trims 13.7 and 14.5 MB; jemalloc 5.3 (background thread, 1 s decay)
//! 17.3 and 20.8 MB; mimalloc 2.0 33.2 and 20.4 MB (30.9 and 19.5 with its
//! page reset on). Either would also add a C build to m. Other C
//! libraries (musl gives memory back by itself) have no trim, and nothing
//! is called.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::writer::Writer;

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

/// glibc's threshold above which freed memory at the top of an arena goes
/// back to the system, fixed (its default, 128 KiB) instead of raised as
/// big blocks are freed. glibc raises it to twice the biggest block freed
/// (up to 64 MiB), and `malloc_trim` does not trim the top of a thread's
/// own arena: after a hundred followers each of the busy threads' arenas
/// kept up to a megabyte free at its top (measured: 0.5 MB of the 15).
/// Fixing it also fixes the size from which a block gets a mapping of its
/// own (128 KiB), given back as soon as it is freed; the ingest's rate did
/// not change (bench row 3).
const TRIM_THRESHOLD: i32 = 128 << 10;

/// The allocators' settings (malloc's and SQLite's), before the daemon
/// starts its threads and opens its first connection (SQLite reads its
/// setting when it initialises).
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets malloc's parameters, under malloc's lock.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
    if !crate::store::no_preallocated_page_cache() {
        tracing::debug!(
            "SQLite was initialised before the daemon started: page caches preallocate"
        );
    }
}

/// Something that held memory ended (a run, a connection): trim soon.
pub fn something_ended() {
    ENDED.store(true, Ordering::Relaxed);
}

/// Trims within two seconds of an end and twice more two seconds apart,
/// however often things end (at most once a tick), on a blocking thread
/// (after a flood a trim walks every arena for a few milliseconds). The
/// writer's page cache is emptied first, so that its pages are among
/// what the trim gives back.
pub async fn trim_after_peaks(writer: Writer) {
    let mut trims_left = 0u8;
    loop {
        tokio::time::sleep(TICK).await;
        if ENDED.swap(false, Ordering::Relaxed) {
            trims_left = TRIMS_AFTER_AN_END;
        }
        if trims_left > 0 {
            trims_left -= 1;
            writer.release_memory().await;
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
