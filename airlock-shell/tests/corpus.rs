//! The corpus of real agent command lines (`tests/data/corpus.toml`) against the
//! built-in modules: each line's outcome, deciding rule and number of parts; in ask
//! mode, what the checker cannot know becomes `ask` while module denies and unreadable
//! lines stay denies.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test")]

use airlock_shell::hook::policy_for_line;
use airlock_shell::{Outcome, ShellOptions, check_line};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Corpus {
    allowed: Vec<String>,
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    line: String,
    outcome: String,
    rule: Option<String>,
    commands: Option<usize>,
}

fn read_corpus() -> Corpus {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/corpus.toml"
    ))
    .unwrap();
    toml::from_str(&text).unwrap()
}

#[test]
fn corpus() {
    let corpus = read_corpus();
    assert!(corpus.case.len() >= 100, "{}", corpus.case.len());
    let policy = airlock_builtins::policy().unwrap();
    let options = ShellOptions::new()
        .allow_commands(corpus.allowed.iter().cloned())
        .root("/work/repo")
        .cwd("/work/repo");
    let ask = options.clone().ask(true);
    let mut failures = Vec::new();
    for case in &corpus.case {
        let d = check_line(&policy, &case.line, &options);
        let got = (d.outcome().as_str(), d.rule_id());
        let rule_ok = match (&case.rule, d.rule_id()) {
            (Some(want), Some(got)) => want == got,
            (Some(_), None) => false,
            // A module deny without a rule named in the corpus: any id.
            (None, _) => true,
        };
        if got.0 != case.outcome || !rule_ok {
            failures.push(format!(
                "{:?}: want {} {:?}, got {:?}: {d}",
                case.line, case.outcome, case.rule, got
            ));
            continue;
        }
        if let Some(n) = case.commands.filter(|n| d.commands().len() != *n) {
            failures.push(format!(
                "{:?}: want {n} parts, got {:?}",
                case.line,
                d.commands()
            ));
        }
        // Every part's text is what its span covers.
        for part in d.commands() {
            assert_eq!(case.line.get(part.span()), Some(part.text()));
        }
        // Ask mode.
        let a = check_line(&policy, &case.line, &ask);
        let unknowable = d.commands().iter().any(|c| {
            c.outcome() == Outcome::Deny
                && c.rule_id()
                    .is_some_and(|id| id.starts_with("shell.") || id == "airlock.unknown-command")
        });
        let module_deny = d.commands().iter().any(|c| {
            c.outcome() == Outcome::Deny
                && !c
                    .rule_id()
                    .is_some_and(|id| id.starts_with("shell.") || id == "airlock.unknown-command")
        });
        let want = if d.error().is_some() || module_deny {
            Outcome::Deny
        } else if unknowable {
            Outcome::Ask
        } else {
            Outcome::Allow
        };
        if a.outcome() != want {
            failures.push(format!("{:?} (ask mode): want {want}, got {a}", case.line));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases fail:\n{}",
        failures.len(),
        corpus.case.len(),
        failures.join("\n")
    );
}

/// The hook compiles only the built-ins a line needs (`policy_for_line`): every line of
/// the corpus, in both modes, gets the decision every built-in gives it, part by part,
/// and a line that names one built-in is judged with that one alone.
#[test]
fn each_line_is_decided_alike_with_only_the_modules_it_needs() {
    let corpus = read_corpus();
    let full = airlock_builtins::policy().unwrap();
    let options = ShellOptions::new()
        .allow_commands(corpus.allowed.iter().cloned())
        .root("/work/repo")
        .cwd("/work/repo");
    for options in [options.clone(), options.ask(true)] {
        for case in &corpus.case {
            let lazy = policy_for_line(&[], &case.line, &options).unwrap();
            let want = check_line(&full, &case.line, &options);
            let got = check_line(&lazy, &case.line, &options);
            assert_eq!(got.to_string(), want.to_string(), "{:?}", case.line);
            assert_eq!(got.outcome(), want.outcome(), "{:?}", case.line);
            let parts = |d: &airlock_shell::ShellDecision| -> Vec<_> {
                d.commands()
                    .iter()
                    .map(|c| (c.outcome(), c.rule_id().map(str::to_owned), c.reason()))
                    .collect()
            };
            assert_eq!(parts(&got), parts(&want), "{:?}", case.line);
        }
    }
    let git_only = policy_for_line(&[], "git status && ls | grep x", &ShellOptions::new()).unwrap();
    assert_eq!(git_only.commands().collect::<Vec<_>>(), ["git"]);
    let none = policy_for_line(&[], "ls -la", &ShellOptions::new()).unwrap();
    assert_eq!(none.commands().count(), 0);
}
