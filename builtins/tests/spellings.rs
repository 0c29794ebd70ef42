//! Spelling variation: every way the real tool accepts to write a dangerous invocation
//! is denied, and everyday commands stay allowed however they are spelled.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test")]

use std::sync::OnceLock;

use airlock_policy::Policy;
use proptest::prelude::*;

fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| airlock_builtins::policy().unwrap())
}

fn allowed(command: &str, argv: &[String]) -> bool {
    policy().check(command, argv).is_allowed()
}

/// Unique prefixes of `--upload-pack` in clone/fetch/pull (git rejects ambiguous ones,
/// which the engine denies as unreadable: either way not allowed).
fn prefix_of(long: &str, min: usize) -> impl Strategy<Value = String> {
    let long = long.to_owned();
    (min..=long.len()).prop_map(move |n| long[..n].to_owned())
}

fn harmless_git_flags() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop::sample::select(vec!["-q", "--progress", "-v", "--quiet"]).prop_map(str::to_owned),
        0..3,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn git_upload_pack_in_any_spelling(
        command in prop::sample::select(vec!["clone", "fetch", "pull"]),
        name in prefix_of("--upload-pack", 4),
        attached in any::<bool>(),
        before in harmless_git_flags(),
        after in harmless_git_flags(),
        operand_first in any::<bool>(),
        globals in prop::collection::vec(prop::sample::select(vec!["-p", "--no-pager", "--bare"]).prop_map(str::to_owned), 0..2),
    ) {
        let mut argv: Vec<String> = globals;
        argv.push(command.to_owned());
        if operand_first { argv.push("../other".into()); }
        argv.extend(before);
        if attached { argv.push(format!("{name}=touch /tmp/p")); } else { argv.push(name); argv.push("touch /tmp/p".into()); }
        argv.extend(after);
        if !operand_first { argv.push("../other".into()); }
        prop_assert!(!allowed("git", &argv), "{:?}", argv);
    }

    #[test]
    fn git_clone_u_bundles(bundle in "[nq]{0,3}", attached in any::<bool>()) {
        let argv: Vec<String> = if attached {
            vec!["clone".into(), format!("-{bundle}ucmd"), "r".into()]
        } else {
            vec!["clone".into(), format!("-{bundle}u"), "cmd".into(), "r".into()]
        };
        prop_assert!(!allowed("git", &argv), "{:?}", argv);
    }

    #[test]
    fn git_global_config_anywhere_before_the_subcommand(
        globals in prop::collection::vec(prop::sample::select(vec!["-p", "--no-pager", "-C", "--bare"]), 0..3),
        attached in any::<bool>(),
        key in "(core\\.(sshCommand|fsmonitor|hooksPath|pager)|alias\\.x|CORE\\.FSMONITOR)",
        sub in prop::sample::select(vec!["status", "fetch", "log", "commit"]),
    ) {
        let mut argv = Vec::new();
        for g in globals {
            argv.push(g.to_owned());
            if g == "-C" { argv.push("sub".into()); }
        }
        if attached { argv.push(format!("-c={key}=x")); } else { argv.push("-c".into()); argv.push(format!("{key}=x")); }
        argv.push(sub.to_owned());
        prop_assert!(!allowed("git", &argv), "{:?}", argv);
    }

    #[test]
    fn git_everyday_spellings_stay_allowed(
        add_flag in prop::sample::select(vec!["-u", "--update", "--upd", "-uv", "-vu", "-A", "--all"]),
        message in "[a-z -]{0,20}(destroy|credential|daemon|--upload-pack|-c core.x=y)?[a-z ]{0,10}",
        reedit in prop::sample::select(vec!["-c", "--reedit-message", "--reedit", "-C", "--reuse-message"]),
    ) {
        prop_assert!(allowed("git", &["add".into(), add_flag.into(), ".".into()]));
        prop_assert!(allowed("git", &["commit".into(), "-m".into(), message.clone()]), "{:?}", message);
        prop_assert!(allowed("git", &["commit".into(), format!("--message={message}")]), "{:?}", message);
        prop_assert!(allowed("git", &["commit".into(), reedit.into(), "HEAD".into()]));
        prop_assert!(allowed("git", &["push".into(), "-u".into(), "origin".into(), "main".into()]));
        prop_assert!(allowed("git", &["log".into(), "--".into(), "daemon".into()]));
    }

    #[test]
    fn terraform_auto_approve_in_any_spelling(
        dashes in 1usize..=2,
        value in prop::sample::select(vec!["", "=true", "=1", "=t", "=T", "=TRUE", "=True"]),
        chdir in any::<bool>(),
        vars in prop::collection::vec("[a-z]{1,4}=[a-z0-9]{0,4}", 0..3),
        var_first in any::<bool>(),
    ) {
        let mut argv = Vec::new();
        if chdir { argv.push("-chdir=infra".to_owned()); }
        argv.push("apply".to_owned());
        let flag = format!("{}auto-approve{value}", "-".repeat(dashes));
        let var_args: Vec<String> = vars.iter().flat_map(|v| ["-var".to_owned(), v.clone()]).collect();
        if var_first { argv.extend(var_args.clone()); argv.push(flag.clone()); } else { argv.push(flag.clone()); argv.extend(var_args.clone()); }
        prop_assert!(!allowed("terraform", &argv), "{:?}", argv);
        // The same with the flag switched off is an interactive apply: allowed.
        let off: Vec<String> = argv.iter().map(|a| if *a == flag { format!("{}auto-approve=false", "-".repeat(dashes)) } else { a.clone() }).collect();
        prop_assert!(allowed("terraform", &off), "{:?}", off);
    }

    #[test]
    fn ssh_agent_forwarding_in_any_spelling(
        bundle in prop::collection::vec(prop::sample::select(vec!['4', '6', 'q', 'v', 'C', 'T', 'N']), 0..3),
        after_destination in any::<bool>(),
        command in prop::collection::vec("[a-z]{1,6}", 0..3),
    ) {
        let mut flags: String = bundle.iter().collect();
        flags.insert(0, '-');
        flags.push('A');
        let argv: Vec<String> = if after_destination {
            std::iter::once("host".to_owned()).chain(std::iter::once(flags)).chain(command.clone()).collect()
        } else {
            std::iter::once(flags).chain(std::iter::once("host".to_owned())).chain(command.clone()).collect()
        };
        prop_assert!(!allowed("ssh", &argv), "{:?}", argv);
        // After the remote command has started, `-A` belongs to that command.
        if !command.is_empty() {
            let mut remote = vec!["host".to_owned()];
            remote.extend(command);
            remote.push("-A".into());
            prop_assert!(allowed("ssh", &remote), "{:?}", remote);
        }
    }

    #[test]
    fn docker_host_mounts_in_any_spelling(
        bundle in prop::collection::vec(prop::sample::select(vec!['d', 'i', 't']), 0..3),
        form in 0u8..5,
        source in prop::sample::select(vec!["/", "/etc", "/var/run/docker.sock", "../../..", "~/.ssh"]),
        command in prop::sample::select(vec![vec!["run"], vec!["create"], vec!["container", "run"]]),
    ) {
        let mut argv: Vec<String> = command.iter().map(|s| s.to_string()).collect();
        let spec = format!("{source}:/host");
        let short: String = bundle.iter().collect();
        match form {
            0 => { argv.push(format!("-{short}v")); argv.push(spec); }
            1 => argv.push(format!("-{short}v{spec}")),
            2 => argv.push(format!("-v={spec}")),
            3 => argv.push(format!("--volume={spec}")),
            _ => { argv.push(format!("--mount=type=bind,{}={source},target=/host", if short.len() % 2 == 0 { "src" } else { "SOURCE" })); }
        }
        argv.push("alpine".into());
        prop_assert!(!allowed("docker", &argv), "{:?}", argv);
        // The same words after the image belong to the container's command.
        let mut after: Vec<String> = command.iter().map(|s| s.to_string()).collect();
        after.push("alpine".into());
        after.extend(argv[command.len()..argv.len() - 1].iter().cloned());
        prop_assert!(allowed("docker", &after), "{:?}", after);
    }

    #[test]
    fn aws_destructive_operations_with_global_options_anywhere(
        region_prefix in prefix_of("--region", 5),
        position in 0usize..3,
        profile in any::<bool>(),
    ) {
        let mut argv: Vec<String> = vec!["ec2".into(), "terminate-instances".into(), "--instance-ids".into(), "i-1".into()];
        argv.insert(position.min(2), "us-east-1".into());
        argv.insert(position.min(2), region_prefix);
        if profile { argv.insert(0, "dev".into()); argv.insert(0, "--profile".into()); }
        prop_assert!(!allowed("aws", &argv), "{:?}", argv);
    }

    #[test]
    fn kubectl_impersonation_anywhere(
        flag in prop::sample::select(vec!["--as=admin", "--as-group=system:masters", "--as-uid=0"]),
        position in prop::sample::select(vec![0usize, 1, 2, 4]),
    ) {
        // Anywhere but between `-n` and its value (there it *is* the value).
        let mut argv: Vec<String> = vec!["get".into(), "pods".into(), "-n".into(), "default".into()];
        argv.insert(position, flag.into());
        prop_assert!(!allowed("kubectl", &argv), "{:?}", argv);
    }
}
