//! Device files in an agent's mounts.
//!
//! A device file opens the device it names wherever it lies, and Landlock has no right
//! for opening one: a program confined to the mounts reads `/dev/kmsg` or a disk through
//! a device file made in a mount. The daemon never lets its programs make one, nor use
//! a device's own ioctls beneath a granted directory ([`crate::confine`]), but the
//! agent's container can make one, unless its file system is
//! mounted `nodev` or the container lacks `CAP_MKNOD` (Docker grants it by default;
//! rootless containers cannot make devices). The daemon cannot tell what the container
//! may do; it says so for every mount on a file system that allows device files.

use std::path::Path;

use rustix::fs::StatVfsMountFlags;

/// Whether the file system of `path` honours device files (is not mounted `nodev`).
pub fn allowed(path: &Path) -> std::io::Result<bool> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(!stat.f_flag.contains(StatVfsMountFlags::NODEV))
}

/// The warning for `agent`'s mount `root`, when its file system honours device files.
pub fn warning(agent: &str, root: &Path) -> Option<String> {
    allowed(root).ok().filter(|allowed| *allowed).map(|_| {
        format!(
            "agent {agent}: the mount `{}` is on a file system that honours device files: a device file the agent's container makes there (Docker grants CAP_MKNOD by default) opens the device for the programs the daemon runs, past their confinement; mount it nodev on the host (`mount --bind -o nodev DIR DIR`) or run the container without CAP_MKNOD (`--cap-drop MKNOD`, or rootless)",
            root.display()
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test")]
mod tests {
    use super::*;

    /// Whether the mount holding `path` says `nodev`, by `findmnt`.
    fn findmnt_nodev(path: &Path) -> bool {
        let output = std::process::Command::new("findmnt")
            .args(["-n", "-o", "OPTIONS", "-T"])
            .arg(path)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout)
            .unwrap()
            .trim()
            .split(',')
            .any(|option| option == "nodev")
    }

    #[test]
    fn agrees_with_the_mount_table() {
        let dir = tempfile::tempdir().unwrap();
        for path in [
            dir.path(),
            Path::new("/"),
            Path::new("/dev"),
            Path::new("/dev/shm"),
            Path::new("/proc"),
            Path::new("/sys"),
            Path::new("/run"),
        ] {
            if !path.exists() {
                continue;
            }
            let honoured = allowed(path).unwrap();
            assert_eq!(honoured, !findmnt_nodev(path), "{}", path.display());
            let warned = warning("a1", path);
            assert_eq!(warned.is_some(), honoured, "{}", path.display());
            if let Some(warned) = warned {
                assert!(
                    warned.contains(&format!("agent a1: the mount `{}`", path.display())),
                    "{warned}"
                );
            }
        }
        assert!(allowed(Path::new("/nonexistent-airlock")).is_err());
    }
}
