//! Schema versions on `PRAGMA user_version`. Migration 1 is the seed's schema
//! verbatim; every later one only adds, so any reader of the seed's schema
//! keeps working on an m database.

use rusqlite::Connection;

use super::{db_error, Store};
use crate::error::{Error, ErrorKind, Result};

/// Marks the file as m's ('m_db'), so a foreign SQLite file is told apart
/// from a fresh one.
pub(super) const APPLICATION_ID: i32 = 0x6d5f_6462;

const MIGRATIONS: &[&str] = &[
    include_str!("../../schema.sql"),
    // 2: what m records about a run beyond the seed's columns.
    "CREATE TABLE run_details (
       run_id TEXT PRIMARY KEY REFERENCES runs(id),
       agent TEXT NOT NULL,            -- JSON: how the agent was started
       options TEXT NOT NULL DEFAULT '{}', -- JSON: review, auto-approve, ...
       branch TEXT,                    -- m/<short-id> for git repos
       base_commit TEXT,               -- where the run branch started
       pgid INTEGER                    -- the agent's process group while it lives
     );",
    // 3: notifications. Device details beside the seed's `devices`, the
    // history of devices m removed by itself, and the durable outbox.
    "CREATE TABLE device_details (
       token TEXT PRIMARY KEY REFERENCES devices(token),
       env TEXT NOT NULL DEFAULT 'production' CHECK(env IN ('sandbox', 'production')),
       name TEXT
     );
     CREATE TABLE device_history (
       id INTEGER PRIMARY KEY,
       token TEXT NOT NULL,
       env TEXT,
       name TEXT,
       reason TEXT NOT NULL,           -- why m removed it (APNs status and reason)
       at INTEGER NOT NULL
     );
     -- Written in the transaction of the event that raised it; delivered by
     -- the daemon. run_id and approval_id are plain columns, no foreign
     -- keys: deleting a run deletes its notifications explicitly.
     CREATE TABLE notifications (
       id INTEGER PRIMARY KEY,
       event TEXT NOT NULL,            -- approval.requested, run.completed, ...
       run_id TEXT NOT NULL,
       approval_id TEXT,
       seq INTEGER NOT NULL,           -- of the event that raised it
       payload TEXT NOT NULL,          -- JSON: event, run, approval, data
       created_at INTEGER NOT NULL,
       attempts INTEGER NOT NULL DEFAULT 0,
       next_attempt_at INTEGER NOT NULL,
       state TEXT NOT NULL DEFAULT 'pending' CHECK(state IN ('pending', 'delivered', 'failed')),
       last_error TEXT,
       UNIQUE(run_id, seq)
     );
     CREATE INDEX idx_notifications_due ON notifications(state, next_attempt_at);
     -- Each target (apns:TOKEN, webhook:NAME, command:NAME) that is done with
     -- a notification, so a retry reaches only the others.
     CREATE TABLE notification_deliveries (
       notification_id INTEGER NOT NULL REFERENCES notifications(id),
       target TEXT NOT NULL,
       outcome TEXT NOT NULL CHECK(outcome IN ('delivered', 'pruned', 'dropped', 'failed')),
       detail TEXT,
       at INTEGER NOT NULL,
       PRIMARY KEY (notification_id, target)
     );",
    // 4: who decided each approval, and the phones and browsers paired with
    // the remote API (their bearer tokens kept only as SHA-256 hashes).
    "CREATE TABLE approval_decisions (
       approval_id TEXT PRIMARY KEY REFERENCES approvals(id),
       decided_by TEXT NOT NULL        -- JSON: {kind: human|device|policy|agent|m, ...}
     );
     CREATE TABLE remote_devices (
       id TEXT PRIMARY KEY,
       name TEXT NOT NULL,
       platform TEXT NOT NULL,         -- ios, web
       scopes TEXT NOT NULL,           -- read,decide,control
       token_hash TEXT NOT NULL,       -- hex SHA-256 of the token's secret
       apns_token TEXT,                -- its row in devices, if it gave one
       created_at INTEGER NOT NULL,
       last_seen_at INTEGER
     );",
    // 5: runs waiting for their repo's active run to end (`m run start
    // --queue`). A queued run has its id from the start; when it starts it
    // becomes a row of `runs` and leaves this table in the same transaction.
    "CREATE TABLE run_queue (
       seq INTEGER PRIMARY KEY AUTOINCREMENT, -- arrival order
       id TEXT NOT NULL UNIQUE,        -- the run's id once it starts
       repo_id TEXT NOT NULL REFERENCES repos(id),
       prompt TEXT NOT NULL,
       workspace_path TEXT NOT NULL,
       agent TEXT NOT NULL,            -- JSON, as run_details.agent
       options TEXT NOT NULL,          -- JSON, as run_details.options
       base TEXT,                      -- the ref its branch starts from (--base)
       event_id TEXT NOT NULL,         -- of its `run.queued` event, stored when it starts
       arrival_position INTEGER NOT NULL, -- its place in the repo's queue when queued
       created_at INTEGER NOT NULL
     );
     CREATE INDEX idx_run_queue_repo ON run_queue(repo_id, seq);",
    // 6: the usage ledger, written with the events that report usage
    // (store/usage.rs).
    "CREATE TABLE run_usage (
       run_id TEXT PRIMARY KEY REFERENCES runs(id),
       input_tokens INTEGER NOT NULL DEFAULT 0,  -- summed over turn results
       output_tokens INTEGER NOT NULL DEFAULT 0,
       cost_total REAL,                -- the session's cost, restarts added
       cost_last REAL,                 -- the agent's last cumulative cost
       cost_currency TEXT,
       context_used INTEGER,
       context_size INTEGER
     );",
    // 7: history costs nothing (issue 20). The one-active-run check reads
    // only the repo's active runs (a partial index: the query must spell the
    // same literal states); listings read the newest first from an index
    // instead of sorting every run; and how many runs there are is kept
    // per repo and state by triggers, so a listing can say how many it left
    // out without counting a million rows.
    "CREATE INDEX idx_runs_active ON runs(repo_id)
       WHERE state IN ('running', 'waiting_input', 'waiting_approval');
     CREATE INDEX idx_runs_created_at ON runs(created_at);
     CREATE INDEX idx_runs_state_created_at ON runs(state, created_at);
     CREATE INDEX idx_runs_repo_created_at ON runs(repo_id, created_at);
     CREATE TABLE run_counts (
       repo_id TEXT NOT NULL,
       state TEXT NOT NULL,
       n INTEGER NOT NULL,
       PRIMARY KEY (repo_id, state)
     ) WITHOUT ROWID;
     INSERT INTO run_counts (repo_id, state, n)
       SELECT repo_id, state, count(*) FROM runs GROUP BY repo_id, state;
     CREATE TRIGGER run_counts_insert AFTER INSERT ON runs BEGIN
       INSERT INTO run_counts (repo_id, state, n) VALUES (NEW.repo_id, NEW.state, 1)
         ON CONFLICT (repo_id, state) DO UPDATE SET n = n + 1;
     END;
     CREATE TRIGGER run_counts_delete AFTER DELETE ON runs BEGIN
       UPDATE run_counts SET n = n - 1 WHERE repo_id = OLD.repo_id AND state = OLD.state;
     END;
     CREATE TRIGGER run_counts_update AFTER UPDATE OF repo_id, state ON runs
     WHEN OLD.repo_id IS NOT NEW.repo_id OR OLD.state IS NOT NEW.state BEGIN
       UPDATE run_counts SET n = n - 1 WHERE repo_id = OLD.repo_id AND state = OLD.state;
       INSERT INTO run_counts (repo_id, state, n) VALUES (NEW.repo_id, NEW.state, 1)
         ON CONFLICT (repo_id, state) DO UPDATE SET n = n + 1;
     END;",
    // 8: the usage ledger added up per repo and currency, so `m status`
    // reads one row per repo instead of joining every run of the history.
    // Kept by the code that changes the ledger (store/usage.rs), not by
    // triggers: every command parses the whole schema when it opens the
    // database, and three triggers doing this cost a tenth of `m run list`.
    // A run without a cost counts under currency ''.
    "CREATE TABLE repo_usage (
       repo_id TEXT NOT NULL,
       currency TEXT NOT NULL,         -- '' for runs that reported no cost
       runs INTEGER NOT NULL,
       input_tokens INTEGER NOT NULL,
       output_tokens INTEGER NOT NULL,
       cost_total REAL NOT NULL,
       PRIMARY KEY (repo_id, currency)
     ) WITHOUT ROWID;
     INSERT INTO repo_usage (repo_id, currency, runs, input_tokens, output_tokens, cost_total)
       SELECT r.repo_id, coalesce(u.cost_currency, ''), count(*), sum(u.input_tokens),
         sum(u.output_tokens), coalesce(sum(u.cost_total), 0)
       FROM run_usage u JOIN runs r ON r.id = u.run_id
       GROUP BY r.repo_id, coalesce(u.cost_currency, '');",
    // 9: a run's questions, found without reading its whole log. A decision
    // that leaves no approval pending asks whether a question is still open
    // (`lifecycle::OPEN_QUESTION_EVENTS_SQL`), in the writer's transaction:
    // over the (run_id, seq) index that read every event of the run, 32 ms
    // at 100k events, and every write of every run waited behind it.
    // Partial: only the few question events are indexed, so storing output
    // costs nothing more (the query spells the same literal types).
    "CREATE INDEX idx_events_input ON events(run_id, seq)
       WHERE type IN ('input.requested', 'input.provided', 'input.withdrawn');",
];

pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Reads the file's header without writing to it, and refuses a file that is
/// not m's or that a newer m wrote. Returns its schema version.
pub(super) fn check(store: &Store) -> Result<i64> {
    let path = &store.path;
    let (version, app_id, tables) =
        read_header(&store.conn).map_err(|e| db_error(path, "open", e))?;
    let shown = path.display();
    if app_id != APPLICATION_ID && (version != 0 || app_id != 0 || tables != 0) {
        return Err(Error::new(
            ErrorKind::Database,
            format!("{shown} is a SQLite database, but not m's"),
        )
        .with_hint("m never overwrites it; point M_HOME elsewhere or move the file aside"));
    }
    if version > LATEST_VERSION {
        return Err(Error::new(
            ErrorKind::Database,
            format!(
                "{shown} was written by a newer m (schema version {version}; this m knows up to {LATEST_VERSION})"
            ),
        )
        .with_hint("upgrade m; the file was left untouched"));
    }
    Ok(version)
}

/// Brings a checked file from `version` to [`LATEST_VERSION`].
pub(super) fn migrate(store: &mut Store, version: i64) -> Result<()> {
    if version == LATEST_VERSION {
        return Ok(());
    }
    let path = store.path.clone();
    store.write(|tx| {
        // Another process may have migrated between our read and the lock.
        let (version, _, _) = read_header(tx).map_err(|e| db_error(&path, "migrate", e))?;
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(sql)
                .map_err(|e| db_error(&path, "migrate", e))?;
            tx.pragma_update(None, "user_version", index as i64 + 1)
                .map_err(|e| db_error(&path, "migrate", e))?;
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(|e| db_error(&path, "migrate", e))?;
        Ok(())
    })
}

pub(super) fn read_header(conn: &Connection) -> rusqlite::Result<(i64, i32, i64)> {
    let version = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let app_id = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let tables = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    Ok((version, app_id, tables))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(conn: &Connection) -> Vec<(String, String, String)> {
        let mut stmt = conn
            .prepare(
                "SELECT type, name, tbl_name FROM sqlite_master
                 WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// The seed schema as the repository keeps it (`schema.sql`, read from
    /// disk here rather than through `MIGRATIONS`, so that the two are
    /// compared, not assumed equal). Nothing outside the repository is read.
    fn seed_sql() -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.sql");
        std::fs::read_to_string(path).unwrap()
    }

    const SEED_STATEMENTS_FNV1A: u64 = 0xf7eb_95da_3a85_10c5;

    /// FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
    fn fnv1a(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    #[test]
    fn schema_sql_is_the_seed_verbatim() {
        // schema.sql is the seed's data contract: a change to it must be a
        // later migration instead. This pins the statements of the seed
        // (everything after the two comment lines), whitespace included.
        let sql = seed_sql();
        let statements = sql.split_once("\n\n").unwrap().1;
        assert_eq!(
            fnv1a(statements.as_bytes()),
            SEED_STATEMENTS_FNV1A,
            "schema.sql changed: the seed's tables stay as they are; add a migration instead"
        );
    }

    #[test]
    fn migration_one_is_exactly_the_seed_schema() {
        let ours = Connection::open_in_memory().unwrap();
        ours.execute_batch(MIGRATIONS[0]).unwrap();
        let seed = Connection::open_in_memory().unwrap();
        seed.execute_batch(&seed_sql()).unwrap();
        assert_eq!(objects(&ours), objects(&seed));
        let sql = |c: &Connection| -> Vec<String> {
            let mut s = c
                .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
                .unwrap();
            s.query_map([], |r| r.get(0))
                .unwrap()
                .map(|r| r.unwrap())
                .collect()
        };
        assert_eq!(sql(&ours), sql(&seed));
        let names: Vec<String> = objects(&ours).into_iter().map(|o| o.1).collect();
        assert_eq!(
            names,
            [
                "idx_approvals_run_id",
                "idx_approvals_state",
                "idx_runs_repo_id",
                "idx_runs_state",
                "approvals",
                "devices",
                "events",
                "repos",
                "runs"
            ]
        );
    }

    #[test]
    fn a_version_two_database_gains_the_notification_tables_and_keeps_its_devices() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(MIGRATIONS[1]).unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            conn.execute(
                "INSERT INTO devices (token, platform, created_at) VALUES ('aa', 'ios', 1)",
                [],
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let (version, _, _) = read_header(store.conn()).unwrap();
        assert_eq!(version, LATEST_VERSION);
        let devices = store.list_device_infos().unwrap();
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].env, crate::model::DeviceEnv::Production);
        for table in [
            "device_details",
            "device_history",
            "notifications",
            "notification_deliveries",
            "approval_decisions",
            "remote_devices",
        ] {
            let n: i64 = store
                .conn()
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 0, "{table}");
        }
    }

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .map(|r| r.unwrap())
            .collect::<Vec<_>>();
        rows.join("; ")
    }

    #[test]
    fn the_history_queries_read_an_index_and_never_sort_every_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.db")).unwrap();
        let conn = store.conn();
        let active = plan(
            conn,
            &super::super::lifecycle::ACTIVE_RUN_SQL.replace("?1", "'r'"),
        );
        assert_eq!(
            active,
            "SEARCH runs USING INDEX idx_runs_active (repo_id=?)"
        );
        // The states of the partial index are the active states.
        let index: String = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'idx_runs_active'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let names = crate::model::RunState::ACTIVE.map(|s| format!("'{}'", s.as_str()));
        assert!(
            index.ends_with(&format!("IN ({})", names.join(", "))),
            "{index}"
        );
        // Resolving a typed id prefix reads a range of the id index.
        assert_eq!(
            plan(
                conn,
                &super::super::prefix_sql("runs")
                    .replace("?1", "'a'")
                    .replace("?2", "'a~'")
            ),
            "SEARCH runs USING COVERING INDEX sqlite_autoindex_runs_1 (id>? AND id<?)"
        );
        // Whether a run's question is open reads its question events only,
        // and the index holds the types the query reads.
        assert_eq!(
            plan(
                conn,
                &super::super::lifecycle::OPEN_QUESTION_EVENTS_SQL.replace("?1", "'r'")
            ),
            "SEARCH events USING INDEX idx_events_input (run_id=?)"
        );
        let index: String = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'idx_events_input'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let types = crate::model::INPUT_EVENTS.map(|t| format!("'{}'", t.as_str()));
        assert!(
            index.ends_with(&format!("IN ({})", types.join(", "))),
            "{index}"
        );
        let newest = "SELECT id FROM runs WHERE 1=1 ORDER BY created_at DESC, rowid DESC LIMIT 20";
        assert_eq!(
            plan(conn, newest),
            "SCAN runs USING INDEX idx_runs_created_at"
        );
        let by_state = "SELECT id FROM runs WHERE 1=1 AND state IN ('completed')
                        ORDER BY created_at DESC, rowid DESC LIMIT 20";
        assert_eq!(
            plan(conn, by_state),
            "SEARCH runs USING INDEX idx_runs_state_created_at (state=?)"
        );
        let by_repo = "SELECT id FROM runs WHERE 1=1 AND repo_id = 'r'
                       ORDER BY created_at DESC, rowid DESC LIMIT 20";
        assert_eq!(
            plan(conn, by_repo),
            "SEARCH runs USING INDEX idx_runs_repo_created_at (repo_id=?)"
        );
    }

    /// A database as version `version` of m left it.
    fn database_at_version(path: &std::path::Path, version: usize) -> Connection {
        let conn = Connection::open(path).unwrap();
        for sql in &MIGRATIONS[..version] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", version as i64)
            .unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn
    }

    #[test]
    fn a_version_five_database_gets_its_runs_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        {
            let conn = database_at_version(&path, 5);
            conn.execute_batch(
                "INSERT INTO repos VALUES ('a', 'a', NULL, 1), ('b', 'b', NULL, 1);
                 INSERT INTO runs VALUES ('1', 'a', 'p', 'completed', '/w', 1, 1),
                   ('2', 'a', 'p', 'completed', '/w', 2, 2),
                   ('3', 'a', 'p', 'failed', '/w', 3, 3),
                   ('4', 'b', 'p', 'running', '/w', 4, 4);",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        use crate::model::RunState::*;
        assert_eq!(store.count_runs(None, &[]).unwrap(), 4);
        assert_eq!(store.count_runs(Some("a"), &[]).unwrap(), 3);
        assert_eq!(store.count_runs(Some("a"), &[Completed]).unwrap(), 2);
        assert_eq!(store.count_runs(None, &[Failed, Running]).unwrap(), 2);
        // The triggers keep them as runs change state and go.
        store
            .conn()
            .execute_batch(
                "UPDATE runs SET state = 'completed' WHERE id = '4';
                 UPDATE runs SET updated_at = 9 WHERE id = '1';
                 DELETE FROM runs WHERE id = '3';",
            )
            .unwrap();
        assert_eq!(store.count_runs(None, &[Completed]).unwrap(), 3);
        assert_eq!(store.count_runs(None, &[Running, Failed]).unwrap(), 0);
        assert_eq!(store.count_runs(None, &[]).unwrap(), 3);
    }

    #[test]
    fn a_version_seven_database_gets_its_usage_added_up_per_repo() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        {
            let conn = database_at_version(&path, 7);
            conn.execute_batch(
                "INSERT INTO repos VALUES ('a', 'a', NULL, 1), ('b', 'b', NULL, 1);
                 INSERT INTO runs VALUES ('1', 'a', 'p', 'completed', '/w', 1, 1),
                   ('2', 'a', 'p', 'completed', '/w', 2, 2),
                   ('3', 'a', 'p', 'completed', '/w', 3, 3),
                   ('4', 'b', 'p', 'running', '/w', 4, 4);
                 INSERT INTO run_usage (run_id, input_tokens, output_tokens, cost_total,
                   cost_last, cost_currency)
                 VALUES ('1', 100, 10, 0.5, 0.5, 'USD'), ('2', 200, 20, NULL, NULL, NULL),
                   ('4', 400, 40, 1.25, 1.25, 'USD');",
            )
            .unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        type Total = (String, i64, i64, i64, Vec<(String, f64)>);
        let totals = |store: &Store| -> Vec<Total> {
            store
                .usage_by_repo()
                .unwrap()
                .into_iter()
                .map(|u| {
                    let cost = u.cost.into_iter().map(|c| (c.currency, c.amount)).collect();
                    (u.repo_id, u.runs, u.input_tokens, u.output_tokens, cost)
                })
                .collect()
        };
        let usd = |amount: f64| vec![("USD".to_string(), amount)];
        // Backfilled from the ledger.
        assert_eq!(
            totals(&store),
            vec![
                ("a".into(), 2, 300, 30, usd(0.5)),
                ("b".into(), 1, 400, 40, usd(1.25)),
            ]
        );
        // Kept as the ledger changes: a new ledger row, a run gaining a
        // cost, a run removed, a repo's last run removed.
        let event = |run: &str, kind: &str, data: serde_json::Value| crate::model::Event {
            id: "e".into(),
            run_id: run.into(),
            seq: 1,
            event_type: kind.into(),
            data: Some(data),
            created_at: 1,
        };
        store
            .write(|tx| {
                let record =
                    |e| super::super::usage::record_tx(tx, &e).map_err(|e| db_error(&path, "", e));
                record(event(
                    "3",
                    "agent.turn",
                    serde_json::json!({"usage": {"inputTokens": 5, "outputTokens": 1}}),
                ))?;
                record(event(
                    "2",
                    "agent.turn",
                    serde_json::json!({"usage": {"inputTokens": 50, "outputTokens": 0}}),
                ))?;
                record(event(
                    "2",
                    "agent.usage",
                    serde_json::json!({"cost": {"amount": 2.0, "currency": "USD"}}),
                ))?;
                Ok(())
            })
            .unwrap();
        store.delete_run("1").unwrap();
        store.delete_run("4").unwrap();
        assert_eq!(totals(&store), vec![("a".into(), 2, 255, 21, usd(2.0))],);
        let rows: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM repo_usage", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2, "repo b's emptied total is gone");
    }

    #[test]
    fn later_migrations_keep_the_seed_tables_as_they_are() {
        let all = Connection::open_in_memory().unwrap();
        for sql in MIGRATIONS {
            all.execute_batch(sql).unwrap();
        }
        let seed = Connection::open_in_memory().unwrap();
        seed.execute_batch(&seed_sql()).unwrap();
        let seed_objects = objects(&seed);
        let all_objects = objects(&all);
        for object in &seed_objects {
            assert!(
                all_objects.contains(object),
                "{object:?} changed or vanished"
            );
        }
    }
}
