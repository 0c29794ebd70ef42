"""Times `Module.check` from Python on the input of the Rust benchmark
`check/git-like-14-rules/8-args` (benches/benches/policy.rs): the same module text and
argv, read out of benches/src/lib.rs so the two cannot drift apart.

    python python/bench/check_overhead.py [--rust-ns N]

The difference from the Rust figure is what crossing from Python costs: converting the
argv, and copying the decision and its reading into Python objects. Pass the Rust figure
(criterion's estimate, in nanoseconds) with --rust-ns, or let the script read it from
target/criterion when `cargo bench -p airlock-benches --bench policy` has run.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import timeit
from pathlib import Path

import airlock_policy

ROOT = Path(__file__).resolve().parents[2]
INPUTS = ROOT / "benches" / "src" / "lib.rs"
CRITERION = ROOT / "target" / "criterion"
ALLOWED, DENIED = "check_git-like-14-rules_8-args", "check_git-like-14-rules_8-args-denied"


def rust_inputs() -> tuple[str, list[str]]:
    """The git-like module text and the typical argv of the Rust benchmarks."""
    source = INPUTS.read_text(encoding="utf-8")
    module = re.search(r'pub const GIT_LIKE: &str = r#"(.*?)"#;', source, re.S)
    argv = re.search(r"pub const TYPICAL_ARGV: \[&str; \d+\] = \[(.*?)\];", source, re.S)
    if module is None or argv is None:
        sys.exit(f"cannot find GIT_LIKE and TYPICAL_ARGV in {INPUTS}")
    return module.group(1), list(ast.literal_eval("[" + argv.group(1) + "]"))


def per_call_ns(call: object, number: int, repeat: int) -> float:
    """The fastest of `repeat` runs of `number` calls, per call, in nanoseconds."""
    runs = timeit.repeat(call, number=number, repeat=repeat)  # type: ignore[arg-type]
    return min(runs) / number * 1e9


def rust_estimate_ns(bench: str) -> float | None:
    """Criterion's median for the same benchmark, if it has run in this checkout."""
    try:
        path = CRITERION / bench / "new" / "estimates.json"
        estimates = json.loads(path.read_text(encoding="utf-8"))
        return float(estimates["median"]["point_estimate"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rust-ns", type=float, help="the Rust figure, ns per allowed check")
    parser.add_argument("--number", type=int, default=200_000, help="calls per run")
    parser.add_argument("--repeat", type=int, default=7, help="runs (the fastest counts)")
    args = parser.parse_args()

    text, argv = rust_inputs()
    module = airlock_policy.compile("git.toml", text)
    decision = module.check(argv)
    assert decision.allowed, decision
    denied_argv = ["-C", "/r", "clone", "-q", "--upload-pac=x", "--depth", "1", "repo"]
    assert not module.check(denied_argv).allowed

    def noop(_argv: list[str]) -> None:
        return None

    results = {
        "python call of a no-op function (floor)": per_call_ns(
            lambda: noop(argv), args.number, args.repeat
        ),
        "Module.check(8 args), allowed": per_call_ns(
            lambda: module.check(argv), args.number, args.repeat
        ),
        "Module.check(8 args), denied": per_call_ns(
            lambda: module.check(denied_argv), args.number, args.repeat
        ),
        "Module.check(8 args).allowed": per_call_ns(
            lambda: module.check(argv).allowed, args.number, args.repeat
        ),
        "Module.check(8 args) + reading.options": per_call_ns(
            lambda: module.check(argv).reading.options,  # type: ignore[union-attr]
            args.number // 4,
            args.repeat,
        ),
    }
    print(f"argv: {argv}")
    for name, ns in results.items():
        print(f"{name:45} {ns:8.0f} ns")

    rust = args.rust_ns if args.rust_ns is not None else rust_estimate_ns(ALLOWED)
    if rust is None:
        print("Rust figure: run `cargo bench -p airlock-benches --bench policy -- "
              "check/git-like-14-rules/8-args` first, or pass --rust-ns")
        return
    pairs = [("allowed", rust, results["Module.check(8 args), allowed"])]
    rust_denied = rust_estimate_ns(DENIED) if args.rust_ns is None else None
    if rust_denied is not None:
        pairs.append(("denied", rust_denied, results["Module.check(8 args), denied"]))
    for what, rust_ns, python_ns in pairs:
        print(f"{'Rust check, ' + what + ' (criterion median)':45} {rust_ns:8.0f} ns")
        print(f"{'overhead of the Python call, ' + what:45} {python_ns - rust_ns:8.0f} ns"
              "  (target: under 2000 ns)")

if __name__ == "__main__":
    main()
