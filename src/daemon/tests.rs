//! In-process tests of the request handlers over a temporary database: a
//! request in (`handlers::answer`), a response out, with the daemon's
//! writer thread and no socket, daemon process or agent. Black-box tests
//! (`tests/`) keep what a user sees; these cover what a client never lets
//! through to the daemon (it checks first) and races that need no process.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde_json::json;
use tokio::sync::mpsc;

use super::connection::Peer;
use super::handlers;
use super::health::Watch;
use super::supervisor::{Control, RunHandle};
use super::writer::Writer;
use super::Shared;
use crate::config::Config;
use crate::error::ErrorKind;
use crate::model::{AgentSpec, ApprovalState, ApprovalType, DecidedBy, EventType, RunState};
use crate::notify::Dispatcher;
use crate::paths::Paths;
use crate::protocol::{
    CancelRunRequest, DecideRequest, DeviceRemovedRequest, PairRequest, Request, Response,
    StartRunRequest, MAX_PROMPT,
};
use crate::store::{NewRepo, NewRun, RunDetails, Store};

/// A daemon's shared state over a fresh database in a temporary `M_HOME`.
struct Daemon {
    shared: Arc<Shared>,
    paths: Paths,
    // Dropped last: the writer's database lives here.
    _home: tempfile::TempDir,
    _watch: Watch,
}

fn daemon() -> Daemon {
    let home = tempfile::tempdir().unwrap();
    let paths = Paths::under(home.path());
    std::fs::create_dir_all(&paths.data_dir).unwrap();
    drop(Store::open(&paths.database()).unwrap());
    let watch = Watch::new();
    let (writer, _thread) = Writer::start(
        &paths.database(),
        Arc::new(tokio::sync::Notify::new()),
        [watch.lifeline("writer"), watch.lifeline("checkpointer")],
    )
    .unwrap();
    let config = Config::defaults(&paths.config_file);
    let dispatcher = Arc::new(Dispatcher::from_config(&config.notify));
    Daemon {
        shared: Arc::new(Shared::new(paths.clone(), &config, writer, dispatcher)),
        paths,
        _home: home,
        _watch: watch,
    }
}

/// Someone at this machine, as the socket would tell (no pid: nothing to
/// look up in /proc).
const HUMAN: Peer = Peer { uid: 0, pid: None };

impl Daemon {
    fn store(&self) -> Store {
        Store::open(&self.paths.database()).unwrap()
    }

    async fn answer(&self, request: Request) -> crate::error::Result<Response> {
        handlers::answer(&self.shared, request, HUMAN).await
    }

    /// A repo `name` in the store, with no URL.
    fn repo(&self, name: &str) -> crate::model::Repo {
        self.store()
            .add_repo(NewRepo {
                name: name.into(),
                git_url: None,
            })
            .unwrap()
    }

    /// A repo and a run on it with one pending approval (no agent: the run
    /// is not live unless `live` registers a handle for it).
    fn run_with_approval(&self, run_id: &str) -> String {
        let repo = self.repo(&format!("repo-{run_id}"));
        let mut store = self.store();
        let mut batch = store.batch().unwrap();
        batch
            .create_run(
                run_id,
                NewRun {
                    repo_id: repo.id,
                    prompt: "work".into(),
                    workspace_path: "/nonexistent".into(),
                    details: RunDetails::default(),
                },
            )
            .unwrap();
        let approval = batch
            .request_approval(
                run_id,
                ApprovalType::Generic,
                json!({ "title": "may I?" }),
                None,
            )
            .unwrap();
        batch.commit().unwrap();
        approval.id
    }

    /// Registers a live run as its supervisor would; returns what the run
    /// would hear.
    fn live(&self, run_id: &str) -> mpsc::Receiver<Control> {
        let (requests, _) = mpsc::channel(8);
        let (control, heard) = mpsc::channel(8);
        self.shared.runs.lock().unwrap().insert(
            run_id.to_string(),
            RunHandle {
                requests,
                control,
                stopping: Arc::new(AtomicBool::new(false)),
            },
        );
        heard
    }

    fn events_of(&self, run_id: &str, event_type: EventType) -> usize {
        self.store()
            .list_events(run_id, 0, &[event_type.to_string()], None)
            .unwrap()
            .len()
    }
}

fn decide(approval_id: &str, approve: bool) -> Request {
    Request::Decide(DecideRequest {
        approval_id: approval_id.to_string(),
        approve,
        reason: (!approve).then(|| "no".to_string()),
        always: false,
        persist: false,
        content_hash: None,
    })
}

const RUN: &str = "c4000000-0000-4000-8000-00000000000c";

/// Moved from tests/approvals.rs, where six `m` processes raced: the
/// writer takes one decision, every other is a conflict, one event is
/// written.
#[tokio::test]
async fn racing_decisions_have_one_winner_and_one_event() {
    let d = daemon();
    let id = d.run_with_approval(RUN);
    let shared = d.shared.clone();
    let racers: Vec<_> = (0..6)
        .map(|i| {
            let shared = shared.clone();
            let request = decide(&id, i % 2 == 0);
            tokio::spawn(async move { handlers::answer(&shared, request, HUMAN).await })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(Response::Approval { approval }) => {
                won += 1;
                assert_ne!(approval.state, ApprovalState::Pending);
            }
            Ok(other) => panic!("{other:?}"),
            Err(err) => assert_eq!(err.kind, ErrorKind::Conflict, "{}", err.message),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(d.events_of(RUN, EventType::ApprovalResolved), 1);
}

/// A decision on a live run's approval reaches its supervisor once
/// committed, as the verdict the agent is told; who decided is recorded.
#[tokio::test]
async fn a_decision_reaches_the_live_run_as_its_verdict_after_the_commit() {
    let d = daemon();
    let id = d.run_with_approval(RUN);
    let mut heard = d.live(RUN);
    let Response::Approval { approval } = d.answer(decide(&id, false)).await.unwrap() else {
        panic!("not an approval")
    };
    assert_eq!(approval.state, ApprovalState::Rejected);
    assert!(matches!(approval.decided_by, Some(DecidedBy::Human { .. })));
    match heard.recv().await.unwrap() {
        Control::Verdict {
            approval_id,
            verdict,
            grant,
        } => {
            assert_eq!(approval_id, id);
            assert_eq!(
                verdict,
                crate::agent::Verdict::Rejected {
                    reason: "no".into()
                }
            );
            assert!(grant.is_none());
        }
        _ => panic!("not a verdict"),
    }
    assert_eq!(
        d.store().get_approval(&id).unwrap().state,
        ApprovalState::Rejected
    );
}

/// A process of a run (here: this test's own pid, registered as a run's
/// keeper) is refused a decision, and the attempt is recorded on the run.
#[tokio::test]
async fn a_process_of_a_run_is_refused_and_the_attempt_recorded() {
    let d = daemon();
    let id = d.run_with_approval(RUN);
    let _heard = d.live(RUN);
    let pid = std::process::id() as i32;
    d.shared
        .keepers
        .lock()
        .unwrap()
        .insert(pid, RUN.to_string());
    let agent = Peer {
        uid: 0,
        pid: Some(pid),
    };
    let err = handlers::answer(&d.shared, decide(&id, true), agent)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused, "{}", err.message);
    assert!(
        err.message.contains("only a human decides"),
        "{}",
        err.message
    );
    assert_eq!(
        d.store().get_approval(&id).unwrap().state,
        ApprovalState::Pending
    );
    // The refusal is appended without waiting; a committed write behind it
    // in the one queue means it is stored.
    d.shared.writer.append_committed(Vec::new()).await.unwrap();
    assert_eq!(d.events_of(RUN, EventType::DecisionRefused), 1);
}

/// What a client refuses before it sends (an empty prompt, one over the
/// limit, no agent command) the daemon refuses too, for a client of
/// another build; nothing is recorded.
#[tokio::test]
async fn a_start_the_client_would_refuse_is_refused_by_the_daemon_too() {
    let d = daemon();
    let repo = d.repo("api");
    let start = |prompt: String, argv: Vec<String>| {
        Request::StartRun(StartRunRequest {
            repo_id: repo.id.clone(),
            prompt,
            agent: AgentSpec::Exec { argv },
            base: None,
            options: Default::default(),
            env: Some(Vec::new()),
            queue: false,
        })
    };
    let cases = [
        (
            start("  ".into(), vec!["true".into()]),
            "the prompt is empty",
        ),
        (
            start("x".repeat(MAX_PROMPT + 1), vec!["true".into()]),
            "the limit is",
        ),
        (start("work".into(), vec![]), "no agent command"),
        (
            start("work".into(), vec![String::new()]),
            "no agent command",
        ),
    ];
    for (request, says) in cases {
        let err = d.answer(request).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage, "{}", err.message);
        assert!(err.message.contains(says), "{}", err.message);
    }
    assert!(d.store().list_runs(&Default::default()).unwrap().is_empty());
}

/// Cancelling a run that has ended says so; an unknown id is not found.
#[tokio::test]
async fn cancelling_an_ended_run_is_a_conflict_naming_its_state() {
    let d = daemon();
    d.run_with_approval(RUN);
    d.shared
        .writer
        .finish_run(RUN, RunState::Failed, json!({ "reason": "gone" }))
        .await
        .unwrap();
    let cancel = |id: &str| {
        Request::CancelRun(CancelRunRequest {
            run_id: id.to_string(),
        })
    };
    let err = d.answer(cancel(RUN)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert!(
        err.message.contains("has already ended (failed)"),
        "{}",
        err.message
    );
    let err = d
        .answer(cancel("d5000000-0000-4000-8000-00000000000d"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{}", err.message);
}

/// With the remote API off, pairing is a usage error saying how to turn it
/// on, and a removed device has no stream to end.
#[tokio::test]
async fn without_the_remote_api_pairing_says_how_to_turn_it_on() {
    let d = daemon();
    let err = d
        .answer(Request::Pair(PairRequest {
            name: None,
            scopes: Vec::new(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Usage);
    assert!(err.hint.unwrap_or_default().contains("[remote]"));
    let removed = Request::DeviceRemoved(DeviceRemovedRequest {
        device_id: "x".into(),
    });
    assert!(matches!(d.answer(removed).await.unwrap(), Response::Ok));
}

/// Status lists the live runs.
#[tokio::test]
async fn status_lists_the_live_runs() {
    let d = daemon();
    d.run_with_approval(RUN);
    let _heard = d.live(RUN);
    let Response::Status(status) = d.answer(Request::Status).await.unwrap() else {
        panic!("not a status")
    };
    assert_eq!(status.active_runs, vec![RUN.to_string()]);
    assert_eq!(status.pid, std::process::id());
}

/// Moved from tests/daemon.rs, where ten `m run start` processes raced (a
/// second start's conflict, which a user sees, is tested there still):
/// starts racing through the writer make one run, and each of the others
/// is a conflict naming it.
#[tokio::test]
async fn racing_starts_on_one_repo_make_exactly_one_run() {
    let d = daemon();
    let repo = d.repo("api");
    let racers: Vec<_> = (0..10)
        .map(|i| {
            let shared = d.shared.clone();
            let new = NewRun {
                repo_id: repo.id.clone(),
                prompt: format!("race {i}"),
                workspace_path: "/nonexistent".into(),
                details: RunDetails::default(),
            };
            let id = crate::model::new_id();
            tokio::spawn(async move { shared.writer.create_or_queue(id, new, None, false).await })
        })
        .collect();
    let (mut started, mut refused) = (Vec::new(), Vec::new());
    for racer in racers {
        match racer.await.unwrap() {
            Ok(crate::store::Created::Started(run)) => started.push(run.id),
            Ok(crate::store::Created::Queued(run)) => panic!("queued {}", run.id),
            Err(err) => refused.push(err),
        }
    }
    assert_eq!(started.len(), 1);
    assert_eq!(refused.len(), 9);
    for err in refused {
        assert_eq!(err.kind, ErrorKind::Conflict, "{}", err.message);
        assert!(err.message.contains(&started[0][..8]), "{}", err.message);
    }
    assert_eq!(d.store().list_runs(&Default::default()).unwrap().len(), 1);
}

/// Emptying the writer's page cache (after a peak) leaves it writing, and
/// what was queued before it is stored first.
#[tokio::test]
async fn the_writer_writes_on_after_emptying_its_page_cache() {
    let d = daemon();
    let id = d.run_with_approval(RUN);
    let writer = &d.shared.writer;
    writer.release_memory().await;
    let approval = writer
        .decide(
            &id,
            crate::store::Decision {
                approve: true,
                reason: None,
                by: DecidedBy::Policy {
                    rule: "test".into(),
                },
                seen_hash: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(approval.state, ApprovalState::Approved);
    writer.release_memory().await;
    assert_eq!(d.events_of(RUN, EventType::ApprovalResolved), 1);
}
