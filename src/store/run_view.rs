//! A run as readers see it whole, in one JSON shape (README "Run JSON"):
//! `m run start --json` (also with `--wait`), `m run list --json` and
//! `m run show --json` print it, and the remote API serves it
//! (`GET /v1/runs/{id}`), from this one place. A queued run has the same
//! keys, with what it does not have yet as null or empty.

use serde_json::{json, Value};

use super::{ApprovalFilter, Store};
use crate::error::Result;
use crate::model::{open_questions, ApprovalState, Event, QueuedRun, Run, INPUT_EVENTS};

impl Store {
    /// The run with its repo, agent, branch, event count, how it ended, and
    /// what it waits for (pending approvals, open questions).
    pub fn run_view(&self, run: &Run) -> Result<Value> {
        let repo = self.get_repo(&run.repo_id)?;
        let details = self.run_details(&run.id)?;
        let pending = self.list_approvals(&ApprovalFilter {
            run_id: Some(run.id.clone()),
            states: vec![ApprovalState::Pending],
        })?;
        let events = self.last_seq(&run.id)?;
        let finished = self.run_finished(&run.id)?;
        // A run that failed before its workspace was made (a bad --base, a
        // clone that failed) has a path on record and nothing there.
        let workspace = std::path::Path::new(&run.workspace_path)
            .exists()
            .then_some(&run.workspace_path);
        let pending_questions: Vec<Value> = self
            .open_questions(run)?
            .iter()
            .map(|q| {
                let data = q.data.as_ref();
                json!({
                    "seq": q.seq,
                    "question": data.and_then(|d| d.get("question")),
                    "schema": data.and_then(|d| d.get("schema")),
                    "asked_at": q.created_at,
                })
            })
            .collect();
        Ok(json!({
            "id": run.id,
            "repo_id": run.repo_id,
            "repo": repo.name,
            "prompt": run.prompt,
            "state": run.state,
            "position": null,
            "base": null,
            "workspace_path": workspace,
            "created_at": run.created_at,
            "updated_at": run.updated_at,
            "agent": details.agent,
            "branch": details.branch,
            "base_commit": details.base_commit,
            "events": events,
            "pending_approvals": pending,
            "finished": finished,
            "pending_questions": pending_questions,
            "usage": self.run_usage(&run.id)?,
        }))
    }

    /// A queued run in the shape of [`Store::run_view`]: state `queued`, its
    /// place in the queue, the ref it will start from (`base`, null for
    /// the repo's HEAD), and nothing yet of a workspace, branch or events.
    pub fn queued_view(&self, queued: &QueuedRun) -> Result<Value> {
        let repo = self.get_repo(&queued.repo_id)?;
        Ok(json!({
            "id": queued.id,
            "repo_id": queued.repo_id,
            "repo": repo.name,
            "prompt": queued.prompt,
            "state": queued.state,
            "position": queued.position,
            "base": queued.base,
            "workspace_path": null,
            "created_at": queued.created_at,
            "updated_at": queued.created_at,
            "agent": queued.agent,
            "branch": null,
            "base_commit": null,
            "events": 0,
            "pending_approvals": [],
            "finished": null,
            "pending_questions": [],
            "usage": null,
        }))
    }

    /// The `input.requested` events of the run's questions still open,
    /// oldest first. A finished run waits for nothing: questions left open
    /// when it ended were never closed by an event.
    pub fn open_questions(&self, run: &Run) -> Result<Vec<Event>> {
        if run.state.is_final() {
            return Ok(Vec::new());
        }
        let types = INPUT_EVENTS.map(|t| t.as_str().to_string());
        let events = self.list_events(&run.id, 0, &types, None)?;
        Ok(open_questions(&events).into_iter().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventType;

    fn event(seq: i64, event_type: EventType, data: Value) -> Event {
        Event {
            id: format!("e{seq}"),
            run_id: "r".into(),
            seq,
            event_type: event_type.as_str().into(),
            data: Some(data),
            created_at: seq,
        }
    }

    fn open_seqs(events: &[Event]) -> Vec<i64> {
        open_questions(events).iter().map(|e| e.seq).collect()
    }

    #[test]
    fn a_question_is_open_until_an_event_names_it() {
        let asked = |seq| event(seq, EventType::InputRequested, json!({ "question": "?" }));
        let events = [
            asked(1),
            asked(2),
            asked(3),
            event(4, EventType::InputWithdrawn, json!({ "question_seq": 2 })),
            event(5, EventType::Output, json!({})),
            event(
                6,
                EventType::InputProvided,
                json!({ "text": "a", "question_seq": 1 }),
            ),
        ];
        assert_eq!(open_seqs(&events), [3]);
        assert_eq!(open_seqs(&events[..4]), [1, 3]);
        assert_eq!(open_seqs(&events[..3]), [1, 2, 3]);
        assert_eq!(open_seqs(&[]), Vec::<i64>::new());
    }

    #[test]
    fn an_event_that_names_no_question_closes_the_oldest() {
        let asked = |seq| event(seq, EventType::InputRequested, json!({ "question": "?" }));
        let events = [
            asked(1),
            asked(2),
            event(3, EventType::InputProvided, json!({ "text": "a" })),
            event(4, EventType::InputWithdrawn, json!({})),
            event(5, EventType::InputWithdrawn, json!({})),
            asked(6),
        ];
        assert_eq!(open_seqs(&events), [6]);
        assert_eq!(open_seqs(&events[..3]), [2]);
    }
}
