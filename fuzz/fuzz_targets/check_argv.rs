//! Checking any argv against a module with a rich syntax never panics, and the
//! automaton agrees with the reference interpreter.
#![no_main]

use std::sync::OnceLock;

use airlock_policy::Module;
use libfuzzer_sys::fuzz_target;

const MODULE: &str = r#"
[command]
bin = "git"
[syntax]
style = "gnu"
abbreviate = true
[syntax.global]
abbreviate = false
values = ["-c", "-C", "--config-env"]
flags = ["-p|--paginate"]
optional = ["--exec-path"]
[syntax.commands.clone]
values = ["-c|--config", "-u|--upload-pack", "--template", "-o|--origin"]
flags = ["-q|--quiet", "-n|--no-checkout"]
[syntax.commands.commit]
values = ["-c|--reedit-message", "-m|--message"]
flags = ["-a|--all"]
[syntax.commands.ls-remote]
values = ["--upload-pack|--exec"]
options_until = 1
[[rule]]
action = "deny"
global = true
args = "-c"
[[rule]]
action = "deny"
args = "--upload-pack"
[[rule]]
action = "deny"
command = "clone"
args = "--config=core.*"
ignore_case = true
[[rule]]
action = "deny"
command = "bisect run"
[[rule]]
action = "deny"
args = "--mount=/*"
fields = ["src", "source"]
[[rule]]
action = "deny"
args = "daemon & -x"
"#;

fn module() -> Option<&'static Module> {
    static MODULE_CELL: OnceLock<Option<Module>> = OnceLock::new();
    MODULE_CELL
        .get_or_init(|| airlock_policy::compile("git.toml", MODULE).ok())
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Some(module) = module() else {
        panic!("the fuzz module does not compile");
    };
    let text = String::from_utf8_lossy(data);
    let argv: Vec<&str> = text.split('\0').collect();
    let decision = module.check(&argv);
    let (verdict, rule) = module.check_reference(&argv);
    assert_eq!(decision.verdict(), verdict, "{argv:?}");
    assert_eq!(decision.explanation().rule_id, rule, "{argv:?}");
});
