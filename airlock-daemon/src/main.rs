//! The Airlock daemon (work in progress).
fn main() {}
