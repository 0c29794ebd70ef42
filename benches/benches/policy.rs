//! Policy engine benchmarks: `check` on a git-like module with a typical argv, `check`
//! on modules of 10 to 3,000 rules, and compiling a 3,000-rule module.

use std::hint::black_box;

use airlock_benches::{GENERATED_ARGV, GIT_LIKE, TYPICAL_ARGV, generated_module};
use airlock_policy::compile;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

fn check_git_like(c: &mut Criterion) {
    let Ok(module) = compile("git.toml", GIT_LIKE) else {
        return;
    };
    c.bench_function("check/git-like-14-rules/8-args", |b| {
        b.iter(|| black_box(module.check(black_box(&TYPICAL_ARGV))).verdict())
    });
    let denied = [
        "-C",
        "/r",
        "clone",
        "-q",
        "--upload-pac=x",
        "--depth",
        "1",
        "repo",
    ];
    c.bench_function("check/git-like-14-rules/8-args-denied", |b| {
        b.iter(|| black_box(module.check(black_box(&denied))).verdict())
    });
}

fn check_by_rule_count(c: &mut Criterion) {
    let mut group = c.benchmark_group("check/rules");
    for n in [10, 100, 1_000, 3_000] {
        let text = generated_module(n);
        let Ok(module) = compile("gen.toml", &text) else {
            continue;
        };
        group.bench_with_input(BenchmarkId::from_parameter(n), &module, |b, m| {
            b.iter(|| black_box(m.check(black_box(&GENERATED_ARGV))).verdict())
        });
    }
    group.finish();
}

fn compile_3000(c: &mut Criterion) {
    let text = generated_module(3_000);
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.bench_function("3000-rules", |b| {
        b.iter(|| compile("gen.toml", black_box(&text)).is_ok())
    });
    group.finish();
}

criterion_group!(benches, check_git_like, check_by_rule_count, compile_3000);
criterion_main!(benches);
