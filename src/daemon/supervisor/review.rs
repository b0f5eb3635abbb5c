//! The end-of-run review (`--review`): the run's work committed and asked
//! as one approval, and a decision on it checked against the worktree
//! first, so that nobody approves what they did not see.

use super::*;
use crate::model::ApprovalState;
use crate::store::{ApprovalFilter, Store};

/// The end-of-run review as asked: its approval, and the git tree id of
/// the worktree it showed (its payload's `tree`, which its content hash
/// covers).
pub(super) struct Review {
    pub(super) approval_id: String,
    pub(super) tree: String,
    /// The commit the review made of the work (its payload's
    /// `stat.commit`): what the approved tree is committed on.
    pub(super) commit: String,
    pub(super) workspace: Workspace,
}

/// A review a human or a rule approved (or one that found nothing to
/// review): the end-of-run commit commits its tree, not what the worktree
/// holds by then ([`Supervisor::commit_approved`]).
pub(crate) struct ApprovedReview {
    pub(super) tree: String,
    pub(super) commit: String,
}

/// The key of the review's payload that holds the worktree's tree id.
pub(super) const REVIEW_TREE: &str = "tree";

impl Supervisor {
    /// The run's final review: the whole diff, for a human to approve.
    pub(super) async fn review(
        &mut self,
        workspace: &Workspace,
        reply: oneshot::Sender<ReviewOutcome>,
    ) {
        let prepared = review_request(workspace, &self.run_id, &self.prompt).await;
        if prepared.is_ok() {
            edit_at("edit-after-review-prepared", workspace);
        }
        match prepared {
            Ok(Prepared::Ask(request)) => {
                let (decided, verdict) = oneshot::channel();
                self.ask_review(request, decided, workspace).await;
                tokio::spawn(async move {
                    let mut reply = reply;
                    tokio::select! {
                        verdict = verdict => {
                            let verdict = verdict.unwrap_or(Verdict::RunEnded);
                            let _ = reply.send(ReviewOutcome::Verdict(verdict));
                        }
                        // The adapter stopped waiting: dropping `decision`
                        // withdraws the approval (see `withdrawn`).
                        _ = reply.closed() => {}
                    }
                });
            }
            Ok(Prepared::Nothing(unchanged)) => {
                self.nothing_to_review = true;
                self.approved = Some(unchanged);
                let _ = reply.send(ReviewOutcome::NothingToReview);
            }
            Err(err) => {
                let reason = format!("cannot prepare the review: {}", one_sentence(&err));
                self.emit(EventType::Error, json!({ "message": reason }))
                    .await;
                let _ = reply.send(ReviewOutcome::CannotPrepare { reason });
            }
        }
    }

    /// Asks for the review `request` (from [`review_request`]), whose
    /// decision goes to `reply`, and keeps what it showed; returns the
    /// approval's id while it waits for a human. One a rule approves at
    /// once is approved as a human's would be: the run's end commits the
    /// tree the rule decided on.
    pub(super) async fn ask_review(
        &mut self,
        request: ApprovalRequest,
        reply: oneshot::Sender<Verdict>,
        workspace: &Workspace,
    ) -> Option<String> {
        let tree = request
            .payload
            .get(REVIEW_TREE)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let commit = request
            .payload
            .pointer("/stat/commit")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        self.review = None;
        match self.ask_approval(request, reply).await {
            Asked::Waiting(approval_id) => {
                self.review = Some(Review {
                    approval_id: approval_id.clone(),
                    tree,
                    commit,
                    workspace: workspace.clone(),
                });
                Some(approval_id)
            }
            Asked::Approved => {
                self.approved = Some(ApprovedReview { tree, commit });
                None
            }
            Asked::Not => None,
        }
    }

    /// Approval `approval_id` was approved: when it is the run's review,
    /// its tree is what the run's end commits.
    pub(super) fn approved_review(&mut self, approval_id: &str) {
        if let Some(review) = self.review.take() {
            if review.approval_id == approval_id {
                self.approved = Some(ApprovedReview {
                    tree: review.tree,
                    commit: review.commit,
                });
            } else {
                self.review = Some(review);
            }
        }
    }

    /// The end-of-run commit of a run whose review was approved (or found
    /// nothing to review): exactly the tree decided on, as
    /// [`commit_reviewed`].
    pub(super) async fn commit_approved(
        &mut self,
        workspace: &Workspace,
        approved: ApprovedReview,
        message: String,
    ) -> std::result::Result<(Option<workspace::DiffStat>, Option<String>), String> {
        let committed =
            commit_reviewed(workspace, approved, message, self.nothing_to_review).await?;
        if let Some(note) = &committed.1 {
            tracing::warn!(run = %self.run_id, "{note}");
        }
        Ok(committed)
    }

    /// See [`Control::CheckReview`]. The worktree changing after a review
    /// was asked (an agent's leftover process, the user editing a file)
    /// makes it stale, whoever decides and whether or not they name a
    /// content hash: the new review shows the changes, and its own hash.
    pub(super) async fn check_review(&mut self, approval_id: &str) -> Result<()> {
        let Some(review) = self
            .review
            .as_ref()
            .filter(|r| r.approval_id == approval_id && self.approvals.contains_key(approval_id))
        else {
            return Ok(());
        };
        let (asked_tree, workspace) = (review.tree.clone(), review.workspace.clone());
        let ws = workspace.clone();
        let now = tokio::task::spawn_blocking(move || workspace::worktree_tree(&ws))
            .await
            .unwrap_or_else(|e| Err(Error::failure(format!("the review check crashed: {e}"))))
            .map_err(|err| {
                Error::failure(format!(
                    "cannot check that the worktree of run {} is still the one under review: {}",
                    short_id(&self.run_id),
                    one_sentence(&err)
                ))
            })?;
        if now == asked_tree {
            edit_at("edit-after-review-check", &workspace);
            return Ok(());
        }
        let Some(pending) = self.approvals.remove(approval_id) else {
            return Ok(());
        };
        self.review = None;
        // Asked again before the old one is closed, so that the run never
        // looks as if it went on in between.
        let (again, reason) = match review_request(&workspace, &self.run_id, &self.prompt).await {
            Ok(Prepared::Ask(request)) => {
                let again = self.ask_review(request, pending.waiter, &workspace).await;
                let reason = match &again {
                    Some(id) => format!(
                        "{STALE}: the worktree changed after the review was asked; asked again as approval {}",
                        short_id(id)
                    ),
                    None => format!("{STALE}: the worktree changed after the review was asked"),
                };
                (again, reason)
            }
            Ok(Prepared::Nothing(unchanged)) => {
                // Nothing is left to review: the run ends as one that
                // changed nothing (its adapter treats this as such).
                self.nothing_to_review = true;
                self.approved = Some(unchanged);
                let _ = pending.waiter.send(Verdict::Approved { persist: false });
                let reason = format!(
                    "{STALE}: the worktree changed after the review was asked, and now differs in nothing from the run's base"
                );
                (None, reason)
            }
            Err(err) => {
                let reason = format!("cannot prepare the review again: {}", one_sentence(&err));
                self.emit(EventType::Error, json!({ "message": &reason }))
                    .await;
                self.failure = Some(reason.clone());
                let _ = pending.waiter.send(Verdict::RunEnded);
                (
                    None,
                    format!(
                        "{STALE}: the worktree changed after the review was asked, and {reason}"
                    ),
                )
            }
        };
        let closed = Decision {
            approve: false,
            reason: Some(reason.clone()),
            by: DecidedBy::M,
            seen_hash: None,
        };
        if let Err(err) = self.shared.writer.decide(approval_id, closed).await {
            tracing::error!(run = %self.run_id, "cannot close the stale review {approval_id}: {}", err.message);
        }
        let message = format!(
            "{STALE}: approval {} is not what was seen: the worktree of run {} changed after its review was asked",
            short_id(approval_id),
            short_id(&self.run_id)
        );
        Err(match again {
            Some(id) => Error::conflict(message).with_hint(format!(
                "the review is asked again as approval {0}; `m approval show {0}` shows the changes",
                short_id(&id)
            )),
            None => Error::conflict(message).with_hint(reason),
        })
    }
}

/// `M_TEST_FAULT=FAULT` (builds with `test-agents`): the worktree changes
/// at that point, as an agent's leftover process or the user could change
/// it. `edit-after-review-check`: the moment a review passed the check,
/// before the decision is recorded and the run's work committed;
/// `edit-after-review-prepared`: the moment the review was read from the
/// worktree, before it is asked (and a rule decides it), or found to have
/// nothing to review. How the tests reach those gaps without timing.
fn edit_at(fault: &str, workspace: &Workspace) {
    #[cfg(feature = "test-agents")]
    if std::env::var("M_TEST_FAULT").is_ok_and(|v| v == fault) {
        let _ = std::fs::write(
            workspace.path.join("change.txt"),
            format!("edited at {fault}\n"),
        );
        let _ = std::fs::write(
            workspace.path.join("late.txt"),
            format!("written at {fault}\n"),
        );
    }
    #[cfg(not(feature = "test-agents"))]
    let _ = (fault, workspace);
}

/// Commits exactly the tree of `approved` (`workspace::commit_approved`),
/// never the worktree as it is by then. Returns the stat for
/// `workspace.diff` and, when the worktree changed after the decision,
/// the words the run's end adds about it (`nothing`: the decision was that
/// there was nothing to review); an error is one sentence, as
/// [`commit_work`]'s. When that tree is gone the error says so, and
/// nothing is committed in its place.
async fn commit_reviewed(
    workspace: &Workspace,
    approved: ApprovedReview,
    message: String,
    nothing: bool,
) -> std::result::Result<(Option<workspace::DiffStat>, Option<String>), String> {
    let ws = workspace.clone();
    let tree = approved.tree.clone();
    let committed = tokio::task::spawn_blocking(move || {
        workspace::commit_approved(&ws, &approved.tree, &approved.commit, &message)
    })
    .await
    .unwrap_or_else(|e| Err(Error::failure(format!("the commit task crashed: {e}"))))
    .map_err(|err| {
        format!(
            "its approved work could not be committed: {}",
            one_sentence(&err)
        )
    })?;
    let path = workspace.path.display();
    let note = committed.changed_after.then(|| {
        if nothing {
            format!(
                "the worktree changed after it was found unchanged: nobody reviewed those \
                 changes, so they were not committed and are left in the worktree {path} \
                 (`git -C {path} status` shows them)"
            )
        } else {
            format!(
                "the worktree changed after its review was approved: only the approved work \
                 (tree {}) is on the branch; the later changes were not committed and are \
                 left in the worktree {path} (`git -C {path} status` shows them)",
                &tree[..tree.len().min(12)],
            )
        }
    });
    Ok((committed.stat, note))
}

/// The run's review, when it is the last approval the run asked and it was
/// approved (by a human or a rule): the run then had only its work to
/// commit when its daemon stopped. Only the review's payload has a `tree`
/// (the daemon refuses one in an approval an agent asks for).
pub(crate) fn approved_in_store(store: &Store, run_id: &str) -> Result<Option<ApprovedReview>> {
    let approvals = store.list_approvals(&ApprovalFilter {
        run_id: Some(run_id.to_string()),
        states: Vec::new(),
    })?;
    Ok(approvals
        .last()
        .filter(|a| a.approval_type == ApprovalType::Diff && a.state == ApprovalState::Approved)
        .and_then(|a| {
            let payload = a.payload.as_ref()?;
            Some(ApprovedReview {
                tree: payload.get(REVIEW_TREE)?.as_str()?.to_string(),
                commit: payload
                    .pointer("/stat/commit")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            })
        }))
}

/// Ends a run whose review was approved before the daemon stopped: its
/// approved tree is committed, as the run's end would have (later changes
/// are left in the worktree, saying so), and the run completes. When that
/// tree cannot be committed, nothing is committed in its place (nobody
/// approved what the worktree holds now) and the run fails, saying where
/// its work is.
pub(crate) async fn finish_approved(
    shared: &Shared,
    run_id: &str,
    prompt: &str,
    ws: &Workspace,
    approved: ApprovedReview,
) -> Result<()> {
    tracing::warn!(run = %run_id, "committing the approved review of a run left active by a previous daemon");
    let stopped =
        "the daemon stopped (it crashed or was killed) after the run's review was approved";
    let message = crate::workspace::commit_message(
        prompt,
        run_id,
        Some("Recovered: the daemon stopped after the review was approved."),
    );
    let (state, reason, event) = match commit_reviewed(ws, approved, message, false).await {
        Ok((stat, note)) => {
            let mut reason = format!(
                "the agent finished; {stopped}, and its next start committed the approved work"
            );
            if let Some(note) = note {
                reason.push_str(&format!("; {note}"));
            }
            let event =
                stat.map(|stat| NewEvent::new(run_id, EventType::WorkspaceDiff, json!(stat)));
            (RunState::Completed, reason, event)
        }
        Err(message) => {
            let reason = format!(
                "{stopped}; {message}; nothing was committed in its place, and the work is left \
                 in the worktree {} (`m diff {}` shows it)",
                ws.path.display(),
                short_id(run_id)
            );
            let event = NewEvent::new(run_id, EventType::Error, json!({ "message": message }));
            (RunState::Failed, reason, Some(event))
        }
    };
    if let Some(event) = event {
        shared.writer.append(vec![event]).await;
    }
    shared
        .writer
        .finish_run(run_id, state, json!({ "reason": reason }))
        .await?;
    Ok(())
}

/// `M_TEST_FAULT=die-after-review-approved` (builds with `test-agents`):
/// the daemon is killed (SIGKILL, as `kill -9`) between a review's
/// approval and the run's end, before anything is committed. How the
/// tests reach that gap without timing.
pub(super) fn die_after_approval() {
    #[cfg(feature = "test-agents")]
    if std::env::var("M_TEST_FAULT").is_ok_and(|v| v == "die-after-review-approved") {
        // SAFETY: kill(2) on this very process, with a valid signal.
        unsafe { libc::kill(std::process::id() as libc::pid_t, libc::SIGKILL) };
    }
}

/// Large patches are cut in the approval's payload; git keeps them whole.
const REVIEW_PATCH_LIMIT: usize = 256 * 1024;

/// The reason of a run held for review that changed nothing.
pub(super) const NOTHING_TO_REVIEW: &str =
    "the agent finished; it changed nothing, so there was nothing to review";

/// What [`review_request`] found.
enum Prepared {
    /// The review's approval request.
    Ask(ApprovalRequest),
    /// The run changed nothing: nobody need approve an empty diff. The
    /// tree it was found in is what the run's end commits, as if approved,
    /// so that a change made after is not committed unseen.
    Nothing(ApprovedReview),
}

/// The review's approval request: the run's work, committed, against its
/// base, all of one tree read once (`workspace::review_snapshot`).
async fn review_request(workspace: &Workspace, run_id: &str, prompt: &str) -> Result<Prepared> {
    if workspace.repo_dir.is_none() {
        // Refused when the run starts (`RunOptions::check_repo`). Were one
        // to get here, `commit_all` would find it unchanged, as it always
        // does a scratch directory, and it would pass for a run that did
        // nothing.
        return Err(Error::usage(format!(
            "the workspace {} is a scratch directory, without git: it has no diff to review",
            workspace.path.display()
        ))
        .with_hint("register the repo with a path or URL to review its runs"));
    }
    let ws = workspace.clone();
    let message = workspace::commit_message(prompt, run_id, None);
    let snapshot = tokio::task::spawn_blocking(move || workspace::review_snapshot(&ws, &message))
        .await
        .map_err(|e| Error::failure(format!("the review task crashed: {e}")))??;
    let workspace::ReviewSnapshot { tree, patch, stat } = snapshot;
    // Commits that undo each other move the branch and change nothing.
    if patch.is_empty() {
        return Ok(Prepared::Nothing(ApprovedReview {
            tree,
            commit: stat.commit,
        }));
    }
    let truncated = patch.len() > REVIEW_PATCH_LIMIT;
    let mut cut = REVIEW_PATCH_LIMIT.min(patch.len());
    while !patch.is_char_boundary(cut) {
        cut -= 1;
    }
    Ok(Prepared::Ask(ApprovalRequest {
        approval_type: ApprovalType::Diff,
        payload: json!({
            "title": "review the run's changes",
            "stat": stat,
            "patch": &patch[..cut],
            "truncated": truncated,
            // The content hash covers the whole worktree this way, even
            // where the patch is cut: a decision is checked against it.
            REVIEW_TREE: tree,
        }),
    }))
}
