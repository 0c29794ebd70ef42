//! Placeholder until the policy benchmarks land.
fn main() {}
