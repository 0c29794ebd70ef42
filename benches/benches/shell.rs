//! Shell-line benchmarks: `airlock_shell::check_line` on a typical agent line (3 simple
//! commands, 20 words) against the built-in modules, the reader alone on the same line,
//! and a longer line with quoting, a here-document and a denied command.

use std::hint::black_box;

use airlock_shell::{ShellOptions, check_line};
use criterion::{Criterion, criterion_group, criterion_main};

/// 3 simple commands, 20 words: `cd`, a `git log` the git module reads, a `grep`.
const TYPICAL: &str = "cd /work/repo && git log --oneline --no-merges -n 20 --author=dev -- src tests docs | grep -v -i -e wip -e fixup";

const LONGER: &str = "git status --short && git diff --stat HEAD~1 -- 'src/a b.rs' \\\n  | head -20; git commit -m \"$(cat <<'EOF'\nFix the reader\n\nSee #15.\nEOF\n)\" && git -c core.pager=x log -1 # done";

fn options() -> ShellOptions {
    ShellOptions::new()
        .allow_commands(["cd", "grep", "head", "ls", "cat"])
        .root("/work/repo")
}

fn shell(c: &mut Criterion) {
    let Ok(policy) = airlock_builtins::policy() else {
        return;
    };
    let options = options();
    c.bench_function("shell/check_line/typical-3-commands-20-words", |b| {
        b.iter(|| black_box(check_line(&policy, black_box(TYPICAL), &options)).outcome())
    });
    let empty = airlock_policy::Policy::builder().build();
    c.bench_function("shell/check_line/typical-no-modules", |b| {
        b.iter(|| black_box(check_line(&empty, black_box(TYPICAL), &options)).outcome())
    });
    c.bench_function("shell/check_line/longer-heredoc-denied", |b| {
        b.iter(|| black_box(check_line(&policy, black_box(LONGER), &options)).outcome())
    });
}

criterion_group!(benches, shell);
criterion_main!(benches);
