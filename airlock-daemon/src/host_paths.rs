//! The daemon's check of the paths in an argv (rule `airlock.path`).
//!
//! The module's `[syntax]` declares which option values and operands are host paths;
//! the engine reports them for every plausible reading of the argv. Each is resolved
//! here the way the program will resolve it: an absolute path is a container path,
//! translated through the agent's mounts (and rewritten in the argv to the host path
//! when the mount's two sides differ); a relative one is relative to the working
//! directory after the argv's own directory changes (`git -C dir`); symlinks that exist
//! are followed. A path that lands outside the agent's mounts (or, for a read, the
//! paths its profile declares for the command) refuses the request with a reason, and so
//! does a device file the profile does not declare by its own path (one the agent's
//! container made in a mount opens its device, which Landlock does not stop).
//!
//! This layer explains; the kernel enforces. A path swapped after this check is still
//! confined by Landlock (see `confine`).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use airlock_core::{Mount, translate};
use airlock_policy::{Module, PathAccess, PathSource, PathValue};

/// Paths every program may name whatever the mounts: the null device and the
/// process's own standard streams.
const DEVICES: &[&str] = &["/dev/null", "/dev/stdin", "/dev/stdout", "/dev/stderr"];

/// Where paths may lead.
#[derive(Debug, Clone, Copy)]
pub struct Reach<'r> {
    /// The agent's mounts (container path -> host path).
    pub mounts: &'r [Mount],
    /// Canonical host directories paths may be read and written in (the mounts'
    /// roots, the profile's `write` paths).
    pub read_write: &'r [PathBuf],
    /// Canonical host paths that may only be read (the profile's `read` paths).
    pub read: &'r [PathBuf],
    /// The program's working directory (canonical host path).
    pub cwd: &'r Path,
}

/// Checks every path of every plausible reading of `args`; returns the argv to run
/// (absolute container paths rewritten to host paths), or why not.
pub fn check(module: &Module, args: &[String], reach: Reach<'_>) -> Result<Vec<String>, String> {
    let readings = module
        .readings(args)
        .map_err(|e| format!("the argv cannot be read: {e}"))?;
    let mut rewrites: Option<BTreeMap<(usize, usize, usize), String>> = None;
    for reading in &readings {
        let paths = reading.paths();
        let mut resolved: Vec<Option<PathBuf>> = Vec::with_capacity(paths.len());
        let mut mine = BTreeMap::new();
        for path in &paths {
            let base = base_dir(&resolved, path, reach.cwd);
            let host = resolve(path, &base, reach)?;
            if let Some(Resolved {
                host: Some(host),
                rewrite,
            }) = &host
            {
                if let Some(text) = rewrite {
                    let span = path.span();
                    let range = span.range();
                    mine.insert((span.index(), range.start, range.end), text.clone());
                }
                resolved.push(Some(host.clone()));
            } else {
                resolved.push(None);
            }
        }
        match &rewrites {
            None => rewrites = Some(mine),
            Some(first) if *first == mine => {}
            Some(_) => {
                return Err(
                    "the argv's paths are read differently in its plausible readings, so they cannot be translated to host paths; write them relative to the working directory".to_owned(),
                );
            }
        }
    }
    Ok(apply(args, rewrites.unwrap_or_default()))
}

/// A path resolved on the host.
struct Resolved {
    /// Where it leads (`None` for `-` and devices: nothing to confine).
    host: Option<PathBuf>,
    /// The host path to write in the argv instead of the container path, if different.
    rewrite: Option<String>,
}

/// The directory `path` is relative to: the cwd joined with the directory changes in
/// force before it (already resolved).
fn base_dir(resolved: &[Option<PathBuf>], path: &PathValue<'_, '_>, cwd: &Path) -> PathBuf {
    path.base()
        .iter()
        .rev()
        .find_map(|i| resolved.get(*i).cloned().flatten())
        .unwrap_or_else(|| cwd.to_owned())
}

/// Resolves one path; `Ok(None)` when it names nothing to confine.
fn resolve(
    path: &PathValue<'_, '_>,
    base: &Path,
    reach: Reach<'_>,
) -> Result<Option<Resolved>, String> {
    let text = path.text();
    let what = describe(path);
    if text.is_empty() || text == "-" {
        return Ok(None);
    }
    if DEVICES.contains(&text) {
        return Ok(Some(Resolved {
            host: None,
            rewrite: None,
        }));
    }
    if text.starts_with('~') {
        return Err(format!(
            "{what} `{text}` starts with `~`, the container's home, which the program on the host does not have; name a path in the agent's mounts"
        ));
    }
    if text.contains('\0') {
        return Err(format!("{what} holds a NUL byte"));
    }
    let mounts = mount_list(reach.mounts);
    let (lexical, rewrite) = if Path::new(text).is_absolute() {
        match translate(reach.mounts, text) {
            Ok(host) => {
                let host = normalize(&host);
                let host_text = host.display().to_string();
                let rewrite = (host_text != text).then_some(host_text);
                (host, rewrite)
            }
            // A host path the profile declares for this command may be named as it is.
            Err(_) if within(&normalize(Path::new(text)), reach.read_write, reach.read) => {
                (normalize(Path::new(text)), None)
            }
            Err(_) => {
                return Err(format!(
                    "{what} `{text}` is outside the agent's mounts ({mounts})"
                ));
            }
        }
    } else {
        (base.join(text), None)
    };
    let real = follow(&lexical).map_err(|why| format!("{what} `{text}` {why}"))?;
    if is_device(&real) && !reach.read_write.contains(&real) && !reach.read.contains(&real) {
        return Err(format!(
            "{what} `{text}` is a device file (`{}`): a program would reach the device itself, which its confinement does not stop; only a device the profile declares by its own path may be named",
            real.display()
        ));
    }
    let allowed = match path.access() {
        PathAccess::Read => within(&real, reach.read_write, reach.read),
        _ => within(&real, reach.read_write, &[]),
    };
    if !allowed {
        let verb = match path.access() {
            PathAccess::Read => "reads",
            PathAccess::Write => "writes",
            _ => "works in",
        };
        return Err(format!(
            "{what} `{text}` {verb} `{}`, outside the agent's mounts ({mounts})",
            real.display()
        ));
    }
    if rewrite.is_some() && path.span().range().len() != text.len() {
        return Err(format!(
            "{what} `{text}` is quoted inside its argument and cannot be translated to the host path; write it relative to the working directory"
        ));
    }
    Ok(Some(Resolved {
        host: Some(real),
        rewrite,
    }))
}

/// Where a path came from, for messages: "`--output`", "operand 2".
fn describe(path: &PathValue<'_, '_>) -> String {
    match path.source() {
        PathSource::Option(opt) => format!("the path of `{}`", opt.name()),
        PathSource::Operand { position, .. } => format!("operand {position}, a path,"),
        _ => "a path".to_owned(),
    }
}

fn mount_list(mounts: &[Mount]) -> String {
    if mounts.is_empty() {
        return "it has none".to_owned();
    }
    mounts
        .iter()
        .map(|m| format!("`{}`", m.container.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `path` is inside one of `read_write` or `read`.
fn within(path: &Path, read_write: &[PathBuf], read: &[PathBuf]) -> bool {
    airlock_core::inside(read_write, path) || airlock_core::inside(read, path)
}

/// Resolves `path` component by component as the kernel will: `..` after a symlink
/// climbs from the symlink's target. Components that do not exist yet are kept as
/// written (a file the program will create).
fn follow(path: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::from("/");
    let mut missing = false;
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(part) => {
                out.push(part);
                if missing {
                    continue;
                }
                match std::fs::symlink_metadata(&out) {
                    Ok(meta) if meta.file_type().is_symlink() => {
                        out = std::fs::canonicalize(&out)
                            .map_err(|_| "goes through a symlink to a path that does not exist")?;
                    }
                    Ok(_) => {}
                    Err(_) => missing = true,
                }
            }
        }
    }
    Ok(out)
}

/// Whether `path` is a character or block device (a device file the agent's container
/// made in a mount opens the device it names; see `crate::devices`).
fn is_device(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|meta| {
        let kind = meta.file_type();
        kind.is_char_device() || kind.is_block_device()
    })
}

/// `path` with `.` and `..` resolved lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(part) => out.push(part),
            _ => {}
        }
    }
    out
}

/// `args` with each `(index, start, end)` range replaced.
fn apply(args: &[String], rewrites: BTreeMap<(usize, usize, usize), String>) -> Vec<String> {
    let mut out = args.to_vec();
    // From the last range of each argument backwards, so earlier ranges stay valid.
    for ((index, start, end), text) in rewrites.into_iter().rev() {
        if let Some(arg) = out.get_mut(index) {
            let range: Range<usize> = start..end;
            if arg.get(range.clone()).is_some() {
                arg.replace_range(range, &text);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULE: &str = r#"
[command]
bin = "git"
[syntax]
style = "gnu"
abbreviate = true
[syntax.global]
values = ["-C"]
paths = { "-C" = "chdir" }
[syntax.commands.log]
values = ["--output"]
paths = { "--output" = "write" }
[syntax.commands.diff]
flags = ["--no-index"]
operands = "read"
"#;

    struct Fixture {
        _dir: tempfile::TempDir,
        ws: PathBuf,
        outside: PathBuf,
        mounts: Vec<Mount>,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let ws = root.join("ws");
        let outside = root.join("outside");
        std::fs::create_dir_all(ws.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, ws.join("escape")).unwrap();
        std::os::unix::fs::symlink(root.join("nowhere"), ws.join("dangling")).unwrap();
        Fixture {
            mounts: vec![Mount {
                container: "/workspace".into(),
                host: ws.clone(),
            }],
            _dir: dir,
            ws,
            outside,
        }
    }

    fn run(f: &Fixture, argv: &[&str], read: &[PathBuf]) -> Result<Vec<String>, String> {
        let module = airlock_policy::compile("git.toml", MODULE).unwrap();
        let args: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let roots = [f.ws.clone()];
        check(
            &module,
            &args,
            Reach {
                mounts: &f.mounts,
                read_write: &roots,
                read,
                cwd: &f.ws.join("sub"),
            },
        )
    }

    #[test]
    fn paths_inside_the_mounts_pass_and_container_paths_become_host_paths() {
        let f = fixture();
        assert_eq!(
            run(&f, &["log", "--output=out"], &[]).unwrap(),
            ["log", "--output=out"]
        );
        assert_eq!(
            run(&f, &["log", "--output", "../out"], &[]).unwrap(),
            ["log", "--output", "../out"]
        );
        let host = f.ws.join("sub/out").display().to_string();
        assert_eq!(
            run(&f, &["log", "--outp=/workspace/sub/out"], &[]).unwrap(),
            ["log".to_owned(), format!("--outp={host}")]
        );
        assert_eq!(
            run(&f, &["-C", "/workspace", "log", "--output=sub/x"], &[]).unwrap(),
            [
                "-C".to_owned(),
                f.ws.display().to_string(),
                "log".into(),
                "--output=sub/x".into()
            ]
        );
        assert!(run(&f, &["diff", "--no-index", "a", "/dev/null"], &[]).is_ok());
        assert!(run(&f, &["log", "--output=-"], &[]).is_ok());
    }

    #[test]
    fn paths_that_leave_the_mounts_are_refused_with_a_reason() {
        let f = fixture();
        for argv in [
            &["log", "--output=/etc/passwd"][..],
            &["log", "--output=../../outside/x"],
            &["log", "--output=//workspace/../etc/x"],
            &["log", "--output=../escape/x"],
            &["-C", "..", "-C", "..", "log", "--output=x"],
            &["-C", "../escape", "log", "--output=x"],
            &["diff", "--no-index", "../../outside/secret", "a"],
            &["log", "--output=~/.bashrc"],
            &["log", "--output=../dangling"],
        ] {
            let why = run(&f, argv, &[]).unwrap_err();
            assert!(
                why.contains("outside the agent's mounts (`/workspace`)")
                    || why.contains("`~`")
                    || why.contains("does not exist"),
                "{argv:?}: {why}"
            );
        }
        // A declared read path may be read, not written.
        let declared = [f.outside.clone()];
        let secret = f.outside.join("secret").display().to_string();
        assert!(run(&f, &["diff", "--no-index", &secret, "a"], &declared).is_ok());
        let output = format!("--output={secret}");
        assert!(run(&f, &["log", &output], &declared).is_err());
    }

    /// A device file the agent's container made in a mount is refused wherever the argv
    /// names it (directly or through a link); a device the profile declares by its path
    /// may be named. Needs root to make one (`CAP_MKNOD`): fails under CI without it.
    #[test]
    fn device_files_in_the_mounts_are_refused() {
        if !rustix::process::getuid().is_root() {
            assert!(std::env::var_os("CI").is_none(), "CI must run this as root");
            eprintln!("SKIPPED: making a device file needs root");
            return;
        }
        let f = fixture();
        let device = f.ws.join("sub/kmsg");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &device,
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0o600),
            rustix::fs::makedev(1, 11),
        )
        .unwrap();
        std::os::unix::fs::symlink("kmsg", f.ws.join("sub/link")).unwrap();
        std::fs::write(f.ws.join("sub/file"), "x").unwrap();
        // Control: a regular file in the same place passes.
        assert!(run(&f, &["diff", "--no-index", "file", "a"], &[]).is_ok());
        for argv in [
            &["diff", "--no-index", "kmsg", "a"][..],
            &["diff", "--no-index", "/workspace/sub/link", "a"],
            &["log", "--output=kmsg"],
        ] {
            let why = run(&f, argv, &[]).unwrap_err();
            assert!(why.contains("is a device file"), "{argv:?}: {why}");
        }
        assert!(run(&f, &["diff", "--no-index", "kmsg", "a"], &[device]).is_ok());
        // The system's own null device stays nameable.
        assert!(run(&f, &["diff", "--no-index", "/dev/null", "a"], &[]).is_ok());
    }
}
