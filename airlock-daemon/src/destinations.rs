//! The daemon's destination checks (`airlock.destination`): the places a request
//! would reach, as the engine's reading and the tool's own rules name them, against
//! the lists of the agent's profile (`[access.git] remotes`, `[access.ssh] hosts`,
//! `[access.aws] regions`; see `airlock_core::destinations` for the patterns).

use std::collections::BTreeMap;

use airlock_core::destinations::{self, Pattern};

use crate::pipeline::Refusal;

/// The rule id of every destination refusal.
pub const RULE: &str = "airlock.destination";

fn refuse(why: String) -> Refusal {
    Refusal::denied(RULE, why)
}

/// Refuses the first of `reached` that `patterns` do not allow. Each item is what
/// the program would do (`git would push to`) and where; `key` names the profile's
/// list (`remotes`), `hint` ends the reason.
pub fn check_reached(
    patterns: &[Pattern],
    reached: impl IntoIterator<Item = (&'static str, String)>,
    command: &str,
    key: &str,
    hint: &str,
) -> Result<(), Refusal> {
    for (action, value) in reached {
        match destinations::allowed(patterns, &value) {
            Ok(true) => {}
            Ok(false) => {
                return Err(refuse(format!(
                    "{action} `{value}`, which is not among the {key} this agent may reach (`[access.{command}] {key}` in its profile{hint})"
                )));
            }
            Err(e) => return Err(refuse(format!("{action} {e}"))),
        }
    }
    Ok(())
}

/// `[access.ssh] hosts`: the destination operand of an ssh argv.
pub fn check_ssh(hosts: &[Pattern], command: &str, args: &[String]) -> Result<(), Refusal> {
    let reached = airlock_builtins::ssh_destinations(args).map_err(|e| refuse(e.to_string()))?;
    check_reached(
        hosts,
        reached
            .into_iter()
            .map(|host| ("ssh would connect to", host)),
        command,
        "hosts",
        "",
    )
}

/// `[access.aws] regions`: the `--region` an aws argv names, else the environment's
/// `AWS_REGION` and `AWS_DEFAULT_REGION`; a request whose region would come from a
/// configuration file is refused (name the region).
pub fn check_aws(
    regions: &[Pattern],
    command: &str,
    args: &[String],
    env: &BTreeMap<String, String>,
) -> Result<(), Refusal> {
    let mut named = airlock_builtins::aws_regions(args).map_err(|e| refuse(e.to_string()))?;
    if named.is_empty() {
        named.extend(
            ["AWS_REGION", "AWS_DEFAULT_REGION"]
                .iter()
                .filter_map(|k| env.get(*k).cloned()),
        );
    }
    if named.is_empty() {
        return Err(refuse(format!(
            "aws would take its region from a configuration file; name it with `--region` (one of the regions in `[access.{command}] regions`)"
        )));
    }
    check_reached(
        regions,
        named
            .into_iter()
            .map(|region| ("aws would address region", region)),
        command,
        "regions",
        "",
    )
}
