//! Starting a program without copying the daemon.
//!
//! A `fork` of the daemon copies its page tables (tens of megabytes: the compiled
//! modules), and the child's `execve` then tears that copy down again: over a
//! millisecond per run, most of what a proxied `/bin/true` cost. [`spawn`] starts the
//! child the way `posix_spawn` does instead, with `clone(CLONE_VM | CLONE_VFORK)`: the
//! child runs in the daemon's memory on a stack of its own, the calling thread waits
//! until the child has called `execve` (or given up), and nothing is copied.
//!
//! Sharing the daemon's memory sets the rules for the child, which are those of a
//! signal handler: it makes system calls on data the parent prepared ([`Prepared`]),
//! and nothing else: no allocation, no lock, no destructor. What it does, in order:
//! 1. every signal that has a handler in the daemon, and `SIGPIPE` (which the daemon
//!    ignores), gets its default action back; the calling thread blocked every signal
//!    before the clone, so no handler of the daemon's can run on the child's stack; the
//!    normal scheduling policy comes back too ([`crate::scheduling`]);
//! 2. the pipes become its stdin, stdout and stderr;
//! 3. it leads a new process group;
//! 4. [`crate::confine::enter`]: the held working directory, the parent-death signal,
//!    `no_new_privs` and the Landlock ruleset (the system-call filter is the daemon's,
//!    inherited: [`crate::syscall_filter`]);
//! 5. it unblocks every signal and calls `execve` with the prepared argv and
//!    environment (exactly those: nothing of the daemon's environment).
//!
//! A step that fails leaves its error number in the shared [`Prepared`] and ends the
//! child; the parent reaps it and returns the error, naming the step.
//!
//! The child is registered with [`crate::children`] before the orphan reaper can see
//! it, and is waited for through a pidfd ([`Process::wait`]), so a reused pid can never
//! be signalled or reaped by mistake.

use std::ffi::{CString, c_char, c_int, c_void};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};

use rustix::process::{Pid, PidfdFlags, Signal, WaitIdOptions};
use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;

use crate::executor::Exit;

/// What to start.
#[derive(Debug)]
pub struct Launch<'a> {
    /// The program's absolute path (also its `argv[0]`).
    pub program: &'a Path,
    /// Its arguments after `argv[0]`.
    pub args: &'a [String],
    /// Its whole environment.
    pub env: Vec<(&'a str, &'a str)>,
    /// The working directory, entered with `fchdir`.
    pub cwd: &'a OwnedFd,
    /// The Landlock ruleset it runs under (`None`: unconfined).
    pub ruleset: Option<&'a OwnedFd>,
}

/// A started program and the daemon's ends of its standard streams.
#[derive(Debug)]
pub struct Spawned {
    /// The program.
    pub process: Process,
    /// Its stdin.
    pub stdin: pipe::Sender,
    /// Its stdout.
    pub stdout: pipe::Receiver,
    /// Its stderr.
    pub stderr: pipe::Receiver,
}

/// A child the daemon started: waited for through a pidfd, killed when dropped before
/// it was waited for (then the orphan reaper reaps it).
#[derive(Debug)]
pub struct Process {
    pid: Pid,
    pidfd: AsyncFd<OwnedFd>,
    exit: Option<Exit>,
}

/// The steps of the child, named in the error when one fails.
const STEPS: [&str; 7] = [
    "reset signals",
    "set up stdin, stdout and stderr",
    "start a process group",
    "enter the working directory",
    "set the parent-death signal (or the daemon is gone)",
    "enter the Landlock ruleset",
    "execute",
];

/// Everything the child uses, laid out by the parent before the clone. The parent's
/// thread is suspended until the child has called `execve` or ended, so the child may
/// read all of it; it writes only `error` and `step`.
struct Prepared {
    program: CString,
    /// `argv`, null-terminated; points into `_strings`.
    argv: Vec<*const c_char>,
    /// `envp`, null-terminated; points into `_strings`.
    envp: Vec<*const c_char>,
    _strings: Vec<CString>,
    stdio: [RawFd; 3],
    cwd: RawFd,
    ruleset: Option<RawFd>,
    parent: Pid,
    /// The error number of the step that failed (0: none).
    error: AtomicI32,
    /// The step that failed (an index into [`STEPS`]).
    step: AtomicI32,
}

/// The child's stack. The child makes a handful of system calls; this is generous.
const STACK: usize = 64 * 1024;

/// Starts `launch` with pipes for its standard streams.
pub fn spawn(launch: &Launch<'_>) -> io::Result<Spawned> {
    let (stdin_read, stdin_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let (stdout_read, stdout_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let (stderr_read, stderr_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let prepared = prepare(
        launch,
        [
            stdin_read.as_raw_fd(),
            stdout_write.as_raw_fd(),
            stderr_write.as_raw_fd(),
        ],
    )?;
    let process = start(&prepared)?;
    // The child has its own copies (or has ended).
    drop((stdin_read, stdout_write, stderr_write));
    Ok(Spawned {
        process,
        stdin: pipe::Sender::from_owned_fd(stdin_write)?,
        stdout: pipe::Receiver::from_owned_fd(stdout_read)?,
        stderr: pipe::Receiver::from_owned_fd(stderr_read)?,
    })
}

/// Lays out what the child needs. Fails on a NUL byte in the program, an argument or
/// the environment (it could not be passed to `execve`).
fn prepare(launch: &Launch<'_>, stdio: [RawFd; 3]) -> io::Result<Prepared> {
    let nul = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} holds a NUL byte"),
        )
    };
    let program =
        CString::new(launch.program.as_os_str().as_bytes()).map_err(|_| nul("the program"))?;
    let mut strings = Vec::with_capacity(launch.args.len() + launch.env.len() + 1);
    strings.push(program.clone());
    for arg in launch.args {
        strings.push(CString::new(arg.as_bytes()).map_err(|_| nul("an argument"))?);
    }
    for (name, value) in &launch.env {
        if name.is_empty() || name.contains('=') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("environment variable name {name:?} is invalid"),
            ));
        }
        strings.push(CString::new(format!("{name}={value}")).map_err(|_| nul("the environment"))?);
    }
    let argc = launch.args.len() + 1;
    let pointers = |range: &[CString]| {
        range
            .iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect::<Vec<_>>()
    };
    let (args, env) = strings.split_at(argc);
    Ok(Prepared {
        argv: pointers(args),
        envp: pointers(env),
        program,
        _strings: strings,
        stdio,
        cwd: launch.cwd.as_raw_fd(),
        ruleset: launch.ruleset.map(AsRawFd::as_raw_fd),
        parent: rustix::process::getpid(),
        error: AtomicI32::new(0),
        step: AtomicI32::new(0),
    })
}

/// A mapped stack for the child with a guard page below it, unmapped when dropped.
struct Stack {
    /// The mapping's address (an integer, so that a spare stack can be kept in a
    /// `static`).
    base: usize,
    len: usize,
}

/// Stacks whose children have called `execve` or ended, for the next clones: mapping
/// and unmapping a stack per run costs three system calls, page faults in the child,
/// and an unmap that interrupts every processor the daemon's threads ran on.
static SPARE_STACKS: Mutex<Vec<Stack>> = Mutex::new(Vec::new());

/// The most stacks kept spare (one per run starting at the same moment).
const MAX_SPARE_STACKS: usize = 8;

impl Stack {
    /// A spare stack, or a new one.
    fn take() -> io::Result<Self> {
        let spare = SPARE_STACKS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        spare.map_or_else(Self::new, Ok)
    }

    /// Keeps the stack for a later clone (its child no longer runs on it), unless
    /// enough are kept.
    fn give_back(self) {
        let mut spare = SPARE_STACKS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if spare.len() < MAX_SPARE_STACKS {
            spare.push(self);
        }
    }

    fn new() -> io::Result<Self> {
        let page = rustix::param::page_size();
        let len = STACK + page;
        #[expect(
            unsafe_code,
            reason = "a fresh anonymous mapping: no existing memory is touched"
        )]
        let base = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                len,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::STACK,
            )?
        };
        let stack = Self {
            base: base.expose_provenance(),
            len,
        };
        // The lowest page faults instead of letting an overflow run into other memory.
        #[expect(unsafe_code, reason = "the page is inside the mapping made above")]
        unsafe {
            rustix::mm::mprotect(base, page, rustix::mm::MprotectFlags::empty())?;
        }
        Ok(stack)
    }

    /// The top of the stack (stacks grow down), 16-byte aligned.
    fn top(&self) -> *mut c_void {
        let top = self.base + self.len;
        std::ptr::with_exposed_provenance_mut(top & !15)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        #[expect(
            unsafe_code,
            reason = "the mapping is this value's own and the child no longer runs on it"
        )]
        unsafe {
            let _ = rustix::mm::munmap(std::ptr::with_exposed_provenance_mut(self.base), self.len);
        }
    }
}

/// Clones the child, waits (suspended by `CLONE_VFORK`) until it has called `execve`
/// or ended, and returns it registered and watched, or the error of its failed step.
fn start(prepared: &Prepared) -> io::Result<Process> {
    let stack = Stack::take()?;
    let blocked = BlockedSignals::all()?;
    let registry = crate::children::register_lock();
    #[expect(
        unsafe_code,
        reason = "the child runs `child_main` on its own stack and only makes system calls on `prepared` (see the module's rules); this thread is suspended until it execs or ends"
    )]
    let pid = unsafe {
        libc::clone(
            child_main,
            stack.top(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::from_ref(prepared).cast_mut().cast::<c_void>(),
        )
    };
    let clone_error = io::Error::last_os_error();
    drop(blocked);
    // The child has called `execve` or ended: it no longer runs on the stack.
    stack.give_back();
    let Some(pid) = Pid::from_raw(pid.max(0)) else {
        return Err(clone_error);
    };
    let error = prepared.error.load(Ordering::SeqCst);
    if error != 0 {
        // The child has ended (it does not exec after a failed step): reap it.
        let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
        let step = usize::try_from(prepared.step.load(Ordering::SeqCst))
            .ok()
            .and_then(|i| STEPS.get(i))
            .copied()
            .unwrap_or("start");
        let cause = io::Error::from_raw_os_error(error);
        return Err(io::Error::new(cause.kind(), format!("{step}: {cause}")));
    }
    let registry = crate::children::register(registry, pid);
    drop(registry);
    let pidfd = rustix::process::pidfd_open(pid, PidfdFlags::NONBLOCK)
        .map_err(io::Error::from)
        .and_then(watch_exit);
    match pidfd {
        Ok(pidfd) => Ok(Process {
            pid,
            pidfd,
            exit: None,
        }),
        Err(e) => {
            // Without a pidfd it cannot be waited for here: stop it now.
            crate::children::forget(pid);
            let _ = rustix::process::kill_process(pid, Signal::KILL);
            Err(e)
        }
    }
}

/// Registers `pidfd` with the runtime, readable once the process has ended.
fn watch_exit(pidfd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // Registering outside a runtime would panic.
    tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
    #[expect(
        unsafe_code,
        reason = "the AsyncFd owns the OwnedFd, which stays open and the same until dropped"
    )]
    unsafe { AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) }
        .map_err(io::Error::from)
}

/// Every signal blocked in the calling thread until dropped (then the old mask is back).
struct BlockedSignals(libc::sigset_t);

impl BlockedSignals {
    fn all() -> io::Result<Self> {
        #[expect(
            unsafe_code,
            reason = "sigset_t is plain data, filled and passed by pointer as libc documents"
        )]
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            let code = libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            if code != 0 {
                return Err(io::Error::from_raw_os_error(code));
            }
            Ok(Self(old))
        }
    }
}

impl Drop for BlockedSignals {
    fn drop(&mut self) {
        #[expect(unsafe_code, reason = "restores the mask saved in `all`")]
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut());
        }
    }
}

/// The child, from the clone to `execve`. Only system calls on the prepared data (see
/// the module's rules). Returns (ends the child) only when a step failed.
extern "C" fn child_main(data: *mut c_void) -> c_int {
    #[expect(
        unsafe_code,
        reason = "`data` is the parent's `Prepared`, alive while the parent is suspended"
    )]
    let prepared = unsafe { &*data.cast::<Prepared>() };
    let fail = |step: usize, errno: i32| -> c_int {
        prepared
            .step
            .store(i32::try_from(step).unwrap_or(0), Ordering::SeqCst);
        prepared.error.store(errno.max(1), Ordering::SeqCst);
        127
    };
    if let Err(errno) = reset_signals() {
        return fail(0, errno);
    }
    crate::scheduling::normal();
    if let Err(errno) = standard_streams(prepared.stdio) {
        return fail(1, errno.raw_os_error());
    }
    if let Err(errno) = rustix::process::setpgid(None, None) {
        return fail(2, errno.raw_os_error());
    }
    if let Err(failure) = crate::confine::enter(prepared.cwd, prepared.ruleset, prepared.parent) {
        return fail(3 + failure.step as usize, failure.errno.raw_os_error());
    }
    #[expect(
        unsafe_code,
        reason = "an empty mask, and pointers to the prepared, null-terminated argv and envp"
    )]
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::execve(
            prepared.program.as_ptr(),
            prepared.argv.as_ptr(),
            prepared.envp.as_ptr(),
        );
    }
    fail(
        6,
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::ENOEXEC),
    )
}

/// Gives every signal that has a handler, and `SIGPIPE`, its default action (ignored
/// signals other than `SIGPIPE` stay ignored, as across `execve`). Returns the error
/// number of a failed call.
fn reset_signals() -> Result<(), i32> {
    #[expect(
        unsafe_code,
        reason = "sigaction on plain structs; the child has its own copy of the handler table (no CLONE_SIGHAND)"
    )]
    unsafe {
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut default.sa_mask);
        for signal in 1..=libc::SIGRTMAX() {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            let mut current: libc::sigaction = std::mem::zeroed();
            // Fails for the C library's own signals, which it keeps: nothing to reset.
            if libc::sigaction(signal, std::ptr::null(), &mut current) != 0 {
                continue;
            }
            let handled =
                current.sa_sigaction != libc::SIG_DFL && current.sa_sigaction != libc::SIG_IGN;
            if (handled || signal == libc::SIGPIPE)
                && libc::sigaction(signal, &default, std::ptr::null_mut()) != 0
            {
                return Err(io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EINVAL));
            }
        }
    }
    Ok(())
}

/// Puts the three pipe ends on descriptors 0, 1 and 2 (without close-on-exec).
fn standard_streams(stdio: [RawFd; 3]) -> rustix::io::Result<()> {
    for (target, source) in (0..).zip(stdio) {
        #[expect(
            unsafe_code,
            reason = "the parent holds `source` open until the child has exec'd; `target` is a standard descriptor this child owns"
        )]
        let source = unsafe { std::os::fd::BorrowedFd::borrow_raw(source) };
        if source.as_raw_fd() == target {
            // Already in place: dup2 would keep its close-on-exec flag.
            rustix::io::fcntl_setfd(source, rustix::io::FdFlags::empty())?;
            continue;
        }
        #[expect(unsafe_code, reason = "see above")]
        let code = unsafe { libc::dup2(source.as_raw_fd(), target) };
        if code < 0 {
            return Err(rustix::io::Errno::from_raw_os_error(
                io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EBADF),
            ));
        }
    }
    Ok(())
}

impl Process {
    /// The pid (and process group), while the process has not been waited for.
    pub fn pid(&self) -> Option<Pid> {
        self.exit.is_none().then_some(self.pid)
    }

    /// Sends `signal` to the process alone (nothing, once it was waited for).
    pub fn signal(&self, signal: Signal) {
        if self.exit.is_none() {
            let _ = rustix::process::pidfd_send_signal(self.pidfd.get_ref(), signal);
        }
    }

    /// Waits for the process to end (cancel-safe) and reaps it.
    pub async fn wait(&mut self) -> io::Result<Exit> {
        if let Some(exit) = self.exit {
            return Ok(exit);
        }
        loop {
            let mut ready = self.pidfd.readable().await?;
            let status = rustix::process::waitid(
                rustix::process::WaitId::PidFd(self.pidfd.get_ref().as_fd()),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
            )?;
            let Some(status) = status else {
                ready.clear_ready();
                continue;
            };
            let exit = match (status.exit_status(), status.terminating_signal()) {
                (Some(code), _) => Exit::Code(code),
                (None, Some(signal)) => Exit::Signal(signal),
                (None, None) => Exit::Code(-1),
            };
            self.exit = Some(exit);
            return Ok(exit);
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.exit.is_none() {
            // Left to the orphan reaper, killed first.
            crate::children::forget(self.pid);
            let _ = rustix::process::pidfd_send_signal(self.pidfd.get_ref(), Signal::KILL);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn launch<'a>(program: &'a Path, args: &'a [String], cwd: &'a OwnedFd) -> Launch<'a> {
        Launch {
            program,
            args,
            env: vec![("PATH", "/usr/bin:/bin"), ("ONLY", "this")],
            cwd,
            ruleset: None,
        }
    }

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_owned()).collect()
    }

    fn cwd() -> OwnedFd {
        crate::workdir::open_directory(rustix::fs::CWD, "/tmp", rustix::fs::OFlags::empty())
            .unwrap()
    }

    async fn output(mut spawned: Spawned) -> (Exit, Vec<u8>, Vec<u8>) {
        drop(spawned.stdin);
        let mut out = Vec::new();
        let mut err = Vec::new();
        spawned.stdout.read_to_end(&mut out).await.unwrap();
        spawned.stderr.read_to_end(&mut err).await.unwrap();
        (spawned.process.wait().await.unwrap(), out, err)
    }

    #[tokio::test]
    async fn runs_with_exactly_the_argv_environment_and_directory() {
        let dir = cwd();
        let args = strings(&[
            "-c",
            "printf '%s|' \"$0\" \"$@\"; env | sort | tr '\\n' ' '; pwd; echo oops >&2; exit 3",
            "a b",
            "",
            "c",
        ]);
        let spawned = spawn(&launch(Path::new("/bin/sh"), &args, &dir)).unwrap();
        let (exit, out, err) = output(spawned).await;
        assert_eq!(exit, Exit::Code(3));
        let out = String::from_utf8(out).unwrap();
        // `sh -c SCRIPT` takes the next argument as `$0`.
        assert!(out.starts_with("a b||c|"), "{out}");
        assert!(out.contains("ONLY=this PATH=/usr/bin:/bin"), "{out}");
        assert!(out.trim_end().ends_with("/tmp"), "{out}");
        assert!(
            !out.contains("CARGO"),
            "the daemon's environment leaked: {out}"
        );
        assert_eq!(err, b"oops\n");
    }

    #[tokio::test]
    async fn stdin_reaches_the_program_and_its_end_too() {
        let dir = cwd();
        let args = strings(&[]);
        let mut spawned = spawn(&launch(Path::new("/bin/cat"), &args, &dir)).unwrap();
        spawned.stdin.write_all(b"through\n").await.unwrap();
        let (exit, out, _) = output(spawned).await;
        assert_eq!((exit, out.as_slice()), (Exit::Code(0), &b"through\n"[..]));
    }

    #[tokio::test]
    async fn the_program_leads_its_own_group_and_starts_with_default_signals() {
        let dir = cwd();
        // SIGPIPE is ignored in the daemon (Rust's runtime): the program must get it back,
        // so `yes | head` ends by SIGPIPE and not by a write error.
        let args = strings(&[
            "-c",
            "ps -o pgid= -p $$; grep -E '^(SigIgn|SigBlk)' /proc/self/status",
        ]);
        let spawned = spawn(&launch(Path::new("/bin/sh"), &args, &dir)).unwrap();
        let pid = spawned.process.pid().unwrap();
        let (exit, out, _) = output(spawned).await;
        assert_eq!(exit, Exit::Code(0));
        let out = String::from_utf8(out).unwrap();
        let mut lines = out.lines();
        assert_eq!(
            lines.next().map(str::trim),
            Some(pid.as_raw_nonzero().get().to_string().as_str())
        );
        // The shell itself ignores nothing it inherited; nothing is blocked.
        for line in lines {
            let mask = line.split_whitespace().nth(1).unwrap();
            let bits = u64::from_str_radix(mask, 16).unwrap();
            assert_eq!(bits & (1 << (libc::SIGPIPE - 1)), 0, "{line}");
            if line.starts_with("SigBlk") {
                assert_eq!(bits, 0, "{line}");
            }
        }
    }

    #[test]
    fn spare_stacks_are_kept_up_to_a_bound() {
        let stacks: Vec<Stack> = (0..MAX_SPARE_STACKS + 3)
            .map(|_| Stack::new().unwrap())
            .collect();
        for stack in stacks {
            stack.give_back();
        }
        // Other tests' runs may take and give back stacks meanwhile: never more.
        let spare = SPARE_STACKS.lock().unwrap().len();
        assert!(spare <= MAX_SPARE_STACKS, "{spare} spare stacks");
    }

    #[test]
    fn the_program_runs_under_the_normal_policy_whatever_the_daemons_thread_has() {
        /// The scheduling policy in a `/proc/PID/stat` line (its 41st field).
        fn policy(stat: &str) -> i32 {
            let after_name = &stat[stat.rfind(')').unwrap() + 1..];
            after_name
                .split_whitespace()
                .nth(38)
                .unwrap()
                .parse()
                .unwrap()
        }
        let thread = std::thread::spawn(|| {
            crate::scheduling::batch();
            let own = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let _inside = runtime.enter();
            let dir = cwd();
            let args = strings(&["/proc/self/stat"]);
            let spawned = spawn(&launch(Path::new("/bin/cat"), &args, &dir)).unwrap();
            let (exit, out, _) = runtime.block_on(output(spawned));
            assert_eq!(exit, Exit::Code(0));
            (policy(&own), policy(&String::from_utf8(out).unwrap()))
        });
        let (daemon, program) = thread.join().unwrap();
        assert_eq!(daemon, libc::SCHED_BATCH, "control: the spawning thread's");
        assert_eq!(program, libc::SCHED_OTHER);
    }

    #[tokio::test]
    async fn a_missing_program_is_an_error_naming_the_step_and_leaves_no_child() {
        let dir = cwd();
        let args = strings(&[]);
        let e = spawn(&launch(Path::new("/nonexistent/program"), &args, &dir)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
        assert!(e.to_string().starts_with("execute: "), "{e}");
        let e = spawn(&launch(Path::new("/etc/passwd"), &args, &dir)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        // Reaped: no zombie is left among this process's children.
        let children = std::fs::read_to_string(format!(
            "/proc/self/task/{}/children",
            rustix::thread::gettid().as_raw_nonzero()
        ))
        .unwrap();
        assert_eq!(children.trim(), "", "a failed start left a child");
    }

    #[tokio::test]
    async fn nul_bytes_are_refused_before_anything_starts() {
        let dir = cwd();
        let args = strings(&["a\0b"]);
        let e = spawn(&launch(Path::new("/bin/true"), &args, &dir)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let mut bad = launch(Path::new("/bin/true"), &[], &dir);
        bad.env = vec![("A=B", "c")];
        assert_eq!(spawn(&bad).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }

    #[tokio::test]
    async fn the_child_confines_and_moves_itself_and_never_the_daemon() {
        use landlock::{ABI, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr};
        let status = |field: &str| {
            std::fs::read_to_string("/proc/self/status")
                .unwrap()
                .lines()
                .find(|l| l.starts_with(field))
                .unwrap()
                .to_owned()
        };
        let before = (
            std::env::current_dir().unwrap(),
            status("NoNewPrivs"),
            rustix::fs::fstat(std::io::stdout()).unwrap().st_ino,
        );
        // Reads nothing at all, except executing the shell and its libraries.
        let exec_only = Ruleset::default()
            .handle_access(AccessFs::from_all(ABI::V1))
            .unwrap()
            .create()
            .unwrap()
            .add_rules(landlock::path_beneath_rules(
                ["/usr", "/bin", "/lib", "/lib64"]
                    .iter()
                    .filter(|p| Path::new(p).exists()),
                AccessFs::Execute | AccessFs::ReadFile | AccessFs::ReadDir,
            ))
            .unwrap();
        let ruleset: OwnedFd = Option::<OwnedFd>::from(exec_only).unwrap();
        let dir = cwd();
        let args = strings(&[
            "-c",
            "pwd; cat /etc/hostname; grep NoNewPrivs /proc/self/status",
        ]);
        let mut confined = launch(Path::new("/bin/sh"), &args, &dir);
        confined.ruleset = Some(&ruleset);
        let (exit, out, err) = output(spawn(&confined).unwrap()).await;
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.lines().next(), Some("/tmp"), "{out}");
        assert!(
            String::from_utf8_lossy(&err).contains("Permission denied"),
            "the ruleset did not apply: {out}"
        );
        assert_ne!(exit, Exit::Code(0));
        // The daemon kept its directory, privileges and standard descriptors.
        let after = (
            std::env::current_dir().unwrap(),
            status("NoNewPrivs"),
            rustix::fs::fstat(std::io::stdout()).unwrap().st_ino,
        );
        assert_eq!(before, after);
        // And it can still read what the child could not.
        assert!(std::fs::read("/etc/hostname").is_ok());
    }

    #[tokio::test]
    async fn dropping_an_unwaited_process_kills_it() {
        let dir = cwd();
        let args = strings(&["60"]);
        let spawned = spawn(&launch(Path::new("/bin/sleep"), &args, &dir)).unwrap();
        let pid = spawned.process.pid().unwrap();
        drop(spawned);
        let mut ended = false;
        for _ in 0..200 {
            let state = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero()))
                .unwrap_or_default();
            // Gone, or a zombie waiting for the reaper.
            if state.is_empty() || state.split(") ").nth(1).is_some_and(|s| s.starts_with('Z')) {
                ended = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(ended, "the dropped child still runs");
        crate::children::reap_orphans();
    }
}
