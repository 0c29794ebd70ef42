//! `airlock-daemon doctor`: is each enabled command's program installed, and which
//! version is it? How are programs confined on this kernel?

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use crate::cli::{CliResult, ConfigArgs};
use crate::load;

/// How long a program may take to print its version.
const VERSION_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the doctor; exit 1 when a program is missing.
pub fn run(config: &ConfigArgs) -> CliResult {
    let path = config.config_dir().join("config.toml");
    let text = load::read_text(&path).map_err(|e| e.to_string())?;
    let daemon = airlock_core::DaemonConfig::parse(&path.display().to_string(), &text)
        .map_err(|e| e.to_string())?;
    let mut missing = 0;
    match crate::confine::Confiner::new(&daemon.confinement) {
        Ok(confiner) => {
            for line in confiner.describe() {
                println!("confine  {line}");
            }
        }
        Err(e) => {
            missing += 1;
            println!("confine  {e}");
        }
    }
    let search = std::env::var_os("PATH").unwrap_or_default();
    for command in &daemon.enable {
        match find_program(command, &search) {
            Some(program) => {
                let version =
                    version_of(command, &program).unwrap_or_else(|| "version unknown".into());
                println!("ok       {command}\t{}\t{version}", program.display());
                if let Some(module) = airlock_builtins::compile(command).and_then(Result::ok) {
                    if let Some(note) = version_note(&module, &version) {
                        println!("{note}");
                    }
                }
            }
            None => {
                missing += 1;
                println!("missing  {command}\tnot found on PATH");
            }
        }
    }
    missing += ssh_agent_tools(config, &search);
    Ok(if missing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What a built-in module says about the installed version: `checked` or a `warning`
/// line, `None` when the module names no versions.
pub fn version_note(module: &airlock_policy::Module, version_line: &str) -> Option<String> {
    let checked = module.versions().join(", ");
    let installed = version_number(version_line);
    match installed.as_deref().map(|v| module.checked_against(v)) {
        None if module.versions().is_empty() => None,
        Some(None) => None,
        Some(Some(true)) => Some(format!(
            "checked  {}\tthe module's reading was checked against {checked}",
            module.bin()
        )),
        Some(Some(false)) | None => Some(format!(
            "warning  {}\tinstalled `{}`, but the module's reading was checked against {checked} only: options may be read differently",
            module.bin(),
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
fn ssh_agent_tools(config: &ConfigArgs, search: &std::ffi::OsStr) -> usize {
    let Some(agents_file) = &config.agents else {
        return 0;
    };
    let needed: Vec<String> = match needing_ssh_agent(agents_file) {
        Ok(needed) => needed,
        Err(e) => {
            println!("unknown  ssh-agent\tcannot read the agents: {e}");
            return 0;
        }
    };
    if needed.is_empty() {
        return 0;
    }
    let mut missing = 0;
    for tool in ["ssh-agent", "ssh-add"] {
        match find_program(tool, search) {
            Some(program) => println!(
                "ok       {tool}\t{}\tfor the keys of {}",
                program.display(),
                needed.join(", ")
            ),
            None => {
                missing += 1;
                println!(
                    "missing  {tool}\tnot found on PATH (needed for the keys of {})",
                    needed.join(", ")
                );
            }
        }
    }
    missing
}

/// The agents whose profiles name ssh-agent keys.
fn needing_ssh_agent(agents_file: &Path) -> Result<Vec<String>, String> {
    let text = load::read_text(agents_file).map_err(|e| e.to_string())?;
    let agents = airlock_core::AgentsFile::parse(&agents_file.display().to_string(), &text)
        .map_err(|e| e.to_string())?;
    let base = agents_file.parent().unwrap_or(Path::new("."));
    let mut needed = Vec::new();
    for (name, dir) in agents.agents {
        let path = base.join(dir).join("airlock.toml");
        let text = load::read_text(&path).map_err(|e| e.to_string())?;
        let profile = airlock_core::AgentProfile::parse(&name, &path.display().to_string(), &text)
            .map_err(|e| e.to_string())?;
        if !profile.ssh_agent.keys.is_empty() {
            needed.push(format!("`{name}`"));
        }
    }
    Ok(needed)
}

/// Finds `name` in the directories of `search` (a `PATH` value).
pub fn find_program(name: &str, search: &std::ffi::OsStr) -> Option<PathBuf> {
    std::env::split_paths(search)
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
        let warning = version_note(&module, "git version 2.39.5").unwrap();
        assert!(
            warning.starts_with("warning") && warning.contains("2.39.5"),
            "{warning}"
        );
    }
}
