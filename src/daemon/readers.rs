//! The daemon's database connections for reads, kept between reads.
//! Opening one parses the whole schema, a third of a client command's work
//! (callgrind: 1.3 M of `m approve`'s 3.6 M instructions), and every read
//! of the daemon paid it: a decision looking its approval up, a follower
//! reading its backlog. A few stay open, their page caches emptied, so
//! that an idle daemon holds no more than it did.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::store::Store;

/// How many idle connections are kept: one per runtime worker thread.
const KEPT: usize = 2;

pub struct Readers {
    db: PathBuf,
    idle: Mutex<Vec<Store>>,
}

impl Readers {
    pub fn new(db: PathBuf) -> Readers {
        Readers {
            db,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle connection, or a new one when none is.
    pub fn take(&self) -> Result<Store> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(store) => Ok(store),
            None => Store::open(&self.db),
        }
    }

    /// Keeps `store` for the next read (its page cache emptied), or closes it
    /// when enough are kept.
    pub fn give_back(&self, store: Store) {
        store.release_memory();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < KEPT {
            idle.push(store);
        }
    }
}

/// Runs a read on one of `readers`' connections, on a blocking thread.
pub async fn read<T: Send + 'static>(
    readers: &Arc<Readers>,
    f: impl FnOnce(&Store) -> Result<T> + Send + 'static,
) -> Result<T> {
    let readers = readers.clone();
    tokio::task::spawn_blocking(move || {
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
        assert_eq!(readers.idle.lock().unwrap().len(), KEPT);
        let again = readers.take().unwrap();
        assert_eq!(
            again
                .conn()
                .query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .unwrap(),
            1
        );
        assert_eq!(readers.idle.lock().unwrap().len(), KEPT - 1);
    }
}
