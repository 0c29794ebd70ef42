//! Property tests of the engine's invariants:
//! (a) spelling invariance: every spelling the declared syntax treats as equal gets the
//!     same decision;
//! (b) the automaton agrees with the reference interpreter on random modules and argv;
//! (c) no input, module text or argv, panics.

use proptest::prelude::*;

use crate::{Module, compile};

// ---------------------------------------------------------------------------------
// (a) Spelling invariance, gnu style.

/// An option of the generated `run` scope: one-letter name, long name, takes a value.
struct OptionDef {
    short: Option<char>,
    long: Option<&'static str>,
    value: bool,
}

const OPTIONS: &[OptionDef] = &[
    OptionDef {
        short: Some('a'),
        long: Some("--alpha"),
        value: false,
    },
    OptionDef {
        short: Some('b'),
        long: Some("--beta"),
        value: true,
    },
    OptionDef {
        short: Some('c'),
        long: None,
        value: false,
    },
    OptionDef {
        short: None,
        long: Some("--gamma"),
        value: true,
    },
    OptionDef {
        short: None,
        long: Some("--gamut"),
        value: false,
    },
    OptionDef {
        short: Some('d'),
        long: Some("--delta"),
        value: true,
    },
    OptionDef {
        short: Some('e'),
        long: Some("--delete"),
        value: false,
    },
];

fn option_spec(def: &OptionDef) -> String {
    match (def.short, def.long) {
        (Some(s), Some(l)) => format!("-{s}|{l}"),
        (Some(s), None) => format!("-{s}"),
        (None, Some(l)) => l.to_owned(),
        (None, None) => String::new(),
    }
}

/// Any name of option `i`, picked by `pick`.
fn option_name(i: usize, pick: u8) -> String {
    let def = &OPTIONS[i];
    match (def.short, def.long) {
        (Some(_), Some(l)) if pick % 2 == 0 => l.to_owned(),
        (Some(s), _) => format!("-{s}"),
        (None, Some(l)) => l.to_owned(),
        (None, None) => String::new(),
    }
}

fn gnu_module(rules: &[(bool, Vec<Entry>)]) -> String {
    let mut flags = Vec::new();
    let mut values = Vec::new();
    for def in OPTIONS {
        let spec = format!("\"{}\"", option_spec(def));
        if def.value {
            values.push(spec)
        } else {
            flags.push(spec)
        }
    }
    let mut text = format!(
        "[command]\nbin = \"tool\"\n[syntax]\nstyle = \"gnu\"\nabbreviate = true\n\
         [syntax.commands.run]\nflags = [{}]\nvalues = [{}]\n",
        flags.join(", "),
        values.join(", ")
    );
    for (deny, entries) in rules {
        let expr: Vec<String> = entries.iter().map(Entry::render).collect();
        text.push_str(&format!(
            "[[rule]]\naction = \"{}\"\ncommand = \"run\"\nargs = \"{}\"\n",
            if *deny { "deny" } else { "allow" },
            expr.join(" & ")
        ));
    }
    text
}

/// A rule entry over the generated options and words.
#[derive(Debug, Clone)]
enum Entry {
    Opt(usize, u8, Option<&'static str>),
    Word(&'static str),
}

impl Entry {
    fn render(&self) -> String {
        match self {
            Entry::Opt(i, pick, glob) => {
                let name = option_name(*i, *pick);
                match glob {
                    Some(g) if OPTIONS[*i].value => format!("{name}={g}"),
                    _ => name,
                }
            }
            Entry::Word(w) => (*w).to_owned(),
        }
    }
}

fn arb_entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        (
            0..OPTIONS.len(),
            any::<u8>(),
            prop::option::of(prop::sample::select(vec!["x*", "*=*", "-*", "v", "*/*"]))
        )
            .prop_map(|(i, p, g)| Entry::Opt(i, p, g)),
        prop::sample::select(vec!["w1", "w*", "x?", "-"]).prop_map(Entry::Word),
    ]
}

fn arb_rules() -> impl Strategy<Value = Vec<(bool, Vec<Entry>)>> {
    prop::collection::vec(
        (any::<bool>(), prop::collection::vec(arb_entry(), 1..3)),
        1..5,
    )
}

/// One item of an invocation of `tool run ...`.
#[derive(Debug, Clone)]
enum Item {
    Opt(usize, String),
    Word(String),
}

fn arb_items() -> impl Strategy<Value = Vec<Item>> {
    let value = "[a-z0-9=,/*-]{1,5}";
    let word = "[wx][a-z0-9*?]{0,3}";
    prop::collection::vec(
        prop_oneof![
            (0..OPTIONS.len(), value).prop_map(|(i, v)| Item::Opt(i, v)),
            word.prop_map(Item::Word),
        ],
        0..7,
    )
}

/// The unique abbreviations of long option `long` in the generated scope.
fn abbreviations(long: &str) -> Vec<String> {
    (3..=long.len())
        .map(|n| long[..n].to_owned())
        .filter(|prefix| {
            OPTIONS
                .iter()
                .filter(|d| d.long.is_some_and(|l| l.starts_with(prefix.as_str())))
                .count()
                == 1
        })
        .collect()
}

/// Renders the options of `items` in one spelling chosen by `choices`, keeping order.
/// Short flags next to each other may be bundled.
fn spell(items: &[Item], choices: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut pick = choices.iter().copied().cycle();
    let mut open_bundle = false;
    for item in items {
        let c = pick.next().unwrap_or(0);
        match item {
            Item::Word(w) => {
                out.push(w.clone());
                open_bundle = false;
            }
            Item::Opt(i, value) => {
                let def = &OPTIONS[*i];
                let use_short = def.short.is_some() && (def.long.is_none() || c % 2 == 0);
                if use_short {
                    let s = def.short.unwrap_or('?');
                    let bundle = open_bundle && c % 3 == 0;
                    let mut text = if bundle {
                        out.pop().unwrap_or_default()
                    } else {
                        "-".to_owned()
                    };
                    text.push(s);
                    if def.value {
                        if c % 5 < 2 {
                            text.push_str(value);
                            out.push(text);
                        } else {
                            out.push(text);
                            out.push(value.clone());
                        }
                        open_bundle = false;
                    } else {
                        out.push(text);
                        open_bundle = true;
                    }
                } else {
                    let long = def.long.unwrap_or("--?");
                    let abbrevs = abbreviations(long);
                    let name = if c % 4 == 1 && !abbrevs.is_empty() {
                        abbrevs[usize::from(c) % abbrevs.len()].clone()
                    } else {
                        long.to_owned()
                    };
                    if def.value {
                        if c % 7 < 3 {
                            out.push(format!("{name}={value}"));
                        } else {
                            out.push(name);
                            out.push(value.clone());
                        }
                    } else {
                        out.push(name);
                    }
                    open_bundle = false;
                }
            }
        }
    }
    out
}

fn with_path(rest: Vec<String>) -> Vec<String> {
    std::iter::once("run".to_owned()).chain(rest).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_gnu_spelling_gets_the_same_decision(
        rules in arb_rules(),
        items in arb_items(),
        choices_a in prop::collection::vec(any::<u8>(), 1..8),
        choices_b in prop::collection::vec(any::<u8>(), 1..8),
    ) {
        let text = gnu_module(&rules);
        let module = compile("gen.toml", &text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let plain = with_path(spell(&items, &[0]));
        let a = with_path(spell(&items, &choices_a));
        let b = with_path(spell(&items, &choices_b));
        // Options first, then the words after `--`: the same reading for gnu.
        let (opts, words): (Vec<Item>, Vec<Item>) = items.iter().cloned().partition(|i| matches!(i, Item::Opt(..)));
        let mut moved = spell(&opts, &choices_a);
        moved.push("--".to_owned());
        moved.extend(spell(&words, &[0]));
        let moved = with_path(moved);

        let reference = module.check(&plain);
        let reading = reference.reading_text();
        for argv in [&a, &b] {
            let d = module.check(argv);
            prop_assert_eq!(d.verdict(), reference.verdict(), "{:?} vs {:?}\n{}", argv, plain, text);
            prop_assert_eq!(d.reading_text(), reading.clone(), "{:?} vs {:?}", argv, plain);
        }
        let d = module.check(&moved);
        prop_assert_eq!(d.verdict(), reference.verdict(), "{:?} vs {:?}\n{}", moved, plain, text);
    }
}

// ---------------------------------------------------------------------------------
// (a') Spelling invariance, go style: one or two dashes, `=value` or separate, booleans.

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_go_spelling_gets_the_same_decision(
        approve in prop::option::of(any::<bool>()),
        var in prop::option::of("[a-z]{1,3}=[a-z0-9]{0,3}"),
        dashes in prop::collection::vec(1usize..=2, 4),
        forms in prop::collection::vec(0u8..4, 4),
        plan in any::<bool>(),
    ) {
        let module = compile("tf.toml", r#"
[command]
bin = "terraform"
[syntax]
style = "go"
[syntax.global]
values = ["-chdir"]
[syntax.commands.apply]
bools = ["-auto-approve"]
values = ["-var"]
[[rule]]
action = "deny"
command = "apply"
args = "-auto-approve"
[[rule]]
action = "deny"
command = "apply"
args = "*"
"#).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let dash = |i: usize| "-".repeat(dashes[i]);
        let mut argv = vec![format!("{}chdir=dir", dash(0)), "apply".to_owned()];
        if let Some(v) = &var {
            if forms[0] % 2 == 0 { argv.push(format!("{}var={v}", dash(1))) } else { argv.push(format!("{}var", dash(1))); argv.push(v.clone()) }
        }
        if let Some(on) = approve {
            let spelled = match (on, forms[1]) {
                (true, 0) => "auto-approve".to_owned(),
                (true, 1) => "auto-approve=true".to_owned(),
                (true, 2) => "auto-approve=1".to_owned(),
                (true, _) => "auto-approve=T".to_owned(),
                (false, 0 | 1) => "auto-approve=false".to_owned(),
                (false, 2) => "auto-approve=0".to_owned(),
                (false, _) => "auto-approve=F".to_owned(),
            };
            argv.push(format!("{}{spelled}", dash(2)));
        }
        if plan { argv.push("saved.tfplan".to_owned()); }
        let expected_deny = approve == Some(true) || plan;
        let d = module.check(&argv);
        prop_assert_eq!(d.is_allowed(), !expected_deny, "{:?}: {}", argv, d);
    }
}

// ---------------------------------------------------------------------------------
// (b) The automaton agrees with the reference interpreter.

fn arb_any_module() -> impl Strategy<Value = String> {
    let style = prop::sample::select(vec!["generic", "gnu", "pflag", "go"]);
    let names = vec![
        "-a",
        "-b",
        "--alpha",
        "--al",
        "--beta",
        "--gamma",
        "-c|--config",
        "-u|--upload-pack",
    ];
    let scope = (
        prop::sample::subsequence(names.clone(), 0..4),
        prop::sample::subsequence(names.clone(), 0..3),
        prop::sample::subsequence(names, 0..2),
        any::<bool>(),
        prop::option::of(1u32..3),
    );
    let entry = prop_oneof![
        prop::sample::select(vec![
            "-a",
            "-b",
            "--alpha",
            "--al",
            "--beta",
            "--config",
            "-u",
            "-c",
            "--upload-pack",
            "--gamma",
            "-z"
        ])
        .prop_map(str::to_owned),
        (
            prop::sample::select(vec!["-b", "--beta", "-c", "--gamma", "-z", "--upload-pack"]),
            prop::sample::select(vec!["*", "x*", "/*:*", "{a,b}", "?", "X"])
        )
            .prop_map(|(n, g)| format!("{n}={g}")),
        prop::sample::select(vec!["run", "push", "w1", "w*", "*", "X", "state", "rm"])
            .prop_map(str::to_owned),
    ];
    let rule = (
        any::<bool>(),
        prop::option::of(prop::sample::select(vec![
            "run", "push", "state rm", "other",
        ])),
        prop::collection::vec(entry, 0..3),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    );
    (style, any::<bool>(), any::<bool>(), scope, prop::collection::vec(rule, 1..6)).prop_map(
        |(style, abbreviate, anywhere, (flags, values, bools, scope_abbrev, until), rules)| {
            let list = |v: &[&str]| v.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
            // Names may only be declared once per scope.
            let values: Vec<&str> = values.into_iter().filter(|v| !flags.contains(v)).collect();
            let bools: Vec<&str> = bools.into_iter().filter(|v| !flags.contains(v) && !values.contains(v)).collect();
            let mut text = format!(
                "[command]\nbin = \"tool\"\n[syntax]\nstyle = \"{style}\"\nabbreviate = {abbreviate}\nglobal_anywhere = {anywhere}\n\
                 [syntax.global]\nflags = [{}]\n[syntax.commands.run]\nflags = [{}]\nvalues = [{}]\nbools = [{}]\nabbreviate = {scope_abbrev}\n",
                list(&flags[..flags.len().min(1)]),
                list(&flags),
                list(&values),
                list(&bools),
            );
            if let Some(n) = until {
                text.push_str(&format!("options_until = {n}\n"));
            }
            for (deny, command, entries, global, ignore_case, fields) in rules {
                if command.is_none() && entries.is_empty() {
                    continue;
                }
                text.push_str(&format!("[[rule]]\naction = \"{}\"\n", if deny { "deny" } else { "allow" }));
                if let Some(c) = command {
                    text.push_str(&format!("command = \"{c}\"\n"));
                }
                if !entries.is_empty() {
                    text.push_str(&format!("args = \"{}\"\n", entries.join(" & ")));
                }
                text.push_str(&format!("global = {global}\nignore_case = {ignore_case}\n"));
                if fields {
                    text.push_str("fields = [\"src\", \"source\"]\n");
                }
            }
            text
        },
    )
}

fn arb_argv() -> impl Strategy<Value = Vec<String>> {
    let token = prop_oneof![
        prop::sample::select(vec![
            "run",
            "push",
            "state",
            "rm",
            "other",
            "w1",
            "wz",
            "x",
            "X",
            "-",
            "",
            "--",
            "-a",
            "-b",
            "-ab",
            "-abx",
            "-ba",
            "--alpha",
            "--al",
            "--alp=v",
            "--beta",
            "--beta=x/y",
            "-b=xz",
            "--gamma",
            "--gam",
            "-c",
            "-cuX",
            "--config=a=b",
            "--conf",
            "--upload-pack",
            "--upl=x",
            "-u",
            "-z",
            "--z=1",
            "src=/,dst=/x",
            "type=bind,source=/a",
            "/etc:/x",
            "a",
            "b",
            "-auto",
            "--alpha=false",
        ])
        .prop_map(str::to_owned),
        "[-a-z=/,*]{0,6}",
    ];
    prop::collection::vec(token, 0..9)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn automaton_agrees_with_reference(text in arb_any_module(), argv in arb_argv()) {
        let Ok(module) = compile("gen.toml", &text) else {
            // A generated module may be invalid (e.g. a name the style rejects); that
            // is the compiler's business, tested elsewhere.
            return Ok(());
        };
        assert_agrees(&module, &argv, &text)?;
    }
}

fn assert_agrees(module: &Module, argv: &[String], text: &str) -> Result<(), TestCaseError> {
    let decision = module.check(argv);
    let (verdict, rule) = module.check_reference(argv);
    prop_assert_eq!(decision.verdict(), verdict, "argv {:?}\n{}", argv, text);
    prop_assert_eq!(
        decision.explanation().rule_id,
        rule,
        "argv {:?}\n{}",
        argv,
        text
    );
    Ok(())
}

// ---------------------------------------------------------------------------------
// (c) Nothing panics.

fn arb_module_text() -> impl Strategy<Value = String> {
    let fragment = prop::sample::select(vec![
        "[command]\n",
        "bin = \"x\"\n",
        "[syntax]\n",
        "style = \"gnu\"\n",
        "style = \"go\"\n",
        "abbreviate = true\n",
        "[syntax.global]\n",
        "values = [\"-c\"]\n",
        "flags = [\"--a|-a\"]\n",
        "[syntax.commands.\"a b\"]\n",
        "options_until = 0\n",
        "[[rule]]\n",
        "action = \"deny\"\n",
        "args = \"-c=*\"\n",
        "args = \"&\"\n",
        "command = \"a b\"\n",
        "match = [\"-c x\"]\n",
        "not_match = [\"'\"]\n",
        "[deny]\n",
        "args = [\"x & -y=[\"]\n",
        "[examples]\n",
        "deny = [\"a\"]\n",
        "fields = [\"src\"]\n",
        "id = \"\"\n",
        "=\n",
        "\u{e9}\"\n",
        "[env]\nset = { A = \"1\" }\n",
    ]);
    (prop::collection::vec(fragment, 0..14), ".{0,20}").prop_map(|(parts, tail)| {
        let mut s: String = parts.concat();
        s.push_str(&tail);
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn compiling_any_text_never_panics(text in arb_module_text()) {
        let _ = compile("any.toml", &text);
    }

    #[test]
    fn compiling_random_bytes_never_panics(text in ".{0,200}") {
        let _ = compile("any.toml", &text);
    }

    #[test]
    fn checking_any_argv_never_panics(text in arb_any_module(), argv in prop::collection::vec(".{0,12}", 0..12)) {
        if let Ok(module) = compile("gen.toml", &text) {
            let d = module.check(&argv);
            let _ = d.explanation();
            assert_agrees(&module, &argv, &text)?;
        }
    }
}

// ---------------------------------------------------------------------------------
// (d) The public reading says where everything was written.

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Every option value, operand and path word of every reading is exactly the text
    /// its span covers in the argv, and every argument is accounted for.
    #[test]
    fn spans_cover_exactly_what_was_read(text in arb_any_module(), argv in arb_argv()) {
        // Every option value and every operand of `run` is a path.
        let text = text
            .replacen("[syntax]\n", "[syntax]\nvalue_paths = \"write\"\n", 1)
            .replacen("[syntax.commands.run]\n", "[syntax.commands.run]\noperands = \"read\"\n", 1);
        let Ok(module) = compile("gen.toml", &text) else {
            return Ok(());
        };
        let Ok(readings) = module.readings(&argv) else {
            return Ok(());
        };
        for reading in &readings {
            for word in reading.path_words().chain(reading.operands()) {
                prop_assert_eq!(word.span().text_in(&argv), Some(word.text()));
                prop_assert_eq!(argv.get(word.index()).map(String::as_str), Some(word.text()));
            }
            for opt in reading.options() {
                let arg = argv.get(opt.index());
                prop_assert!(arg.is_some_and(|a| a.starts_with('-')), "{:?} in {:?}", opt, argv);
                if let Some(span) = opt.value_span() {
                    prop_assert_eq!(span.text_in(&argv), opt.value(), "{:?} in {:?}", opt, argv);
                    prop_assert!(span.index() == opt.index() || span.index() == opt.index() + 1);
                }
                prop_assert!(opt.is(opt.name()), "{:?}", opt);
            }
            let in_run = reading.path().first() == Some(&"run") && reading.path().len() == 1;
            let expected = reading.options().filter(|o| o.value().is_some()).count()
                + if in_run { reading.operands().count() } else { 0 };
            let paths = reading.paths();
            prop_assert_eq!(paths.len(), expected, "{:?} in {}", paths, reading);
            for path in &paths {
                prop_assert_eq!(path.span().text_in(&argv), Some(path.text()));
            }
            // Every argument is a path word, an operand, an option or an option's value,
            // except `--` and booleans a false occurrence removed (with that occurrence).
            let false_boolean = argv.iter().any(|a| {
                a.split_once('=').and_then(|(_, v)| crate::reading::parse_bool(v)) == Some(false)
            });
            let mut seen = vec![false; argv.len()];
            for word in reading.path_words().chain(reading.operands()) {
                seen[word.index()] = true;
            }
            for opt in reading.options() {
                seen[opt.index()] = true;
                if let Some(span) = opt.value_span() {
                    seen[span.index()] = true;
                }
            }
            for (i, arg) in argv.iter().enumerate() {
                prop_assert!(seen[i] || arg == "--" || false_boolean, "argument {} ({:?}) of {:?} is lost in {}", i, arg, argv, reading);
            }
        }
    }
}
