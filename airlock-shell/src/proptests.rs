//! Property tests: the reader's quote removal inverts every quoting style, separators
//! and grouping do not change which commands are found, and no input panics or makes
//! an inconsistent decision.

use proptest::prelude::*;

use crate::parse::{self, Item};
use crate::{Outcome, ShellOptions, check_line};

/// Words of any characters bash may see in an argument (not NUL).
fn word() -> impl Strategy<Value = String> {
    proptest::string::string_regex(
        "[a-zA-Z0-9 \t\n'\"\\\\$`*?\\[\\]{},;&|()<>#~=!%^.:/@+-é→]{0,12}",
    )
    .unwrap()
}

fn single_quoted(w: &str) -> String {
    format!("'{}'", w.replace('\'', "'\\''"))
}

fn double_quoted(w: &str) -> String {
    let mut out = String::from("\"");
    for c in w.chars() {
        if matches!(c, '$' | '`' | '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn backslashed(w: &str) -> String {
    if w.is_empty() {
        return "''".to_owned();
    }
    let mut out = String::new();
    for c in w.chars() {
        if c == '\n' {
            // `\<newline>` is a line continuation: quote the newline instead.
            out.push_str("'\n'");
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            out.push('\\');
            out.push(c);
        }
    }
    out
}

fn ansi_c(w: &str) -> String {
    let mut out = String::from("$'");
    for c in w.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\x09"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn simple_argvs(line: &str) -> Option<Vec<Vec<String>>> {
    let items = parse::parse(line, 1 << 20, 64).ok()?;
    Some(
        items
            .into_iter()
            .filter_map(|item| match item {
                Item::Simple(s) => {
                    assert!(s.words.iter().all(|w| w.is_literal()), "{line:?}");
                    Some(s.words.into_iter().map(|w| w.value).collect())
                }
                _ => None,
            })
            .collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn quote_removal_inverts_quoting(argv in proptest::collection::vec(word(), 1..6), style in 0usize..4) {
        let quote = [single_quoted, double_quoted, backslashed, ansi_c][style];
        let line = format!("cmd {}", argv.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "));
        // A continuation after an operator character is refused even inside quotes
        // (the reader does not guess), so such lines are not round trips.
        prop_assume!(parse::ambiguous_continuation(&line).is_ok());
        let mut want = vec!["cmd".to_owned()];
        want.extend(argv.iter().cloned());
        prop_assert_eq!(simple_argvs(&line), Some(vec![want]), "{:?}", line);
    }

    #[test]
    fn separators_and_groups_find_the_same_commands(
        argvs in proptest::collection::vec(proptest::collection::vec("[a-z]{1,5}", 1..4), 1..5),
        seps in proptest::collection::vec(prop_oneof![
            Just(" ; "), Just(" && "), Just(" || "), Just(" | "), Just("\n"), Just(" & "), Just(" |& ")
        ], 4),
        group in 0usize..4,
    ) {
        let commands: Vec<String> = argvs.iter().map(|a| format!("x{}", a.join(" "))).collect();
        let mut line = String::new();
        for (i, c) in commands.iter().enumerate() {
            if i > 0 {
                line.push_str(seps[i % seps.len()]);
            }
            line.push_str(c);
        }
        let line = match group {
            0 => line,
            1 => format!("( {line} )"),
            2 => format!("{{ {line}; }}"),
            _ => format!("if true; then {line}; fi # comment"),
        };
        let found = simple_argvs(&line).unwrap();
        let mut want: Vec<Vec<String>> = commands
            .iter()
            .map(|c| c.split(' ').map(str::to_owned).collect())
            .collect();
        if group == 3 {
            want.insert(0, vec!["true".to_owned()]);
        }
        prop_assert_eq!(found, want, "{:?}", line);
    }

    #[test]
    fn any_line_gets_a_consistent_decision(
        line in proptest::string::string_regex("[a-z $`'\"\\\\(){};&|<>\n#=*~!\\[\\]-]{0,60}").unwrap(),
        ask in any::<bool>(),
    ) {
        let policy = crate::tests::policy();
        let options = ShellOptions::new().allow_commands(["ls", "a", "b"]).root("/r").ask(ask);
        let d = check_line(policy, &line, &options);
        let strictest = d.commands().iter().map(|c| c.outcome()).max().unwrap_or(Outcome::Allow);
        if d.error().is_some() {
            prop_assert_eq!(d.outcome(), Outcome::Deny);
        } else {
            prop_assert_eq!(d.outcome(), strictest);
        }
        if !ask {
            prop_assert_ne!(d.outcome(), Outcome::Ask);
        }
        for part in d.commands() {
            prop_assert_eq!(line.get(part.span()), Some(part.text()));
        }
    }
}

/// Openers and the closers that end them.
const NESTING: &[(&str, &str)] = &[
    ("$(", ")"),
    ("( ", " )"),
    ("${a:-", "}"),
    ("\"", "\""),
    ("$((", "))"),
    ("<(", ")"),
    ("{ ", "; }"),
    ("case x in a) ", ";; esac"),
    ("x@(", ")"),
    ("if ", "; then :; fi"),
    ("[[ ", " ]]"),
    ("a=(", ")"),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Deep, mixed nesting (up to 400 levels): bounded, never a stack overflow, and
    /// beyond the limit a deny.
    #[test]
    fn deep_mixed_nesting_is_bounded(picks in proptest::collection::vec(0..NESTING.len(), 1..400)) {
        let mut line = String::from("git ");
        for &i in &picks {
            line.push_str(NESTING[i].0);
        }
        line.push('x');
        for &i in picks.iter().rev() {
            line.push_str(NESTING[i].1);
        }
        let d = check_line(crate::tests::policy(), &line, &ShellOptions::new());
        if picks.len() > 2 * crate::DEFAULT_MAX_DEPTH {
            prop_assert_eq!(d.outcome(), Outcome::Deny);
        }
    }
}

/// Words of lines that name built-ins (not `aws`, whose module takes long to compile
/// in a test build) directly, quoted, escaped, behind wrappers, in substitutions and
/// as functions, among commands that are not built-ins.
const VOCABULARY: &[&str] = &[
    "git",
    "terraform",
    "docker",
    "kubectl",
    "ssh",
    "ls",
    "echo",
    "env",
    "timeout",
    "5",
    "FOO=1",
    "status",
    "push",
    "-c",
    "core.pager=x",
    "apply",
    "-auto-approve",
    "run",
    "--privileged",
    "delete",
    "&&",
    "|",
    ";",
    "$(",
    ")",
    "git()",
    "{",
    "}",
    "'git'",
    "\"terraform\"",
    "g\\it",
    "nice",
    "command",
    "-v",
    "exec",
    "xargs",
    "sudo",
    "`",
    "(",
    "-o",
    "ProxyCommand=x",
    "h",
    "\n",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The hook's policy, compiled for the line only, decides it as every built-in does.
    #[test]
    fn a_policy_for_the_line_decides_it_as_every_builtin_does(
        words in proptest::collection::vec(proptest::sample::select(VOCABULARY), 1..12),
        ask in any::<bool>(),
    ) {
        let line = words.join(" ");
        let options = ShellOptions::new()
            .allow_commands(["ls", "echo", "git"])
            .root("/r")
            .ask(ask);
        let lazy = crate::hook::policy_for_line(&[], &line, &options).unwrap();
        let want = check_line(crate::tests::policy(), &line, &options);
        let got = check_line(&lazy, &line, &options);
        prop_assert_eq!(got.to_string(), want.to_string(), "{:?}", line);
        // Only what the line needs: no line here names `aws`.
        prop_assert!(lazy.module("aws").is_none());
    }
}
