//! `airlock-claude-hook`: Claude Code's PreToolUse hook. Reads the hook payload on
//! stdin, checks a Bash call's command line against the built-in modules (plus
//! `--module FILE`), and prints the decision (see `airlock_shell::hook`).
//!
//! ```text
//! airlock-claude-hook [--module FILE]... [--allow-command NAME]... [--allow-env NAME]...
//!                     [--root DIR] [--ask]
//! ```
//!
//! Redirections must stay inside `--root`, else `$CLAUDE_PROJECT_DIR`, else the
//! payload's `cwd`. Bad arguments, an unreadable module or a malformed payload exit with
//! status 2 (which blocks the tool call) and the reason on stderr.

use std::io::{Read, Write};
use std::process::ExitCode;

use airlock_shell::ShellOptions;
use airlock_shell::hook::{MAX_PAYLOAD, Reply, judge_with_modules};

const USAGE: &str = "usage: airlock-claude-hook [--module FILE]... [--allow-command NAME]... [--allow-env NAME]... [--root DIR] [--ask]";

fn main() -> ExitCode {
    let reply = run();
    if let Some(out) = reply.stdout() {
        let mut stdout = std::io::stdout().lock();
        if writeln!(stdout, "{out}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            eprintln!("airlock: cannot write the decision");
            return ExitCode::from(2);
        }
    }
    if let Some(err) = reply.stderr() {
        eprintln!("{err}");
    }
    ExitCode::from(u8::try_from(reply.exit_code()).unwrap_or(2))
}

fn run() -> Reply {
    let mut options = ShellOptions::new();
    let mut modules = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .ok_or_else(|| Reply::Malformed(format!("`{flag}` needs a value; {USAGE}")))
        };
        let result = match arg.as_str() {
            "--module" => value("--module").and_then(|path| {
                std::fs::read_to_string(&path)
                    .map(|text| modules.push((path.clone(), text)))
                    .map_err(|e| Reply::Malformed(format!("cannot read module `{path}`: {e}")))
            }),
            "--allow-command" => value("--allow-command").map(|name| {
                options = options.clone().allow_command(name);
            }),
            "--allow-env" => value("--allow-env").map(|name| {
                options = options.clone().allow_env(name);
            }),
            "--root" => value("--root").map(|dir| {
                options = options.clone().root(dir);
            }),
            "--ask" => {
                options = options.clone().ask(true);
                Ok(())
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => Err(Reply::Malformed(format!(
                "unknown argument `{other}`; {USAGE}"
            ))),
        };
        if let Err(reply) = result {
            return reply;
        }
    }
    // Without --root, the project Claude Code runs in (it sets CLAUDE_PROJECT_DIR for
    // hooks); the payload's cwd follows the agent's `cd`s and is only the fallback.
    let project = std::env::var_os("CLAUDE_PROJECT_DIR");
    if let Some(dir) = project
        .as_deref()
        .and_then(|dir| dir.to_str())
        .filter(|dir| dir.starts_with('/') && options.root_dir().is_none())
    {
        options = options.root(dir);
    }
    let mut payload = String::new();
    let limit = u64::try_from(MAX_PAYLOAD + 1).unwrap_or(u64::MAX);
    if let Err(e) = std::io::stdin()
        .lock()
        .take(limit)
        .read_to_string(&mut payload)
    {
        return Reply::Malformed(format!("cannot read the hook payload: {e}"));
    }
    // Only the modules the line needs are compiled (every built-in took ~100 ms).
    judge_with_modules(&modules, &options, &payload)
}
