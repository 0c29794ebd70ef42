//! Any text as a shell line against every built-in module: checking never panics, never
//! overflows the stack, and the decision is consistent (the line's outcome is the
//! strictest of its parts; a part's span is a range of the line and its text is what
//! the span covers; an unreadable line is a deny with no parts). The first byte picks
//! the options (ask or not, a root or not).
#![no_main]

use std::sync::OnceLock;

use airlock_policy::Policy;
use airlock_shell::{Outcome, ShellOptions, check_line};
use libfuzzer_sys::fuzz_target;

fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| match airlock_builtins::policy() {
        Ok(policy) => policy,
        Err(e) => panic!("the built-ins do not compile: {e}"),
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let line = String::from_utf8_lossy(rest);
    let mut options = ShellOptions::new()
        .allow_commands(["ls", "cat", "echo", "cd", "grep", "[["])
        .ask(pick & 1 == 1);
    if pick & 2 == 2 {
        options = options.root("/work/repo");
    }
    let decision = check_line(policy(), &line, &options);
    if decision.error().is_some() {
        assert_eq!(decision.outcome(), Outcome::Deny);
        assert!(decision.commands().is_empty());
        return;
    }
    let strictest = decision
        .commands()
        .iter()
        .map(|c| c.outcome())
        .max()
        .unwrap_or(Outcome::Allow);
    assert_eq!(decision.outcome(), strictest, "{line:?}");
    for part in decision.commands() {
        assert_eq!(line.get(part.span()), Some(part.text()), "{line:?}");
    }
    if !options.asks() {
        assert_ne!(decision.outcome(), Outcome::Ask, "{line:?}");
    }
});
