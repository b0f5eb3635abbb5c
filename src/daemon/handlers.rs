//! One handler per request. `handle` answers on the connection a request
//! came from; what is answered once is `answer`'s, a request in and a
//! response out, which in-process tests call with no socket (`tests.rs`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::json;
use tokio::sync::oneshot;

use super::connection::{Connection, Peer};
use super::peers;
use super::supervisor::{Control, StartedRun};
use super::Shared;
use crate::agent::{AgentRequest, ApprovalRequest, InputReply, InputRequest, Verdict};
use crate::error::{Error, ErrorKind, Result};
use crate::model::EventType;
use crate::model::{new_id, short_id, AgentSpec, Approval, ApprovalState, ApprovalType, DecidedBy};
use crate::policy;
use crate::protocol::{
    check_prompt, AskApprovalRequest, AskInputRequest, CancelRunRequest, DaemonStatus,
    DecideRequest, DeviceRemovedRequest, FollowRequest, PairRequest, ReplyRequest, Request,
    Response, StartRunRequest, HEARTBEAT, PROTOCOL_VERSION, VERSION,
};
use crate::store::{Created, Decision, NewEvent, NewRun, RunDetails, Store};

pub async fn handle(shared: &Arc<Shared>, request: Request, conn: &mut Connection) -> Result<()> {
    let response = match request {
        Request::Follow(FollowRequest {
            run_id,
            since,
            types,
        }) => return super::follow::follow(shared, run_id, since, &types, conn).await,
        Request::AskApproval(AskApprovalRequest {
            run_id,
            approval_type,
            payload,
        }) => {
            // Only m's end-of-run review names a tree: it is what an
            // approval of it commits, also after a restart.
            if payload.get("tree").is_some() {
                return Err(Error::usage(
                    "the payload cannot set `tree`: it names the worktree of m's own end-of-run review",
                )
                .with_hint("drop it from the payload"));
            }
            let request = ApprovalRequest {
                approval_type,
                payload,
            };
            let verdict = ask(shared, &run_id, conn, |reply| AgentRequest::Approval {
                request,
                reply,
            })
            .await?
            .unwrap_or(Verdict::RunEnded);
            match verdict {
                Verdict::Approved { .. } => Response::Verdict {
                    approved: true,
                    reason: None,
                    run_ended: false,
                },
                Verdict::Rejected { reason } => Response::Verdict {
                    approved: false,
                    reason: Some(reason),
                    run_ended: false,
                },
                Verdict::RunEnded => Response::Verdict {
                    approved: false,
                    reason: None,
                    run_ended: true,
                },
            }
        }
        Request::AskInput(AskInputRequest { run_id, question }) => {
            let request = InputRequest {
                question,
                schema: None,
            };
            let answer = ask(shared, &run_id, conn, |reply| AgentRequest::Input {
                request,
                reply,
            })
            .await?
            .unwrap_or(InputReply::RunEnded);
            match answer {
                InputReply::Text(text) => Response::Answer {
                    text: Some(text),
                    run_ended: false,
                },
                InputReply::Done => Response::Answer {
                    text: None,
                    run_ended: false,
                },
                InputReply::RunEnded => Response::Answer {
                    text: None,
                    run_ended: true,
                },
            }
        }
        Request::Shutdown => {
            // Answer before the shutdown begins: once it does, the runtime
            // may drop this connection's task before the answer is written,
            // and `m daemon stop` would see its connection reset.
            conn.send(&Response::Ok).await?;
            shared.shutdown.notify_one();
            return Ok(());
        }
        request => answer(shared, request, conn.peer).await?,
    };
    conn.send(&response).await
}

/// The one answer to a request that needs nothing of its connection but
/// who sent it; one that streams or waits (`follow`, `ask_*`, `shutdown`)
/// is `handle`'s.
pub(crate) async fn answer(shared: &Arc<Shared>, request: Request, peer: Peer) -> Result<Response> {
    Ok(match request {
        Request::Status => Response::Status(status(shared)),
        Request::StartRun(request) => start_run(shared, request).await?,
        Request::CancelRun(CancelRunRequest { run_id }) => cancel_run(shared, &run_id).await?,
        Request::Decide(DecideRequest {
            approval_id,
            approve,
            reason,
            always,
            persist,
            content_hash,
        }) => {
            let what = if approve { "approve" } else { "reject" };
            let by = human_only(shared, peer, what, json!({ "approval_id": approval_id })).await?;
            let decision = Decision {
                approve,
                reason,
                by,
                seen_hash: content_hash,
            };
            let grant = Grant {
                always: always || persist,
                persist,
            };
            let approval = decide(shared, &approval_id, decision, grant).await?;
            Response::Approval { approval }
        }
        Request::Reply(ReplyRequest { run_id, text, done }) => {
            let what = if done { "done" } else { "reply" };
            let by = human_only(shared, peer, what, json!({ "run_id": run_id })).await?;
            reply(shared, &run_id, text, done, by).await?
        }
        Request::Pair(PairRequest { name, scopes }) => {
            let Some(remote) = shared.remote.get() else {
                return Err(remote_off());
            };
            Response::Pairing(remote.offer(name, scopes))
        }
        Request::DeviceRemoved(DeviceRemovedRequest { device_id }) => {
            if let Some(remote) = shared.remote.get() {
                remote.revoke(&device_id);
            }
            Response::Ok
        }
        Request::Follow(_) | Request::AskApproval(_) | Request::AskInput(_) | Request::Shutdown => {
            return Err(Error::failure("this request needs a connection of its own"));
        }
    })
}

fn remote_off() -> Error {
    Error::usage("the remote API is off, so there is nothing to pair with").with_hint(
        "set `[remote] listen = \"0.0.0.0:8443\"` in the config file (or M_REMOTE_LISTEN) \
         and restart the daemon: `m daemon stop`",
    )
}

/// Runs a read against the database on a blocking thread.
pub(crate) async fn read<T: Send + 'static>(
    shared: &Shared,
    f: impl FnOnce(&Store) -> Result<T> + Send + 'static,
) -> Result<T> {
    super::readers::read(&shared.readers, f).await
}

pub(crate) fn status(shared: &Shared) -> DaemonStatus {
    DaemonStatus {
        pid: std::process::id(),
        version: VERSION.to_string(),
        protocol: PROTOCOL_VERSION,
        started_at: shared.started_at,
        socket: shared.paths.socket().display().to_string(),
        active_runs: shared.live_runs(),
        notifications: serde_json::to_value(shared.dispatcher.health()).unwrap_or_default(),
        remote: shared.remote.get().map(|remote| remote.status()),
        health: shared.writer.health().report(&shared.paths.data_dir),
        containment: Some(shared.containment.status()),
    }
}

pub(crate) async fn start_run(shared: &Arc<Shared>, request: StartRunRequest) -> Result<Response> {
    let StartRunRequest {
        repo_id,
        prompt,
        agent,
        base,
        options,
        env,
        queue,
    } = request;
    check_prompt(&prompt)?;
    // The caller's environment, or (an older client) the daemon's.
    let env = env.unwrap_or_else(super::queue::daemon_env);
    let argv = match &agent {
        AgentSpec::Exec { argv } | AgentSpec::Acp { argv, .. } => argv,
    };
    if argv.first().is_none_or(|p| p.is_empty()) {
        return Err(Error::usage("no agent command was given").with_hint(
            "put the command after `--`: m run start -r REPO \"PROMPT\" -- ./agent.sh",
        ));
    }
    let repo = read(shared, move |store| store.get_repo(&repo_id)).await?;
    options.check_repo(&repo)?;
    let id = new_id();
    let workspace_path = shared.paths.workspaces().join(&id);
    let new = NewRun {
        repo_id: repo.id.clone(),
        prompt,
        workspace_path: workspace_path.display().to_string(),
        details: RunDetails {
            agent: json!(agent),
            options: json!(options),
            ..RunDetails::default()
        },
    };
    // Kept before the run may be queued: it may start at once.
    let queued_env = super::queue::QueuedEnv::keep(shared, &id, &env);
    let created = shared
        .writer
        .create_or_queue(id, new, base.clone(), queue)
        .await;
    let run = match created {
        Ok(Created::Started(run)) => run,
        Ok(Created::Queued(run)) => {
            queued_env.stay();
            return Ok(Response::Queued { run });
        }
        Err(err) => return Err(err),
    };
    super::queue::supervise(
        shared,
        StartedRun {
            run: run.clone(),
            repo,
            agent,
            base,
            options,
            env,
            resumed: None,
        },
    );
    Ok(Response::Run { run })
}

/// Explains why a run that is not live cannot be acted on.
async fn not_live(shared: &Shared, run_id: &str) -> Error {
    let id = run_id.to_string();
    match read(shared, move |store| store.get_run(&id)).await {
        Ok(run) if run.state.is_final() => Error::conflict(format!(
            "run {} has already ended ({})",
            short_id(run_id),
            run.state
        )),
        Ok(_) => Error::failure(format!(
            "run {} is active but has no agent in this daemon",
            short_id(run_id)
        ))
        .with_hint("restart the daemon (`m daemon stop`); the run will be marked failed"),
        Err(err) => err,
    }
}

/// Stops a live run, or takes a queued one out of its queue. Under the
/// queue's lock, so that a queued run is never between the two (started,
/// its supervisor not yet registered). Once a cancel has begun, no decision
/// is taken any more: the run's pending approvals are closed ("run ended")
/// before its agent is told to stop, and a decision that comes later is
/// refused.
pub(crate) async fn cancel_run(shared: &Shared, run_id: &str) -> Result<Response> {
    let _queue = shared.queue_lock.lock().await;
    if let Some(handle) = shared.run_handle(run_id) {
        handle.stopping.store(true, Ordering::SeqCst);
        shared.writer.close_approvals(run_id).await?;
        let _ = handle.control.send(Control::Stop { failure: None }).await;
        return Ok(Response::Ok);
    }
    if shared.writer.cancel_queued(run_id).await?.is_some() {
        super::queue::QueuedEnv::take(shared, run_id);
        return Ok(Response::Ok);
    }
    Err(not_live(shared, run_id).await)
}

/// What `m approve --always` asked for.
pub(crate) struct Grant {
    /// m approves the same again for the rest of the run.
    pub always: bool,
    /// The agent may keep the grant itself.
    pub persist: bool,
}

/// Who decides, if a human: a process of a run is refused, and the refused
/// attempt is recorded on that run (`decision.refused`).
async fn human_only(
    shared: &Shared,
    peer: Peer,
    what: &str,
    target: serde_json::Value,
) -> Result<DecidedBy> {
    let (run_id, how) = match peers::origin(shared, &peer) {
        peers::Origin::Human(by) => return Ok(by),
        peers::Origin::Run { run_id, how } => (run_id, how),
    };
    tracing::warn!(run = %run_id, pid = ?peer.pid, "refused `{what}` from a process of a run");
    if shared.run_handle(&run_id).is_some() {
        let mut data = json!({ "request": what, "pid": peer.pid, "because": how });
        if let (Some(data), serde_json::Value::Object(target)) = (data.as_object_mut(), target) {
            data.extend(target);
        }
        shared
            .writer
            .append(vec![NewEvent::new(
                &run_id,
                EventType::DecisionRefused,
                data,
            )])
            .await;
    }
    Err(Error::new(
        ErrorKind::Refused,
        format!(
            "refused: `{what}` came from a process of run {} ({how}); only a human decides",
            short_id(&run_id)
        ),
    )
    .with_hint("an agent may ask (`m ask`); decide from your own terminal, outside the run"))
}

/// Decides a pending approval (from the socket or the remote API) and
/// tells the run's agent.
pub(crate) async fn decide(
    shared: &Shared,
    approval_id: &str,
    decision: Decision,
    grant: Grant,
) -> Result<Approval> {
    let id = approval_id.to_string();
    let asked = read(shared, move |store| store.get_approval(&id)).await?;
    decide_on(shared, asked, decision, grant).await
}

/// [`decide`], on the approval as just read: the remote API has read it to
/// find it by its prefix, and a second read on the way cost a decision
/// another wait for a blocking thread.
pub(crate) async fn decide_on(
    shared: &Shared,
    asked: Approval,
    decision: Decision,
    grant: Grant,
) -> Result<Approval> {
    let (approve, reason) = (decision.approve, decision.reason.clone());
    let approval_id = asked.id.as_str();
    let handle = shared.run_handle(&asked.run_id);
    if handle
        .as_ref()
        .is_some_and(|h| h.stopping.load(Ordering::SeqCst))
    {
        return Err(Error::conflict(format!(
            "run {} is being cancelled: approval {} can no longer be decided",
            short_id(&asked.run_id),
            short_id(approval_id)
        ))
        .with_hint("its pending approvals are closed as rejected (run ended)"));
    }
    // The run's review is checked against its worktree before anyone's
    // decision counts (a stale one is asked again by the supervisor).
    if let Some(handle) = handle.as_ref().filter(|_| {
        asked.state == ApprovalState::Pending && asked.approval_type == ApprovalType::Diff
    }) {
        let (ack, checked) = oneshot::channel();
        let check = Control::CheckReview {
            approval_id: asked.id.clone(),
            ack,
        };
        // A run that ended meanwhile has closed its approvals: the
        // decision below is refused as such.
        if handle.control.send(check).await.is_ok() {
            if let Ok(checked) = checked.await {
                checked?;
            }
        }
    }
    // Durable first: the agent hears of a decision only once it is committed.
    let approval = shared.writer.decide(approval_id, decision).await?;
    if let Some(handle) = handle {
        let verdict = if approve {
            Verdict::Approved {
                persist: grant.persist,
            }
        } else {
            Verdict::Rejected {
                reason: reason.unwrap_or_else(|| "rejected without a reason".into()),
            }
        };
        let grant = (approve && grant.always)
            .then(|| {
                let payload = approval.payload.clone().unwrap_or_default();
                policy::Grant::of(approval.approval_type, &payload)
            })
            .flatten();
        let _ = handle
            .control
            .send(Control::Verdict {
                approval_id: approval_id.to_string(),
                verdict,
                grant,
            })
            .await;
    }
    Ok(approval)
}

pub(crate) async fn reply(
    shared: &Shared,
    run_id: &str,
    text: Option<String>,
    done: bool,
    by: DecidedBy,
) -> Result<Response> {
    let Some(handle) = shared.run_handle(run_id) else {
        return Err(not_live(shared, run_id).await);
    };
    let reply = match (done, text) {
        (true, _) => InputReply::Done,
        // An empty prompt would only spend one of the agent's turns.
        (false, Some(text)) if !text.trim().is_empty() => InputReply::Text(text),
        (false, _) => {
            return Err(Error::usage("the reply is empty").with_hint(format!(
                "write the answer; `m run done {}` ends a conversation",
                short_id(run_id)
            )))
        }
    };
    let (ack, acked) = oneshot::channel();
    handle
        .control
        .send(Control::Reply { reply, by, ack })
        .await
        .map_err(|_| Error::conflict(format!("run {} has just ended", short_id(run_id))))?;
    acked
        .await
        .map_err(|_| Error::conflict(format!("run {} has just ended", short_id(run_id))))??;
    Ok(Response::Ok)
}

/// Sends an in-run request to the run's supervisor and waits for the answer.
/// An asker that goes away (`m ask` killed, or timed out by its script)
/// drops the wait, and the supervisor withdraws the request.
async fn ask<T>(
    shared: &Shared,
    run_id: &str,
    conn: &mut Connection,
    make: impl FnOnce(oneshot::Sender<T>) -> AgentRequest,
) -> Result<Option<T>> {
    let Some(handle) = shared.run_handle(run_id) else {
        return Err(not_live(shared, run_id).await);
    };
    let (tx, mut rx) = oneshot::channel();
    if handle.requests.send(make(tx)).await.is_err() {
        return Ok(None);
    }
    // Heartbeats while a human decides: the asker can tell a stopped
    // daemon from a slow human.
    let gone = || Error::failure("the asker went away before the answer");
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            answer = &mut rx => return Ok(answer.ok()),
            _ = conn.closed() => return Err(gone()),
            _ = heartbeat.tick() => {}
        }
        conn.send(&Response::Heartbeat).await.map_err(|_| gone())?;
    }
}
