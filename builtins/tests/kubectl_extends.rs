//! The kubectl module's allow list, extended as modules/kubectl.md shows: an agent's
//! module allows a left-out subcommand, and the built-in's deny rules still hold for it.
#![allow(clippy::unwrap_used, reason = "test")]

use airlock_policy::Module;

const AGENT: &str = r#"
[command]
bin = "kubectl"
extends = "builtin:kubectl"

[[rule]]
id = "agent.delete"
action = "allow"
command = "delete"

[[rule]]
id = "agent.exec"
action = "allow"
command = "exec"
"#;

#[test]
fn an_agent_enables_delete_and_exec_and_keeps_the_denies() {
    let builtin = airlock_builtins::compile("kubectl").unwrap().unwrap();
    let agent = Module::compile_extending(&builtin, "commands/kubectl.toml", AGENT).unwrap();
    for argv in [
        &["delete", "pod", "web"][..],
        &[
            "delete",
            "-f",
            "k8s/",
            "--cascade=foreground",
            "--wait=false",
        ],
        &["exec", "-it", "web", "--", "sh"],
    ] {
        assert!(!builtin.check(argv).is_allowed(), "{argv:?}");
        assert!(agent.check(argv).is_allowed(), "{argv:?}");
    }
    for argv in [
        &["delete", "pod", "web", "--context", "prod-admin"][..],
        &["--as", "admin", "exec", "web", "--", "env"],
        &["delete", "pod", "web", "--frobnicate"],
        &["proxy"],
        &["get", "Secret"],
        &["port-forward", "svc/db", "5432"],
    ] {
        assert!(!agent.check(argv).is_allowed(), "{argv:?}");
    }
}
