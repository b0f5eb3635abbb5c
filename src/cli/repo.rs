use clap::{Args, Subcommand};

use super::output::relative_time;
use super::Ctx;
use crate::error::{exit, Result};
use crate::model::{now, short_id, Run};
use crate::store::RunFilter;
use crate::workspace::{self, BranchOutcome, Workspace};

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Register a git work tree (by path) or a remote repository (by URL),
    /// or with --scratch a repo without git (each run gets an empty directory).
    ///
    /// Examples: `m repo add .`, `m repo add ~/src/api --name api`,
    /// `m repo add git@github.com:me/api.git`, `m repo add --scratch --name notes`.
    Add(AddArgs),
    /// List registered repositories.
    #[command(alias = "ls")]
    List(ListArgs),
    /// Remove a repository (its runs too, with --force).
    #[command(alias = "remove")]
    Rm(RmArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// A path inside a git work tree, or a git URL (https, ssh, user@host:path, file).
    #[arg(required_unless_present = "scratch")]
    pub location: Option<String>,
    /// The name runs refer to it by [default: the directory or repository name].
    #[arg(long, required_if_eq("scratch", "true"))]
    pub name: Option<String>,
    /// A repo without git: each run works in an empty directory of its own,
    /// with no branch and no diff (for agents that need no code).
    #[arg(long, conflicts_with = "location")]
    pub scratch: bool,
    /// Print the repo as JSON instead of a line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// A JSON list of the repos.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Repository name or id prefix.
    #[arg(add = crate::cli::complete::repo_names())]
    pub repo: String,
    /// Also remove its past runs: their events, approvals and workspaces
    /// (and branches holding nothing unmerged). Nothing is removed while a
    /// workspace holds work its branch lacks.
    #[arg(long)]
    pub force: bool,
}

pub fn run(ctx: &Ctx, cmd: RepoCommand) -> Result<u8> {
    match cmd {
        RepoCommand::Add(args) => add_repo(ctx, args),
        RepoCommand::List(args) => list(ctx, args),
        RepoCommand::Rm(args) => rm(ctx, args),
    }
}

fn add_repo(ctx: &Ctx, args: AddArgs) -> Result<u8> {
    let (git_url, default_name) = match &args.location {
        // clap requires a location unless --scratch, and --name with it.
        None => (None, String::new()),
        Some(location) => {
            let (location, default_name) = crate::workspace::locate_repo(location)?;
            let git_url = match location {
                crate::workspace::RepoLocation::Local(path) => path.display().to_string(),
                crate::workspace::RepoLocation::Remote(url) => url.as_str().to_string(),
            };
            (Some(git_url), default_name)
        }
    };
    let name = validate_name(args.name.as_deref().unwrap_or(&default_name))?;
    let mut store = ctx.store()?;
    // Adding what is already there is no error (scripts and the README's
    // quick start may run twice); the same name elsewhere is.
    let existing = store.list_repos()?.into_iter().find(|r| r.name == name);
    if let Some(repo) = existing.filter(|r| r.git_url == git_url) {
        if args.json {
            ctx.ui.json(&repo)?;
        } else {
            ctx.ui.line(format!(
                "Repo {} is already registered; nothing changed",
                repo.name
            ))?;
        }
        return Ok(exit::OK);
    }
    let identity = git_url
        .as_deref()
        .and_then(crate::workspace::repository_identity);
    let repo = store.add_repo_unless(crate::store::NewRepo { name, git_url }, |other| {
        let identity = identity.as_ref()?;
        (crate::workspace::repository_identity(other).as_ref() == Some(identity))
            .then(|| format!("both use the git directory {}", identity.display()))
    })?;
    if args.json {
        ctx.ui.json(&repo)?;
    } else {
        ctx.ui.line(format!(
            "Added repo {} ({})",
            ctx.ui.bold(&repo.name),
            repo.git_url
                .as_deref()
                .unwrap_or("scratch: runs get an empty directory")
        ))?;
    }
    Ok(exit::OK)
}

/// Names are typed on command lines and shown in tables: keep them plain.
fn validate_name(name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(name.to_string())
    } else {
        Err(crate::error::Error::usage(format!("'{name}' is not a usable repo name"))
            .with_hint("use letters, digits, '-', '_' and '.', not starting with '-' (choose one with --name)"))
    }
}

fn list(ctx: &Ctx, args: ListArgs) -> Result<u8> {
    let repos = ctx.store()?.list_repos()?;
    if args.json {
        ctx.ui.json(&repos)?;
        return Ok(exit::OK);
    }
    if repos.is_empty() {
        ctx.ui
            .line("No repos yet. Add one with `m repo add PATH`.")?;
        return Ok(exit::OK);
    }
    let now = now();
    let rows: Vec<Vec<String>> = repos
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                ctx.ui.dim(crate::model::short_id(&r.id)),
                r.git_url.clone().unwrap_or_else(|| "(scratch)".into()),
                relative_time(r.created_at, now),
            ]
        })
        .collect();
    ctx.ui.table(&["NAME", "ID", "LOCATION", "ADDED"], &rows)?;
    Ok(exit::OK)
}

fn rm(ctx: &Ctx, args: RmArgs) -> Result<u8> {
    let mut store = ctx.store()?;
    let repo = store.find_repo(&args.repo)?;
    // The runs' workspaces go first: once their records are gone, nothing
    // could find them (or their branches) again. With an active run the
    // store refuses below, and nothing is touched.
    let mut kept = Vec::new();
    if args.force {
        let runs = store.list_runs(&RunFilter {
            repo_id: Some(repo.id.clone()),
            ..RunFilter::default()
        })?;
        if runs.iter().all(|run| run.state.is_final()) {
            let workspaces = runs
                .iter()
                .map(|run| super::run::workspace_of(ctx, &store, run))
                .collect::<Result<Vec<_>>>()?;
            // All or nothing: one workspace holding work its branch lacks
            // stops the removal before any other is touched.
            for ws in &workspaces {
                workspace::check_removable(ws)?;
            }
            for (run, ws) in runs.iter().zip(&workspaces) {
                kept.extend(remove_workspace(run, ws)?);
                let _ = std::fs::remove_file(ctx.paths.prompt_file(&run.id));
            }
        }
    }
    let runs = store.remove_repo(&repo, args.force)?;
    // The repo is gone by now: a lock file left behind is only worth a word.
    let lock_left = repo
        .git_url
        .as_deref()
        .and_then(|url| workspace::remove_mirror_lock(url, &ctx.paths.mirrors()).err());
    let with = if runs > 0 {
        format!(" with {runs} run(s)")
    } else {
        String::new()
    };
    ctx.ui.line(format!("Removed repo {}{with}", repo.name))?;
    for line in kept {
        ctx.ui.line(line)?;
    }
    if let Some(err) = lock_left {
        crate::config::print_warning(&format!(
            "the mirror's lock file was left behind: {} (remove it by hand)",
            err.message
        ));
    }
    Ok(exit::OK)
}

/// Removes a finished run's workspace as `m run rm` does; says so if its
/// branch had to be kept.
fn remove_workspace(run: &Run, ws: &Workspace) -> Result<Option<String>> {
    Ok(match workspace::remove(ws)?.branch {
        Some(BranchOutcome::Kept { name, reason }) => Some(format!(
            "Kept branch {name} of run {}: {reason}",
            short_id(&run.id)
        )),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::output::{ColorChoice, Ui};
    use crate::cli::{Cli, Command};
    use crate::paths::Paths;

    fn parse(args: &[&str]) -> std::result::Result<AddArgs, clap::Error> {
        let argv = ["m", "repo", "add"].iter().chain(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Repo(RepoCommand::Add(add)) => Ok(add),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn scratch_needs_a_name_and_no_location() {
        let add = parse(&["--scratch", "--name", "notes"]).unwrap();
        assert!(add.scratch && add.location.is_none());
        assert!(
            parse(&["--scratch"]).is_err(),
            "a scratch repo has no default name"
        );
        assert!(parse(&["--scratch", "--name", "n", "."]).is_err());
        assert!(parse(&[]).is_err(), "a location or --scratch is required");
        assert_eq!(parse(&["."]).unwrap().location.as_deref(), Some("."));
    }

    #[test]
    fn a_scratch_repo_is_stored_without_a_git_url() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Ctx {
            paths: Paths::under(dir.path()),
            ui: Ui::new(ColorChoice::Never),
        };
        let add = parse(&["--scratch", "--name", "notes"]).unwrap();
        assert_eq!(add_repo(&ctx, add).unwrap(), exit::OK);
        let repo = ctx.store().unwrap().find_repo("notes").unwrap();
        assert_eq!(repo.git_url, None);
        let bad = parse(&["--scratch", "--name", "a b"]).unwrap();
        assert!(add_repo(&ctx, bad).is_err(), "names are still checked");
    }
}
