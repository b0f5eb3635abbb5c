//! The daemon's database connections for reads, kept between reads.
//! Opening one parses the whole schema, a third of a client command's work
//! (callgrind: 1.3 M of `m approve`'s 3.6 M instructions), and every read
//! of the daemon paid it: a decision looking its approval up, a follower
//! reading its backlog. A few stay open, their page caches emptied, so
//! that an idle daemon holds no more than it did.
//!
//! They are also all there is: a read waits for one of them. A hundred
//! followers catching up at once opened a hundred connections on a
//! hundred blocking threads, and what those left behind (the schema of
//! each kept connection among their freed pages, a malloc arena per
//! thread) kept ~3 MB of freed memory from going back to the system.
//! No read holds a connection while it waits for anything else (a
//! follower takes one per page of its backlog, not while it sends), so
//! waiting for one is waiting for a few milliseconds of SQLite.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::error::{Error, Result};
use crate::store::Store;

/// How many connections read at once (and stay open): one per runtime
/// worker thread.
const CONNECTIONS: usize = 2;

pub struct Readers {
    db: PathBuf,
    idle: Mutex<Vec<Store>>,
    /// A permit per connection: a read holds one while it reads.
    permits: Arc<Semaphore>,
}

impl Readers {
    pub fn new(db: PathBuf) -> Readers {
        Readers {
            db,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(CONNECTIONS)),
        }
    }

    /// An idle connection, or a new one when none is.
    fn take(&self) -> Result<Store> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(store) => Ok(store),
            None => Store::open(&self.db),
        }
    }

    /// Keeps `store` for the next read (its page cache emptied), or closes it
    /// when enough are kept.
    fn give_back(&self, store: Store) {
        store.release_memory();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < CONNECTIONS {
            idle.push(store);
        }
    }
}

/// Runs a read on one of `readers`' connections, on a blocking thread, once
/// one is free.
pub async fn read<T: Send + 'static>(
    readers: &Arc<Readers>,
    f: impl FnOnce(&Store) -> Result<T> + Send + 'static,
) -> Result<T> {
    let permit = readers
        .permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| Error::failure("the daemon's database readers are closed"))?;
    let readers = readers.clone();
    tokio::task::spawn_blocking(move || {
        // Held until the connection is given back, even if the caller
        // stopped waiting.
        let _permit = permit;
        let store = readers.take()?;
        let value = f(&store);
        readers.give_back(store);
        value
    })
    .await
    .map_err(|e| Error::failure(format!("a database read crashed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_reused_and_only_a_few_kept() {
        let dir = tempfile::tempdir().unwrap();
        let readers = Readers::new(dir.path().join("m.db"));
        let taken: Vec<Store> = (0..4).map(|_| readers.take().unwrap()).collect();
        for store in taken {
            readers.give_back(store);
        }
        assert_eq!(readers.idle.lock().unwrap().len(), CONNECTIONS);
        let again = readers.take().unwrap();
        assert_eq!(
            again
                .conn()
                .query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .unwrap(),
            1
        );
        assert_eq!(readers.idle.lock().unwrap().len(), CONNECTIONS - 1);
    }

    /// A flood of reads (a hundred followers catching up) shares the kept
    /// connections instead of opening one each.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_at_once_never_open_more_than_the_kept_connections() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(&dir.path().join("m.db")).unwrap());
        let readers = Arc::new(Readers::new(dir.path().join("m.db")));
        let reading = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let reads: Vec<_> = (0..32)
            .map(|_| {
                let (readers, reading, most) = (readers.clone(), reading.clone(), most.clone());
                tokio::spawn(async move {
                    read(&readers, move |store| {
                        let now = reading.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        // Long enough for the others to pile up behind.
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        let one: i64 = store
                            .conn()
                            .query_row("SELECT 1", [], |r| r.get(0))
                            .unwrap();
                        reading.fetch_sub(1, Ordering::SeqCst);
                        Ok(one)
                    })
                    .await
                })
            })
            .collect();
        for r in reads {
            assert_eq!(r.await.unwrap().unwrap(), 1);
        }
        let most = most.load(Ordering::SeqCst);
        assert!((1..=CONNECTIONS).contains(&most), "{most} reads at once");
        assert!(readers.idle.lock().unwrap().len() <= CONNECTIONS);
    }
}
