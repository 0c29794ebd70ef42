//! Every built-in, extended by an agent's module that adds a rule of its own, keeps
//! every decision of the shared corpus (the built-in's denies deny with the same rule,
//! what the agent's rule does not touch stays allowed) and its environment and
//! `[exec]` hardening.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test")]

use airlock_policy::{Module, Verdict};
use serde::Deserialize;

#[derive(Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    command: String,
    args: Vec<String>,
}

fn extended(name: &str) -> (Module, Module) {
    let builtin = airlock_builtins::compile(name).unwrap().unwrap();
    let text = format!(
        "[command]\nbin = \"{name}\"\nextends = \"builtin:{name}\"\n[[rule]]\nid = \"agent.marker\"\naction = \"deny\"\nargs = \"airlock-agent-marker\"\n[env]\nset = {{ AIRLOCK_AGENT_VAR = \"1\" }}\n"
    );
    let module = Module::compile_extending(&builtin, &format!("commands/{name}.toml"), &text)
        .unwrap_or_else(|e| panic!("{e}"));
    (builtin, module)
}

/// The first argv of the module's own corpus (`data/cases/NAME.toml`) it admits.
fn module_corpus_admits(builtin: &Module, name: &str) -> Option<Vec<String>> {
    #[derive(Deserialize)]
    struct Cases {
        case: Vec<Args>,
    }
    #[derive(Deserialize)]
    struct Args {
        args: Vec<String>,
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cases")
        .join(format!("{name}.toml"));
    let cases: Cases = toml::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    cases
        .case
        .into_iter()
        .map(|c| c.args)
        .find(|args| builtin.check(args).is_allowed())
}

#[test]
fn extended_builtins_keep_every_corpus_decision() {
    let mut checked = 0;
    // Per built-in, an argv it admits alone (for the marker check below).
    let mut admitted: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for text in [
        include_str!("data/argv-cases.toml"),
        include_str!("data/beyond-cases.toml"),
    ] {
        let corpus: Corpus = toml::from_str(text).unwrap();
        for case in corpus.case {
            let (builtin, module) = extended(&case.command);
            let alone = builtin.check(&case.args);
            let composed = module.check(&case.args);
            if alone.is_allowed() {
                admitted
                    .entry(case.command.clone())
                    .or_insert_with(|| case.args.clone());
            }
            assert_eq!(
                (alone.verdict(), alone.explanation().rule_id),
                (composed.verdict(), composed.explanation().rule_id),
                "{} {:?}",
                case.command,
                case.args
            );
            checked += 1;
        }
    }
    assert!(checked >= 90, "{checked}");
    for name in airlock_builtins::names() {
        let (builtin, module) = extended(name);
        // An allow-list built-in refuses a subcommand it does not know before the
        // agent's rules are consulted (`airlock.not-allowed`): the agent's deny rule
        // is then shown on an argv the built-in admits, with the marker as an operand.
        let mut argv = vec!["airlock-agent-marker".to_owned()];
        if !builtin.check(&argv).is_allowed() {
            argv = admitted
                .get(name)
                .cloned()
                .or_else(|| module_corpus_admits(&builtin, name))
                .unwrap_or_else(|| panic!("{name}: no corpus case the built-in admits"));
            argv.push("airlock-agent-marker".to_owned());
            assert!(builtin.check(&argv).is_allowed(), "{name} {argv:?}");
        }
        let decision = module.check(&argv);
        assert_eq!(
            decision.explanation().rule_id.as_deref(),
            Some("agent.marker"),
            "{name}: the agent's rule applies: {decision}"
        );
    }
}

#[test]
fn extended_builtins_keep_their_hardening() {
    for name in airlock_builtins::names() {
        let (builtin, module) = extended(name);
        assert!(
            module
                .env()
                .set
                .iter()
                .all(|(k, v)| k == "AIRLOCK_AGENT_VAR" || builtin.env().set.get(k) == Some(v))
        );
        assert_eq!(
            module.env().set.len(),
            builtin.env().set.len() + 1,
            "{name}"
        );
        assert_eq!(module.env().strip, builtin.env().strip, "{name}");
        assert_eq!(module.exec(), builtin.exec(), "{name}");
        assert_eq!(module.append_args(), builtin.append_args(), "{name}");
    }
}

#[test]
fn git_with_only_deny_push_still_denies_config_injection() {
    let builtin = airlock_builtins::compile("git").unwrap().unwrap();
    let module = Module::compile_extending(
        &builtin,
        "commands/git.toml",
        "[command]\nbin = \"git\"\nextends = \"builtin:git\"\n[deny]\nargs = [\"push\"]\n",
    )
    .unwrap();
    for argv in [
        &["-c", "core.fsmonitor=touch /tmp/x", "status"][..],
        &["-ccore.fsmonitor=x", "status"],
        &["--config-env=core.fsmonitor=X", "status"],
        &["fetch", "--upload-pac=x", "origin"],
        &["push", "origin", "main"],
        &["push", "--force"],
    ] {
        assert_eq!(module.check(argv).verdict(), Verdict::Deny, "{argv:?}");
    }
    assert_eq!(
        module.check(&["push"]).explanation().rule_id.as_deref(),
        Some("deny.args[0]")
    );
    assert_eq!(module.check(&["status"]).verdict(), Verdict::Allow);
    assert_eq!(module.env(), builtin.env(), "the env hardening stays");
}
