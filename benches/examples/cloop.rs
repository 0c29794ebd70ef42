//! profiling loop
fn main() {
    let m = airlock_policy::compile("g", airlock_benches::GIT_LIKE).unwrap();
    let argv = airlock_benches::TYPICAL_ARGV;
    let start = std::time::Instant::now();
    let mut n = 0;
    for _ in 0..5_000_000 {
        if m.check(std::hint::black_box(&argv)).is_allowed() {
            n += 1;
        }
    }
    println!("{:?} per check ({n})", start.elapsed() / 5_000_000);
}
