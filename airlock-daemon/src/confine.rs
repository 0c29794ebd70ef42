//! Kernel confinement of every program the daemon runs, with Landlock.
//!
//! The argv rules decide what may run; this layer decides what a running program can
//! reach, whatever it was told to do. A program gets:
//!
//! - read and write: the agent's mounts and a private per-run temporary directory;
//! - read and execute: the system ([`SYSTEM_EXEC`]), the program itself and the
//!   configuration's extra system paths;
//! - read: the parts of `/etc` and `/proc` the tools need ([`SYSTEM_READ`]): name
//!   resolution, TLS roots, user names, the tools' own system configuration, never
//!   `/etc/shadow`, the host's ssh keys or anything else under `/etc`;
//! - what the agent's profile declares for that command (`[access.COMMAND]`);
//! - where the kernel has Landlock's network rules (ABI 4, Linux 6.7): TCP connections
//!   only to the declared ports (when a list is declared) and no listening socket unless
//!   declared;
//! - where the kernel has Landlock's scopes (ABI 6, Linux 6.12): no signals to
//!   processes outside the run and no abstract unix sockets created outside it.
//!
//! Nothing else: the daemon user's home, other agents' workspaces, `/tmp`, the daemon's
//! configuration, sockets directory and audit log are out of reach.
//!
//! The ruleset is built in the daemon ([`Confiner::ruleset`]: opening paths allocates);
//! between `fork` and `exec` the child only makes async-signal-safe system calls
//! ([`enter`]): `fchdir` into the held working directory, the parent-death signal,
//! `no_new_privs` and `landlock_restrict_self`.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_core::{ConfinementConfig, ConfinementMode};

use crate::scratch::ScratchPool;
use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath,
    PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr, Scope,
};

/// The newest Landlock ABI the daemon asks for: the newest it was tested against. A
/// newer kernel is used at this level.
pub const NEWEST_ABI: i32 = 7;

/// Read and execute, for every program: the system's programs and libraries. A path
/// the host does not have is skipped.
pub const SYSTEM_EXEC: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// Read only, for every program. Each entry is there for a reason:
/// name resolution (`hosts`, `host.conf`, `resolv.conf`, `nsswitch.conf`, `gai.conf`,
/// `services`, `protocols`, `networks`), TLS roots (`ssl`, `ca-certificates*`, `pki`,
/// `crypto-policies`), user and group names without password hashes (`passwd`,
/// `group`: ssh and git look up the user), the dynamic linker (`ld.so.*`), time
/// (`localtime`, `timezone`), file types (`mime.types`), the system's identity
/// (`os-release`), git's and ssh's system configuration (`gitconfig`,
/// `ssh/ssh_config`, `ssh/ssh_config.d`: never the host keys beside them), a few
/// system-wide files of `/proc` and `/sys` that runtimes read (CPU and memory, kernel
/// version, random ids, Go's listen backlog and huge-page size), and the random
/// devices. Not `/proc` as a whole: it would show every process's command line and,
/// in `/proc/net/unix`, the path of every unix socket on the host (another agent's
/// ssh-agent among them). A program's own `/dev/stdin` and `/dev/fd/N` still work:
/// they lead to pipes, which Landlock does not restrict.
pub const SYSTEM_READ: &[&str] = &[
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/networks",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/pki",
    "/etc/crypto-policies",
    "/etc/passwd",
    "/etc/group",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/ld.so.preload",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/mime.types",
    "/etc/os-release",
    "/etc/gitconfig",
    "/etc/ssh/ssh_config",
    "/etc/ssh/ssh_config.d",
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/loadavg",
    "/proc/uptime",
    "/proc/version",
    "/proc/filesystems",
    "/proc/sys/kernel/osrelease",
    "/proc/sys/kernel/ostype",
    "/proc/sys/kernel/random/boot_id",
    "/proc/sys/kernel/random/uuid",
    "/proc/sys/vm/overcommit_memory",
    "/proc/sys/net/core/somaxconn",
    "/sys/devices/system/cpu",
    "/sys/fs/cgroup",
    "/sys/kernel/mm/transparent_hugepage",
    "/dev/random",
    "/dev/urandom",
];

/// Read and write, for every program: the devices programs write to.
pub const DEVICES_RW: &[&str] = &["/dev/null", "/dev/zero", "/dev/full"];

/// What one run may reach beyond the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    /// Read and write (the mounts, the run's temporary directory, declared writes).
    pub read_write: Vec<PathBuf>,
    /// Read only (declared reads).
    pub read: Vec<PathBuf>,
    /// Read and execute (the program).
    pub exec: Vec<PathBuf>,
    /// TCP ports the program may connect to; `None`: any.
    pub connect: Option<Vec<u16>>,
    /// TCP ports the program may listen on.
    pub bind: Vec<u16>,
    /// Whether files under `read_write` may be executed (`[exec] exec_writable`).
    pub exec_writable: bool,
}

impl Default for Grants {
    fn default() -> Self {
        Self {
            read_write: Vec::new(),
            read: Vec::new(),
            exec: Vec::new(),
            connect: None,
            bind: Vec::new(),
            exec_writable: true,
        }
    }
}

/// Why confinement could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfineError {
    /// The kernel has no Landlock and the configuration requires it.
    #[error(
        "the kernel does not offer Landlock (it needs Linux 5.13 or later with `landlock` in the `lsm=` boot parameter), so programs cannot be confined; to run them with the daemon user's whole reach, set `mode = \"none\"` in `[confinement]` of config.toml"
    )]
    Unsupported,
    /// A path to grant could not be opened.
    #[error("cannot confine to `{}`: {source}", path.display())]
    Path {
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The kernel refused the ruleset.
    #[error("cannot build the confinement ruleset: {0}")]
    Ruleset(#[from] landlock::RulesetError),
    /// A port list cannot be enforced by this kernel.
    #[error(
        "the profile limits TCP ports, which needs Landlock ABI 4 (Linux 6.7); this kernel has ABI {0}"
    )]
    NoNetworkRules(i32),
}

/// How the daemon confines programs: decided once from the configuration and the kernel.
#[derive(Debug, Clone)]
pub struct Confiner {
    /// The Landlock ABI in use, or `None` when confinement is off.
    abi: Option<i32>,
    /// Extra read-execute paths from the configuration.
    extra_system: Vec<PathBuf>,
    /// The system paths, opened: every run's ruleset starts from these instead of
    /// opening some fifty paths again. Reopened when older than [`SYSTEM_FRESH`], so a
    /// system file replaced by a rename (`resolv.conf`) is granted again soon.
    system: Arc<Mutex<Option<OpenedSystem>>>,
    /// Where runs' private directories are made, ahead of the runs.
    scratch: Arc<ScratchPool>,
}

/// The system paths as opened at one time.
type OpenedSystem = (Instant, Arc<Vec<SystemRule>>);

/// An opened system path and the access it gets.
#[derive(Debug)]
struct SystemRule {
    fd: PathFd,
    access: BitFlags<AccessFs>,
}

/// How long the opened system paths are reused.
const SYSTEM_FRESH: Duration = Duration::from_secs(5);

impl Confiner {
    /// The confiner for `config` on this kernel. Fails when the configuration asks for
    /// Landlock and the kernel has none.
    pub fn new(config: &ConfinementConfig) -> Result<Self, ConfineError> {
        Self::for_kernel(config, kernel_abi())
    }

    /// The confiner for `config` on a kernel offering Landlock ABI `kernel` (0 or less:
    /// none).
    fn for_kernel(config: &ConfinementConfig, kernel: i32) -> Result<Self, ConfineError> {
        match config.mode {
            ConfinementMode::None => Ok(Self {
                scratch: Arc::new(ScratchPool::new(scratch_base(config))),
                ..Self::off()
            }),
            ConfinementMode::Landlock => {
                if kernel < 1 {
                    return Err(ConfineError::Unsupported);
                }
                Ok(Self {
                    abi: Some(kernel.min(NEWEST_ABI)),
                    extra_system: config.system.clone(),
                    system: Arc::default(),
                    scratch: Arc::new(ScratchPool::new(scratch_base(config))),
                })
            }
        }
    }

    /// A confiner that confines nothing (`mode = "none"`).
    pub fn off() -> Self {
        Self {
            abi: None,
            extra_system: Vec::new(),
            system: Arc::default(),
            scratch: Arc::new(ScratchPool::new(std::env::temp_dir())),
        }
    }

    /// Where each run's private directory is made.
    pub fn scratch_base(&self) -> &Path {
        self.scratch.base()
    }

    /// The pool that makes runs' private directories.
    pub fn scratch_pool(&self) -> &Arc<ScratchPool> {
        &self.scratch
    }

    /// The system paths, opened (reused while fresh).
    fn system_rules(&self, abi: ABI) -> Result<Arc<Vec<SystemRule>>, ConfineError> {
        let mut cached = match self.system.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((opened, rules)) = cached.as_ref() {
            if opened.elapsed() < SYSTEM_FRESH {
                return Ok(Arc::clone(rules));
            }
        }
        let read: BitFlags<AccessFs> = AccessFs::ReadFile | AccessFs::ReadDir;
        let exec = read | AccessFs::Execute;
        let file_rw = AccessFs::from_file(abi) & !AccessFs::Execute;
        let system = SYSTEM_EXEC
            .iter()
            .map(|p| (Path::new(*p), exec, true))
            .chain(SYSTEM_READ.iter().map(|p| (Path::new(*p), read, true)))
            .chain(
                DEVICES_RW
                    .iter()
                    .map(|p| (Path::new(*p), file_rw | read, true)),
            )
            .chain(self.extra_system.iter().map(|p| (p.as_path(), exec, false)));
        let mut rules = Vec::new();
        for (path, access, optional) in system {
            // The host may not have every system path: skip what is not there.
            if let Some(fd) = open_path(path, optional)? {
                let access = narrow(&fd, access, abi);
                rules.push(SystemRule { fd, access });
            }
        }
        let rules = Arc::new(rules);
        *cached = Some((Instant::now(), Arc::clone(&rules)));
        Ok(rules)
    }

    /// The Landlock ABI in use, `None` when confinement is off.
    pub fn abi(&self) -> Option<i32> {
        self.abi
    }

    /// What applies to each run, for the audit log: `landlock-v7`, or `none`.
    pub fn label(&self) -> String {
        match self.abi {
            Some(abi) => format!("landlock-v{abi}"),
            None => "none".to_owned(),
        }
    }

    /// What is enforced, one line each, for `doctor`.
    pub fn describe(&self) -> Vec<String> {
        let Some(abi) = self.abi else {
            return vec!["off: programs run with the daemon user's whole reach".to_owned()];
        };
        let mut lines = vec![format!(
            "landlock ABI {abi} (kernel offers {}): file system confined to the mounts, a private TMPDIR, the system and declared paths",
            kernel_abi()
        )];
        lines.push(if abi >= 4 {
            "network: TCP connect limited where a profile lists ports; TCP listen only on declared ports".to_owned()
        } else {
            "network: not confined (needs Landlock ABI 4, Linux 6.7)".to_owned()
        });
        lines.push(if abi >= 6 {
            "scopes: no signals to, and no abstract unix sockets of, processes outside the run"
                .to_owned()
        } else {
            "scopes: not confined (needs Landlock ABI 6, Linux 6.12)".to_owned()
        });
        lines
    }

    /// Builds the ruleset for one run, or `None` when confinement is off. The
    /// descriptor is close-on-exec; [`enter`] applies it in the child.
    pub fn ruleset(&self, grants: &Grants) -> Result<Option<OwnedFd>, ConfineError> {
        let Some(level) = self.abi else {
            return Ok(None);
        };
        let abi = ABI::from(level);
        let read: BitFlags<AccessFs> = AccessFs::ReadFile | AccessFs::ReadDir;
        let exec = read | AccessFs::Execute;
        let all = AccessFs::from_all(abi);

        let mut ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(all)?;
        if level >= 4 {
            let mut net: BitFlags<AccessNet> = AccessNet::BindTcp.into();
            if grants.connect.is_some() {
                net |= AccessNet::ConnectTcp;
            }
            ruleset = ruleset.handle_access(net)?;
        } else if grants.connect.is_some() || !grants.bind.is_empty() {
            return Err(ConfineError::NoNetworkRules(level));
        }
        if level >= 6 {
            ruleset = ruleset.scope(Scope::AbstractUnixSocket | Scope::Signal)?;
        }
        let mut created = ruleset.create()?;
        let writable = if grants.exec_writable {
            all
        } else {
            all & !AccessFs::Execute
        };

        for rule in self.system_rules(abi)?.iter() {
            created = created.add_rule(PathBeneath::new(rule.fd.as_fd(), rule.access))?;
        }
        let granted = grants
            .exec
            .iter()
            .map(|p| (p, exec))
            .chain(grants.read.iter().map(|p| (p, read)))
            .chain(grants.read_write.iter().map(|p| (p, writable)));
        for (path, access) in granted {
            if let Some(fd) = open_path(path, false)? {
                let access = narrow(&fd, access, abi);
                created = created.add_rule(PathBeneath::new(fd, access))?;
            }
        }
        for port in grants.connect.iter().flatten() {
            created = created.add_rule(NetPort::new(*port, AccessNet::ConnectTcp))?;
        }
        for port in &grants.bind {
            created = created.add_rule(NetPort::new(*port, AccessNet::BindTcp))?;
        }
        Ok(created.into())
    }
}

/// Where runs' private directories go: the configured place, else the daemon's
/// `XDG_RUNTIME_DIR` (a per-user tmpfs under systemd: creating and removing a run's
/// directory there costs a tenth of what it does on a disk), else the system's
/// temporary directory.
fn scratch_base(config: &ConfinementConfig) -> PathBuf {
    config.scratch.clone().unwrap_or_else(|| {
        std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute() && p.is_dir())
            .unwrap_or_else(std::env::temp_dir)
    })
}

/// Opens `path` for a rule; a missing path is `None` when `optional`, else an error.
fn open_path(path: &Path, optional: bool) -> Result<Option<PathFd>, ConfineError> {
    match PathFd::new(path) {
        Ok(fd) => Ok(Some(fd)),
        Err(_) if optional && !path.exists() => Ok(None),
        Err(e) => Err(ConfineError::Path {
            path: path.to_owned(),
            source: io::Error::other(e.to_string()),
        }),
    }
}

/// `access` narrowed to what applies to a file when `fd` is not a directory (the
/// kernel refuses directory rights on files).
fn narrow(fd: &PathFd, access: BitFlags<AccessFs>, abi: ABI) -> BitFlags<AccessFs> {
    let is_dir = rustix::fs::fstat(fd.as_fd())
        .map(|st| {
            rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory
        })
        .unwrap_or(false);
    if is_dir {
        access
    } else {
        access & AccessFs::from_file(abi)
    }
}

/// The Landlock ABI the running kernel offers (0 or less: none).
pub fn kernel_abi() -> i32 {
    // landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    #[expect(
        unsafe_code,
        reason = "the version query passes no pointer the kernel writes through"
    )]
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    i32::try_from(version).unwrap_or(0)
}

/// What the child does between `fork` and `exec`, with only async-signal-safe system
/// calls and no allocation: enter the held working directory, die with the daemon,
/// and, when there is a ruleset, set `no_new_privs` and restrict itself. `parent` is
/// the daemon's pid, read before the fork: if the daemon is already gone, the child
/// must not run.
pub(crate) fn enter(
    cwd: RawFd,
    ruleset: Option<RawFd>,
    parent: rustix::process::Pid,
) -> io::Result<()> {
    #[expect(
        unsafe_code,
        reason = "`cwd` is an open descriptor the parent holds until the spawn returns"
    )]
    let cwd = unsafe { std::os::fd::BorrowedFd::borrow_raw(cwd) };
    rustix::process::fchdir(cwd)?;
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    if rustix::process::getppid() != Some(parent) {
        return Err(io::Error::other("the daemon is gone"));
    }
    if let Some(ruleset) = ruleset {
        rustix::thread::set_no_new_privs(true)?;
        #[expect(
            unsafe_code,
            reason = "landlock_restrict_self takes a descriptor and flags, no pointers"
        )]
        let done = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0u32) };
        if done != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The raw descriptor of an optional ruleset, for [`enter`].
pub(crate) fn raw(ruleset: Option<&OwnedFd>) -> Option<RawFd> {
    ruleset.map(AsRawFd::as_raw_fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mode: ConfinementMode) -> ConfinementConfig {
        ConfinementConfig {
            mode,
            system: Vec::new(),
            scratch: None,
        }
    }

    #[test]
    fn without_landlock_the_daemon_refuses_unless_told_to_run_unconfined() {
        let e = Confiner::for_kernel(&config(ConfinementMode::Landlock), 0).unwrap_err();
        assert!(matches!(e, ConfineError::Unsupported));
        assert!(e.to_string().contains("mode = \"none\""), "{e}");
        let e = Confiner::for_kernel(&config(ConfinementMode::Landlock), -38).unwrap_err();
        assert!(matches!(e, ConfineError::Unsupported));
        let off = Confiner::for_kernel(&config(ConfinementMode::None), 0).unwrap();
        assert_eq!((off.abi(), off.label().as_str()), (None, "none"));
        assert_eq!(off.ruleset(&Grants::default()).unwrap().map(|_| ()), None);
    }

    #[test]
    fn uses_the_newest_tested_abi_and_says_what_is_enforced() {
        let newer = Confiner::for_kernel(&config(ConfinementMode::Landlock), 99).unwrap();
        assert_eq!(newer.abi(), Some(NEWEST_ABI));
        let old = Confiner::for_kernel(&config(ConfinementMode::Landlock), 3).unwrap();
        assert_eq!(old.label(), "landlock-v3");
        let described = old.describe().join("\n");
        assert!(described.contains("network: not confined"), "{described}");
        // A port list cannot be enforced without network rules: refused, not ignored.
        let grants = Grants {
            connect: Some(vec![22]),
            ..Grants::default()
        };
        assert!(matches!(
            old.ruleset(&grants),
            Err(ConfineError::NoNetworkRules(3))
        ));
    }
}
