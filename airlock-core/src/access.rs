//! What a command may reach beyond the agent's mounts and the system, as an agent's
//! profile declares it (`[access.COMMAND]`), and the keys its ssh-agent holds
//! (`[ssh_agent]`). The kernel enforces the first (the daemon confines every program to
//! its mounts, the system and these paths and ports); the second keeps key files out of
//! every program's reach.
//!
//! Declared host paths are written as in the profile: `~/x` is the daemon user's home,
//! a relative path is relative to the agent's directory. They are resolved, and checked
//! to exist, by the daemon when it loads the agent ([`HostPath::resolve`] does the
//! joining; the daemon does the file system work and reports a missing path at the
//! declaration's line and column).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// A host path as a profile declares it, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPath {
    /// The path as written (`~/.gitconfig`, `keys/id`, `/etc/x`).
    pub written: PathBuf,
    /// Its byte range in the profile's text, for errors.
    pub span: Range<usize>,
}

impl HostPath {
    /// The host path this declaration names: `~/rest` under `home`, a relative path
    /// under `agent_dir`, an absolute path as it is. `None` for `~` without a home.
    pub fn resolve(&self, agent_dir: &Path, home: Option<&Path>) -> Option<PathBuf> {
        match self.written.strip_prefix("~") {
            Ok(rest) => home.map(|home| home.join(rest)),
            Err(_) => Some(agent_dir.join(&self.written)),
        }
    }
}

/// What one command may reach (`[access.COMMAND]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandAccess {
    /// Files and directories it may read (and execute), beyond the mounts.
    pub read: Vec<HostPath>,
    /// Files and directories it may read and write, beyond the mounts.
    pub write: Vec<HostPath>,
    /// TCP ports it may connect to; `None`: any (the kernel's Landlock ABI 4 or later
    /// is needed to enforce a list).
    pub connect: Option<Vec<u16>>,
    /// TCP ports it may listen on; none unless declared (Landlock ABI 4 or later).
    pub bind: Vec<u16>,
    /// Where the first port (of `connect`, else `bind`) was written, for errors about
    /// ports the kernel cannot enforce.
    pub ports_span: Option<Range<usize>>,
    /// The places (URLs, after the tool's own rewriting) it may fetch from or send to,
    /// as [`crate::destinations`] patterns; `None`: anywhere its rules allow.
    pub remotes: Option<Vec<crate::destinations::Pattern>>,
    /// Where the `remotes` list was written, for errors about it.
    pub remotes_span: Option<Range<usize>>,
    /// The hosts (as the tool reads its destination, in lower case) it may connect
    /// to, as [`crate::destinations`] patterns; `None`: any its rules allow.
    pub hosts: Option<Vec<crate::destinations::Pattern>>,
    /// Where the `hosts` list was written, for errors about it.
    pub hosts_span: Option<Range<usize>>,
    /// The regions it may address (aws), as [`crate::destinations`] patterns; `None`:
    /// any its rules allow.
    pub regions: Option<Vec<crate::destinations::Pattern>>,
    /// Where the `regions` list was written, for errors about it.
    pub regions_span: Option<Range<usize>>,
}

/// The agent's ssh-agent (`[ssh_agent]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshAgentSpec {
    /// Private key files loaded into the agent's ssh-agent. Programs get only
    /// `SSH_AUTH_SOCK`; the files stay outside every confinement.
    pub keys: Vec<HostPath>,
}

/// `[access.COMMAND]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAccess {
    #[serde(default)]
    read: Vec<Spanned<PathBuf>>,
    #[serde(default)]
    write: Vec<Spanned<PathBuf>>,
    #[serde(default)]
    connect: Option<Vec<Spanned<i64>>>,
    #[serde(default)]
    bind: Vec<Spanned<i64>>,
    #[serde(default)]
    remotes: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    hosts: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    regions: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `[ssh_agent]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSshAgent {
    #[serde(default)]
    keys: Vec<Spanned<PathBuf>>,
}

/// A fault in an access declaration: the span and the message.
pub(crate) type Fault = (Range<usize>, String);

/// Checks and converts the `[access]` tables.
pub(crate) fn access(
    raw: BTreeMap<Spanned<String>, RawAccess>,
) -> Result<BTreeMap<String, CommandAccess>, Fault> {
    let mut out = BTreeMap::new();
    for (command, table) in raw {
        if !crate::is_plain_name(command.get_ref()) {
            return Err((
                command.span(),
                format!("`{}` is not a command name", command.get_ref()),
            ));
        }
        let ports_span = table
            .connect
            .iter()
            .flatten()
            .chain(&table.bind)
            .next()
            .map(Spanned::span);
        let access = CommandAccess {
            read: paths(table.read)?,
            write: paths(table.write)?,
            connect: table.connect.map(ports).transpose()?,
            bind: ports(table.bind)?,
            ports_span,
            remotes_span: table.remotes.as_ref().map(Spanned::span),
            remotes: patterns(table.remotes)?,
            hosts_span: table.hosts.as_ref().map(Spanned::span),
            hosts: patterns(table.hosts)?,
            regions_span: table.regions.as_ref().map(Spanned::span),
            regions: patterns(table.regions)?,
        };
        out.insert(command.into_inner(), access);
    }
    Ok(out)
}

/// Checks a list of destination patterns.
fn patterns(
    raw: Option<Spanned<Vec<Spanned<String>>>>,
) -> Result<Option<Vec<crate::destinations::Pattern>>, Fault> {
    raw.map(|list| {
        list.into_inner()
            .into_iter()
            .map(crate::destinations::Pattern::new)
            .collect::<Result<Vec<_>, _>>()
    })
    .transpose()
}

/// Checks and converts `[ssh_agent]`.
pub(crate) fn ssh_agent(raw: RawSshAgent) -> Result<SshAgentSpec, Fault> {
    Ok(SshAgentSpec {
        keys: paths(raw.keys)?,
    })
}

fn paths(raw: Vec<Spanned<PathBuf>>) -> Result<Vec<HostPath>, Fault> {
    raw.into_iter()
        .map(|path| {
            let span = path.span();
            let written = path.into_inner();
            if written.as_os_str().is_empty() {
                return Err((span, "empty path".to_owned()));
            }
            let clean = written
                .components()
                .all(|c| !matches!(c, Component::ParentDir | Component::CurDir));
            let tilde_ok = written
                .to_str()
                .is_none_or(|s| !s.starts_with('~') || s == "~" || s.starts_with("~/"));
            if !clean || !tilde_ok {
                return Err((
                    span,
                    format!(
                        "`{}`: write an absolute path, `~/...` (the daemon user's home) or a path relative to the agent's directory, without `.` or `..`",
                        written.display()
                    ),
                ));
            }
            Ok(HostPath { written, span })
        })
        .collect()
}

fn ports(raw: Vec<Spanned<i64>>) -> Result<Vec<u16>, Fault> {
    raw.into_iter()
        .map(|port| match u16::try_from(*port.get_ref()) {
            Ok(p) if p != 0 => Ok(p),
            _ => Err((
                port.span(),
                format!("`{}` is not a TCP port (1-65535)", port.get_ref()),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(written: &str) -> HostPath {
        HostPath {
            written: written.into(),
            span: 0..0,
        }
    }

    #[test]
    fn resolves_home_relative_and_absolute() {
        let dir = Path::new("/srv/agents/a1");
        let home = Some(Path::new("/home/op"));
        assert_eq!(
            host("~/.gitconfig").resolve(dir, home),
            Some(PathBuf::from("/home/op/.gitconfig"))
        );
        assert_eq!(
            host("~").resolve(dir, home),
            Some(PathBuf::from("/home/op"))
        );
        assert_eq!(
            host("keys/id").resolve(dir, home),
            Some(PathBuf::from("/srv/agents/a1/keys/id"))
        );
        assert_eq!(
            host("/etc/x").resolve(dir, home),
            Some(PathBuf::from("/etc/x"))
        );
        assert_eq!(host("~/.aws").resolve(dir, None), None);
    }
}
