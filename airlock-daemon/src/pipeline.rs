//! From a request to a program ready to run: the three-layer gate, the working
//! directory (translated through the mounts, resolved, confined), the pre-exec hook
//! (whose rewrite passes every layer again), the program's path and its environment.
//! Anything that fails refuses the request and says why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use airlock_core::GateOutcome;

use crate::executor::Spec;
use crate::hooks::{self, HookRequest, PreExec};
use crate::load::{Agent, Loaded};
use crate::scratch::Scratch;
use crate::workdir::{WorkDir, WorkDirError};

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The command (the shim's `argv[0]` name).
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The cwd the client claims, a container path.
    pub cwd: Option<String>,
}

/// Why a request is refused, in the wire's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// No such command for this agent (-32601).
    UnknownCommand,
    /// Policy, a hook or the cwd check said no (-32600).
    Denied,
    /// Something failed inside the daemon (-32603).
    Internal,
}

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The kind.
    pub kind: RefusalKind,
    /// The rule (or engine id) that refused, if any.
    pub rule: Option<String>,
    /// The reason to show.
    pub reason: String,
}

impl Refusal {
    pub(crate) fn denied(rule: &str, reason: impl Into<String>) -> Self {
        Self {
            kind: RefusalKind::Denied,
            rule: Some(rule.to_owned()),
            reason: reason.into(),
        }
    }

    pub(crate) fn internal(reason: String) -> Self {
        Self {
            kind: RefusalKind::Internal,
            rule: None,
            reason,
        }
    }

    fn unknown(command: &str) -> Self {
        Self {
            kind: RefusalKind::UnknownCommand,
            rule: Some("airlock.unknown-command".to_owned()),
            reason: format!("unknown command `{command}`"),
        }
    }
}

/// A request that may run.
#[derive(Debug)]
pub struct Prepared {
    /// What to run.
    pub spec: Spec,
    /// The request as finally decided (after a hook's rewrite).
    pub request: Request,
    /// Whether runs of this command may overlap.
    pub concurrent: bool,
    /// Whether the client's stdin is forwarded (`[exec] stdin`).
    pub stdin: bool,
    /// The allow rule that admitted it, if any.
    pub rule: Option<String>,
    /// The agent's post-exec hook, if it has one.
    pub post_exec: Option<PathBuf>,
    /// The agent's directory (where hooks run).
    pub agent_dir: PathBuf,
    /// The run's private directory (`TMPDIR`, `HOME`), removed when this is dropped.
    pub scratch: Scratch,
    /// The confinement the program runs under, for the audit log.
    pub confinement: String,
    /// For git: the pinned repository configuration, to finish after the run.
    pub git_pin: Option<crate::git_pin::Pinned>,
    /// The engine's readings of what runs (for the post-exec hook and the audit log).
    pub readings: Vec<serde_json::Value>,
    /// The next run's private directory and ruleset, to build once this run's program
    /// is starting.
    pub ahead: Option<crate::confine::Ahead>,
}

/// Decides whether `request` from agent `name` may run, and prepares it.
pub async fn prepare(loaded: &Loaded, name: &str, request: Request) -> Result<Prepared, Refusal> {
    let agent = loaded.agents.get(name).ok_or_else(|| {
        Refusal::denied(
            "airlock.no-agent",
            format!("agent `{name}` is no longer configured"),
        )
    })?;
    let rule = check(agent, &request)?;
    let cwd = resolve_cwd(agent, request.cwd.as_deref())?;
    let (request, rule) = match &agent.pre_exec {
        None => (request, rule),
        Some(hook) => {
            run_pre_exec(
                agent,
                hook,
                name,
                request,
                &cwd.path,
                loaded.config.limits.hook_timeout,
            )
            .await?
        }
    };
    let Some(module) = agent.scope.policy().module(&request.command) else {
        return Err(Refusal::unknown(&request.command));
    };
    let checked_args = check_paths(agent, module, &request, &cwd)?;
    if module.command() == "ssh" {
        let hosts = agent.scope.profile().access.get(&request.command);
        if let Some(hosts) = hosts.and_then(|a| a.hosts.as_deref()) {
            crate::destinations::check_ssh(hosts, &request.command, &checked_args)?;
        }
    }
    let program = loaded
        .programs
        .find(module.bin(), &loaded.agents)
        .map_err(|e| match e {
            crate::load::ProgramError::InsideMount { .. } => {
                Refusal::denied("airlock.program", e.to_string())
            }
            _ => Refusal::internal(e.to_string()),
        })?;
    let grants = agent.grants(&request.command, &program, &module.exec());
    // git runs with a shadow of its repository's common directory (`git_checks`), whose
    // links the run's private directory is made with.
    let git = module.command() == "git";
    let layout = if git {
        crate::scratch::Layout::GitShadow
    } else {
        crate::scratch::Layout::Plain
    };
    let (mut scratch, ruleset, ahead) = loaded
        .confiner
        .prepare_run(
            &format!("{name}/{}", request.command),
            agent.home_links(&request.command),
            layout,
            &grants,
        )
        .map_err(|e| Refusal::internal(e.to_string()))?;
    let mut env = base_env(agent, &request.command, module);
    env.insert("TMPDIR".to_owned(), scratch.tmp().display().to_string());
    env.insert("HOME".to_owned(), scratch.home().display().to_string());
    env.insert("PWD".to_owned(), cwd.path.display().to_string());
    if module.command() == "aws" {
        let access = agent.scope.profile().access.get(&request.command);
        if let Some(regions) = access.and_then(|a| a.regions.as_deref()) {
            crate::destinations::check_aws(regions, &request.command, &checked_args, &env)?;
        }
    }
    let git_pin = if git {
        let shadow = scratch.take_shadow();
        crate::git_checks::check(crate::git_checks::GitRequest {
            git: &program,
            args: &checked_args,
            cwd: &cwd,
            ruleset: ruleset.as_ref(),
            env: &mut env,
            timeout: loaded.config.limits.hook_timeout,
            scratch: scratch.root(),
            shadow,
            roots: &agent.mount_roots,
            scope: &agent.scope,
            command: &request.command,
            remotes: agent
                .scope
                .profile()
                .access
                .get(&request.command)
                .and_then(|a| a.remotes.as_deref()),
        })
        .await?
    } else {
        None
    };
    let readings = crate::reading_json::readings(module, &checked_args);
    let mut args = checked_args;
    args.extend(module.append_args().iter().cloned());
    let timeout = module
        .exec()
        .timeout
        .unwrap_or(loaded.config.limits.default_timeout);
    Ok(Prepared {
        spec: Spec {
            program,
            args,
            cwd,
            env,
            timeout,
            ruleset,
        },
        concurrent: module.exec().concurrent,
        stdin: module.exec().stdin,
        request,
        rule,
        post_exec: agent.post_exec.clone(),
        agent_dir: agent.dir.clone(),
        scratch,
        confinement: loaded.confiner.label(),
        git_pin,
        readings,
        ahead,
    })
}

/// The environment the programs of `command` (whose module is `module`) start from for
/// `agent`: the module's and the profile's plan applied to the daemon's environment,
/// and the agent's ssh-agent socket. Made on the agent's first run of the command and
/// kept with the agent: none of it changes while this configuration is loaded (a reload
/// loads new agents). A run adds its own directories and working directory.
fn base_env(
    agent: &Agent,
    command: &str,
    module: &airlock_policy::Module,
) -> BTreeMap<String, String> {
    let mut made = agent
        .base_envs
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(env) = made.get(command) {
        return env.clone();
    }
    let plan = agent.scope.env_plan(module);
    // Only the variables the plan passes are handed on (the plan keeps no others).
    let passed = daemon_env()
        .iter()
        .filter(|(name, _)| {
            name.to_str()
                .is_some_and(|name| plan.pass_names().any(|passed| passed == name))
        })
        .map(|(name, value)| (name.as_os_str(), value.as_os_str()));
    let env =
        crate::ssh_agent::program_env(&plan, &module.env().strip, passed, agent.ssh_auth_sock());
    made.insert(command.to_owned(), env.clone());
    env
}

/// The daemon's own environment, read once (the daemon never changes it): a request
/// does not copy every variable to keep the few its program gets.
fn daemon_env() -> &'static [(std::ffi::OsString, std::ffi::OsString)] {
    static ENV: std::sync::OnceLock<Vec<(std::ffi::OsString, std::ffi::OsString)>> =
        std::sync::OnceLock::new();
    ENV.get_or_init(|| std::env::vars_os().collect())
}

/// Checks the argv's host paths (`airlock.path`) and returns the argv to run, with
/// absolute container paths translated to host paths; the translated argv passes the
/// module again.
fn check_paths(
    agent: &Agent,
    module: &airlock_policy::Module,
    request: &Request,
    cwd: &WorkDir,
) -> Result<Vec<String>, Refusal> {
    let declared = agent.access.get(&request.command).map(|a| &a.grants);
    let mut read_write = agent.mount_roots.clone();
    read_write.extend(declared.iter().flat_map(|g| g.read_write.iter().cloned()));
    let read: Vec<PathBuf> = declared
        .iter()
        .flat_map(|g| g.read.iter().cloned())
        .collect();
    let reach = crate::host_paths::Reach {
        mounts: &agent.scope.profile().mounts,
        read_write: &read_write,
        read: &read,
        cwd: &cwd.path,
    };
    let args = crate::host_paths::check(module, &request.args, reach)
        .map_err(|why| Refusal::denied("airlock.path", why))?;
    if args != request.args {
        let translated = Request {
            command: request.command.clone(),
            args: args.clone(),
            cwd: request.cwd.clone(),
        };
        check(agent, &translated)?;
    }
    Ok(args)
}

/// Passes the gate; returns the allow rule, if one admitted the argv.
fn check(agent: &Agent, request: &Request) -> Result<Option<String>, Refusal> {
    match agent.scope.gate(&request.command, &request.args) {
        GateOutcome::Unknown => Err(Refusal::unknown(&request.command)),
        GateOutcome::Decided { decision, .. } => {
            if decision.is_allowed() {
                // An allow is decided by a rule or by no deny rule holding: its id is
                // the rule's (the explanation's text is for refusals).
                return Ok(decision.rule().map(|rule| rule.id().to_owned()));
            }
            let explanation = decision.explanation();
            Err(Refusal {
                kind: RefusalKind::Denied,
                rule: explanation.rule_id,
                reason: explanation.reason,
            })
        }
    }
}

/// Translates the claimed cwd through the mounts, opens it and confines what was
/// opened: the program enters exactly this directory.
pub fn resolve_cwd(agent: &Agent, cwd: Option<&str>) -> Result<WorkDir, Refusal> {
    let cwd = cwd.filter(|c| !c.is_empty()).ok_or_else(|| {
        Refusal::denied(
            "airlock.cwd",
            "the request has no working directory; it runs nowhere",
        )
    })?;
    WorkDir::open_confined(&agent.scope.profile().mounts, &agent.mount_roots, cwd).map_err(|e| {
        let reason = match &e {
            WorkDirError::Open { source, .. }
                if source.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) =>
            {
                format!("`{cwd}` is not a directory")
            }
            _ => e.to_string(),
        };
        Refusal::denied("airlock.cwd", reason)
    })
}

async fn run_pre_exec(
    agent: &Agent,
    hook: &Path,
    name: &str,
    request: Request,
    host_cwd: &Path,
    timeout: Duration,
) -> Result<(Request, Option<String>), Refusal> {
    let env = hook_env(name, &request.command);
    let host = host_cwd.display().to_string();
    let cwd = request.cwd.clone().unwrap_or_default();
    let readings = agent
        .scope
        .policy()
        .module(&request.command)
        .map(|module| crate::reading_json::readings(module, &request.args))
        .unwrap_or_default();
    let hook_request = HookRequest {
        agent: name,
        command: &request.command,
        args: &request.args,
        cwd: &cwd,
        host_cwd: &host,
        readings: &readings,
    };
    match hooks::pre_exec(hook, &agent.dir, &env, &hook_request, timeout).await {
        PreExec::Allow => {
            let rule = check(agent, &request)?;
            Ok((request, rule))
        }
        PreExec::Deny(reason) => Err(Refusal::denied("airlock.pre-exec", reason)),
        PreExec::Rewrite(rewrite) => {
            let rewritten = Request {
                command: rewrite.command.unwrap_or(request.command),
                args: rewrite.args.unwrap_or(request.args),
                cwd: request.cwd,
            };
            // The rewrite is a new request: every layer checks it again.
            let rule = check(agent, &rewritten)?;
            Ok((rewritten, rule))
        }
    }
}

/// The environment hooks run with: a plain PATH and what they are about.
pub fn hook_env(agent: &str, command: &str) -> Vec<(String, String)> {
    vec![
        ("PATH".to_owned(), "/usr/local/bin:/usr/bin:/bin".to_owned()),
        ("AIRLOCK_AGENT".to_owned(), agent.to_owned()),
        ("AIRLOCK_COMMAND".to_owned(), command.to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::DaemonConfig;
    use std::os::unix::fs::PermissionsExt;

    fn config_default() -> airlock_core::ConfinementConfig {
        airlock_core::ConfinementConfig::default()
    }

    const GIT: &str = "[command]\nbin = \"git\"\n[[rule]]\nid = \"git.daemon\"\naction = \"deny\"\ncommand = \"daemon\"\n";

    struct Fixture {
        _dir: tempfile::TempDir,
        loaded: Loaded,
        outside: PathBuf,
    }

    fn fixture(hook: Option<&str>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let agent_dir = dir.path().join("a1");
        let ws = agent_dir.join("ws");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(ws.join("src")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, ws.join("escape")).unwrap();
        std::fs::write(
            agent_dir.join("airlock.toml"),
            format!(
                "commands = []\n[[mounts]]\ncontainer = \"/workspace\"\nhost = \"{}\"\n",
                ws.display()
            ),
        )
        .unwrap();
        std::fs::create_dir_all(agent_dir.join("commands")).unwrap();
        std::fs::write(agent_dir.join("commands/git.toml"), GIT).unwrap();
        if let Some(body) = hook {
            let path = agent_dir.join("hooks/pre-exec");
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let config = DaemonConfig::parse("c", "[commands]\nenable = [\"git\"]\n").unwrap();
        let builtins = airlock_policy::Policy::default();
        let agent = crate::load::load_agent(&config, &builtins, "a1", &agent_dir, &[]).unwrap();
        let loaded = Loaded {
            config,
            config_dir: dir.path().to_owned(),
            agents: [("a1".to_owned(), agent)].into(),
            confiner: crate::confine::Confiner::new(&config_default()).unwrap(),
            programs: Default::default(),
        };
        Fixture {
            _dir: dir,
            loaded,
            outside,
        }
    }

    fn request(command: &str, args: &[&str], cwd: &str) -> Request {
        Request {
            command: command.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            cwd: Some(cwd.into()),
        }
    }

    #[tokio::test]
    async fn allowed_requests_get_a_spec() {
        let f = fixture(None);
        let prepared = prepare(
            &f.loaded,
            "a1",
            request("git", &["status"], "/workspace/src"),
        )
        .await
        .unwrap();
        assert!(prepared.spec.cwd.path.ends_with("ws/src"));
        assert!(prepared.spec.program.ends_with("git"));
        assert_eq!(prepared.spec.args, ["status"]);
    }

    #[tokio::test]
    async fn each_run_adds_its_own_directories_to_the_kept_environment() {
        let f = fixture(None);
        let first = prepare(&f.loaded, "a1", request("git", &["status"], "/workspace"))
            .await
            .unwrap();
        let second = prepare(
            &f.loaded,
            "a1",
            request("git", &["status"], "/workspace/src"),
        )
        .await
        .unwrap();
        let (a, b) = (&first.spec.env, &second.spec.env);
        assert!(a.contains_key("PATH"), "{a:?}");
        for name in ["HOME", "TMPDIR", "PWD"] {
            assert_ne!(a.get(name), b.get(name), "{name} is the run's own");
        }
        assert!(b["HOME"].starts_with(&*second.scratch.root().to_string_lossy()));
        assert!(b["PWD"].ends_with("ws/src"));
        let without_run = |env: &BTreeMap<String, String>| {
            let mut env = env.clone();
            for name in ["HOME", "TMPDIR", "PWD", "GIT_COMMON_DIR"] {
                env.remove(name);
            }
            env
        };
        assert_eq!(without_run(a), without_run(b));
        let kept = f.loaded.agents["a1"].base_envs.lock().unwrap();
        assert_eq!(kept["git"], without_run(a), "nothing of a run is kept");
    }

    #[tokio::test]
    async fn every_layer_refuses() {
        let f = fixture(None);
        let r = prepare(&f.loaded, "a1", request("git", &["daemon"], "/workspace"))
            .await
            .unwrap_err();
        assert_eq!(
            (r.kind, r.rule.as_deref()),
            (RefusalKind::Denied, Some("git.daemon"))
        );
        let r = prepare(&f.loaded, "a1", request("ssh", &["h"], "/workspace"))
            .await
            .unwrap_err();
        assert_eq!(r.kind, RefusalKind::UnknownCommand);
        let r = prepare(&f.loaded, "a1", request("git", &["status"], "/etc"))
            .await
            .unwrap_err();
        assert_eq!(r.rule.as_deref(), Some("airlock.cwd"));
        let r = prepare(
            &f.loaded,
            "a1",
            request("git", &["status"], "/workspace/escape"),
        )
        .await
        .unwrap_err();
        assert!(r.reason.contains("outside"), "{}", r.reason);
        assert!(
            r.reason
                .contains(&f.outside.file_name().unwrap().to_string_lossy().to_string())
        );
        let mut no_cwd = request("git", &["status"], "");
        no_cwd.cwd = None;
        let r = prepare(&f.loaded, "a1", no_cwd).await.unwrap_err();
        assert!(r.reason.contains("runs nowhere"));
    }

    #[tokio::test]
    async fn a_planted_git_config_refuses_git() {
        let (_f, loaded, ws) = git_fixture();
        assert!(
            std::process::Command::new("git")
                .args(["init", "-q"])
                .current_dir(&ws)
                .status()
                .unwrap()
                .success()
        );
        let clean = prepare(&loaded, "a1", request("git", &["status"], "/workspace")).await;
        assert!(clean.is_ok(), "{clean:?}");
        let mut config_file = std::fs::OpenOptions::new()
            .append(true)
            .open(ws.join(".git/config"))
            .unwrap();
        use std::io::Write;
        writeln!(config_file, "[filter \"x\"]\n\tsmudge = touch /tmp/pwned").unwrap();
        let r = prepare(&loaded, "a1", request("git", &["status"], "/workspace"))
            .await
            .unwrap_err();
        assert_eq!(r.rule.as_deref(), Some("airlock.git-config"));
        assert!(r.reason.contains("filter.x.smudge"), "{}", r.reason);

        // The repository git will use is the one checked: `-C sub` reads sub's config.
        let sub = ws.join("sub");
        std::fs::create_dir_all(&sub).unwrap();
        git_in(&sub, &["init", "-q"]);
        std::fs::write(
            ws.join(".git/config"),
            "[core]\n\trepositoryformatversion = 0\n",
        )
        .unwrap();
        let clean = prepare(&loaded, "a1", request("git", &["status"], "/workspace")).await;
        assert!(clean.is_ok(), "{clean:?}");
        git_in(&sub, &["config", "core.fsmonitor", "touch /tmp/pwned"]);
        let r = prepare(
            &loaded,
            "a1",
            request("git", &["-C", "sub", "status"], "/workspace"),
        )
        .await
        .unwrap_err();
        assert_eq!(r.rule.as_deref(), Some("airlock.git-config"), "{r:?}");
        assert!(r.reason.contains("core.fsmonitor"), "{}", r.reason);
    }

    /// An agent `a1` with the built-in git module and its workspace.
    fn git_fixture() -> (Fixture, Loaded, PathBuf) {
        let f = fixture(None);
        let agent_dir = f.loaded.config_dir.join("a1");
        std::fs::write(
            agent_dir.join("commands/git.toml"),
            airlock_builtins::get("git").unwrap().source,
        )
        .unwrap();
        let config = DaemonConfig::parse("c", "[commands]\nenable = [\"git\"]\n").unwrap();
        let agent = crate::load::load_agent(
            &config,
            &airlock_policy::Policy::default(),
            "a1",
            &agent_dir,
            &[],
        )
        .unwrap();
        let loaded = Loaded {
            config,
            config_dir: f.loaded.config_dir.clone(),
            agents: [("a1".to_owned(), agent)].into(),
            confiner: crate::confine::Confiner::new(&config_default()).unwrap(),
            programs: Default::default(),
        };
        (f, loaded, agent_dir.join("ws"))
    }

    fn git_in(dir: &Path, args: &[&str]) {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    #[tokio::test]
    async fn a_planted_rebase_todo_refuses_git() {
        let (_f, loaded, ws) = git_fixture();
        git_in(&ws, &["init", "-q"]);
        let todo_dir = ws.join(".git/rebase-merge");
        std::fs::create_dir_all(&todo_dir).unwrap();
        let todo = todo_dir.join("git-rebase-todo");
        let continue_ = || request("git", &["rebase", "--continue"], "/workspace");

        std::fs::write(
            &todo,
            "pick 1234 one\n# exec in a comment\nfixup 5678 two\n",
        )
        .unwrap();
        let clean = prepare(&loaded, "a1", continue_()).await;
        assert!(clean.is_ok(), "{clean:?}");

        std::fs::write(&todo, "pick 1234 one\n  x touch /tmp/pwned\n").unwrap();
        let r = prepare(&loaded, "a1", continue_()).await.unwrap_err();
        assert_eq!(r.rule.as_deref(), Some("airlock.git-rebase-todo"), "{r:?}");
        assert!(r.reason.contains("x touch /tmp/pwned"), "{}", r.reason);

        // A FIFO in its place is refused at once, not waited on.
        std::fs::remove_file(&todo).unwrap();
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&todo)
                .status()
                .unwrap()
                .success()
        );
        let r = prepare(&loaded, "a1", continue_()).await.unwrap_err();
        assert_eq!(r.rule.as_deref(), Some("airlock.git-rebase-todo"), "{r:?}");
        assert!(r.reason.contains("not a regular file"), "{}", r.reason);
    }

    #[tokio::test]
    async fn hook_rewrites_are_checked_again() {
        let f = fixture(Some("cat >/dev/null; echo '{\"args\":[\"daemon\"]}'"));
        let r = prepare(&f.loaded, "a1", request("git", &["status"], "/workspace"))
            .await
            .unwrap_err();
        assert_eq!(r.rule.as_deref(), Some("git.daemon"));
        let f = fixture(Some("cat >/dev/null; echo '{\"args\":[\"log\"]}'"));
        let p = prepare(&f.loaded, "a1", request("git", &["status"], "/workspace"))
            .await
            .unwrap();
        assert_eq!(p.request.args, ["log"]);
        let f = fixture(Some("echo no pushes today >&2; exit 1"));
        let r = prepare(&f.loaded, "a1", request("git", &["status"], "/workspace"))
            .await
            .unwrap_err();
        assert_eq!(
            (r.rule.as_deref(), r.reason.as_str()),
            (Some("airlock.pre-exec"), "no pushes today")
        );
    }
}
