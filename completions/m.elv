
use builtin;
use str;

set edit:completion:arg-completer[m] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'm'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'m'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand repo 'Register, list and remove repositories agents work on'
            cand run 'Start, list, inspect and control runs'
            cand events 'Print a run''s event log'
            cand approvals 'List approvals (pending ones by default)'
            cand approval 'Inspect one approval'
            cand approve 'Approve a pending approval (by its id, or its run''s)'
            cand reject 'Reject a pending approval; the reason is passed to the agent'
            cand reply 'Answer a run that waits for input'
            cand ask 'From inside a run: ask a human for an approval or an answer'
            cand device 'Register, list and remove phones that get notifications'
            cand notify 'Check notification delivery'
            cand agents 'The agents m can start by name, and whether each is installed'
            cand status 'The daemon, active runs and pending approvals at a glance'
            cand daemon 'Run, start, stop or check the background daemon that owns the agents'
            cand config 'Show where the configuration file is and the settings in effect'
            cand doctor 'Check git, the config, the database, the socket, the daemon, the service, how runs'' processes are held, the agents and notifications; print the command that fixes each problem (exit 1 if any)'
            cand completions 'Print a shell completion script (see README for where to put it)'
            cand generate-docs 'Regenerate completions/ and man/ from this command line (maintainers)'
            cand keeper 'The process between the daemon and a run''s agent (the daemon starts it)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'m;repo'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand add 'Register a git work tree (by path) or a remote repository (by URL), or with --scratch a repo without git (each run gets an empty directory)'
            cand list 'List registered repositories'
            cand rm 'Remove a repository (its runs too, with --force)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'m;repo;add'= {
            cand --name 'The name runs refer to it by [default: the directory or repository name]'
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand --scratch 'A repo without git: each run works in an empty directory of its own, with no branch and no diff (for agents that need no code)'
            cand --json 'Print the repo as JSON instead of a line'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;repo;list'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand --json 'A JSON list of the repos'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;repo;rm'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand --force 'Also remove its past runs: their events, approvals and workspaces (and branches holding nothing unmerged). Nothing is removed while a workspace holds work its branch lacks'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;repo;help'= {
            cand add 'Register a git work tree (by path) or a remote repository (by URL), or with --scratch a repo without git (each run gets an empty directory)'
            cand list 'List registered repositories'
            cand rm 'Remove a repository (its runs too, with --force)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'m;repo;help;add'= {
        }
        &'m;repo;help;list'= {
        }
        &'m;repo;help;rm'= {
        }
        &'m;repo;help;help'= {
        }
        &'m;run'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand start 'Start an agent on a repo, in a workspace of its own'
            cand list 'List runs, newest first'
            cand show 'Show one run in detail, with the approvals and questions it waits on'
            cand cancel 'Stop a run''s agent, or take a queued run out of its queue; the run ends cancelled'
            cand wait 'Wait until a run needs a human or has ended (see exit codes)'
            cand done 'End a conversational (ACP) run that waits for its next prompt'
            cand diff 'Show a run''s changes against where its branch started'
            cand rm 'Remove finished runs, their workspaces and (if merged) their branches'
            cand prune 'Remove finished runs (all, or those older than a duration, in a state, of a repo), as `m run rm` removes each'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'m;run;start'= {
            cand -r 'The repo to work on (name or id prefix)'
            cand --repo 'The repo to work on (name or id prefix)'
            cand --base 'Start the run''s branch from this ref instead of HEAD (git repos; a scratch repo has no branch)'
            cand --auto-approve 'Approve requests of this type without asking (repeatable): command, diff, generic. Added to `approvals.auto_approve` from the config'
            cand --allow 'Approve commands starting with these words without asking (repeatable), e.g. --allow "cargo test". A command line with shell syntax (`&&`, `;`, `|`, `$(...)`, redirections, globs...) is never approved this way. Added to `approvals.allow_commands` from the config'
            cand -a 'Run a known agent over the Agent Client Protocol (see `m agents`): claude, codex, gemini, opencode, goose, qwen'
            cand --agent 'Run a known agent over the Agent Client Protocol (see `m agents`): claude, codex, gemini, opencode, goose, qwen'
            cand --timeout 'Cancel the run when it has run this long (90s, 30m, 2h, 1d), saying "time limit 2h reached"; the default is `run.timeout` in the config. Time spent waiting for a human counts, unless --timeout-excludes-waiting'
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand --review 'When the agent finishes well, hold the run for a human to approve its diff (the default when `run.review = true` in the config). A run that changed nothing completes without review. A scratch repo has no diff: --review is refused there, and the config''s default does not apply'
            cand --no-review 'Do not hold the run for review, whatever the config says'
            cand -f 'Print the run''s events until it ends; exit with its final state''s code. With --json, the events as JSON lines (as `m events --follow --json`), and nothing else'
            cand --follow 'Print the run''s events until it ends; exit with its final state''s code. With --json, the events as JSON lines (as `m events --follow --json`), and nothing else'
            cand --wait 'Return when the run needs a human or has ended, with an exit code that says which (0 completed, 10 failed, 11 cancelled, 12 waiting for approval, 13 waiting for input). A run that failed or was cancelled says why on stderr'
            cand --json 'Print the run as JSON instead of its id (with --wait, as it stands when the wait ends)'
            cand --acp 'The command after `--` speaks the Agent Client Protocol'
            cand --once 'ACP agents (--agent or --acp): complete at the first end of turn instead of waiting for a reply'
            cand --timeout-excludes-waiting 'Time spent waiting for an approval or an answer does not count towards --timeout'
            cand --queue 'When the repo has an active run, queue this one behind it (it starts when the runs before it have ended) instead of refusing it (exit 4). The default when `run.on_busy = "queue"` in the config'
            cand --no-queue 'Refuse the run (exit 4) when the repo has an active run, whatever the config says'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;run;list'= {
            cand -r 'Only runs of this repo (name or id prefix)'
            cand --repo 'Only runs of this repo (name or id prefix)'
            cand --state 'Only runs in this state (repeatable); `active` means running or waiting for a human, `queued` waiting in the repo''s queue'
            cand -n 'At most this many runs'
            cand --limit 'At most this many runs'
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand --json 'A JSON list of runs, each as `m run show --json` prints it'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;run;show'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand --json 'The run as one JSON object (README "Scripting" lists its fields)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;run;cancel'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;run;wait'= {
            cand --timeout 'Give up after this long (e.g. 90s, 10m, 2h; a bare number is seconds) and exit 124, as `timeout` does; the run goes on'
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;run;done'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;run;diff'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand --stat 'Only the summary of changed files'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;run;rm'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;run;prune'= {
            cand --older-than 'Only runs that ended at least this long ago (e.g. 7d, 12h, 30m)'
            cand --state 'Only runs in this final state (repeatable): completed, failed, cancelled'
            cand -r 'Only runs of this repo (name or id prefix)'
            cand --repo 'Only runs of this repo (name or id prefix)'
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;run;help'= {
            cand start 'Start an agent on a repo, in a workspace of its own'
            cand list 'List runs, newest first'
            cand show 'Show one run in detail, with the approvals and questions it waits on'
            cand cancel 'Stop a run''s agent, or take a queued run out of its queue; the run ends cancelled'
            cand wait 'Wait until a run needs a human or has ended (see exit codes)'
            cand done 'End a conversational (ACP) run that waits for its next prompt'
            cand diff 'Show a run''s changes against where its branch started'
            cand rm 'Remove finished runs, their workspaces and (if merged) their branches'
            cand prune 'Remove finished runs (all, or those older than a duration, in a state, of a repo), as `m run rm` removes each'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'m;run;help;start'= {
        }
        &'m;run;help;list'= {
        }
        &'m;run;help;show'= {
        }
        &'m;run;help;cancel'= {
        }
        &'m;run;help;wait'= {
        }
        &'m;run;help;done'= {
        }
        &'m;run;help;diff'= {
        }
        &'m;run;help;rm'= {
        }
        &'m;run;help;prune'= {
        }
        &'m;run;help;help'= {
        }
        &'m;events'= {
            cand --since 'Only events after this sequence number (to resume exactly)'
            cand --type 'Only events of this type (repeatable), e.g. `--type output`'
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand --all 'Follow every run''s live events (with --follow)'
            cand -f 'Keep printing events as they happen; exit when the run ends, with a code that says how (0 completed, 10 failed, 11 cancelled)'
            cand --follow 'Keep printing events as they happen; exit when the run ends, with a code that says how (0 completed, 10 failed, 11 cancelled)'
            cand --json 'One JSON object per line'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;approvals'= {
            cand --run 'Only this run''s approvals (id prefix)'
            cand --state 'Which approvals: pending, approved, rejected or all'
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand --json 'A JSON list of {id, run_id, event_id, type, state, payload, rejection_reason, created_at, resolved_at}'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;approval'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand show 'Show what an approval asks: the diff, the command, or the details'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'m;approval;show'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand --json 'The approval as one JSON object, as `m approvals --json` lists it'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;approval;help'= {
            cand show 'Show what an approval asks: the diff, the command, or the details'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'m;approval;help;show'= {
        }
        &'m;approval;help;help'= {
        }
        &'m;approve'= {
            cand --hash 'Approve only if the approval is still exactly this (its content hash, as `m approval show` prints it); otherwise exit 4, deciding nothing'
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand --always 'Also allow this kind of action for the rest of the run, where the agent offers it'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;reject'= {
            cand -m 'Why: the agent is told'
            cand --reason 'Why: the agent is told'
            cand --hash 'Reject only if the approval is still exactly this (its content hash, as `m approval show` prints it); otherwise exit 4, deciding nothing'
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;reply'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;ask'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand approval 'Ask a human to approve something; wait for the decision'
            cand input 'Ask a human a question; print the answer'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'m;ask;approval'= {
            cand --type 'What is to be approved: `command` (the command after `--`, or --payload), `diff` (a unified diff on stdin or in --diff-file), or `generic` (--title and --details)'
            cand --title 'A one-line title for the human'
            cand --details 'More text for a generic approval'
            cand --payload 'The whole payload as JSON (`-` reads stdin); for `diff`, a unified diff is read from stdin or from --diff-file instead'
            cand --diff-file 'For `diff`: the file holding the unified diff (default: stdin)'
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;ask;input'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;ask;help'= {
            cand approval 'Ask a human to approve something; wait for the decision'
            cand input 'Ask a human a question; print the answer'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'m;ask;help;approval'= {
        }
        &'m;ask;help;input'= {
        }
        &'m;ask;help;help'= {
        }
        &'m;device'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand pair 'Pair a phone with the remote API: prints a QR code to scan with the m app (or a phone''s camera, for the phone page)'
            cand add 'Register a phone''s push token (from the m iOS app)'
            cand list 'List registered devices'
            cand rm 'Forget a device'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'m;device;pair'= {
            cand --name 'The device''s name (default: the name the phone gives)'
            cand --scope 'What the device may do: read (see runs and approvals), decide (approve, reject, reply), control (start and cancel runs)'
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand --json 'Print {url, code, fingerprint, expires_at, scopes} instead of the QR code'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;device;add'= {
            cand --platform 'platform'
            cand --env 'The APNs environment: `sandbox` for apps run from Xcode, `production` for TestFlight and App Store builds'
            cand --name 'A name to tell your devices apart (and to remove one by: `m device rm NAME`); no two devices share one'
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;device;list'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand --json 'A JSON list of the phones'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;device;rm'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;device;help'= {
            cand pair 'Pair a phone with the remote API: prints a QR code to scan with the m app (or a phone''s camera, for the phone page)'
            cand add 'Register a phone''s push token (from the m iOS app)'
            cand list 'List registered devices'
            cand rm 'Forget a device'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'m;device;help;pair'= {
        }
        &'m;device;help;add'= {
        }
        &'m;device;help;list'= {
        }
        &'m;device;help;rm'= {
        }
        &'m;device;help;help'= {
        }
        &'m;notify'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand test 'Send one test notification through every configured sink (each device, webhook and hook command) and print each result'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'m;notify;test'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;notify;help'= {
            cand test 'Send one test notification through every configured sink (each device, webhook and hook command) and print each result'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'m;notify;help;test'= {
        }
        &'m;notify;help;help'= {
        }
        &'m;agents'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand --json 'A JSON list of {name, command, installed, path, install, about}'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;status'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand --json 'One JSON document: {daemon (null when not running; with uptime_seconds and notifications), socket, service (null when not installed), notifications {source: daemon|config, health}, active_runs, pending_approvals}'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;daemon'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand run 'Run the daemon in the foreground (for systemd, launchd and debugging)'
            cand start 'Start the daemon in the background, if it is not running'
            cand stop 'Stop the daemon; its active runs end as failed, saying why'
            cand status 'Say whether the daemon runs (exit 0) or not (exit 5)'
            cand install 'Run the daemon as a user service: write a systemd unit (Linux) or a launchd agent (macOS) for this binary, and print how to enable it'
            cand uninstall 'Remove the file `m daemon install` wrote; commands start the daemon themselves again'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'m;daemon;run'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;daemon;start'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;daemon;stop'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;daemon;status'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand --json 'One JSON document: {running, daemon}, daemon being null or as in `m status --json`'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;daemon;install'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;daemon;uninstall'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;daemon;help'= {
            cand run 'Run the daemon in the foreground (for systemd, launchd and debugging)'
            cand start 'Start the daemon in the background, if it is not running'
            cand stop 'Stop the daemon; its active runs end as failed, saying why'
            cand status 'Say whether the daemon runs (exit 0) or not (exit 5)'
            cand install 'Run the daemon as a user service: write a systemd unit (Linux) or a launchd agent (macOS) for this binary, and print how to enable it'
            cand uninstall 'Remove the file `m daemon install` wrote; commands start the daemon themselves again'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'m;daemon;help;run'= {
        }
        &'m;daemon;help;start'= {
        }
        &'m;daemon;help;stop'= {
        }
        &'m;daemon;help;status'= {
        }
        &'m;daemon;help;install'= {
        }
        &'m;daemon;help;uninstall'= {
        }
        &'m;daemon;help;help'= {
        }
        &'m;config'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand path 'Print the configuration file''s path (it need not exist)'
            cand show 'Print every setting in effect and where it came from: default, file or env'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'m;config;path'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;config;show'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand --json 'One JSON document: {file, exists, settings: [{key, value, source, env?}], warnings}'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;config;help'= {
            cand path 'Print the configuration file''s path (it need not exist)'
            cand show 'Print every setting in effect and where it came from: default, file or env'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'m;config;help;path'= {
        }
        &'m;config;help;show'= {
        }
        &'m;config;help;help'= {
        }
        &'m;doctor'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand --json 'One JSON document: {ok, checks: [{name, status, detail, fix?}]}; status is ok, warn, fail or skip'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;completions'= {
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;generate-docs'= {
            cand --out 'The directory that gets `completions/` and `man/` (the repository''s top)'
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;keeper'= {
            cand --control-fd 'The keeper''s end of its control socket, open in this process'
            cand --grace-ms 'How long the agent''s leftovers have between SIGTERM and SIGKILL'
            cand --color 'When to use colours (NO_COLOR is honoured by `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'m;help'= {
            cand repo 'Register, list and remove repositories agents work on'
            cand run 'Start, list, inspect and control runs'
            cand events 'Print a run''s event log'
            cand approvals 'List approvals (pending ones by default)'
            cand approval 'Inspect one approval'
            cand approve 'Approve a pending approval (by its id, or its run''s)'
            cand reject 'Reject a pending approval; the reason is passed to the agent'
            cand reply 'Answer a run that waits for input'
            cand ask 'From inside a run: ask a human for an approval or an answer'
            cand device 'Register, list and remove phones that get notifications'
            cand notify 'Check notification delivery'
            cand agents 'The agents m can start by name, and whether each is installed'
            cand status 'The daemon, active runs and pending approvals at a glance'
            cand daemon 'Run, start, stop or check the background daemon that owns the agents'
            cand config 'Show where the configuration file is and the settings in effect'
            cand doctor 'Check git, the config, the database, the socket, the daemon, the service, how runs'' processes are held, the agents and notifications; print the command that fixes each problem (exit 1 if any)'
            cand completions 'Print a shell completion script (see README for where to put it)'
            cand generate-docs 'Regenerate completions/ and man/ from this command line (maintainers)'
            cand keeper 'The process between the daemon and a run''s agent (the daemon starts it)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'m;help;repo'= {
            cand add 'Register a git work tree (by path) or a remote repository (by URL), or with --scratch a repo without git (each run gets an empty directory)'
            cand list 'List registered repositories'
            cand rm 'Remove a repository (its runs too, with --force)'
        }
        &'m;help;repo;add'= {
        }
        &'m;help;repo;list'= {
        }
        &'m;help;repo;rm'= {
        }
        &'m;help;run'= {
            cand start 'Start an agent on a repo, in a workspace of its own'
            cand list 'List runs, newest first'
            cand show 'Show one run in detail, with the approvals and questions it waits on'
            cand cancel 'Stop a run''s agent, or take a queued run out of its queue; the run ends cancelled'
            cand wait 'Wait until a run needs a human or has ended (see exit codes)'
            cand done 'End a conversational (ACP) run that waits for its next prompt'
            cand diff 'Show a run''s changes against where its branch started'
            cand rm 'Remove finished runs, their workspaces and (if merged) their branches'
            cand prune 'Remove finished runs (all, or those older than a duration, in a state, of a repo), as `m run rm` removes each'
        }
        &'m;help;run;start'= {
        }
        &'m;help;run;list'= {
        }
        &'m;help;run;show'= {
        }
        &'m;help;run;cancel'= {
        }
        &'m;help;run;wait'= {
        }
        &'m;help;run;done'= {
        }
        &'m;help;run;diff'= {
        }
        &'m;help;run;rm'= {
        }
        &'m;help;run;prune'= {
        }
        &'m;help;events'= {
        }
        &'m;help;approvals'= {
        }
        &'m;help;approval'= {
            cand show 'Show what an approval asks: the diff, the command, or the details'
        }
        &'m;help;approval;show'= {
        }
        &'m;help;approve'= {
        }
        &'m;help;reject'= {
        }
        &'m;help;reply'= {
        }
        &'m;help;ask'= {
            cand approval 'Ask a human to approve something; wait for the decision'
            cand input 'Ask a human a question; print the answer'
        }
        &'m;help;ask;approval'= {
        }
        &'m;help;ask;input'= {
        }
        &'m;help;device'= {
            cand pair 'Pair a phone with the remote API: prints a QR code to scan with the m app (or a phone''s camera, for the phone page)'
            cand add 'Register a phone''s push token (from the m iOS app)'
            cand list 'List registered devices'
            cand rm 'Forget a device'
        }
        &'m;help;device;pair'= {
        }
        &'m;help;device;add'= {
        }
        &'m;help;device;list'= {
        }
        &'m;help;device;rm'= {
        }
        &'m;help;notify'= {
            cand test 'Send one test notification through every configured sink (each device, webhook and hook command) and print each result'
        }
        &'m;help;notify;test'= {
        }
        &'m;help;agents'= {
        }
        &'m;help;status'= {
        }
        &'m;help;daemon'= {
            cand run 'Run the daemon in the foreground (for systemd, launchd and debugging)'
            cand start 'Start the daemon in the background, if it is not running'
            cand stop 'Stop the daemon; its active runs end as failed, saying why'
            cand status 'Say whether the daemon runs (exit 0) or not (exit 5)'
            cand install 'Run the daemon as a user service: write a systemd unit (Linux) or a launchd agent (macOS) for this binary, and print how to enable it'
            cand uninstall 'Remove the file `m daemon install` wrote; commands start the daemon themselves again'
        }
        &'m;help;daemon;run'= {
        }
        &'m;help;daemon;start'= {
        }
        &'m;help;daemon;stop'= {
        }
        &'m;help;daemon;status'= {
        }
        &'m;help;daemon;install'= {
        }
        &'m;help;daemon;uninstall'= {
        }
        &'m;help;config'= {
            cand path 'Print the configuration file''s path (it need not exist)'
            cand show 'Print every setting in effect and where it came from: default, file or env'
        }
        &'m;help;config;path'= {
        }
        &'m;help;config;show'= {
        }
        &'m;help;doctor'= {
        }
        &'m;help;completions'= {
        }
        &'m;help;generate-docs'= {
        }
        &'m;help;keeper'= {
        }
        &'m;help;help'= {
        }
    ]
    $completions[$command]
}
