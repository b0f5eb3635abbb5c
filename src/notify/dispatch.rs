//! The dispatcher the daemon owns: it delivers the outbox to every target,
//! applies what each answer means, and keeps a health summary.
//!
//! Longer than 800 lines because its unit tests (`mod tests`, about 300
//! lines: the dispatcher against a fake clock and recording senders) sit
//! beside it, where they reach its private parts; the code is about 510.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::apns::{ApnsSender, ApnsSink, PushSender};
use super::command::CommandSink;
use super::retry::{Clock, RetryPolicy, SystemClock};
use super::sink::{Sink, Target};
use super::webhook::{WebhookClient, WebhookSink};
use super::Outcome;
use crate::config::notify::NotifyConfig;
use crate::error::Result;
use crate::model::{DeviceInfo, EventType, Notification, Trigger};
use crate::store::{AttemptEnd, DeliveryOutcome, OutboxEntry, Store, TargetRecord};

/// Notifications delivered per pass over the outbox.
const BATCH: u32 = 50;
/// The longest the delivery loop sleeps without looking at the outbox.
const MAX_IDLE: Duration = Duration::from_secs(60);
/// The pause after the store failed, before trying again.
const ERROR_PAUSE: Duration = Duration::from_secs(5);
/// How long delivered and failed notifications are kept.
const KEEP_FINISHED_SECS: i64 = 30 * 24 * 60 * 60;

/// Whether push notifications can be sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ApnsStatus {
    /// No `[notify.apns]` section.
    #[default]
    NotConfigured,
    Ready,
    /// Configured, but the configuration or the key is wrong: no push is
    /// sent until it is fixed and the daemon restarted.
    Unavailable {
        error: String,
    },
}

/// For `m status` and `m doctor`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NotifyHealth {
    pub apns: ApnsStatus,
    /// Webhooks and hook commands in use (invalid ones are left out).
    pub webhooks: usize,
    pub commands: usize,
    pub redact: bool,
    /// Configuration problems found at start; each left a sink out.
    pub problems: Vec<String>,
    /// Targets delivered, retried, failed (dropped or out of retries) and
    /// devices removed since the dispatcher was made.
    pub delivered: u64,
    pub retried: u64,
    pub failed: u64,
    pub pruned: u64,
    /// The latest delivery failure or store error.
    pub last_error: Option<String>,
}

impl NotifyHealth {
    /// False when something configured does not work.
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty() && !matches!(self.apns, ApnsStatus::Unavailable { .. })
    }
}

/// What one pass over the outbox did, counted in notifications.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
}

/// How the test notification went for one sink (`m notify test`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestResult {
    pub sink: String,
    pub ok: bool,
    pub detail: String,
}

/// Delivers notifications. Made once by the daemon from `[notify]`; a bad
/// configuration never stops it: what is wrong is logged and reported by
/// [`Dispatcher::health`], and the other sinks work on.
pub struct Dispatcher {
    redact: bool,
    /// Every sink, push first (`m notify test` lists them in this order).
    sinks: Vec<Arc<dyn Sink>>,
    /// What push takes, for [`Self::with_push_sender`].
    apns_events: Vec<Trigger>,
    /// The sinks reminders go to (`[approvals] escalate_to`); empty: as
    /// any notification.
    escalate_to: Vec<String>,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
    health: Mutex<NotifyHealth>,
    /// One pass over the outbox at a time, so no notification is sent twice
    /// by two callers at once.
    delivering: tokio::sync::Mutex<()>,
}

impl Dispatcher {
    /// Validates the configuration and makes the senders (reading the APNs
    /// key). Problems are logged as warnings and kept for [`Self::health`].
    pub fn from_config(config: &NotifyConfig) -> Dispatcher {
        let (settings, problems) = config.validate_lenient();
        let mut problems: Vec<String> = problems.into_iter().map(|p| p.message).collect();
        let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
        let mut push: Option<Arc<dyn PushSender>> = None;
        let apns = match (&config.apns, &settings.apns) {
            (None, _) => ApnsStatus::NotConfigured,
            (Some(_), None) => ApnsStatus::Unavailable {
                error: problems
                    .iter()
                    .find(|p| p.contains("notify.apns"))
                    .cloned()
                    .unwrap_or_else(|| "invalid [notify.apns] settings".to_string()),
            },
            (Some(_), Some(apns)) => match ApnsSender::new(apns) {
                Ok(sender) => {
                    push = Some(Arc::new(sender));
                    ApnsStatus::Ready
                }
                Err(e) => {
                    problems.push(e.message.clone());
                    ApnsStatus::Unavailable { error: e.message }
                }
            },
        };
        for problem in &problems {
            tracing::warn!("notifications: {problem}");
        }
        let apns_events = match &settings.apns {
            Some(apns) => apns.events.clone(),
            None => settings.events.clone(),
        };
        let redact = settings.redact;
        if let Some(sender) = push {
            sinks.push(Arc::new(ApnsSink {
                sender,
                events: apns_events.clone(),
                redact,
            }));
        }
        // Only with webhooks: the client's TLS setup (the webpki roots,
        // rustls) is memory and code a daemon without them never uses.
        if !settings.webhooks.is_empty() {
            let http = WebhookClient::new();
            for hook in &settings.webhooks {
                let (hook, http) = (hook.clone(), http.clone());
                sinks.push(Arc::new(WebhookSink { hook, http, redact }));
            }
        }
        for command in &settings.commands {
            let command = command.clone();
            sinks.push(Arc::new(CommandSink { command }));
        }
        let health = NotifyHealth {
            apns,
            webhooks: settings.webhooks.len(),
            commands: settings.commands.len(),
            redact: settings.redact,
            problems,
            ..NotifyHealth::default()
        };
        Dispatcher {
            redact,
            sinks,
            apns_events,
            escalate_to: Vec::new(),
            clock: Arc::new(SystemClock),
            retry: RetryPolicy::default(),
            health: Mutex::new(health),
            delivering: tokio::sync::Mutex::new(()),
        }
    }

    /// Sends pushes through `sender` instead of APNs (tests, other push
    /// services); it gets the events `[notify.apns] events` allows, or all
    /// of `[notify] events`.
    pub fn with_push_sender(mut self, sender: Arc<dyn PushSender>) -> Dispatcher {
        self.sinks.retain(|sink| !sink.needs_devices());
        let sink = ApnsSink {
            sender,
            events: self.apns_events.clone(),
            redact: self.redact,
        };
        self.sinks.insert(0, Arc::new(sink));
        self.lock_health().apns = ApnsStatus::Ready;
        self
    }

    /// Reminders (`human.reminded`) go to the sinks named here, whatever
    /// their `events` say: `apns`, or a webhook's or hook command's name.
    /// A name no sink has is a problem in [`Self::health`].
    pub fn with_escalation(mut self, names: &[String]) -> Dispatcher {
        for name in names {
            let known = name == "apns" || self.sinks.iter().any(|sink| sink.name() == name);
            if !known {
                let problem = format!(
                    "approvals.escalate_to: no sink is named '{name}' (use \"apns\", or the name of a [[notify.webhook]] or [[notify.command]])"
                );
                tracing::warn!("notifications: {problem}");
                self.lock_health().problems.push(problem);
            }
        }
        self.escalate_to = names.to_vec();
        self
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Dispatcher {
        self.clock = clock;
        self
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Dispatcher {
        self.retry = retry;
        self
    }

    pub fn health(&self) -> NotifyHealth {
        self.lock_health().clone()
    }

    /// The delivery loop: delivers what is due, then sleeps until the next
    /// retry is due, `wake` is notified (the daemon does so after queuing a
    /// notification) or a minute has passed. It never returns; the daemon
    /// drops it to stop, which loses nothing (the outbox is durable and a
    /// target interrupted mid-delivery is tried again).
    pub async fn run(&self, mut store: Store, wake: Arc<Notify>) {
        let cutoff = self.clock.now() - KEEP_FINISHED_SECS;
        if let Err(e) = store.delete_finished_notifications(cutoff) {
            self.note_error(format!("cannot forget old notifications: {}", e.message));
        }
        loop {
            let pause = match self.deliver_due(&mut store).await {
                Ok(_) => match store.next_notification_due() {
                    Ok(Some(at)) => {
                        let wait = (at - self.clock.now()).max(0) as u64;
                        Duration::from_secs(wait).min(MAX_IDLE)
                    }
                    Ok(None) => MAX_IDLE,
                    Err(e) => {
                        self.note_error(e.message);
                        ERROR_PAUSE
                    }
                },
                Err(e) => {
                    self.note_error(format!("cannot deliver notifications: {}", e.message));
                    ERROR_PAUSE
                }
            };
            if pause.is_zero() {
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = self.clock.sleep(pause) => {}
            }
        }
    }

    /// Delivers every notification due now to each of its targets not yet
    /// done, and records the outcome: delivered, a retry at a later time,
    /// or failed; dead devices are removed. Errors are the store's only.
    pub async fn deliver_due(&self, store: &mut Store) -> Result<DeliveryReport> {
        let _one_at_a_time = self.delivering.lock().await;
        let mut report = DeliveryReport::default();
        for entry in store.due_notifications(self.clock.now(), BATCH)? {
            let devices = match self.sinks.iter().any(|sink| sink.needs_devices()) {
                true => store.list_device_infos()?,
                false => Vec::new(),
            };
            let targets: Vec<(Arc<dyn Sink>, Target)> = self
                .targets_for(&entry.notification, &devices)
                .into_iter()
                .filter(|(_, t)| !entry.done_targets.contains(&t.key))
                .collect();
            let outcomes = self.send_all(&entry.notification, targets).await;
            match self.finish(store, &entry, outcomes)? {
                AttemptEnd::Delivered => report.delivered += 1,
                AttemptEnd::Retry { .. } => report.retrying += 1,
                AttemptEnd::Failed { .. } => report.failed += 1,
            }
        }
        Ok(report)
    }

    /// Sends one test notification through every configured sink, to every
    /// device, ignoring `events`, without retries; dead devices are removed
    /// as usual. One result per sink, plus one saying why push is not
    /// possible when it is not.
    pub async fn send_test(&self, store: &mut Store) -> Result<Vec<TestResult>> {
        let n = Notification {
            trigger: None,
            run_id: None,
            approval_id: None,
            seq: None,
            body: json!({ "event": "test", "at": self.clock.now() }),
        };
        let devices = store.list_device_infos()?;
        let mut results = Vec::new();
        let mut targets = Vec::new();
        let not_sent = |detail: String| TestResult {
            sink: "APNs".to_string(),
            ok: false,
            detail,
        };
        let push = self.sinks.iter().any(|sink| sink.needs_devices());
        match (push, self.health().apns) {
            (true, _) if devices.is_empty() => results.push(not_sent(
                "no device is registered; add one with `m device add TOKEN`".into(),
            )),
            (true, _) => {}
            (false, ApnsStatus::Unavailable { error }) => results.push(not_sent(error)),
            (false, _) if !devices.is_empty() => results.push(not_sent(
                "devices are registered but [notify.apns] is not configured".into(),
            )),
            (false, _) => {}
        }
        for sink in &self.sinks {
            targets.extend(
                sink.targets(&devices)
                    .into_iter()
                    .map(|t| (sink.clone(), t)),
            );
        }
        for (target, outcome) in self.send_all(&n, targets).await {
            if let (Some(device), Outcome::Prune { reason }) = (&target.device, &outcome) {
                store.prune_device(&device.token, reason)?;
            }
            let detail = match &outcome {
                Outcome::Delivered => "delivered".to_string(),
                Outcome::Prune { reason } => format!("device removed: {reason}"),
                Outcome::Retry { reason } | Outcome::Drop { reason } => reason.clone(),
            };
            results.push(TestResult {
                sink: target.label,
                ok: outcome == Outcome::Delivered,
                detail,
            });
        }
        Ok(results)
    }

    /// Every target of every sink that wants the notification: by its
    /// events, or for a reminder by `[approvals] escalate_to` when set.
    fn targets_for(
        &self,
        n: &Notification,
        devices: &[DeviceInfo],
    ) -> Vec<(Arc<dyn Sink>, Target)> {
        let escalated = !self.escalate_to.is_empty()
            && n.body.get("event_type").and_then(|t| t.as_str())
                == Some(EventType::HumanReminded.as_str());
        let wants = |sink: &Arc<dyn Sink>| match escalated {
            true => self.escalate_to.iter().any(|name| name == sink.name()),
            false => n.trigger.is_none_or(|t| sink.wants(t)),
        };
        self.sinks
            .iter()
            .filter(|sink| wants(sink))
            .flat_map(|sink| {
                let targets = sink.targets(devices);
                targets.into_iter().map(|t| (sink.clone(), t))
            })
            .collect()
    }

    /// Sends to every target at once and waits for all; outcomes in the
    /// targets' order.
    async fn send_all(
        &self,
        n: &Notification,
        targets: Vec<(Arc<dyn Sink>, Target)>,
    ) -> Vec<(Target, Outcome)> {
        let n = Arc::new(n.clone());
        let mut tasks = JoinSet::new();
        for (index, (sink, target)) in targets.iter().enumerate() {
            let send = sink.send(n.clone(), target);
            tasks.spawn(async move { (index, send.await) });
        }
        let mut outcomes: Vec<Option<Outcome>> = vec![None; targets.len()];
        while let Some(joined) = tasks.join_next().await {
            if let Ok((index, outcome)) = joined {
                outcomes[index] = Some(outcome);
            }
        }
        targets
            .into_iter()
            .zip(outcomes)
            .map(|((_, target), outcome)| {
                let outcome = outcome.unwrap_or_else(|| Outcome::Retry {
                    reason: "the delivery task panicked".into(),
                });
                (target, outcome)
            })
            .collect()
    }

    /// Applies the outcomes of one attempt: removes dead devices, records
    /// the targets that are done, and decides what becomes of the
    /// notification.
    fn finish(
        &self,
        store: &mut Store,
        entry: &OutboxEntry,
        outcomes: Vec<(Target, Outcome)>,
    ) -> Result<AttemptEnd> {
        let attempts = entry.attempts + 1;
        let what = format!(
            "{} of run {}",
            entry.notification.event_name(),
            run_of(entry)
        );
        let mut records = Vec::new();
        let mut retrying = Vec::new();
        let mut failed = Vec::new();
        let mut health = NotifyHealth::default();
        for (target, outcome) in outcomes {
            let label = &target.label;
            let record = |outcome: DeliveryOutcome, detail: Option<&str>| TargetRecord {
                target: target.key.clone(),
                outcome,
                detail: detail.map(str::to_string),
            };
            match &outcome {
                Outcome::Delivered => {
                    tracing::debug!("notification {what} delivered to {label}");
                    health.delivered += 1;
                    records.push(record(DeliveryOutcome::Delivered, None));
                }
                Outcome::Prune { reason } => {
                    if let Some(device) = &target.device {
                        store.prune_device(&device.token, reason)?;
                    }
                    tracing::warn!("removed {label}: {reason}");
                    health.pruned += 1;
                    records.push(record(DeliveryOutcome::Pruned, Some(reason)));
                }
                Outcome::Drop { reason } => {
                    tracing::warn!("notification {what} to {label} dropped: {reason}");
                    health.failed += 1;
                    failed.push(format!("{label}: {reason}"));
                    records.push(record(DeliveryOutcome::Dropped, Some(reason)));
                }
                Outcome::Retry { reason } if self.retry.exhausted(attempts) => {
                    tracing::warn!(
                        "notification {what} to {label} failed after {attempts} attempts: {reason}"
                    );
                    health.failed += 1;
                    failed.push(format!("{label}: {reason}"));
                    records.push(record(DeliveryOutcome::Failed, Some(reason)));
                }
                Outcome::Retry { reason } => {
                    tracing::info!("notification {what} to {label} will be retried: {reason}");
                    health.retried += 1;
                    retrying.push(format!("{label}: {reason}"));
                }
            }
        }
        let end = if !retrying.is_empty() {
            AttemptEnd::Retry {
                at: self.retry.next_attempt_at(self.clock.now(), attempts),
                error: retrying.join("; "),
            }
        } else if !failed.is_empty() {
            AttemptEnd::Failed {
                error: failed.join("; "),
            }
        } else {
            AttemptEnd::Delivered
        };
        store.finish_notification_attempt(entry.id, &records, &end)?;
        let mut total = self.lock_health();
        total.delivered += health.delivered;
        total.retried += health.retried;
        total.failed += health.failed;
        total.pruned += health.pruned;
        if let Some(error) = failed.last().or(retrying.last()) {
            total.last_error = Some(error.clone());
        }
        Ok(end)
    }

    fn note_error(&self, error: String) {
        tracing::warn!("notifications: {error}");
        self.lock_health().last_error = Some(error);
    }

    fn lock_health(&self) -> std::sync::MutexGuard<'_, NotifyHealth> {
        // The health summary stays usable even if a holder panicked.
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn run_of(entry: &OutboxEntry) -> &str {
    entry
        .notification
        .run_id
        .as_deref()
        .map(crate::model::short_id)
        .unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicI64, Ordering};

    use serde_json::json;

    use crate::model::EventType;

    use super::*;
    use crate::model::{now, DeviceEnv, NotificationState, Platform};
    use crate::notify::{BoxFuture, Push};
    use crate::store::NewEvent;

    /// A clock moved by hand; sleeping moves it and returns at once.
    struct FakeClock {
        now: AtomicI64,
        slept: Mutex<Vec<Duration>>,
    }

    impl FakeClock {
        fn starting_now() -> Arc<FakeClock> {
            Arc::new(FakeClock {
                now: AtomicI64::new(now()),
                slept: Mutex::new(Vec::new()),
            })
        }

        fn set(&self, at: i64) {
            self.now.store(at, Ordering::SeqCst);
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> i64 {
            self.now.load(Ordering::SeqCst)
        }

        fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
            self.slept.lock().unwrap().push(duration);
            self.now
                .fetch_add(duration.as_secs_f64().ceil() as i64, Ordering::SeqCst);
            Box::pin(tokio::task::yield_now())
        }
    }

    /// Answers with the scripted outcomes (then Delivered) and records pushes.
    #[derive(Default)]
    struct FakeSender {
        script: Mutex<VecDeque<Outcome>>,
        sent: Mutex<Vec<Push>>,
    }

    impl FakeSender {
        fn answering(outcomes: Vec<Outcome>) -> Arc<FakeSender> {
            Arc::new(FakeSender {
                script: Mutex::new(outcomes.into()),
                sent: Mutex::default(),
            })
        }

        fn sent(&self) -> Vec<Push> {
            self.sent.lock().unwrap().clone()
        }
    }

    impl PushSender for FakeSender {
        fn send<'a>(&'a self, push: &'a Push) -> BoxFuture<'a, Outcome> {
            self.sent.lock().unwrap().push(push.clone());
            let outcome = self
                .script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Outcome::Delivered);
            Box::pin(async move { outcome })
        }
    }

    fn retry(reason: &str) -> Outcome {
        Outcome::Retry {
            reason: reason.into(),
        }
    }

    /// A store with one device and one queued notification for `event`.
    fn setup(event: EventType, data: serde_json::Value) -> (tempfile::TempDir, Store, i64) {
        let (dir, mut store, run) = crate::store::notifications::tests::store_with_run();
        store
            .add_device_with_details(&"ab".repeat(32), Platform::Ios, DeviceEnv::Sandbox, None)
            .unwrap();
        store
            .append_events_with_notifications(&[NewEvent::new(&run, event, data)])
            .unwrap();
        let id = store.list_notifications(1).unwrap()[0].id;
        (dir, store, id)
    }

    fn dispatcher(sender: Arc<FakeSender>, clock: Arc<FakeClock>) -> Dispatcher {
        Dispatcher::from_config(&NotifyConfig::default())
            .with_push_sender(sender)
            .with_clock(clock)
    }

    #[tokio::test]
    async fn retries_wait_out_the_backoff_on_the_clock() {
        let (_dir, mut store, id) = setup(EventType::InputRequested, json!({"question": "?"}));
        let sender = FakeSender::answering(vec![retry("429"), retry("503")]);
        let clock = FakeClock::starting_now();
        let dispatcher = dispatcher(sender.clone(), clock.clone());
        let start = clock.now();

        let report = dispatcher.deliver_due(&mut store).await.unwrap();
        assert_eq!(report.retrying, 1);
        let first_retry = store.get_notification(id).unwrap().next_attempt_at;
        // 5 s before jitter: between 2.5 and 5, rounded up.
        assert!(
            (start + 3..=start + 5).contains(&first_retry),
            "{}",
            first_retry - start
        );

        clock.set(first_retry - 1);
        dispatcher.deliver_due(&mut store).await.unwrap();
        assert_eq!(sender.sent().len(), 1, "nothing is sent before its time");

        clock.set(first_retry);
        dispatcher.deliver_due(&mut store).await.unwrap();
        assert_eq!(sender.sent().len(), 2);
        let second_retry = store.get_notification(id).unwrap().next_attempt_at;
        // 10 s before jitter: between 5 and 10.
        let waited = second_retry - first_retry;
        assert!((5..=10).contains(&waited), "{waited}");

        clock.set(second_retry);
        let report = dispatcher.deliver_due(&mut store).await.unwrap();
        assert_eq!(report.delivered, 1);
        let entry = store.get_notification(id).unwrap();
        assert_eq!(
            (entry.state, entry.attempts),
            (NotificationState::Delivered, 3)
        );
        assert_eq!(entry.done_targets, [format!("apns:{}", "ab".repeat(32))]);
        let health = dispatcher.health();
        assert_eq!((health.retried, health.delivered), (2, 1));
    }

    #[tokio::test]
    async fn the_loop_sleeps_until_the_retry_is_due() {
        let (dir, store, id) = setup(EventType::RunFinished, json!({"state": "failed"}));
        let sender = FakeSender::answering(vec![retry("500")]);
        let clock = FakeClock::starting_now();
        let dispatcher = dispatcher(sender.clone(), clock.clone());
        let watcher = Store::open(&dir.path().join("m.db")).unwrap();
        let delivered = async {
            while watcher.get_notification(id).unwrap().state != NotificationState::Delivered {
                tokio::task::yield_now().await;
            }
        };
        let bounded = tokio::time::timeout(Duration::from_secs(20), delivered);
        tokio::select! {
            _ = dispatcher.run(store, Arc::new(Notify::new())) => unreachable!("run never returns"),
            done = bounded => done.expect("delivered in time"),
        }
        let entry = watcher.get_notification(id).unwrap();
        assert_eq!(entry.attempts, 2);
        let slept = clock.slept.lock().unwrap().clone();
        let first = slept[0].as_secs();
        assert!((3..=5).contains(&first), "slept {slept:?}");
        assert_eq!(sender.sent().len(), 2);
    }

    #[tokio::test]
    async fn a_target_fails_when_its_retries_run_out() {
        let (_dir, mut store, id) = setup(EventType::RunFinished, json!({"state": "completed"}));
        let sender = FakeSender::answering(vec![retry("503 one"), retry("503 two")]);
        let clock = FakeClock::starting_now();
        let dispatcher = dispatcher(sender.clone(), clock.clone()).with_retry_policy(RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::default()
        });
        dispatcher.deliver_due(&mut store).await.unwrap();
        clock.set(store.get_notification(id).unwrap().next_attempt_at);
        let report = dispatcher.deliver_due(&mut store).await.unwrap();
        assert_eq!(report.failed, 1);
        let entry = store.get_notification(id).unwrap();
        assert_eq!(entry.state, NotificationState::Failed);
        assert!(entry.last_error.unwrap().contains("503 two"));
        clock.set(clock.now() + 3600);
        dispatcher.deliver_due(&mut store).await.unwrap();
        assert_eq!(
            sender.sent().len(),
            2,
            "a failed notification is not sent again"
        );
        assert!(dispatcher.health().last_error.unwrap().contains("503 two"));
    }

    #[tokio::test]
    async fn events_a_sink_does_not_want_are_not_sent_to_it() {
        let (_dir, mut store, id) = setup(EventType::RunFinished, json!({"state": "completed"}));
        let config: NotifyConfig = toml::from_str(r#"events = ["approval.requested"]"#).unwrap();
        let sender = FakeSender::answering(vec![]);
        let dispatcher = Dispatcher::from_config(&config)
            .with_push_sender(sender.clone())
            .with_clock(FakeClock::starting_now());
        dispatcher.deliver_due(&mut store).await.unwrap();
        assert!(sender.sent().is_empty());
        // Nobody wanted it: it is done.
        let entry = store.get_notification(id).unwrap();
        assert_eq!(entry.state, NotificationState::Delivered);
    }

    #[test]
    fn a_bad_apns_configuration_is_reported_and_push_is_off() {
        let config: NotifyConfig = toml::from_str(
            r#"
            [apns]
            key_path = "/nonexistent/AuthKey_ABCDE12345.p8"
            key_id = "ABCDE12345"
            team_id = "FGHIJ67890"
            topic = "com.example.m"
            [[webhook]]
            url = "http://127.0.0.1:9/hook"
            "#,
        )
        .unwrap();
        let dispatcher = Dispatcher::from_config(&config);
        let health = dispatcher.health();
        let ApnsStatus::Unavailable { error } = &health.apns else {
            panic!("{health:?}");
        };
        assert!(
            error.contains("/nonexistent/AuthKey_ABCDE12345.p8"),
            "{error}"
        );
        assert!(!health.is_healthy());
        assert_eq!(health.webhooks, 1);
        assert!(!dispatcher.sinks.iter().any(|sink| sink.name() == "apns"));

        let incomplete: NotifyConfig = toml::from_str("[apns]\ntopic = \"com.example.m\"").unwrap();
        let health = Dispatcher::from_config(&incomplete).health();
        assert!(
            matches!(&health.apns, ApnsStatus::Unavailable { error } if error.contains("notify.apns.key_path")),
            "{health:?}"
        );
        assert!(Dispatcher::from_config(&NotifyConfig::default())
            .health()
            .is_healthy());
    }

    #[test]
    fn a_good_apns_configuration_makes_push_ready() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("AuthKey_ABCDE12345.p8");
        std::fs::write(&key, crate::notify::apns::tests::TEST_KEY).unwrap();
        let config = NotifyConfig {
            apns: Some(crate::config::notify::ApnsConfig {
                key_path: Some(key.display().to_string()),
                key_id: Some("ABCDE12345".into()),
                team_id: Some("FGHIJ67890".into()),
                topic: Some("com.example.m".into()),
                events: None,
            }),
            ..NotifyConfig::default()
        };
        let dispatcher = Dispatcher::from_config(&config);
        assert_eq!(dispatcher.health().apns, ApnsStatus::Ready);
        assert!(dispatcher.sinks.iter().any(|sink| sink.name() == "apns"));
    }

    #[test]
    fn the_delivery_loop_can_be_spawned() {
        fn assert_send<T: Send>(_: &T) {}
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.db")).unwrap();
        let dispatcher = Arc::new(Dispatcher::from_config(&NotifyConfig::default()));
        let run = async move { dispatcher.run(store, Arc::new(Notify::new())).await };
        assert_send(&run);
    }
}
