//! What the caller decides: which plain commands are fine, where redirections may
//! write, whether the unknowable is refused or asked about, and the input bounds.

use std::collections::BTreeSet;

/// The longest line [`check_line`](crate::check_line) reads by default (64 KiB).
pub const DEFAULT_MAX_LEN: usize = 64 * 1024;

/// How deeply constructs may nest by default (subshells, groups, substitutions).
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// Options for [`check_line`](crate::check_line). Built with chained calls:
///
/// ```
/// use airlock_shell::ShellOptions;
/// let options = ShellOptions::new()
///     .allow_commands(["ls", "cat", "echo", "grep", "cd"])
///     .root("/work/repo")
///     .ask(true);
/// assert!(options.is_allowed_command("ls"));
/// ```
#[derive(Debug, Clone)]
pub struct ShellOptions {
    allowed_commands: BTreeSet<String>,
    allowed_env: BTreeSet<String>,
    root: Option<String>,
    cwd: Option<String>,
    ask: bool,
    max_len: usize,
    max_depth: usize,
}

impl Default for ShellOptions {
    fn default() -> Self {
        ShellOptions {
            allowed_commands: BTreeSet::new(),
            allowed_env: BTreeSet::new(),
            root: None,
            cwd: None,
            ask: false,
            max_len: DEFAULT_MAX_LEN,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

impl ShellOptions {
    /// Options that allow no plain command, no redirection to a file, and refuse
    /// (rather than ask about) what cannot be known.
    pub fn new() -> Self {
        Self::default()
    }

    /// A command without a policy module that may run with any arguments (`ls`,
    /// `cat`, `echo`). A command with a module is always judged by its module.
    /// Wrappers that run other programs (`sudo`, `xargs`, `sh`, `eval`, ...) are
    /// refused even when named here.
    pub fn allow_command(mut self, name: impl Into<String>) -> Self {
        self.allowed_commands.insert(name.into());
        self
    }

    /// Several plain commands at once; see [`ShellOptions::allow_command`].
    pub fn allow_commands<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_commands
            .extend(names.into_iter().map(Into::into));
        self
    }

    /// An environment variable that may be assigned (`NAME=value cmd`, `env NAME=value
    /// cmd`, or a bare `NAME=value`). Any other assignment is refused: the environment
    /// can make a checked tool run programs (`GIT_SSH_COMMAND`, `LD_PRELOAD`, `PATH`).
    pub fn allow_env(mut self, name: impl Into<String>) -> Self {
        self.allowed_env.insert(name.into());
        self
    }

    /// The directory redirections must stay inside (`> out.txt`, `2> log`). Without a
    /// root every redirection to a file is refused; `/dev/null`, `/dev/stdout`,
    /// `/dev/stderr` and duplications such as `2>&1` are always fine.
    pub fn root(mut self, dir: impl Into<String>) -> Self {
        self.root = Some(dir.into());
        self
    }

    /// The directory the line starts in, against which relative redirection targets
    /// resolve (default: the root).
    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Three outcomes: what cannot be known before running (substitutions, variables,
    /// wrappers, unknown commands) becomes [`Outcome::Ask`](crate::Outcome::Ask)
    /// instead of a deny. A module's deny and an unreadable line stay denies.
    pub fn ask(mut self, ask: bool) -> Self {
        self.ask = ask;
        self
    }

    /// The longest line read, in bytes; a longer one is denied unread.
    pub fn max_len(mut self, bytes: usize) -> Self {
        self.max_len = bytes;
        self
    }

    /// How deeply subshells, groups and substitutions may nest; deeper is denied.
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Whether `name` is an allowed plain command.
    pub fn is_allowed_command(&self, name: &str) -> bool {
        self.allowed_commands.contains(name)
    }

    /// Whether the environment variable `name` may be assigned.
    pub fn is_allowed_env(&self, name: &str) -> bool {
        self.allowed_env.contains(name)
    }

    /// The root redirections must stay inside.
    pub fn root_dir(&self) -> Option<&str> {
        self.root.as_deref()
    }

    /// The starting directory (or the root).
    pub fn cwd_dir(&self) -> Option<&str> {
        self.cwd.as_deref().or(self.root.as_deref())
    }

    /// Whether the caller wants three outcomes.
    pub fn asks(&self) -> bool {
        self.ask
    }

    /// The longest line read, in bytes.
    pub fn max_len_bytes(&self) -> usize {
        self.max_len
    }

    /// The deepest nesting read.
    pub fn max_nesting(&self) -> usize {
        self.max_depth
    }
}
