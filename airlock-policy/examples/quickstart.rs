//! The README's quick start as a runnable example: `cargo run -p airlock-policy --example quickstart`.
use airlock_policy::compile;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let module = compile(
        "terraform.toml",
        r#"
[command]
bin = "terraform"

[syntax]
style = "go"

[syntax.commands.apply]
bools = ["-auto-approve"]

[[rule]]
id = "terraform.auto-approve"
action = "deny"
command = "apply"
args = "-auto-approve"
reason = "apply must be confirmed by a person"
match = ["apply -auto-approve", "apply --auto-approve=true"]
not_match = ["apply", "apply -auto-approve=false"]
"#,
    )?;
    for argv in [
        &["apply", "--auto-approve"][..],
        &["plan", "-out", "tf.plan"],
    ] {
        let decision = module.check(argv);
        println!("{argv:?}: {decision}");
    }
    if let Err(e) = compile(
        "git.toml",
        "[command]\nbin = \"git\"\n\n[deny]\nargs = [\"a & & b\"]\n",
    ) {
        println!("{e}");
    }
    Ok(())
}
