//! The aws module against the installed aws CLI's own parsers:
//! `tools/aws-syntax.py check` builds the argparse parser of every operation the way
//! aws does (botocore's service models plus awscli's customizations) and fails when
//! aws has an operation of an allowed family (describe-*, list-*, get-*) that the
//! module neither allows nor denies, an allowed operation it no longer has, or an
//! option of an allowed operation that the module does not declare with the same
//! kind. Without aws (or its Python, which the script imports awscli from) the test
//! fails under `CI=true` and is skipped, loudly, elsewhere.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test")]

use std::process::Command;

mod support;

use airlock_policy::Module;

#[test]
fn the_module_declares_every_operation_and_option_of_the_installed_aws() {
    if !support::tools_present(
        &[
            ("aws", &["--version"]),
            ("python3", &["-c", "import awscli"]),
        ],
        "the aws operation and option tables",
    ) {
        return;
    }
    let version = Command::new("aws").arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout).to_string()
        + &String::from_utf8_lossy(&version.stderr);
    let release = version
        .split_whitespace()
        .next()
        .and_then(|w| w.strip_prefix("aws-cli/"))
        .unwrap_or_default()
        .to_owned();
    let module = airlock_builtins::compile("aws").unwrap().unwrap();
    if !module
        .versions()
        .iter()
        .any(|v| release.starts_with(v.as_str()))
    {
        eprintln!(
            "WARNING: installed aws {release} is outside the versions the module was checked against ({:?})",
            module.versions()
        );
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/aws-syntax.py");
    let out = Command::new("python3")
        .arg(script)
        .arg("check")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "aws {release} and modules/aws.toml disagree:\n{}{said}",
        String::from_utf8_lossy(&out.stdout),
    );
    // The check looked at something: it says how many operations and options.
    let count = |what: &str| -> usize {
        said.split_whitespace()
            .zip(said.split_whitespace().skip(1))
            .find(|(_, w)| w.trim_end_matches(',') == what)
            .and_then(|(n, _)| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(count("allowed") >= 5_000, "too few operations: {said}");
    assert!(count("options") >= 20_000, "too few options: {said}");
}

/// A module with one allowed operation's option taken out refuses that option (the
/// tables are what keeps an unclassified option out), and `check` notices.
#[test]
fn an_option_taken_out_of_the_table_is_refused() {
    let source = airlock_builtins::get("aws").unwrap().source;
    let scope = "[syntax.commands.\"iam get-user\"]\nvalues = [\"--user-name\"]\n";
    assert!(source.contains(scope), "the table declares iam get-user");
    let cut = source.replace(scope, "[syntax.commands.\"iam get-user\"]\n");
    let module = Module::compile("aws.toml", &cut).unwrap_or_else(|e| panic!("{e}"));
    let builtin = airlock_builtins::compile("aws").unwrap().unwrap();
    let argv = ["iam", "get-user", "--user-name", "ci"];
    assert!(builtin.check(&argv).is_allowed());
    let denied = module.check(&argv);
    assert!(!denied.is_allowed());
    assert!(
        denied.reason().contains("`--user-name` is not an option"),
        "{denied}"
    );
}

const AGENT: &str = r#"
[command]
bin = "aws"
extends = "builtin:aws"

[syntax.commands."ec2 start-instances"]
values = ["--instance-ids", "--additional-info"]

[[rule]]
id = "agent.ec2-start"
action = "allow"
command = "ec2 start-instances"
reason = "this agent starts the CI runners"
"#;

/// The extension modules/aws.md shows: it enables an operation the built-in leaves
/// out, and lifts none of the built-in's denies.
#[test]
fn the_documented_extension_enables_an_operation_and_nothing_denied() {
    let notes = airlock_builtins::get("aws").unwrap().notes;
    assert!(
        notes.contains("command = \"ec2 start-instances\""),
        "the note shows this extension"
    );
    let builtin = airlock_builtins::compile("aws").unwrap().unwrap();
    let agent = Module::compile_extending(&builtin, "commands/aws.toml", AGENT)
        .unwrap_or_else(|e| panic!("{e}"));
    let start = ["ec2", "start-instances", "--instance-ids", "i-0abc1234"];
    let not_allowed = builtin.check(&start);
    assert!(!not_allowed.is_allowed());
    assert!(
        not_allowed.reason().contains("extends = \"builtin:aws\""),
        "the reason says how to enable it: {not_allowed}"
    );
    assert!(agent.check(&start).is_allowed());
    for denied in [
        &[
            "ec2",
            "start-instances",
            "--instance-ids",
            "i-1",
            "--frobnicate",
        ][..],
        &[
            "ec2",
            "start-instances",
            "--instance-ids",
            "i-1",
            "--endpoint-url",
            "http://evil.example",
        ],
        &["ec2", "start-instances", "--instance-ids", "i-1", "--debug"],
        &["ec2", "terminate-instances", "--instance-ids", "i-1"],
        &[
            "sts",
            "assume-role",
            "--role-arn",
            "x",
            "--role-session-name",
            "y",
        ],
        &["ssm", "get-parameter", "--name", "x"],
    ] {
        assert!(!agent.check(denied).is_allowed(), "{denied:?}");
    }
}

/// Every operation a rule denies is denied in the spellings aws accepts: with global
/// options before, between and after, abbreviated options, and `--` dropped.
#[test]
fn the_denied_operations_stay_denied_in_every_spelling() {
    let module = airlock_builtins::compile("aws").unwrap().unwrap();
    let denied: Vec<(String, String)> = module
        .rules()
        .iter()
        .filter(|r| r.id().starts_with("aws.deny.") && !r.text().contains(':'))
        .map(|r| {
            let mut words = r.text().split_whitespace();
            (
                words.next().unwrap().to_owned(),
                words.next().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        denied.len() >= 100,
        "only {} denied operations",
        denied.len()
    );
    for (service, operation) in &denied {
        for argv in [
            vec![service.as_str(), operation.as_str()],
            vec!["--region", "eu-west-1", service, operation],
            vec![service, "--region", "eu-west-1", operation],
            vec![service, operation, "--reg", "eu-west-1", "--output", "json"],
            vec!["--", service, operation],
        ] {
            let decision = module.check(&argv);
            assert!(!decision.is_allowed(), "{argv:?}: {decision}");
        }
    }
}

/// An abbreviation is resolved in the operation's own table, so the path it names is
/// declared: aws reads `synthetics get-canary --dry-run file://x` as `--dry-run-id`
/// with the content of x (verified with tools/aws-verify.py: the request was sent).
#[test]
fn an_abbreviated_option_still_names_its_file() {
    let module = airlock_builtins::compile("aws").unwrap().unwrap();
    let argv = [
        "synthetics",
        "get-canary",
        "--name",
        "c",
        "--dry-run",
        "file://x.json",
    ];
    let readings = module.readings(&argv).unwrap();
    assert_eq!(readings.len(), 1);
    let paths: Vec<(String, String)> = readings[0]
        .paths()
        .iter()
        .map(|p| (p.text().to_owned(), p.access().to_string()))
        .collect();
    assert_eq!(paths, [("x.json".to_owned(), "read".to_owned())]);
    let option = readings[0]
        .options()
        .find(|o| o.value() == Some("file://x.json"));
    assert_eq!(
        option.map(|o| o.name().to_owned()).as_deref(),
        Some("--dry-run-id")
    );
}

/// aws's main parser reads a global option's unique prefix as the global option in
/// every operation, whatever options the operation has (`rds
/// describe-db-engine-versions --en URL` is `--endpoint-url`, not `--engine`): every
/// allowed operation denies every spelling of the dangerous global options.
#[test]
fn every_allowed_operation_denies_every_prefix_of_the_dangerous_globals() {
    let module = airlock_builtins::compile("aws").unwrap().unwrap();
    let allowed: Vec<String> = module
        .rules()
        .iter()
        .filter(|r| r.action() == airlock_policy::Action::Allow && !r.text().contains(':'))
        .map(|r| r.text().to_owned())
        .filter(|t| t.split_whitespace().count() == 2)
        .collect();
    assert!(allowed.len() >= 5_000, "{}", allowed.len());
    // The shortest prefixes aws accepts for each (`--e` and `--d` are unique among the globals;
    // `--n`, `--no` and `--c` are not).
    let spellings = [
        (
            "aws.endpoint-url",
            "--endpoint-url",
            3,
            Some("http://evil.example"),
        ),
        ("aws.debug", "--debug", 3, None),
        ("aws.no-verify-ssl", "--no-verify-ssl", 6, None),
        ("aws.ca-bundle", "--ca-bundle", 4, Some("ca.pem")),
    ];
    let mut checked = 0;
    for path in &allowed {
        let mut words: Vec<&str> = path.split_whitespace().collect();
        let base = words.len();
        for (rule, name, shortest, value) in spellings {
            for end in shortest..=name.len() {
                words.truncate(base);
                words.push(&name[..end]);
                words.extend(value);
                let decision = module.check(&words);
                assert_eq!(
                    decision.rule().map(|r| r.id()),
                    Some(rule),
                    "{words:?}: {decision}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100_000, "{checked}");
}
