//! A read-only look at a database file, for `m doctor`: it never creates,
//! migrates or writes anything.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::db_error;
use super::migrations::{read_header, APPLICATION_ID, LATEST_VERSION};
use crate::error::{Error, ErrorKind, Result};

/// What `inspect` found in a readable m database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// `PRAGMA user_version`: the migrations applied.
    pub schema_version: i64,
    /// What this binary migrates to.
    pub latest_version: i64,
    /// `PRAGMA quick_check`'s findings; empty when it said `ok`.
    pub problems: Vec<String>,
    /// Phones registered for push notifications.
    pub devices: i64,
}

/// Opens `path` read-only and checks it is m's, its schema version and
/// its integrity (`PRAGMA quick_check`).
pub fn inspect(path: &Path) -> Result<Health> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| db_error(path, "open", e))?;
    let (version, app_id, tables) = read_header(&conn).map_err(|e| db_error(path, "read", e))?;
    if app_id != APPLICATION_ID && (version != 0 || app_id != 0 || tables != 0) {
        return Err(Error::new(
            ErrorKind::Database,
            format!("{} is a SQLite database, but not m's", path.display()),
        )
        .with_hint(format!(
            "move it aside (`mv {0} {0}.not-m`) or point M_HOME elsewhere",
            path.display()
        )));
    }
    let mut stmt = conn
        .prepare("PRAGMA quick_check")
        .map_err(|e| db_error(path, "check", e))?;
    let rows = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
        .map_err(|e| db_error(path, "check", e))?;
    let problems: Vec<String> = rows.into_iter().filter(|r| r != "ok").collect();
    let devices = if problems.is_empty() && tables > 0 {
        conn.query_row("SELECT count(*) FROM devices", [], |r| r.get(0))
            .map_err(|e| db_error(path, "read", e))?
    } else {
        0
    };
    Ok(Health {
        schema_version: version,
        latest_version: LATEST_VERSION,
        problems,
        devices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_store_is_healthy_and_garbage_is_a_database_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        drop(super::super::Store::open(&db).unwrap());
        let health = inspect(&db).unwrap();
        assert_eq!(health.schema_version, LATEST_VERSION);
        assert!(health.problems.is_empty());

        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, vec![b'x'; 8192]).unwrap();
        let err = inspect(&junk).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Database);
        assert!(err.hint.unwrap().contains("mv "));
    }
}
