//! How this daemon holds its runs' processes, chosen once at start: a
//! cgroup v2 per run where it can make them (`process::cgroup`), always
//! with the keeper (`process::keeper`) as the agent's parent; or the keeper
//! alone, with the reason. `daemon.containment` (`M_CONTAINMENT`) chooses
//! `auto`, `cgroup` (no daemon without it) or `keeper`.

use std::path::PathBuf;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::Containment as Wanted;
use crate::paths::Paths;
use crate::process::cgroup::RunCgroups;
use crate::protocol::ContainmentStatus;

#[derive(Debug, Clone)]
pub enum Containment {
    /// A cgroup per run, below this directory.
    Cgroup(RunCgroups),
    /// The keeper alone, and why.
    Keeper { reason: String },
}

impl Containment {
    /// Chooses, trying cgroups for real (a process is moved into a cgroup
    /// and killed there) unless the keeper was asked for. Called before the
    /// daemon starts any thread but its own.
    pub fn choose(config: &Config, paths: &Paths) -> Result<Containment> {
        let wanted = config.daemon.containment;
        if wanted == Wanted::Keeper {
            return Ok(Containment::Keeper {
                reason: format!("{} asks for it", setting(config)),
            });
        }
        match RunCgroups::locate(&paths.data_dir).and_then(|c| c.probe().map(|()| c)) {
            Ok(cgroups) => Ok(Containment::Cgroup(cgroups)),
            Err(reason) if wanted == Wanted::Auto => Ok(Containment::Keeper { reason }),
            Err(reason) => Err(Error::failure(format!(
                "{} asks for a cgroup per run, but {reason}",
                setting(config)
            ))
            .with_hint(
                "set daemon.containment = \"auto\" to fall back to the keeper, or run the daemon \
                 where its cgroup is delegated to it (`m daemon install`: a systemd user service \
                 with Delegate=yes)",
            )),
        }
    }

    pub fn cgroups(&self) -> Option<&RunCgroups> {
        match self {
            Containment::Cgroup(cgroups) => Some(cgroups),
            Containment::Keeper { .. } => None,
        }
    }

    /// Makes run `run_id`'s cgroup; none when runs get none, or when it
    /// cannot be made (the run then has its keeper alone, and the log says
    /// why).
    pub fn run_cgroup(&self, run_id: &str) -> Option<PathBuf> {
        let cgroups = self.cgroups()?;
        match cgroups.create(run_id) {
            Ok(cgroup) => Some(cgroup),
            Err(e) => {
                tracing::warn!(run = %run_id, "cannot make the run's cgroup, so its keeper alone holds it: {e}");
                None
            }
        }
    }

    pub fn status(&self) -> ContainmentStatus {
        match self {
            Containment::Cgroup(cgroups) => ContainmentStatus {
                mechanism: "cgroup".into(),
                cgroup: Some(cgroups.dir.display().to_string()),
                reason: None,
            },
            Containment::Keeper { reason } => ContainmentStatus {
                mechanism: "keeper".into(),
                cgroup: None,
                reason: Some(reason.clone()),
            },
        }
    }
}

fn setting(config: &Config) -> String {
    config.containment_setting()
}
