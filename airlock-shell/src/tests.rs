//! Unit tests: the reader's words and the checker's decisions on small lines.

use std::sync::OnceLock;

use airlock_policy::Policy;

use crate::parse::{self, Item};
use crate::{Outcome, ShellOptions, check_line};

pub(crate) fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| airlock_builtins::policy().unwrap())
}

fn options() -> ShellOptions {
    ShellOptions::new()
        .allow_commands([
            "ls", "cat", "echo", "grep", "cd", "head", "wc", "true", "[", "[[", "export",
        ])
        .root("/work/repo")
}

/// The argv of every simple command the reader finds.
fn argvs(line: &str) -> Vec<Vec<String>> {
    parse::parse(line, 1 << 20, 64)
        .unwrap()
        .into_iter()
        .filter_map(|item| match item {
            Item::Simple(s) => Some(s.words.into_iter().map(|w| w.value).collect()),
            _ => None,
        })
        .collect()
}

fn outcome(line: &str) -> (Outcome, Option<String>) {
    let d = check_line(policy(), line, &options());
    (d.outcome(), d.rule_id().map(str::to_owned))
}

#[test]
fn quote_removal_gives_the_argv() {
    assert_eq!(
        argvs(r#"git commit -m "fix: a \"b\" \$c" 'd e'"#),
        [["git", "commit", "-m", r#"fix: a "b" $c"#, "d e"]]
    );
    assert_eq!(argvs("echo a\\ b c\\\nd"), [["echo", "a b", "cd"]]);
    assert_eq!(argvs("echo $'a\\tb\\x41\\101'"), [["echo", "a\tbAA"]]);
    assert_eq!(
        argvs("echo a#b # comment\nls"),
        [vec!["echo", "a#b"], vec!["ls"]]
    );
    assert_eq!(
        argvs("git status \\\n  --short"),
        [["git", "status", "--short"]]
    );
    assert_eq!(argvs(r#"echo "a\b" 'c\d'"#), [["echo", "a\\b", "c\\d"]]);
}

#[test]
fn every_simple_command_is_found() {
    let found = argvs(
        "a; b && c || d | e |& f & g\n(h; (i)) ; { j; } ; ! k; if l; then m; elif n; else o; fi; while p; do q; done; until r; do s; done; for x in 1 2; do t; done; case y in z) u;; *) v;; esac; f() { w; }; function g { x2; }",
    );
    let names: Vec<&str> = found.iter().map(|a| a[0].as_str()).collect();
    assert_eq!(
        names,
        [
            "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q",
            "r", "s", "t", "u", "v", "w", "x2"
        ]
    );
}

#[test]
fn reserved_words_count_only_in_command_position() {
    assert_eq!(
        argvs("echo if then fi; 'if' x"),
        [vec!["echo", "if", "then", "fi"], vec!["if", "x"]]
    );
}

#[test]
fn heredoc_bodies_are_not_commands() {
    let line = "cat <<EOF > /work/repo/x\ngit push --force\nEOF\ngit status";
    assert_eq!(argvs(line), [vec!["cat"], vec!["git", "status"]]);
    assert_eq!(outcome(line).0, Outcome::Allow);
    assert_eq!(
        outcome("cat <<EOF\n$(rm -rf /)\nEOF").1.as_deref(),
        Some("shell.command-substitution")
    );
    assert_eq!(outcome("cat <<'EOF'\n$(rm -rf /)\nEOF").0, Outcome::Allow);
    assert_eq!(
        outcome("cat <<-EOF\n\t$(x)\n\tEOF").1.as_deref(),
        Some("shell.command-substitution")
    );
    assert_eq!(
        outcome("cat <<EOF\nno end").1.as_deref(),
        Some("shell.syntax")
    );
}

#[test]
fn a_quoted_cat_heredoc_substitution_is_its_body() {
    let line = "git commit -m \"$(cat <<'EOF'\nFix: a (b) `c` $d\n\nBody\nEOF\n)\" && git log -1";
    assert_eq!(
        argvs(line),
        [
            vec!["git", "commit", "-m", "Fix: a (b) `c` $d\n\nBody"],
            vec!["git", "log", "-1"],
        ]
    );
    assert_eq!(outcome(line).0, Outcome::Allow);
    // Unquoted (split and globbed), an unquoted delimiter, more than `cat`: unknown.
    for line in [
        "git commit -m $(cat <<'EOF'\nx\nEOF\n)",
        "git commit -m \"$(cat <<EOF\nx\nEOF\n)\"",
        "git commit -m \"$(cat <<'EOF'\nx\nEOF\nid)\"",
        "git commit -m \"$(cat <<'EOF' | sh\nx\nEOF\n)\"",
        "git commit -m \"$(cat <<'EOF' x\nx\nEOF\n)\"",
        "git commit -m \"$(cat <<-'EOF'\nx\nEOF\n)\"",
    ] {
        assert_eq!(
            outcome(line).1.as_deref(),
            Some("shell.command-substitution"),
            "{line:?}"
        );
    }
}

#[test]
fn decisions() {
    let cases: &[(&str, Outcome, Option<&str>)] = &[
        ("git status", Outcome::Allow, None),
        (
            "git -c core.fsmonitor=x status",
            Outcome::Deny,
            Some("git.config-injection"),
        ),
        (
            "ls && git -c core.pager=x log",
            Outcome::Deny,
            Some("git.config-injection"),
        ),
        ("git $X", Outcome::Deny, Some("shell.variable")),
        ("$CMD status", Outcome::Deny, Some("shell.variable")),
        ("g* status", Outcome::Deny, Some("shell.glob")),
        (
            "git {status,push}",
            Outcome::Deny,
            Some("shell.brace-expansion"),
        ),
        (
            "echo $(git push)",
            Outcome::Deny,
            Some("shell.command-substitution"),
        ),
        (
            "echo `id`",
            Outcome::Deny,
            Some("shell.command-substitution"),
        ),
        (
            "cat <(ls) <(ls)",
            Outcome::Deny,
            Some("shell.process-substitution"),
        ),
        ("echo $((1+2))", Outcome::Deny, Some("shell.arithmetic")),
        (
            "echo ${X:-y}",
            Outcome::Deny,
            Some("shell.parameter-operator"),
        ),
        ("echo $HOME *.rs", Outcome::Allow, None),
        ("eval 'git push'", Outcome::Deny, Some("shell.eval")),
        ("source x.sh", Outcome::Deny, Some("shell.eval")),
        ("alias ls='git push'\nls", Outcome::Deny, Some("shell.eval")),
        (
            "hash -p /tmp/x git; git status",
            Outcome::Deny,
            Some("shell.wrapper"),
        ),
        (". x.sh", Outcome::Deny, Some("shell.eval")),
        ("exec git status", Outcome::Deny, Some("shell.exec")),
        ("sudo ls", Outcome::Deny, Some("shell.wrapper")),
        ("ls | xargs rm", Outcome::Deny, Some("shell.wrapper")),
        ("bash -c 'git push'", Outcome::Deny, Some("shell.shell")),
        (
            "sh <<EOF\nls\nEOF",
            Outcome::Deny,
            Some("shell.heredoc-to-shell"),
        ),
        ("env git status", Outcome::Allow, None),
        (
            "env A=1 git status",
            Outcome::Deny,
            Some("shell.assignment"),
        ),
        (
            "GIT_SSH_COMMAND=evil git fetch",
            Outcome::Deny,
            Some("shell.assignment"),
        ),
        ("timeout 5 git status", Outcome::Allow, None),
        (
            "timeout -s KILL 5 git -c a=b status",
            Outcome::Deny,
            Some("git.config-injection"),
        ),
        ("nice -n 5 nohup git status", Outcome::Allow, None),
        ("command git status", Outcome::Allow, None),
        ("command -v git", Outcome::Allow, None),
        ("rm -rf /", Outcome::Deny, Some("airlock.unknown-command")),
        ("./configure", Outcome::Deny, Some("shell.command-path")),
        ("echo hi > out.txt", Outcome::Allow, None),
        (
            "echo hi > /etc/passwd",
            Outcome::Deny,
            Some("shell.redirection"),
        ),
        ("echo hi > ../x", Outcome::Deny, Some("shell.redirection")),
        (
            "echo hi >> sub/../../repo/x 2>&1 >/dev/null",
            Outcome::Allow,
            None,
        ),
        (
            "cd /tmp && echo x > y",
            Outcome::Deny,
            Some("shell.redirection"),
        ),
        ("echo x > $F", Outcome::Deny, Some("shell.redirection")),
        (
            "find . -name x -exec rm {} \\;",
            Outcome::Deny,
            Some("shell.wrapper"),
        ),
        ("(( i++ ))", Outcome::Deny, Some("shell.arithmetic")),
        (
            "for x\nin a b\ndo git -c a=b log; done",
            Outcome::Deny,
            Some("git.config-injection"),
        ),
        ("for x\ndo ls; done", Outcome::Allow, None),
        ("[[ -f x && $a == b ]] && ls", Outcome::Allow, None),
        (
            "git() { rm -rf /; }; git status",
            Outcome::Deny,
            Some("shell.function-shadows"),
        ),
        // A call is judged by its name: the definition may be in a subshell.
        (
            "f() { ls; }; f",
            Outcome::Deny,
            Some("airlock.unknown-command"),
        ),
        ("(cat() { ls; }); cat x", Outcome::Allow, None),
        (
            "(make() { ls; }); make",
            Outcome::Deny,
            Some("airlock.unknown-command"),
        ),
        ("", Outcome::Allow, None),
        ("# just a comment", Outcome::Allow, None),
        ("echo 'unterminated", Outcome::Deny, Some("shell.syntax")),
        ("ls )", Outcome::Deny, Some("shell.syntax")),
        (
            "git status\0; rm -rf /",
            Outcome::Deny,
            Some("shell.syntax"),
        ),
        ("X=1", Outcome::Deny, Some("shell.assignment")),
        (
            "export PATH=/tmp/evil:$PATH; git status",
            Outcome::Deny,
            Some("shell.assignment"),
        ),
        ("export $V", Outcome::Deny, Some("shell.variable")),
        ("export CI", Outcome::Allow, None),
        ("echo $'\\cA'", Outcome::Allow, None),
        ("git $'\\cA'", Outcome::Deny, Some("shell.variable")),
        // A continuation bash removes before reading `$(`, `&&`, `>>`: refused.
        (
            "git commit -m \"$\\\n(id)\"",
            Outcome::Deny,
            Some("shell.syntax"),
        ),
        ("ls &\\\n& ls", Outcome::Deny, Some("shell.syntax")),
        ("echo x >\\\n> y", Outcome::Deny, Some("shell.syntax")),
        // Between ordinary characters it is removed.
        ("gi\\\nt status", Outcome::Allow, None),
        // A here-document delimiter with an expansion.
        ("cat <<$X\nbody\n$X", Outcome::Deny, Some("shell.syntax")),
        // `EO\<newline>F` ends an unquoted here-document: the next line is a command.
        (
            "cat <<EOF\nx\nEO\\\nF\ngit -c a=b log",
            Outcome::Deny,
            Some("git.config-injection"),
        ),
        // ... but not a quoted one.
        ("cat <<'EOF'\nEO\\\nF\nEOF\n", Outcome::Allow, None),
    ];
    for (line, want, rule) in cases {
        let (got, id) = outcome(line);
        assert_eq!((got, id.as_deref()), (*want, *rule), "{line:?}");
    }
}

#[test]
fn ask_mode_asks_for_the_unknowable_and_still_denies_rules() {
    let ask = options().ask(true);
    let d = check_line(policy(), "echo $(id)", &ask);
    assert_eq!(d.outcome(), Outcome::Ask);
    let d = check_line(policy(), "npm test", &ask);
    assert_eq!(d.outcome(), Outcome::Ask);
    let d = check_line(policy(), "echo $(id); git -c a=b status", &ask);
    assert_eq!(d.outcome(), Outcome::Deny);
    assert_eq!(d.rule_id(), Some("git.config-injection"));
    let d = check_line(policy(), "echo 'x", &ask);
    assert_eq!(d.outcome(), Outcome::Deny);
}

#[test]
fn the_decision_names_the_command_and_its_span() {
    let line = "ls -la; git -C /x -c a=b status | head";
    let d = check_line(policy(), line, &options());
    let part = d.deciding().unwrap();
    assert_eq!(part.text(), "git -C /x -c a=b status");
    assert_eq!(&line[part.span()], part.text());
    assert_eq!(
        part.argv().unwrap(),
        ["git", "-C", "/x", "-c", "a=b", "status"]
    );
    assert!(part.location().is_some());
    assert_eq!(d.commands().len(), 3);
}

#[test]
fn input_is_bounded() {
    // `((` starts an arithmetic command, scanned by a loop.
    let deep = format!("{}true{}", "(".repeat(10_000), ")".repeat(10_000));
    assert_eq!(outcome(&deep).1.as_deref(), Some("shell.arithmetic"));
    let deep = format!("{}true{}", "( ".repeat(10_000), " )".repeat(10_000));
    assert_eq!(outcome(&deep).1.as_deref(), Some("shell.too-deep"));
    let deep = format!("echo {}true{}", "$(".repeat(10_000), ")".repeat(10_000));
    assert_eq!(outcome(&deep).1.as_deref(), Some("shell.too-deep"));
    let deep = format!("echo {}x{}", "${a:-".repeat(10_000), "}".repeat(10_000));
    assert_eq!(outcome(&deep).0, Outcome::Deny);
    let deep = format!("echo {}", "<(".repeat(10_000));
    assert_eq!(outcome(&deep).1.as_deref(), Some("shell.too-deep"));
    // Recursion through arithmetic, quotes, parameters and extended globs is counted.
    for (open, close) in [
        ("$((", "))"),
        ("\"${a:-", "}\""),
        ("${a:-${b:-", "}}"),
        ("x@(", ")"),
        ("x=$(echo a=(", "))"),
        ("$(( $(", "))))"),
        ("`", ""),
        ("$[", "]"),
        ("<(", ")"),
        ("\"$(", ")\""),
    ] {
        let deep = format!("git {}x{}", open.repeat(10_000), close.repeat(10_000));
        let d = check_line(policy(), &deep, &options());
        assert_eq!(d.outcome(), Outcome::Deny, "{open}");
    }
    let long = "ls ".repeat(30_000);
    assert_eq!(outcome(&long).1.as_deref(), Some("shell.too-long"));
    let nested_ok = format!("{}ls{}", "( ".repeat(60), " )".repeat(60));
    assert_eq!(outcome(&nested_ok).0, Outcome::Allow);
}

#[test]
fn decisions_render_for_people() {
    let d = check_line(policy(), "ls; git -c a=b status", &options());
    let text = d.to_string();
    assert!(
        text.starts_with("deny: `git -c a=b status`: `git -c` sets configuration"),
        "{text}"
    );
    assert!(text.ends_with("(git.config-injection)"), "{text}");
    let part = d.deciding().unwrap().to_string();
    assert!(
        part.contains("(git.config-injection at builtin:git.toml:"),
        "{part}"
    );
    let d = check_line(policy(), "echo 'x", &options());
    assert_eq!(
        d.to_string(),
        "deny: cannot read the command line: a `'` quote is not closed at byte 5 (shell.syntax)"
    );
    assert_eq!(d.error().unwrap().span(), 5..7);
    let d = check_line(policy(), "ls -la", &options());
    assert_eq!(d.to_string(), "allow: every command is allowed");
    assert_eq!(d.deciding(), None);
    let d = check_line(policy(), "  # nothing\n", &options());
    assert_eq!(
        (d.to_string().as_str(), d.commands().len()),
        ("allow: no command", 0)
    );
}

#[test]
fn assignment_subscripts_end_with_the_word() {
    assert_eq!(parse::assignment_name("a[1]=x"), Some("a"));
    assert_eq!(parse::assignment_name("a[i]+=x"), Some("a"));
    // An operator in the subscript: not read as an assignment, so the word is a
    // command name with a substitution (refused either way).
    assert_eq!(parse::assignment_name("a[$(id)]=x"), None);
    assert_eq!(
        outcome("a[$(id)]=x").1.as_deref(),
        Some("shell.command-substitution")
    );
    assert_eq!(parse::assignment_name("a[1 + 1]=x"), None);
    assert_eq!(parse::assignment_name("a[ b[ c]=x"), None);
    assert_eq!(parse::assignment_name("a[x"), None);
    // A line of unclosed subscripts is read (in linear time) and judged.
    let line = "a[ ".repeat(20_000);
    assert_eq!(outcome(&line).1.as_deref(), Some("airlock.unknown-command"));
}

#[test]
fn public_types_are_send_and_sync() {
    fn both<T: Send + Sync + 'static>() {}
    both::<ShellOptions>();
    both::<crate::ShellDecision>();
    both::<crate::CommandDecision>();
    both::<crate::ParseError>();
    both::<crate::hook::Reply>();
}
