//! The docker module's allow list, extended as modules/docker.md shows: an agent's
//! module allows a left-out subcommand, and the built-in's deny rules still hold for it.
#![allow(clippy::unwrap_used, reason = "test")]

use airlock_policy::Module;

const AGENT: &str = r#"
[command]
bin = "docker"
extends = "builtin:docker"

[[rule]]
id = "agent.push"
action = "allow"
command = "push"

[[rule]]
id = "agent.image-push"
action = "allow"
command = "image push"

[[rule]]
id = "agent.volume-create"
action = "allow"
command = "volume create"
"#;

#[test]
fn an_agent_enables_push_and_keeps_the_denies() {
    let builtin = airlock_builtins::compile("docker").unwrap().unwrap();
    let agent = Module::compile_extending(&builtin, "commands/docker.toml", AGENT).unwrap();
    for argv in [
        &["push", "app"][..],
        &["image", "push", "--all-tags", "app"],
        &["volume", "create", "data"],
    ] {
        assert!(!builtin.check(argv).is_allowed(), "{argv:?}");
        assert!(agent.check(argv).is_allowed(), "{argv:?}");
    }
    for argv in [
        &["-H", "tcp://x:2375", "push", "app"][..],
        &["--context", "prod", "image", "push", "app"],
        &["volume", "create", "-o", "device=/", "data"],
        &["push", "--frobnicate", "app"],
        &["image", "prune", "-af"],
        &["run", "--privileged", "alpine"],
    ] {
        assert!(!agent.check(argv).is_allowed(), "{argv:?}");
    }
}
