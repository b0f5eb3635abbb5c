//! `m keeper` (hidden): the process between the daemon and a run's agent
//! (see `process::keeper`). Only the daemon starts it.

use std::time::Duration;

use clap::Args;

use crate::process::keeper;

#[derive(Debug, Args)]
pub struct KeeperArgs {
    /// The keeper's end of its control socket, open in this process.
    #[arg(long = "control-fd")]
    pub control_fd: i32,
    /// How long the agent's leftovers have between SIGTERM and SIGKILL.
    #[arg(long = "grace-ms")]
    pub grace_ms: u64,
    /// The run's cgroup, to move the agent into.
    #[arg(long)]
    pub cgroup: Option<std::path::PathBuf>,
    /// The agent's command.
    #[arg(last = true, required = true)]
    pub argv: Vec<String>,
}

pub fn run(args: KeeperArgs) -> u8 {
    keeper::serve(
        args.control_fd,
        Duration::from_millis(args.grace_ms),
        args.cgroup,
        &args.argv,
    )
}
