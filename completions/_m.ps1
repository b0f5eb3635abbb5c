
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'm' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'm'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'm' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('repo', 'repo', [CompletionResultType]::ParameterValue, 'Register, list and remove repositories agents work on')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Start, list, inspect and control runs')
            [CompletionResult]::new('events', 'events', [CompletionResultType]::ParameterValue, 'Print a run''s event log')
            [CompletionResult]::new('approvals', 'approvals', [CompletionResultType]::ParameterValue, 'List approvals (pending ones by default)')
            [CompletionResult]::new('approval', 'approval', [CompletionResultType]::ParameterValue, 'Inspect one approval')
            [CompletionResult]::new('approve', 'approve', [CompletionResultType]::ParameterValue, 'Approve a pending approval (by its id, or its run''s)')
            [CompletionResult]::new('reject', 'reject', [CompletionResultType]::ParameterValue, 'Reject a pending approval; the reason is passed to the agent')
            [CompletionResult]::new('reply', 'reply', [CompletionResultType]::ParameterValue, 'Answer a run that waits for input')
            [CompletionResult]::new('ask', 'ask', [CompletionResultType]::ParameterValue, 'From inside a run: ask a human for an approval or an answer')
            [CompletionResult]::new('device', 'device', [CompletionResultType]::ParameterValue, 'Register, list and remove phones that get notifications')
            [CompletionResult]::new('notify', 'notify', [CompletionResultType]::ParameterValue, 'Check notification delivery')
            [CompletionResult]::new('agents', 'agents', [CompletionResultType]::ParameterValue, 'The agents m can start by name, and whether each is installed')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'The daemon, active runs and pending approvals at a glance')
            [CompletionResult]::new('daemon', 'daemon', [CompletionResultType]::ParameterValue, 'Run, start, stop or check the background daemon that owns the agents')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Show where the configuration file is and the settings in effect')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check git, the config, the database, the socket, the daemon, the service, how runs'' processes are held, the agents and notifications; print the command that fixes each problem (exit 1 if any)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script (see README for where to put it)')
            [CompletionResult]::new('generate-docs', 'generate-docs', [CompletionResultType]::ParameterValue, 'Regenerate completions/ and man/ from this command line (maintainers)')
            [CompletionResult]::new('keeper', 'keeper', [CompletionResultType]::ParameterValue, 'The process between the daemon and a run''s agent (the daemon starts it)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'm;repo' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Register a git work tree (by path) or a remote repository (by URL), or with --scratch a repo without git (each run gets an empty directory)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List registered repositories')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove a repository (its runs too, with --force)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'm;repo;add' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'The name runs refer to it by [default: the directory or repository name]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--scratch', '--scratch', [CompletionResultType]::ParameterName, 'A repo without git: each run works in an empty directory of its own, with no branch and no diff (for agents that need no code)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the repo as JSON instead of a line')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;repo;list' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'A JSON list of the repos')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;repo;rm' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Also remove its past runs: their events, approvals and workspaces (and branches holding nothing unmerged). Nothing is removed while a workspace holds work its branch lacks')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;repo;help' {
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Register a git work tree (by path) or a remote repository (by URL), or with --scratch a repo without git (each run gets an empty directory)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List registered repositories')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove a repository (its runs too, with --force)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'm;repo;help;add' {
            break
        }
        'm;repo;help;list' {
            break
        }
        'm;repo;help;rm' {
            break
        }
        'm;repo;help;help' {
            break
        }
        'm;run' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('start', 'start', [CompletionResultType]::ParameterValue, 'Start an agent on a repo, in a workspace of its own')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List runs, newest first')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one run in detail, with the approvals and questions it waits on')
            [CompletionResult]::new('cancel', 'cancel', [CompletionResultType]::ParameterValue, 'Stop a run''s agent, or take a queued run out of its queue; the run ends cancelled')
            [CompletionResult]::new('wait', 'wait', [CompletionResultType]::ParameterValue, 'Wait until a run needs a human or has ended (see exit codes)')
            [CompletionResult]::new('done', 'done', [CompletionResultType]::ParameterValue, 'End a conversational (ACP) run that waits for its next prompt')
            [CompletionResult]::new('diff', 'diff', [CompletionResultType]::ParameterValue, 'Show a run''s changes against where its branch started')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove finished runs, their workspaces and (if merged) their branches')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Remove finished runs (all, or those older than a duration, in a state, of a repo), as `m run rm` removes each')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'm;run;start' {
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'The repo to work on (name or id prefix)')
            [CompletionResult]::new('--repo', '--repo', [CompletionResultType]::ParameterName, 'The repo to work on (name or id prefix)')
            [CompletionResult]::new('--base', '--base', [CompletionResultType]::ParameterName, 'Start the run''s branch from this ref instead of HEAD (git repos; a scratch repo has no branch)')
            [CompletionResult]::new('--auto-approve', '--auto-approve', [CompletionResultType]::ParameterName, 'Approve requests of this type without asking (repeatable): command, diff, generic. Added to `approvals.auto_approve` from the config')
            [CompletionResult]::new('--allow', '--allow', [CompletionResultType]::ParameterName, 'Approve commands starting with these words without asking (repeatable), e.g. --allow "cargo test". A command line with shell syntax (`&&`, `;`, `|`, `$(...)`, redirections, globs...) is never approved this way. Added to `approvals.allow_commands` from the config')
            [CompletionResult]::new('-a', '-a', [CompletionResultType]::ParameterName, 'Run a known agent over the Agent Client Protocol (see `m agents`): claude, codex, gemini, opencode, goose, qwen')
            [CompletionResult]::new('--agent', '--agent', [CompletionResultType]::ParameterName, 'Run a known agent over the Agent Client Protocol (see `m agents`): claude, codex, gemini, opencode, goose, qwen')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Cancel the run when it has run this long (90s, 30m, 2h, 1d), saying "time limit 2h reached"; the default is `run.timeout` in the config. Time spent waiting for a human counts, unless --timeout-excludes-waiting')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--review', '--review', [CompletionResultType]::ParameterName, 'When the agent finishes well, hold the run for a human to approve its diff (the default when `run.review = true` in the config). A run that changed nothing completes without review. A scratch repo has no diff: --review is refused there, and the config''s default does not apply')
            [CompletionResult]::new('--no-review', '--no-review', [CompletionResultType]::ParameterName, 'Do not hold the run for review, whatever the config says')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Print the run''s events until it ends; exit with its final state''s code. With --json, the events as JSON lines (as `m events --follow --json`), and nothing else')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Print the run''s events until it ends; exit with its final state''s code. With --json, the events as JSON lines (as `m events --follow --json`), and nothing else')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Return when the run needs a human or has ended, with an exit code that says which (0 completed, 10 failed, 11 cancelled, 12 waiting for approval, 13 waiting for input). A run that failed or was cancelled says why on stderr')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the run as JSON instead of its id (with --wait, as it stands when the wait ends)')
            [CompletionResult]::new('--acp', '--acp', [CompletionResultType]::ParameterName, 'The command after `--` speaks the Agent Client Protocol')
            [CompletionResult]::new('--once', '--once', [CompletionResultType]::ParameterName, 'ACP agents (--agent or --acp): complete at the first end of turn instead of waiting for a reply')
            [CompletionResult]::new('--timeout-excludes-waiting', '--timeout-excludes-waiting', [CompletionResultType]::ParameterName, 'Time spent waiting for an approval or an answer does not count towards --timeout')
            [CompletionResult]::new('--queue', '--queue', [CompletionResultType]::ParameterName, 'When the repo has an active run, queue this one behind it (it starts when the runs before it have ended) instead of refusing it (exit 4). The default when `run.on_busy = "queue"` in the config')
            [CompletionResult]::new('--no-queue', '--no-queue', [CompletionResultType]::ParameterName, 'Refuse the run (exit 4) when the repo has an active run, whatever the config says')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;run;list' {
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Only runs of this repo (name or id prefix)')
            [CompletionResult]::new('--repo', '--repo', [CompletionResultType]::ParameterName, 'Only runs of this repo (name or id prefix)')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Only runs in this state (repeatable); `active` means running or waiting for a human, `queued` waiting in the repo''s queue')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'At most this many runs')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'At most this many runs')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'A JSON list of runs, each as `m run show --json` prints it')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;run;show' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'The run as one JSON object (README "Scripting" lists its fields)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;run;cancel' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;run;wait' {
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 90s, 10m, 2h; a bare number is seconds) and exit 124, as `timeout` does; the run goes on')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;run;done' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;run;diff' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--stat', '--stat', [CompletionResultType]::ParameterName, 'Only the summary of changed files')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;run;rm' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;run;prune' {
            [CompletionResult]::new('--older-than', '--older-than', [CompletionResultType]::ParameterName, 'Only runs that ended at least this long ago (e.g. 7d, 12h, 30m)')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Only runs in this final state (repeatable): completed, failed, cancelled')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Only runs of this repo (name or id prefix)')
            [CompletionResult]::new('--repo', '--repo', [CompletionResultType]::ParameterName, 'Only runs of this repo (name or id prefix)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;run;help' {
            [CompletionResult]::new('start', 'start', [CompletionResultType]::ParameterValue, 'Start an agent on a repo, in a workspace of its own')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List runs, newest first')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one run in detail, with the approvals and questions it waits on')
            [CompletionResult]::new('cancel', 'cancel', [CompletionResultType]::ParameterValue, 'Stop a run''s agent, or take a queued run out of its queue; the run ends cancelled')
            [CompletionResult]::new('wait', 'wait', [CompletionResultType]::ParameterValue, 'Wait until a run needs a human or has ended (see exit codes)')
            [CompletionResult]::new('done', 'done', [CompletionResultType]::ParameterValue, 'End a conversational (ACP) run that waits for its next prompt')
            [CompletionResult]::new('diff', 'diff', [CompletionResultType]::ParameterValue, 'Show a run''s changes against where its branch started')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove finished runs, their workspaces and (if merged) their branches')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Remove finished runs (all, or those older than a duration, in a state, of a repo), as `m run rm` removes each')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'm;run;help;start' {
            break
        }
        'm;run;help;list' {
            break
        }
        'm;run;help;show' {
            break
        }
        'm;run;help;cancel' {
            break
        }
        'm;run;help;wait' {
            break
        }
        'm;run;help;done' {
            break
        }
        'm;run;help;diff' {
            break
        }
        'm;run;help;rm' {
            break
        }
        'm;run;help;prune' {
            break
        }
        'm;run;help;help' {
            break
        }
        'm;events' {
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only events after this sequence number (to resume exactly)')
            [CompletionResult]::new('--type', '--type', [CompletionResultType]::ParameterName, 'Only events of this type (repeatable), e.g. `--type output`')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Follow every run''s live events (with --follow)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Keep printing events as they happen; exit when the run ends, with a code that says how (0 completed, 10 failed, 11 cancelled)')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Keep printing events as they happen; exit when the run ends, with a code that says how (0 completed, 10 failed, 11 cancelled)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'One JSON object per line')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;approvals' {
            [CompletionResult]::new('--run', '--run', [CompletionResultType]::ParameterName, 'Only this run''s approvals (id prefix)')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Which approvals: pending, approved, rejected or all')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'A JSON list of {id, run_id, event_id, type, state, payload, rejection_reason, created_at, resolved_at}')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;approval' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show what an approval asks: the diff, the command, or the details')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'm;approval;show' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'The approval as one JSON object, as `m approvals --json` lists it')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;approval;help' {
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show what an approval asks: the diff, the command, or the details')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'm;approval;help;show' {
            break
        }
        'm;approval;help;help' {
            break
        }
        'm;approve' {
            [CompletionResult]::new('--hash', '--hash', [CompletionResultType]::ParameterName, 'Approve only if the approval is still exactly this (its content hash, as `m approval show` prints it); otherwise exit 4, deciding nothing')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--always', '--always', [CompletionResultType]::ParameterName, 'Also allow this kind of action for the rest of the run, where the agent offers it')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;reject' {
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Why: the agent is told')
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Why: the agent is told')
            [CompletionResult]::new('--hash', '--hash', [CompletionResultType]::ParameterName, 'Reject only if the approval is still exactly this (its content hash, as `m approval show` prints it); otherwise exit 4, deciding nothing')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;reply' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;ask' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('approval', 'approval', [CompletionResultType]::ParameterValue, 'Ask a human to approve something; wait for the decision')
            [CompletionResult]::new('input', 'input', [CompletionResultType]::ParameterValue, 'Ask a human a question; print the answer')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'm;ask;approval' {
            [CompletionResult]::new('--type', '--type', [CompletionResultType]::ParameterName, 'What is to be approved: `command` (the command after `--`, or --payload), `diff` (a unified diff on stdin or in --diff-file), or `generic` (--title and --details)')
            [CompletionResult]::new('--title', '--title', [CompletionResultType]::ParameterName, 'A one-line title for the human')
            [CompletionResult]::new('--details', '--details', [CompletionResultType]::ParameterName, 'More text for a generic approval')
            [CompletionResult]::new('--payload', '--payload', [CompletionResultType]::ParameterName, 'The whole payload as JSON (`-` reads stdin); for `diff`, a unified diff is read from stdin or from --diff-file instead')
            [CompletionResult]::new('--diff-file', '--diff-file', [CompletionResultType]::ParameterName, 'For `diff`: the file holding the unified diff (default: stdin)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;ask;input' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;ask;help' {
            [CompletionResult]::new('approval', 'approval', [CompletionResultType]::ParameterValue, 'Ask a human to approve something; wait for the decision')
            [CompletionResult]::new('input', 'input', [CompletionResultType]::ParameterValue, 'Ask a human a question; print the answer')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'm;ask;help;approval' {
            break
        }
        'm;ask;help;input' {
            break
        }
        'm;ask;help;help' {
            break
        }
        'm;device' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('pair', 'pair', [CompletionResultType]::ParameterValue, 'Pair a phone with the remote API: prints a QR code to scan with the m app (or a phone''s camera, for the phone page)')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Register a phone''s push token (from the m iOS app)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List registered devices')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Forget a device')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'm;device;pair' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'The device''s name (default: the name the phone gives)')
            [CompletionResult]::new('--scope', '--scope', [CompletionResultType]::ParameterName, 'What the device may do: read (see runs and approvals), decide (approve, reject, reply), control (start and cancel runs)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print {url, code, fingerprint, expires_at, scopes} instead of the QR code')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;device;add' {
            [CompletionResult]::new('--platform', '--platform', [CompletionResultType]::ParameterName, 'platform')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'The APNs environment: `sandbox` for apps run from Xcode, `production` for TestFlight and App Store builds')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'A name to tell your devices apart (and to remove one by: `m device rm NAME`); no two devices share one')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;device;list' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'A JSON list of the phones')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;device;rm' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;device;help' {
            [CompletionResult]::new('pair', 'pair', [CompletionResultType]::ParameterValue, 'Pair a phone with the remote API: prints a QR code to scan with the m app (or a phone''s camera, for the phone page)')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Register a phone''s push token (from the m iOS app)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List registered devices')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Forget a device')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'm;device;help;pair' {
            break
        }
        'm;device;help;add' {
            break
        }
        'm;device;help;list' {
            break
        }
        'm;device;help;rm' {
            break
        }
        'm;device;help;help' {
            break
        }
        'm;notify' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('test', 'test', [CompletionResultType]::ParameterValue, 'Send one test notification through every configured sink (each device, webhook and hook command) and print each result')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'm;notify;test' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;notify;help' {
            [CompletionResult]::new('test', 'test', [CompletionResultType]::ParameterValue, 'Send one test notification through every configured sink (each device, webhook and hook command) and print each result')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'm;notify;help;test' {
            break
        }
        'm;notify;help;help' {
            break
        }
        'm;agents' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'A JSON list of {name, command, installed, path, install, about}')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;status' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'One JSON document: {daemon (null when not running; with uptime_seconds and notifications), socket, service (null when not installed), notifications {source: daemon|config, health}, active_runs, pending_approvals}')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;daemon' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run the daemon in the foreground (for systemd, launchd and debugging)')
            [CompletionResult]::new('start', 'start', [CompletionResultType]::ParameterValue, 'Start the daemon in the background, if it is not running')
            [CompletionResult]::new('stop', 'stop', [CompletionResultType]::ParameterValue, 'Stop the daemon; its active runs end as failed, saying why')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Say whether the daemon runs (exit 0) or not (exit 5)')
            [CompletionResult]::new('install', 'install', [CompletionResultType]::ParameterValue, 'Run the daemon as a user service: write a systemd unit (Linux) or a launchd agent (macOS) for this binary, and print how to enable it')
            [CompletionResult]::new('uninstall', 'uninstall', [CompletionResultType]::ParameterValue, 'Remove the file `m daemon install` wrote; commands start the daemon themselves again')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'm;daemon;run' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;daemon;start' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;daemon;stop' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;daemon;status' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'One JSON document: {running, daemon}, daemon being null or as in `m status --json`')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;daemon;install' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;daemon;uninstall' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;daemon;help' {
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run the daemon in the foreground (for systemd, launchd and debugging)')
            [CompletionResult]::new('start', 'start', [CompletionResultType]::ParameterValue, 'Start the daemon in the background, if it is not running')
            [CompletionResult]::new('stop', 'stop', [CompletionResultType]::ParameterValue, 'Stop the daemon; its active runs end as failed, saying why')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Say whether the daemon runs (exit 0) or not (exit 5)')
            [CompletionResult]::new('install', 'install', [CompletionResultType]::ParameterValue, 'Run the daemon as a user service: write a systemd unit (Linux) or a launchd agent (macOS) for this binary, and print how to enable it')
            [CompletionResult]::new('uninstall', 'uninstall', [CompletionResultType]::ParameterValue, 'Remove the file `m daemon install` wrote; commands start the daemon themselves again')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'm;daemon;help;run' {
            break
        }
        'm;daemon;help;start' {
            break
        }
        'm;daemon;help;stop' {
            break
        }
        'm;daemon;help;status' {
            break
        }
        'm;daemon;help;install' {
            break
        }
        'm;daemon;help;uninstall' {
            break
        }
        'm;daemon;help;help' {
            break
        }
        'm;config' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('path', 'path', [CompletionResultType]::ParameterValue, 'Print the configuration file''s path (it need not exist)')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print every setting in effect and where it came from: default, file or env')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'm;config;path' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;config;show' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'One JSON document: {file, exists, settings: [{key, value, source, env?}], warnings}')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;config;help' {
            [CompletionResult]::new('path', 'path', [CompletionResultType]::ParameterValue, 'Print the configuration file''s path (it need not exist)')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print every setting in effect and where it came from: default, file or env')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'm;config;help;path' {
            break
        }
        'm;config;help;show' {
            break
        }
        'm;config;help;help' {
            break
        }
        'm;doctor' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'One JSON document: {ok, checks: [{name, status, detail, fix?}]}; status is ok, warn, fail or skip')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;completions' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;generate-docs' {
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'The directory that gets `completions/` and `man/` (the repository''s top)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;keeper' {
            [CompletionResult]::new('--control-fd', '--control-fd', [CompletionResultType]::ParameterName, 'The keeper''s end of its control socket, open in this process')
            [CompletionResult]::new('--grace-ms', '--grace-ms', [CompletionResultType]::ParameterName, 'How long the agent''s leftovers have between SIGTERM and SIGKILL')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'm;help' {
            [CompletionResult]::new('repo', 'repo', [CompletionResultType]::ParameterValue, 'Register, list and remove repositories agents work on')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Start, list, inspect and control runs')
            [CompletionResult]::new('events', 'events', [CompletionResultType]::ParameterValue, 'Print a run''s event log')
            [CompletionResult]::new('approvals', 'approvals', [CompletionResultType]::ParameterValue, 'List approvals (pending ones by default)')
            [CompletionResult]::new('approval', 'approval', [CompletionResultType]::ParameterValue, 'Inspect one approval')
            [CompletionResult]::new('approve', 'approve', [CompletionResultType]::ParameterValue, 'Approve a pending approval (by its id, or its run''s)')
            [CompletionResult]::new('reject', 'reject', [CompletionResultType]::ParameterValue, 'Reject a pending approval; the reason is passed to the agent')
            [CompletionResult]::new('reply', 'reply', [CompletionResultType]::ParameterValue, 'Answer a run that waits for input')
            [CompletionResult]::new('ask', 'ask', [CompletionResultType]::ParameterValue, 'From inside a run: ask a human for an approval or an answer')
            [CompletionResult]::new('device', 'device', [CompletionResultType]::ParameterValue, 'Register, list and remove phones that get notifications')
            [CompletionResult]::new('notify', 'notify', [CompletionResultType]::ParameterValue, 'Check notification delivery')
            [CompletionResult]::new('agents', 'agents', [CompletionResultType]::ParameterValue, 'The agents m can start by name, and whether each is installed')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'The daemon, active runs and pending approvals at a glance')
            [CompletionResult]::new('daemon', 'daemon', [CompletionResultType]::ParameterValue, 'Run, start, stop or check the background daemon that owns the agents')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Show where the configuration file is and the settings in effect')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check git, the config, the database, the socket, the daemon, the service, how runs'' processes are held, the agents and notifications; print the command that fixes each problem (exit 1 if any)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script (see README for where to put it)')
            [CompletionResult]::new('generate-docs', 'generate-docs', [CompletionResultType]::ParameterValue, 'Regenerate completions/ and man/ from this command line (maintainers)')
            [CompletionResult]::new('keeper', 'keeper', [CompletionResultType]::ParameterValue, 'The process between the daemon and a run''s agent (the daemon starts it)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'm;help;repo' {
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Register a git work tree (by path) or a remote repository (by URL), or with --scratch a repo without git (each run gets an empty directory)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List registered repositories')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove a repository (its runs too, with --force)')
            break
        }
        'm;help;repo;add' {
            break
        }
        'm;help;repo;list' {
            break
        }
        'm;help;repo;rm' {
            break
        }
        'm;help;run' {
            [CompletionResult]::new('start', 'start', [CompletionResultType]::ParameterValue, 'Start an agent on a repo, in a workspace of its own')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List runs, newest first')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one run in detail, with the approvals and questions it waits on')
            [CompletionResult]::new('cancel', 'cancel', [CompletionResultType]::ParameterValue, 'Stop a run''s agent, or take a queued run out of its queue; the run ends cancelled')
            [CompletionResult]::new('wait', 'wait', [CompletionResultType]::ParameterValue, 'Wait until a run needs a human or has ended (see exit codes)')
            [CompletionResult]::new('done', 'done', [CompletionResultType]::ParameterValue, 'End a conversational (ACP) run that waits for its next prompt')
            [CompletionResult]::new('diff', 'diff', [CompletionResultType]::ParameterValue, 'Show a run''s changes against where its branch started')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove finished runs, their workspaces and (if merged) their branches')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Remove finished runs (all, or those older than a duration, in a state, of a repo), as `m run rm` removes each')
            break
        }
        'm;help;run;start' {
            break
        }
        'm;help;run;list' {
            break
        }
        'm;help;run;show' {
            break
        }
        'm;help;run;cancel' {
            break
        }
        'm;help;run;wait' {
            break
        }
        'm;help;run;done' {
            break
        }
        'm;help;run;diff' {
            break
        }
        'm;help;run;rm' {
            break
        }
        'm;help;run;prune' {
            break
        }
        'm;help;events' {
            break
        }
        'm;help;approvals' {
            break
        }
        'm;help;approval' {
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show what an approval asks: the diff, the command, or the details')
            break
        }
        'm;help;approval;show' {
            break
        }
        'm;help;approve' {
            break
        }
        'm;help;reject' {
            break
        }
        'm;help;reply' {
            break
        }
        'm;help;ask' {
            [CompletionResult]::new('approval', 'approval', [CompletionResultType]::ParameterValue, 'Ask a human to approve something; wait for the decision')
            [CompletionResult]::new('input', 'input', [CompletionResultType]::ParameterValue, 'Ask a human a question; print the answer')
            break
        }
        'm;help;ask;approval' {
            break
        }
        'm;help;ask;input' {
            break
        }
        'm;help;device' {
            [CompletionResult]::new('pair', 'pair', [CompletionResultType]::ParameterValue, 'Pair a phone with the remote API: prints a QR code to scan with the m app (or a phone''s camera, for the phone page)')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Register a phone''s push token (from the m iOS app)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List registered devices')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Forget a device')
            break
        }
        'm;help;device;pair' {
            break
        }
        'm;help;device;add' {
            break
        }
        'm;help;device;list' {
            break
        }
        'm;help;device;rm' {
            break
        }
        'm;help;notify' {
            [CompletionResult]::new('test', 'test', [CompletionResultType]::ParameterValue, 'Send one test notification through every configured sink (each device, webhook and hook command) and print each result')
            break
        }
        'm;help;notify;test' {
            break
        }
        'm;help;agents' {
            break
        }
        'm;help;status' {
            break
        }
        'm;help;daemon' {
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run the daemon in the foreground (for systemd, launchd and debugging)')
            [CompletionResult]::new('start', 'start', [CompletionResultType]::ParameterValue, 'Start the daemon in the background, if it is not running')
            [CompletionResult]::new('stop', 'stop', [CompletionResultType]::ParameterValue, 'Stop the daemon; its active runs end as failed, saying why')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Say whether the daemon runs (exit 0) or not (exit 5)')
            [CompletionResult]::new('install', 'install', [CompletionResultType]::ParameterValue, 'Run the daemon as a user service: write a systemd unit (Linux) or a launchd agent (macOS) for this binary, and print how to enable it')
            [CompletionResult]::new('uninstall', 'uninstall', [CompletionResultType]::ParameterValue, 'Remove the file `m daemon install` wrote; commands start the daemon themselves again')
            break
        }
        'm;help;daemon;run' {
            break
        }
        'm;help;daemon;start' {
            break
        }
        'm;help;daemon;stop' {
            break
        }
        'm;help;daemon;status' {
            break
        }
        'm;help;daemon;install' {
            break
        }
        'm;help;daemon;uninstall' {
            break
        }
        'm;help;config' {
            [CompletionResult]::new('path', 'path', [CompletionResultType]::ParameterValue, 'Print the configuration file''s path (it need not exist)')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print every setting in effect and where it came from: default, file or env')
            break
        }
        'm;help;config;path' {
            break
        }
        'm;help;config;show' {
            break
        }
        'm;help;doctor' {
            break
        }
        'm;help;completions' {
            break
        }
        'm;help;generate-docs' {
            break
        }
        'm;help;keeper' {
            break
        }
        'm;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
