//! Helpers shared by the tests that compare a built-in module with the installed tool.

use std::path::PathBuf;
use std::process::Command;

/// The crate's directory (`modules/`, `tools/`).
#[allow(
    dead_code,
    reason = "not every test file reads the crate's files by path"
)]
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether every `(program, args)` runs and succeeds. When one does not, the caller
/// skips `what`, loudly, except under `CI=true`, where a missing tool fails the test:
/// CI's machines have the reference versions each module's notes name.
pub fn tools_present(tools: &[(&str, &[&str])], what: &str) -> bool {
    for (program, args) in tools {
        let ok = Command::new(program)
            .args(*args)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "`{program} {}` fails: CI must install it (the module's notes say which version)",
                args.join(" ")
            );
            eprintln!("SKIPPED: `{program}` is not installed; {what} is not checked");
            return false;
        }
    }
    true
}
