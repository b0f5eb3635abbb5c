//! `m approve` and `m reject`: a human's decision on an approval, named by
//! its id or by its run (when the run has exactly one pending).

use clap::Args;

use super::Ctx;
use crate::client::Client;
use crate::error::{exit, Error, Result};
use crate::model::{short_id, Approval, ApprovalState, Run};
use crate::policy::Grant;
use crate::protocol::{DecideRequest, Request, Response};
use crate::store::{ApprovalFilter, Store};

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// An approval id, or a run id whose only pending approval is meant (prefixes work).
    #[arg(add = crate::cli::complete::pending_approval_ids())]
    pub target: String,
    /// Also approve the same again for the rest of the run (the same
    /// command, edits of the same files, the same tool): m keeps the grant
    /// and answers the agent "once" each time.
    #[arg(long)]
    pub always: bool,
    /// Let the agent keep the grant itself (its own "always" option, which
    /// may outlive the run and apply to later ones); implies --always.
    #[arg(long)]
    pub persist: bool,
    /// Approve only if the approval is still exactly this (its content hash,
    /// as `m approval show` prints it); otherwise exit 4, deciding nothing.
    #[arg(long, value_name = "HASH")]
    pub hash: Option<String>,
}

#[derive(Debug, Args)]
pub struct RejectArgs {
    /// An approval id, or a run id whose only pending approval is meant (prefixes work).
    #[arg(add = crate::cli::complete::pending_approval_ids())]
    pub target: String,
    /// Why: the agent is told.
    #[arg(long, short = 'm')]
    pub reason: Option<String>,
    /// Reject only if the approval is still exactly this (its content hash,
    /// as `m approval show` prints it); otherwise exit 4, deciding nothing.
    #[arg(long, value_name = "HASH")]
    pub hash: Option<String>,
}

pub fn approve(ctx: &Ctx, args: ApproveArgs) -> Result<u8> {
    let always = Always {
        always: args.always || args.persist,
        persist: args.persist,
    };
    decide(ctx, &args.target, true, None, always, args.hash)
}

pub fn reject(ctx: &Ctx, args: RejectArgs) -> Result<u8> {
    let once = Always {
        always: false,
        persist: false,
    };
    decide(ctx, &args.target, false, args.reason, once, args.hash)
}

/// What `--always` and `--persist` ask for.
struct Always {
    always: bool,
    persist: bool,
}

fn decide(
    ctx: &Ctx,
    target: &str,
    approve: bool,
    reason: Option<String>,
    wanted: Always,
    content_hash: Option<String>,
) -> Result<u8> {
    let approval = find_approval(&ctx.store()?, target)?;
    let response = Client::connect_to_run(&ctx.paths, &approval.run_id)?.request(
        &Request::Decide(DecideRequest {
            approval_id: approval.id.clone(),
            approve,
            reason,
            always: wanted.always,
            persist: wanted.persist,
            content_hash: content_hash.map(|h| h.trim().to_string()),
        }),
    )?;
    let Response::Approval { approval } = response else {
        return Err(Error::failure(format!(
            "unexpected answer from the daemon: {response:?}"
        )));
    };
    let always = if approve && wanted.always {
        always_outcome(&approval, wanted.persist)
    } else {
        String::new()
    };
    ctx.ui.line(format!(
        "{} {} approval {} of run {}{always}",
        if approve { "Approved" } else { "Rejected" },
        approval.approval_type,
        short_id(&approval.id),
        short_id(&approval.run_id)
    ))?;
    Ok(exit::OK)
}

/// What became of `--always` (and `--persist`), said at once: m approves
/// the same again itself when it can tell what "the same" is; the agent
/// keeps a grant only where it offers an "always" of its own (the offered
/// kinds are in an ACP payload as `optionKinds`).
fn always_outcome(approval: &Approval, persist: bool) -> String {
    let payload = approval.payload.clone().unwrap_or_default();
    let mut said = match Grant::of(approval.approval_type, &payload) {
        Some(grant) => format!(", and again for the rest of the run: {}", grant.describe()),
        None => " once: m cannot tell which later requests would be the same".to_string(),
    };
    if persist {
        let offered = payload
            .get("optionKinds")
            .and_then(|kinds| kinds.as_array())
            .is_some_and(|kinds| kinds.iter().any(|k| k == "allow_always"));
        said.push_str(if offered {
            "; the agent keeps the grant itself, maybe beyond this run"
        } else {
            "; the agent offers no 'always' of its own to keep"
        });
    }
    said
}

/// The approval meant by `target`: an approval id prefix, else a run id
/// prefix whose run has exactly one pending approval. A prefix of both an
/// approval and a run is ambiguous: deciding an old approval of another
/// run in place of this run's pending one (or the other way round) is
/// never what was meant.
pub fn find_approval(store: &Store, target: &str) -> Result<Approval> {
    let approvals = store.approval_ids_with_prefix(target)?;
    let runs = store.run_ids_with_prefix(target)?;
    match (approvals.as_slice(), runs.as_slice()) {
        ([], []) => Err(Error::not_found(format!(
            "no approval or run with id '{}'",
            target.trim()
        ))
        .with_hint("list pending approvals with `m approvals`")),
        ([approval], []) => store.get_approval(approval),
        ([], [run]) => only_pending_approval(store, &store.get_run(run)?),
        _ => Err(ambiguous(store, target, &approvals, &runs)?),
    }
}

/// The error for a prefix of several ids: every candidate with its kind
/// and full id, as the store lists the candidates of other prefixes.
fn ambiguous(store: &Store, target: &str, approvals: &[String], runs: &[String]) -> Result<Error> {
    const SHOWN: usize = 10;
    let mut lines = Vec::new();
    for id in approvals.iter().take(SHOWN) {
        let approval = store.get_approval(id)?;
        lines.push(format!(
            "  approval {id} ({} {}, of run {})",
            approval.state,
            approval.approval_type,
            short_id(&approval.run_id)
        ));
    }
    if approvals.len() > SHOWN {
        lines.push("  approval ...".into());
    }
    for id in runs.iter().take(SHOWN) {
        let run = store.get_run(id)?;
        lines.push(format!("  run {id} ({})", run.state));
    }
    if runs.len() > SHOWN {
        lines.push("  run ...".into());
    }
    Ok(Error::usage(format!(
        "the id prefix '{}' is ambiguous; it matches:\n{}",
        target.trim(),
        lines.join("\n")
    ))
    .with_hint("type more characters of the id"))
}

/// The one pending approval of `run`.
fn only_pending_approval(store: &Store, run: &Run) -> Result<Approval> {
    let pending = store.list_approvals(&ApprovalFilter {
        run_id: Some(run.id.clone()),
        states: vec![ApprovalState::Pending],
    })?;
    match pending.len() {
        0 => Err(Error::conflict(format!(
            "run {} has no pending approval ({})",
            short_id(&run.id),
            run.state
        ))
        .with_hint(format!(
            "`m approvals --run {} --state all` lists its approvals",
            short_id(&run.id)
        ))),
        1 => Ok(pending.into_iter().next().expect("one approval")),
        n => {
            let list = pending
                .iter()
                .map(|a| {
                    format!(
                        "  {} {} {}",
                        short_id(&a.id),
                        a.approval_type,
                        super::approvals::summary(a)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Err(Error::usage(format!(
                "run {} has {n} pending approvals:\n{list}",
                short_id(&run.id)
            ))
            .with_hint("name the approval by its id"))
        }
    }
}
