//! Runs `airlock_shell::check_line` on the typical agent line of `benches/shell.rs` in a
//! loop, for `perf record` or for CPU time on a busy machine (`perf stat -e task-clock`
//! divided by the runs): `cargo run --release -p airlock-benches --example
//! profile_shell -- [RUNS]`.

/// The same line as `benches/shell.rs`: 3 simple commands, 20 words.
const TYPICAL: &str = "cd /work/repo && git log --oneline --no-merges -n 20 --author=dev -- src tests docs | grep -v -i -e wip -e fixup";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: u32 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let policy = airlock_builtins::policy()?;
    let options = airlock_shell::ShellOptions::new()
        .allow_commands(["cd", "grep", "head", "ls", "cat"])
        .root("/work/repo");
    let start = std::time::Instant::now();
    let mut allowed = 0u32;
    for _ in 0..runs {
        let decision = airlock_shell::check_line(&policy, std::hint::black_box(TYPICAL), &options);
        allowed += u32::from(decision.is_allowed());
    }
    println!(
        "{:?} per line, wall ({allowed} allowed of {runs})",
        start.elapsed() / runs
    );
    Ok(())
}
