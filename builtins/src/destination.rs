//! Where an ssh request connects (and which region an aws request names): the
//! destination operand, read by the built-in ssh
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

/// Why the destination of an ssh or aws argv cannot be told.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DestinationError {
    /// The built-in module cannot read the argv.
    Unreadable(Unreadable),
    /// The built-in module does not compile: a bug of this crate.
    Module(CompileError),
}

impl fmt::Display for DestinationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DestinationError::Unreadable(why) => write!(f, "cannot read the argv: {why}"),
            DestinationError::Module(e) => write!(f, "a built-in module: {e}"),
        }
    }
}

impl std::error::Error for DestinationError {}

fn ssh_module() -> Result<&'static Module, DestinationError> {
    static SSH: OnceLock<Result<Module, CompileError>> = OnceLock::new();
    crate::cached(&SSH, "ssh").map_err(|e| DestinationError::Module(e.clone()))
}

fn aws_module() -> Result<&'static Module, DestinationError> {
    static AWS: OnceLock<Result<Module, CompileError>> = OnceLock::new();
    crate::cached(&AWS, "aws").map_err(|e| DestinationError::Module(e.clone()))
}

/// The regions an aws argv names with `--region` (read by the built-in aws module,
/// every plausible reading, abbreviations resolved as aws resolves them): empty when
/// it names none, and the region then comes from the environment (`AWS_REGION`,
/// `AWS_DEFAULT_REGION`) or the profile's configuration.
///
/// ```
/// let regions = airlock_builtins::aws_regions(&["--reg", "eu-west-1", "s3", "ls"]).unwrap();
/// assert_eq!(regions, ["eu-west-1"]);
/// ```
pub fn aws_regions<S: AsRef<str>>(args: &[S]) -> Result<Vec<String>, DestinationError> {
    let module = aws_module()?;
    let readings = module
        .readings(args)
        .map_err(DestinationError::Unreadable)?;
    let mut regions = BTreeSet::new();
    for reading in &readings {
        for option in reading.options().filter(|o| o.is("--region")) {
            regions.insert(option.value().unwrap_or("").to_owned());
        }
    }
    Ok(regions.into_iter().collect())
}

/// The hosts an ssh argv (without the program name) connects to: none when it names
/// no destination (`ssh -V`), more than one only when its readings disagree.
///
/// ```
/// let hosts = airlock_builtins::ssh_destinations(&["-p", "22", "Git@GitHub.com", "ls"]).unwrap();
/// assert_eq!(hosts, ["github.com"]);
/// ```
pub fn ssh_destinations<S: AsRef<str>>(args: &[S]) -> Result<Vec<String>, DestinationError> {
    let module = ssh_module()?;
    let readings = module
        .readings(args)
        .map_err(DestinationError::Unreadable)?;
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

    #[test]
    fn the_region_as_aws_reads_it() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["s3", "ls"], &[]),
            (&["--region", "us-east-1", "s3", "ls"], &["us-east-1"]),
            (&["s3", "ls", "--region=eu-west-1"], &["eu-west-1"]),
            (
                &["ec2", "describe-instances", "--regi", "ap-south-1"],
                &["ap-south-1"],
            ),
        ];
        for (args, want) in cases {
            assert_eq!(aws_regions(args).unwrap(), *want, "{args:?}");
        }
    }
}
