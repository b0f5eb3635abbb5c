//! The dependency graph ARCHITECTURE.md draws, held against the code: every
//! `crate::MODULE` path in a module's source must be an edge of the graph,
//! the graph has no cycle, the files inside a module folder do not use
//! each other in a circle, and a file too long to hold in one head says
//! why it is.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The graph in ARCHITECTURE.md: the fenced block after `## Dependencies`,
/// one `module -> used, used` line per module.
fn documented_graph() -> BTreeMap<String, BTreeSet<String>> {
    let doc = fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let section = doc
        .split("\n## Dependencies\n")
        .nth(1)
        .expect("ARCHITECTURE.md has a `## Dependencies` section");
    let block = section
        .split("```")
        .nth(1)
        .expect("the Dependencies section has a fenced block");
    let mut graph = BTreeMap::new();
    for line in block.lines().skip(1) {
        let line = line.split('#').next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        let (module, uses) = line
            .split_once("->")
            .unwrap_or_else(|| panic!("not `module -> uses`: {line}"));
        let uses = uses
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(String::from)
            .collect();
        let previous = graph.insert(module.trim().to_string(), uses);
        assert!(previous.is_none(), "{} is listed twice", module.trim());
    }
    graph
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments (a `//` inside a string such as
/// a URL is cut too, which can only hide a path, never invent one).
fn code(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| line.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a piece of code names as `crate::NAME`, including
/// those in a `use crate::{a, b::c}` group.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != "self" {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// The library's top-level modules, as `src/lib.rs` declares them.
fn modules() -> BTreeSet<String> {
    fs::read_to_string(root().join("src/lib.rs"))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';').to_string())
        .collect()
}

#[test]
fn every_module_uses_only_what_architecture_md_allows() {
    let graph = documented_graph();
    let modules = modules();
    let listed: BTreeSet<String> = graph.keys().cloned().collect();
    assert_eq!(
        listed, modules,
        "ARCHITECTURE.md's graph must list exactly the modules of src/lib.rs"
    );
    let mut wrong = Vec::new();
    for module in &modules {
        let mut files = Vec::new();
        let dir = root().join("src").join(module);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        } else {
            files.push(root().join(format!("src/{module}.rs")));
        }
        for file in files {
            for used in crate_paths(&code(&file)) {
                if &used != module && !graph[module].contains(&used) {
                    wrong.push(format!(
                        "{} uses crate::{used}, but `{module} -> {used}` is not in the graph",
                        file.strip_prefix(root()).unwrap().display()
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{}\n(fix the code, or if the edge is right, add it to ARCHITECTURE.md's ## Dependencies)",
        wrong.join("\n")
    );
}

#[test]
fn the_documented_graph_has_no_cycle() {
    let graph = documented_graph();
    let mut done = BTreeSet::new();
    fn visit<'a>(
        module: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(module) {
            return;
        }
        assert!(
            !path.contains(&module),
            "cycle: {} -> {module}",
            path.join(" -> ")
        );
        path.push(module);
        for used in graph
            .get(module)
            .unwrap_or_else(|| panic!("{module} is used but not listed"))
        {
            visit(used, graph, path, done);
        }
        path.pop();
        done.insert(module);
    }
    for module in graph.keys() {
        visit(module, &graph, &mut Vec::new(), &mut done);
    }
}

/// Inside a module folder, files use each other (`super::sibling`) one way
/// only: `mod.rs` may hold what they share, and tests are left out.
#[test]
fn files_in_a_module_folder_use_each_other_one_way() {
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    for file in &files {
        if file.file_name().is_some_and(|n| n == "mod.rs") {
            dirs.push(file.parent().unwrap().to_path_buf());
        }
    }
    let mut cycles = Vec::new();
    for dir in dirs {
        let siblings: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .map(|p| p.file_stem().unwrap().to_str().unwrap().to_string())
            .filter(|name| name != "mod" && name != "tests")
            .collect();
        let mut uses: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for name in &siblings {
            let code = code(&dir.join(format!("{name}.rs")));
            let code = code.split("#[cfg(test)]").next().unwrap();
            for other in &siblings {
                if other != name
                    && (code.contains(&format!("super::{other}::"))
                        || code.contains(&format!("super::{other};"))
                        || code.contains(&format!("super::{{{other}")))
                {
                    uses.entry(name).or_default().insert(other);
                }
            }
        }
        for (a, used) in &uses {
            for b in used {
                if a < b && uses.get(b).is_some_and(|u| u.contains(a)) {
                    cycles.push(format!(
                        "{}: {a}.rs and {b}.rs use each other",
                        dir.strip_prefix(root()).unwrap().display()
                    ));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "{}", cycles.join("\n"));
}

/// A file should fit in a reader's head: one over 800 lines says why at its
/// top, in its module doc, with a line containing "Longer than 800 lines
/// because".
#[test]
fn a_source_file_over_800_lines_says_why_at_its_top() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut long = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        let lines = text.lines().count();
        if lines <= 800 {
            continue;
        }
        let said = text
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .any(|l| l.contains("Longer than 800 lines because"));
        if !said {
            long.push(format!(
                "{} has {lines} lines",
                file.strip_prefix(root()).unwrap().display()
            ));
        }
    }
    assert!(
        long.is_empty(),
        "{}\n(split it along a seam, or start its module doc with a line \
         \"Longer than 800 lines because ...\")",
        long.join("\n")
    );
}
