"""The built-ins' shared corpora (builtins/tests/data) give the same decisions through
Python as through Rust (builtins/tests/corpus.rs and modules.rs assert the same cases)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import airlock_policy

DATA = Path(__file__).resolve().parents[2] / "builtins" / "tests" / "data"


def cases() -> list[tuple[str, str, list[str], str]]:
    found = []
    for name in ("argv-cases.toml", "beyond-cases.toml"):
        for case in tomllib.loads((DATA / name).read_text(encoding="utf-8"))["case"]:
            found.append((name, case["command"], case["args"], case["expect"]))
    for path in sorted((DATA / "cases").glob("*.toml")):
        for case in tomllib.loads(path.read_text(encoding="utf-8"))["case"]:
            found.append((path.name, path.stem, case["args"], case["expect"]))
    return found


def test_the_corpus_is_there() -> None:
    assert len(cases()) > 500
    assert {c[3] for c in cases()} >= {"allow", "deny"}


def test_every_case_decides_as_expected() -> None:
    policy = airlock_policy.builtins()
    failures = []
    for file, command, args, expect in cases():
        if expect == "either":
            continue
        decision = policy.check(command, args)
        if decision.verdict != expect:
            failures.append(f"{file}: {command} {args}: expected {expect}, got {decision}")
        if not decision.allowed:
            # A deny always says why.
            assert decision.rule_id, decision
            assert decision.reason, decision
    assert failures == []


@pytest.mark.parametrize("name", airlock_policy.builtin_names())
def test_each_builtin_compiles_alone_and_agrees_with_the_policy(name: str) -> None:
    module = airlock_policy.builtin(name)
    policy = airlock_policy.builtins()
    for file, command, args, _ in cases():
        if command == name:
            alone, together = module.check(args), policy.check(command, args)
            assert (alone.verdict, alone.rule_id) == (together.verdict, together.rule_id), (file, args)
