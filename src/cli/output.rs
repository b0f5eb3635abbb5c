//! How results reach people and scripts: aligned tables with colour and
//! relative times on a terminal, JSON for scripts. Everything is written
//! through `std::io::Write` so that a closed pipe ends the program quietly.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{self, IsTerminal, Write};

use console::{measure_text_width, Style};
use serde::Serialize;

use crate::error::{Error, Result};
pub use crate::model::relative_time;
use crate::model::{ApprovalState, RunState};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

pub struct Ui {
    pub color: bool,
    /// Whether stdout is a terminal: text from agents is then shown with
    /// its control characters visible; into a pipe it goes exact.
    pub terminal: bool,
    out: io::Stdout,
    /// Output held back while a long listing prints (see [`Ui::batch`]).
    held: RefCell<Option<Vec<u8>>>,
}

/// What a table cell is padded with, a slice at a time.
const SPACES: &str = "                                                                ";

/// Held output is written out whenever it reaches this size.
const HELD_MAX: usize = 64 * 1024;

impl Ui {
    pub fn new(choice: ColorChoice) -> Ui {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let decide = |is_terminal: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && !no_color,
        };
        let terminal = io::stdout().is_terminal();
        let color = decide(terminal);
        // Whatever console styles (spinners on stderr) follows the same rule.
        console::set_colors_enabled(color);
        console::set_colors_enabled_stderr(decide(io::stderr().is_terminal()));
        Ui {
            color,
            terminal,
            out: io::stdout(),
            held: RefCell::new(None),
        }
    }

    /// Runs `f` with its output held and written 64 KiB at a time, then
    /// flushed, even when `f` fails. Standard output is line-buffered, so
    /// without this a listing costs one write(2) per line: a million-event
    /// `m events RUN` spent most of its time in them. A follower calls
    /// [`Ui::flush`] whenever it has caught up, so nothing waits there.
    pub fn batch<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let outer = self.held.borrow().is_some();
        if !outer {
            *self.held.borrow_mut() = Some(Vec::with_capacity(HELD_MAX + 4096));
        }
        let result = f();
        if outer {
            return result;
        }
        let released = self.release();
        let value = result?;
        released?;
        Ok(value)
    }

    fn release(&self) -> Result<()> {
        if let Some(held) = self.held.borrow_mut().take() {
            let mut out = self.out.lock();
            out.write_all(&held)?;
            out.flush()?;
        }
        Ok(())
    }

    /// Writes through `f` into the held buffer when batching, else to stdout.
    fn write(&self, f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
        let mut held = self.held.borrow_mut();
        match held.as_mut() {
            Some(buf) => {
                f(buf)?;
                if buf.len() >= HELD_MAX {
                    let mut out = self.out.lock();
                    out.write_all(buf)?;
                    out.flush()?;
                    buf.clear();
                }
            }
            None => f(&mut self.out.lock())?,
        }
        Ok(())
    }

    pub fn line(&self, text: impl AsRef<str>) -> Result<()> {
        self.write(|out| {
            out.write_all(text.as_ref().as_bytes())?;
            out.write_all(b"\n")
        })
    }

    /// Bytes exactly as they are (a patch into a pipe).
    pub fn raw(&self, bytes: &[u8]) -> Result<()> {
        self.write(|out| out.write_all(bytes))
    }

    /// One line made of `parts`, written without joining them first.
    pub fn line_parts(&self, parts: &[&str]) -> Result<()> {
        self.write(|out| {
            for part in parts {
                out.write_all(part.as_bytes())?;
            }
            out.write_all(b"\n")
        })
    }

    /// One JSON document (a listing, a `show`).
    pub fn json(&self, value: &impl Serialize) -> Result<()> {
        self.write(|out| {
            // Pretty JSON has a newline every few bytes: buffer it rather
            // than let the line-buffered stdout write each line.
            let mut out = io::BufWriter::with_capacity(HELD_MAX, out);
            serde_json::to_writer_pretty(&mut out, value).map_err(io::Error::from)?;
            out.write_all(b"\n")?;
            out.flush()
        })
    }

    /// One JSON object on one line (event streams). Outside a batch it is
    /// flushed at once, so a follower downstream sees it immediately.
    pub fn json_line(&self, value: &impl Serialize) -> Result<()> {
        self.write(|out| {
            serde_json::to_writer(&mut *out, value).map_err(io::Error::from)?;
            out.write_all(b"\n")?;
            out.flush()
        })
    }

    /// Writes out whatever is held, and flushes stdout.
    pub fn flush(&self) -> Result<()> {
        if let Some(buf) = self.held.borrow_mut().as_mut() {
            self.out.lock().write_all(buf)?;
            buf.clear();
        }
        self.out.lock().flush()?;
        Ok(())
    }

    pub fn paint(&self, style: &Style, text: impl std::fmt::Display) -> String {
        if self.color {
            style.clone().force_styling(true).apply_to(text).to_string()
        } else {
            text.to_string()
        }
    }

    pub fn dim(&self, text: impl std::fmt::Display) -> String {
        self.paint(&Style::new().dim(), text)
    }

    pub fn bold(&self, text: impl std::fmt::Display) -> String {
        self.paint(&Style::new().bold(), text)
    }

    pub fn run_state(&self, state: RunState) -> String {
        let style = match state {
            RunState::Running => Style::new().cyan(),
            RunState::WaitingInput | RunState::WaitingApproval => Style::new().yellow().bold(),
            RunState::Completed => Style::new().green(),
            RunState::Failed => Style::new().red(),
            RunState::Cancelled => Style::new().dim(),
        };
        self.paint(&style, state)
    }

    pub fn approval_state(&self, state: ApprovalState) -> String {
        let style = match state {
            ApprovalState::Pending => Style::new().yellow().bold(),
            ApprovalState::Approved => Style::new().green(),
            ApprovalState::Rejected => Style::new().red(),
        };
        self.paint(&style, state)
    }

    /// Prints rows under headers, each column as wide as its widest cell.
    /// Cells may carry colour; widths ignore it.
    pub fn table<S: AsRef<str>>(&self, headers: &[&str], rows: &[Vec<S>]) -> Result<()> {
        let mut cells = Cells::new(headers.len());
        for row in rows {
            for cell in row {
                cells.push(cell.as_ref());
            }
        }
        self.cells_table(headers, &cells)
    }

    /// [`Ui::table`] of rows kept in [`Cells`]. Each line is built in one
    /// reused string (a listing may have a hundred thousand rows).
    pub fn cells_table(&self, headers: &[&str], cells: &Cells) -> Result<()> {
        let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
        // The last column is never padded: its width is not needed.
        let padded = widths.len().saturating_sub(1);
        for row in cells.rows() {
            for (i, cell) in row.take(padded).enumerate() {
                widths[i] = widths[i].max(text_width(cell));
            }
        }
        let mut line = String::new();
        let mut render = |cells: &mut dyn Iterator<Item = &str>| {
            line.clear();
            for (i, cell) in cells.enumerate() {
                line.push_str(cell);
                if i < padded {
                    let mut pad = widths[i].saturating_sub(text_width(cell)) + 2;
                    while pad > 0 {
                        let n = pad.min(SPACES.len());
                        line.push_str(&SPACES[..n]);
                        pad -= n;
                    }
                }
            }
            self.line(&line)
        };
        let header: Vec<String> = headers.iter().map(|h| self.bold(h)).collect();
        self.batch(|| {
            render(&mut header.iter().map(String::as_str))?;
            for mut row in cells.rows() {
                render(&mut row)?;
            }
            Ok(())
        })
    }
}

/// The cells of a table, row after row, all in one string: a listing of a
/// hundred thousand rows then costs a few allocations, not one per cell.
pub struct Cells {
    text: String,
    /// Where each cell ends in `text`.
    ends: Vec<usize>,
    columns: usize,
}

impl Cells {
    pub fn new(columns: usize) -> Cells {
        Cells {
            text: String::new(),
            ends: Vec::new(),
            columns: columns.max(1),
        }
    }

    /// The next cell (rows fill left to right, `columns` cells each).
    pub fn push(&mut self, cell: &str) {
        self.text.push_str(cell);
        self.ends.push(self.text.len());
    }

    /// The next cell, written by `f` into the string the cells share.
    pub fn push_with(&mut self, f: impl FnOnce(&mut String)) {
        f(&mut self.text);
        self.ends.push(self.text.len());
    }

    pub fn rows(&self) -> impl Iterator<Item = impl Iterator<Item = &str>> {
        let text = self.text.as_str();
        (0..self.ends.len())
            .step_by(self.columns)
            .map(move |first| {
                let last = (first + self.columns).min(self.ends.len());
                (first..last).map(move |i| {
                    let start = if i == 0 { 0 } else { self.ends[i - 1] };
                    &text[start..self.ends[i]]
                })
            })
    }
}

/// Prints an error and its hint on stderr (`error: ...`, then `hint: ...`),
/// coloured on a terminal: what `main` does with the error a command
/// returns, and what a command that exits with a code of its own calls.
pub fn print_error(err: &Error) {
    let color = io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let paint = |s: &str, style: Style| style.force_styling(color).apply_to(s).to_string();
    let mut stderr = io::stderr().lock();
    // Nobody left to tell (stderr closed) changes nothing.
    let _ = writeln!(
        stderr,
        "{} {}",
        paint("error:", Style::new().red().bold()),
        err.message
    );
    if let Some(hint) = &err.hint {
        let _ = writeln!(
            stderr,
            "{} {hint}",
            paint("hint:", Style::new().cyan().bold())
        );
    }
}

/// The width a cell takes on a terminal: its length when it is plain
/// printable ASCII (nearly always, and much cheaper to tell), else what
/// `console` measures without colour codes.
fn text_width(text: &str) -> usize {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        text.len()
    } else {
        measure_text_width(text)
    }
}

/// Text from agents (output, prompts, commands, titles) made safe to show:
/// control characters other than newline and tab are shown as `^X` (as
/// `cat -v` does) or `\u{..}`, so that no agent can move the cursor, clear
/// the screen, retitle the terminal, or hide part of a command awaiting
/// approval. `--json` keeps the exact text.
pub fn printable(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    // Listings print millions of lines: decide on bytes first. C1 controls
    // are encoded 0xC2 0x80..=0x9F, so any 0xC2 takes the careful path.
    let maybe_unsafe = |b: u8| (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7f || b == 0xc2;
    if !text.bytes().any(maybe_unsafe) || !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !unsafe_char(c) => shown.push(c),
            '\x7f' => shown.push_str("^?"),
            c if (c as u32) < 0x20 => {
                shown.push('^');
                shown.push(char::from(c as u8 + 0x40));
            }
            c => shown.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(shown)
}

/// `512 B`, `3.2 KiB`, `1.5 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Cuts `text` to one line of at most `max` characters for a table cell
/// (borrowed when it is one already), made [`printable`].
pub fn one_line(text: &str, max: usize) -> Cow<'_, str> {
    // Nearly every prompt is one line of printable ASCII (a listing cuts a
    // hundred thousand): then one pass over its bytes tells it all, a
    // character is a byte, and nothing needs making printable.
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        let line = text.trim_matches(' ');
        return match line.len() > max {
            true => Cow::Owned(format!("{}…", &line[..max.saturating_sub(1)])),
            false => Cow::Borrowed(line),
        };
    }
    one_line_any(text, max)
}

/// [`one_line`] of any text.
fn one_line_any(text: &str, max: usize) -> Cow<'_, str> {
    match cut_to_one_line(text, max) {
        Cow::Borrowed(line) => printable(line),
        Cow::Owned(line) => Cow::Owned(printable(&line).into_owned()),
    }
}

/// How much of a stderr line people see: agents print minified stack
/// traces of a kilobyte a line.
pub const STDERR_LINE_SHOWN: usize = 300;

/// A stderr line as people see it: one longer than `max` characters (a
/// minified stack trace) is cut there and says how much it hides; `--json`
/// keeps it whole.
pub fn fold_long_line(line: &str, max: usize) -> Cow<'_, str> {
    match line.char_indices().nth(max) {
        Some((cut, _)) => {
            let hidden = line[cut..].chars().count();
            Cow::Owned(format!(
                "{}… ({hidden} more characters; --json shows the whole line)",
                printable(&line[..cut])
            ))
        }
        None => printable(line),
    }
}

fn cut_to_one_line(text: &str, max: usize) -> Cow<'_, str> {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("").trim();
    let more = lines.next().is_some();
    // Where the (max-1)th character ends, if there are more than `max`.
    match first.char_indices().nth(max) {
        Some(_) => {
            let cut = first
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(first.len(), |(i, _)| i);
            Cow::Owned(format!("{}…", &first[..cut]))
        }
        None if more => Cow::Owned(format!("{first} …")),
        None => Cow::Borrowed(first),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_at_a_glance() {
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(3 * 1024 + 205), "3.2 KiB");
        assert_eq!(super::bytes(3 << 29), "1.5 GiB");
    }

    use super::*;

    #[test]
    fn long_lines_are_folded_and_say_how_much_they_hide() {
        assert_eq!(fold_long_line("short", 5), "short");
        assert_eq!(
            fold_long_line("abcdéfg", 5),
            "abcdé… (2 more characters; --json shows the whole line)"
        );
        assert_eq!(
            fold_long_line("a\u{1b}bcdef", 3),
            "a^[b… (4 more characters; --json shows the whole line)"
        );
    }

    #[test]
    fn one_line_of_plain_ascii_is_as_of_any_text() {
        let long = "fix the flaky test in the api crate ".repeat(3);
        for text in ["", " ", "abc", "  padded  ", " a b ", &long, long.trim()] {
            for max in [0, 1, 2, 3, 5, 50, 200] {
                assert_eq!(
                    one_line(text, max),
                    one_line_any(text, max),
                    "{text:?} {max}"
                );
            }
        }
    }

    #[test]
    fn one_line_cuts_long_and_multi_line_text() {
        assert_eq!(one_line("short", 10), "short");
        assert_eq!(one_line("abcdefghijkl", 5), "abcd…");
        assert_eq!(one_line("first\nsecond", 20), "first …");
        assert_eq!(one_line("héllo wörld", 5), "héll…");
        assert_eq!(one_line("héllo", 5), "héllo");
        assert_eq!(one_line("  padded  \n", 10), "padded");
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert!(matches!(printable("plain\tand\nlines"), Cow::Borrowed(_)));
        assert_eq!(printable("red\x1b[31m!"), "red^[[31m!");
        assert_eq!(printable("a\rb\x07\x7f"), "a^Mb^G^?");
        assert_eq!(printable("c1\u{9b}2J"), "c1\\u{9b}2J");
        assert_eq!(one_line("ti\x1b]0;tle", 20), "ti^[]0;tle");
    }

    #[test]
    fn widths_ignore_colour_and_count_wide_characters() {
        assert_eq!(text_width("plain"), 5);
        assert_eq!(text_width("\x1b[1mbold\x1b[0m"), 4);
        assert_eq!(text_width("日本"), 4);
        assert_eq!(text_width("tab\there"), measure_text_width("tab\there"));
    }
}
