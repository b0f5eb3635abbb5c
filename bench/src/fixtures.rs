//! Fixtures: a generated git repository, m databases of a given size, and
//! the raw rusqlite inserts that are the ingest ceiling.

use std::path::Path;
use std::time::Instant;

use m::model::{new_event_id, new_id, now};
use m::store::Store;
use rusqlite::params;
use serde_json::json;

use crate::util::{remove, run_ok, Bench, Res};

/// A git repository of `files` files of about 1 kB each, 100 to a
/// directory, in one commit on `main`.
pub fn gen_repo(bench: &Bench, dir: &Path, files: u64) -> Res<()> {
    remove(dir)?;
    std::fs::create_dir_all(dir)?;
    let git = |args: &[&str]| run_ok(bench.cmd("git").current_dir(dir).args(args));
    git(&["init", "-q", "-b", "main"])?;
    // No `gc --auto` in the background: 20k loose objects started one after
    // the commit, packing them while the timings ran (and once breaking a
    // `git clone` racing it). The repository is packed below instead, as
    // a real one is.
    git(&["config", "gc.auto", "0"])?;
    for i in 0..files {
        let sub = dir.join(format!("src/d{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&sub)?;
        }
        let mut text = format!("//! Module {i} of the generated repository.\n\n");
        for line in 0..12 {
            text.push_str(&format!(
                "pub fn item_{i}_{line}(x: u64) -> u64 {{ x.wrapping_mul({}) ^ {line} }}\n",
                i * 31 + line
            ));
        }
        std::fs::write(sub.join(format!("f{i:05}.rs")), text)?;
    }
    git(&["add", "-A"])?;
    git(&["commit", "-q", "-m", "generated"])?;
    git(&["gc", "--quiet"])?;
    Ok(())
}

/// The data of an `output` event holding `lines`, as m stores it.
pub fn output_data(lines: &[String]) -> String {
    json!({ "stream": "stdout", "lines": lines }).to_string()
}

/// A line like the `lines` agent prints (99 bytes).
pub fn agent_line(i: u64) -> String {
    format!("{i:09} the quick brown fox jumps over the lazy dog, and m keeps every line an agent prints")
}

/// Fills an m database (created by m itself, so schema and pragmas are its
/// own) with a scratch repo, `runs` finished runs, and `events` one-line
/// `output` events on the newest run. Returns that run's id.
pub fn gen_db(path: &Path, runs: u64, events: u64) -> Res<String> {
    let store = Store::open(path)?;
    let conn = store.conn();
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let repo = new_id();
    conn.execute(
        "INSERT INTO repos (id, name, git_url, created_at) VALUES (?1, 'bench', NULL, ?2)",
        params![repo, now()],
    )?;
    let start = now() - runs as i64;
    let mut last = String::new();
    {
        let mut insert = conn.prepare(
            "INSERT INTO runs (id, repo_id, prompt, state, workspace_path, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'completed', ?4, ?5, ?5)",
        )?;
        for i in 0..runs.max(1) {
            let id = new_id();
            insert.execute(params![
                id,
                repo,
                format!("fix the flaky test number {i} in the api crate"),
                format!("/nonexistent/workspaces/{id}"),
                start + i as i64
            ])?;
            last = id;
        }
        let mut insert = conn.prepare(
            "INSERT INTO events (id, run_id, seq, type, data, created_at)
             VALUES (?1, ?2, ?3, 'output', ?4, ?5)",
        )?;
        let at = now();
        for seq in 1..=events {
            let data = output_data(&[agent_line(seq)]);
            insert.execute(params![new_event_id(), last, seq as i64, data, at])?;
        }
    }
    conn.execute_batch("COMMIT")?;
    Ok(last)
}

/// The ceiling for event ingest: `rows` (type, data) inserted into a fresh
/// m database with m's schema and pragmas, time-ordered ids and gapless
/// seqs, `batch` rows per IMMEDIATE transaction (m's writer commits up to
/// 512 operations at a time). Returns the seconds the inserts took.
pub fn raw_insert(path: &Path, rows: &[(String, Option<String>)], batch: usize) -> Res<f64> {
    for suffix in ["", "-wal", "-shm"] {
        remove(&path.with_extension(format!("db{suffix}")))?;
    }
    let store = Store::open(path)?;
    let conn = store.conn();
    let repo = new_id();
    let run = new_id();
    conn.execute(
        "INSERT INTO repos (id, name, git_url, created_at) VALUES (?1, 'raw', NULL, ?2)",
        params![repo, now()],
    )?;
    conn.execute(
        "INSERT INTO runs (id, repo_id, prompt, state, workspace_path, created_at, updated_at)
         VALUES (?1, ?2, 'raw', 'running', '/nonexistent', ?3, ?3)",
        params![run, repo, now()],
    )?;
    let start = Instant::now();
    let at = now();
    let mut seq = 0i64;
    for chunk in rows.chunks(batch) {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        {
            let mut insert = conn.prepare_cached(
                "INSERT INTO events (id, run_id, seq, type, data, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (event_type, data) in chunk {
                seq += 1;
                insert.execute(params![new_event_id(), run, seq, event_type, data, at])?;
            }
        }
        conn.execute_batch("COMMIT")?;
    }
    Ok(start.elapsed().as_secs_f64())
}
