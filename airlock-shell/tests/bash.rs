//! Quote removal against the real bash: for words written in every quoting form,
//! `bash -c 'printf "%s\0" WORDS'` and the checker's argv agree.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test")]

use std::process::Command;

use airlock_shell::{Basis, ShellOptions, check_line};

/// Words as written on a command line (each one shell word).
const WORDS: &[&str] = &[
    r"plain",
    r"--opt=value",
    r"a\ b",
    r#""a\b""#,
    r#""a\$b\`c\"d\\e""#,
    r"'a\'",
    r"'it'\''s'",
    r#""a"'b'c"#,
    r"\\",
    r#""\"""#,
    r#"$'\x41\101\u00e9\n\t\\\'\"'"#,
    r"$'\e[0m'",
    r#"$"loc""#,
    "a\\\nb",
    "\"x\\\ny\"",
    "'x\\\ny'",
    r"a#b",
    r"'$(x)'",
    r#""\`x\`""#,
    r"\$HOME",
    r"'*'",
    r"\*",
    r#""{a,b}""#,
    r"\{a,b\}",
    r"é→",
    r#"--author="A B""#,
    r"=x",
    r"x=",
    r"'-c'",
    r#""""#,
    r"''",
    r"\'",
    r"a\b",
    r"$'a\0b'",
];

#[test]
fn quote_removal_agrees_with_bash() {
    if Command::new("bash").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "bash is missing under CI");
        eprintln!("skipped: no bash");
        return;
    }
    let policy = airlock_policy::Policy::builder().build();
    let options = ShellOptions::new().allow_command("printf");
    let mut failures = Vec::new();
    let mut compared = 0;
    for word in WORDS {
        let line = format!("printf '%s\\0' {word}");
        let out = Command::new("bash")
            .args(["--noprofile", "--norc", "-c", &line])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{line:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bash: Vec<String> = out
            .stdout
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        let d = check_line(&policy, &line, &options);
        let ours = d
            .commands()
            .iter()
            .find(|c| *c.basis() == Basis::AllowedCommand);
        let ours: Option<Vec<String>> = ours
            .and_then(|c| c.argv())
            .map(|a| a.iter().skip(2).cloned().collect());
        match ours {
            // The checker refused to know the value (e.g. a NUL byte): fine.
            None => {}
            Some(ours) => {
                compared += 1;
                let ours: Vec<String> = ours.into_iter().filter(|s| !s.is_empty()).collect();
                if ours != bash {
                    failures.push(format!("{word:?}: bash {bash:?}, ours {ours:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Only `$'a\0b'` (a NUL byte) is refused.
    assert_eq!(compared, WORDS.len() - 1);
}

/// Every corpus line the checker reads is a line bash reads (`bash -n`), and the
/// corpus lines it cannot read are ones bash rejects too.
#[test]
fn corpus_lines_read_are_lines_bash_reads() {
    if Command::new("bash").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "bash is missing under CI");
        return;
    }
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/corpus.toml"
    ))
    .unwrap();
    let corpus: toml::Table = toml::from_str(&text).unwrap();
    let cases = corpus["case"].as_array().unwrap();
    let policy = airlock_policy::Policy::builder().build();
    let mut failures = Vec::new();
    for case in cases {
        let line = case["line"].as_str().unwrap();
        let decision = check_line(&policy, line, &ShellOptions::new());
        let ours = decision.error().is_none();
        // Refused by design though bash reads them (it warns and goes on, or reads
        // what the checker will not guess).
        let deliberate = decision.error().is_some_and(|e| {
            [
                "not closed by its delimiter",
                "has no body",
                "line continuation",
                "NUL byte",
                "delimiter with",
            ]
            .iter()
            .any(|m| e.message().contains(m))
        });
        let bash = Command::new("bash")
            .args(["--noprofile", "--norc", "-O", "extglob", "-n", "-c", line])
            .output()
            .unwrap()
            .status
            .success();
        if ours != bash && !(deliberate && bash) {
            failures.push(format!("{line:?}: we read it: {ours}, bash: {bash}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
