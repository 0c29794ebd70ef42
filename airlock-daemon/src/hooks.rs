//! Hooks, the escape hatches, fail closed. `hooks/pre-exec` gets the request as JSON
//! on stdin; exit 0 allows (and its stdout may rewrite the request, which is then
//! checked again against every layer), anything else denies: a non-zero exit, a
//! missing run bit, a crash, a hang past the timeout, or output that is not the JSON
//! it should be. Hook output is bounded.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// The most a hook may print on stdout or stderr.
pub const MAX_HOOK_OUTPUT: usize = 64 * 1024;

/// The request as a pre-exec hook sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookRequest<'a> {
    /// The agent.
    pub agent: &'a str,
    /// The command.
    pub command: &'a str,
    /// Its arguments.
    pub args: &'a [String],
    /// The cwd the client claimed (container path).
    pub cwd: &'a str,
    /// That cwd on the host.
    pub host_cwd: &'a str,
    /// The engine's plausible readings of the argv with the command's module
    /// (`crate::reading_json`): subcommand path, options, operands, host paths.
    pub readings: &'a [serde_json::Value],
}

/// A rewrite a pre-exec hook asks for: `{"command": ..., "args": [...]}` (either).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rewrite {
    /// A replacement command.
    pub command: Option<String>,
    /// Replacement arguments.
    pub args: Option<Vec<String>>,
}

/// What a pre-exec hook decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreExec {
    /// Go ahead unchanged.
    Allow,
    /// Go ahead with this rewrite, after checking it again.
    Rewrite(Rewrite),
    /// Refuse, with the reason to show.
    Deny(String),
}

/// Runs the pre-exec hook at `path` for `request`, in `dir`, with `env`.
pub async fn pre_exec(
    path: &Path,
    dir: &Path,
    env: &[(String, String)],
    request: &HookRequest<'_>,
    timeout: Duration,
) -> PreExec {
    if !crate::doctor::is_executable(path) {
        return PreExec::Deny(format!(
            "pre-exec hook `{}` is not an executable file",
            path.display()
        ));
    }
    let input = match serde_json::to_vec(request) {
        Ok(mut bytes) => {
            bytes.push(b'\n');
            bytes
        }
        Err(e) => return PreExec::Deny(format!("pre-exec hook input: {e}")),
    };
    let output = match run_bounded(path, dir, env, &input, timeout).await {
        Ok(output) => output,
        Err(why) => return PreExec::Deny(format!("pre-exec hook {why}")),
    };
    if output.status.code() != Some(0) {
        let message = first_line(&output.stderr)
            .or_else(|| first_line(&output.stdout))
            .unwrap_or_else(|| match (output.status.code(), output.status.signal()) {
                (Some(code), _) => format!("pre-exec hook refused (exit {code})"),
                (None, Some(signal)) => format!("pre-exec hook died of signal {signal}"),
                (None, None) => "pre-exec hook failed".to_owned(),
            });
        return PreExec::Deny(message);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let text = text.trim();
    if text.is_empty() {
        return PreExec::Allow;
    }
    match serde_json::from_str::<Rewrite>(text) {
        Ok(rewrite) if rewrite.command.is_none() && rewrite.args.is_none() => PreExec::Allow,
        Ok(rewrite) => PreExec::Rewrite(rewrite),
        Err(e) => PreExec::Deny(format!(
            "pre-exec hook printed something that is not a rewrite: {e}"
        )),
    }
}

/// A hook's command: in `dir`, with exactly `env`, piped stdin/stdout/stderr, its own
/// process group, killed when dropped.
pub fn hook_command(path: &Path, dir: &Path, env: &[(String, String)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(path);
    command
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    command
}

/// Starts a hook. A file just written is briefly "busy" (ETXTBSY) while any process
/// forked in that moment still holds it open: that is retried a few times.
pub async fn spawn_hook(
    command: &mut tokio::process::Command,
) -> std::io::Result<tokio::process::Child> {
    let mut tries = 0;
    loop {
        match crate::children::spawn(command) {
            Err(e)
                if e.raw_os_error() == Some(rustix::io::Errno::TXTBSY.raw_os_error())
                    && tries < 5 =>
            {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(10 * tries)).await;
            }
            result => return result,
        }
    }
}

/// A finished hook's status and bounded output.
pub struct HookOutput {
    /// How it ended.
    pub status: std::process::ExitStatus,
    /// Its stdout (at most [`MAX_HOOK_OUTPUT`] bytes).
    pub stdout: Vec<u8>,
    /// Its stderr (at most [`MAX_HOOK_OUTPUT`] bytes).
    pub stderr: Vec<u8>,
}

/// Runs a hook with `input` on stdin, a time limit and bounded output. The error says
/// what went wrong (`timed out`, `printed too much`, `could not start: ...`).
pub async fn run_bounded(
    path: &Path,
    dir: &Path,
    env: &[(String, String)],
    input: &[u8],
    timeout: Duration,
) -> Result<HookOutput, String> {
    run_program(path, &[], dir, env, input, timeout).await
}

/// Runs `program` with `args` like a hook: time limit, bounded output, killed with
/// its process group when it overruns.
pub async fn run_program(
    path: &Path,
    args: &[&str],
    dir: &Path,
    env: &[(String, String)],
    input: &[u8],
    timeout: Duration,
) -> Result<HookOutput, String> {
    let mut command = hook_command(path, dir, env);
    command.args(args);
    run_command(command, input, timeout).await
}

/// Runs a prepared command like a hook: `input` on stdin, a time limit, bounded
/// output, killed with its process group when it overruns.
pub async fn run_command(
    mut command: tokio::process::Command,
    input: &[u8],
    timeout: Duration,
) -> Result<HookOutput, String> {
    let mut child = spawn_hook(&mut command)
        .await
        .map_err(|e| format!("could not start: {e}"))?;
    let mut stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let work = async {
        let write = async {
            if let Some(stdin) = stdin.as_mut() {
                // A hook may exit without reading its input; that is not an error.
                let _ = stdin.write_all(input).await;
                let _ = stdin.shutdown().await;
            }
            drop(stdin.take());
        };
        let (_, out, err) = tokio::join!(write, read_bounded(stdout), read_bounded(stderr));
        let status = child
            .wait()
            .await
            .map_err(|e| format!("could not be waited for: {e}"))?;
        Ok::<_, String>((status, out?, err?))
    };
    let result = tokio::time::timeout(timeout, work).await;
    match result {
        Ok(Ok((status, stdout, stderr))) => Ok(HookOutput {
            status,
            stdout,
            stderr,
        }),
        Ok(Err(why)) => Err(why),
        Err(_) => Err(format!("timed out after {} s", timeout.as_secs_f64())),
    }
    // Dropping `child` (kill_on_drop) kills a hook that timed out or overflowed.
}

async fn read_bounded(pipe: Option<impl AsyncRead + Unpin>) -> Result<Vec<u8>, String> {
    let Some(pipe) = pipe else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let limit = u64::try_from(MAX_HOOK_OUTPUT).unwrap_or(u64::MAX) + 1;
    pipe.take(limit)
        .read_to_end(&mut out)
        .await
        .map_err(|e| format!("output could not be read: {e}"))?;
    if out.len() > MAX_HOOK_OUTPUT {
        return Err(format!("printed more than {MAX_HOOK_OUTPUT} bytes"));
    }
    Ok(out)
}

fn first_line(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().take(512).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn hook(dir: &Path, body: &str, mode: u32) -> std::path::PathBuf {
        let path = dir.join("pre-exec");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    async fn decide(body: &str, mode: u32, timeout: Duration) -> PreExec {
        let dir = tempfile::tempdir().unwrap();
        let path = hook(dir.path(), body, mode);
        let args = vec!["push".to_owned(), "origin".to_owned()];
        let request = HookRequest {
            agent: "a1",
            command: "git",
            args: &args,
            cwd: "/workspace",
            host_cwd: "/srv/ws",
            readings: &[],
        };
        let env = [("PATH".to_owned(), "/usr/bin:/bin".to_owned())];
        pre_exec(&path, dir.path(), &env, &request, timeout).await
    }

    const SECOND: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn exit_zero_allows_and_may_rewrite() {
        assert_eq!(
            decide("cat >/dev/null; exit 0", 0o755, SECOND).await,
            PreExec::Allow
        );
        let rewrite = decide(
            "cat >/dev/null; echo '{\"args\":[\"push\",\"safe\"]}'",
            0o755,
            SECOND,
        )
        .await;
        assert_eq!(
            rewrite,
            PreExec::Rewrite(Rewrite {
                command: None,
                args: Some(vec!["push".into(), "safe".into()])
            })
        );
    }

    #[tokio::test]
    async fn the_hook_sees_the_request() {
        let checked = decide(
            "line=$(cat); case \"$line\" in *'\"agent\":\"a1\"'*'\"host_cwd\":\"/srv/ws\"'*) exit 0;; *) echo \"bad: $line\" >&2; exit 1;; esac",
            0o755,
            SECOND,
        )
        .await;
        assert_eq!(checked, PreExec::Allow);
    }

    #[tokio::test]
    async fn everything_else_denies() {
        assert_eq!(
            decide("echo 'remote not allowed' >&2; exit 1", 0o755, SECOND).await,
            PreExec::Deny("remote not allowed".into())
        );
        assert!(
            matches!(decide("exit 0", 0o644, SECOND).await, PreExec::Deny(m) if m.contains("not an executable"))
        );
        assert!(
            matches!(decide("kill -9 $$", 0o755, SECOND).await, PreExec::Deny(m) if m.contains("signal 9"))
        );
        assert!(
            matches!(decide("echo garbage", 0o755, SECOND).await, PreExec::Deny(m) if m.contains("not a rewrite"))
        );
        assert!(
            matches!(decide("exit 3", 0o755, SECOND).await, PreExec::Deny(m) if m.contains("exit 3"))
        );
        assert!(matches!(
            decide("head -c 200000 /dev/zero", 0o755, SECOND).await,
            PreExec::Deny(m) if m.contains("more than")
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_hook_denies() {
        let result = decide("sleep 30", 0o755, Duration::from_millis(200)).await;
        assert!(matches!(result, PreExec::Deny(m) if m.contains("timed out")));
    }
}
