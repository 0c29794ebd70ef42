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
//! The ruleset is built in the daemon ([`Confiner::ruleset`]: opening paths allocates;
//! [`Confiner::prepare_run`] builds each command's next one ahead, off the request);
//! between `fork` and `exec` the child only makes async-signal-safe system calls
//! ([`enter`]): `fchdir` into the held working directory, the parent-death signal,
//! `no_new_privs` and `landlock_restrict_self`.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_core::{ConfinementConfig, ConfinementMode};

use crate::scratch::{HomeLink, Layout, Scratch, ScratchPool};
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
    /// The run's private directory could not be made.
    #[error("cannot create the run's private directory: {0}")]
    Scratch(io::Error),
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
    /// The private directory and ruleset built ahead for the next run of each command
    /// of each agent (see [`Confiner::prepare_run`]).
    kits: Arc<Mutex<BTreeMap<String, Kit>>>,
    /// The keys whose next kit the background thread is building.
    building: Arc<Mutex<BTreeSet<String>>>,
}

/// What a run needs from the confinement, built ahead of the run that takes it: a
/// private directory and the ruleset that grants it (with what the command may reach),
/// used by one run only.
#[derive(Debug)]
struct Kit {
    scratch: Scratch,
    ruleset: OwnedFd,
    /// What it was built for.
    order: Order,
    /// When the system paths in its ruleset were opened.
    system_opened: Instant,
    /// Each granted path with the identity (device, inode) of what it was when opened.
    opened: Vec<(PathBuf, u64, u64)>,
}

/// What a kit is built for: one command's runs.
#[derive(Debug, Clone)]
struct Order {
    /// What the kit grants besides its directory.
    base: Grants,
    /// The links in its home.
    links: Vec<HomeLink>,
    /// What its directory is made with.
    layout: Layout,
    /// When the command last ran (the run that ordered the kit, or the one before a
    /// refresh): kits are kept fresh for [`KEEP_WARM`] after it.
    last_run: Instant,
}

impl Kit {
    /// Whether the kit is what a run that may reach `base`, with `links` in its home
    /// and its directory laid out as `layout`, would get if it were built now: the
    /// same grants, links and layout, system paths opened less than [`SYSTEM_FRESH`]
    /// ago (as for any run), and every granted path still the file or directory that
    /// was opened (a path replaced since is opened again).
    fn fits(&self, base: &Grants, links: &[HomeLink], layout: Layout) -> bool {
        self.order.base == *base
            && self.order.links == links
            && self.order.layout == layout
            && self.system_opened.elapsed() < SYSTEM_FRESH
            && self.opened.iter().all(|(path, dev, ino)| {
                rustix::fs::stat(path).is_ok_and(|st| st.st_dev == *dev && st.st_ino == *ino)
            })
    }
}

/// The next run's kit of one command, to build (see [`Confiner::prepare_run`]).
#[derive(Debug)]
pub struct Ahead {
    confiner: Confiner,
    key: String,
    order: Order,
}

impl Ahead {
    /// Builds the kit on the background thread ([`crate::background`], the lowest CPU
    /// priority), when not already doing so for the same command. Called as the run's
    /// program is being started: the building runs only where no request and no
    /// program wants the processor. A kit that cannot be built is not: the next run
    /// builds its own.
    pub fn start(self) {
        let Ahead {
            confiner,
            key,
            order,
        } = self;
        if !lock(&confiner.building).insert(key.clone()) {
            return;
        }
        crate::background::run(move || {
            let laid_out = confiner.scratch.take(&order.links).and_then(|mut scratch| {
                scratch.lay_out(order.layout)?;
                Ok(scratch)
            });
            let kit = laid_out.ok().and_then(|scratch| {
                // System paths opened in the first half of their time, so that the kit
                // stays fresh for a while.
                let grants = with_scratch(&order.base, scratch.root());
                match confiner.build(&grants, SYSTEM_FRESH / 2) {
                    Ok(Some(built)) => Some(Kit {
                        scratch,
                        ruleset: built.fd,
                        order,
                        system_opened: built.system_opened,
                        opened: built.opened,
                    }),
                    _ => None,
                }
            });
            if let Some(kit) = kit {
                if let Some(old) = lock(&confiner.kits).insert(key.clone(), kit) {
                    old.scratch.remove_later();
                }
            }
            lock(&confiner.building).remove(&key);
        });
    }
}

/// A ruleset, and what it was built from.
#[derive(Debug)]
struct Built {
    fd: OwnedFd,
    system_opened: Instant,
    opened: Vec<(PathBuf, u64, u64)>,
}

/// `base` with `scratch` read and write.
fn with_scratch(base: &Grants, scratch: &Path) -> Grants {
    let mut grants = base.clone();
    grants.read_write.push(scratch.to_owned());
    grants
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

/// How long after a command last ran its kit is kept fresh ([`Confiner::keep_warm`]):
/// an agent that thinks for a minute between two commands still finds one.
pub const KEEP_WARM: Duration = Duration::from_secs(600);

/// How often [`Confiner::keep_warm`] should be called: less than half of
/// [`SYSTEM_FRESH`], so that a kit refreshed once it is half that old is replaced
/// before it stops fitting.
pub const KEEP_WARM_EVERY: Duration = Duration::from_secs(1);

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
                kits: Arc::default(),
                building: Arc::default(),
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
                    kits: Arc::default(),
                    building: Arc::default(),
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
            kits: Arc::default(),
            building: Arc::default(),
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

    /// The system paths, opened (reused while opened less than `reuse` ago), and when
    /// they were opened.
    fn system_rules(&self, abi: ABI, reuse: Duration) -> Result<OpenedSystem, ConfineError> {
        let mut cached = match self.system.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((opened, rules)) = cached.as_ref() {
            if opened.elapsed() < reuse {
                return Ok((*opened, Arc::clone(rules)));
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
        // Before the first is opened: how old the oldest is.
        let opened = Instant::now();
        let mut rules = Vec::new();
        for (path, access, optional) in system {
            // The host may not have every system path: skip what is not there.
            if let Some(fd) = open_path(path, optional)? {
                let access = narrow(&fd, access, abi).0;
                rules.push(SystemRule { fd, access });
            }
        }
        let rules = Arc::new(rules);
        *cached = Some((opened, Arc::clone(&rules)));
        Ok((opened, rules))
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
        Ok(self.build(grants, SYSTEM_FRESH)?.map(|built| built.fd))
    }

    /// What a run of the command `key` (an agent's, e.g. `a1/git`) needs from the
    /// confinement: its private directory, with `links` in its home, and the ruleset
    /// that grants it that directory and `base` (`None` when confinement is off). A
    /// directory built ahead is also laid out as `layout` asks; one made now is not
    /// (the run adds what it needs).
    ///
    /// The pair is built ahead for the next run of the same command, on a blocking
    /// thread, once this run's program is starting ([`Ahead::start`]), and taken by that
    /// run only if it [fits](Kit::fits) (the same grants and links, system paths as
    /// fresh as any run's, every granted path still what was opened); otherwise it is
    /// built now, as for the first run. Either way each run has a directory and a
    /// ruleset of its own.
    pub fn prepare_run(
        &self,
        key: &str,
        links: &[HomeLink],
        layout: Layout,
        base: &Grants,
    ) -> Result<(Scratch, Option<OwnedFd>, Option<Ahead>), ConfineError> {
        if self.abi.is_none() {
            let scratch = self.scratch.take(links).map_err(ConfineError::Scratch)?;
            return Ok((scratch, None, None));
        }
        let kit = lock(&self.kits).remove(key);
        let prepared = match kit {
            Some(kit) if kit.fits(base, links, layout) => Ok((kit.scratch, Some(kit.ruleset))),
            unfit => {
                if let Some(kit) = unfit {
                    kit.scratch.remove_later();
                }
                let scratch = self.scratch.take(links).map_err(ConfineError::Scratch)?;
                let built = self.build(&with_scratch(base, scratch.root()), SYSTEM_FRESH)?;
                Ok((scratch, built.map(|built| built.fd)))
            }
        };
        prepared.map(|(scratch, ruleset)| {
            let ahead = Ahead {
                confiner: self.clone(),
                key: key.to_owned(),
                order: Order {
                    base: base.clone(),
                    links: links.to_vec(),
                    layout,
                    last_run: Instant::now(),
                },
            };
            (scratch, ruleset, Some(ahead))
        })
    }

    /// Keeps the kits of recently used commands fresh. A kit stops fitting once its
    /// system paths were opened [`SYSTEM_FRESH`] ago, and an agent typically thinks
    /// longer than that between two commands: without this, its next run would build
    /// its own private directory and ruleset on the request's path. So each kit whose
    /// system paths are half that old is rebuilt on the background thread (it stays in
    /// place, and may still be taken, until the new one replaces it), as long as its
    /// command ran less than [`KEEP_WARM`] ago; the kit of a command idle longer is
    /// dropped. Call it every [`KEEP_WARM_EVERY`].
    pub fn keep_warm(&self) {
        self.keep_warm_at(Instant::now());
    }

    /// [`Confiner::keep_warm`] as if the time were `now`.
    fn keep_warm_at(&self, now: Instant) {
        let mut rebuild = Vec::new();
        let mut idle = Vec::new();
        let mut kits = lock(&self.kits);
        for (key, kit) in kits.iter() {
            if now.saturating_duration_since(kit.system_opened) < SYSTEM_FRESH / 2 {
                continue;
            }
            if now.saturating_duration_since(kit.order.last_run) < KEEP_WARM {
                rebuild.push(Ahead {
                    confiner: self.clone(),
                    key: key.clone(),
                    order: kit.order.clone(),
                });
            } else {
                idle.push(key.clone());
            }
        }
        for key in idle {
            if let Some(kit) = kits.remove(&key) {
                kit.scratch.remove_later();
            }
        }
        drop(kits);
        for ahead in rebuild {
            ahead.start();
        }
    }

    /// Builds the ruleset for `grants`, or `None` when confinement is off, with the
    /// system paths as opened less than `reuse` ago.
    fn build(&self, grants: &Grants, reuse: Duration) -> Result<Option<Built>, ConfineError> {
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
        // Nothing the daemon runs makes device files: one made in a writable place
        // (by a daemon running as root) would open the device it names past every
        // rule here (`/dev/kmsg`, a disk), so making them is never granted (and a
        // device's own ioctls are not granted beneath a directory: see `narrow`).
        let no_devices = all & !(AccessFs::MakeChar | AccessFs::MakeBlock);
        let writable = if grants.exec_writable {
            no_devices
        } else {
            no_devices & !AccessFs::Execute
        };

        let (system_opened, system) = self.system_rules(abi, reuse)?;
        for rule in system.iter() {
            created = created.add_rule(PathBeneath::new(rule.fd.as_fd(), rule.access))?;
        }
        let mut opened = Vec::new();
        let granted = grants
            .exec
            .iter()
            .map(|p| (p, exec))
            .chain(grants.read.iter().map(|p| (p, read)))
            .chain(grants.read_write.iter().map(|p| (p, writable)));
        for (path, access) in granted {
            if let Some(fd) = open_path(path, false)? {
                let (access, identity) = narrow(&fd, access, abi);
                if let Some((dev, ino)) = identity {
                    opened.push((path.clone(), dev, ino));
                }
                created = created.add_rule(PathBeneath::new(fd, access))?;
            }
        }
        for port in grants.connect.iter().flatten() {
            created = created.add_rule(NetPort::new(*port, AccessNet::ConnectTcp))?;
        }
        for port in &grants.bind {
            created = created.add_rule(NetPort::new(*port, AccessNet::BindTcp))?;
        }
        let fd: Option<OwnedFd> = created.into();
        Ok(fd.map(|fd| Built {
            fd,
            system_opened,
            opened,
        }))
    }
}

/// Where runs' private directories go: the configured place, else the daemon's
/// `XDG_RUNTIME_DIR` (a per-user tmpfs under systemd), else `/dev/shm` when it is a
/// tmpfs the daemon may write, else the system's temporary directory. A tmpfs comes
/// first because every run creates and removes its directory (and a git run its
/// pinned configuration, a dozen entries): on a tmpfs that costs a fifth of what it
/// does on ext4, where removed inodes also slow the next creations down.
fn scratch_base(config: &ConfinementConfig) -> PathBuf {
    config.scratch.clone().unwrap_or_else(|| {
        std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute() && p.is_dir())
            .or_else(|| Some(PathBuf::from(SHARED_MEMORY)).filter(|p| writable_tmpfs(p)))
            .unwrap_or_else(std::env::temp_dir)
    })
}

/// The system's shared-memory tmpfs.
const SHARED_MEMORY: &str = "/dev/shm";

/// Whether `dir` is a directory on a tmpfs that this process may create entries in.
fn writable_tmpfs(dir: &Path) -> bool {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    #[allow(
        clippy::useless_conversion,
        reason = "f_type is an i64 here, another integer type on other architectures"
    )]
    let tmpfs = rustix::fs::statfs(dir)
        .is_ok_and(|fs| i64::try_from(fs.f_type).is_ok_and(|kind| kind == TMPFS_MAGIC));
    tmpfs
        && dir.is_dir()
        && rustix::fs::access(
            dir,
            rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK,
        )
        .is_ok()
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
/// kernel refuses directory rights on files), and what `fd` is (device and inode),
/// when that can be told. Beneath a directory a device's own ioctls (ABI 5) are never
/// granted: a device file in a granted directory was planted there (the agent's
/// container can make one in a mount), and a terminal's ioctls type into it
/// (`TIOCSTI`); a device the profile declares by its own path keeps them.
fn narrow(
    fd: &PathFd,
    access: BitFlags<AccessFs>,
    abi: ABI,
) -> (BitFlags<AccessFs>, Option<(u64, u64)>) {
    let stat = rustix::fs::fstat(fd.as_fd()).ok();
    let is_dir = stat.as_ref().is_some_and(|st| {
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory
    });
    let identity = stat.map(|st| (st.st_dev, st.st_ino));
    if is_dir {
        (access & !AccessFs::IoctlDev, identity)
    } else {
        (access & AccessFs::from_file(abi), identity)
    }
}

/// `mutex`, locked (a panic elsewhere does not stop runs).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
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

/// The step of [`enter`] that failed, and its error number.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EnterFailure {
    /// 0: entering the working directory; 1: the parent-death signal, or the daemon is
    /// already gone (`ESRCH`); 2: `no_new_privs` and the Landlock ruleset.
    pub step: u8,
    /// The error.
    pub errno: rustix::io::Errno,
}

impl From<EnterFailure> for io::Error {
    fn from(failure: EnterFailure) -> Self {
        // No allocation: this runs in a child that shares or copied the daemon's heap.
        io::Error::from_raw_os_error(failure.errno.raw_os_error())
    }
}

/// What the child does between the clone (or `fork`) and `exec`, with only
/// async-signal-safe system calls and no allocation: enter the held working directory,
/// die with the daemon, and, when there is a ruleset, set `no_new_privs` and restrict
/// itself. (The system-call filter, [`crate::syscall_filter`], is the daemon's own,
/// inherited.) `parent` is the daemon's pid, read before the clone: if the daemon is
/// already gone, the child must not run.
pub(crate) fn enter(
    cwd: RawFd,
    ruleset: Option<RawFd>,
    parent: rustix::process::Pid,
) -> Result<(), EnterFailure> {
    let failed = |step: u8| move |errno: rustix::io::Errno| EnterFailure { step, errno };
    #[expect(
        unsafe_code,
        reason = "`cwd` is an open descriptor the parent holds until the spawn returns"
    )]
    let cwd = unsafe { std::os::fd::BorrowedFd::borrow_raw(cwd) };
    rustix::process::fchdir(cwd).map_err(failed(0))?;
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .map_err(failed(1))?;
    if rustix::process::getppid() != Some(parent) {
        return Err(failed(1)(rustix::io::Errno::SRCH));
    }
    if let Some(ruleset) = ruleset {
        rustix::thread::set_no_new_privs(true).map_err(failed(2))?;
        #[expect(
            unsafe_code,
            reason = "landlock_restrict_self takes a descriptor and flags, no pointers"
        )]
        let done = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0u32) };
        if done != 0 {
            let errno = io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EPERM);
            return Err(failed(2)(rustix::io::Errno::from_raw_os_error(errno)));
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
    fn runs_go_to_a_writable_tmpfs_when_nothing_is_configured() {
        assert!(!writable_tmpfs(Path::new("/proc")), "procfs is not a tmpfs");
        assert!(!writable_tmpfs(Path::new("/nonexistent-airlock")));
        // Linux mounts a tmpfs on /dev/shm by default (docker included).
        if Path::new(SHARED_MEMORY).is_dir() {
            assert!(writable_tmpfs(Path::new(SHARED_MEMORY)));
        }
        let configured = ConfinementConfig {
            scratch: Some(PathBuf::from("/srv/runs")),
            ..config(ConfinementMode::Landlock)
        };
        assert_eq!(scratch_base(&configured), PathBuf::from("/srv/runs"));
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

    /// A Landlock confiner, or `None` (said loudly) on a kernel without Landlock
    /// outside CI; under CI a kernel without it fails the test.
    fn landlock_confiner() -> Option<Confiner> {
        if kernel_abi() < 1 {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the kernel has no Landlock under CI"
            );
            eprintln!("SKIPPED: the kernel has no Landlock");
            return None;
        }
        Some(Confiner::new(&config(ConfinementMode::Landlock)).unwrap())
    }

    /// A first run of `key` (its directory and ruleset), and the scratch root of the kit
    /// it had built ahead for the next run, once built.
    async fn first_run(
        confiner: &Confiner,
        key: &str,
        layout: Layout,
        base: &Grants,
    ) -> (Scratch, Option<OwnedFd>, PathBuf) {
        let (first, ruleset, ahead) = confiner.prepare_run(key, &[], layout, base).unwrap();
        ahead.unwrap().start();
        (first, ruleset, kit_ahead(confiner, key).await)
    }

    /// The scratch root of the kit built ahead for `key`, once there is one.
    async fn kit_ahead(confiner: &Confiner, key: &str) -> PathBuf {
        loop {
            if let Some(kit) = lock(&confiner.kits).get(key) {
                return kit.scratch.root().to_owned();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_takes_the_kit_built_ahead_only_while_it_fits() {
        let Some(confiner) = landlock_confiner() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("ws");
        std::fs::create_dir(&mount).unwrap();
        let base = Grants {
            read_write: vec![mount.clone()],
            ..Grants::default()
        };
        let (first, ruleset, ahead) = first_run(&confiner, "a1/x", Layout::Plain, &base).await;
        assert!(ruleset.is_some());
        assert_ne!(ahead, first.root());
        // The next run with the same grants takes it: its own directory, never the first's.
        let (second, _, next) = confiner
            .prepare_run("a1/x", &[], Layout::Plain, &base)
            .unwrap();
        assert_eq!(second.root(), ahead);
        next.unwrap().start();
        // Other grants do not take it.
        let ahead = kit_ahead(&confiner, "a1/x").await;
        let other = Grants {
            read: vec![dir.path().to_owned()],
            ..base.clone()
        };
        let (third, _, next) = confiner
            .prepare_run("a1/x", &[], Layout::Plain, &other)
            .unwrap();
        assert_ne!(third.root(), ahead);
        next.unwrap().start();
        // An unfit kit's directory is removed (on the background thread).
        within_seconds(gone(&ahead)).await;
        // A granted path replaced since the kit was built: the run builds its own.
        let ahead = kit_ahead(&confiner, "a1/x").await;
        std::fs::rename(&mount, dir.path().join("old")).unwrap();
        std::fs::create_dir(&mount).unwrap();
        let (fourth, _, _) = confiner
            .prepare_run("a1/x", &[], Layout::Plain, &other)
            .unwrap();
        assert_ne!(fourth.root(), ahead);
        for scratch in [first, second, third, fourth] {
            assert!(scratch.tmp().is_dir() && scratch.home().is_dir());
        }
    }

    /// `work`'s output, or a failed test when it takes more than 20 seconds.
    async fn within_seconds<T>(work: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(20), work)
            .await
            .expect("done within 20 s")
    }

    /// Returns once `path` no longer exists.
    async fn gone(path: &Path) {
        while path.exists() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kits_of_commands_run_lately_are_kept_fresh_and_others_dropped() {
        let Some(confiner) = landlock_confiner() else {
            return;
        };
        let base = Grants::default();
        let (_first, _, built) = first_run(&confiner, "a1/x", Layout::Plain, &base).await;
        // A kit whose system paths are fresh is left alone.
        confiner.keep_warm();
        assert_eq!(kit_ahead(&confiner, "a1/x").await, built);

        // Half of its time gone: rebuilt in the background, the old one removed.
        let later = Instant::now() + SYSTEM_FRESH / 2;
        confiner.keep_warm_at(later);
        let rebuilt = within_seconds(async {
            loop {
                let now = kit_ahead(&confiner, "a1/x").await;
                if now != built {
                    break now;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        within_seconds(gone(&built)).await;
        // The command's last run is carried over: the rebuilt kit is refreshed for as
        // long as the first would have been, and the next run takes it.
        let last_run = lock(&confiner.kits)
            .get("a1/x")
            .map(|kit| kit.order.last_run);
        assert!(last_run.is_some_and(|t| t < later));
        let (second, _, _) = confiner
            .prepare_run("a1/x", &[], Layout::Plain, &base)
            .unwrap();
        assert_eq!(second.root(), rebuilt);

        // A command idle for longer than KEEP_WARM: its kit is dropped, not rebuilt.
        let (_third, _, idle) = first_run(&confiner, "a1/y", Layout::Plain, &base).await;
        confiner.keep_warm_at(Instant::now() + KEEP_WARM);
        assert!(lock(&confiner.kits).get("a1/y").is_none());
        within_seconds(gone(&idle)).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(lock(&confiner.kits).get("a1/y").is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_kit_for_git_holds_the_shadow_and_only_git_runs_take_it() {
        let Some(confiner) = landlock_confiner() else {
            return;
        };
        let base = Grants::default();
        let (first, _, ahead) = first_run(&confiner, "a1/git", Layout::GitShadow, &base).await;
        // A directory made on the request's path is not laid out (the run does it).
        assert!(!first.root().join("git-common").exists());
        assert!(ahead.join("git-common/objects").is_symlink());
        let (second, _, next) = confiner
            .prepare_run("a1/git", &[], Layout::GitShadow, &base)
            .unwrap();
        assert_eq!(second.root(), ahead);
        next.unwrap().start();
        let ahead = kit_ahead(&confiner, "a1/git").await;
        let (third, _, _) = confiner
            .prepare_run("a1/git", &[], Layout::Plain, &base)
            .unwrap();
        assert_ne!(third.root(), ahead);
        assert!(!third.root().join("git-common").exists());
    }
}
