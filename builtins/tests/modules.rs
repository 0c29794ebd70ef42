//! Each built-in's own corpus, `tests/data/cases/NAME.toml`: argvs checked against the
//! real tool, with the decision the module must give. Every case says how it was
//! verified (`why`), and what it is (`class`: `everyday` for work an agent does, or the
//! danger: `program`, `path`, `config`, `credential`, `destination`, `subcommand`,
//! `option`). The file of a module that claims to be complete (`complete = true`)
//! must hold at least 40 everyday cases.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test")]

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Corpus {
    /// The tool versions the cases were checked against.
    checked_with: String,
    #[serde(default)]
    complete: bool,
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    args: Vec<String>,
    expect: String,
    class: String,
    why: String,
}

#[test]
fn every_module_corpus_holds() {
    let policy = airlock_builtins::policy().unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cases");
    let mut failures = Vec::new();
    for name in airlock_builtins::names() {
        let path = dir.join(format!("{name}.toml"));
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let corpus: Corpus =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            !corpus.checked_with.is_empty(),
            "{name}: say which versions"
        );
        let mut everyday = 0;
        for case in &corpus.case {
            assert!(
                matches!(case.expect.as_str(), "allow" | "deny"),
                "{name} {:?}: expect allow or deny",
                case.args
            );
            assert!(
                !case.why.is_empty(),
                "{name} {:?}: say how it was verified",
                case.args
            );
            if case.class == "everyday" {
                everyday += 1;
                assert_eq!(
                    case.expect, "allow",
                    "{name} {:?}: everyday work is allowed",
                    case.args
                );
            }
            let decision = policy.check(name, &case.args);
            let got = if decision.is_allowed() {
                "allow"
            } else {
                "deny"
            };
            if got != case.expect {
                failures.push(format!(
                    "{name} {:?} ({}): expected {}, got {got}: {decision}",
                    case.args, case.class, case.expect
                ));
            }
        }
        if corpus.complete {
            assert!(everyday >= 40, "{name}: only {everyday} everyday cases");
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
