//! Who is asking. Only humans decide: approve, reject, reply and done are
//! refused to a process that belongs to a run (it is in the run's cgroup,
//! below the run's keeper, or carries `M_RUN_ID`), so an agent cannot answer
//! its own requests; it may still ask. Every decision records the human who
//! made it.
//!
//! Known from the kernel, not from what the client says: the peer's pid and
//! uid come from the socket (`SO_PEERCRED`), its ancestry and environment
//! from /proc. Without /proc (macOS) only the pid and uid are known, and
//! nothing is refused (docs/reliability.md).

use super::connection::Peer;
use super::Shared;
use crate::model::DecidedBy;
use crate::process::keeper;

/// Where a connected process comes from.
#[derive(Debug, PartialEq, Eq)]
pub enum Origin {
    Human(DecidedBy),
    /// A process of a run: `run_id` is the run, `how` says how that is known.
    Run {
        run_id: String,
        how: &'static str,
    },
}

/// How far up the process tree to look for a keeper.
const MAX_DEPTH: usize = 256;

pub fn origin(shared: &Shared, peer: &Peer) -> Origin {
    let Some(pid) = peer.pid else {
        return human(peer.uid, None);
    };
    if let Some(run_id) = shared
        .containment
        .cgroups()
        .and_then(|cgroups| cgroups.run_of(pid))
    {
        return Origin::Run {
            run_id,
            how: "it is in the run's cgroup",
        };
    }
    let mut ancestor = pid;
    for _ in 0..MAX_DEPTH {
        if let Some(run_id) = shared.keeper_run(ancestor) {
            return Origin::Run {
                run_id,
                how: "it runs under the run's keeper",
            };
        }
        match keeper::parent_of(ancestor) {
            Some(parent) if parent > 1 => ancestor = parent,
            _ => break,
        }
    }
    if let Some(run_id) = run_id_in_environment(pid) {
        return Origin::Run {
            run_id,
            how: "it carries M_RUN_ID",
        };
    }
    human(peer.uid, Some(pid))
}

fn human(uid: u32, pid: Option<i32>) -> Origin {
    Origin::Human(DecidedBy::Human {
        uid: Some(uid),
        pid,
        tty: pid.and_then(terminal_of),
    })
}

fn run_id_in_environment(pid: i32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ
        .split(|&b| b == 0)
        .find_map(|var| var.strip_prefix(b"M_RUN_ID="))
        .map(|id| String::from_utf8_lossy(id).into_owned())
}

/// The terminal the process reads or writes, if any.
fn terminal_of(pid: i32) -> Option<String> {
    (0..3).find_map(|fd| {
        let target = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
        let target = target.to_str()?;
        (target.starts_with("/dev/pts/") || target.starts_with("/dev/tty"))
            .then(|| target.to_string())
    })
}
