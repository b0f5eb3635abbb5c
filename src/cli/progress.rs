//! Progress while a command waits on a run (`run start --wait/--follow`,
//! `run wait`): a spinner on stderr when stderr is a terminal, showing the
//! run's state and its latest step (git's own progress lines while the
//! daemon clones or fetches a mirror, then the agent's last line of output
//! or message, or the tool it calls).
//! Elsewhere no spinner is drawn: only plain lines for the slow steps (git's
//! milestones once the workspace has taken [`SLOW`] to prepare, so a quick
//! local fetch prints nothing), and only when the caller does not print the
//! events itself.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use super::output::printable;
use crate::model::EventType;
use crate::model::{short_id, Event};

/// Without a terminal, git's progress is worth lines only past this long.
pub const SLOW: Duration = Duration::from_secs(5);

pub struct Progress {
    bar: Option<ProgressBar>,
    /// Print git's milestone lines on stderr when there is no spinner.
    plain: bool,
    started: Instant,
    prefix: String,
    state: String,
    detail: String,
}

impl Progress {
    /// `plain_lines`: without a terminal, print the slow steps as lines
    /// (set it when the events themselves are not printed).
    pub fn for_run(run_id: &str, plain_lines: bool) -> Progress {
        let prefix = format!("run {}", short_id(run_id));
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner:.cyan} {prefix:.bold} {wide_msg} {elapsed:.dim}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.set_prefix(prefix.clone());
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        let progress = Progress {
            bar,
            plain: plain_lines,
            started: Instant::now(),
            prefix,
            state: "starting".into(),
            detail: String::new(),
        };
        progress.redraw();
        progress
    }

    /// The event types worth sending to this progress: all of them for a
    /// spinner (it shows what the agent does), else the state changes and
    /// git's milestones.
    pub fn wanted_types(&self) -> Vec<String> {
        if self.bar.is_some() {
            return Vec::new();
        }
        let mut types = crate::cli::follow::state_types();
        if self.plain {
            types.push(EventType::WorkspaceProgress.as_str().into());
        }
        types
    }

    /// Takes in the next event of the run.
    pub fn event(&mut self, event: &Event) {
        let data = event.data.as_ref().unwrap_or(&Value::Null);
        let text = |key: &str| data.get(key).and_then(Value::as_str).unwrap_or("");
        match event.kind() {
            Some(EventType::RunCreated) => self.state = "preparing the workspace".into(),
            Some(EventType::WorkspaceProgress) => {
                let line = text("line").trim();
                if line.is_empty() {
                    return;
                }
                let slow = self.started.elapsed() >= SLOW;
                if self.bar.is_none() && self.plain && slow && is_milestone(line) {
                    eprintln!("{}: {}", self.prefix, printable(line));
                }
                self.detail = line.to_string();
            }
            Some(EventType::WorkspaceReady) => {
                self.state = "running".into();
                self.detail = format!("in {}", text("path"));
            }
            Some(EventType::RunState) | Some(EventType::RunFinished) => {
                self.state = text("state").replace('_', " ");
                if event.kind() == Some(EventType::RunFinished) {
                    self.detail = text("reason").to_string();
                }
            }
            Some(EventType::Output) => {
                if let Some(last) = data
                    .get("lines")
                    .and_then(Value::as_array)
                    .and_then(|lines| lines.iter().rev().find_map(Value::as_str))
                {
                    self.detail = last.trim().to_string();
                }
            }
            Some(EventType::AgentMessage) => {
                if let Some(last) = text("text").lines().rev().find(|l| !l.trim().is_empty()) {
                    self.detail = last.trim().to_string();
                }
            }
            Some(EventType::ToolCall) => self.detail = text("title").to_string(),
            Some(EventType::ApprovalRequested) => {
                self.detail = format!("asks for a {} approval", text("approval_type"))
            }
            Some(EventType::InputRequested) => self.detail = format!("asks: {}", text("question")),
            _ => {}
        }
        self.redraw();
    }

    /// Runs `f` (which prints) with the spinner out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    fn redraw(&self) {
        if let Some(bar) = &self.bar {
            let detail = if self.detail.is_empty() {
                String::new()
            } else {
                format!(" · {}", printable(&self.detail))
            };
            bar.set_message(format!("{}{detail}", self.state));
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Whether a git progress line is a step worth a line of its own, rather
/// than one of the percentage updates git redraws in place.
pub fn is_milestone(line: &str) -> bool {
    !line.contains('%') || line.contains("done")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentage_updates_are_not_milestones_but_their_end_is() {
        assert!(is_milestone("Cloning into bare repository 'x.git'..."));
        assert!(!is_milestone("Receiving objects:  45% (9/20)"));
        assert!(is_milestone("Receiving objects: 100% (20/20), done."));
        assert!(is_milestone("remote: Enumerating objects: 3, done."));
    }
}
