//! Unified diffs of the old and new text an ACP agent reports for an edit,
//! so that a diff approval shows what `git diff` would. A line diff by
//! Myers' algorithm; m needs nothing fancier, so no dependency for it.

/// Lines of context around each change, as `diff -u` and git use.
const CONTEXT: usize = 3;
/// Past this many differing lines the middle of the file is shown as
/// removed and re-added: still a correct diff, found in bounded time and
/// memory (the search keeps about `MAX_EDITS²` numbers).
const MAX_EDITS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equal,
    Delete,
    Insert,
}

/// The unified diff turning `old` (`None` for a new file) into `new`,
/// labelled with `path`. Empty when nothing changed.
pub fn unified(path: &str, old: Option<&str>, new: &str) -> String {
    if old == Some(new) {
        return String::new();
    }
    let a: Vec<&str> = old.unwrap_or("").split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = diff_lines(&a, &b);

    let mut out = String::new();
    match old {
        Some(_) => out.push_str(&format!("--- a/{path}\n")),
        None => out.push_str("--- /dev/null\n"),
    }
    out.push_str(&format!("+++ b/{path}\n"));
    write_hunks(&mut out, &ops, &a, &b);
    out
}

/// The edit script from `a` to `b`.
fn diff_lines(a: &[&str], b: &[&str]) -> Vec<Op> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (mid_a, mid_b) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut ops = vec![Op::Equal; prefix];
    match myers(mid_a, mid_b, MAX_EDITS) {
        Some(mid) => ops.extend(mid),
        None => {
            ops.resize(ops.len() + mid_a.len(), Op::Delete);
            ops.resize(ops.len() + mid_b.len(), Op::Insert);
        }
    }
    ops.resize(ops.len() + suffix, Op::Equal);
    ops
}

/// Myers' shortest edit script, or `None` when it needs more than
/// `max_edits` insertions and deletions.
fn myers(a: &[&str], b: &[&str], max_edits: usize) -> Option<Vec<Op>> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max = (n + m) as usize;
    let offset = max as isize + 1;
    // v[k + offset]: the furthest x reached on diagonal k.
    let mut v = vec![0isize; 2 * max + 3];
    // trace[d]: v over diagonals -d-1..=d+1 before step d, for the walk back.
    let mut trace: Vec<Vec<isize>> = Vec::new();
    for d in 0..=max.min(max_edits) as isize {
        trace.push(v[(offset - d - 1) as usize..=(offset + d + 1) as usize].to_vec());
        let mut k = -d;
        while k <= d {
            let at = |k: isize| v[(k + offset) as usize];
            let mut x = if k == -d || (k != d && at(k - 1) < at(k + 1)) {
                at(k + 1)
            } else {
                at(k - 1) + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[(k + offset) as usize] = x;
            if x >= n && y >= m {
                return Some(walk_back(&trace, n, m));
            }
            k += 2;
        }
    }
    None
}

fn walk_back(trace: &[Vec<isize>], n: isize, m: isize) -> Vec<Op> {
    let mut ops = Vec::new();
    let (mut x, mut y) = (n, m);
    for (d, v) in trace.iter().enumerate().rev() {
        let d = d as isize;
        let at = |k: isize| v[(k + d + 1) as usize];
        let k = x - y;
        let prev_k = if k == -d || (k != d && at(k - 1) < at(k + 1)) {
            k + 1
        } else {
            k - 1
        };
        let prev_x = at(prev_k);
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            ops.push(Op::Equal);
            x -= 1;
            y -= 1;
        }
        if d > 0 {
            ops.push(if x == prev_x { Op::Insert } else { Op::Delete });
        }
        x = prev_x;
        y = prev_y;
    }
    ops.reverse();
    ops
}

fn write_hunks(out: &mut String, ops: &[Op], a: &[&str], b: &[&str]) {
    // Where each op starts in the old and the new text.
    let mut positions = Vec::with_capacity(ops.len() + 1);
    let (mut i, mut j) = (0usize, 0usize);
    for op in ops {
        positions.push((i, j));
        match op {
            Op::Equal => {
                i += 1;
                j += 1;
            }
            Op::Delete => i += 1,
            Op::Insert => j += 1,
        }
    }
    positions.push((i, j));

    let changes: Vec<usize> = (0..ops.len()).filter(|&i| ops[i] != Op::Equal).collect();
    let mut c = 0;
    while c < changes.len() {
        let start = changes[c].saturating_sub(CONTEXT);
        let mut last = changes[c];
        while c + 1 < changes.len() && changes[c + 1] - last - 1 <= 2 * CONTEXT {
            c += 1;
            last = changes[c];
        }
        let end = (last + 1 + CONTEXT).min(ops.len());
        let (a_start, b_start) = positions[start];
        let (a_end, b_end) = positions[end];
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            range(a_start, a_end - a_start),
            range(b_start, b_end - b_start)
        ));
        for (op, &(i, j)) in ops[start..end].iter().zip(&positions[start..end]) {
            let (mark, line) = match op {
                Op::Equal => (' ', a[i]),
                Op::Delete => ('-', a[i]),
                Op::Insert => ('+', b[j]),
            };
            out.push(mark);
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
        c += 1;
    }
}

/// A hunk range as `diff -u` writes it: 1-based start, and for an empty
/// range the line before it.
fn range(start: usize, len: usize) -> String {
    match len {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        _ => format!("{},{len}", start + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_changed_is_an_empty_diff() {
        assert_eq!(unified("a.txt", Some("x\n"), "x\n"), "");
    }

    #[test]
    fn a_changed_line_keeps_three_lines_of_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let new = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        assert_eq!(
            unified("src/n.txt", Some(old), new),
            "--- a/src/n.txt\n+++ b/src/n.txt\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn a_new_file_is_all_additions() {
        assert_eq!(
            unified("new.rs", None, "fn main() {}\n"),
            "--- /dev/null\n+++ b/new.rs\n@@ -0,0 +1 @@\n+fn main() {}\n"
        );
    }

    #[test]
    fn distant_changes_make_separate_hunks() {
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let new: String = (1..=20)
            .map(|i| match i {
                2 => "two\n".to_string(),
                19 => "nineteen\n".to_string(),
                i => format!("{i}\n"),
            })
            .collect();
        let diff = unified("f", Some(&old), &new);
        assert_eq!(diff.matches("@@ -").count(), 2, "{diff}");
        assert!(
            diff.contains("@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n"),
            "{diff}"
        );
        assert!(
            diff.contains("@@ -16,5 +16,5 @@\n 16\n 17\n 18\n-19\n+nineteen\n 20\n"),
            "{diff}"
        );
    }

    #[test]
    fn a_missing_final_newline_is_marked() {
        assert_eq!(
            unified("f", Some("a\nb"), "a\nc"),
            "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n"
        );
    }

    #[test]
    fn the_edit_script_is_minimal() {
        let a = ["a\n", "b\n", "c\n", "a\n", "b\n", "b\n", "a\n"];
        let b = ["c\n", "b\n", "a\n", "b\n", "a\n", "c\n"];
        let ops = myers(&a, &b, 100).unwrap();
        let edits = ops.iter().filter(|op| **op != Op::Equal).count();
        assert_eq!(edits, 5);
        // Replaying the script on a gives b.
        let (mut i, mut j, mut out) = (0, 0, Vec::new());
        for op in ops {
            match op {
                Op::Equal => {
                    out.push(a[i]);
                    i += 1;
                    j += 1;
                }
                Op::Delete => i += 1,
                Op::Insert => {
                    out.push(b[j]);
                    j += 1;
                }
            }
        }
        assert_eq!(out, b);
    }

    #[test]
    fn too_many_edits_fall_back_to_replacing_the_middle() {
        let old: String = (0..50).map(|i| format!("old {i}\n")).collect();
        let new: String = (0..50).map(|i| format!("new {i}\n")).collect();
        let a: Vec<&str> = old.split_inclusive('\n').collect();
        let b: Vec<&str> = new.split_inclusive('\n').collect();
        assert!(myers(&a, &b, 10).is_none());
        let diff = unified("f", Some(&old), &new);
        assert_eq!(diff.lines().filter(|l| l.starts_with('-')).count(), 51);
        assert_eq!(diff.lines().filter(|l| l.starts_with('+')).count(), 51);
    }
}
