//! How results reach people and scripts: aligned tables with colour and
//! relative times on a terminal, JSON for scripts. Everything is written
//! through `std::io::Write` so that a closed pipe ends the program quietly.

use std::io::{self, IsTerminal, Write};

use console::{measure_text_width, Style};
use serde::Serialize;

use crate::error::Result;
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
    out: io::Stdout,
}

impl Ui {
    pub fn new(choice: ColorChoice) -> Ui {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        Ui {
            color,
            out: io::stdout(),
        }
    }

    pub fn line(&self, text: impl AsRef<str>) -> Result<()> {
        let mut out = self.out.lock();
        out.write_all(text.as_ref().as_bytes())?;
        out.write_all(b"\n")?;
        Ok(())
    }

    /// One JSON document (a listing, a `show`).
    pub fn json(&self, value: &impl Serialize) -> Result<()> {
        let mut out = self.out.lock();
        serde_json::to_writer_pretty(&mut out, value).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
        Ok(())
    }

    /// One JSON object on one line (event streams), flushed at once so a
    /// follower downstream sees it immediately.
    pub fn json_line(&self, value: &impl Serialize) -> Result<()> {
        let mut out = self.out.lock();
        serde_json::to_writer(&mut out, value).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(())
    }

    pub fn flush(&self) -> Result<()> {
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
    pub fn table(&self, headers: &[&str], rows: &[Vec<String>]) -> Result<()> {
        let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
        for row in rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(measure_text_width(cell));
            }
        }
        let render = |cells: &mut dyn Iterator<Item = String>| {
            let mut line = String::new();
            for (i, cell) in cells.enumerate() {
                let last = i + 1 == widths.len();
                line.push_str(&cell);
                if !last {
                    let pad = widths[i].saturating_sub(measure_text_width(&cell)) + 2;
                    line.push_str(&" ".repeat(pad));
                }
            }
            line
        };
        let header = render(&mut headers.iter().map(|h| self.bold(h)));
        self.line(header)?;
        for row in rows {
            self.line(render(&mut row.iter().cloned()))?;
        }
        Ok(())
    }
}

/// Cuts `text` to one line of at most `max` characters for a table cell.
pub fn one_line(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or("").trim();
    let more = text.lines().nth(1).is_some();
    let chars: Vec<char> = first.chars().collect();
    if chars.len() > max {
        format!(
            "{}…",
            chars[..max.saturating_sub(1)].iter().collect::<String>()
        )
    } else if more {
        format!("{first} …")
    } else {
        first.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_cuts_long_and_multi_line_text() {
        assert_eq!(one_line("short", 10), "short");
        assert_eq!(one_line("abcdefghijkl", 5), "abcd…");
        assert_eq!(one_line("first\nsecond", 20), "first …");
    }
}
