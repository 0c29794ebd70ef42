//! Where an ssh request connects: the destination operand, read by the built-in ssh
//! module's syntax (every plausible reading counts), as ssh reads it
//! (`[user@]host`, `ssh://[user@]host[:port]`, the host in lower case).
//!
//! The built-in module refuses everything else that picks a host (`-J`, `-W`, `-F`,
//! `-o Hostname=`, `-o ProxyJump=`, `-o ProxyCommand=`), so the destination operand is
//! the one place the argv names it. ssh's own configuration files (the operator's)
//! can still map a name to another host.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::OnceLock;

use airlock_policy::{CompileError, Module, Unreadable};

/// Why the destination of an ssh argv cannot be told.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SshDestinationError {
    /// The built-in ssh module cannot read the argv.
    Unreadable(Unreadable),
    /// The built-in ssh module does not compile: a bug of this crate.
    Module(CompileError),
}

impl fmt::Display for SshDestinationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SshDestinationError::Unreadable(why) => write!(f, "cannot read the ssh argv: {why}"),
            SshDestinationError::Module(e) => write!(f, "the built-in ssh module: {e}"),
        }
    }
}

impl std::error::Error for SshDestinationError {}

fn ssh_module() -> Result<&'static Module, SshDestinationError> {
    static SSH: OnceLock<Result<Module, CompileError>> = OnceLock::new();
    let compiled = SSH.get_or_init(|| match crate::compile("ssh") {
        Some(result) => result,
        None => Module::compile("builtin:ssh.toml", ""),
    });
    compiled
        .as_ref()
        .map_err(|e| SshDestinationError::Module(e.clone()))
}

/// The hosts an ssh argv (without the program name) connects to: none when it names
/// no destination (`ssh -V`), more than one only when its readings disagree.
///
/// ```
/// let hosts = airlock_builtins::ssh_destinations(&["-p", "22", "Git@GitHub.com", "ls"]).unwrap();
/// assert_eq!(hosts, ["github.com"]);
/// ```
pub fn ssh_destinations<S: AsRef<str>>(args: &[S]) -> Result<Vec<String>, SshDestinationError> {
    let module = ssh_module()?;
    let readings = module
        .readings(args)
        .map_err(SshDestinationError::Unreadable)?;
    let mut hosts = BTreeSet::new();
    for reading in &readings {
        if let Some(destination) = reading.operands().next() {
            hosts.insert(host_of(destination.text()));
        }
    }
    Ok(hosts.into_iter().collect())
}

/// The host of a destination as ssh reads it.
fn host_of(destination: &str) -> String {
    let rest = match destination.strip_prefix("ssh://") {
        Some(uri) => {
            // ssh://[user@]host[:port][/...]: ssh refuses a path; the host ends at `/`.
            let authority = uri.split('/').next().unwrap_or("");
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            match host.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or("").to_owned(),
                None => host.split(':').next().unwrap_or("").to_owned(),
            }
        }
        // `user@host`: ssh splits at the last `@`.
        None => destination
            .rsplit_once('@')
            .map_or(destination, |(_, h)| h)
            .to_owned(),
    };
    rest.to_ascii_lowercase()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test")]
mod tests {
    use super::*;

    #[test]
    fn the_destination_as_ssh_reads_it() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["host"], &["host"]),
            (&["-l", "u", "Host.Example", "uptime"], &["host.example"]),
            (&["u@a@b.example"], &["b.example"]),
            (&["ssh://u@h.example:2222"], &["h.example"]),
            (&["ssh://[::1]:22"], &["::1"]),
            (&["-p22", "-v", "h", "-l", "x"], &["h"]),
            (&["-V"], &[]),
        ];
        for (args, want) in cases {
            assert_eq!(ssh_destinations(args).unwrap(), *want, "{args:?}");
        }
    }
}
