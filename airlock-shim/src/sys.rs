//! What rustix does not do for the shim: the standard descriptors as borrowed
//! descriptors, the signals it forwards (blocked, and read from a signalfd, so that one
//! thread sees them between reads and writes), and leaving the process.

use core::arch::asm;

use airlock_rpc::Signal;
use linux_raw_sys::general::{
    __NR_exit_group, __NR_rt_sigprocmask, __NR_signalfd4, O_CLOEXEC, O_NONBLOCK, SIG_BLOCK, SIGHUP,
    SIGINT, SIGPIPE, SIGQUIT, SIGTERM,
};
use rustix::fd::{BorrowedFd, FromRawFd, OwnedFd};
use rustix::io::Errno;

/// The signals the shim forwards to the program, and their names on the wire.
const FORWARDED: [(u32, Signal); 4] = [
    (SIGINT, Signal::Int),
    (SIGTERM, Signal::Term),
    (SIGHUP, Signal::Hup),
    (SIGQUIT, Signal::Quit),
];

/// The size of the kernel's `struct signalfd_siginfo`; its first field is the signal's
/// number (`u32`).
const SIGINFO_SIZE: usize = 128;

/// Descriptor 0.
#[expect(unsafe_code, reason = "borrows a descriptor by number")]
pub fn stdin() -> BorrowedFd<'static> {
    // SAFETY: the shim never closes its standard descriptors; one that was closed when
    // it started makes its calls fail with EBADF, which the callers handle.
    unsafe { rustix::stdio::stdin() }
}

/// Descriptor 1.
#[expect(unsafe_code, reason = "borrows a descriptor by number")]
pub fn stdout() -> BorrowedFd<'static> {
    // SAFETY: as for `stdin`.
    unsafe { rustix::stdio::stdout() }
}

/// Descriptor 2.
#[expect(unsafe_code, reason = "borrows a descriptor by number")]
pub fn stderr() -> BorrowedFd<'static> {
    // SAFETY: as for `stdin`.
    unsafe { rustix::stdio::stderr() }
}

/// Opens `/dev/null` on each of descriptors 0, 1 and 2 that is closed (as std's start
/// does for a std program): otherwise the socket, opened next, would take the lowest
/// free number, and the program's output would be written into it, or stdin read from
/// it. Fails only when a missing one cannot be opened.
#[expect(
    unsafe_code,
    reason = "asks whether descriptors 0 to 2 are open, by number"
)]
pub fn open_standard_descriptors() -> Result<(), Errno> {
    for raw in 0..3 {
        // SAFETY: the descriptor is only asked about, and only for as long as this
        // call; EBADF says it is closed.
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        if rustix::io::fcntl_getfd(fd) == Err(Errno::BADF) {
            // The lowest free number: `raw` itself, as those below it are open.
            let null = rustix::fs::open(
                "/dev/null",
                rustix::fs::OFlags::RDWR,
                rustix::fs::Mode::empty(),
            )?;
            // It stays open for the life of the process, as descriptor `raw`.
            if rustix::fd::IntoRawFd::into_raw_fd(null) != raw {
                return Err(Errno::BADF);
            }
        }
    }
    Ok(())
}

/// A signal set as the kernel takes it: bit `n - 1` for signal `n`.
fn set(signals: impl IntoIterator<Item = u32>) -> u64 {
    signals
        .into_iter()
        .fold(0, |set, n| set | 1u64.checked_shl(n - 1).unwrap_or(0))
}

/// The forwarded signals, blocked and readable from a descriptor.
#[derive(Debug)]
pub struct Signals {
    fd: OwnedFd,
}

impl Signals {
    /// Blocks SIGINT, SIGTERM, SIGHUP and SIGQUIT, which then queue on the returned
    /// descriptor instead of ending the shim, and SIGPIPE, so that writing to a closed
    /// pipe fails with EPIPE (the shim then leaves with 141, as a program killed by
    /// SIGPIPE would be reported).
    #[expect(
        unsafe_code,
        reason = "rt_sigprocmask and signalfd4, which rustix does not offer"
    )]
    pub fn block() -> Result<Self, Errno> {
        let forwarded = set(FORWARDED.map(|(n, _)| n));
        let blocked = forwarded | set([SIGPIPE]);
        // SAFETY: rt_sigprocmask(SIG_BLOCK, &set, NULL, sizeof set) reads 8 bytes at a
        // live local and writes nothing.
        syscall_result(unsafe {
            syscall4(
                __NR_rt_sigprocmask,
                SIG_BLOCK as usize,
                core::ptr::from_ref(&blocked) as usize,
                0,
                size_of::<u64>(),
            )
        })?;
        // SAFETY: signalfd4(-1, &set, sizeof set, flags) reads 8 bytes at a live local
        // and returns a new descriptor (or an error).
        let fd = syscall_result(unsafe {
            syscall4(
                __NR_signalfd4,
                usize::MAX, // -1: a new descriptor
                core::ptr::from_ref(&forwarded) as usize,
                size_of::<u64>(),
                // SFD_CLOEXEC and SFD_NONBLOCK are these open flags (signalfd(2)).
                (O_CLOEXEC | O_NONBLOCK) as usize,
            )
        })?;
        let fd = i32::try_from(fd).map_err(|_| Errno::INVAL)?;
        // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
        Ok(Self {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        use rustix::fd::AsFd;
        self.fd.as_fd()
    }

    /// The next pending forwarded signal, if any.
    pub fn next(&self) -> Option<Signal> {
        let mut info = [0u8; SIGINFO_SIZE];
        loop {
            match rustix::io::read(&self.fd, &mut info) {
                Ok(SIGINFO_SIZE) => {
                    let number = info
                        .first_chunk::<4>()
                        .map_or(0, |b| u32::from_ne_bytes(*b));
                    if let Some((_, signal)) = FORWARDED.iter().find(|(n, _)| *n == number) {
                        return Some(*signal);
                    }
                }
                Err(Errno::INTR) => {}
                _ => return None,
            }
        }
    }
}

/// Ends the process with `code` (the low 8 bits reach the parent).
#[expect(unsafe_code, reason = "the exit_group system call")]
pub fn exit(code: i32) -> ! {
    loop {
        // SAFETY: exit_group takes an integer and does not return.
        unsafe {
            syscall4(__NR_exit_group, code as usize, 0, 0, 0);
        }
    }
}

/// A system call's return value as a result.
fn syscall_result(ret: isize) -> Result<usize, Errno> {
    match usize::try_from(ret) {
        Ok(value) => Ok(value),
        Err(_) => Err(Errno::from_raw_os_error(
            i32::try_from(-ret).unwrap_or(i32::MAX),
        )),
    }
}

/// A system call with up to four arguments (x86-64: the number in `rax`, the arguments
/// in `rdi`, `rsi`, `rdx`, `r10`; `rcx` and `r11` are clobbered).
///
/// # Safety
/// The arguments must be what system call `number` expects: pointers valid for what it
/// reads and writes.
#[expect(unsafe_code, reason = "a raw system call")]
unsafe fn syscall4(number: u32, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller's contract; the instruction touches only the registers named.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") number as isize => ret,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}
