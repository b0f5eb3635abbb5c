//! The one integration test binary (as jj's tests/runner.rs): each area of
//! the suite is a module here, so the crate is linked once, not once per
//! area. Every test is black-box through the real `m` binary or the
//! library's public API; helpers are in `common`.

mod common;

mod acp;
mod approvals;
mod architecture;
mod cli;
mod config;
mod containment;
mod daemon;
mod deadlines;
mod docs;
mod ecosystem;
mod history;
mod notify;
mod phone;
mod queue;
mod reliability;
mod remote;
mod resume;

/// A file in tests/ that is not a module above would silently never run
/// (Cargo.toml turns off test discovery for this binary's sake).
#[test]
fn every_test_file_is_a_module_of_the_runner() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let runner = std::fs::read_to_string(dir.join("runner.rs")).unwrap();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let is_module =
            path.extension().is_some_and(|e| e == "rs") || path.join("mod.rs").is_file();
        if is_module && name != "runner" && !runner.contains(&format!("\nmod {name};\n")) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "add `mod NAME;` to tests/runner.rs for: {missing:?}"
    );
}
