//! Giving freed memory back to the system. glibc's malloc keeps what a
//! flood freed (the batches of a million-line ingest, the buffers of a
//! hundred followers) in its arenas, one per thread that allocated, for
//! reuse: the daemon stayed at 52 MB idle after a 1M-line ingest (12 MB
//! before). So within two seconds of a run ending or a connection closing,
//! `malloc_trim(0)` gives the free pages
//! of every arena back. Another allocator (jemalloc, mimalloc) returns
//! memory by itself, but would add a C build to m and change the cost of
//! every allocation for the sake of the moments after a peak; the trim is
//! one call there. Other C libraries (musl gives memory back by itself)
//! have no trim, and nothing is called.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static ENDED: AtomicBool = AtomicBool::new(false);

/// Something that held memory ended (a run, a connection): trim soon.
pub fn something_ended() {
    ENDED.store(true, Ordering::Relaxed);
}

/// Trims within two seconds of an end, at most once every two seconds
/// however often things end, on a blocking thread (after a flood a trim
/// walks every arena for a few milliseconds).
pub async fn trim_after_peaks() {
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if ENDED.swap(false, Ordering::Relaxed) {
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
