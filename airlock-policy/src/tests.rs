//! Unit tests of whole modules: the original format, the extensions, errors.

use crate::{Action, ErrorKind, Module, Verdict, compile};

fn module(text: &str) -> Module {
    match compile("test.toml", text) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    }
}

fn verdict(m: &Module, argv: &str) -> Verdict {
    let argv = shell_words::split(argv).unwrap();
    let decision = m.check(&argv);
    let (reference, _) = m.check_reference(&argv);
    assert_eq!(
        decision.verdict(),
        reference,
        "automaton and reference disagree on {argv:?}"
    );
    decision.verdict()
}

const ORIGINAL_TERRAFORM: &str = r#"
[command]
bin = "terraform"

[deny]
args = ["destroy", "force-unlock", "apply & -auto-approve", "-v=/*:*"]

[env]
strip = ["AWS_ACCESS_KEY_ID"]
set = { TF_IN_AUTOMATION = "1" }

[args]
append = []

[exec]
concurrent = false
"#;

#[test]
fn original_format_works_unchanged() {
    let m = module(ORIGINAL_TERRAFORM);
    assert_eq!(m.bin(), "terraform");
    assert_eq!(m.env().strip, vec!["AWS_ACCESS_KEY_ID"]);
    assert_eq!(
        m.env().set.get("TF_IN_AUTOMATION").map(String::as_str),
        Some("1")
    );
    assert!(!m.exec().concurrent);
    assert!(!m.is_allow_list());
    assert_eq!(verdict(&m, "destroy"), Verdict::Deny);
    assert_eq!(verdict(&m, "plan -out x"), Verdict::Allow);
    assert_eq!(verdict(&m, "apply"), Verdict::Allow);
    assert_eq!(verdict(&m, "apply -auto-approve"), Verdict::Deny);
    assert_eq!(verdict(&m, "-auto-approve apply"), Verdict::Deny);
    assert_eq!(verdict(&m, "-v /etc:/x"), Verdict::Deny);
    assert_eq!(verdict(&m, "-v=/etc:/x"), Verdict::Deny);
    assert_eq!(verdict(&m, "-v/etc:/x"), Verdict::Deny);
    assert_eq!(verdict(&m, "-v ./src:/x"), Verdict::Allow);
    let d = m.check(&["force-unlock", "123"]);
    let rule = d.rule().unwrap();
    assert_eq!(rule.id(), "deny.args[1]");
    assert_eq!(rule.location().line, 6);
    assert_eq!(rule.location().column, 21);
    assert_eq!(d.reason(), "matches `force-unlock`");
}

#[test]
fn allow_list_with_deny_exceptions_and_deny_wins() {
    let m = module(
        r#"
[command]
bin = "git"
[allow]
args = ["status", "log", "diff", "push"]
[deny]
args = ["push & --force"]
"#,
    );
    assert!(m.is_allow_list());
    assert_eq!(verdict(&m, "status --short"), Verdict::Allow);
    assert_eq!(verdict(&m, "push origin main"), Verdict::Allow);
    assert_eq!(verdict(&m, "push --force origin main"), Verdict::Deny);
    assert_eq!(verdict(&m, "commit -m x"), Verdict::Deny);
    assert_eq!(
        m.check(&["commit"]).explanation().rule_id.as_deref(),
        Some("airlock.not-allowed")
    );
    let allowed = m.check(&["log"]);
    assert_eq!(allowed.rule().map(|r| r.action()), Some(Action::Allow));
}

const GIT_LIKE: &str = r#"
[command]
bin = "git"

[syntax]
style = "gnu"
abbreviate = true

[syntax.global]
abbreviate = false
values = ["-c", "-C", "--git-dir", "--config-env"]
flags = ["-p|--paginate", "--bare"]
optional = ["--exec-path"]

[syntax.commands.clone]
values = ["-c|--config", "-u|--upload-pack", "--template", "-o|--origin", "-b|--branch"]
flags = ["-q|--quiet", "-n|--no-checkout", "--bare"]

[syntax.commands.commit]
values = ["-c|--reedit-message", "-C|--reuse-message", "-m|--message", "-F|--file", "--template"]
flags = ["-a|--all", "-q|--quiet", "-v|--verbose"]

[syntax.commands.add]
flags = ["-u|--update", "-A|--all", "-n|--dry-run", "-v|--verbose"]

[syntax.commands.fetch]
values = ["--upload-pack"]
flags = ["--update-shallow", "--all", "-q|--quiet"]

[syntax.commands.ls-remote]
values = ["--upload-pack|--exec"]
options_until = 1

[syntax.commands.log]
flags = ["--oneline", "-p"]

[[rule]]
id = "git.config"
action = "deny"
global = true
args = "-c"
reason = "config injection"
match = ["-c core.pager=x status", "-C dir -ccore.x=y status"]
not_match = ["commit -c HEAD", "status"]

[[rule]]
id = "git.clone-config"
action = "deny"
command = "clone"
args = "--config"
match = ["clone -c core.x=y repo", "clone --conf=core.x=y repo", "clone repo -qc core.x=y"]
not_match = ["commit -c HEAD"]

[[rule]]
id = "git.upload-pack"
action = "deny"
args = "--upload-pack"
match = ["fetch --upl=cmd", "clone -u cmd repo", "clone -nqucmd repo", "ls-remote --exec=x origin"]
not_match = ["add -u", "ls-remote origin --upload-pack=x"]

[[rule]]
id = "git.daemon"
action = "deny"
command = "daemon"
match = ["daemon --export-all"]
not_match = ["log -- daemon", "log daemon"]

[examples]
deny = ["-c x=y log", "clone --upload-pack=evil r"]
allow = ["add -u", "commit -c HEAD", "log -- daemon", "commit -m 'destroy it all'"]
"#;

#[test]
fn git_like_module_reads_argv_like_git() {
    let m = module(GIT_LIKE);
    for deny in [
        "-c core.sshCommand=x fetch",
        "-ccore.x=y status",
        "-p -c x=y status",
        "clone --upload-pac=x repo",
        "clone -ux repo",
        "clone -qu x repo",
        "fetch origin --upload-pa x",
        "clone --config=a=b r",
        "daemon",
    ] {
        assert_eq!(verdict(&m, deny), Verdict::Deny, "{deny}");
    }
    for allow in [
        "add -u",
        "commit -c HEAD",
        "commit -m destroy",
        "log -- daemon",
        "push -u origin x",
        "status",
        "clone repo",
        "ls-remote origin --upload-pack=x",
    ] {
        assert_eq!(verdict(&m, allow), Verdict::Allow, "{allow}");
    }
}

#[test]
fn ambiguous_abbreviations_are_denied() {
    let m = module(GIT_LIKE);
    let d = m.check(&["fetch", "--up=x"]);
    assert_eq!(d.verdict(), Verdict::Deny);
    assert!(
        d.reason().contains("abbreviates more than one option"),
        "{}",
        d.reason()
    );
}

#[test]
fn undeclared_options_are_read_both_ways() {
    let m = module(
        r#"
[command]
bin = "tool"
[syntax]
style = "gnu"
[[rule]]
action = "deny"
args = "danger"
"#,
    );
    // `--foo danger`: danger may be --foo's value or a positional word; deny.
    assert_eq!(verdict(&m, "--foo danger"), Verdict::Deny);
    assert_eq!(m.readings(&["--foo", "danger"]).unwrap().len(), 2);
    assert_eq!(verdict(&m, "--foo=danger"), Verdict::Allow);
}

#[test]
fn allow_rules_must_admit_every_reading() {
    let m = module(
        r#"
[command]
bin = "tool"
[syntax]
style = "gnu"
[[rule]]
action = "allow"
args = "safe"
"#,
    );
    assert_eq!(verdict(&m, "safe"), Verdict::Allow);
    // `-x safe`: if -x takes the value, no positional `safe` remains.
    assert_eq!(verdict(&m, "-x safe"), Verdict::Deny);
    assert_eq!(verdict(&m, "safe -x"), Verdict::Allow);
}

#[test]
fn too_many_readings_fail_closed() {
    let m = module(
        "[command]\nbin = \"t\"\n[syntax]\nstyle = \"gnu\"\n[deny]\nargs = [\"nothing-matches\"]\n",
    );
    let argv: Vec<String> = (0..8)
        .flat_map(|i| [format!("--o{i}"), format!("w{i}")])
        .collect();
    let d = m.check(&argv);
    assert_eq!(d.verdict(), Verdict::Deny);
    assert_eq!(
        d.explanation().rule_id.as_deref(),
        Some("airlock.unreadable")
    );
}

#[test]
fn go_style_booleans_follow_the_last_occurrence() {
    let m = module(
        r#"
[command]
bin = "terraform"
[syntax]
style = "go"
[syntax.global]
values = ["-chdir"]
[syntax.commands.apply]
bools = ["-auto-approve", "-destroy"]
values = ["-var", "-target"]
[[rule]]
id = "tf.auto-approve"
action = "deny"
command = "apply"
args = "-auto-approve"
match = ["apply -auto-approve", "apply --auto-approve", "apply -auto-approve=true", "-chdir=x apply -auto-approve=1"]
not_match = ["apply", "apply -auto-approve=false", "apply -auto-approve -auto-approve=false"]
"#,
    );
    assert_eq!(
        verdict(&m, "apply -auto-approve=false -auto-approve"),
        Verdict::Deny
    );
    assert_eq!(verdict(&m, "apply -var x=1"), Verdict::Allow);
    // Go's flag package stops at the first non-flag.
    assert_eq!(
        verdict(&m, "apply plan.tfplan -auto-approve"),
        Verdict::Allow
    );
}

#[test]
fn mount_fields_and_case_insensitive_values() {
    let m = module(
        r#"
[command]
bin = "docker"
[syntax]
style = "pflag"
[syntax.commands.run]
values = ["-v|--volume", "--mount", "--cap-add"]
bools = ["--privileged", "-d|--detach"]
options_until = 1
[[rule]]
id = "docker.mount-root"
action = "deny"
command = "run"
args = "--mount=/"
fields = ["source", "src"]
match = ["run --mount type=bind,source=/,target=/h img", "run --mount=type=bind,SRC=/,dst=/h img"]
not_match = ["run --mount type=bind,source=/data,target=/h img", "run --mount type=bind,target=/ img"]
[[rule]]
id = "docker.cap"
action = "deny"
command = "run"
args = "--cap-add={all,sys_admin,cap_all,cap_sys_admin}"
ignore_case = true
match = ["run --cap-add ALL img", "run --cap-add=cap_sys_admin img"]
not_match = ["run --cap-add NET_BIND_SERVICE img", "run img --cap-add ALL"]
[[rule]]
id = "docker.privileged"
action = "deny"
command = "run"
args = "--privileged"
match = ["run --privileged img", "run -d --privileged=true img", "run --privileged false"]
not_match = ["run --privileged=false img"]
"#,
    );
    assert_eq!(verdict(&m, "run -dv/:/h img"), Verdict::Allow);
    assert_eq!(verdict(&m, "run img --privileged"), Verdict::Allow);
}

#[test]
fn compile_errors_name_file_line_and_column() {
    let err = compile(
        "m.toml",
        "[command]\nbin = \"git\"\n[deny]\nargs = [\"a & & b\"]\n",
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Entry);
    assert_eq!((err.location().line, err.location().column), (4, 14));
    assert!(err.to_string().contains("--> m.toml:4:14"), "{err}");

    let err = compile("m.toml", "[command]\nbin = \"git\"\nbinn = 1\n").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Toml);
    assert_eq!(err.location().line, 3);
    assert!(err.message().contains("binn"), "{err}");

    let err = compile(
        "m.toml",
        "[command]\nbin = \"git\"\n[[rule]]\naction = \"deny\"\nargs = \"x\"\nmatch = [\"y\"]\n",
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Example);
    assert_eq!(err.location().line, 6);

    let err = compile(
        "m.toml",
        "[command]\nbin = \"git\"\n[deny]\nargs = [\"-x=[\"]\n",
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Glob);

    let err = compile(
        "m.toml",
        "[command]\nbin = \"git\"\n[[rule]]\naction = \"deny\"\n",
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rule);

    let err = compile(
        "m.toml",
        "[command]\nbin = \"git\"\n[examples]\nallow = [\"a\"]\ndeny = [\"b\"]\n",
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Example);
    assert!(err.message().contains("should be deny"), "{err}");
}

#[test]
fn decisions_explain_themselves() {
    let m = module(GIT_LIKE);
    let argv = ["clone", "--upload-pac=evil", "repo"];
    let d = m.check(&argv);
    let e = d.explanation();
    assert_eq!(e.rule_id.as_deref(), Some("git.upload-pack"));
    assert_eq!(e.reading.as_deref(), Some("clone --upload-pack=evil repo"));
    assert_eq!(e.location.unwrap().source, "test.toml");
    let d = m.check(&["-c", "a=b", "status"]);
    assert_eq!(d.reason(), "config injection");
}

#[test]
fn undeclared_options_can_be_told_to_take_values() {
    let text = r#"
[command]
bin = "aws"
[syntax]
style = "gnu"
undeclared = "takes-value"
[syntax.commands.s3]
flags = ["--recursive"]
[[rule]]
action = "deny"
args = "delete-*"
"#;
    let m = module(text);
    // Each undeclared option takes its value: one reading, however many options.
    let argv: Vec<String> = ["ec2", "run-instances"]
        .into_iter()
        .map(str::to_owned)
        .chain((0..10).flat_map(|i| [format!("--o{i}"), format!("v{i}")]))
        .collect();
    assert_eq!(m.readings(&argv).unwrap().len(), 1);
    assert_eq!(m.check(&argv).verdict(), Verdict::Allow);
    assert_eq!(
        verdict(&m, "dynamodb describe-table --table-name delete-me"),
        Verdict::Allow
    );
    assert_eq!(
        verdict(&m, "dynamodb delete-table --table-name t"),
        Verdict::Deny
    );
    assert_eq!(verdict(&m, "dynamodb -x delete-table"), Verdict::Allow);
    assert_eq!(verdict(&m, "s3 --recursive delete-me"), Verdict::Deny);
    // The default still reads both ways.
    let m = module(&text.replace("undeclared = \"takes-value\"\n", ""));
    assert_eq!(
        verdict(&m, "dynamodb describe-table --table-name delete-me"),
        Verdict::Deny
    );
    assert_eq!(
        m.readings(&argv).err(),
        Some(crate::Unreadable::TooAmbiguous)
    );
}

#[test]
fn the_reading_is_a_typed_value_with_positions() {
    let m = module(GIT_LIKE);
    let argv = [
        "-Csub",
        "-p",
        "clone",
        "-nqu",
        "touch x",
        "--depth=1",
        "repo",
        "--",
        "-dir",
    ];
    let readings = m.readings(&argv).unwrap();
    // `--depth` is undeclared in this `clone`, but it has its value attached: one reading.
    assert_eq!(readings.len(), 1);
    let r = &readings[0];
    assert_eq!(r.path(), ["clone"]);
    let path: Vec<_> = r.path_words().map(|w| (w.text(), w.index())).collect();
    assert_eq!(path, [("clone", 2)]);
    let options: Vec<_> = r
        .options()
        .map(|o| {
            (
                o.name().to_owned(),
                o.is_declared(),
                o.is_global(),
                o.value(),
                o.index(),
                o.value_span().map(|s| (s.index(), s.range())),
            )
        })
        .collect();
    assert_eq!(
        options,
        [
            ("-C".to_owned(), true, true, Some("sub"), 0, Some((0, 2..5))),
            ("--paginate".to_owned(), true, true, None, 1, None),
            ("--no-checkout".to_owned(), true, false, None, 3, None),
            ("--quiet".to_owned(), true, false, None, 3, None),
            (
                "--upload-pack".to_owned(),
                true,
                false,
                Some("touch x"),
                3,
                Some((4, 0..7))
            ),
            (
                "--depth".to_owned(),
                false,
                false,
                Some("1"),
                5,
                Some((5, 8..9))
            ),
        ]
    );
    let operands: Vec<_> = r.operands().map(|w| (w.text(), w.index())).collect();
    assert_eq!(operands, [("repo", 6), ("-dir", 8)]);
    let upload = r.options().nth(4).unwrap();
    assert!(upload.is("-u") && upload.is("--upload-pack") && !upload.is("--quiet"));
    assert!(matches!(r.elements().last(), Some(crate::Element::Operand(w)) if w.text() == "-dir"));
    assert_eq!(
        r.to_string(),
        "clone -C=sub --paginate --no-checkout --quiet --upload-pack='touch x' --depth=1 repo -dir"
    );
    // The decision carries the same reading.
    let d = m.check(&argv);
    assert_eq!(d.reading(), Some(r));
}

#[test]
fn every_plausible_reading_is_given_and_undeclared_letters_keep_their_spelling() {
    let m = module(GIT_LIKE);
    let argv = ["log", "-x", "val", "-Y"];
    let readings = m.readings(&argv).unwrap();
    let texts: Vec<String> = readings.iter().map(ToString::to_string).collect();
    assert_eq!(texts, ["log -x val -Y", "log -x=val -Y"]);
    let x = readings[1].options().next().unwrap();
    assert_eq!(
        (x.name(), x.is_declared(), x.value()),
        ("-x", false, Some("val"))
    );
    assert!(x.is("-x") && !x.is("-Y"));
    assert_eq!(x.value_span().unwrap().text_in(&argv), Some("val"));
    assert_eq!(
        m.readings(&["fetch", "--up=x"]).err(),
        Some(crate::Unreadable::AmbiguousAbbreviation(
            "--up=x".to_owned()
        ))
    );
}

// ---------------------------------------------------------------------------------
// Path declarations.

const PATHS: &str = r#"
[command]
bin = "git"

[syntax]
style = "gnu"
abbreviate = true

[syntax.global]
abbreviate = false
values = ["-C", "--git-dir", "-c"]
flags = ["--bare"]
paths = { "-C" = "chdir", "--git-dir" = "write" }

[syntax.commands.log]
values = ["--output", "-n"]
flags = ["-p"]
paths = { "--output" = "write" }

[syntax.commands.format-patch]
values = ["-o|--output-directory"]
flags = ["-k|--keep-subject"]
paths = { "--output-directory" = "write" }

[syntax.commands.clone]
values = ["--template"]
paths = { "--template" = "read" }
operands = [{ access = "read", prefix = ["file://", ""], unless = ["*://*"] }, "write"]

[syntax.commands.diff]
operands = "read"
"#;

/// `(text, access, source, argv index, written text)` of a path.
type Found = (String, String, String, usize, String);

/// Every path of every reading.
fn paths_of(m: &Module, argv: &str) -> Vec<Vec<Found>> {
    let argv = shell_words::split(argv).unwrap();
    m.readings(&argv)
        .unwrap()
        .iter()
        .map(|r| {
            r.paths()
                .iter()
                .map(|p| {
                    let source = match p.source() {
                        crate::PathSource::Option(o) => o.name().to_owned(),
                        crate::PathSource::Operand { position, .. } => {
                            format!("operand {position}")
                        }
                    };
                    (
                        p.text().to_owned(),
                        p.access().to_string(),
                        source,
                        p.span().index(),
                        p.span().text_in(&argv).unwrap_or("?").to_owned(),
                    )
                })
                .collect()
        })
        .collect()
}

fn one(
    text: &str,
    access: &str,
    source: &str,
    index: usize,
) -> (String, String, String, usize, String) {
    (
        text.into(),
        access.into(),
        source.into(),
        index,
        text.into(),
    )
}

#[test]
fn declared_paths_are_found_in_every_spelling() {
    let m = module(PATHS);
    let out = |i| vec![vec![one("out.txt", "write", "--output", i)]];
    assert_eq!(paths_of(&m, "log --output out.txt"), out(2));
    assert_eq!(paths_of(&m, "log --output=out.txt"), out(1));
    assert_eq!(paths_of(&m, "log --outp=out.txt"), out(1), "abbreviated");
    assert_eq!(paths_of(&m, "log -p --out out.txt -n 3"), out(3));
    let dir = |i| vec![vec![one("patches", "write", "--output-directory", i)]];
    assert_eq!(paths_of(&m, "format-patch -o patches HEAD~1"), dir(2));
    assert_eq!(
        paths_of(&m, "format-patch -kopatches HEAD~1"),
        dir(1),
        "bundled"
    );
    assert_eq!(paths_of(&m, "format-patch --output-dir=patches"), dir(1));
    // Not a path: `-o` is no option of `log`, and `log`'s `-n` takes no path.
    assert_eq!(paths_of(&m, "log -n 3 out.txt"), vec![Vec::new()]);
}

#[test]
fn operands_are_paths_by_position_with_prefixes_and_exceptions() {
    let m = module(PATHS);
    assert_eq!(
        paths_of(&m, "clone ../src dst"),
        vec![vec![
            one("../src", "read", "operand 1", 1),
            one("dst", "write", "operand 2", 2)
        ]]
    );
    let file_url = paths_of(&m, "clone file:///srv/r.git d");
    assert_eq!(
        file_url,
        vec![vec![
            (
                "/srv/r.git".into(),
                "read".into(),
                "operand 1".into(),
                1,
                "/srv/r.git".into()
            ),
            one("d", "write", "operand 2", 2),
        ]]
    );
    assert_eq!(
        paths_of(&m, "clone https://example.com/r.git"),
        vec![Vec::new()],
        "a URL is no path"
    );
    assert_eq!(
        paths_of(&m, "clone --template=/t r"),
        vec![vec![
            one("/t", "read", "--template", 1),
            one("r", "read", "operand 1", 2)
        ]]
    );
    assert_eq!(
        paths_of(&m, "diff /etc/passwd -- b"),
        vec![vec![
            one("/etc/passwd", "read", "operand 1", 1),
            one("b", "read", "operand 2", 3)
        ]]
    );
    // An unknown subcommand has no declared operands.
    assert_eq!(paths_of(&m, "frob a b"), vec![Vec::new()]);
}

#[test]
fn directory_changes_are_in_force_for_every_other_path() {
    let m = module(PATHS);
    let argv = ["--git-dir=g", "-C", "a", "-C", "b", "log", "--output=o"];
    let readings = m.readings(&argv).unwrap();
    let paths = readings[0].paths();
    let summary: Vec<_> = paths
        .iter()
        .map(|p| (p.text(), p.access(), p.base().to_vec()))
        .collect();
    use crate::PathAccess::{Chdir, Write};
    assert_eq!(
        summary,
        [
            ("g", Write, vec![1, 2]),
            ("a", Chdir, vec![]),
            ("b", Chdir, vec![1]),
            ("o", Write, vec![1, 2]),
        ]
    );
}

#[test]
fn every_reading_reports_its_own_paths() {
    // `--frob` is undeclared: it may take `x`, or `x` is the first operand.
    let m = module(PATHS);
    assert_eq!(
        paths_of(&m, "clone --frob x y"),
        vec![
            vec![
                one("x", "read", "operand 1", 2),
                one("y", "write", "operand 2", 3)
            ],
            vec![one("y", "read", "operand 1", 3)],
        ]
    );
}

#[test]
fn value_paths_cover_every_option_without_its_own() {
    let m = module(
        r#"
[command]
bin = "aws"
[syntax]
style = "gnu"
abbreviate = true
undeclared = "takes-value"
value_paths = { access = "read", prefix = ["file://", "fileb://"] }
[syntax.global]
values = ["--ca-bundle", "--cli-input-json"]
paths = { "--ca-bundle" = "read" }
"#,
    );
    assert_eq!(
        paths_of(
            &m,
            "ec2 run-instances --user-data file://init.sh --cli-input-json fileb:///etc/x.json --count 1"
        ),
        vec![vec![
            (
                "init.sh".into(),
                "read".into(),
                "--user-data".into(),
                3,
                "init.sh".into()
            ),
            (
                "/etc/x.json".into(),
                "read".into(),
                "--cli-input-json".into(),
                5,
                "/etc/x.json".into()
            ),
        ]]
    );
    // An option with a declaration of its own is not read through `value_paths`.
    assert_eq!(
        paths_of(&m, "--ca-bundle file://b.pem s3 ls"),
        vec![vec![one("file://b.pem", "read", "--ca-bundle", 1)]]
    );
}

#[test]
fn go_style_paths_answer_to_both_dash_spellings() {
    let m = module(
        r#"
[command]
bin = "terraform"
[syntax]
style = "go"
[syntax.global]
values = ["-chdir"]
paths = { "--chdir" = "chdir" }
[syntax.commands.plan]
values = ["-out"]
bools = ["-destroy"]
paths = { "-out" = "write" }
[syntax.commands.apply]
bools = ["-auto-approve"]
operands = ["read"]
"#,
    );
    assert_eq!(
        paths_of(&m, "-chdir=infra plan -destroy --out=tf.plan"),
        vec![vec![
            one("infra", "chdir", "-chdir", 0),
            one("tf.plan", "write", "-out", 3)
        ]]
    );
    assert_eq!(
        paths_of(&m, "apply -auto-approve=false tf.plan"),
        vec![vec![one("tf.plan", "read", "operand 1", 2)]]
    );
}

#[test]
fn path_declarations_are_checked_when_compiling() {
    let base = "[command]\nbin = \"git\"\n[syntax]\nstyle = \"gnu\"\n[syntax.global]\nvalues = [\"-C\", \"--git-dir\"]\nflags = [\"--bare\"]\n";
    let err = compile(
        "m.toml",
        &format!("{base}paths = {{ \"-X\" = \"read\" }}\n"),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Syntax);
    assert_eq!((err.location().line, err.location().column), (8, 11));
    assert!(
        err.message()
            .contains("`-X` is not an option of this scope"),
        "{err}"
    );
    assert!(err.to_string().contains("--> m.toml:8:11"), "{err}");
    assert!(
        err.to_string()
            .contains("8 | paths = { \"-X\" = \"read\" }\n  |           ^^^^"),
        "{err}"
    );

    let err = compile(
        "m.toml",
        &format!("{base}paths = {{ \"--bare\" = \"write\" }}\n"),
    )
    .unwrap_err();
    assert!(err.message().contains("takes no value"), "{err}");

    // A global option is not an option of a command's scope.
    let err = compile(
        "m.toml",
        &format!("{base}[syntax.commands.log]\nvalues = [\"--output\"]\npaths = {{ \"-C\" = \"read\" }}\n"),
    )
    .unwrap_err();
    assert_eq!(err.location().line, 10);

    let err = compile(
        "m.toml",
        "[command]\nbin = \"t\"\n[syntax]\nstyle = \"gnu\"\n[syntax.global]\nvalues = [\"-o|--out\"]\npaths = { \"-o\" = \"write\", \"--out\" = \"read\" }\n",
    )
    .unwrap_err();
    assert!(
        err.message().contains("already has a path declaration"),
        "{err}"
    );

    let err = compile(
        "m.toml",
        &format!("{base}paths = {{ \"-C\" = \"exec\" }}\n"),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Toml);
    assert_eq!(err.location().line, 8);

    let err = compile(
        "m.toml",
        &format!("{base}paths = {{ \"-C\" = {{ access = \"read\", before = \":\", fields = [\"src\"] }} }}\n"),
    )
    .unwrap_err();
    assert!(err.message().contains("choose one"), "{err}");

    let err = compile(
        "m.toml",
        &format!("{base}paths = {{ \"-C\" = {{ access = \"read\", unless = [\"[\"] }} }}\n"),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Glob);

    let err = compile(
        "m.toml",
        &format!("{base}paths = {{ \"-C\" = {{ access = \"read\", bogus = 1 }} }}\n"),
    )
    .unwrap_err();
    assert!(err.message().contains("bogus"), "{err}");

    let err = compile("m.toml", &format!("{base}operands = [\"read\", 3]\n")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Toml);
}

#[test]
fn one_option_can_hold_paths_of_several_kinds() {
    let m = module(
        r#"
[command]
bin = "ssh"
[syntax]
style = "gnu"
[syntax.global]
values = ["-o", "-i"]
paths = { "-i" = "read", "-o" = [{ access = "read", keys = ["IdentityFile", "UserKnownHostsFile"] }, { access = "write", keys = ["ControlPath"] }] }
"#,
    );
    assert_eq!(
        paths_of(
            &m,
            "-oIdentityFile=k -o 'controlpath /tmp/c' -i id -o 'UserKnownHostsFile a b' h"
        ),
        vec![vec![
            ("k".into(), "read".into(), "-o".into(), 0, "k".into()),
            one("/tmp/c", "write", "-o", 2),
            one("id", "read", "-i", 4),
            one("a", "read", "-o", 6),
            one("b", "read", "-o", 6),
        ]]
    );
}

#[test]
fn undeclared_deny_refuses_every_spelling_of_an_unknown_option() {
    let m = module(
        r#"
[command]
bin = "git"
[syntax]
style = "gnu"
abbreviate = true
undeclared = "deny"
[syntax.global]
values = ["-C"]
[syntax.commands.status]
flags = ["-s|--short", "-b|--branch"]
"#,
    );
    for allowed in [
        "status",
        "status -sb",
        "status --sho",
        "-C x status --branch",
        "status -- --not-an-option",
    ] {
        assert_eq!(verdict(&m, allowed), Verdict::Allow, "{allowed}");
    }
    for denied in [
        "status --porcelain",
        "status -sz",
        "status -z",
        "--bare status",
        "status --porcelain=v2",
        "log --oneline",
    ] {
        assert_eq!(verdict(&m, denied), Verdict::Deny, "{denied}");
    }
    let argv = ["status", "-sbz"];
    let reason = m.check(&argv).reason();
    assert!(
        reason.contains("`-z` is not an option this module knows for `status`"),
        "{reason}"
    );
    let reason = m.check(&["--bare", "status"]).reason();
    assert!(
        reason.contains("`--bare` is not an option this module knows;"),
        "{reason}"
    );
}

#[test]
fn an_allow_list_says_why_in_its_own_words() {
    let m = module(
        "[command]\nbin = \"git\"\nnot_allowed = \"only status here; extend the module to allow more\"\n[allow]\nargs = [\"status\"]\n",
    );
    assert_eq!(verdict(&m, "status"), Verdict::Allow);
    let denied = m.check(&["push"]);
    assert_eq!(
        denied.reason(),
        "only status here; extend the module to allow more"
    );
    let plain = module("[command]\nbin = \"git\"\n[allow]\nargs = [\"status\"]\n");
    assert_eq!(
        plain.check(&["push"]).reason(),
        "no allow rule admits this argv"
    );
}

#[test]
fn modules_say_which_releases_they_were_checked_against() {
    let m = module("[command]\nbin = \"git\"\nversions = [\"2.47\", \"2.39.5\"]\n");
    assert_eq!(m.checked_against("2.47.3"), Some(true));
    assert_eq!(m.checked_against("2.47"), Some(true));
    assert_eq!(m.checked_against("2.39.5"), Some(true));
    assert_eq!(m.checked_against("2.39.2"), Some(false));
    assert_eq!(m.checked_against("2.470.1"), Some(false));
    let unsaid = module("[command]\nbin = \"git\"\n");
    assert_eq!(unsaid.checked_against("2.47.3"), None);
}

/// aws reads its argv with two argparse parsers: the main one knows only the global
/// options and sees every argument first, so a global option's name or unique prefix
/// is the global option even where the operation has an option it also abbreviates
/// (`--r` is `--region`, not `--role-name`); and argparse gives an option a value only
/// when the next argument does not look like an option.
#[test]
fn argparse_reads_global_options_first_and_values_skip_options() {
    let text = r#"
[command]
bin = "aws"
[syntax]
style = "gnu"
abbreviate = true
global_anywhere = true
global_first = true
values_skip_options = true
undeclared = "deny"
[syntax.global]
values = ["--region", "--endpoint-url", "--output"]
flags = ["--debug"]
[syntax.commands."iam get-role"]
values = ["--role-name"]
[syntax.commands."rds describe-db-engine-versions"]
values = ["--engine", "--output-location"]
[syntax.commands."ec2 describe-instances"]
values = ["--filters"]
[[rule]]
id = "allow"
action = "allow"
command = "iam get-role"
[[rule]]
id = "allow-rds"
action = "allow"
command = "rds describe-db-engine-versions"
[[rule]]
id = "allow-ec2"
action = "allow"
command = "ec2 describe-instances"
[[rule]]
id = "endpoint"
action = "deny"
args = "--endpoint-url"
"#;
    let m = module(text);
    let global = |argv: &[&str], name: &str| {
        let readings = m.readings(argv).unwrap();
        assert_eq!(readings.len(), 1, "{argv:?}");
        readings[0]
            .options()
            .find(|o| o.name() == name)
            .map(|o| (o.is_global(), o.value().map(str::to_owned)))
    };
    assert_eq!(
        global(&["iam", "get-role", "--r", "eu-west-3"], "--region"),
        Some((true, Some("eu-west-3".to_owned())))
    );
    assert_eq!(
        global(&["iam", "get-role", "--rol", "x"], "--role-name"),
        Some((false, Some("x".to_owned())))
    );
    // `--en` abbreviates `--engine` here, but the main parser reads `--endpoint-url`.
    let d = m.check(&["rds", "describe-db-engine-versions", "--en", "http://evil"]);
    assert_eq!(d.verdict(), Verdict::Deny);
    assert_eq!(d.rule().map(|r| r.id()), Some("endpoint"));
    // An exact global name is the global option; a longer operation option is not.
    assert_eq!(
        global(
            &["rds", "describe-db-engine-versions", "--output", "json"],
            "--output"
        ),
        Some((true, Some("json".to_owned())))
    );
    assert_eq!(
        global(
            &[
                "rds",
                "describe-db-engine-versions",
                "--output-location",
                "x"
            ],
            "--output-location"
        ),
        Some((false, Some("x".to_owned())))
    );
    // A list option followed by an option takes no value: the option is read.
    let d = m.check(&[
        "ec2",
        "describe-instances",
        "--filters",
        "--endpoint-url",
        "http://evil",
    ]);
    assert_eq!(d.verdict(), Verdict::Deny);
    assert_eq!(d.rule().map(|r| r.id()), Some("endpoint"));
    assert_eq!(
        m.check(&["ec2", "describe-instances", "--filters", "Name=x,Values=y"])
            .verdict(),
        Verdict::Allow
    );
    // Without the settings the same argvs read the other way (the control).
    let plain = module(
        &text
            .replace("global_first = true\n", "")
            .replace("values_skip_options = true\n", ""),
    );
    assert_eq!(
        plain
            .check(&["rds", "describe-db-engine-versions", "--en", "http://evil"])
            .verdict(),
        Verdict::Allow
    );
    assert_eq!(
        plain
            .check(&[
                "ec2",
                "describe-instances",
                "--filters",
                "--endpoint-url",
                "http://evil"
            ])
            .verdict(),
        Verdict::Allow,
        "the endpoint hides as the value of `--filters`"
    );
}

/// `undeclared = "deny-declared"`: options nobody classified are refused in the scopes
/// the module declares, while an operation the module does not declare is simply not
/// allowed, so an agent's module can declare it and allow it (aws has too many
/// operations to declare them all).
#[test]
fn undeclared_options_are_refused_in_declared_scopes_only() {
    let base_text = r#"
[command]
bin = "aws"
not_allowed = "not in the allow list"
[syntax]
style = "gnu"
abbreviate = true
global_anywhere = true
undeclared = "deny-declared"
[syntax.global]
values = ["--endpoint-url"]
[syntax.commands."ec2 describe-instances"]
values = ["--instance-ids"]
[[rule]]
action = "allow"
command = "ec2 describe-instances"
[[rule]]
id = "endpoint"
action = "deny"
args = "--endpoint-url"
"#;
    let base = module(base_text);
    let d = base.check(&["ec2", "describe-instances", "--frobnicate", "x"]);
    assert_eq!(d.verdict(), Verdict::Deny);
    assert!(
        d.reason().contains("not an option this module knows"),
        "{d}"
    );
    let d = base.check(&["--frobnicate", "ec2", "describe-instances"]);
    assert!(
        d.reason().contains("not an option this module knows"),
        "{d}"
    );
    let d = base.check(&["ec2", "terminate-instances", "--instance-ids", "i-1"]);
    assert_eq!(d.verdict(), Verdict::Deny);
    assert_eq!(d.reason(), "not in the allow list", "{d}");
    // Outside the declared scopes the global options are still read.
    let d = base.check(&[
        "ec2",
        "terminate-instances",
        "--dry-run",
        "--endpoint-url",
        "x",
    ]);
    assert_eq!(d.rule().map(|r| r.id()), Some("endpoint"), "{d}");
    let agent = r#"
[command]
bin = "aws"
extends = "builtin:aws"
[syntax.commands."ec2 terminate-instances"]
values = ["--instance-ids"]
[[rule]]
action = "allow"
command = "ec2 terminate-instances"
"#;
    let agent = Module::compile_extending(&base, "commands/aws.toml", agent).unwrap();
    assert_eq!(
        agent
            .check(&["ec2", "terminate-instances", "--instance-ids", "i-1"])
            .verdict(),
        Verdict::Allow
    );
    for argv in [
        &["ec2", "terminate-instances", "--frobnicate", "i-1"][..],
        &[
            "ec2",
            "terminate-instances",
            "--instance-ids",
            "i-1",
            "--endpoint-url",
            "x",
        ],
        &["ec2", "describe-instances", "--frobnicate"],
    ] {
        assert_eq!(agent.check(argv).verdict(), Verdict::Deny, "{argv:?}");
    }
    // The control: with `undeclared = "deny"` the base cannot read the left-out
    // operation, and no agent's module can allow it.
    let strict = module(&base_text.replace("deny-declared", "deny"));
    let d = strict.check(&["ec2", "terminate-instances", "--instance-ids", "i-1"]);
    assert!(
        d.reason().contains("not an option this module knows"),
        "{d}"
    );
}

#[test]
fn a_decision_debugs_without_its_module() {
    let module = crate::compile(
        "t.toml",
        "[command]\nbin = \"t\"\n[[rule]]\nid = \"t.x\"\naction = \"deny\"\nargs = \"-x\"\nreason = \"no x\"\n",
    )
    .unwrap();
    let text = format!("{:?}", module.check(&["-x"]));
    assert!(text.contains("t.x") && text.contains("no x"), "{text}");
    assert!(text.len() < 400, "{} bytes: {text}", text.len());
}

#[cfg(feature = "serialize")]
#[test]
fn an_explanation_serializes() {
    let module = crate::compile(
        "t.toml",
        "[command]\nbin = \"t\"\n[[rule]]\nid = \"t.x\"\naction = \"deny\"\nargs = \"-x\"\nreason = \"no x\"\n",
    )
    .unwrap();
    let json = serde_json::to_value(module.check(&["-x"]).explanation()).unwrap();
    assert_eq!(json["verdict"], "deny");
    assert_eq!(json["rule_id"], "t.x");
    assert_eq!(json["location"]["source"], "t.toml");
}
