//! Starting queued runs: when a repo's active run ends (however it ends,
//! including a previous daemon's run failed by recovery), its next queued
//! run starts. A queued run that cannot start fails with the reason, and the
//! one after it starts.

use std::sync::Arc;

use serde_json::json;

use super::supervisor::{self, StartedRun};
use super::Shared;
use crate::model::{AgentSpec, QueuedRun, RunOptions, RunState};
use crate::store::Store;

/// The environment a queued run's agent gets: that of the `m run start`
/// that queued it, kept in the daemon's memory only (like a started run's,
/// it is never stored). A run queued before a restart gets the daemon's.
pub struct QueuedEnv<'a> {
    shared: &'a Shared,
    run_id: String,
    stays: bool,
}

impl<'a> QueuedEnv<'a> {
    pub fn keep(shared: &'a Shared, run_id: &str, env: &[(String, String)]) -> QueuedEnv<'a> {
        shared
            .queued_env
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(run_id.to_string(), env.to_vec());
        QueuedEnv {
            shared,
            run_id: run_id.to_string(),
            stays: false,
        }
    }

    /// The run was queued: its environment waits with it.
    pub fn stay(mut self) {
        self.stays = true;
    }

    /// Takes the environment of a queued run that starts or is cancelled.
    pub fn take(shared: &Shared, run_id: &str) -> Option<Vec<(String, String)>> {
        shared
            .queued_env
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(run_id)
    }
}

impl Drop for QueuedEnv<'_> {
    fn drop(&mut self) {
        if !self.stays {
            QueuedEnv::take(self.shared, &self.run_id);
        }
    }
}

/// The daemon's own environment, for a run whose caller's is not known.
pub fn daemon_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Starts a run's supervisor; when the run has ended (however it ends), the
/// repo's next queued run starts.
pub fn supervise(shared: &Arc<Shared>, started: StartedRun) {
    let repo_id = started.run.repo_id.clone();
    let supervisor = supervisor::spawn(shared.clone(), started);
    let shared = shared.clone();
    tokio::spawn(async move {
        let _ = supervisor.await;
        start_next(&shared, &repo_id).await;
    });
}

/// Starts the repo's next queued run, if the repo is free. Nothing starts
/// once the daemon is stopping: the queue waits for the next daemon.
pub async fn start_next(shared: &Arc<Shared>, repo_id: &str) {
    // Held until the run's supervisor is registered, so that `m run cancel`
    // finds a run either queued or live, never between the two.
    let _queue = shared.queue_lock.lock().await;
    loop {
        if *shared.stopping.borrow() {
            return;
        }
        let (run, queued) = match shared.writer.start_next_queued(repo_id).await {
            Ok(Some(next)) => next,
            Ok(None) => return,
            Err(err) => {
                tracing::error!(repo = %repo_id, "cannot start the next queued run: {}", err.message);
                return;
            }
        };
        tracing::info!(run = %run.id, repo = %repo_id, "starting a queued run");
        match what_to_start(shared, &queued).await {
            Ok((repo, agent, options)) => {
                supervise(
                    shared,
                    StartedRun {
                        run,
                        repo,
                        agent,
                        base: queued.base,
                        options,
                        env: QueuedEnv::take(shared, &queued.id).unwrap_or_else(daemon_env),
                        resumed: None,
                    },
                );
                return;
            }
            Err(reason) => {
                QueuedEnv::take(shared, &queued.id);
                let data = json!({ "reason": format!("the queued run cannot start: {reason}") });
                if let Err(err) = shared
                    .writer
                    .finish_run(&run.id, RunState::Failed, data)
                    .await
                {
                    tracing::error!(run = %run.id, "cannot record the end of the run: {}", err.message);
                    return;
                }
            }
        }
    }
}

/// Starts the next queued run of every repo that has one and no active
/// run: at start-up, after recovery has ended what a previous daemon left.
pub async fn start_all(shared: &Arc<Shared>) {
    let db = shared.paths.database();
    let repos = tokio::task::spawn_blocking(move || Store::open(&db)?.repos_with_queued_runs())
        .await
        .unwrap_or_else(|e| {
            Err(crate::error::Error::failure(format!(
                "a database read crashed: {e}"
            )))
        });
    match repos {
        Ok(repos) => {
            for repo_id in repos {
                start_next(shared, &repo_id).await;
            }
        }
        Err(err) => tracing::error!("cannot read the queue: {}", err.message),
    }
}

/// The repo, agent and options a queued run was queued with.
async fn what_to_start(
    shared: &Shared,
    queued: &QueuedRun,
) -> std::result::Result<(crate::model::Repo, AgentSpec, RunOptions), String> {
    let agent: AgentSpec = serde_json::from_value(queued.agent.clone())
        .map_err(|e| format!("its agent cannot be read: {e}"))?;
    let options: RunOptions = serde_json::from_value(queued.options.clone())
        .map_err(|e| format!("its options cannot be read: {e}"))?;
    let db = shared.paths.database();
    let repo_id = queued.repo_id.clone();
    let repo = tokio::task::spawn_blocking(move || Store::open(&db)?.get_repo(&repo_id))
        .await
        .map_err(|e| format!("a database read crashed: {e}"))?
        .map_err(|e| e.message)?;
    options.check_repo(&repo).map_err(|e| e.message)?;
    Ok((repo, agent, options))
}
