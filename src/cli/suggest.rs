//! "Did you mean" for mistyped words on the command line. clap suggests by
//! Jaro similarity, which misses short swaps (`m rnu`); here a word one or
//! two edits away (a swap of neighbours counting as one) is suggested too.

use clap::builder::StyledStr;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, Command};

/// The candidate closest to `word`, if it is close enough to be a typo:
/// one edit for words up to 4 characters, two for longer ones.
pub fn similar<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let allowed = if word.chars().count() <= 4 { 1 } else { 2 };
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: insertions, deletions, substitutions
/// and swaps of two neighbours each cost one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Makes clap's errors about mistyped words point at the mistake:
/// - "unrecognized subcommand" gets a suggestion when clap found none
///   (`m rnu` suggests `run`);
/// - "unexpected argument" blames an earlier word that looks like an option
///   but is none, which a value that may start with `-` took in
///   (`m run start -r api --jsn hi -- true` blames `--jsn`, not `hi`).
///
/// `args` is the command line as typed, without the program.
pub fn improve(err: clap::Error, root: &Command, args: &[String]) -> clap::Error {
    match err.kind() {
        ErrorKind::InvalidSubcommand => suggest_subcommand(err, root, args),
        ErrorKind::UnknownArgument => {
            let (cmd, rest) = innermost(root, args, None);
            match rest
                .iter()
                .take_while(|a| *a != "--")
                .find(|a| looks_like_an_option(a) && !is_option_of(cmd, a))
            {
                Some(word)
                    if Some(&ContextValue::String(word.clone()))
                        != err.get(ContextKind::InvalidArg) =>
                {
                    unknown_option(cmd, word, &[])
                }
                _ => err,
            }
        }
        _ => err,
    }
}

/// The subcommand the words name (`run start` ...), and the words after
/// its name; the search stops at `stop`.
fn innermost<'c, 'a>(
    root: &'c Command,
    args: &'a [String],
    stop: Option<&str>,
) -> (&'c Command, &'a [String]) {
    let mut cmd = root;
    let mut rest = args;
    for (at, arg) in args.iter().enumerate() {
        if Some(arg.as_str()) == stop || arg == "--" {
            break;
        }
        if let Some(sub) = cmd.find_subcommand(arg) {
            cmd = sub;
            rest = &args[at + 1..];
        }
    }
    (cmd, rest)
}

/// A single word starting with `-` (but `-` alone, which means stdin).
pub fn looks_like_an_option(word: &str) -> bool {
    word.starts_with('-') && word != "-" && !word.trim().contains(char::is_whitespace)
}

fn is_option_of(cmd: &Command, word: &str) -> bool {
    let name = word.split('=').next().unwrap_or(word);
    cmd.get_arguments().any(|a| {
        a.get_long().is_some_and(|l| name == format!("--{l}"))
            || a.get_short()
                .is_some_and(|s| word.starts_with(&format!("-{s}")) && !word.starts_with("--"))
    }) || ["--help", "-h", "--version", "-V"].contains(&name)
}

fn suggest_subcommand(mut err: clap::Error, root: &Command, args: &[String]) -> clap::Error {
    if err.get(ContextKind::SuggestedSubcommand).is_some() {
        return err;
    }
    let Some(ContextValue::String(word)) = err.get(ContextKind::InvalidSubcommand).cloned() else {
        return err;
    };
    let (parent, _) = innermost(root, args, Some(&word));
    let names = parent
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(Command::get_name);
    if let Some(name) = similar(&word, names) {
        err.insert(
            ContextKind::SuggestedSubcommand,
            ContextValue::String(name.to_string()),
        );
    }
    err
}

/// The error for a word that looks like an option but is none of `cmd`'s
/// (`--jsn` where a value may start with `-`): clap's own "unexpected
/// argument", with the option it probably meant and `tip` lines.
pub fn unknown_option(cmd: &Command, word: &str, tips: &[&str]) -> clap::Error {
    let mut err = clap::Error::new(ErrorKind::UnknownArgument).with_cmd(cmd);
    err.insert(
        ContextKind::InvalidArg,
        ContextValue::String(word.to_string()),
    );
    let longs: Vec<String> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(Arg::get_long)
        .map(|l| format!("--{l}"))
        .collect();
    if let Some(long) = similar(word, longs.iter().map(String::as_str)) {
        err.insert(
            ContextKind::SuggestedArg,
            ContextValue::String(long.to_string()),
        );
    }
    if !tips.is_empty() {
        err.insert(
            ContextKind::Suggested,
            ContextValue::StyledStrs(
                tips.iter()
                    .map(|t| StyledStr::from(t.to_string()))
                    .collect(),
            ),
        );
    }
    err.insert(
        ContextKind::Usage,
        ContextValue::StyledStr(cmd.clone().render_usage()),
    );
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_count_as_one_edit() {
        assert_eq!(edit_distance("rnu", "run"), 1);
        assert_eq!(edit_distance("jsn", "json"), 1);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("", "ab"), 2);
    }

    #[test]
    fn only_close_words_are_suggested() {
        let names = ["run", "repo", "events", "status"];
        assert_eq!(similar("rnu", names), Some("run"));
        assert_eq!(similar("evnets", names), Some("events"));
        assert_eq!(similar("xyz", names), None);
        assert_eq!(similar("--jsn", ["--json", "--repo"]), Some("--json"));
    }
}
