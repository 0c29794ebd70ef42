//! The admin command line: `start`, `check`, `explain`, `show`, `doctor`, `version`,
//! `agents`, `init`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use serde_json::{Value, json};

use crate::explain::{self, Scope};
use crate::load::{self, LoadError};
use crate::paths;

/// Airlock: run CLI tools for AI agents without handing them the credentials.
#[derive(Debug, Parser)]
#[command(name = "airlock-daemon", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the configuration is.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// The directory holding `config.toml` [default: ~/.config/airlock].
    #[arg(long, value_name = "DIR")]
    pub config: Option<PathBuf>,
    /// The agents file (`[name] path = "/dir"`); without it, no agents.
    #[arg(long, value_name = "FILE")]
    pub agents: Option<PathBuf>,
}

impl ConfigArgs {
    /// The config directory, explicit or default.
    pub fn config_dir(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(paths::default_config_dir)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve every agent on its own socket.
    Start {
        #[command(flatten)]
        config: ConfigArgs,
        /// The directory for the agents' sockets [default: CONFIG/sockets].
        #[arg(long, value_name = "DIR")]
        sockets: Option<PathBuf>,
        /// Print one line per request on stderr (agent, peer, argv, decision, rule,
        /// exit, time); the audit log is written either way.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Validate the configuration, the agents and every module, without starting.
    Check {
        #[command(flatten)]
        config: ConfigArgs,
        /// Print one JSON object (ok, enabled, agents, warnings, errors) on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Explain why a command would be allowed or denied.
    Explain {
        /// Use these module files instead of the built-ins (repeatable).
        #[arg(long = "module", value_name = "FILE")]
        modules: Vec<PathBuf>,
        /// Explain in this agent's context (needs --agents).
        #[arg(long, value_name = "NAME", requires = "agents")]
        agent: Option<String>,
        /// The daemon config directory, for --agent [default: ~/.config/airlock].
        #[arg(long, value_name = "DIR")]
        config: Option<PathBuf>,
        /// The agents file, for --agent.
        #[arg(long, value_name = "FILE")]
        agents: Option<PathBuf>,
        /// With --agent: the working directory the request claims (a container path);
        /// the daemon's checks of it and of the argv's paths are explained too.
        #[arg(long, value_name = "DIR", requires = "agent")]
        cwd: Option<String>,
        /// Read `{"command": ..., "args": [...], "cwd": ...}` lines from stdin, answer one
        /// line each.
        #[arg(long, conflicts_with = "argv")]
        batch: bool,
        /// The command and its arguments (`explain git status`; after `--` when an
        /// argument could be read as one of explain's own options).
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "COMMAND ARGS"
        )]
        argv: Vec<String>,
    },
    /// Print a built-in module's TOML.
    Show {
        /// The built-in's name (`git`, `terraform`, ...).
        name: String,
        /// Print its threat-model notes instead.
        #[arg(long)]
        notes: bool,
        /// Print one JSON object (name, source, notes) on stdout.
        #[arg(long, conflicts_with = "notes")]
        json: bool,
    },
    /// Check that each enabled command's program is installed, and print its version.
    Doctor {
        #[command(flatten)]
        config: ConfigArgs,
        /// Print one JSON object (ok, findings) on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Check that the daemon answers on an agent's socket (for health checks): exit 0
    /// when it completes the protocol handshake, 1 when not.
    Ping {
        /// The agent's socket.
        socket: PathBuf,
        /// Give up after this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = 5)]
        timeout: u64,
    },
    /// Print a shell completion script, generated from this command line.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), generated from this command line.
    Man {
        /// Write a page for the command and one for each subcommand into DIR instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print the version.
    Version,
    /// List or show agents.
    Agents {
        #[command(subcommand)]
        command: AgentsCommand,
    },
    /// Create a working configuration: config.toml, an agents file and one agent with
    /// a workspace mount (or, with --systemd, a systemd unit that starts the daemon on
    /// it). Overwrites nothing.
    Init {
        #[command(flatten)]
        config: ConfigArgs,
        /// The agent to create.
        #[arg(
            long,
            value_name = "NAME",
            default_value = "agent",
            conflicts_with = "systemd"
        )]
        agent: String,
        /// Write a systemd system unit for the configuration instead.
        #[arg(long)]
        systemd: bool,
        /// With --systemd: the unit file [default: /etc/systemd/system/airlock.service].
        #[arg(long, value_name = "FILE", requires = "systemd")]
        unit: Option<PathBuf>,
        /// With --systemd: the agents' sockets directory [default: CONFIG/sockets].
        #[arg(long, value_name = "DIR", requires = "systemd")]
        sockets: Option<PathBuf>,
        /// With --systemd: the user the daemon runs as [default: the current user].
        #[arg(long, value_name = "USER", requires = "systemd")]
        run_as: Option<String>,
        /// With --systemd: remove the unit instead.
        #[arg(long, requires = "systemd")]
        uninstall: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AgentsCommand {
    /// List the agents with their commands.
    List {
        #[command(flatten)]
        config: ConfigArgs,
        /// Print a JSON array on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Show one agent's profile and commands.
    Show {
        #[command(flatten)]
        config: ConfigArgs,
        /// The agent.
        name: String,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// Exit code for a usage or configuration error.
pub const EXIT_USAGE: u8 = 2;

/// Runs the command line; returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Start {
            config,
            sockets,
            verbose,
        } => {
            if verbose {
                crate::verbose::enable();
            }
            crate::server::start(&config, sockets.as_deref())
        }
        Command::Check { config, json } => check(&config, json),
        Command::Explain {
            modules,
            agent,
            config,
            agents,
            cwd,
            batch,
            argv,
        } => explain_command(
            &modules,
            agent.as_deref(),
            ConfigArgs { config, agents },
            cwd.as_deref(),
            batch,
            &argv,
        ),
        Command::Show { name, notes, json } => show(&name, notes, json),
        Command::Doctor { config, json } => crate::doctor::run(&config, json),
        Command::Ping { socket, timeout } => ping(&socket, timeout),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "airlock-daemon", &mut script);
            print_bytes(&script);
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir } => man(dir.as_deref()),
        Command::Version => {
            println!("airlock-daemon {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Agents { command } => agents(command),
        Command::Init {
            config,
            agent,
            systemd,
            unit,
            sockets,
            run_as,
            uninstall,
        } => crate::init::run(&crate::init::InitArgs {
            config,
            agent,
            systemd,
            unit,
            sockets,
            run_as,
            uninstall,
        }),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("{}", message.trim_end());
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// A failure to report on stderr with exit code 2.
pub type CliResult = Result<ExitCode, String>;

/// Prints `value` as one line of JSON (a closed stdout is not an error worth a panic:
/// the reader has gone).
fn print_json(value: &Value) {
    print_bytes(format!("{value}\n").as_bytes());
}

/// Writes `bytes` to stdout; a reader that went away (`| head`) ends nothing badly.
fn print_bytes(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(bytes).and_then(|()| stdout.flush());
}

/// A load error as JSON: `{"message", "file", "line", "column", "text"}` (the place
/// when the error has one; `text` is the rendering with the caret).
fn load_error_json(error: &LoadError) -> Value {
    let located = match error {
        LoadError::Source(e) => Some((e.message.clone(), e.location.clone())),
        LoadError::Module(e) => Some((e.message().to_owned(), e.location().clone())),
        LoadError::Scope { source, .. } => match source.as_ref() {
            airlock_core::ScopeError::Override(e) => Some((e.message.clone(), e.location.clone())),
            airlock_core::ScopeError::Module(e) => {
                Some((e.message().to_owned(), e.location().clone()))
            }
            _ => None,
        },
        _ => None,
    };
    let text = error.to_string();
    match located {
        Some((message, at)) => json!({
            "message": message,
            "file": at.source,
            "line": at.line,
            "column": at.column,
            "text": text.trim_end(),
        }),
        None => json!({
            "message": text.trim_end().trim_start_matches("error: "),
            "file": null,
            "line": null,
            "column": null,
            "text": text.trim_end(),
        }),
    }
}

/// An error without a place in a file, as JSON.
fn plain_error_json(message: &str) -> Value {
    json!({"message": message, "file": null, "line": null, "column": null, "text": format!("error: {message}")})
}

fn check(config: &ConfigArgs, as_json: bool) -> CliResult {
    let loaded = match load::load(&config.config_dir(), config.agents.as_deref()) {
        Ok(loaded) => loaded,
        Err(e) if as_json => {
            print_json(&json!({
                "ok": false,
                "config": config.config_dir().join("config.toml"),
                "enabled": [],
                "agents": [],
                "warnings": [],
                "errors": [load_error_json(&e)],
            }));
            return Ok(ExitCode::from(EXIT_USAGE));
        }
        Err(e) => return Err(e.to_string()),
    };
    let mut errors: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    // A hook the daemon cannot run denies every request: say so now.
    for (name, agent) in &loaded.agents {
        for path in [&agent.pre_exec, &agent.post_exec].into_iter().flatten() {
            if !crate::doctor::is_executable(path) {
                errors.push(format!(
                    "agent `{name}`: hook `{}` is not an executable file; every request would be denied",
                    path.display()
                ));
            }
        }
    }
    // A tool release the built-in module was not checked against may read options
    // differently: warn.
    let search = std::env::var_os("PATH").unwrap_or_default();
    for command in &loaded.config.enable {
        let (Some(Ok(module)), Some(program)) = (
            airlock_builtins::compile(command),
            crate::doctor::find_program(command, &search),
        ) else {
            continue;
        };
        if let Some(line) = crate::doctor::version_of(command, &program) {
            if let Some(note) = crate::doctor::version_note(&module, &line) {
                if note.starts_with("warning") {
                    warnings.push(format!(
                        "`{command}`: {}",
                        note.trim_start_matches("warning  ").replace('\t', ": ")
                    ));
                }
            }
        }
    }
    // `start` refuses to serve an agent with keys without ssh-agent and ssh-add.
    if let Some((name, _)) = loaded.agents.iter().find(|(_, a)| !a.ssh_keys.is_empty()) {
        if let Err(e) = crate::ssh_agent::SshTools::find(&search, name) {
            errors.push(e.to_string());
        }
    }
    warnings.extend(lint(&loaded, &search));
    for (name, agent) in &loaded.agents {
        // A module that replaces a built-in gives up its hardening: say what.
        for (command, given_up) in agent.scope.replaced() {
            let source = agent
                .scope
                .policy()
                .module(command)
                .map_or("?", |m| m.source_name());
            if given_up.is_empty() {
                warnings.push(format!(
                    "agent `{name}`: `{source}` replaces the built-in `{command}` module (replace = true); it keeps the built-in's deny rule ids, environment and [exec] settings"
                ));
            } else {
                warnings.push(format!(
                    "agent `{name}`: `{source}` replaces the built-in `{command}` module (replace = true) and gives up its hardening: {given_up}; `extends = \"{}{command}\"` would keep it",
                    airlock_core::BUILTIN_PREFIX
                ));
            }
        }
    }
    let config_path = loaded.config_dir.join("config.toml");
    if as_json {
        let agents: Vec<Value> = loaded
            .agents
            .iter()
            .map(|(name, agent)| agent_json(name, agent, false))
            .collect();
        print_json(&json!({
            "ok": errors.is_empty(),
            "config": config_path,
            "enabled": loaded.config.enable,
            "agents": agents,
            "warnings": warnings,
            "errors": errors.iter().map(|e| plain_error_json(e)).collect::<Vec<_>>(),
        }));
        return Ok(if errors.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_USAGE)
        });
    }
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    if !errors.is_empty() {
        return Err(errors
            .iter()
            .map(|e| format!("error: {e}"))
            .collect::<Vec<_>>()
            .join("\n"));
    }
    println!(
        "ok: {} (enabled: {})",
        config_path.display(),
        loaded
            .config
            .enable
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (name, agent) in &loaded.agents {
        let keys = match agent.ssh_keys.len() {
            0 => String::new(),
            1 => " (ssh-agent: 1 key)".to_owned(),
            n => format!(" (ssh-agent: {n} keys)"),
        };
        println!(
            "ok: agent `{name}` ({}): {}{keys}",
            agent.dir.display(),
            agent
                .scope
                .commands()
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What is valid but probably not meant: each warning names its file (and line and
/// column where there is one).
fn lint(loaded: &load::Loaded, search: &std::ffi::OsStr) -> Vec<String> {
    let mut warnings = Vec::new();
    for command in &loaded.config.enable {
        let has_module = airlock_builtins::get(command).is_some()
            || loaded
                .agents
                .values()
                .any(|a| a.scope.policy().module(command).is_some());
        if !has_module && crate::doctor::find_program(command, search).is_none() {
            warnings.push(format!(
                "{}: `{command}` is enabled but has no built-in module, no agent module and no program on PATH (a typo?)",
                loaded.config_dir.join("config.toml").display()
            ));
        }
    }
    for (name, agent) in &loaded.agents {
        let profile_path = agent.dir.join("airlock.toml");
        let profile = agent.scope.profile();
        if profile.commands.is_none() {
            let at = std::fs::read_to_string(&profile_path)
                .map(|text| {
                    airlock_policy::Location::at(
                        &profile_path.display().to_string(),
                        &text,
                        profile.commands_span.start,
                    )
                    .to_string()
                })
                .unwrap_or_else(|_| profile_path.display().to_string());
            warnings.push(format!(
                "{at}: `commands = []` gives agent `{name}` every enabled command; list the ones it needs"
            ));
        }
        if profile.mounts.is_empty() {
            warnings.push(format!(
                "{}: agent `{name}` has no mounts, so it can run nothing (every working directory is outside)",
                profile_path.display()
            ));
        }
        if let Ok(entries) = std::fs::read_dir(agent.dir.join("hooks")) {
            for entry in entries.flatten() {
                let file = entry.file_name().to_string_lossy().into_owned();
                if file != "pre-exec" && file != "post-exec" {
                    warnings.push(format!(
                        "{}: `{file}` is not a hook name (`pre-exec`, `post-exec`); it never runs",
                        entry.path().display()
                    ));
                }
            }
        }
        if let Ok(entries) = std::fs::read_dir(agent.dir.join("commands")) {
            for entry in entries.flatten() {
                let path = entry.path();
                let Some(stem) = path
                    .file_stem()
                    .filter(|_| path.extension().is_some_and(|e| e == "toml"))
                    .map(|s| s.to_string_lossy().into_owned())
                else {
                    continue;
                };
                if !loaded.config.enable.contains(&stem) {
                    warnings.push(format!(
                        "{}: `{stem}` is not in the daemon's enable list, so this module is never used",
                        path.display()
                    ));
                }
            }
        }
    }
    warnings
}

fn explain_command(
    modules: &[PathBuf],
    agent: Option<&str>,
    config: ConfigArgs,
    cwd: Option<&str>,
    batch: bool,
    argv: &[String],
) -> CliResult {
    let loaded;
    let policy;
    let scope = if let Some(name) = agent {
        loaded = load::load(&config.config_dir(), config.agents.as_deref())
            .map_err(|e| e.to_string())?;
        let agent = loaded
            .agents
            .get(name)
            .ok_or_else(|| no_agent(name, &config))?;
        Scope::Agent {
            agent,
            enable: &loaded.config.enable,
        }
    } else {
        policy = if modules.is_empty() {
            airlock_builtins::policy().map_err(|e| e.to_string())?
        } else {
            // A module that extends a built-in is explained on top of it.
            let builtins = airlock_builtins::policy().map_err(|e| e.to_string())?;
            let mut builder = airlock_policy::Policy::builder();
            for path in modules {
                let text = load::read_text(path).map_err(|e| e.to_string())?;
                let module =
                    airlock_core::compile_module(&builtins, &path.display().to_string(), &text)
                        .map_err(|e| e.to_string())?;
                builder.add_module(module).map_err(|e| e.to_string())?;
            }
            builder.build()
        };
        Scope::Modules(&policy)
    };
    if batch {
        let stdin = std::io::stdin();
        let mut stdout = std::io::stdout().lock();
        let summary =
            explain::batch(&scope, stdin.lock(), &mut stdout).map_err(|e| format!("error: {e}"))?;
        if summary.malformed > 0 {
            eprintln!(
                "error: {} of {} lines were not requests (each got an error line)",
                summary.malformed, summary.lines
            );
            return Ok(ExitCode::from(2));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some((command, args)) = argv.split_first() else {
        return Err(
            "error: nothing to explain: `airlock-daemon explain -- COMMAND ARGS...`".into(),
        );
    };
    let outcome = scope.decide(command, args, cwd);
    let mut stdout = std::io::stdout().lock();
    explain::human(&mut stdout, command, args, &outcome).map_err(|e| format!("error: {e}"))?;
    let _ = stdout.flush();
    Ok(if outcome.allowed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn show(name: &str, notes: bool, as_json: bool) -> CliResult {
    let builtin = airlock_builtins::get(name).ok_or_else(|| {
        let names: Vec<&str> = airlock_builtins::names().collect();
        format!(
            "error: no built-in `{name}` (built-ins: {})",
            names.join(", ")
        )
    })?;
    if as_json {
        print_json(&json!({
            "name": name,
            "source_name": format!("{}{name}.toml", airlock_core::BUILTIN_PREFIX),
            "source": builtin.source,
            "notes": builtin.notes,
        }));
    } else {
        print_bytes(if notes { builtin.notes } else { builtin.source }.as_bytes());
    }
    Ok(ExitCode::SUCCESS)
}

/// `ping`: the protocol handshake on `socket`, within `timeout` seconds.
fn ping(socket: &std::path::Path, timeout: u64) -> CliResult {
    let (sender, receiver) = std::sync::mpsc::channel();
    let path = socket.to_owned();
    // The handshake runs on its own thread: a daemon that accepts but never answers
    // cannot hold the health check past its timeout.
    std::thread::spawn(move || {
        let _ = sender.send(airlock_rpc::Client::connect(&path).map(drop));
    });
    match receiver.recv_timeout(std::time::Duration::from_secs(timeout)) {
        Ok(Ok(())) => {
            println!("ok: the daemon answers on {}", socket.display());
            Ok(ExitCode::SUCCESS)
        }
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
        Err(_) => {
            eprintln!(
                "error: no answer on `{}` within {timeout} s",
                socket.display()
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// `man`: the manual page on stdout, or one page per (sub)command in `dir`.
fn man(dir: Option<&std::path::Path>) -> CliResult {
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .and_then(|()| clap_mangen::generate_to(Cli::command(), dir))
                .map_err(|e| {
                    format!(
                        "error: cannot write the pages into `{}`: {e}",
                        dir.display()
                    )
                })?;
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .map_err(|e| format!("error: {e}"))?;
            print_bytes(&page);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn agents(command: AgentsCommand) -> CliResult {
    let (config, only, as_json) = match command {
        AgentsCommand::List { config, json } => (config, None, json),
        AgentsCommand::Show { config, name, json } => (config, Some(name), json),
    };
    let loaded = load::load(&config.config_dir(), config.agents.as_deref())
        .map_err(|e: LoadError| e.to_string())?;
    if let Some(name) = &only {
        let agent = loaded
            .agents
            .get(name)
            .ok_or_else(|| no_agent(name, &config))?;
        if as_json {
            print_json(&agent_json(name, agent, true));
        } else {
            print_agent(name, agent, true);
        }
    } else if as_json {
        let all: Vec<Value> = loaded
            .agents
            .iter()
            .map(|(name, agent)| agent_json(name, agent, false))
            .collect();
        print_json(&Value::Array(all));
    } else {
        for (name, agent) in &loaded.agents {
            print_agent(name, agent, false);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The error for an agent the agents file does not name, naming the file.
fn no_agent(name: &str, config: &ConfigArgs) -> String {
    match &config.agents {
        Some(file) => format!(
            "error: no agent `{name}` in `{}` (agents: `airlock-daemon agents list`)",
            file.display()
        ),
        None => format!("error: no agent `{name}`: no agents file (--agents FILE)"),
    }
}

/// An agent as JSON: name, directory, commands; with `detail`, its mounts, passed and
/// set environment names (never values), ssh-agent keys, hooks and modules.
fn agent_json(name: &str, agent: &load::Agent, detail: bool) -> Value {
    let mut value = json!({
        "name": name,
        "dir": agent.dir,
        "commands": agent.scope.commands(),
        "ssh_keys": agent.ssh_keys.len(),
    });
    if !detail {
        return value;
    }
    let profile = agent.scope.profile();
    let mounts: Vec<Value> = profile
        .mounts
        .iter()
        .zip(&agent.mount_roots)
        .map(|(mount, root)| {
            json!({"container": mount.container, "host": mount.host, "resolved": root})
        })
        .collect();
    let modules: Vec<Value> = agent
        .scope
        .commands()
        .iter()
        .filter_map(|command| {
            let module = agent.scope.policy().module(command)?;
            Some(json!({
                "command": command,
                "source": module.source_name(),
                "extends": module.base().map(|b| b.source_name()),
                "replaces_builtin": agent.scope.replaced().contains_key(command),
            }))
        })
        .collect();
    if let Value::Object(map) = &mut value {
        map.insert("mounts".into(), json!(mounts));
        map.insert("env_pass".into(), json!(profile.env_pass));
        map.insert(
            "env_set".into(),
            json!(profile.env_set.keys().collect::<Vec<_>>()),
        );
        map.insert(
            "ssh_key_paths".into(),
            json!(agent.ssh_keys.iter().map(|k| &k.path).collect::<Vec<_>>()),
        );
        map.insert(
            "hooks".into(),
            json!({"pre-exec": agent.pre_exec, "post-exec": agent.post_exec}),
        );
        map.insert("modules".into(), json!(modules));
        map.insert("allowed_uids".into(), json!(profile.allowed_uids));
    }
    value
}

fn print_agent(name: &str, agent: &load::Agent, detail: bool) {
    let commands: Vec<&str> = agent.scope.commands().iter().map(String::as_str).collect();
    println!("{name}\t{}\t{}", agent.dir.display(), commands.join(","));
    if !detail {
        return;
    }
    let profile = agent.scope.profile();
    for (mount, root) in profile.mounts.iter().zip(&agent.mount_roots) {
        println!(
            "  mount: {} -> {} (resolves to {})",
            mount.container.display(),
            mount.host.display(),
            root.display()
        );
    }
    for name in &profile.env_pass {
        println!("  pass:  {name} (from the daemon's environment)");
    }
    for key in profile.env_set.keys() {
        println!("  env:   {key} (value hidden)");
    }
    for key in &agent.ssh_keys {
        println!("  ssh-agent key: {}", key.path.display());
    }
    for (hook, path) in [
        ("pre-exec", &agent.pre_exec),
        ("post-exec", &agent.post_exec),
    ] {
        if let Some(path) = path {
            println!("  hook:  {hook} {}", path.display());
        }
    }
    for command in &commands {
        if let Some(module) = agent.scope.policy().module(command) {
            let how = match (module.base(), agent.scope.replaced().contains_key(*command)) {
                (Some(base), _) => format!(" (extends {})", base.source_name()),
                (None, true) => " (replaces the built-in)".to_owned(),
                (None, false) => String::new(),
            };
            println!("  module: {command} from {}{how}", module.source_name());
        }
    }
}
