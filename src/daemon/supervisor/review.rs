//! The end-of-run review (`--review`): the run's work committed and asked
//! as one approval, and a decision on it checked against the worktree
//! first, so that nobody approves what they did not see.

use super::*;

/// The end-of-run review as asked: its approval, and the git tree id of
/// the worktree it showed (its payload's `tree`, which its content hash
/// covers).
pub(super) struct Review {
    pub(super) approval_id: String,
    pub(super) tree: String,
    pub(super) workspace: Workspace,
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
        match review_request(workspace, &self.run_id, &self.prompt).await {
            Ok(Some(request)) => {
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
            Ok(None) => {
                self.nothing_to_review = true;
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
    /// approval's id.
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
        let id = self.ask_approval(request, reply).await;
        self.review = id.clone().map(|approval_id| Review {
            approval_id,
            tree,
            workspace: workspace.clone(),
        });
        id
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
            return Ok(());
        }
        let Some(pending) = self.approvals.remove(approval_id) else {
            return Ok(());
        };
        self.review = None;
        // Asked again before the old one is closed, so that the run never
        // looks as if it went on in between.
        let (again, reason) = match review_request(&workspace, &self.run_id, &self.prompt).await {
            Ok(Some(request)) => {
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
            Ok(None) => {
                // Nothing is left to review: the run ends as one that
                // changed nothing (its adapter treats this as such).
                self.nothing_to_review = true;
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

/// Large patches are cut in the approval's payload; git keeps them whole.
const REVIEW_PATCH_LIMIT: usize = 256 * 1024;

/// The reason of a run held for review that changed nothing.
pub(super) const NOTHING_TO_REVIEW: &str =
    "the agent finished; it changed nothing, so there was nothing to review";

/// The review's approval request: the run's work, committed, against its
/// base. None when the run changed nothing: nobody need approve an empty
/// diff.
async fn review_request(
    workspace: &Workspace,
    run_id: &str,
    prompt: &str,
) -> Result<Option<ApprovalRequest>> {
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
    let prepared = tokio::task::spawn_blocking(move || -> Result<_> {
        let Some(stat) = workspace::commit_all(&ws, &message)? else {
            return Ok(None);
        };
        let patch = workspace::diff(&ws, false)?;
        // Commits that undo each other move the branch and change nothing.
        if patch.is_empty() {
            return Ok(None);
        }
        let tree = workspace::worktree_tree(&ws)?;
        Ok(Some((stat, patch, tree)))
    })
    .await
    .map_err(|e| Error::failure(format!("the review task crashed: {e}")))??;
    let Some((stat, patch, tree)) = prepared else {
        return Ok(None);
    };
    let truncated = patch.len() > REVIEW_PATCH_LIMIT;
    let mut cut = REVIEW_PATCH_LIMIT.min(patch.len());
    while !patch.is_char_boundary(cut) {
        cut -= 1;
    }
    Ok(Some(ApprovalRequest {
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
