//! The system-call filter (seccomp) that everything the daemon starts runs under, beside
//! Landlock: what Landlock does not govern and would open another agent's credentials.
//!
//! Landlock (ABI 7 and below) does not govern connecting to a unix socket by path, so
//! what keeps one agent's programs off another agent's ssh-agent is that its socket's
//! path is unknown to them: a private directory with a random name, never in a mount,
//! not listed in `/proc/net/unix` (out of Landlock's grants). The kernel lists it
//! another way, though: a `NETLINK_SOCK_DIAG` socket (what `ss -x` uses) asks for every
//! unix socket of the network namespace with its path, and Landlock does not govern
//! netlink. Shown with the real daemon before this filter: a program of one agent ran
//! `ss -xl`, found the other agent's ssh-agent socket and listed its key through it
//! (`SSH_AUTH_SOCK=... ssh-add -l`).
//!
//! So a program the daemon starts may not create a `NETLINK_SOCK_DIAG` socket
//! (`EACCES`). Nor may it set up `io_uring` (`EPERM`), whose operations create sockets
//! without the `socket` call; nor watch directories with inotify or fanotify (`EPERM`),
//! which name what is made in a directory the program may not list (an ssh-agent's,
//! made in the daemon's temporary directory at start or at a reload; shown before: a
//! program's `inotify_add_watch` on `/tmp` succeeded); nor make a system call of another
//! architecture (`EPERM`): a 64-bit x86 program can make 32-bit calls (`int 0x80`, where
//! `socketcall` creates sockets) and x32 ones, whose numbers the checks would not match.
//! Everything else is allowed, other netlink families (`NETLINK_ROUTE`, which name
//! resolution uses) included; a tool that watches files falls back to polling or says it
//! cannot watch.
//!
//! The filter is installed once on the daemon when it starts, before it has threads of
//! its own ([`enter_for_daemon`]), and inherited by everything it starts from then on:
//! the programs, git's probes, the hooks, the ssh-agents. Installed in each program's
//! child instead, it cost every run about 37 µs (measured: the kernel compiles the
//! filter at each installation), while the daemon's thread waits for the `execve`. A
//! filter needs `no_new_privs` (unless the daemon has `CAP_SYS_ADMIN`): the daemon sets
//! it on itself, so nothing it starts gains privileges through a set-user-ID program
//! either (programs already ran so, for Landlock; hooks now do too). The daemon itself
//! makes none of the calls refused.

use std::io;

/// `AUDIT_ARCH_*` of the architecture the daemon is built for (`linux/audit.h`), as
/// `seccomp_data.arch` reports a native system call.
#[cfg(target_arch = "x86_64")]
const NATIVE_ARCH: u32 = 0xC000_003E;
/// `AUDIT_ARCH_*` of the architecture the daemon is built for (`linux/audit.h`), as
/// `seccomp_data.arch` reports a native system call.
#[cfg(target_arch = "aarch64")]
const NATIVE_ARCH: u32 = 0xC000_00B7;

/// On x86-64, the bit that marks an x32 system call (`__X32_SYSCALL_BIT`).
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Offsets in `struct seccomp_data`: the call's number, its architecture, and the low
/// 32 bits of its first and third arguments (little-endian; `socket` takes `int`s, so
/// the kernel uses only those bits).
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG0_LOW: u32 = 16;
const ARG2_LOW: u32 = 32;

const LOAD_WORD: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JUMP_EQUAL: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JUMP_AT_LEAST: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const RETURN: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const REFUSE: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
const REFUSE_DIAG: u32 = libc::SECCOMP_RET_ERRNO | libc::EACCES as u32;

/// The calls refused with `EPERM` by number.
const REFUSED: &[libc::c_long] = &[
    libc::SYS_io_uring_setup,
    libc::SYS_inotify_init1,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_inotify_init,
    libc::SYS_fanotify_init,
];

fn op(code: u16, k: u32) -> libc::sock_filter {
    jump(code, k, 0, 0)
}

/// `if A == k` (or `>=`) go on `then` instructions after the next one, else
/// `otherwise` after it.
fn jump(code: u16, k: u32, then: u8, otherwise: u8) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: then,
        jf: otherwise,
        k,
    }
}

/// The filter's BPF program.
fn program() -> Vec<libc::sock_filter> {
    let number = |call: libc::c_long| u32::try_from(call).unwrap_or(u32::MAX);
    let mut program = vec![
        op(LOAD_WORD, ARCH),
        jump(JUMP_EQUAL, NATIVE_ARCH, 1, 0),
        op(RETURN, REFUSE), // another architecture's call
        op(LOAD_WORD, NR),
        jump(JUMP_AT_LEAST, X32_SYSCALL_BIT, 0, 1),
        op(RETURN, REFUSE), // an x32 call
    ];
    for call in REFUSED {
        program.push(jump(JUMP_EQUAL, number(*call), 0, 1));
        program.push(op(RETURN, REFUSE));
    }
    program.extend([
        jump(JUMP_EQUAL, number(libc::SYS_socket), 1, 0),
        op(RETURN, ALLOW), // not `socket`
        op(LOAD_WORD, ARG0_LOW),
        jump(JUMP_EQUAL, libc::AF_NETLINK as u32, 1, 0),
        op(RETURN, ALLOW), // not a netlink socket
        op(LOAD_WORD, ARG2_LOW),
        jump(JUMP_EQUAL, libc::NETLINK_SOCK_DIAG as u32, 0, 1),
        op(RETURN, REFUSE_DIAG),
        op(RETURN, ALLOW),
    ]);
    program
}

/// Sets `no_new_privs` and installs the filter on every thread of the daemon, for it and
/// everything it starts from then on.
pub(crate) fn enter_for_daemon() -> io::Result<()> {
    rustix::thread::set_no_new_privs(true)?;
    install(&program(), libc::SECCOMP_FILTER_FLAG_TSYNC)?;
    Ok(())
}

/// Installs `program` with `flags` on the calling thread (every thread of the process
/// with `SECCOMP_FILTER_FLAG_TSYNC`), for it and everything it starts. Needs
/// `no_new_privs`. Only the one system call (safe in a forked child).
fn install(program: &[libc::sock_filter], flags: libc::c_ulong) -> Result<(), rustix::io::Errno> {
    let program = libc::sock_fprog {
        len: libc::c_ushort::try_from(program.len()).unwrap_or(libc::c_ushort::MAX),
        filter: program.as_ptr().cast_mut(),
    };
    #[expect(
        unsafe_code,
        reason = "seccomp(SECCOMP_SET_MODE_FILTER) with a pointer to a live program of that length"
    )]
    let done = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &raw const program,
        )
    };
    if done == 0 {
        return Ok(());
    }
    let errno = io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EINVAL);
    Err(rustix::io::Errno::from_raw_os_error(errno))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a forked child (only system calls there: the test runs threads): installs the
    /// filter, then makes each call of `CALLS` and exits with a bit set for each that
    /// was refused with the expected error. Returns the exit code.
    fn refused_calls_in_a_filtered_child() -> i32 {
        let program = program();
        #[expect(
            unsafe_code,
            reason = "fork, then only system calls and _exit in the child"
        )]
        unsafe {
            let pid = libc::fork();
            assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
            if pid == 0 {
                let errno = || *libc::__errno_location();
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                    || install(&program, 0).is_err()
                {
                    libc::_exit(255);
                }
                let mut refused = 0;
                let diag = libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_SOCK_DIAG);
                if diag < 0 && errno() == libc::EACCES {
                    refused |= 1;
                }
                let route = libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE);
                if route < 0 {
                    refused |= 2;
                }
                let unix = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
                if unix < 0 {
                    refused |= 4;
                }
                let mut params = [0u8; 120];
                let ring = libc::syscall(libc::SYS_io_uring_setup, 1, params.as_mut_ptr());
                if ring < 0 && errno() == libc::EPERM {
                    refused |= 8;
                }
                if libc::inotify_init1(libc::IN_CLOEXEC) < 0 && errno() == libc::EPERM {
                    refused |= 32;
                }
                #[cfg(target_arch = "x86_64")]
                {
                    let x32 = libc::syscall(libc::SYS_getpid | X32_SYSCALL_BIT as libc::c_long);
                    if x32 < 0 && errno() == libc::EPERM {
                        refused |= 16;
                    }
                }
                libc::_exit(refused);
            }
            let mut status = 0;
            assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
            assert!(
                libc::WIFEXITED(status),
                "the child ended by a signal: {status}"
            );
            libc::WEXITSTATUS(status)
        }
    }

    #[test]
    fn refuses_socket_listing_io_uring_watches_and_foreign_calls_and_nothing_else() {
        let refused = refused_calls_in_a_filtered_child();
        assert_ne!(refused, 255, "the filter could not be installed");
        assert_eq!(refused & 1, 1, "a NETLINK_SOCK_DIAG socket was opened");
        assert_eq!(refused & 2, 0, "a NETLINK_ROUTE socket was refused");
        assert_eq!(refused & 4, 0, "a unix socket was refused");
        assert_eq!(refused & 8, 8, "io_uring was set up");
        assert_eq!(refused & 32, 32, "inotify was set up");
        #[cfg(target_arch = "x86_64")]
        assert_eq!(refused & 16, 16, "an x32 call was not refused");
    }
}
