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

/// How a repository configuration was judged: the first entry refused, if any, and the
/// aliases it defines (which the daemon expands and checks against the module).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigJudgement {
    /// Entries that are not known to be harmless, in file order.
    pub refused: Vec<ConfigRisk>,
    /// `alias.NAME` -> expansion, for aliases that are not `!` shell commands.
    pub aliases: std::collections::BTreeMap<String, String>,
    /// The remotes, branches' remotes and URL rewriting it configures.
    pub remotes: crate::GitRemotes,
}

/// Judges a repository's configuration by an allow list: every entry must be a key
/// Airlock knows git reads without running a program (and, for a few, with a value
/// that keeps it so: `core.fsmonitor = false`, `commit.gpgSign = false`). Anything
/// else is refused, so a key added in a new git release fails closed.
///
/// Input: `git config --file CONFIG --list --null` of the pinned configuration (git
/// parses it, so the keys are exactly the ones git reads; with `--file` includes are
/// listed, not followed, and `include.path` is refused).
pub fn judge_repository_config(output: &str) -> ConfigJudgement {
    let mut judgement = ConfigJudgement::default();
    for entry in output.split('\0').filter(|e| !e.is_empty()) {
        // A key given without `=` has no value line and means `true`.
        let (key, value) = match entry.split_once('\n') {
            Some((key, value)) => (key, Some(value)),
            None => (entry, None),
        };
        let lower = lowercase_key(key);
        match allowed(&lower, value) {
            Verdict::Harmless => {
                judgement.remotes.add(key, value);
                if let Some(name) = alias_name(key) {
                    judgement
                        .aliases
                        .insert(name.to_owned(), value.unwrap_or("").to_owned());
                }
            }
            Verdict::Refused(why) => judgement.refused.push(ConfigRisk {
                scope: "local".to_owned(),
                key: key.to_owned(),
                why,
            }),
        }
    }
    judgement
}

/// What the allow list says of one entry.
enum Verdict {
    Harmless,
    Refused(&'static str),
}

/// How a known key's value is constrained.
#[derive(Clone, Copy)]
enum Value {
    /// Any value.
    Any,
    /// Only git's spellings of false (the key enables something that runs programs).
    False,
    /// Not a `!` shell command.
    NotShell,
}

/// Keys git reads without running programs, as `section.name` or `section.*.name`
/// (any subsection), lowercase; `section.*` allows every key of the section.
const HARMLESS: &[(&str, Value)] = &[
    // core: the repository's format and file handling; none of these names a program.
    ("core.repositoryformatversion", Value::Any),
    ("core.filemode", Value::Any),
    ("core.bare", Value::Any),
    ("core.logallrefupdates", Value::Any),
    ("core.ignorecase", Value::Any),
    ("core.precomposeunicode", Value::Any),
    ("core.symlinks", Value::Any),
    ("core.autocrlf", Value::Any),
    ("core.eol", Value::Any),
    ("core.safecrlf", Value::Any),
    ("core.checkstat", Value::Any),
    ("core.trustctime", Value::Any),
    ("core.ignorestat", Value::Any),
    ("core.untrackedcache", Value::Any),
    ("core.splitindex", Value::Any),
    ("core.quotepath", Value::Any),
    ("core.abbrev", Value::Any),
    ("core.compression", Value::Any),
    ("core.loosecompression", Value::Any),
    ("core.packedgitwindowsize", Value::Any),
    ("core.packedgitlimit", Value::Any),
    ("core.deltabasecachelimit", Value::Any),
    ("core.bigfilethreshold", Value::Any),
    ("core.excludesfile", Value::Any),
    ("core.attributesfile", Value::Any),
    ("core.whitespace", Value::Any),
    ("core.notesref", Value::Any),
    ("core.sparsecheckout", Value::Any),
    ("core.sparsecheckoutcone", Value::Any),
    ("core.commentchar", Value::Any),
    ("core.commentstring", Value::Any),
    ("core.filesreflocktimeout", Value::Any),
    ("core.packedrefstimeout", Value::Any),
    ("core.preloadindex", Value::Any),
    ("core.multipackindex", Value::Any),
    ("core.commitgraph", Value::Any),
    ("core.warnambiguousrefs", Value::Any),
    ("core.fsync", Value::Any),
    ("core.fsyncmethod", Value::Any),
    ("core.fsyncobjectfiles", Value::Any),
    ("core.usereplacerefs", Value::Any),
    ("core.sharedrepository", Value::Any),
    ("core.protecthfs", Value::Any),
    ("core.protectntfs", Value::Any),
    ("core.checkroundtripencoding", Value::Any),
    ("core.createobject", Value::Any),
    ("core.maxtreedepth", Value::Any),
    ("core.alternaterefsprefixes", Value::Any),
    ("core.fsmonitorhookversion", Value::Any),
    ("core.fsmonitor", Value::False),
    // extensions: the repository format (worktreeConfig is refused: it would make git
    // read a per-worktree file the daemon does not pin).
    ("extensions.objectformat", Value::Any),
    ("extensions.compatobjectformat", Value::Any),
    ("extensions.refstorage", Value::Any),
    ("extensions.preciousobjects", Value::Any),
    ("extensions.partialclone", Value::Any),
    ("extensions.noop", Value::Any),
    // remotes and branches: where to fetch and push, never which program serves it
    // (`remote.*.uploadpack`, `receivepack` and `vcs` are refused).
    ("remote.*.url", Value::Any),
    ("remote.*.pushurl", Value::Any),
    ("remote.*.fetch", Value::Any),
    ("remote.*.push", Value::Any),
    ("remote.*.mirror", Value::Any),
    ("remote.*.skipdefaultupdate", Value::Any),
    ("remote.*.skipfetchall", Value::Any),
    ("remote.*.tagopt", Value::Any),
    ("remote.*.prune", Value::Any),
    ("remote.*.prunetags", Value::Any),
    ("remote.*.promisor", Value::Any),
    ("remote.*.partialclonefilter", Value::Any),
    ("remote.*.followremotehead", Value::Any),
    ("remote.pushdefault", Value::Any),
    ("remotes.*", Value::Any),
    ("branch.*.remote", Value::Any),
    ("branch.*.pushremote", Value::Any),
    ("branch.*.merge", Value::Any),
    ("branch.*.rebase", Value::Any),
    ("branch.*.description", Value::Any),
    ("branch.autosetupmerge", Value::Any),
    ("branch.autosetuprebase", Value::Any),
    ("branch.sort", Value::Any),
    ("url.*.insteadof", Value::Any),
    ("url.*.pushinsteadof", Value::Any),
    // identity and defaults
    ("user.name", Value::Any),
    ("user.email", Value::Any),
    ("user.useconfigonly", Value::Any),
    ("user.signingkey", Value::Any),
    ("author.name", Value::Any),
    ("author.email", Value::Any),
    ("committer.name", Value::Any),
    ("committer.email", Value::Any),
    ("init.defaultbranch", Value::Any),
    // porcelain behaviour
    ("pull.rebase", Value::Any),
    ("pull.ff", Value::Any),
    ("push.default", Value::Any),
    ("push.autosetupremote", Value::Any),
    ("push.followtags", Value::Any),
    ("push.negotiate", Value::Any),
    ("push.usebitmaps", Value::Any),
    ("push.pushoption", Value::Any),
    ("push.usebitmaps", Value::Any),
    ("push.recursesubmodules", Value::False),
    ("push.gpgsign", Value::False),
    ("fetch.prune", Value::Any),
    ("fetch.prunetags", Value::Any),
    ("fetch.writecommitgraph", Value::Any),
    ("fetch.parallel", Value::Any),
    ("fetch.showforcedupdates", Value::Any),
    ("fetch.negotiationalgorithm", Value::Any),
    ("fetch.fsckobjects", Value::Any),
    ("fetch.output", Value::Any),
    ("fetch.unpacklimit", Value::Any),
    ("fetch.recursesubmodules", Value::False),
    ("merge.ff", Value::Any),
    ("merge.conflictstyle", Value::Any),
    ("merge.defaulttoupstream", Value::Any),
    ("merge.log", Value::Any),
    ("merge.renames", Value::Any),
    ("merge.renamelimit", Value::Any),
    ("merge.directoryrenames", Value::Any),
    ("merge.stat", Value::Any),
    ("merge.autostash", Value::Any),
    ("merge.verbosity", Value::Any),
    ("merge.branchdesc", Value::Any),
    ("merge.renormalize", Value::Any),
    ("merge.suppressdest", Value::Any),
    ("merge.verifysignatures", Value::False),
    ("merge.*.name", Value::Any),
    ("merge.*.recursive", Value::Any),
    ("rebase.autosquash", Value::Any),
    ("rebase.autostash", Value::Any),
    ("rebase.stat", Value::Any),
    ("rebase.updaterefs", Value::Any),
    ("rebase.missingcommitscheck", Value::Any),
    ("rebase.abbreviatecommands", Value::Any),
    ("rebase.forkpoint", Value::Any),
    ("rebase.instructionformat", Value::Any),
    ("rebase.backend", Value::Any),
    ("rebase.rebasemerges", Value::Any),
    ("rebase.maxlabellength", Value::Any),
    ("diff.renames", Value::Any),
    ("diff.algorithm", Value::Any),
    ("diff.context", Value::Any),
    ("diff.interhunkcontext", Value::Any),
    ("diff.mnemonicprefix", Value::Any),
    ("diff.noprefix", Value::Any),
    ("diff.srcprefix", Value::Any),
    ("diff.dstprefix", Value::Any),
    ("diff.relative", Value::Any),
    ("diff.statgraphwidth", Value::Any),
    ("diff.statnamewidth", Value::Any),
    ("diff.submodule", Value::Any),
    ("diff.wordregex", Value::Any),
    ("diff.colormoved", Value::Any),
    ("diff.colormovedws", Value::Any),
    ("diff.ignoresubmodules", Value::Any),
    ("diff.indentheuristic", Value::Any),
    ("diff.suppressblankempty", Value::Any),
    ("diff.orderfile", Value::Any),
    ("diff.dirstat", Value::Any),
    ("diff.autorefreshindex", Value::Any),
    ("diff.renamelimit", Value::Any),
    // a diff driver may set how hunks and words are found, never a command
    ("diff.*.xfuncname", Value::Any),
    ("diff.*.funcname", Value::Any),
    ("diff.*.wordregex", Value::Any),
    ("diff.*.binary", Value::Any),
    ("status.showuntrackedfiles", Value::Any),
    ("status.branch", Value::Any),
    ("status.short", Value::Any),
    ("status.relativepaths", Value::Any),
    ("status.showstash", Value::Any),
    ("status.aheadbehind", Value::Any),
    ("status.renames", Value::Any),
    ("status.renamelimit", Value::Any),
    ("status.displaycommentprefix", Value::Any),
    ("status.submodulesummary", Value::False),
    ("log.decorate", Value::Any),
    ("log.date", Value::Any),
    ("log.follow", Value::Any),
    ("log.abbrevcommit", Value::Any),
    ("log.showroot", Value::Any),
    ("log.mailmap", Value::Any),
    ("log.excludedecoration", Value::Any),
    ("log.initialdecorationset", Value::Any),
    ("log.graphcolors", Value::Any),
    ("log.diffmerges", Value::Any),
    ("log.showsignature", Value::False),
    ("commit.template", Value::Any),
    ("commit.verbose", Value::Any),
    ("commit.cleanup", Value::Any),
    ("commit.status", Value::Any),
    ("commit.gpgsign", Value::False),
    ("tag.sort", Value::Any),
    ("tag.forcesignannotated", Value::False),
    ("tag.gpgsign", Value::False),
    ("submodule.*.url", Value::Any),
    ("submodule.*.path", Value::Any),
    ("submodule.*.branch", Value::Any),
    ("submodule.*.active", Value::Any),
    ("submodule.*.shallow", Value::Any),
    ("submodule.*.ignore", Value::Any),
    ("submodule.*.update", Value::NotShell),
    ("submodule.*.fetchrecursesubmodules", Value::False),
    ("submodule.active", Value::Any),
    ("submodule.recurse", Value::False),
    ("submodule.fetchjobs", Value::Any),
    ("credential.username", Value::Any),
    ("credential.usehttppath", Value::Any),
    ("credential.*.username", Value::Any),
    ("credential.*.usehttppath", Value::Any),
    ("http.version", Value::Any),
    ("http.postbuffer", Value::Any),
    ("http.lowspeedlimit", Value::Any),
    ("http.lowspeedtime", Value::Any),
    ("http.maxrequests", Value::Any),
    ("http.*.postbuffer", Value::Any),
    ("protocol.version", Value::Any),
    ("gpg.format", Value::Any),
    ("help.autocorrect", Value::False),
    ("interactive.singlekey", Value::Any),
    ("maintenance.auto", Value::False),
    ("mailmap.file", Value::Any),
    ("mailmap.blob", Value::Any),
    ("blame.ignorerevsfile", Value::Any),
    ("blame.markignoredlines", Value::Any),
    ("blame.markunblamablelines", Value::Any),
    ("blame.coloring", Value::Any),
    ("blame.date", Value::Any),
    ("blame.showemail", Value::Any),
    ("blame.blankboundary", Value::Any),
    ("blame.showroot", Value::Any),
    ("alias.*", Value::NotShell),
    ("alias.*.command", Value::NotShell),
    // sections of pure preferences: colours, layout, formats, housekeeping
    ("color.*", Value::Any),
    ("column.*", Value::Any),
    ("format.*", Value::Any),
    ("pretty.*", Value::Any),
    ("gc.*", Value::Any),
    ("pack.*", Value::Any),
    ("repack.*", Value::Any),
    ("index.*", Value::Any),
    ("feature.*", Value::Any),
    ("commitgraph.*", Value::Any),
    ("advice.*", Value::Any),
    ("i18n.*", Value::Any),
    ("grep.*", Value::Any),
    ("rerere.*", Value::Any),
    ("reset.*", Value::Any),
    ("stash.*", Value::Any),
    ("versionsort.*", Value::Any),
    ("worktree.*", Value::Any),
    ("checkout.*", Value::Any),
    ("clone.*", Value::Any),
    ("am.*", Value::Any),
    ("apply.*", Value::Any),
    ("add.*", Value::Any),
    ("transfer.fsckobjects", Value::Any),
    ("transfer.hiderefs", Value::Any),
    ("transfer.unpacklimit", Value::Any),
    ("receive.*", Value::Any),
    ("notes.*", Value::Any),
    ("lfs.*", Value::Any),
    ("safe.*", Value::Any),
    ("sparse.*", Value::Any),
    ("splitindex.*", Value::Any),
    ("reftable.*", Value::Any),
    ("ssh.variant", Value::Any),
];

/// The allow list's verdict on `key` (lowercased, see [`lowercase_key`]) = `value`.
fn allowed(key: &str, value: Option<&str>) -> Verdict {
    const UNKNOWN: &str = "is not a setting Airlock knows git reads without running a program; remove it from the repository's configuration";
    const ENABLES: &str = "switches on something that runs a program (only `false` is accepted)";
    const SHELL: &str = "is a `!` shell command";
    let Some((section, rest)) = key.split_once('.') else {
        return Verdict::Refused(UNKNOWN);
    };
    let (subsection, name) = match rest.rsplit_once('.') {
        Some((subsection, name)) => (Some(subsection), name),
        None => (None, rest),
    };
    let rule = HARMLESS.iter().find_map(|(pattern, rule)| {
        let (p_section, p_rest) = pattern.split_once('.')?;
        if p_section != section {
            return None;
        }
        let fits = match (p_rest, p_rest.split_once('.'), subsection) {
            ("*", _, _) => true,
            (_, Some(("*", p_name)), Some(_)) => p_name == name,
            (p_name, None, None) => p_name == name,
            _ => false,
        };
        fits.then_some(*rule)
    });
    match rule {
        None => Verdict::Refused(UNKNOWN),
        Some(Value::Any) => Verdict::Harmless,
        Some(Value::False) => {
            // A key without a value (`[core] fsmonitor`) means true.
            if value.is_some_and(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "" | "false" | "no" | "off" | "0" | "never"
                )
            }) {
                Verdict::Harmless
            } else {
                Verdict::Refused(ENABLES)
            }
        }
        Some(Value::NotShell) => {
            if value.is_some_and(|v| v.trim_start().starts_with('!')) {
                Verdict::Refused(SHELL)
            } else {
                Verdict::Harmless
            }
        }
    }
}

/// `key` with its section and name lowercased (git compares them without case) and
/// its subsection as written (git compares subsections with case).
fn lowercase_key(key: &str) -> String {
    match (key.split_once('.'), key.rsplit_once('.')) {
        (Some((section, _)), Some((head, name))) if head.len() > section.len() => {
            let subsection = head.get(section.len() + 1..).unwrap_or("");
            format!(
                "{}.{subsection}.{}",
                section.to_ascii_lowercase(),
                name.to_ascii_lowercase()
            )
        }
        _ => key.to_ascii_lowercase(),
    }
}

/// The alias an `alias.NAME` key defines (`alias.NAME.command`, git 2.47's other
/// spelling, too).
fn alias_name(key: &str) -> Option<&str> {
    let (section, rest) = key.split_once('.')?;
    if !section.eq_ignore_ascii_case("alias") {
        return None;
    }
    match rest.rsplit_once('.') {
        Some((name, last)) if last.eq_ignore_ascii_case("command") => Some(name),
        Some(_) => None,
        None => Some(rest),
    }
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

    fn entries(entries: &[&str]) -> String {
        entries.iter().map(|e| format!("{e}\0")).collect()
    }

    fn refused(judged: &ConfigJudgement) -> Vec<&str> {
        judged.refused.iter().map(|r| r.key.as_str()).collect()
    }

    #[test]
    fn an_ordinary_repository_is_harmless() {
        let judged = judge_repository_config(&entries(&[
            "core.repositoryformatversion\n0",
            "core.filemode\ntrue",
            "core.bare\nfalse",
            "core.logallrefupdates\ntrue",
            "remote.origin.url\ngit@example.com:team/repo.git",
            "remote.origin.fetch\n+refs/heads/*:refs/remotes/origin/*",
            "branch.main.remote\norigin",
            "branch.main.merge\nrefs/heads/main",
            "user.name\nAgent",
            "url.ssh://git@example.com/.insteadof\nhttps://example.com/",
            "submodule.lib.url\n../lib.git",
            "submodule.lib.update\nrebase",
            "color.ui\nauto",
            "diff.rust.xfuncname\n^fn",
            "core.fsmonitor\nfalse",
            "commit.gpgsign\nfalse",
            "alias.st\nstatus -s",
            "alias.co.command\ncheckout",
            "lfs.repositoryformatversion\n0",
        ]));
        assert_eq!(refused(&judged), Vec::<&str>::new());
        assert_eq!(judged.aliases["st"], "status -s");
        assert_eq!(judged.aliases["co"], "checkout");
    }

    #[test]
    fn programs_includes_and_unknown_keys_are_refused() {
        let judged = judge_repository_config(&entries(&[
            "core.fsmonitor\ntouch /tmp/p",
            "core.fsmonitor",
            "core.sshcommand\nssh -o ProxyCommand=x",
            "Diff.Foo.TextConv\nx",
            "diff.external\nx",
            "filter.lfs.smudge\ngit-lfs smudge %f",
            "filter.lfs.required\ntrue",
            "merge.ours.driver\ntrue",
            "remote.origin.uploadpack\nx",
            "remote.origin.vcs\nx",
            "include.path\n../evil",
            "includeIf.gitdir:/x/.path\n../evil",
            "alias.x\n!sh -c id",
            "submodule.lib.update\n!sh",
            "commit.gpgsign\ntrue",
            "extensions.worktreeconfig\ntrue",
            "tar.tgz.command\ngzip",
            "gpg.ssh.defaultkeycommand\nx",
            "interactive.difffilter\nx",
            "imap.tunnel\nx",
            "core.hookspath\n.githooks",
            "pager.log\nx",
            "branch.main.mergeoptions\n-s evil",
            "pull.twohead\nevil",
            "help.autocorrect\nimmediate",
            "trace2.eventtarget\naf_unix:/x",
            "somefuture.key\nx",
            "core.unknownkey\nx",
            "novalue",
        ]));
        assert_eq!(judged.refused.len(), 29, "{:?}", refused(&judged));
        assert!(
            judged.aliases.is_empty(),
            "shell aliases are not expansions"
        );
        assert!(judged.refused[0].why.contains("only `false`"));
        assert!(
            judged.refused[26]
                .why
                .contains("not a setting Airlock knows")
        );
    }

    #[test]
    fn subsections_keep_their_case_and_dots() {
        assert_eq!(lowercase_key("Diff.Foo.TextConv"), "diff.Foo.textconv");
        assert_eq!(
            lowercase_key("url.https://a.b/.insteadOf"),
            "url.https://a.b/.insteadof"
        );
        assert_eq!(lowercase_key("Core.Bare"), "core.bare");
        // A subsection that looks like a name does not make a key harmless.
        let judged = judge_repository_config(&entries(&["core.x.bare\ntrue", "remote.url\nx"]));
        assert_eq!(judged.refused.len(), 2);
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
