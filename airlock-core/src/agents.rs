//! Agents: the agents file (`[name] path = "/dir"`) and each agent's profile,
//! `airlock.toml` in its directory (the commands it may use, the environment it
//! injects, its mounts, which local users may connect).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::access::{self, CommandAccess, RawAccess, RawSshAgent, SshAgentSpec};
use crate::cwd::Mount;
use crate::source_error::SourceError;

/// The agents file: agent names and their directories.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentsFile {
    /// Agent name -> directory, in name order.
    pub agents: BTreeMap<String, PathBuf>,
    /// Agent name -> where its `path` value is written (for errors about the
    /// directory).
    pub path_spans: BTreeMap<String, std::ops::Range<usize>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgentEntry {
    path: Spanned<PathBuf>,
}

impl AgentsFile {
    /// Parses the agents file; `source` names it in errors. Agent names become socket
    /// file names, so only letters, digits, `-`, `_` and `.` (not leading) are allowed.
    /// A relative directory is relative to the agents file (the daemon joins it).
    pub fn parse(source: &str, text: &str) -> Result<Self, SourceError> {
        let raw: BTreeMap<Spanned<String>, RawAgentEntry> =
            toml::from_str(text).map_err(|e| SourceError::from_toml(source, text, &e))?;
        let mut agents = BTreeMap::new();
        let mut path_spans = BTreeMap::new();
        for (name, entry) in raw {
            if !crate::is_plain_name(name.get_ref()) {
                return Err(SourceError::new(
                    source,
                    text,
                    name.span(),
                    format!(
                        "`{}` is not an agent name: use letters, digits, `-`, `_` and `.`",
                        name.get_ref()
                    ),
                ));
            }
            if entry.path.get_ref().as_os_str().is_empty() {
                return Err(SourceError::new(
                    source,
                    text,
                    entry.path.span(),
                    "empty agent directory".to_owned(),
                ));
            }
            path_spans.insert(name.get_ref().clone(), entry.path.span());
            agents.insert(name.into_inner(), entry.path.into_inner());
        }
        Ok(Self { agents, path_spans })
    }
}

/// An agent's `airlock.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentProfile {
    /// The agent's name.
    pub name: String,
    /// The commands the agent may use; `None` (`commands = []`) means every enabled one.
    pub commands: Option<BTreeSet<String>>,
    /// Names the program also takes from the daemon's environment, beyond
    /// [`crate::env::PASS`] (`[env] pass`; a module's `strip` still removes them).
    pub env_pass: BTreeSet<String>,
    /// Environment the profile injects (after module `strip`, before module `set`).
    pub env_set: BTreeMap<String, String>,
    /// Container path -> host path (a relative host path is relative to the agent's
    /// directory; the daemon joins it).
    pub mounts: Vec<Mount>,
    /// Local users allowed to connect to the agent's socket; `None`: the daemon's
    /// own user and root only.
    pub allowed_uids: Option<BTreeSet<u32>>,
    /// Where `commands` is written in the profile's text (for warnings about it).
    pub commands_span: std::ops::Range<usize>,
    /// Where each listed command is written (for errors about it).
    pub command_spans: BTreeMap<String, std::ops::Range<usize>>,
    /// Where each mount's `host` is written, in the order of `mounts`.
    pub mount_host_spans: Vec<std::ops::Range<usize>>,
    /// What each command may reach beyond the mounts and the system
    /// (`[access.COMMAND]`), by command name.
    pub access: BTreeMap<String, CommandAccess>,
    /// The keys of the agent's ssh-agent (`[ssh_agent]`).
    pub ssh_agent: SshAgentSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    commands: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    env: RawEnv,
    #[serde(default)]
    mounts: Vec<Spanned<RawMount>>,
    #[serde(default)]
    allowed_uids: Option<Vec<u32>>,
    #[serde(default)]
    access: BTreeMap<Spanned<String>, RawAccess>,
    #[serde(default)]
    ssh_agent: RawSshAgent,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnv {
    #[serde(default)]
    pass: Vec<Spanned<String>>,
    #[serde(default)]
    set: BTreeMap<Spanned<String>, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMount {
    container: Spanned<PathBuf>,
    host: Spanned<PathBuf>,
}

impl AgentProfile {
    /// Parses an agent's `airlock.toml`; `source` names it in errors.
    pub fn parse(name: &str, source: &str, text: &str) -> Result<Self, SourceError> {
        let raw: RawProfile =
            toml::from_str(text).map_err(|e| SourceError::from_toml(source, text, &e))?;
        let error = |span, message: String| SourceError::new(source, text, span, message);
        let mut commands = BTreeSet::new();
        let mut command_spans = BTreeMap::new();
        for command in raw.commands.get_ref() {
            if !crate::is_plain_name(command.get_ref()) {
                return Err(error(
                    command.span(),
                    format!("`{}` is not a command name", command.get_ref()),
                ));
            }
            commands.insert(command.get_ref().clone());
            command_spans
                .entry(command.get_ref().clone())
                .or_insert_with(|| command.span());
        }
        let mut env_pass = BTreeSet::new();
        for name in &raw.env.pass {
            let name_ref = name.get_ref();
            if !is_portable_env_name(name_ref) {
                return Err(error(
                    name.span(),
                    format!(
                        "`{name_ref}` is not an environment variable name: use letters, digits and `_`, not leading with a digit"
                    ),
                ));
            }
            if crate::env::SET_BY_DAEMON.contains(&name_ref.as_str()) {
                return Err(error(
                    name.span(),
                    format!("`{name_ref}` is set by the daemon for each run and cannot be passed"),
                ));
            }
            env_pass.insert(name_ref.clone());
        }
        let mut env_set = BTreeMap::new();
        for (key, value) in raw.env.set {
            if key.get_ref().is_empty()
                || key.get_ref().contains(['=', '\0'])
                || value.contains('\0')
            {
                return Err(error(
                    key.span(),
                    format!("`{}` is not an environment variable name", key.get_ref()),
                ));
            }
            env_set.insert(key.into_inner(), value);
        }
        let mut mounts = Vec::new();
        let mut mount_host_spans = Vec::new();
        for mount in &raw.mounts {
            let m = mount.get_ref();
            if !is_clean_absolute(m.container.get_ref()) {
                return Err(error(
                    m.container.span(),
                    format!(
                        "container path `{}` must be absolute, without `.` or `..`",
                        m.container.get_ref().display()
                    ),
                ));
            }
            if !is_clean(m.host.get_ref()) {
                return Err(error(
                    m.host.span(),
                    format!(
                        "host path `{}` must not contain `.` or `..`",
                        m.host.get_ref().display()
                    ),
                ));
            }
            mount_host_spans.push(m.host.span());
            mounts.push(Mount {
                container: m.container.get_ref().clone(),
                host: m.host.get_ref().clone(),
            });
        }
        let access = access::access(raw.access).map_err(|(span, m)| error(span, m))?;
        let ssh_agent = access::ssh_agent(raw.ssh_agent).map_err(|(span, m)| error(span, m))?;
        Ok(Self {
            name: name.to_owned(),
            commands_span: raw.commands.span(),
            command_spans,
            mount_host_spans,
            commands: (!commands.is_empty()).then_some(commands),
            env_pass,
            env_set,
            mounts,
            allowed_uids: raw.allowed_uids.map(|u| u.into_iter().collect()),
            access,
            ssh_agent,
        })
    }
}

/// Whether `name` is a portable environment variable name: ASCII letters, digits and
/// `_`, not leading with a digit.
fn is_portable_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `path` is absolute and has no `.` or `..` components.
fn is_clean_absolute(path: &Path) -> bool {
    path.is_absolute() && is_clean(path)
}

/// Whether `path` is non-empty and has no `.` or `..` components.
fn is_clean(path: &Path) -> bool {
    !path.as_os_str().is_empty()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_agents_file() {
        let a = AgentsFile::parse(
            "agents.toml",
            "[a1]\npath = \"/srv/a1\"\n[b-2]\npath = \"/srv/b\"\n",
        )
        .unwrap();
        assert_eq!(a.agents.len(), 2);
        assert_eq!(a.agents["a1"], PathBuf::from("/srv/a1"));
        let e = AgentsFile::parse("agents.toml", "[\"../x\"]\npath = \"/srv\"\n").unwrap_err();
        assert!(e.message.contains("not an agent name"), "{e}");
        let e = AgentsFile::parse("agents.toml", "[a]\npath = \"\"\n").unwrap_err();
        assert_eq!((e.location.line, e.location.column), (2, 8));
        let relative = AgentsFile::parse("agents.toml", "[a]\npath = \"agent\"\n").unwrap();
        assert_eq!(relative.agents["a"], PathBuf::from("agent"));
    }

    #[test]
    fn reads_profile() {
        let p = AgentProfile::parse(
            "a1",
            "airlock.toml",
            "commands = [\"git\"]\nallowed_uids = [1000]\n[env]\nset = { GIT_SSH_COMMAND = \"ssh -i /k\" }\n[[mounts]]\ncontainer = \"/workspace\"\nhost = \"/srv/a1/ws\"\n",
        )
        .unwrap();
        assert_eq!(p.commands.unwrap().len(), 1);
        assert_eq!(p.env_set["GIT_SSH_COMMAND"], "ssh -i /k");
        assert_eq!(p.mounts[0].container, PathBuf::from("/workspace"));
        assert_eq!(p.allowed_uids.unwrap().len(), 1);
        let all = AgentProfile::parse("a", "p", "commands = []\n").unwrap();
        assert!(all.commands.is_none());
    }

    #[test]
    fn reads_access_and_ssh_agent() {
        let text = "commands = [\"git\"]\n[access.git]\nread = [\"~/.gitconfig\", \"/etc/extra\"]\nwrite = [\"cache\"]\nconnect = [22, 443]\n[access.kubectl]\nread = [\"~/.kube/config\"]\n[ssh_agent]\nkeys = [\"~/.ssh/id_ed25519\"]\n";
        let p = AgentProfile::parse("a", "p", text).unwrap();
        let git = &p.access["git"];
        assert_eq!(git.read.len(), 2);
        assert_eq!(git.read[0].written, PathBuf::from("~/.gitconfig"));
        assert_eq!(&text[git.read[1].span.clone()], "\"/etc/extra\"");
        assert_eq!(git.write[0].written, PathBuf::from("cache"));
        assert_eq!(git.connect, Some(vec![22, 443]));
        assert!(git.bind.is_empty());
        assert_eq!(p.access["kubectl"].connect, None, "no list: any port");
        assert_eq!(
            p.ssh_agent.keys[0].written,
            PathBuf::from("~/.ssh/id_ed25519")
        );
        let none = AgentProfile::parse("a", "p", "commands = []\n").unwrap();
        assert!(none.access.is_empty() && none.ssh_agent.keys.is_empty());
    }

    #[test]
    fn rejects_bad_access() {
        for (text, line, needle) in [
            (
                "commands = []\n[access.git]\nconnect = [0]\n",
                3,
                "not a TCP port",
            ),
            (
                "commands = []\n[access.git]\nbind = [70000]\n",
                3,
                "not a TCP port",
            ),
            (
                "commands = []\n[access.git]\nread = [\"../x\"]\n",
                3,
                "without `.` or `..`",
            ),
            (
                "commands = []\n[access.git]\nread = [\"~op/x\"]\n",
                3,
                "absolute path",
            ),
            (
                "commands = []\n[access.git]\nwrite = [\"\"]\n",
                3,
                "empty path",
            ),
            ("commands = []\n[access.git]\nexec = [\"/x\"]\n", 3, "exec"),
            (
                "commands = []\n[access.\"../x\"]\nread = []\n",
                2,
                "not a command name",
            ),
            (
                "commands = []\n[ssh_agent]\nkeys = [\"./k\"]\n",
                3,
                "without `.` or `..`",
            ),
        ] {
            let e = AgentProfile::parse("a", "p", text).unwrap_err();
            assert_eq!(e.location.line, line, "{text}: {e}");
            assert!(e.message.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn reads_env_pass() {
        let p = AgentProfile::parse(
            "a",
            "p",
            "commands = []\n[env]\npass = [\"AWS_PROFILE\", \"HTTPS_PROXY\", \"AWS_PROFILE\"]\n",
        )
        .unwrap();
        let pass: Vec<&str> = p.env_pass.iter().map(String::as_str).collect();
        assert_eq!(pass, ["AWS_PROFILE", "HTTPS_PROXY"]);
        let none = AgentProfile::parse("a", "p", "commands = []\n").unwrap();
        assert!(none.env_pass.is_empty());
        for (text, column, needle) in [
            (
                "pass = [\"A\", \"AWS_*\"]",
                14,
                "not an environment variable name",
            ),
            ("pass = [\"1X\"]", 9, "not an environment variable name"),
            ("pass = [\"\"]", 9, "not an environment variable name"),
            ("pass = [\"A=B\"]", 9, "not an environment variable name"),
            ("pass = [\"HOME\"]", 9, "set by the daemon"),
            ("pass = [\"TMPDIR\"]", 9, "set by the daemon"),
            ("pass = \"PATH\"", 8, "sequence"),
        ] {
            let e = AgentProfile::parse("a", "p", &format!("commands = []\n[env]\n{text}\n"))
                .unwrap_err();
            assert_eq!(
                (e.location.line, e.location.column),
                (3, column),
                "{text}: {e}"
            );
            assert!(e.message.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn rejects_bad_profiles() {
        let e = AgentProfile::parse("a", "p", "[env]\nset = {}\n").unwrap_err();
        assert!(e.message.contains("commands"), "{e}");
        let e = AgentProfile::parse(
            "a",
            "p",
            "commands = []\n[[mounts]]\ncontainer = \"/w/../x\"\nhost = \"/h\"\n",
        )
        .unwrap_err();
        assert_eq!(e.location.line, 3);
        let e = AgentProfile::parse("a", "p", "commands = []\nmount = 1\n").unwrap_err();
        assert!(e.message.contains("mount"), "{e}");
    }
}
