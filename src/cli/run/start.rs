use crate::store::RunOrQueued;
use std::io::{IsTerminal, Read};

use clap::Args;

use crate::cli::follow::{follow_run, Prints, Until, Watch};
use crate::cli::progress::Progress;
use crate::cli::suggest;
use crate::cli::Ctx;
use crate::client::Client;
use crate::config::Config;
use crate::error::{exit, Error, Result};
use crate::model::{short_id, ApprovalType, OnBusy};
use crate::model::{AgentSpec, RunOptions};
use crate::presets;
use crate::process;
use crate::protocol::{self, Request, Response, StartRunRequest};

#[derive(Debug, Args)]
pub struct StartArgs {
    /// The repo to work on (name or id prefix).
    #[arg(long, short = 'r')]
    #[arg(add = crate::cli::complete::repo_names())]
    pub repo: String,
    /// What the agent should do (`-` reads it from stdin). It may start
    /// with `-` ("-v is broken"), but a single word like `--jsn` is taken
    /// for a mistyped option.
    #[arg(allow_hyphen_values = true, value_parser = PromptParser)]
    pub prompt: String,
    /// Start the run's branch from this ref instead of HEAD (git repos; a
    /// scratch repo has no branch).
    #[arg(long)]
    pub base: Option<String>,
    /// When the agent finishes well, hold the run for a human to approve its
    /// diff (the default when `run.review = true` in the config). A run that
    /// changed nothing completes without review. A scratch repo has no diff:
    /// --review is refused there, and the config's default does not apply.
    #[arg(long)]
    pub review: bool,
    /// Do not hold the run for review, whatever the config says.
    #[arg(long, conflicts_with = "review")]
    pub no_review: bool,
    /// Approve requests of this type without asking (repeatable): command,
    /// diff, generic. Added to `approvals.auto_approve` from the config.
    #[arg(long = "auto-approve", value_name = "TYPE")]
    pub auto_approve: Vec<ApprovalType>,
    /// Approve commands starting with these words without asking (repeatable),
    /// e.g. --allow "cargo test". A command line with shell syntax (`&&`, `;`,
    /// `|`, `$(...)`, redirections, globs...) is never approved this way.
    /// Added to `approvals.allow_commands` from the config.
    #[arg(long = "allow", value_name = "COMMAND")]
    pub allow_commands: Vec<String>,
    /// Print the run's events until it ends; exit with its final state's code.
    /// With --json, the events as JSON lines (as `m events --follow --json`),
    /// and nothing else.
    #[arg(long, short = 'f', conflicts_with = "wait")]
    pub follow: bool,
    /// Return when the run needs a human or has ended, with an exit code that
    /// says which (0 completed, 10 failed, 11 cancelled, 12 waiting for
    /// approval, 13 waiting for input). A run that failed or was cancelled
    /// says why on stderr.
    #[arg(long)]
    pub wait: bool,
    /// Print the run as JSON instead of its id (with --wait, as it stands
    /// when the wait ends).
    #[arg(long)]
    pub json: bool,
    /// Run a known agent over the Agent Client Protocol (see `m agents`):
    /// claude, codex, gemini, opencode, goose, qwen.
    #[arg(long, short = 'a', value_name = "NAME", conflicts_with = "acp")]
    #[arg(add = crate::cli::complete::agent_names())]
    pub agent: Option<String>,
    /// The command after `--` speaks the Agent Client Protocol.
    #[arg(long)]
    pub acp: bool,
    /// ACP agents (--agent or --acp): complete at the first end of turn
    /// instead of waiting for a reply.
    #[arg(long)]
    pub once: bool,
    /// Cancel the run when it has run this long (90s, 30m, 2h, 1d), saying
    /// "time limit 2h reached"; the default is `run.timeout` in the config.
    /// Time spent waiting for a human counts, unless
    /// --timeout-excludes-waiting.
    #[arg(long, value_name = "DURATION", value_parser = crate::model::parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// Time spent waiting for an approval or an answer does not count
    /// towards --timeout.
    #[arg(long)]
    pub timeout_excludes_waiting: bool,
    /// Decide for the human when an approval or a question of this run
    /// has waited this long (90s, 30m, 2h): `[approvals] on_timeout`
    /// says how (reject the approval, by default). The default is
    /// `approvals.timeout` in the config.
    #[arg(long, value_name = "DURATION", value_parser = crate::model::parse_duration)]
    pub approval_timeout: Option<std::time::Duration>,
    /// When the repo has an active run, queue this one behind it (it starts
    /// when the runs before it have ended) instead of refusing it (exit 4).
    /// The default when `run.on_busy = "queue"` in the config.
    #[arg(long)]
    pub queue: bool,
    /// Refuse the run (exit 4) when the repo has an active run, whatever
    /// the config says.
    #[arg(long, conflicts_with = "queue")]
    pub no_queue: bool,
    /// The agent command and its arguments, after `--` (any command, or with
    /// --acp an ACP agent; with --agent, replaces the preset's command).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

pub fn run(ctx: &Ctx, args: StartArgs) -> Result<u8> {
    if args.once && args.agent.is_none() && !args.acp {
        return Err(Error::usage(
            "--once is for ACP agents, which wait for a reply after each turn; \
             a plain command has no turns and ends when it exits",
        )
        .with_hint("drop --once, or start an ACP agent with --agent NAME or --acp"));
    }
    let prompt = if args.prompt == "-" {
        let mut prompt = String::new();
        std::io::stdin()
            .read_to_string(&mut prompt)
            .map_err(|e| Error::usage(format!("cannot read the prompt from stdin: {e}")))?;
        prompt
    } else {
        args.prompt.clone()
    };
    protocol::check_prompt(&prompt)?;
    let config = ctx.config()?;
    let mut options = run_options(&config, &args)?;
    let agent = agent_spec(&args, &config)?;
    // The agent gets this command's environment (PATH, API keys...).
    let env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let (AgentSpec::Exec { argv } | AgentSpec::Acp { argv, .. }) = &agent;
    if let Some(why) = process::cannot_exec(argv, &env) {
        return Err(Error::usage(format!("the agent cannot be started: {why}"))
            .with_hint("unset the environment variables the agent does not need, or shorten its command line"));
    }
    let store = ctx.store()?;
    let repo = store.find_repo(&args.repo)?;
    if let (Some(base), None) = (&args.base, &repo.git_url) {
        return Err(Error::usage(format!(
            "--base {base}: repo {} is a scratch repo, without git, so a run has no branch to start from a ref",
            repo.name
        ))
        .with_hint("drop --base, or register a git repository with `m repo add PATH_OR_URL`"));
    }
    // `run.review = true` holds the runs that have a diff; a scratch repo's
    // have none, so they run without review. Only an explicit --review
    // there is a mistake.
    if repo.git_url.is_none() && !args.review {
        options.review = false;
    }
    options.check_repo(&repo)?;
    let request = Request::StartRun(StartRunRequest {
        repo_id: repo.id.clone(),
        prompt,
        agent,
        base: args.base.clone(),
        options,
        env: Some(env),
        queue: !args.no_queue && (args.queue || config.run.on_busy == OnBusy::Queue),
    });
    let (id, json, said) = match Client::connect(&ctx.paths)?.request(&request)? {
        Response::Run { run } => (
            run.id.clone(),
            store.run_view(&run),
            format!("Started run {} on {}.", short_id(&run.id), repo.name),
        ),
        Response::Queued { run } => (
            run.id.clone(),
            store.queued_view(&run),
            format!(
                "Queued run {} on {} (position {}): it starts when the runs before it have ended.",
                short_id(&run.id),
                repo.name,
                run.position
            ),
        ),
        other => {
            return Err(Error::failure(format!(
                "unexpected answer from the daemon: {other:?}"
            )))
        }
    };
    // With --json, --follow prints JSON lines only: the events, each naming
    // the run, the first being `run.created` (`run.queued` for a queued
    // run). --wait --json prints the run once the wait is over, as it
    // stands then.
    if !args.json {
        ctx.ui.line(&id)?;
    } else if !args.follow && !args.wait {
        ctx.ui.json(&json?)?;
    }
    if std::io::stderr().is_terminal() && !args.follow && !args.wait {
        eprintln!(
            "{said} Follow it with `m events {} --follow`.",
            short_id(&id)
        );
    }
    if args.follow || args.wait {
        crate::cli::interrupt::say_run_continues(&id);
    }
    if args.follow {
        let mut progress = Progress::for_run(&id, false);
        let watch = Watch::new(Until::Ended, Prints::Events);
        let state = follow_run(ctx, &id, watch, |event| {
            progress.suspend(|| crate::cli::events::print_event(ctx, event, args.json, false))?;
            progress.event(event);
            Ok(())
        })?;
        drop(progress);
        if std::io::stderr().is_terminal() && !args.json {
            super::report_end(&store, &id, state)?;
        }
        return Ok(state.exit_code());
    }
    if args.wait {
        let state = super::wait_for_human(ctx, &id, None)?;
        if args.json {
            let view = match store.find_run_or_queued(&id)? {
                RunOrQueued::Run(run) => store.run_view(&run)?,
                RunOrQueued::Queued(queued) => store.queued_view(&queued)?,
            };
            ctx.ui.json(&view)?;
        }
        super::report_end(&store, &id, state)?;
        return Ok(state.exit_code());
    }
    Ok(exit::OK)
}

/// A mistyped option (`--jsn`) lands in the prompt, since the prompt may
/// start with `-`: a single word that starts with `-` (but `-`, stdin) is
/// refused as clap refuses an unknown option. A real prompt has words.
#[derive(Clone)]
struct PromptParser;

impl clap::builder::TypedValueParser for PromptParser {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> std::result::Result<String, clap::Error> {
        let prompt = value
            .to_str()
            .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidUtf8).with_cmd(cmd))?;
        if suggest::looks_like_an_option(prompt) {
            return Err(suggest::unknown_option(
                cmd,
                prompt,
                &[
                    "a prompt of one word starting with '-' can be given on stdin: \
                   echo \"-x\" | m run start -r REPO - -- COMMAND",
                ],
            ));
        }
        Ok(prompt.to_string())
    }
}

/// The run's options: the flags added to the config's defaults.
fn run_options(config: &Config, args: &StartArgs) -> Result<RunOptions> {
    let mut auto_approve = config.approvals.auto_approve.clone();
    for t in &args.auto_approve {
        if !auto_approve.contains(t) {
            auto_approve.push(*t);
        }
    }
    let mut allow_commands = config.approvals.allow_commands.clone();
    for command in &args.allow_commands {
        let rule = crate::policy::parse_allow_rule(command).map_err(|reason| {
            Error::usage(format!("invalid --allow '{command}': {reason}")).with_hint(
                "give each command to allow its own --allow, e.g. --allow \"cargo test\"",
            )
        })?;
        if !allow_commands.contains(&rule) {
            allow_commands.push(rule);
        }
    }
    Ok(RunOptions {
        review: !args.no_review && (args.review || config.run.review),
        auto_approve,
        allow_commands,
        once: args.once,
        timeout_seconds: args.timeout.or(config.run.timeout).map(|t| t.as_secs()),
        timeout_excludes_waiting: args.timeout_excludes_waiting,
        approval_timeout_seconds: args
            .approval_timeout
            .or(config.approvals.timeout)
            .map(|t| t.as_secs())
            .filter(|secs| *secs > 0),
        on_timeout: config.approvals.on_timeout,
        remind_after_seconds: config.approvals.remind_after.map(|t| t.as_secs()),
    })
}

/// How the agent is started: a preset (its command from `-- COMMAND`, else
/// `[agents.NAME] command` in the config, else its own), an ACP command,
/// or any command.
fn agent_spec(args: &StartArgs, config: &Config) -> Result<AgentSpec> {
    if let Some(name) = &args.agent {
        let override_argv = if args.command.is_empty() {
            config.agent_command(name)
        } else {
            Some(args.command.as_slice())
        };
        let argv = presets::command(name, override_argv)?;
        if !presets::is_installed(&argv) {
            let install = presets::find(name).map(|p| p.install).unwrap_or_default();
            return Err(Error::not_found(format!(
                "the {name} agent's command {}",
                process::not_found(&argv[0])
            ))
            .with_hint(format!("install it: {install}")));
        }
        return Ok(AgentSpec::Acp {
            preset: Some(name.clone()),
            argv,
        });
    }
    if args.command.is_empty() {
        return Err(Error::usage("no agent was given").with_hint(
            "name one with --agent (see `m agents`), or put a command after `--`: \
             m run start -r REPO \"PROMPT\" -- ./agent.sh",
        ));
    }
    let argv = with_absolute_program(&args.command);
    // The daemon runs the agent as this user on this machine: an absolute
    // path that is not there now would only fail the run, later.
    let program = std::path::Path::new(&argv[0]);
    if program.is_absolute() && !program.exists() {
        return Err(Error::not_found(format!(
            "the agent command {}",
            process::not_found(&argv[0])
        ))
        .with_hint("check the path after `--`"));
    }
    Ok(if args.acp {
        AgentSpec::Acp { preset: None, argv }
    } else {
        AgentSpec::Exec { argv }
    })
}

/// `./agent.sh` means the file here, where the user typed it, although the
/// agent runs in its workspace: a relative path that exists is made
/// absolute. Anything else (`sh`, `./gradlew` of the repo) is left as is.
fn with_absolute_program(argv: &[String]) -> Vec<String> {
    let mut argv = argv.to_vec();
    if let Some(program) = argv.first_mut() {
        let path = std::path::Path::new(program.as_str());
        if program.contains('/') && path.is_relative() && path.is_file() {
            if let Ok(absolute) = std::path::absolute(path) {
                *program = absolute.display().to_string();
            }
        }
    }
    argv
}
