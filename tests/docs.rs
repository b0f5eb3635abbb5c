//! What is written about the code, pinned to the code: the generated
//! completions and man pages, the events catalog, the config keys, the
//! fields the README's jq examples read.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::TestEnv;
use m::model::EventType;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn completions_and_man_pages_are_up_to_date() {
    let env = TestEnv::new();
    let fresh = env.dir.path().join("generated");
    env.ok(&["generate-docs", "--out", fresh.to_str().unwrap()]);
    let stale = "stale: run `cargo run -- generate-docs` at the top of the repository and commit the result";
    for dir in ["completions", "man"] {
        let want = files(&fresh.join(dir));
        let have = files(&root().join(dir));
        assert_eq!(have, want, "{dir}/ is {stale}");
        for name in &want {
            let want = std::fs::read(fresh.join(dir).join(name)).unwrap();
            let have = std::fs::read(root().join(dir).join(name)).unwrap();
            assert!(have == want, "{dir}/{name} is {stale}");
        }
    }
    let man = files(&root().join("man"));
    for page in [
        "m.1",
        "m-run.1",
        "m-run-start.1",
        "m-daemon-install.1",
        "m-config.1",
    ] {
        assert!(man.contains(page), "no man/{page}");
    }
    assert!(
        !man.iter().any(|p| p.contains("generate-docs")),
        "hidden commands get no page"
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The event types the code emits: every `EventType::Variant` named in
/// src/ outside the enum's own definition (model/mod.rs) and unit-test modules.
fn emitted_event_types() -> BTreeSet<String> {
    let mut paths = Vec::new();
    rust_files(&root().join("src"), &mut paths);
    let mut code = String::new();
    for path in paths.iter().filter(|p| !p.ends_with("src/model/mod.rs")) {
        let text = std::fs::read_to_string(path).unwrap();
        code.push_str(text.split("\n#[cfg(test)]").next().unwrap_or(""));
    }
    EventType::ALL
        .iter()
        .filter(|t| {
            let named = format!("EventType::{t:?}");
            code.match_indices(&named)
                .any(|(at, _)| !code[at + named.len()..].starts_with(|c: char| c.is_alphanumeric()))
        })
        .map(|t| t.to_string())
        .collect()
}

fn documented_event_types() -> BTreeSet<String> {
    let catalog = std::fs::read_to_string(root().join("docs/events.md")).unwrap();
    catalog
        .lines()
        .filter_map(|l| l.strip_prefix("### `")?.strip_suffix('`'))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_events_catalog_lists_exactly_the_event_types_the_code_emits() {
    let documented = documented_event_types();
    let types: BTreeSet<String> = EventType::ALL.iter().map(|t| t.to_string()).collect();
    let missing: Vec<_> = types.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "EventType has types docs/events.md does not list (add a `### `type`` section with its data fields): {missing:?}"
    );
    let unknown: Vec<_> = documented.difference(&types).collect();
    assert!(
        unknown.is_empty(),
        "docs/events.md lists types that are not in EventType: {unknown:?}"
    );
    let emitted = emitted_event_types();
    let never: Vec<_> = types.difference(&emitted).collect();
    assert!(
        never.is_empty(),
        "EventType has types the code never emits (src/ names no EventType::...): {never:?}"
    );
}

#[test]
fn every_config_key_is_documented_with_its_default() {
    let env = TestEnv::new();
    env.write_config("[agents.NAME]\ncommand = [\"x\"]\n");
    let out = env
        .m()
        .env_remove("M_GRACE_MS")
        .args(["config", "show", "--json"])
        .output()
        .unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let docs = std::fs::read_to_string(root().join("docs/config.md")).unwrap();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let help = env.ok(&["config", "--help"]);
    for setting in shown["settings"].as_array().unwrap() {
        let key = setting["key"].as_str().unwrap();
        assert!(
            docs.contains(&format!("| `{key}` |")),
            "docs/config.md has no row for `{key}`"
        );
        if setting["source"] == "default" {
            let row = format!("| `{key}` | `{}` |", setting["value"]);
            assert!(docs.contains(&row), "docs/config.md has no `{row}`");
        }
        let leaf = key.rsplit('.').next().unwrap();
        assert!(readme.contains(leaf), "README.md does not mention `{leaf}`");
        assert!(
            help.contains(leaf),
            "`m config --help` does not mention `{leaf}`"
        );
    }
}

/// The top-level fields a jq program reads: `.name` where it starts a
/// path (`.payload.argv` reads `payload`; `.[]` reads none).
fn jq_fields(program: &str) -> BTreeSet<String> {
    let chars: Vec<char> = program.chars().collect();
    let mut fields = BTreeSet::new();
    for (i, &c) in chars.iter().enumerate() {
        let starts_path =
            i == 0 || !(chars[i - 1].is_alphanumeric() || "_]).\"".contains(chars[i - 1]));
        if c != '.' || !starts_path {
            continue;
        }
        let name: String = chars[i + 1..]
            .iter()
            .take_while(|c| c.is_alphanumeric() || **c == '_')
            .collect();
        if !name.is_empty() {
            fields.insert(name);
        }
    }
    fields
}

#[test]
fn jq_fields_are_the_starts_of_paths() {
    let fields = jq_fields(
        r#".[] | select(.type=="command") | select(.payload.argv[0:2] == ["a.b"]) | .id"#,
    );
    assert_eq!(
        fields.into_iter().collect::<Vec<_>>(),
        ["id", "payload", "type"]
    );
}

/// Regression: the README filtered `m approvals --json` on
/// `.approval_type`, a field it does not have (it is `type`).
#[test]
fn the_readme_reads_only_fields_that_m_approvals_json_has() {
    let env = TestEnv::new();
    let mut store = env.store();
    let repo = store
        .add_repo(m::store::NewRepo {
            name: "api".into(),
            git_url: None,
        })
        .unwrap()
        .id;
    let run = "c1000000-0000-4000-8000-00000000000c";
    let mut batch = store.batch().unwrap();
    batch
        .create_run(
            run,
            m::store::NewRun {
                repo_id: repo,
                prompt: "test".into(),
                workspace_path: "/tmp/m-workspaces/test".into(),
                details: m::store::RunDetails::default(),
            },
        )
        .unwrap();
    batch
        .request_approval(
            run,
            m::model::ApprovalType::Command,
            serde_json::json!({ "command": "cargo test", "argv": ["cargo", "test"] }),
            None,
        )
        .unwrap();
    batch.commit().unwrap();
    let listed = env.json(&["approvals", "--json"]);
    let approval = listed[0].as_object().expect("an approval");

    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut programs = 0;
    for (at, _) in readme.match_indices("m approvals --json | jq") {
        let rest = &readme[at..];
        let program = rest.split('\'').nth(1).expect("a quoted jq program");
        programs += 1;
        for field in jq_fields(program) {
            assert!(
                approval.contains_key(&field),
                "README.md reads `.{field}` of `m approvals --json`, which has only {:?}",
                approval.keys().collect::<Vec<_>>()
            );
        }
    }
    assert!(
        programs > 0,
        "README.md has no `m approvals --json | jq` example"
    );
}

/// Regression: the exit-code table left out codes m returns.
#[test]
fn the_readme_documents_every_exit_code() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let table: Vec<&str> = readme
        .split("## Exit codes")
        .nth(1)
        .expect("README has an exit code table")
        .lines()
        .filter(|l| l.starts_with("| "))
        .collect();
    let error_rs = std::fs::read_to_string(root().join("src/error.rs")).unwrap();
    let codes: Vec<&str> = error_rs
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .filter_map(|l| l.split(": u8 = ").nth(1))
        .map(|v| v.trim_end_matches(';'))
        .collect();
    assert!(codes.len() >= 14, "{codes:?}");
    for code in codes {
        assert!(
            table.iter().any(|row| {
                let first = row.split('|').nth(1).unwrap_or("");
                first.split(',').any(|c| c.trim() == code)
            }),
            "exit code {code} is not in README's table"
        );
    }
}

/// Regression: ARCHITECTURE.md cited a design file outside the repository.
#[test]
fn the_docs_cite_only_files_in_the_repository() {
    for doc in [root().join("README.md"), root().join("ARCHITECTURE.md")] {
        let text = std::fs::read_to_string(&doc).unwrap();
        for word in text.split(|c: char| c.is_whitespace() || "()[]`'\",;:".contains(c)) {
            let path = word.split('#').next().unwrap_or("");
            // A path to a document (`docs/events.md`), not a file an example
            // writes (`TASK.md`), or one a build writes (`target/...`).
            let cited = path.ends_with(".md") && path.contains('/');
            if !cited || path.starts_with("http") || path.starts_with("target/") {
                continue;
            }
            let here = doc.parent().unwrap().join(path);
            assert!(
                here.exists() || root().join(path).exists(),
                "{} cites {path}, which is not in the repository",
                doc.display()
            );
        }
    }
}
