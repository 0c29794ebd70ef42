//! `airlock-shim`: see the crate documentation. A program without std or a C library:
//! [`rt`] is its entry point and memory functions, dlmalloc its allocator.
#![no_std]
#![no_main]
// The memory functions in `rt` are loops the compiler must not turn into calls to
// the functions they define.
#![no_builtins]

extern crate alloc;

mod rt;

/// The allocator: dlmalloc over `mmap`, without a C library.
#[global_allocator]
static ALLOCATOR: rustix_dlmalloc::GlobalDlmalloc = rustix_dlmalloc::GlobalDlmalloc;

/// A panic is a bug in the shim: one line on stderr, exit 124 (protocol error).
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    airlock_shim::die(info)
}
