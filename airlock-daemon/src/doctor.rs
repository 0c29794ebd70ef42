//! `airlock-daemon doctor`: is each enabled command's program installed, and which
//! version is it? How are programs confined on this kernel?

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use crate::cli::{CliResult, ConfigArgs};
use crate::load;

/// How long a program may take to print its version.
const VERSION_TIMEOUT: Duration = Duration::from_secs(5);

/// One line of the doctor's report.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Finding {
    /// `ok`, `missing`, `checked`, `warning`, `confine`, `unknown`.
    status: String,
    /// What it is about (a command, a tool, a confinement line).
    subject: String,
    /// The program found, if any.
    program: Option<PathBuf>,
    /// More.
    detail: Option<String>,
}

impl Finding {
    fn new(status: &str, subject: impl Into<String>) -> Self {
        Self {
            status: status.to_owned(),
            subject: subject.into(),
            program: None,
            detail: None,
        }
    }

    fn program(mut self, program: &Path) -> Self {
        self.program = Some(program.to_owned());
        self
    }

    fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// `STATUS   SUBJECT\tPROGRAM\tDETAIL`.
    fn text(&self) -> String {
        let mut line = format!("{:<8} {}", self.status, self.subject);
        if let Some(program) = &self.program {
            line.push_str(&format!("\t{}", program.display()));
        }
        if let Some(detail) = &self.detail {
            line.push_str(&format!("\t{detail}"));
        }
        line
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "status": self.status,
            "subject": self.subject,
            "program": self.program,
            "detail": self.detail,
        })
    }
}

/// A `version_note` line as a finding.
fn note_finding(note: &str) -> Finding {
    let (status, rest) = note.split_once(' ').unwrap_or((note, ""));
    let (subject, detail) = rest.trim_start().split_once('\t').unwrap_or((rest, ""));
    Finding::new(status, subject).detail(detail)
}

/// Runs the doctor; exit 1 when a program is missing. With `as_json`, one JSON object
/// (`{"ok", "findings": [{"status", "subject", "program", "detail"}]}`) on stdout.
pub fn run(config: &ConfigArgs, as_json: bool) -> CliResult {
    let path = config.config_dir().join("config.toml");
    if config.config_dir().exists() && !config.config_dir().is_dir() {
        return Err(load::LoadError::ConfigNotADirectory {
            path: config.config_dir(),
        }
        .to_string());
    }
    let text = load::read_text(&path).map_err(|e| e.to_string())?;
    let daemon = airlock_core::DaemonConfig::parse(&path.display().to_string(), &text)
        .map_err(|e| e.to_string())?;
    let mut findings = Vec::new();
    let mut missing = 0;
    match crate::confine::Confiner::new(&daemon.confinement) {
        Ok(confiner) => {
            for line in confiner.describe() {
                findings.push(Finding::new("confine", line));
            }
        }
        Err(e) => {
            missing += 1;
            findings.push(Finding::new("confine", e.to_string()));
        }
    }
    let search = std::env::var_os("PATH").unwrap_or_default();
    for command in &daemon.enable {
        match find_program(command, &search) {
            Some(program) => {
                let version =
                    version_of(command, &program).unwrap_or_else(|| "version unknown".into());
                findings.push(
                    Finding::new("ok", command.as_str())
                        .program(&program)
                        .detail(version.as_str()),
                );
                if let Some(shim) = version_manager_shim(&program) {
                    findings.push(
                        Finding::new("warning", command.as_str())
                            .program(&program)
                            .detail(format!(
                                "a {shim} shim, not the program: it picks the real one from its environment and files (its version settings, the working directory's) at each run, and under confinement its own files (in the version manager's directory, usually under the home) are out of reach; pin the real program with an absolute `bin` in the agent's commands/{command}.toml"
                            )),
                    );
                }
                if command == "aws" {
                    findings.push(aws_major(&version));
                }
                if let Some(module) = airlock_builtins::compile(command).and_then(Result::ok) {
                    if let Some(note) = version_note(&module, &version) {
                        findings.push(note_finding(&note));
                    }
                }
            }
            None => {
                missing += 1;
                findings
                    .push(Finding::new("missing", command.as_str()).detail("not found on PATH"));
            }
        }
    }
    // The agents, read once for the checks that need them (`None`: no agents file).
    let agents = config.agents.as_deref().map(agent_profiles);
    missing += ssh_agent_tools(agents.as_ref(), &search, &mut findings);
    device_mounts(agents.as_ref(), &mut findings);
    if as_json {
        println!(
            "{}",
            serde_json::json!({
                "ok": missing == 0,
                "findings": findings.iter().map(Finding::json).collect::<Vec<_>>(),
            })
        );
    } else {
        for finding in &findings {
            println!("{}", finding.text());
        }
    }
    Ok(if missing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Which version manager `program` is a shim of, if it is one: a file in a version
/// manager's shims directory, or a script that hands over to one.
fn version_manager_shim(program: &Path) -> Option<&'static str> {
    const MANAGERS: &[(&str, &str)] = &[
        ("/.pyenv/shims/", "pyenv"),
        ("/.rbenv/shims/", "rbenv"),
        ("/.nodenv/shims/", "nodenv"),
        ("/.goenv/shims/", "goenv"),
        ("/.jenv/shims/", "jenv"),
        ("/.asdf/shims/", "asdf"),
        ("/mise/shims/", "mise"),
        ("/.volta/bin/", "volta"),
    ];
    let path = program.to_string_lossy();
    if let Some((_, manager)) = MANAGERS.iter().find(|(dir, _)| path.contains(dir)) {
        return Some(manager);
    }
    // A script elsewhere that execs a version manager (e.g. a copied shim).
    let mut head = [0u8; 4096];
    let n = std::fs::File::open(program)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .ok()?;
    let head = String::from_utf8_lossy(head.get(..n)?);
    if !head.starts_with("#!") {
        return None;
    }
    // Shims hand over with `pyenv exec`, `"$PYENV_ROOT/libexec/pyenv" exec`, ...
    ["pyenv", "rbenv", "asdf", "nodenv", "goenv", "mise"]
        .into_iter()
        .find(|manager| {
            head.contains(&format!("{manager} exec")) || head.contains(&format!("{manager}\" exec"))
        })
}

/// aws-cli's major version from its version line (`aws-cli/2.15.0 Python/...`): the
/// built-in module reads aws-cli v2.
fn aws_major(version: &str) -> Finding {
    let major = version
        .strip_prefix("aws-cli/")
        .and_then(|rest| rest.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(2) => Finding::new("checked", "aws").detail("aws-cli v2, the version the built-in module reads"),
        Some(1) => Finding::new("warning", "aws").detail(
            "aws-cli v1: the built-in module reads aws-cli v2, whose commands and options differ (v1 has no `sso`, reads some options differently, and is a Python package that follows the environment's Python); install aws-cli v2",
        ),
        _ => Finding::new("unknown", "aws").detail(format!(
            "cannot tell aws-cli v1 from v2 by `{version}`"
        )),
    }
}

/// What a built-in module says about the installed version: `checked` or a `warning`
/// line, `None` when the module names no versions.
pub fn version_note(module: &airlock_policy::Module, version_line: &str) -> Option<String> {
    let checked = module.versions().join(", ");
    let installed = version_number(version_line);
    // A module may name a release as the tool prints it (`OpenSSH_9.2`): compare numbers.
    let numbered = |v: &str| {
        module.checked_against(v).map(|ok| {
            ok || module.versions().iter().any(|listed| {
                version_number(listed).is_some_and(|n| v == n || v.starts_with(&format!("{n}.")))
            })
        })
    };
    match installed.as_deref().map(numbered) {
        None if module.versions().is_empty() => None,
        Some(None) => None,
        Some(Some(true)) => Some(format!(
            "checked  {}\tthe module's reading was checked against {checked}",
            module.command()
        )),
        Some(Some(false)) | None => Some(format!(
            "warning  {}\tinstalled `{}`, but the module's reading was checked against {checked} only: options may be read differently",
            module.command(),
            installed.as_deref().unwrap_or(version_line)
        )),
    }
}

/// The first `N.N[.N...]` in a version line (`git version 2.47.3` -> `2.47.3`,
/// `OpenSSH_9.2p1` -> `9.2`).
fn version_number(line: &str) -> Option<String> {
    let start = line.find(|c: char| c.is_ascii_digit())?;
    let rest = line.get(start..)?;
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let number = rest.get(..end)?.trim_end_matches('.');
    number.contains('.').then(|| number.to_owned())
}

/// Checks `ssh-agent` and `ssh-add` when some agent of the agents file names keys
/// (`[ssh_agent] keys`); returns how many are missing.
fn ssh_agent_tools(
    agents: Option<&Result<Vec<AgentEntry>, String>>,
    search: &std::ffi::OsStr,
    findings: &mut Vec<Finding>,
) -> usize {
    let Some(agents) = agents else {
        return 0;
    };
    let needed: Vec<String> = match agents {
        Ok(agents) => agents
            .iter()
            .filter(|(_, _, profile)| !profile.ssh_agent.keys.is_empty())
            .map(|(name, _, _)| format!("`{name}`"))
            .collect(),
        Err(e) => {
            findings.push(
                Finding::new("unknown", "ssh-agent")
                    .detail(format!("cannot read the agents: {}", e.trim_end())),
            );
            return 0;
        }
    };
    if needed.is_empty() {
        return 0;
    }
    let mut missing = 0;
    for tool in ["ssh-agent", "ssh-add"] {
        match find_program(tool, search) {
            Some(program) => findings.push(
                Finding::new("ok", tool)
                    .program(&program)
                    .detail(format!("for the keys of {}", needed.join(", "))),
            ),
            None => {
                missing += 1;
                findings.push(Finding::new("missing", tool).detail(format!(
                    "not found on PATH (needed for the keys of {})",
                    needed.join(", ")
                )));
            }
        }
    }
    missing
}

/// An agent of the agents file: its name, directory and profile.
type AgentEntry = (String, PathBuf, airlock_core::AgentProfile);

/// The agents of `agents_file`.
fn agent_profiles(agents_file: &Path) -> Result<Vec<AgentEntry>, String> {
    let text = load::read_text(agents_file).map_err(|e| e.to_string())?;
    let agents = airlock_core::AgentsFile::parse(&agents_file.display().to_string(), &text)
        .map_err(|e| e.to_string())?;
    let base = agents_file.parent().unwrap_or(Path::new("."));
    let mut profiles = Vec::new();
    for (name, dir) in agents.agents {
        let dir = base.join(dir);
        let path = dir.join("airlock.toml");
        let text = load::read_text(&path).map_err(|e| e.to_string())?;
        let profile = airlock_core::AgentProfile::parse(&name, &path.display().to_string(), &text)
            .map_err(|e| e.to_string())?;
        profiles.push((name, dir, profile));
    }
    Ok(profiles)
}

/// Warns of every agent mount on a file system that honours device files
/// ([`crate::devices`]). Agents that cannot be read are left to `ssh_agent_tools`'s
/// finding and to `check`.
fn device_mounts(agents: Option<&Result<Vec<AgentEntry>, String>>, findings: &mut Vec<Finding>) {
    let Some(Ok(agents)) = agents else {
        return;
    };
    for (name, dir, profile) in agents {
        for mount in &profile.mounts {
            let Ok(root) = std::fs::canonicalize(dir.join(&mount.host)) else {
                continue;
            };
            if let Some(warning) = crate::devices::warning(name, &root) {
                findings.push(Finding::new("warning", "devices").detail(warning));
            }
        }
    }
}

/// Finds `name` in the directories of `search` (a `PATH` value); an absolute `name`
/// (a module's pinned `bin`) is itself, when it is an executable file. Relative
/// directories of `search` (an empty one is the working directory) are skipped: what
/// is found there depends on where the daemon was started, and a program named by a
/// relative path would be looked up again from the run's working directory, in the
/// agent's workspace.
pub fn find_program(name: &str, search: &std::ffi::OsStr) -> Option<PathBuf> {
    if Path::new(name).is_absolute() {
        return Some(PathBuf::from(name)).filter(|p| is_executable(p));
    }
    std::env::split_paths(search)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a regular file with a run bit.
pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first line a program prints about its version, within a time limit.
pub(crate) fn version_of(command: &str, program: &Path) -> Option<String> {
    let args: &[&str] = match command {
        "ssh" => &["-V"],
        "terraform" => &["version"],
        "kubectl" => &["version", "--client"],
        _ => &["--version"],
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let started = Instant::now();
    loop {
        if child.try_wait().ok()?.is_some() {
            break;
        }
        if started.elapsed() > VERSION_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().ok()?;
    let text = if output.stdout.is_empty() {
        output.stderr
    } else {
        output.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|l| l.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_directories_of_path_are_skipped() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let program = root.join("tool");
        std::fs::write(&program, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        // The same directory, named relative to this process's working directory.
        let cwd = std::env::current_dir().unwrap();
        let up = "../".repeat(cwd.components().count().saturating_sub(1));
        let relative = format!("{up}{}", root.display().to_string().trim_start_matches('/'));
        assert!(Path::new(&relative).join("tool").is_file(), "{relative}");
        let search = |path: &str| find_program("tool", std::ffi::OsStr::new(path));
        assert_eq!(search(&relative), None);
        assert_eq!(search(&format!(":{relative}:")), None);
        // Control: named absolutely, it is found.
        assert_eq!(
            search(&format!("{relative}:{}", root.display())),
            Some(program)
        );
    }

    #[test]
    fn tells_aws_cli_v1_from_v2_and_finds_shims() {
        assert_eq!(
            aws_major("aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64").status,
            "checked"
        );
        let v1 = aws_major("aws-cli/1.45.11 Python/3.11.7 Linux/6.18 botocore/1.43.11");
        assert_eq!(v1.status, "warning");
        assert!(v1.text().contains("aws-cli v1"), "{}", v1.text());
        assert_eq!(aws_major("version unknown").status, "unknown");

        assert_eq!(
            version_manager_shim(Path::new("/root/.pyenv/shims/aws")),
            Some("pyenv")
        );
        let dir = tempfile::tempdir().unwrap();
        let copied = dir.path().join("aws");
        std::fs::write(
            &copied,
            "#!/usr/bin/env bash\nexec \"/root/.pyenv/libexec/pyenv\" exec \"$program\" \"$@\"\n",
        )
        .unwrap();
        assert_eq!(version_manager_shim(&copied), Some("pyenv"));
        let real = dir.path().join("real");
        std::fs::write(&real, "\x7fELF").unwrap();
        assert_eq!(version_manager_shim(&real), None);
    }

    #[test]
    fn reads_version_numbers_and_says_when_they_were_not_checked() {
        assert_eq!(
            version_number("git version 2.47.3").as_deref(),
            Some("2.47.3")
        );
        assert_eq!(
            version_number("OpenSSH_9.2p1 Debian-2").as_deref(),
            Some("9.2")
        );
        assert_eq!(
            version_number("Terraform v1.11.4").as_deref(),
            Some("1.11.4")
        );
        assert_eq!(version_number("no digits"), None);
        let module = airlock_policy::compile(
            "git.toml",
            "[command]\nbin = \"git\"\nversions = [\"2.47\"]\n",
        )
        .unwrap();
        assert!(
            version_note(&module, "git version 2.47.3")
                .unwrap()
                .starts_with("checked")
        );
        let ssh = airlock_policy::compile(
            "ssh.toml",
            "[command]\nbin = \"ssh\"\nversions = [\"OpenSSH_9.2\"]\n",
        )
        .unwrap();
        assert!(
            version_note(&ssh, "OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0")
                .unwrap()
                .starts_with("checked"),
            "a release named as the tool prints it"
        );
        assert!(
            version_note(&ssh, "OpenSSH_9.6p1")
                .unwrap()
                .starts_with("warning")
        );
        let warning = version_note(&module, "git version 2.39.5").unwrap();
        assert!(
            warning.starts_with("warning") && warning.contains("2.39.5"),
            "{warning}"
        );
    }
}
