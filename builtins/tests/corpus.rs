//! Every vector of the corpus gets its expected decision from the built-ins
//! (`either` cases may go both ways). All mismatches are reported at once.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test")]

use serde::Deserialize;

#[derive(Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    command: String,
    args: Vec<String>,
    expect: String,
    note: String,
}

fn check(file: &str, text: &str) -> (usize, Vec<String>) {
    let policy = airlock_builtins::policy().unwrap();
    let corpus: Corpus = toml::from_str(text).unwrap();
    let mut failures = Vec::new();
    for case in &corpus.case {
        let decision = policy.check(&case.command, &case.args);
        let got = if decision.is_allowed() {
            "allow"
        } else {
            "deny"
        };
        if case.expect != "either" && case.expect != got {
            failures.push(format!(
                "{file}: {} {:?} ({}): expected {}, got {got}: {}",
                case.command, case.args, case.note, case.expect, decision
            ));
        }
    }
    (corpus.case.len(), failures)
}

#[test]
fn argv_cases_hold() {
    let (count, failures) = check("argv-cases.toml", include_str!("data/argv-cases.toml"));
    assert!(count >= 80, "the corpus shrank to {count} cases");
    assert!(
        failures.is_empty(),
        "{} of {count} cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn beyond_cases_hold() {
    let (count, failures) = check("beyond-cases.toml", include_str!("data/beyond-cases.toml"));
    assert!(count >= 10);
    assert!(
        failures.is_empty(),
        "{} of {count} cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
