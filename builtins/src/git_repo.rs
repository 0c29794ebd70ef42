//! Which repository a git command works on, and what in it git would run: the two
//! helpers the daemon needs for the checks it makes outside the module's rules.
//!
//! - [`git_location_args`]: the global options in an argv that choose the repository
//!   (`-C`, `--git-dir`, `--work-tree`, `--bare`, `--namespace`), so the daemon checks
//!   the repository git will really use (`git -C sub status` reads `sub/.git/config`).
//! - [`git_todo_risks`]: the lines of a rebase todo list (`$GIT_DIR/rebase-merge/
//!   git-rebase-todo`) that are not known, program-free sequencer commands. An agent
//!   that can write `.git/` can plant `exec make` there, and `git rebase --continue`
//!   runs it through the shell on the host.

/// The global options of `args` (a git argv without the program name) that choose
/// the repository or work tree, in order, each option with its value. Reading stops at
/// the first word that is not a global option (the subcommand). git reads its global
/// options exactly (no abbreviations): see `handle_options` in git.c.
pub fn git_location_args(args: &[String]) -> Vec<String> {
    let mut picked = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "-C" | "--git-dir" | "--work-tree" | "--namespace" => {
                let Some(value) = words.next() else { break };
                picked.push(word.clone());
                picked.push(value.clone());
            }
            "--bare" => picked.push(word.clone()),
            // Global options with a value that does not locate the repository.
            "-c" | "--config-env" => {
                if words.next().is_none() {
                    break;
                }
            }
            other
                if ["--git-dir=", "--work-tree=", "--namespace="]
                    .iter()
                    .any(|prefix| other.starts_with(prefix)) =>
            {
                picked.push(word.clone());
            }
            other if other.starts_with('-') => {}
            _ => break,
        }
    }
    picked
}

/// Sequencer commands that run no program (long and short forms), from git's
/// `todo_command_info`: everything else in a todo list is refused, `exec`/`x` first.
const PROGRAM_FREE: &[&str] = &[
    "pick",
    "p",
    "revert",
    "edit",
    "e",
    "reword",
    "r",
    "fixup",
    "f",
    "squash",
    "s",
    "break",
    "b",
    "label",
    "l",
    "reset",
    "t",
    "merge",
    "m",
    "update-ref",
    "u",
    "noop",
    "drop",
    "d",
];

/// The lines of a rebase todo list that are not blank, not comments and do not start
/// with a program-free sequencer command: `exec` and `x` lines, and anything git
/// might read in a way this check does not know.
pub fn git_todo_risks(todo: &str) -> Vec<&str> {
    todo.lines()
        .map(|line| line.trim_start_matches([' ', '\t']))
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter(|line| {
            let word = line.split([' ', '\t', '\r']).next().unwrap_or("");
            !PROGRAM_FREE.contains(&word)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn location_options_are_picked_until_the_subcommand() {
        assert_eq!(
            git_location_args(&args(&[
                "-C",
                "sub",
                "--no-pager",
                "--git-dir=x/.git",
                "--work-tree",
                "x",
                "status",
                "-C",
                "ignored"
            ])),
            args(&["-C", "sub", "--git-dir=x/.git", "--work-tree", "x"])
        );
        assert_eq!(
            git_location_args(&args(&["-c", "-C", "status"])),
            Vec::<String>::new(),
            "the value of -c is not an option"
        );
        assert_eq!(
            git_location_args(&args(&["--bare", "--namespace=n", "log"])),
            args(&["--bare", "--namespace=n"])
        );
        assert!(git_location_args(&args(&["status", "-C", "x"])).is_empty());
        assert_eq!(
            git_location_args(&args(&["-C"])),
            Vec::<String>::new(),
            "a cut-off option picks nothing"
        );
    }

    #[test]
    fn todo_lists_with_programs_are_found() {
        let todo = "pick 1234 one\n# exec not this\nexec touch /tmp/pwned\n  x make\n\tfixup 5 two\nlabel onto\n\nmerge -C 6 topic\n";
        assert_eq!(git_todo_risks(todo), ["exec touch /tmp/pwned", "x make"]);
        assert!(git_todo_risks("pick 1 a\nbreak\nupdate-ref refs/heads/x\r\n").is_empty());
        // Unknown words are refused too: only what is known to run nothing passes.
        assert_eq!(
            git_todo_risks("execute 1\nEXEC x\n"),
            ["execute 1", "EXEC x"]
        );
    }
}
