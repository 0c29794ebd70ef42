//! Runs `check` in a loop for profiling with `perf record`:
//! `cargo run --release -p airlock-benches --example profile_check -- [RULES]` (`RUNS=N`
//! for another number of checks than five million, e.g. under callgrind).
use airlock_benches::{GENERATED_ARGV, GIT_LIKE, TYPICAL_ARGV, generated_module};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rules: Option<usize> = std::env::args().nth(1).map(|s| s.parse()).transpose()?;
    let (module, argv) = match rules {
        Some(n) => (
            airlock_policy::compile("gen.toml", &generated_module(n))?,
            GENERATED_ARGV,
        ),
        None if std::env::var_os("NO_RULES").is_some() => {
            let syntax_only = GIT_LIKE.split("[[rule]]").next().unwrap_or(GIT_LIKE);
            (
                airlock_policy::compile("git.toml", syntax_only)?,
                TYPICAL_ARGV,
            )
        }
        None => (airlock_policy::compile("git.toml", GIT_LIKE)?, TYPICAL_ARGV),
    };
    let runs: u32 = std::env::var("RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000_000);
    let start = std::time::Instant::now();
    let mut allowed = 0u32;
    for _ in 0..runs {
        allowed += u32::from(module.check(std::hint::black_box(&argv)).is_allowed());
    }
    println!("{:?} per check ({allowed} allowed)", start.elapsed() / runs);
    Ok(())
}
