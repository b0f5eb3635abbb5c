//! The seam every notification sink fills: a phone through APNs
//! (`apns.rs`), a webhook (`webhook.rs`), a hook command (`command.rs`).
//! The dispatcher knows sinks only through [`Sink`]: which notifications
//! one wants, where each goes, how it is sent. A new sink is an
//! implementation in a file of its own, and one line in
//! `Dispatcher::from_config` that makes it from its settings.

use std::sync::Arc;

use super::{BoxFuture, Outcome};
use crate::model::{DeviceInfo, Notification, Trigger};

pub trait Sink: Send + Sync {
    /// The name `[approvals] escalate_to` knows it by: `apns`, or the
    /// webhook's or hook command's `name`.
    fn name(&self) -> &str;

    /// Whether it takes notifications of `trigger` (its `events`).
    fn wants(&self, trigger: Trigger) -> bool;

    /// Whether its targets are the registered devices (`m device add`),
    /// which the dispatcher then reads for [`Sink::targets`].
    fn needs_devices(&self) -> bool {
        false
    }

    /// Where one notification goes: one target per device for APNs, the
    /// sink itself for the others.
    fn targets(&self, devices: &[DeviceInfo]) -> Vec<Target>;

    /// Sends `n` to `target`, one of its own.
    fn send(&self, n: Arc<Notification>, target: &Target) -> BoxFuture<'static, Outcome>;
}

/// One delivery of a notification, as the outbox remembers it.
#[derive(Debug, Clone)]
pub struct Target {
    /// How the outbox records that this target is done (`apns:TOKEN`,
    /// `webhook:NAME`, `command:NAME`), so a retry reaches only the others.
    pub key: String,
    /// How people see it in logs and `m notify test`.
    pub label: String,
    /// The device behind it: removed when its push service says its
    /// token is dead (`Outcome::Prune`).
    pub device: Option<DeviceInfo>,
}
