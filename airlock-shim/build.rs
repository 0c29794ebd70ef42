//! Links the shim as a static executable with its own entry point and no C library.

fn main() {
    // `-nostartfiles`: no crt1.o, the entry point is `_start` in src/rt.rs.
    // `-nostdlib`: no libc, libgcc or libm (the memory functions are src/rt.rs's).
    // `-static -no-pie`: a fixed-address executable needs no loader and no relocating,
    // which a program without a C library's start-up could not do for itself.
    for arg in ["-nostartfiles", "-nostdlib", "-static", "-no-pie"] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
