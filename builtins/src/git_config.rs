//! The repository-configuration check for git. An agent can write its repository's
//! `.git/config`; a proxied `git status` would then run whatever `core.fsmonitor`,
//! a filter driver or an alias there names, on the host. The module's environment
//! overrides some keys (see `modules/git.md`); this check refuses to run git at all
//! while the repository's own configuration names a program or points outside.
//!
//! Input: the output of `git config --list --show-scope --null`, run in the request's
//! working directory with the module's environment. Keys from the `local` and
//! `worktree` scopes (the repository, which the agent controls, and anything it
//! includes) are examined; `global`, `system` and `command` belong to the daemon's
//! owner.

/// A configuration entry that would let the repository run a program or escape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRisk {
    /// The scope it came from (`local`, `worktree`).
    pub scope: String,
    /// The key, as git prints it.
    pub key: String,
    /// Why it is refused.
    pub why: &'static str,
}

/// The risky entries in `git config --list --show-scope --null` output.
pub fn git_config_risks(output: &str) -> Vec<ConfigRisk> {
    let mut risks = Vec::new();
    let mut fields = output.split('\0');
    while let (Some(scope), Some(entry)) = (fields.next(), fields.next()) {
        if scope.is_empty() && entry.is_empty() {
            break;
        }
        if scope != "local" && scope != "worktree" {
            continue;
        }
        let (key, value) = entry.split_once('\n').unwrap_or((entry, ""));
        if let Some(why) = risk(&key.to_ascii_lowercase(), value) {
            risks.push(ConfigRisk {
                scope: scope.to_owned(),
                key: key.to_owned(),
                why,
            });
        }
    }
    risks
}

/// Why `key` (lowercased) with `value` is risky, if it is.
fn risk(key: &str, value: &str) -> Option<&'static str> {
    const RUNS: &str = "names a program git runs";
    const INCLUDES: &str = "includes more configuration from elsewhere";
    let (section, rest) = key.split_once('.')?;
    let name = rest.rsplit('.').next().unwrap_or(rest);
    let has_subsection = rest.contains('.');
    match (section, has_subsection, name) {
        ("core", false, "fsmonitor") => (!is_boolean(value)).then_some(RUNS),
        (
            "core",
            false,
            "sshcommand"
            | "pager"
            | "editor"
            | "askpass"
            | "hookspath"
            | "gitproxy"
            | "alternaterefscommand",
        ) => Some(RUNS),
        ("core", false, "worktree") => Some("points the working tree somewhere else on the host"),
        ("sequence", false, "editor")
        | ("diff", false, "external" | "tool" | "guitool")
        | ("merge", false, "tool" | "guitool")
        | ("gpg", _, "program")
        | ("man", _, "cmd" | "viewer")
        | ("web", false, "browser")
        | ("browser", true, "cmd" | "path")
        | ("filter", true, "clean" | "smudge" | "process")
        | ("diff", true, "command" | "textconv")
        | ("merge", true, "driver")
        | ("difftool" | "mergetool", true, "cmd" | "path")
        | ("credential", _, "helper")
        | ("remote", true, "uploadpack" | "receivepack")
        | ("uploadpack", false, "packobjectshook")
        | ("sendemail", _, "smtpserver" | "tocmd" | "cccmd")
        | ("pager", _, _) => Some(RUNS),
        ("include", false, "path") | ("includeif", true, "path") => Some(INCLUDES),
        ("protocol", _, "allow") => Some("allows transports that run programs"),
        ("alias", _, _) if value.trim_start().starts_with('!') => Some(RUNS),
        ("submodule", true, "update") if value.trim_start().starts_with('!') => Some(RUNS),
        _ => None,
    }
}

fn is_boolean(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "" | "false" | "no" | "off" | "0" | "true" | "yes" | "on" | "1"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[(&str, &str)]) -> String {
        entries
            .iter()
            .map(|(scope, entry)| format!("{scope}\0{entry}\0"))
            .collect()
    }

    #[test]
    fn finds_command_keys_in_the_repository_only() {
        let output = list(&[
            ("global", "core.pager\nless"),
            ("global", "credential.helper\nstore"),
            ("local", "core.repositoryformatversion\n0"),
            ("local", "core.fsmonitor\ntouch /tmp/p"),
            ("local", "filter.lfs.smudge\ngit-lfs smudge %f"),
            ("local", "alias.st\nstatus"),
            ("local", "alias.x\n!sh -c id"),
            ("worktree", "include.path\n../evil"),
            ("local", "core.bare\nfalse"),
            ("local", "remote.origin.url\nhttps://x"),
            ("local", "remote.origin.uploadpack\nx"),
            ("local", "Diff.Foo.TextConv\nx"),
            ("command", "core.hooksPath\n/dev/null"),
        ]);
        let keys: Vec<String> = git_config_risks(&output)
            .into_iter()
            .map(|r| r.key)
            .collect();
        assert_eq!(
            keys,
            [
                "core.fsmonitor",
                "filter.lfs.smudge",
                "alias.x",
                "include.path",
                "remote.origin.uploadpack",
                "Diff.Foo.TextConv"
            ]
        );
    }

    #[test]
    fn boolean_fsmonitor_is_fine_and_garbage_does_not_panic() {
        assert!(git_config_risks(&list(&[("local", "core.fsmonitor\nfalse")])).is_empty());
        assert!(git_config_risks(&list(&[("local", "core.fsmonitor")])).is_empty());
        for junk in ["", "\0", "local", "local\0", "\0\0\0", "local\0.\n\0x"] {
            let _ = git_config_risks(junk);
        }
    }
}
