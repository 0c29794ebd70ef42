//! Inputs shared by the Airlock benchmarks in `benches/`: a git-like module,
//! generated modules of any number of rules, and the set-up both daemon benchmarks do.
#![deny(missing_docs)]

use std::io::BufRead;
use std::path::Path;

/// Writes `text` to `path`, creating the directories above it.
pub fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)
}

/// Reads a starting daemon's stdout until it names `agent`'s socket. Fails when the
/// output ends first (the daemon exited).
pub fn wait_for_agent(stdout: &mut impl BufRead, agent: &str) -> std::io::Result<()> {
    let prefix = format!("agent {agent}: ");
    let mut line = String::new();
    while !line.starts_with(&prefix) {
        line.clear();
        if stdout.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("the daemon exited before it served"));
        }
    }
    Ok(())
}

/// A repository at `repo` of `commits` commits, each adding 10 files across 10
/// directories (20 commits: 200 files), made with the host's git.
pub fn make_repository(repo: &Path, commits: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(repo)?;
    let git = |args: &[&str]| -> std::io::Result<()> {
        let status = std::process::Command::new("git")
            .args(["-c", "user.name=b", "-c", "user.email=b@example.invalid"])
            .args(args)
            .current_dir(repo)
            .stdout(std::process::Stdio::null())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!("git {args:?} failed")))
        }
    };
    git(&["init", "-q", "-b", "main"])?;
    for commit in 0..commits {
        for file in 0..10 {
            let n = commit * 10 + file;
            write_file(
                &repo.join(format!("d{}/f{n}.txt", n % 10)),
                &format!("file {n}\n"),
            )?;
        }
        git(&["add", "."])?;
        git(&["commit", "-q", "-m", &format!("commit {commit}")])?;
    }
    Ok(())
}

/// A git-like module of 14 rules with a declared syntax, close to what a built-in
/// looks like.
pub const GIT_LIKE: &str = r#"
[command]
bin = "git"

[syntax]
style = "gnu"
abbreviate = true

[syntax.global]
abbreviate = false
values = ["-c", "-C", "--git-dir", "--work-tree", "--config-env", "--namespace"]
flags = ["-p|--paginate", "-P|--no-pager", "--bare", "--no-replace-objects"]
optional = ["--exec-path"]

[syntax.commands.clone]
values = ["-c|--config", "-u|--upload-pack", "--template", "-o|--origin", "-b|--branch", "--depth"]
flags = ["-q|--quiet", "-n|--no-checkout", "--bare", "--mirror"]

[syntax.commands.commit]
values = ["-c|--reedit-message", "-C|--reuse-message", "-m|--message", "-F|--file", "--template", "--author"]
flags = ["-a|--all", "-q|--quiet", "-v|--verbose", "--amend", "-s|--signoff"]

[syntax.commands.fetch]
values = ["--upload-pack", "--depth"]
flags = ["--all", "-q|--quiet", "--prune", "--tags"]

[syntax.commands.push]
values = ["--receive-pack|--exec", "-o|--push-option"]
flags = ["-u|--set-upstream", "-f|--force", "--tags", "-q|--quiet"]

[syntax.commands.rebase]
values = ["-x|--exec", "--onto"]
flags = ["-i|--interactive", "--continue", "--abort"]

[[rule]]
id = "git.config"
action = "deny"
global = true
args = "-c"
[[rule]]
id = "git.config-env"
action = "deny"
global = true
args = "--config-env"
[[rule]]
id = "git.exec-path"
action = "deny"
global = true
args = "--exec-path=*"
[[rule]]
id = "git.clone-config"
action = "deny"
command = "clone"
args = "--config"
[[rule]]
id = "git.upload-pack"
action = "deny"
args = "--upload-pack"
[[rule]]
id = "git.receive-pack"
action = "deny"
args = "--receive-pack"
[[rule]]
id = "git.template"
action = "deny"
command = "clone"
args = "--template=?*"
[[rule]]
id = "git.rebase-exec"
action = "deny"
command = "rebase"
args = "--exec"
[[rule]]
id = "git.daemon"
action = "deny"
command = "daemon"
[[rule]]
id = "git.shell"
action = "deny"
command = "shell"
[[rule]]
id = "git.credential"
action = "deny"
command = "credential"
[[rule]]
id = "git.upload-pack-cmd"
action = "deny"
command = "upload-pack"
[[rule]]
id = "git.bisect-run"
action = "deny"
command = "bisect run"
[[rule]]
id = "git.submodule-foreach"
action = "deny"
command = "submodule foreach"
"#;

/// A typical 8-argument git argv (after the program name).
pub const TYPICAL_ARGV: [&str; 8] = [
    "-C",
    "/workspace/repo",
    "commit",
    "-q",
    "-m",
    "fix: destroy the stale cache",
    "--author=Agent <a@example.com>",
    "src/main.rs",
];

/// A generated module of `n` rules over a declared syntax: a mix of subcommand rules,
/// option presence, option values with globs (many on one option), words and `&`.
pub fn generated_module(n: usize) -> String {
    let scopes = 50;
    let mut text = String::from(
        "[command]\nbin = \"tool\"\n[syntax]\nstyle = \"gnu\"\nabbreviate = true\n[syntax.global]\nabbreviate = false\nvalues = [\"-C\", \"--mount\"]\nflags = [\"-q\"]\n",
    );
    for s in 0..scopes {
        let opts: Vec<String> = (0..n.div_ceil(scopes))
            .map(|k| format!("\"--opt{s}-{k}\""))
            .collect();
        text.push_str(&format!(
            "[syntax.commands.sub{s}]\nvalues = [\"-m|--message\", \"--author\", {}]\nflags = [\"-q|--quiet\"]\n",
            opts.join(", ")
        ));
    }
    for i in 0..n {
        let s = i % scopes;
        let k = i / scopes;
        let rule = match i % 5 {
            0 => format!("command = \"sub{s}\"\nargs = \"--opt{s}-{k}\""),
            1 => format!("args = \"--mount=/data{i}/*\""),
            2 => format!("command = \"sub{s}\"\nargs = \"--opt{s}-{k}=*secret{i}*\""),
            3 => format!("args = \"word{i}\""),
            _ => format!("command = \"sub{s} deep{i}\""),
        };
        text.push_str(&format!(
            "[[rule]]\nid = \"r{i}\"\naction = \"deny\"\n{rule}\n"
        ));
    }
    text
}

/// A typical 8-argument argv for [`generated_module`].
pub const GENERATED_ARGV: [&str; 8] = [
    "-C",
    "/workspace",
    "sub7",
    "-q",
    "--message",
    "fix: destroy the stale cache",
    "--mount=/data/x",
    "file.rs",
];
