"""Shell command lines through Python: every simple command judged, constructs refused."""

from __future__ import annotations

import airlock_policy
from airlock_policy import ShellOptions, builtins, check_line, compile

OPTIONS = ShellOptions(allow_commands=["cd", "ls", "head"], root="/work/repo", ask=True)


def test_an_allowed_line() -> None:
    decision = builtins().check_line("cd src && git status --short | head -5", OPTIONS)
    assert decision.outcome == "allow"
    assert decision.allowed and decision
    assert decision.rule_id is None
    assert decision.deciding is None
    assert decision.error is None
    assert [c.text for c in decision.commands] == ["cd src", "git status --short", "head -5"]
    assert [c.argv for c in decision.commands] == [
        ["cd", "src"],
        ["git", "status", "--short"],
        ["head", "-5"],
    ]
    assert [c.rule_id for c in decision.commands][0] == "shell.allowed-command"


def test_the_decision_names_the_simple_command_and_the_rule() -> None:
    line = "ls && git fetch --upload-pac='touch /tmp/x' origin"
    decision = check_line(builtins(), line, OPTIONS)
    assert decision.outcome == "deny"
    assert not decision
    assert decision.rule_id == "git.upload-pack"
    part = decision.deciding
    assert part is not None
    assert part.text == "git fetch --upload-pac='touch /tmp/x' origin"
    start, end = part.span
    assert line.encode()[start:end].decode() == part.text
    assert part.argv == ["git", "fetch", "--upload-pac=touch /tmp/x", "origin"]
    assert part.rule_id == "git.upload-pack"
    assert part.location is not None and part.location.source == "builtin:git.toml"
    assert part.reading == "fetch --upload-pack='touch /tmp/x' origin"
    assert "git.upload-pack" in str(decision)
    assert part.text in decision.reason
    # The structured reading: check the part's argv with the policy.
    assert part.argv is not None
    again = builtins().check(part.argv[0], part.argv[1:])
    assert again.rule_id == part.rule_id
    assert again.reading is not None and again.reading.option("--upload-pack") is not None


def test_what_cannot_be_known_is_asked_or_refused() -> None:
    asked = check_line(builtins(), "git log $(cat refs)", OPTIONS)
    assert asked.outcome == "ask"
    assert asked.rule_id == "shell.command-substitution"
    assert not asked.allowed
    refused = check_line(builtins(), "git log $(cat refs)")
    assert refused.outcome == "deny"
    assert refused.rule_id == "shell.command-substitution"


def test_an_unknown_command_and_default_options() -> None:
    decision = check_line(builtins(), "ls -la")
    assert decision.outcome == "deny"
    assert decision.rule_id == "airlock.unknown-command"
    assert decision.deciding is not None and decision.deciding.text == "ls -la"


def test_a_line_that_cannot_be_read_is_denied() -> None:
    decision = check_line(builtins(), "git status 'unterminated", OPTIONS)
    assert decision.outcome == "deny"
    assert decision.rule_id == "shell.syntax"
    assert decision.error is not None
    assert decision.error_span is not None
    assert decision.commands == []
    too_long = check_line(builtins(), "ls " + "a" * 200, ShellOptions(max_len=100))
    assert too_long.rule_id == "shell.too-long"
    deep = check_line(builtins(), "( " * 10_000 + "ls" + " )" * 10_000, OPTIONS)
    assert deep.outcome == "deny"
    assert deep.rule_id == "shell.too-deep"
    assert deep.error is not None and "64 deep" in deep.error


def test_redirections_and_assignments() -> None:
    assert check_line(builtins(), "ls > out.txt", OPTIONS).allowed
    outside = check_line(builtins(), "ls > /etc/passwd", OPTIONS)
    assert outside.rule_id == "shell.redirection"
    env = check_line(builtins(), "GIT_SSH_COMMAND=x git fetch", OPTIONS)
    assert env.rule_id == "shell.assignment"
    allowed_env = ShellOptions(allow_env=["LANG"], allow_commands=["ls"])
    assert check_line(builtins(), "LANG=C ls", allowed_env).allowed


def test_options_read_back() -> None:
    assert OPTIONS.is_allowed_command("ls") and not OPTIONS.is_allowed_command("rm")
    assert OPTIONS.root == "/work/repo" and OPTIONS.ask
    assert OPTIONS.cwd == "/work/repo"  # the root, unless said otherwise
    assert ShellOptions(root="/r", cwd="/r/sub").cwd == "/r/sub"
    defaults = ShellOptions()
    assert (defaults.max_len, defaults.max_depth, defaults.ask) == (65536, 64, False)
    assert not defaults.is_allowed_env("PATH")


def test_a_policy_of_own_modules() -> None:
    git = compile(
        "git.toml", '[command]\nbin = "git"\n[deny]\nargs = ["push & --force"]\n'
    )
    policy = airlock_policy.Policy([git])
    decision = policy.check_line("git add . && git push --force origin main")
    assert decision.rule_id == "deny.args[0]"
    assert decision.deciding is not None
    assert decision.deciding.span == (13, 41)


def test_the_shell_corpus_decides_as_in_rust() -> None:
    """airlock-shell's corpus of real agent lines (tests/corpus.rs asserts the same)."""
    import tomllib
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "airlock-shell" / "tests" / "data" / "corpus.toml"
    corpus = tomllib.loads(path.read_text(encoding="utf-8"))
    assert len(corpus["case"]) >= 100
    options = ShellOptions(
        allow_commands=corpus["allowed"], root="/work/repo", cwd="/work/repo"
    )
    policy = builtins()
    failures = []
    for case in corpus["case"]:
        decision = policy.check_line(case["line"], options)
        want_rule = case.get("rule")
        if decision.outcome != case["outcome"] or (
            want_rule is not None and decision.rule_id != want_rule
        ):
            failures.append(f"{case['line']!r}: want {case['outcome']} {want_rule}, got {decision}")
        if "commands" in case and len(decision.commands) != case["commands"]:
            failures.append(f"{case['line']!r}: want {case['commands']} parts")
        line = case["line"].encode()
        for part in decision.commands:
            start, end = part.span
            assert line[start:end].decode() == part.text
    assert failures == []
