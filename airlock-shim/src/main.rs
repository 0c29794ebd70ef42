//! The container-side Airlock shim (work in progress).
fn main() {}
