//! The SQLite store: opening, pragmas, migrations, and one file per table
//! family. Every reader and writer of m.db goes through here.

mod approvals;
pub mod check;
mod devices;
mod events;
mod lifecycle;
mod migrations;
pub(crate) mod notifications;
mod queue;
mod remote_devices;
mod repos;
mod retention;
mod run_view;
mod runs;
pub mod usage;

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::error::{Error, ErrorKind, Result};

pub use approvals::ApprovalFilter;
pub use events::NewEvent;
pub use lifecycle::{Batch, Committed, Created, Decision, CANCELLED_WHILE_QUEUED, STALE};
pub use migrations::LATEST_VERSION;
pub use notifications::{AttemptEnd, DeliveryOutcome, OutboxEntry, TargetRecord};
pub use queue::RunOrQueued;
pub use repos::NewRepo;
pub use retention::RunOutput;
pub use runs::{NewRun, RunDetails, RunFilter, RunLine};

/// How long a connection waits for another writer before giving up.
const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// For a long-lived process (the daemon), before it opens its first
/// connection: no connection's page cache starts with a block of pages
/// allocated up front. SQLite gives each cache 20 pages at once
/// (`SQLITE_DEFAULT_PCACHE_INITSZ`), 330 KB with m's 16 KiB pages, and
/// keeps that block until the connection closes, whatever
/// `PRAGMA shrink_memory` frees; the daemon keeps several connections
/// open. Pages are then allocated one by one, and freed. False if SQLite
/// was already initialised in this process (the setting then has no
/// effect, which costs memory, nothing else).
pub fn no_preallocated_page_cache() -> bool {
    // SAFETY: sqlite3_config with SQLITE_CONFIG_PAGECACHE takes a buffer
    // pointer and two ints; no buffer (null, 0 lines) is allowed. SQLite
    // refuses (SQLITE_MISUSE) rather than races once it is initialised.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_config(
            rusqlite::ffi::SQLITE_CONFIG_PAGECACHE,
            std::ptr::null_mut::<std::ffi::c_void>(),
            0 as std::ffi::c_int,
            0 as std::ffi::c_int,
        )
    };
    rc == rusqlite::ffi::SQLITE_OK
}

impl Store {
    /// Opens the database at `path`, creating it (mode 0600) and applying
    /// migrations as needed. A file that is not an m database, or that a newer
    /// m wrote, is refused and left untouched; so is an empty file, since m
    /// never leaves one (see [`create`]).
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            crate::paths::create_private_dir(dir)?;
        }
        if std::fs::symlink_metadata(path).is_err() {
            create(path)?;
        }
        refuse_empty(path)?;
        Store::open_existing(path)
    }

    fn open_existing(path: &Path) -> Result<Store> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| db_error(path, "open", e))?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.configure()?;
        // Nothing may write to the file (not even the switch to WAL, which
        // rewrites its header) before it is known to be m's.
        let version = migrations::check(&store)?;
        store.enable_wal()?;
        migrations::migrate(&mut store, version)?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&self) -> Result<()> {
        let timeout = std::env::var("M_BUSY_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_BUSY_TIMEOUT);
        self.conn
            .busy_timeout(timeout)
            .map_err(|e| self.error("open", e))?;
        // Settings of this connection only: they write nothing to the file.
        // NORMAL sync in WAL mode survives any process crash; only a power
        // loss can take the last commits back. Sorts too big for the page
        // cache (`m run list` over 100k runs orders them all) spill to
        // memory rather than to temporary files (a fifth faster there).
        self.conn
            .execute_batch(
                "PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA temp_store = MEMORY;",
            )
            .map_err(|e| self.error("open", e))
    }

    /// WAL lets readers (every client command) run beside the daemon's
    /// writer. The mode is kept in the file's header, so this is a write.
    /// A log grown by a flood is cut back to 32 MiB when it restarts. A new
    /// database gets 16 KiB pages (an existing one keeps its own): an
    /// `output` event is up to 64 KiB of lines, which on 4 KiB pages spans
    /// a chain of overflow pages; 16 KiB pages store such rows about twice
    /// as fast, for ~50 µs more per single-event commit. A new database
    /// also gets `auto_vacuum = INCREMENTAL` (an existing one cannot switch
    /// without a full rewrite), so `m gc` can give the space of dropped
    /// output back a few pages at a time (`Store::release_space`).
    /// Only a new database is given its page size and vacuum mode: on an
    /// existing one `auto_vacuum` is a write even when it changes nothing,
    /// and on a full disk every command (`m status`, `m run show`) would
    /// fail to open the database.
    fn enable_wal(&self) -> Result<()> {
        let pages: i64 = self
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(|e| self.error("open", e))?;
        if pages == 0 {
            self.conn
                .execute_batch(
                    "PRAGMA page_size = 16384;
                     PRAGMA auto_vacuum = INCREMENTAL;",
                )
                .map_err(|e| self.error("open", e))?;
        }
        self.conn
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA journal_size_limit = 33554432;",
            )
            .map_err(|e| self.error("open", e))
    }

    /// Calls `hook` after each commit with the log's size in pages (the
    /// daemon's writer uses it to checkpoint off its own thread).
    pub fn on_commit(
        &mut self,
        mut hook: impl FnMut(&mut rusqlite::hooks::Wal, i32) + Send + 'static,
    ) -> Result<()> {
        self.conn
            .wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages| {
                hook(wal, pages);
                Ok(())
            }))
            .map_err(|e| self.error("configure", e))
    }

    /// Copies what the log holds back into the database, as far as readers
    /// allow, without blocking the writer (a PASSIVE checkpoint).
    pub fn checkpoint(&self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(|e| self.error("checkpoint", e))
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction: the write lock is taken
    /// up front, so checks made inside hold until the commit.
    pub fn write<T>(
        &mut self,
        f: impl FnOnce(&mut rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let path = self.path.clone();
        let mut tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_error(&path, "write to", e))?;
        let value = f(&mut tx)?;
        tx.commit().map_err(|e| db_error(&path, "write to", e))?;
        Ok(value)
    }

    /// Frees what this connection caches (its pages; the parsed schema
    /// stays), for a connection kept idle.
    pub fn release_memory(&self) {
        let _ = self.conn.execute_batch("PRAGMA shrink_memory");
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    fn error(&self, action: &str, err: rusqlite::Error) -> Error {
        db_error(&self.path, action, err)
    }

    /// Resolves a unique id prefix (as git does for commits) in `table`.
    fn find_prefix(&self, table: &str, what: &str, typed: &str) -> Result<String> {
        let typed = typed.trim();
        let prefix = typed.to_ascii_lowercase();
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(
                Error::not_found(format!("no {what} with id '{typed}'")).with_hint(format!(
                    "ids are hexadecimal; list them with `m {what} list`"
                )),
            );
        }
        let ids = self.ids_with_prefix(table, &prefix)?;
        match ids.len() {
            0 => Err(Error::not_found(format!("no {what} with id '{typed}'"))),
            1 => Ok(ids.into_iter().next().unwrap_or_default()),
            n => {
                let shown = ids
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n  ");
                let more = if n > 10 { "\n  ..." } else { "" };
                Err(Error::usage(format!(
                    "the {what} id prefix '{prefix}' is ambiguous; it matches:\n  {shown}{more}"
                ))
                .with_hint("type more characters of the id"))
            }
        }
    }

    /// The ids in `table` that start with `typed`, in order; at most 11,
    /// enough to tell "more than 10". None when `typed` cannot start an id.
    pub(crate) fn ids_with_prefix(&self, table: &str, typed: &str) -> Result<Vec<String>> {
        let prefix = typed.trim().to_ascii_lowercase();
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Ok(Vec::new());
        }
        // A range on the id's own index: ids are lowercase hex and '-', all
        // below '~'. (`id GLOB ?1 || '*'` scanned every id from the first:
        // SQLite cannot use an index for a GLOB whose pattern is computed.)
        self.query_strings(&prefix_sql(table), [&prefix, &format!("{prefix}~")])
            .map_err(|e| self.error("read", e))
    }

    /// Runs `sql` with `args` and hands each row to `each` until it
    /// returns false: rows are read as they come, never collected.
    fn each_row(
        &self,
        sql: &str,
        args: Vec<rusqlite::types::Value>,
        mut each: impl FnMut(&rusqlite::Row<'_>) -> Result<bool>,
    ) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| self.error("read", e))?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args))
            .map_err(|e| self.error("read", e))?;
        while let Some(row) = rows.next().map_err(|e| self.error("read", e))? {
            if !each(row)? {
                break;
            }
        }
        Ok(())
    }

    fn query_strings<P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
    ) -> rusqlite::Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params, |row| row.get(0))?;
        rows.collect()
    }
}

/// The ids of `table` from ?1 up to ?2 (a prefix and the prefix with `~`).
pub(crate) fn prefix_sql(table: &str) -> String {
    format!("SELECT id FROM {table} WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 11")
}

/// Appends ` AND column IN (?n, ...)` for `values`, bound as numbered
/// parameters after those `args` already holds; nothing when there are no
/// values (no filter).
fn push_in<V: Into<rusqlite::types::Value>>(
    sql: &mut String,
    args: &mut Vec<rusqlite::types::Value>,
    column: &str,
    values: impl IntoIterator<Item = V>,
) {
    let mut marks = Vec::new();
    for value in values {
        args.push(value.into());
        marks.push(format!("?{}", args.len()));
    }
    if !marks.is_empty() {
        sql.push_str(&format!(" AND {column} IN ({})", marks.join(", ")));
    }
}

/// Creates a database at `path`, whole: it is made under a temporary name
/// and linked into place, so `path` never exists empty or half made. An
/// empty file there is then a database cut short, never one being created.
/// When m's run in parallel, the first link wins and the others use it.
fn create(path: &Path) -> Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = path.with_file_name(format!(
        ".{name}.new-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    ));
    // Private from its first moment, even to another process.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| Error::io("create", &temp, e))?;
    // Closed before the link: its log is then folded in and removed.
    let made = Store::open_existing(&temp).map(drop);
    let linked = made.and_then(|()| match std::fs::hard_link(&temp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io("create", path, e)),
    });
    for leftover in ["", "-wal", "-shm"] {
        let mut file = temp.clone().into_os_string();
        file.push(leftover);
        let _ = std::fs::remove_file(file);
    }
    linked
}

/// An empty database file was cut short (a full disk, a copy that failed):
/// m never creates one empty, and SQLite would silently start afresh in it.
fn refuse_empty(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() == 0 => Err(Error::new(
            ErrorKind::Database,
            format!(
                "cannot open {}: the file is empty (0 bytes), so it is a database cut short",
                path.display()
            ),
        )
        .with_hint(format!(
            "m never overwrites it; restore a backup, or move it aside (`mv {0} {0}.empty`) to start afresh",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Turns a SQLite error into one that names the file and says what to do.
pub(crate) fn db_error(path: &Path, action: &str, err: rusqlite::Error) -> Error {
    let shown = path.display();
    match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => Error::new(
            ErrorKind::Database,
            format!("cannot {action} {shown}: the file is not an m database or is damaged"),
        )
        .with_hint(format!(
            "m never overwrites it; move it aside (`mv {shown} {shown}.bad`) to start afresh, or restore a backup"
        )),
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => Error::new(
            ErrorKind::Database,
            format!("cannot {action} {shown}: the database stayed locked by another process"),
        )
        .with_hint("try again; if it persists, find the process holding it (`fuser` or `lsof`)"),
        Some(ErrorCode::DiskFull) => Error::new(ErrorKind::DiskFull, format!(
            "cannot {action} {shown}: the disk is full"
        ))
        .with_hint("free some space and try again; nothing was lost"),
        Some(ErrorCode::ReadOnly) | Some(ErrorCode::PermissionDenied) | Some(ErrorCode::CannotOpen) => {
            Error::new(
                ErrorKind::Database,
                format!("cannot {action} {shown}: {err}"),
            )
            .with_hint("check that the file and its directory are yours and writable")
        }
        _ => Error::new(ErrorKind::Database, format!("cannot {action} {shown}: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn pragma<T: rusqlite::types::FromSql>(store: &Store, name: &str) -> T {
        store
            .conn()
            .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn opening_creates_the_database_private_to_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let db = home.join("m.db");
        let mut store = Store::open(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&home), 0o700);
        // SQLite gives its side files the database's mode.
        store
            .add_repo(NewRepo {
                name: "api".into(),
                git_url: None,
            })
            .unwrap();
        assert_eq!(mode(&home.join("m.db-wal")), 0o600);
        assert_eq!(mode(&home.join("m.db-shm")), 0o600);
    }

    #[test]
    fn every_connection_has_wal_foreign_keys_and_a_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        // The first open creates and migrates; later ones find it ready.
        let stores: Vec<Store> = (0..3).map(|_| Store::open(&db).unwrap()).collect();
        for store in &stores {
            assert_eq!(pragma::<String>(store, "journal_mode"), "wal");
            assert_eq!(pragma::<i64>(store, "foreign_keys"), 1);
            assert_eq!(pragma::<i64>(store, "busy_timeout"), 5000);
            assert_eq!(pragma::<i64>(store, "user_version"), LATEST_VERSION);
        }
        // Foreign keys are enforced, not only declared.
        let orphan = stores[1].conn().execute(
            "INSERT INTO runs (id, repo_id, prompt, state, workspace_path, created_at, updated_at)
             VALUES ('r', 'no-such-repo', 'p', 'running', '/w', 1, 1)",
            [],
        );
        assert_eq!(
            orphan.unwrap_err().sqlite_error_code(),
            Some(ErrorCode::ConstraintViolation)
        );
    }

    #[test]
    fn an_empty_database_file_is_refused_and_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        std::fs::write(&db, "").unwrap();
        let err = Store::open(&db).err().expect("refused");
        assert_eq!(err.kind, ErrorKind::Database);
        assert!(err.message.contains("empty"), "{}", err.message);
        assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);
    }

    #[test]
    fn creating_leaves_only_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        drop(Store::open(&db).unwrap());
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("m.db-"))
            .collect();
        names.sort();
        assert_eq!(names, ["m.db"]);
        assert!(std::fs::metadata(&db).unwrap().len() > 0);
    }

    #[test]
    fn a_new_database_has_16k_pages_and_an_old_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let new = Store::open(&dir.path().join("new.db")).unwrap();
        assert_eq!(pragma::<i64>(&new, "page_size"), 16384);
        assert_eq!(pragma::<String>(&new, "journal_mode"), "wal");
        assert_eq!(pragma::<i64>(&new, "temp_store"), 2, "MEMORY");
        assert_eq!(pragma::<i64>(&new, "auto_vacuum"), 2, "INCREMENTAL");

        let path = dir.path().join("old.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL;")
            .unwrap();
        drop(old);
        let old = Store::open(&path).unwrap();
        assert_eq!(pragma::<i64>(&old, "page_size"), 4096);
        assert_eq!(pragma::<i64>(&old, "auto_vacuum"), 0, "unchanged");
        assert_eq!(pragma::<i64>(&old, "user_version"), LATEST_VERSION);
    }
}
