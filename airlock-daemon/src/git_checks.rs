//! The daemon's checks for git, beyond the module's rules on the argv: what the
//! repository the agent controls would make git do.
//!
//! 1. **Configuration, pinned.** The repository's configuration is read once, pinned
//!    in a shadow common directory ([`crate::git_pin`]) and judged there by an allow
//!    list (`airlock_builtins::judge_repository_config`, keys git reads without running
//!    a program); git then runs with `GIT_COMMON_DIR` at the shadow, so it reads exactly
//!    the judged bytes. Outside a repository git gets an empty shadow, so a repository
//!    that appears during the run is not one git will use.
//! 2. **Aliases.** When the argv's subcommand is an alias the pinned configuration
//!    defines, its expansion is judged by the agent's module like the argv itself
//!    (`alias.tidy = rebase -x CMD` is refused as `rebase -x` would be).
//! 3. **Rebase todo list.** A todo list with a line that runs a program refuses git.
//!
//! `clone` and `init` make a new repository with git's own configuration and run
//! unpinned.

use std::collections::{BTreeMap, VecDeque};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use airlock_builtins::{ConfigJudgement, GitRemotes};
use airlock_core::destinations::Pattern;
use airlock_core::{AgentScope, GateOutcome};

use crate::executor::confined_command;
use crate::git_discover::{self, Discovery};
use crate::git_pin::{PinError, Pinned};
use crate::hooks;
use crate::pipeline::Refusal;
use crate::workdir::WorkDir;

/// How deep alias expansions are followed before the request is refused.
const MAX_ALIAS_DEPTH: usize = 16;

/// Everything the checks need about one git request.
pub struct GitRequest<'a> {
    /// The host's git.
    pub git: &'a Path,
    /// The agent's argv.
    pub args: &'a [String],
    /// The working directory, held open.
    pub cwd: &'a WorkDir,
    /// The run's confinement.
    pub ruleset: Option<&'a OwnedFd>,
    /// The program's environment (the checks add `GIT_COMMON_DIR`).
    pub env: &'a mut BTreeMap<String, String>,
    /// How long each probe may take.
    pub timeout: Duration,
    /// The run's private directory (where the shadow goes).
    pub scratch: &'a Path,
    /// The shadow made ahead in it, if it was.
    pub shadow: Option<crate::git_pin::Shadow>,
    /// The canonical roots of the agent's mounts.
    pub roots: &'a [PathBuf],
    /// The agent's scope, to judge alias expansions.
    pub scope: &'a AgentScope,
    /// The command name the agent used (`git`).
    pub command: &'a str,
    /// Where the profile lets this command fetch from and push to (`[access.git]
    /// remotes`); `None`: anywhere.
    pub remotes: Option<&'a [Pattern]>,
}

/// Runs the checks; on success the environment points git at the pinned
/// configuration and the pin is returned (finish it after the run).
pub async fn check(mut request: GitRequest<'_>) -> Result<Option<Pinned>, Refusal> {
    let shadow = request.shadow.take();
    let location = airlock_builtins::git_location_args(request.args)
        .map_err(|e| Refusal::denied("airlock.git-location", e.to_string()))?;
    let subcommand = airlock_builtins::git_subcommand(request.args)
        .map_err(|e| Refusal::denied("airlock.git-location", e.to_string()))?;
    if matches!(subcommand.as_ref(), Some((_, sub)) if sub == "clone" || sub == "init") {
        check_destinations(&request, &GitRemotes::default())?;
        return Ok(None);
    }
    let probe = Probe {
        git: request.git,
        location: &location,
        cwd: request.cwd,
        ruleset: request.ruleset,
        env: request.env,
        timeout: request.timeout,
    };
    let (common, todo) =
        match git_discover::discover(request.cwd, &location, request.env, request.roots) {
            Discovery::Found {
                git_dir,
                common_dir,
            } => (common_dir, git_dir.join("rebase-merge/git-rebase-todo")),
            Discovery::NotARepository => {
                check_destinations(&request, &GitRemotes::default())?;
                empty_shadow(request.env, request.scratch, shadow)?;
                return Ok(None);
            }
            Discovery::AskGit => match ask_git(&probe).await? {
                Some((common, todo)) => {
                    let opened = WorkDir::open(&common).map_err(|source| {
                        refuse_config(
                            PinError::Open {
                                path: common,
                                source,
                            }
                            .to_string(),
                        )
                    })?;
                    (opened, todo)
                }
                None => {
                    check_destinations(&request, &GitRemotes::default())?;
                    empty_shadow(request.env, request.scratch, shadow)?;
                    return Ok(None);
                }
            },
        };
    let mut pinned = Pinned::open(common, request.roots, request.scratch, shadow)
        .map_err(|e| refuse_config(e.to_string()))?;
    let judged = judge(&probe, &pinned).await?;
    if let Some(risk) = judged.refused.first() {
        return Err(refuse_config(format!(
            "the repository's configuration sets `{}`, which {}",
            risk.key, risk.why
        )));
    }
    if let Some((index, sub)) = &subcommand {
        check_alias(&request, &judged.aliases, *index, sub, &probe).await?;
    }
    check_destinations(&request, &judged.remotes)?;
    check_rebase_todo(&todo, request.roots)?;
    // Only `git worktree` (or an alias, which may expand to it) writes the `.git` file
    // of a worktree, which must then be pointed at the real common directory.
    let worktrees = match &subcommand {
        Some((_, sub)) => sub == "worktree" || judged.aliases.contains_key(sub.as_str()),
        None => true,
    };
    if !worktrees {
        pinned.leave_worktrees();
    }
    shadow_env(request.env, pinned.shadow());
    Ok(Some(pinned))
}

/// Refuses a request that would fetch from or push to a place the profile's
/// `remotes` list does not name (remote names resolved through the pinned
/// configuration, URLs rewritten as git rewrites them).
fn check_destinations(request: &GitRequest<'_>, remotes: &GitRemotes) -> Result<(), Refusal> {
    let Some(patterns) = request.remotes else {
        return Ok(());
    };
    let reached = airlock_builtins::git_destinations(request.args, remotes)
        .map_err(|e| Refusal::denied(crate::destinations::RULE, e.to_string()))?;
    crate::destinations::check_reached(
        patterns,
        reached.into_iter().map(|d| {
            let action = if d.push {
                "git would push to"
            } else {
                "git would fetch from"
            };
            (action, d.url)
        }),
        request.command,
        "remotes",
        "; a request that names no remote counts every remote a branch could pick",
    )
}

/// Points git at its common directory.
fn shadow_env(env: &mut BTreeMap<String, String>, dir: &Path) {
    env.insert("GIT_COMMON_DIR".to_owned(), dir.display().to_string());
}

/// Outside a repository git gets an empty shadow, so a repository the agent makes
/// appear during the run has no configuration, objects or refs for git.
fn empty_shadow(
    env: &mut BTreeMap<String, String>,
    scratch: &Path,
    made: Option<crate::git_pin::Shadow>,
) -> Result<(), Refusal> {
    let empty = crate::git_pin::empty_shadow(scratch, made)
        .map_err(|e| Refusal::internal(format!("cannot prepare git's directory: {e}")))?;
    shadow_env(env, &empty);
    Ok(())
}

/// Asks git where the repository is (the cases [`git_discover`] leaves to git): its
/// common directory and rebase todo list, or `None` outside a repository.
async fn ask_git(probe: &Probe<'_>) -> Result<Option<(PathBuf, PathBuf)>, Refusal> {
    let located = probe
        .run(&[
            "rev-parse",
            "--path-format=absolute",
            "--git-common-dir",
            "--git-path",
            "rebase-merge/git-rebase-todo",
        ])
        .await
        .map_err(|why| refuse_config(format!("cannot locate the repository: {why}")))?;
    if !located.status.success() {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&located.stdout);
    let mut lines = text.lines();
    match (lines.next(), lines.next()) {
        (Some(common), Some(todo)) => Ok(Some((PathBuf::from(common), PathBuf::from(todo)))),
        _ => Err(refuse_config(
            "git did not say where the repository is".to_owned(),
        )),
    }
}

/// Judges the pinned configuration as git reads it (`git config --file --list`), or
/// takes the judgement of the same bytes read by the same git before.
async fn judge(probe: &Probe<'_>, pinned: &Pinned) -> Result<Arc<ConfigJudgement>, Refusal> {
    if let Some(known) = JUDGED.get(probe.git, pinned.judged()) {
        return Ok(known);
    }
    let config = pinned.config().display().to_string();
    let listed = probe
        .run(&["config", "--file", &config, "--list", "--null"])
        .await
        .map_err(|why| refuse_config(format!("cannot read the configuration: {why}")))?;
    if !listed.status.success() {
        return Err(refuse_config(format!(
            "git cannot read the repository's configuration: {}",
            first_line(&listed.stderr)
        )));
    }
    let judged = Arc::new(airlock_builtins::judge_repository_config(
        &String::from_utf8_lossy(&listed.stdout),
    ));
    JUDGED.put(probe.git, pinned.judged(), &judged);
    Ok(judged)
}

/// Judgements of repository configurations, by the git that read them and their exact
/// bytes: `git config --file` does not follow includes, so what it lists depends on
/// nothing else. Bounded: [`JUDGED_ENTRIES`] configurations of at most
/// [`JUDGED_BYTES`] bytes each.
static JUDGED: JudgedCache = JudgedCache {
    entries: Mutex::new(VecDeque::new()),
};

/// How many judgements are kept.
const JUDGED_ENTRIES: usize = 32;
/// The longest configuration whose judgement is kept.
const JUDGED_BYTES: usize = 64 * 1024;

/// A judgement: the git that read the configuration, its bytes, what was found.
type Judged = (PathBuf, Vec<u8>, Arc<ConfigJudgement>);

/// See [`JUDGED`].
struct JudgedCache {
    /// Most recently used last.
    entries: Mutex<VecDeque<Judged>>,
}

impl JudgedCache {
    fn get(&self, git: &Path, bytes: &[u8]) -> Option<Arc<ConfigJudgement>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let at = entries
            .iter()
            .position(|(g, b, _)| g == git && b.as_slice() == bytes)?;
        let entry = entries.remove(at)?;
        let judged = Arc::clone(&entry.2);
        entries.push_back(entry);
        Some(judged)
    }

    fn put(&self, git: &Path, bytes: &[u8], judged: &Arc<ConfigJudgement>) {
        if bytes.len() > JUDGED_BYTES {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= JUDGED_ENTRIES {
            entries.pop_front();
        }
        entries.push_back((git.to_owned(), bytes.to_owned(), Arc::clone(judged)));
    }
}

fn refuse_config(why: String) -> Refusal {
    Refusal::denied("airlock.git-config", why)
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(300)
        .collect()
}

/// Runs the host's git the way the request will (the agent's options that choose the
/// repository, its working directory, environment and confinement), for the checks.
struct Probe<'a> {
    git: &'a Path,
    location: &'a [String],
    cwd: &'a WorkDir,
    ruleset: Option<&'a OwnedFd>,
    env: &'a BTreeMap<String, String>,
    timeout: Duration,
}

impl Probe<'_> {
    async fn run(&self, args: &[&str]) -> Result<hooks::HookOutput, String> {
        let mut command = confined_command(self.git, &self.cwd.fd, self.ruleset, self.env);
        command.args(self.location).args(args);
        hooks::run_command(command, &[], self.timeout).await
    }
}

/// The names git runs as commands (built-ins and `git-*` programs): an alias with one
/// of these names is ignored by git.
async fn git_commands(probe: &Probe<'_>) -> &'static [String] {
    static COMMANDS: OnceLock<Vec<String>> = OnceLock::new();
    if let Some(known) = COMMANDS.get() {
        return known;
    }
    let listed = probe
        .run(&["--list-cmds=builtins,main,others,nohelpers"])
        .await
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    COMMANDS.get_or_init(|| listed)
}

/// Judges the expansion of the subcommand when it is one of the repository's aliases
/// (and not a git command, which git would run instead).
async fn check_alias(
    request: &GitRequest<'_>,
    aliases: &BTreeMap<String, String>,
    index: usize,
    sub: &str,
    probe: &Probe<'_>,
) -> Result<(), Refusal> {
    let refuse = |why: String| Refusal::denied("airlock.git-alias", why);
    let mut argv: Vec<String> = request.args.to_vec();
    let mut index = index;
    let mut name = sub.to_owned();
    for _ in 0..MAX_ALIAS_DEPTH {
        let Some(expansion) = aliases.get(&name) else {
            return Ok(());
        };
        if git_commands(probe).await.contains(&name) {
            return Ok(());
        }
        let words = shell_words::split(expansion).map_err(|e| {
            refuse(format!(
                "`git {name}` is the repository's alias for `{expansion}`, which cannot be read: {e}"
            ))
        })?;
        let rest = argv.split_off(index.min(argv.len()));
        argv.extend(words);
        argv.extend(rest.into_iter().skip(1));
        match request.scope.gate(request.command, &argv) {
            GateOutcome::Decided { decision, .. } if decision.is_allowed() => {}
            GateOutcome::Decided { decision, .. } => {
                let e = decision.explanation();
                return Err(Refusal {
                    kind: crate::pipeline::RefusalKind::Denied,
                    rule: Some("airlock.git-alias".to_owned()),
                    reason: format!(
                        "`git {name}` is the repository's alias for `{expansion}`, and that is denied: {}",
                        e.reason
                    ),
                });
            }
            GateOutcome::Unknown => return Err(refuse(format!("`git {name}` is unknown"))),
        }
        match airlock_builtins::git_subcommand(&argv) {
            Ok(Some((next_index, next))) => {
                index = next_index;
                name = next;
            }
            Ok(None) => return Ok(()),
            Err(e) => return Err(refuse(e.to_string())),
        }
    }
    Err(refuse(format!(
        "`git {sub}` expands through more than {MAX_ALIAS_DEPTH} aliases"
    )))
}

/// The most of a rebase todo list the daemon reads; a longer one is refused.
const MAX_TODO: u64 = 1 << 20;

/// Refuses to run git while the repository's rebase todo list (which the agent can
/// write) holds a line that runs a program (`exec make`): `git rebase --continue`
/// would run it. See `airlock_builtins::git_todo_risks`.
///
/// The list is named by the file opened, not by `path`: one that a planted link
/// (`.git/rebase-merge` pointing at another repository) leads outside the agent's
/// mounts (`roots`) is refused without a word of what it holds, so the daemon never
/// shows an agent a list it could not read itself (another agent's rebase, say).
fn check_rebase_todo(path: &Path, roots: &[PathBuf]) -> Result<(), Refusal> {
    let refuse = |why: String| Refusal::denied("airlock.git-rebase-todo", why);
    let todo = match read_todo(path) {
        Ok(Some((_, name))) if !airlock_core::inside(roots, &name) => {
            return Err(refuse(format!(
                "the repository's rebase todo list `{}` leads outside the agent's mounts; remove the link",
                path.display()
            )));
        }
        Ok(Some((todo, _))) => todo,
        Ok(None) => return Ok(()),
        Err(why) => return Err(refuse(why)),
    };
    match airlock_builtins::git_todo_risks(&todo).first() {
        None => Ok(()),
        Some(line) => Err(refuse(format!(
            "the repository's rebase todo list holds `{}`, which git would run on the host; remove it from {}",
            line.chars().take(200).collect::<String>(),
            path.display()
        ))),
    }
}

/// Reads a todo list the agent may have planted (never blocks on a FIFO, never opens a
/// device, never reads more than [`MAX_TODO`], see [`crate::small_file`]), with the
/// path the kernel gives the file read.
fn read_todo(path: &Path) -> Result<Option<(String, PathBuf)>, String> {
    use crate::small_file::SmallFileError;
    match crate::small_file::read_named(path, MAX_TODO) {
        Ok(read) => Ok(read.map(|(b, name)| (String::from_utf8_lossy(&b).into_owned(), name))),
        Err(SmallFileError::TooLong { .. }) => Err(format!(
            "the rebase todo list is longer than {MAX_TODO} bytes"
        )),
        Err(SmallFileError::Io { source, .. }) => {
            Err(format!("cannot read the rebase todo list: {source}"))
        }
        Err(e) => Err(e.to_string()),
    }
}
