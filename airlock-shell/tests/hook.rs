//! The real `airlock-claude-hook` binary fed recorded PreToolUse payloads.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test")]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn run_bytes(args: &[&str], payload: &[u8]) -> Run {
    run_in(args, payload, None)
}

/// Runs the hook with `CLAUDE_PROJECT_DIR` set to `project` (or unset).
fn run_in(args: &[&str], payload: &[u8], project: Option<&str>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_airlock-claude-hook"));
    match project {
        Some(dir) => command.env("CLAUDE_PROJECT_DIR", dir),
        None => command.env_remove("CLAUDE_PROJECT_DIR"),
    };
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The hook may exit before reading everything (bad arguments): ignore EPIPE.
    let _ = child.stdin.take().unwrap().write_all(payload);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn run(args: &[&str], payload: &str) -> Run {
    run_bytes(args, &std::fs::read(data(payload)).unwrap())
}

/// The permissionDecision and reason printed, checking the whole shape.
fn decision(run: &Run) -> (String, String) {
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let value: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let out = value.get("hookSpecificOutput").unwrap();
    assert_eq!(out["hookEventName"], "PreToolUse");
    assert_eq!(value.as_object().unwrap().len(), 1);
    assert_eq!(out.as_object().unwrap().len(), 3);
    (
        out["permissionDecision"].as_str().unwrap().to_owned(),
        out["permissionDecisionReason"].as_str().unwrap().to_owned(),
    )
}

const PLAIN: &[&str] = &["--allow-command", "head", "--allow-command", "sed"];

#[test]
fn an_allowed_line_passes_silently() {
    let r = run(PLAIN, "bash-allowed.json");
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (Some(0), "", "")
    );
}

#[test]
fn other_tools_pass() {
    let r = run(&[], "read-tool.json");
    assert_eq!((r.code, r.stdout.as_str()), (Some(0), ""));
}

#[test]
fn a_module_rule_denies_and_names_the_command_and_rule() {
    let (verdict, reason) = decision(&run(PLAIN, "bash-denied.json"));
    assert_eq!(verdict, "deny");
    assert!(
        reason.contains("git -c core.hooksPath=/tmp/h commit -m \"wip\""),
        "{reason}"
    );
    assert!(reason.contains("git.config-injection"), "{reason}");
    assert!(reason.contains("builtin:git.toml:"), "{reason}");
    // --ask does not soften a module's deny.
    let mut ask = PLAIN.to_vec();
    ask.push("--ask");
    assert_eq!(decision(&run(&ask, "bash-denied.json")).0, "deny");
}

#[test]
fn what_cannot_be_known_is_denied_or_asked() {
    let (verdict, reason) = decision(&run(PLAIN, "bash-substitution.json"));
    assert_eq!(verdict, "deny");
    assert!(reason.contains("shell.command-substitution"), "{reason}");
    let (verdict, _) = decision(&run(
        &["--ask", "--allow-command", "sed"],
        "bash-substitution.json",
    ));
    assert_eq!(verdict, "ask");
}

#[test]
fn unknown_commands_are_denied_unless_allowed() {
    let (verdict, reason) = decision(&run(&[], "bash-unknown.json"));
    assert_eq!(verdict, "deny");
    assert!(reason.contains("unknown command `npm`"), "{reason}");
    let r = run(&["--allow-command", "npm"], "bash-unknown.json");
    assert_eq!((r.code, r.stdout.as_str()), (Some(0), ""));
}

#[test]
fn redirections_stay_inside_the_payload_cwd() {
    let (verdict, reason) = decision(&run(&[], "bash-redirect-outside.json"));
    assert_eq!(verdict, "deny");
    assert!(
        reason.contains("shell.redirection") || reason.contains("shell.variable"),
        "{reason}"
    );
}

#[test]
fn a_commit_message_from_a_quoted_heredoc_is_known() {
    // `"$(cat <<'EOF' ... EOF)"` is the body: the commit is judged by the git module.
    let r = run(&[], "bash-heredoc-commit.json");
    assert_eq!((r.code, r.stdout.as_str()), (Some(0), ""));
    // The same with `git -c`: the module's deny.
    let payload = br#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"git -c a=b commit -m \"$(cat <<'EOF'\nmsg\nEOF\n)\""},"cwd":"/work/repo"}"#;
    let (verdict, reason) = decision(&run_bytes(&["--ask"], payload));
    assert_eq!(verdict, "deny");
    assert!(reason.contains("git.config-injection"), "{reason}");
}

#[test]
fn extending_modules_add_rules() {
    let module = data("git-no-push.toml");
    let module = module.to_str().unwrap();
    let payload = br#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"git push origin main"},"cwd":"/work/repo"}"#;
    let r = run_bytes(&[], payload);
    assert_eq!((r.code, r.stdout.as_str()), (Some(0), ""));
    let (verdict, reason) = decision(&run_bytes(&["--module", module], payload));
    assert_eq!(verdict, "deny");
    assert!(
        reason.contains("local.no-push") && reason.contains("pushing is done by a person"),
        "{reason}"
    );
}

#[test]
fn malformed_input_blocks_with_exit_2() {
    for (args, payload) in [
        (&[][..], &b"{\"session_id\":\"x\",\"hook_event_name\":\"PreToolUse\",\"tool_name\":\"Bash\",\"tool_input\":{\"command\":\"ls\""[..]),
        (&[], b"not json"),
        (&[], b""),
        (&[], b"[1,2]"),
        (&[], br#"{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{"command":"ls"}}"#),
        (&[], br#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":7}}"#),
        (&[], b"\xff\xfe"),
        (&["--frobnicate"], br#"{"hook_event_name":"PreToolUse","tool_name":"Read","tool_input":{}}"#),
        (&["--module", "/nonexistent/x.toml"], br#"{"hook_event_name":"PreToolUse","tool_name":"Read","tool_input":{}}"#),
    ] {
        let r = run_bytes(args, payload);
        assert_eq!(r.code, Some(2), "{args:?} {payload:?}");
        assert_eq!(r.stdout, "");
        assert!(r.stderr.starts_with("airlock: "), "{}", r.stderr);
    }
    // A module that does not compile blocks every call, a Bash call that names none of
    // the built-ins (so none is compiled for it) and another tool's call included.
    let broken = data("not-compiling.toml");
    let broken = broken.to_str().unwrap();
    for payload in ["bash-unknown.json", "read-tool.json"] {
        let r = run(&["--module", broken], payload);
        assert_eq!(r.code, Some(2), "{payload}: {}", r.stderr);
        assert!(r.stderr.contains("not-compiling.toml"), "{}", r.stderr);
    }
    let r = run(&[], "malformed-truncated.json");
    assert_eq!(r.code, Some(2));
    let r = run(&[], "bash-no-command.json");
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("tool_input.command"), "{}", r.stderr);
}

#[test]
fn an_oversized_payload_is_refused() {
    let mut payload =
        br#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":""#.to_vec();
    payload.extend(std::iter::repeat_n(b'a', 2 * 1024 * 1024));
    payload.extend(br#""}}"#);
    let r = run_bytes(&[], &payload);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("more than"), "{}", r.stderr);
}

#[test]
fn the_project_dir_is_the_root_without_root() {
    let payload = br#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"git log > /work/x.txt"},"cwd":"/work"}"#;
    // The payload's cwd (`/work`) would admit it; the project directory does not.
    let r = run_in(&[], payload, Some("/work/repo"));
    let (verdict, reason) = decision(&r);
    assert_eq!(verdict, "deny");
    assert!(reason.contains("shell.redirection"), "{reason}");
    let r = run_bytes(&[], payload);
    assert_eq!((r.code, r.stdout.as_str()), (Some(0), ""));
}

#[test]
fn the_reason_lists_the_other_parts_not_allowed() {
    let payload = br#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"npm test | tee out; make; rm -rf x; ls; git -c a=b log"},"cwd":"/work/repo"}"#;
    let (verdict, reason) = decision(&run_bytes(&["--ask", "--allow-command", "ls"], payload));
    // The module's deny decides; the unknown commands follow.
    assert_eq!(verdict, "deny");
    assert!(reason.starts_with("airlock: `git -c a=b log`"), "{reason}");
    assert!(
        reason.contains("; also `npm test`: unknown command `npm`"),
        "{reason}"
    );
    assert!(reason.ends_with("; and 2 more"), "{reason}");
}
