# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_m_global_optspecs
    string join \n color= h/help V/version
end

function __fish_m_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_m_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_m_using_subcommand
    set -l cmd (__fish_m_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c m -n "__fish_m_needs_command" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c m -n "__fish_m_needs_command" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_needs_command" -f -a "repo" -d 'Register, list and remove repositories agents work on'
complete -c m -n "__fish_m_needs_command" -f -a "run" -d 'Start, list, inspect and control runs'
complete -c m -n "__fish_m_needs_command" -f -a "events" -d 'Print a run\'s event log'
complete -c m -n "__fish_m_needs_command" -f -a "approvals" -d 'List approvals (pending ones by default)'
complete -c m -n "__fish_m_needs_command" -f -a "approval" -d 'Inspect one approval'
complete -c m -n "__fish_m_needs_command" -f -a "approve" -d 'Approve a pending approval (by its id, or its run\'s)'
complete -c m -n "__fish_m_needs_command" -f -a "reject" -d 'Reject a pending approval; the reason is passed to the agent'
complete -c m -n "__fish_m_needs_command" -f -a "reply" -d 'Answer a run that waits for input'
complete -c m -n "__fish_m_needs_command" -f -a "ask" -d 'From inside a run: ask a human for an approval or an answer'
complete -c m -n "__fish_m_needs_command" -f -a "device" -d 'Register, list and remove phones that get notifications'
complete -c m -n "__fish_m_needs_command" -f -a "notify" -d 'Check notification delivery'
complete -c m -n "__fish_m_needs_command" -f -a "agents" -d 'The agents m can start by name, and whether each is installed'
complete -c m -n "__fish_m_needs_command" -f -a "status" -d 'The daemon, active runs and pending approvals at a glance'
complete -c m -n "__fish_m_needs_command" -f -a "daemon" -d 'Run, start, stop or check the background daemon that owns the agents'
complete -c m -n "__fish_m_needs_command" -f -a "config" -d 'Show where the configuration file is and the settings in effect'
complete -c m -n "__fish_m_needs_command" -f -a "doctor" -d 'Check git, the config, the database, the socket, the daemon, the service, how runs\' processes are held, the agents and notifications; print the command that fixes each problem (exit 1 if any)'
complete -c m -n "__fish_m_needs_command" -f -a "completions" -d 'Print a shell completion script (see README for where to put it)'
complete -c m -n "__fish_m_needs_command" -f -a "generate-docs" -d 'Regenerate completions/ and man/ from this command line (maintainers)'
complete -c m -n "__fish_m_needs_command" -f -a "keeper" -d 'The process between the daemon and a run\'s agent (the daemon starts it)'
complete -c m -n "__fish_m_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c m -n "__fish_m_using_subcommand repo; and not __fish_seen_subcommand_from add list rm help" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand repo; and not __fish_seen_subcommand_from add list rm help" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand repo; and not __fish_seen_subcommand_from add list rm help" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand repo; and not __fish_seen_subcommand_from add list rm help" -f -a "add" -d 'Register a git work tree (by path) or a remote repository (by URL), or with --scratch a repo without git (each run gets an empty directory)'
complete -c m -n "__fish_m_using_subcommand repo; and not __fish_seen_subcommand_from add list rm help" -f -a "list" -d 'List registered repositories'
complete -c m -n "__fish_m_using_subcommand repo; and not __fish_seen_subcommand_from add list rm help" -f -a "rm" -d 'Remove a repository (its runs too, with --force)'
complete -c m -n "__fish_m_using_subcommand repo; and not __fish_seen_subcommand_from add list rm help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c m -n "__fish_m_using_subcommand repo; and __fish_seen_subcommand_from add" -l name -d 'The name runs refer to it by [default: the directory or repository name]' -r
complete -c m -n "__fish_m_using_subcommand repo; and __fish_seen_subcommand_from add" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand repo; and __fish_seen_subcommand_from add" -l scratch -d 'A repo without git: each run works in an empty directory of its own, with no branch and no diff (for agents that need no code)'
complete -c m -n "__fish_m_using_subcommand repo; and __fish_seen_subcommand_from add" -l json -d 'Print the repo as JSON instead of a line'
complete -c m -n "__fish_m_using_subcommand repo; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c m -n "__fish_m_using_subcommand repo; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand repo; and __fish_seen_subcommand_from list" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand repo; and __fish_seen_subcommand_from list" -l json -d 'A JSON list of the repos'
complete -c m -n "__fish_m_using_subcommand repo; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand repo; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand repo; and __fish_seen_subcommand_from rm" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand repo; and __fish_seen_subcommand_from rm" -l force -d 'Also remove its past runs: their events, approvals and workspaces (and branches holding nothing unmerged). Nothing is removed while a workspace holds work its branch lacks'
complete -c m -n "__fish_m_using_subcommand repo; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand repo; and __fish_seen_subcommand_from rm" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand repo; and __fish_seen_subcommand_from help" -f -a "add" -d 'Register a git work tree (by path) or a remote repository (by URL), or with --scratch a repo without git (each run gets an empty directory)'
complete -c m -n "__fish_m_using_subcommand repo; and __fish_seen_subcommand_from help" -f -a "list" -d 'List registered repositories'
complete -c m -n "__fish_m_using_subcommand repo; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Remove a repository (its runs too, with --force)'
complete -c m -n "__fish_m_using_subcommand repo; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c m -n "__fish_m_using_subcommand run; and not __fish_seen_subcommand_from start list show cancel wait done diff rm prune help" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand run; and not __fish_seen_subcommand_from start list show cancel wait done diff rm prune help" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand run; and not __fish_seen_subcommand_from start list show cancel wait done diff rm prune help" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand run; and not __fish_seen_subcommand_from start list show cancel wait done diff rm prune help" -f -a "start" -d 'Start an agent on a repo, in a workspace of its own'
complete -c m -n "__fish_m_using_subcommand run; and not __fish_seen_subcommand_from start list show cancel wait done diff rm prune help" -f -a "list" -d 'List runs, newest first'
complete -c m -n "__fish_m_using_subcommand run; and not __fish_seen_subcommand_from start list show cancel wait done diff rm prune help" -f -a "show" -d 'Show one run in detail, with the approvals and questions it waits on'
complete -c m -n "__fish_m_using_subcommand run; and not __fish_seen_subcommand_from start list show cancel wait done diff rm prune help" -f -a "cancel" -d 'Stop a run\'s agent, or take a queued run out of its queue; the run ends cancelled'
complete -c m -n "__fish_m_using_subcommand run; and not __fish_seen_subcommand_from start list show cancel wait done diff rm prune help" -f -a "wait" -d 'Wait until a run needs a human or has ended (see exit codes)'
complete -c m -n "__fish_m_using_subcommand run; and not __fish_seen_subcommand_from start list show cancel wait done diff rm prune help" -f -a "done" -d 'End a conversational (ACP) run that waits for its next prompt'
complete -c m -n "__fish_m_using_subcommand run; and not __fish_seen_subcommand_from start list show cancel wait done diff rm prune help" -f -a "diff" -d 'Show a run\'s changes against where its branch started'
complete -c m -n "__fish_m_using_subcommand run; and not __fish_seen_subcommand_from start list show cancel wait done diff rm prune help" -f -a "rm" -d 'Remove finished runs, their workspaces and (if merged) their branches'
complete -c m -n "__fish_m_using_subcommand run; and not __fish_seen_subcommand_from start list show cancel wait done diff rm prune help" -f -a "prune" -d 'Remove finished runs (all, or those older than a duration, in a state, of a repo), as `m run rm` removes each'
complete -c m -n "__fish_m_using_subcommand run; and not __fish_seen_subcommand_from start list show cancel wait done diff rm prune help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from start" -s r -l repo -d 'The repo to work on (name or id prefix)' -r
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from start" -l base -d 'Start the run\'s branch from this ref instead of HEAD (git repos; a scratch repo has no branch)' -r
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from start" -l auto-approve -d 'Approve requests of this type without asking (repeatable): command, diff, generic. Added to `approvals.auto_approve` from the config' -r
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from start" -l allow -d 'Approve commands starting with these words without asking (repeatable), e.g. --allow "cargo test". A command line with shell syntax (`&&`, `;`, `|`, `$(...)`, redirections, globs...) is never approved this way. Added to `approvals.allow_commands` from the config' -r
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from start" -s a -l agent -d 'Run a known agent over the Agent Client Protocol (see `m agents`): claude, codex, gemini, opencode, goose, qwen' -r
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from start" -l timeout -d 'Cancel the run when it has run this long (90s, 30m, 2h, 1d), saying "time limit 2h reached"; the default is `run.timeout` in the config. Time spent waiting for a human counts, unless --timeout-excludes-waiting' -r
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from start" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from start" -l review -d 'When the agent finishes well, hold the run for a human to approve its diff (the default when `run.review = true` in the config). A run that changed nothing completes without review. A scratch repo has no diff: --review is refused there, and the config\'s default does not apply'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from start" -l no-review -d 'Do not hold the run for review, whatever the config says'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from start" -s f -l follow -d 'Print the run\'s events until it ends; exit with its final state\'s code. With --json, the events as JSON lines (as `m events --follow --json`), and nothing else'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from start" -l wait -d 'Return when the run needs a human or has ended, with an exit code that says which (0 completed, 10 failed, 11 cancelled, 12 waiting for approval, 13 waiting for input). A run that failed or was cancelled says why on stderr'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from start" -l json -d 'Print the run as JSON instead of its id (with --wait, as it stands when the wait ends)'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from start" -l acp -d 'The command after `--` speaks the Agent Client Protocol'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from start" -l once -d 'ACP agents (--agent or --acp): complete at the first end of turn instead of waiting for a reply'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from start" -l timeout-excludes-waiting -d 'Time spent waiting for an approval or an answer does not count towards --timeout'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from start" -l queue -d 'When the repo has an active run, queue this one behind it (it starts when the runs before it have ended) instead of refusing it (exit 4). The default when `run.on_busy = "queue"` in the config'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from start" -l no-queue -d 'Refuse the run (exit 4) when the repo has an active run, whatever the config says'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from start" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from list" -s r -l repo -d 'Only runs of this repo (name or id prefix)' -r
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from list" -l state -d 'Only runs in this state (repeatable); `active` means running or waiting for a human, `queued` waiting in the repo\'s queue' -r
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from list" -s n -l limit -d 'At most this many runs' -r
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from list" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from list" -l json -d 'A JSON list of runs, each as `m run show --json` prints it'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from show" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from show" -l json -d 'The run as one JSON object (README "Scripting" lists its fields)'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from cancel" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from cancel" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from cancel" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from wait" -l timeout -d 'Give up after this long (e.g. 90s, 10m, 2h; a bare number is seconds) and exit 124, as `timeout` does; the run goes on' -r
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from wait" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from wait" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from wait" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from done" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from done" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from done" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from diff" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from diff" -l stat -d 'Only the summary of changed files'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from diff" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from diff" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from rm" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from rm" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from prune" -l older-than -d 'Only runs that ended at least this long ago (e.g. 7d, 12h, 30m)' -r
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from prune" -l state -d 'Only runs in this final state (repeatable): completed, failed, cancelled' -r
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from prune" -s r -l repo -d 'Only runs of this repo (name or id prefix)' -r
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from prune" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from prune" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from help" -f -a "start" -d 'Start an agent on a repo, in a workspace of its own'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from help" -f -a "list" -d 'List runs, newest first'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one run in detail, with the approvals and questions it waits on'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from help" -f -a "cancel" -d 'Stop a run\'s agent, or take a queued run out of its queue; the run ends cancelled'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from help" -f -a "wait" -d 'Wait until a run needs a human or has ended (see exit codes)'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from help" -f -a "done" -d 'End a conversational (ACP) run that waits for its next prompt'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from help" -f -a "diff" -d 'Show a run\'s changes against where its branch started'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Remove finished runs, their workspaces and (if merged) their branches'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from help" -f -a "prune" -d 'Remove finished runs (all, or those older than a duration, in a state, of a repo), as `m run rm` removes each'
complete -c m -n "__fish_m_using_subcommand run; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c m -n "__fish_m_using_subcommand events" -l since -d 'Only events after this sequence number (to resume exactly)' -r
complete -c m -n "__fish_m_using_subcommand events" -l type -d 'Only events of this type (repeatable), e.g. `--type output`' -r
complete -c m -n "__fish_m_using_subcommand events" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand events" -l all -d 'Follow every run\'s live events (with --follow)'
complete -c m -n "__fish_m_using_subcommand events" -s f -l follow -d 'Keep printing events as they happen; exit when the run ends, with a code that says how (0 completed, 10 failed, 11 cancelled)'
complete -c m -n "__fish_m_using_subcommand events" -l json -d 'One JSON object per line'
complete -c m -n "__fish_m_using_subcommand events" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand events" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand approvals" -l run -d 'Only this run\'s approvals (id prefix)' -r
complete -c m -n "__fish_m_using_subcommand approvals" -l state -d 'Which approvals: pending, approved, rejected or all' -r
complete -c m -n "__fish_m_using_subcommand approvals" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand approvals" -l json -d 'A JSON list of {id, run_id, event_id, type, state, payload, rejection_reason, created_at, resolved_at}'
complete -c m -n "__fish_m_using_subcommand approvals" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand approvals" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand approval; and not __fish_seen_subcommand_from show help" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand approval; and not __fish_seen_subcommand_from show help" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand approval; and not __fish_seen_subcommand_from show help" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand approval; and not __fish_seen_subcommand_from show help" -f -a "show" -d 'Show what an approval asks: the diff, the command, or the details'
complete -c m -n "__fish_m_using_subcommand approval; and not __fish_seen_subcommand_from show help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c m -n "__fish_m_using_subcommand approval; and __fish_seen_subcommand_from show" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand approval; and __fish_seen_subcommand_from show" -l json -d 'The approval as one JSON object, as `m approvals --json` lists it'
complete -c m -n "__fish_m_using_subcommand approval; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand approval; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand approval; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show what an approval asks: the diff, the command, or the details'
complete -c m -n "__fish_m_using_subcommand approval; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c m -n "__fish_m_using_subcommand approve" -l hash -d 'Approve only if the approval is still exactly this (its content hash, as `m approval show` prints it); otherwise exit 4, deciding nothing' -r
complete -c m -n "__fish_m_using_subcommand approve" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand approve" -l always -d 'Also allow this kind of action for the rest of the run, where the agent offers it'
complete -c m -n "__fish_m_using_subcommand approve" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand approve" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand reject" -s m -l reason -d 'Why: the agent is told' -r
complete -c m -n "__fish_m_using_subcommand reject" -l hash -d 'Reject only if the approval is still exactly this (its content hash, as `m approval show` prints it); otherwise exit 4, deciding nothing' -r
complete -c m -n "__fish_m_using_subcommand reject" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand reject" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand reject" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand reply" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand reply" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand reply" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand ask; and not __fish_seen_subcommand_from approval input help" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand ask; and not __fish_seen_subcommand_from approval input help" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand ask; and not __fish_seen_subcommand_from approval input help" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand ask; and not __fish_seen_subcommand_from approval input help" -f -a "approval" -d 'Ask a human to approve something; wait for the decision'
complete -c m -n "__fish_m_using_subcommand ask; and not __fish_seen_subcommand_from approval input help" -f -a "input" -d 'Ask a human a question; print the answer'
complete -c m -n "__fish_m_using_subcommand ask; and not __fish_seen_subcommand_from approval input help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c m -n "__fish_m_using_subcommand ask; and __fish_seen_subcommand_from approval" -l type -d 'What is to be approved: `command` (the command after `--`, or --payload), `diff` (a unified diff on stdin or in --diff-file), or `generic` (--title and --details)' -r
complete -c m -n "__fish_m_using_subcommand ask; and __fish_seen_subcommand_from approval" -l title -d 'A one-line title for the human' -r
complete -c m -n "__fish_m_using_subcommand ask; and __fish_seen_subcommand_from approval" -l details -d 'More text for a generic approval' -r
complete -c m -n "__fish_m_using_subcommand ask; and __fish_seen_subcommand_from approval" -l payload -d 'The whole payload as JSON (`-` reads stdin); for `diff`, a unified diff is read from stdin or from --diff-file instead' -r
complete -c m -n "__fish_m_using_subcommand ask; and __fish_seen_subcommand_from approval" -l diff-file -d 'For `diff`: the file holding the unified diff (default: stdin)' -r -F
complete -c m -n "__fish_m_using_subcommand ask; and __fish_seen_subcommand_from approval" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand ask; and __fish_seen_subcommand_from approval" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c m -n "__fish_m_using_subcommand ask; and __fish_seen_subcommand_from approval" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand ask; and __fish_seen_subcommand_from input" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand ask; and __fish_seen_subcommand_from input" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand ask; and __fish_seen_subcommand_from input" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand ask; and __fish_seen_subcommand_from help" -f -a "approval" -d 'Ask a human to approve something; wait for the decision'
complete -c m -n "__fish_m_using_subcommand ask; and __fish_seen_subcommand_from help" -f -a "input" -d 'Ask a human a question; print the answer'
complete -c m -n "__fish_m_using_subcommand ask; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c m -n "__fish_m_using_subcommand device; and not __fish_seen_subcommand_from pair add list rm help" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand device; and not __fish_seen_subcommand_from pair add list rm help" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand device; and not __fish_seen_subcommand_from pair add list rm help" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand device; and not __fish_seen_subcommand_from pair add list rm help" -f -a "pair" -d 'Pair a phone with the remote API: prints a QR code to scan with the m app (or a phone\'s camera, for the phone page)'
complete -c m -n "__fish_m_using_subcommand device; and not __fish_seen_subcommand_from pair add list rm help" -f -a "add" -d 'Register a phone\'s push token (from the m iOS app)'
complete -c m -n "__fish_m_using_subcommand device; and not __fish_seen_subcommand_from pair add list rm help" -f -a "list" -d 'List registered devices'
complete -c m -n "__fish_m_using_subcommand device; and not __fish_seen_subcommand_from pair add list rm help" -f -a "rm" -d 'Forget a device'
complete -c m -n "__fish_m_using_subcommand device; and not __fish_seen_subcommand_from pair add list rm help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from pair" -l name -d 'The device\'s name (default: the name the phone gives)' -r
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from pair" -l scope -d 'What the device may do: read (see runs and approvals), decide (approve, reject, reply), control (start and cancel runs)' -r
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from pair" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from pair" -l json -d 'Print {url, code, fingerprint, expires_at, scopes} instead of the QR code'
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from pair" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from pair" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from add" -l platform -r
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from add" -l env -d 'The APNs environment: `sandbox` for apps run from Xcode, `production` for TestFlight and App Store builds' -r
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from add" -l name -d 'A name to tell your devices apart (and to remove one by: `m device rm NAME`); no two devices share one' -r
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from add" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from list" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from list" -l json -d 'A JSON list of the phones'
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from rm" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from rm" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from help" -f -a "pair" -d 'Pair a phone with the remote API: prints a QR code to scan with the m app (or a phone\'s camera, for the phone page)'
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from help" -f -a "add" -d 'Register a phone\'s push token (from the m iOS app)'
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from help" -f -a "list" -d 'List registered devices'
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Forget a device'
complete -c m -n "__fish_m_using_subcommand device; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c m -n "__fish_m_using_subcommand notify; and not __fish_seen_subcommand_from test help" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand notify; and not __fish_seen_subcommand_from test help" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand notify; and not __fish_seen_subcommand_from test help" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand notify; and not __fish_seen_subcommand_from test help" -f -a "test" -d 'Send one test notification through every configured sink (each device, webhook and hook command) and print each result'
complete -c m -n "__fish_m_using_subcommand notify; and not __fish_seen_subcommand_from test help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c m -n "__fish_m_using_subcommand notify; and __fish_seen_subcommand_from test" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand notify; and __fish_seen_subcommand_from test" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand notify; and __fish_seen_subcommand_from test" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand notify; and __fish_seen_subcommand_from help" -f -a "test" -d 'Send one test notification through every configured sink (each device, webhook and hook command) and print each result'
complete -c m -n "__fish_m_using_subcommand notify; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c m -n "__fish_m_using_subcommand agents" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand agents" -l json -d 'A JSON list of {name, command, installed, path, install, about}'
complete -c m -n "__fish_m_using_subcommand agents" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand agents" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand status" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand status" -l json -d 'One JSON document: {daemon (null when not running; with uptime_seconds and notifications), socket, service (null when not installed), notifications {source: daemon|config, health}, active_runs, pending_approvals}'
complete -c m -n "__fish_m_using_subcommand status" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand status" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand daemon; and not __fish_seen_subcommand_from run start stop status install uninstall help" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand daemon; and not __fish_seen_subcommand_from run start stop status install uninstall help" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand daemon; and not __fish_seen_subcommand_from run start stop status install uninstall help" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand daemon; and not __fish_seen_subcommand_from run start stop status install uninstall help" -f -a "run" -d 'Run the daemon in the foreground (for systemd, launchd and debugging)'
complete -c m -n "__fish_m_using_subcommand daemon; and not __fish_seen_subcommand_from run start stop status install uninstall help" -f -a "start" -d 'Start the daemon in the background, if it is not running'
complete -c m -n "__fish_m_using_subcommand daemon; and not __fish_seen_subcommand_from run start stop status install uninstall help" -f -a "stop" -d 'Stop the daemon; its active runs end as failed, saying why'
complete -c m -n "__fish_m_using_subcommand daemon; and not __fish_seen_subcommand_from run start stop status install uninstall help" -f -a "status" -d 'Say whether the daemon runs (exit 0) or not (exit 5)'
complete -c m -n "__fish_m_using_subcommand daemon; and not __fish_seen_subcommand_from run start stop status install uninstall help" -f -a "install" -d 'Run the daemon as a user service: write a systemd unit (Linux) or a launchd agent (macOS) for this binary, and print how to enable it'
complete -c m -n "__fish_m_using_subcommand daemon; and not __fish_seen_subcommand_from run start stop status install uninstall help" -f -a "uninstall" -d 'Remove the file `m daemon install` wrote; commands start the daemon themselves again'
complete -c m -n "__fish_m_using_subcommand daemon; and not __fish_seen_subcommand_from run start stop status install uninstall help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from run" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from run" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from run" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from start" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from start" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from stop" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from stop" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from stop" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from status" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from status" -l json -d 'One JSON document: {running, daemon}, daemon being null or as in `m status --json`'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from install" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from install" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from install" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from uninstall" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from uninstall" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from uninstall" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from help" -f -a "run" -d 'Run the daemon in the foreground (for systemd, launchd and debugging)'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from help" -f -a "start" -d 'Start the daemon in the background, if it is not running'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from help" -f -a "stop" -d 'Stop the daemon; its active runs end as failed, saying why'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from help" -f -a "status" -d 'Say whether the daemon runs (exit 0) or not (exit 5)'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from help" -f -a "install" -d 'Run the daemon as a user service: write a systemd unit (Linux) or a launchd agent (macOS) for this binary, and print how to enable it'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from help" -f -a "uninstall" -d 'Remove the file `m daemon install` wrote; commands start the daemon themselves again'
complete -c m -n "__fish_m_using_subcommand daemon; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c m -n "__fish_m_using_subcommand config; and not __fish_seen_subcommand_from path show help" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand config; and not __fish_seen_subcommand_from path show help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c m -n "__fish_m_using_subcommand config; and not __fish_seen_subcommand_from path show help" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand config; and not __fish_seen_subcommand_from path show help" -f -a "path" -d 'Print the configuration file\'s path (it need not exist)'
complete -c m -n "__fish_m_using_subcommand config; and not __fish_seen_subcommand_from path show help" -f -a "show" -d 'Print every setting in effect and where it came from: default, file or env'
complete -c m -n "__fish_m_using_subcommand config; and not __fish_seen_subcommand_from path show help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c m -n "__fish_m_using_subcommand config; and __fish_seen_subcommand_from path" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand config; and __fish_seen_subcommand_from path" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand config; and __fish_seen_subcommand_from path" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand config; and __fish_seen_subcommand_from show" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand config; and __fish_seen_subcommand_from show" -l json -d 'One JSON document: {file, exists, settings: [{key, value, source, env?}], warnings}'
complete -c m -n "__fish_m_using_subcommand config; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand config; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "path" -d 'Print the configuration file\'s path (it need not exist)'
complete -c m -n "__fish_m_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "show" -d 'Print every setting in effect and where it came from: default, file or env'
complete -c m -n "__fish_m_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c m -n "__fish_m_using_subcommand doctor" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand doctor" -l json -d 'One JSON document: {ok, checks: [{name, status, detail, fix?}]}; status is ok, warn, fail or skip'
complete -c m -n "__fish_m_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand completions" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand completions" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand completions" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand generate-docs" -l out -d 'The directory that gets `completions/` and `man/` (the repository\'s top)' -r -F
complete -c m -n "__fish_m_using_subcommand generate-docs" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand generate-docs" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand generate-docs" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand keeper" -l control-fd -d 'The keeper\'s end of its control socket, open in this process' -r
complete -c m -n "__fish_m_using_subcommand keeper" -l grace-ms -d 'How long the agent\'s leftovers have between SIGTERM and SIGKILL' -r
complete -c m -n "__fish_m_using_subcommand keeper" -l color -d 'When to use colours (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c m -n "__fish_m_using_subcommand keeper" -s h -l help -d 'Print help'
complete -c m -n "__fish_m_using_subcommand keeper" -s V -l version -d 'Print version'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "repo" -d 'Register, list and remove repositories agents work on'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "run" -d 'Start, list, inspect and control runs'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "events" -d 'Print a run\'s event log'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "approvals" -d 'List approvals (pending ones by default)'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "approval" -d 'Inspect one approval'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "approve" -d 'Approve a pending approval (by its id, or its run\'s)'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "reject" -d 'Reject a pending approval; the reason is passed to the agent'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "reply" -d 'Answer a run that waits for input'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "ask" -d 'From inside a run: ask a human for an approval or an answer'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "device" -d 'Register, list and remove phones that get notifications'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "notify" -d 'Check notification delivery'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "agents" -d 'The agents m can start by name, and whether each is installed'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "status" -d 'The daemon, active runs and pending approvals at a glance'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "daemon" -d 'Run, start, stop or check the background daemon that owns the agents'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "config" -d 'Show where the configuration file is and the settings in effect'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "doctor" -d 'Check git, the config, the database, the socket, the daemon, the service, how runs\' processes are held, the agents and notifications; print the command that fixes each problem (exit 1 if any)'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "completions" -d 'Print a shell completion script (see README for where to put it)'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "generate-docs" -d 'Regenerate completions/ and man/ from this command line (maintainers)'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "keeper" -d 'The process between the daemon and a run\'s agent (the daemon starts it)'
complete -c m -n "__fish_m_using_subcommand help; and not __fish_seen_subcommand_from repo run events approvals approval approve reject reply ask device notify agents status daemon config doctor completions generate-docs keeper help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from repo" -f -a "add" -d 'Register a git work tree (by path) or a remote repository (by URL), or with --scratch a repo without git (each run gets an empty directory)'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from repo" -f -a "list" -d 'List registered repositories'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from repo" -f -a "rm" -d 'Remove a repository (its runs too, with --force)'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from run" -f -a "start" -d 'Start an agent on a repo, in a workspace of its own'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from run" -f -a "list" -d 'List runs, newest first'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from run" -f -a "show" -d 'Show one run in detail, with the approvals and questions it waits on'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from run" -f -a "cancel" -d 'Stop a run\'s agent, or take a queued run out of its queue; the run ends cancelled'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from run" -f -a "wait" -d 'Wait until a run needs a human or has ended (see exit codes)'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from run" -f -a "done" -d 'End a conversational (ACP) run that waits for its next prompt'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from run" -f -a "diff" -d 'Show a run\'s changes against where its branch started'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from run" -f -a "rm" -d 'Remove finished runs, their workspaces and (if merged) their branches'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from run" -f -a "prune" -d 'Remove finished runs (all, or those older than a duration, in a state, of a repo), as `m run rm` removes each'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from approval" -f -a "show" -d 'Show what an approval asks: the diff, the command, or the details'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from ask" -f -a "approval" -d 'Ask a human to approve something; wait for the decision'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from ask" -f -a "input" -d 'Ask a human a question; print the answer'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from device" -f -a "pair" -d 'Pair a phone with the remote API: prints a QR code to scan with the m app (or a phone\'s camera, for the phone page)'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from device" -f -a "add" -d 'Register a phone\'s push token (from the m iOS app)'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from device" -f -a "list" -d 'List registered devices'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from device" -f -a "rm" -d 'Forget a device'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from notify" -f -a "test" -d 'Send one test notification through every configured sink (each device, webhook and hook command) and print each result'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from daemon" -f -a "run" -d 'Run the daemon in the foreground (for systemd, launchd and debugging)'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from daemon" -f -a "start" -d 'Start the daemon in the background, if it is not running'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from daemon" -f -a "stop" -d 'Stop the daemon; its active runs end as failed, saying why'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from daemon" -f -a "status" -d 'Say whether the daemon runs (exit 0) or not (exit 5)'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from daemon" -f -a "install" -d 'Run the daemon as a user service: write a systemd unit (Linux) or a launchd agent (macOS) for this binary, and print how to enable it'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from daemon" -f -a "uninstall" -d 'Remove the file `m daemon install` wrote; commands start the daemon themselves again'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "path" -d 'Print the configuration file\'s path (it need not exist)'
complete -c m -n "__fish_m_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "show" -d 'Print every setting in effect and where it came from: default, file or env'
