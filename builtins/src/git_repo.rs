//! Which repository a git command works on, and what in it git would run: the two
//! helpers the daemon needs for the checks it makes outside the module's rules.
//!
//! - [`git_location_args`]: the global options in an argv that choose the repository
//!   (`-C`, `--git-dir`, `--work-tree`, `--bare`, `--namespace`), so the daemon checks
//!   the repository git will really use (`git -C sub status` reads `sub/.git/config`).
//!   They come from the engine's reading of the argv with the built-in git module, the
//!   same reading its rules judge: no second parser of git's options.
//! - [`git_todo_risks`]: the lines of a rebase todo list (`$GIT_DIR/rebase-merge/
//!   git-rebase-todo`) that are not known, program-free sequencer commands. An agent
//!   that can write `.git/` can plant `exec make` there, and `git rebase --continue`
//!   runs it through the shell on the host.

use std::fmt;
use std::sync::OnceLock;

use airlock_policy::{CompileError, Module, Reading, Unreadable};

/// The global options that choose the repository or work tree.
const LOCATION_OPTIONS: [&str; 5] = ["-C", "--git-dir", "--work-tree", "--bare", "--namespace"];

/// Why [`git_location_args`] has no answer. The daemon refuses the command: git would
/// not run it the way it was checked, or could run it more than one way.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GitLocationError {
    /// The built-in git module cannot read the argv (an ambiguous abbreviation, too
    /// many plausible readings).
    Unreadable(Unreadable),
    /// Plausible readings of the argv disagree on the options that choose the
    /// repository (an undeclared global option that may take the next word).
    Ambiguous,
    /// The built-in git module does not compile: a bug of this crate.
    Module(CompileError),
}

impl fmt::Display for GitLocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitLocationError::Unreadable(why) => write!(f, "cannot read the git argv: {why}"),
            GitLocationError::Ambiguous => f.write_str(
                "the git argv can be read more than one way where it chooses the repository",
            ),
            GitLocationError::Module(e) => {
                write!(f, "the built-in git module does not compile: {e}")
            }
        }
    }
}

impl std::error::Error for GitLocationError {}

/// The built-in git module, compiled once.
pub(crate) fn git_module() -> Result<&'static Module, GitLocationError> {
    static GIT: OnceLock<Result<Module, CompileError>> = OnceLock::new();
    crate::cached(&GIT, "git").map_err(|e| GitLocationError::Module(e.clone()))
}

/// The global options of `args` (a git argv without the program name) that choose
/// the repository or work tree, in order, each with its value, as arguments to give
/// git: `-C DIR` as two arguments, `--git-dir=DIR`, `--work-tree=DIR`,
/// `--namespace=NAME`, `--bare`.
///
/// They are read with the built-in git module's `[syntax]`, exactly as its rules read
/// them: `git --attr-source HEAD -C sub status` works in `sub`, `git status -C x` has
/// no global `-C`. Every plausible reading is considered; when they disagree on these
/// options the answer is [`GitLocationError::Ambiguous`] (fail-safe: the caller must
/// not guess). A value option cut off at the end of the argv picks nothing (git
/// refuses it).
///
/// ```
/// let args = ["--attr-source", "HEAD", "-C", "sub", "--git-dir=.git", "status"];
/// assert_eq!(
///     airlock_builtins::git_location_args(&args).unwrap(),
///     ["-C", "sub", "--git-dir=.git"]
/// );
/// ```
pub fn git_location_args<S: AsRef<str>>(args: &[S]) -> Result<Vec<String>, GitLocationError> {
    let module = git_module()?;
    let readings = module
        .readings(args)
        .map_err(GitLocationError::Unreadable)?;
    let mut location: Option<Vec<String>> = None;
    for reading in &readings {
        let picked = location_of(reading);
        match &location {
            None => location = Some(picked),
            Some(seen) if *seen == picked => {}
            Some(_) => return Err(GitLocationError::Ambiguous),
        }
    }
    Ok(location.unwrap_or_default())
}

/// The subcommand of a git argv and its index in `args`, as the built-in git module
/// reads it (`None` when there is none: `git --version`). The same fail-safe as
/// [`git_location_args`]: readings that disagree are [`GitLocationError::Ambiguous`].
///
/// ```
/// let args = ["-C", "sub", "--attr-source", "HEAD", "st", "main"];
/// assert_eq!(airlock_builtins::git_subcommand(&args).unwrap(), Some((4, "st".to_owned())));
/// ```
pub fn git_subcommand<S: AsRef<str>>(
    args: &[S],
) -> Result<Option<(usize, String)>, GitLocationError> {
    let module = git_module()?;
    let readings = module
        .readings(args)
        .map_err(GitLocationError::Unreadable)?;
    let mut found: Option<Option<(usize, String)>> = None;
    for reading in &readings {
        let first = reading
            .path_words()
            .next()
            .map(|w| (w.index(), w.text().to_owned()));
        match &found {
            None => found = Some(first),
            Some(seen) if *seen == first => {}
            Some(_) => return Err(GitLocationError::Ambiguous),
        }
    }
    Ok(found.flatten())
}

/// The location options of one reading, as arguments.
fn location_of(reading: &Reading<'_, '_>) -> Vec<String> {
    let mut picked = Vec::new();
    for opt in reading.options() {
        if !opt.is_global() || !opt.is_declared() {
            continue;
        }
        let Some(name) = LOCATION_OPTIONS.iter().find(|n| opt.is(n)) else {
            continue;
        };
        match (*name, opt.value()) {
            ("--bare", _) => picked.push("--bare".to_owned()),
            ("-C", Some(dir)) => picked.extend(["-C".to_owned(), dir.to_owned()]),
            (_, Some(value)) => picked.push(format!("{name}={value}")),
            (_, None) => {}
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
                "commit",
                "-C",
                "HEAD"
            ]))
            .unwrap(),
            args(&["-C", "sub", "--git-dir=x/.git", "--work-tree=x"])
        );
        assert_eq!(
            git_location_args(&args(&["-c", "-C", "status"])).unwrap(),
            Vec::<String>::new(),
            "the value of -c is not an option"
        );
        assert_eq!(
            git_location_args(&args(&["--bare", "--namespace=n", "log"])).unwrap(),
            args(&["--bare", "--namespace=n"])
        );
        assert!(
            git_location_args(&args(&["commit", "-C", "x"]))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            git_location_args(&args(&["-C"])).unwrap(),
            Vec::<String>::new(),
            "a cut-off option picks nothing"
        );
    }

    #[test]
    fn the_old_parser_s_blind_spots_are_read_like_git() {
        // The hand-written parser this replaces stopped at `HEAD`: git 2.47 runs
        // `git --attr-source HEAD -C sub status` in `sub` (checked with
        // `git --attr-source HEAD -C sub rev-parse --show-prefix`, which prints `sub/`).
        assert_eq!(
            git_location_args(&args(&["--attr-source", "HEAD", "-C", "sub", "st"])).unwrap(),
            args(&["-C", "sub"])
        );
        assert_eq!(
            git_location_args(&args(&["-p", "-C", "a", "-C", "b", "status"])).unwrap(),
            args(&["-C", "a", "-C", "b"]),
            "every -C, in order (git -C a -C b works in a/b)"
        );
        assert_eq!(
            git_location_args(&args(&["--config-env", "a.b=HOME", "-C", "s", "log"])).unwrap(),
            args(&["-C", "s"])
        );
    }

    #[test]
    fn disagreeing_readings_are_refused() {
        // `--frob` is not a git option: it may take `x` (then `-C y` is global) or not
        // (then `x` is the subcommand and `-C y` its option). git itself refuses it.
        // The built-in declares every option it reads (`undeclared = "deny"`), so an
        // undeclared one makes the argv unreadable before readings could disagree.
        assert!(matches!(
            git_location_args(&args(&["--frob", "x", "-C", "y", "status"])),
            Err(GitLocationError::Unreadable(_))
        ));
        assert!(matches!(
            git_location_args(&args(&["-C", "y", "log", "--frob", "x"])),
            Err(GitLocationError::Unreadable(_))
        ));
        assert!(matches!(
            git_location_args(&args(&["fetch", "--up=x"])),
            Err(GitLocationError::Unreadable(_))
        ));
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
