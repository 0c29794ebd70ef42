//! The terraform module against the installed terraform's own option tables:
//! `tools/terraform-options.py check` asks terraform about every subcommand and every
//! option name its help texts mention, subcommand by subcommand (a probe that Go's
//! flag package refuses before anything runs), and fails when terraform has a
//! subcommand the module does not declare or an option of an allowed subcommand the
//! module does not declare with the same kind. Without terraform (or python3) the
//! test fails under `CI=true` and is skipped, loudly, elsewhere.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test")]

use std::process::Command;

mod support;

#[test]
fn the_module_declares_every_option_of_the_installed_terraform() {
    if !support::tools_present(
        &[("terraform", &["version"]), ("python3", &["--version"])],
        "the terraform option table",
    ) {
        return;
    }
    let version = Command::new("terraform").arg("version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout).to_string();
    let module = airlock_builtins::compile("terraform").unwrap().unwrap();
    let release = version
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("Terraform v"))
        .unwrap_or_default()
        .to_owned();
    if !module
        .versions()
        .iter()
        .any(|v| release.starts_with(v.as_str()))
    {
        eprintln!(
            "WARNING: installed terraform {release} is outside the versions the module was checked against ({:?})",
            module.versions()
        );
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/terraform-options.py");
    let out = Command::new("python3")
        .arg(script)
        .arg("check")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "terraform {release} and modules/terraform.toml disagree:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The check looked at something: it says how many options it compared.
    let said = String::from_utf8_lossy(&out.stderr);
    let checked: usize = said
        .split_whitespace()
        .zip(said.split_whitespace().skip(1))
        .find(|(_, w)| *w == "options")
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or(0);
    assert!(checked >= 80, "only {checked} options checked: {said}");
}

/// The extension modules/terraform.md shows: it enables a subcommand the built-in
/// only leaves out, and cannot lift what a deny rule refuses.
#[test]
fn the_documented_extension_enables_state_pull_and_nothing_denied() {
    let builtin = airlock_builtins::compile("terraform").unwrap().unwrap();
    let text = "[command]\nbin = \"terraform\"\nextends = \"builtin:terraform\"\n\n[[rule]]\nid = \"agent.state-pull\"\naction = \"allow\"\ncommand = \"state pull\"\nreason = \"this agent reads the raw state\"\n";
    let notes = airlock_builtins::get("terraform").unwrap().notes;
    assert!(
        notes.contains("command = \"state pull\""),
        "the note shows this extension"
    );
    let module =
        airlock_policy::Module::compile_extending(&builtin, "commands/terraform.toml", text)
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(!builtin.check(&["state", "pull"]).is_allowed());
    assert!(module.check(&["state", "pull"]).is_allowed());
    for denied in [
        &["refresh"][..],
        &["apply", "-auto-approve"],
        &["state", "rm", "x"],
        &["login"],
        &["state", "pull", "-frobnicate"],
    ] {
        assert!(!module.check(denied).is_allowed(), "{denied:?}");
    }
}
