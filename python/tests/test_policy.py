"""The Python binding: compiling, the built-ins, decisions and their readings, errors."""

from __future__ import annotations

import threading

import pytest

import airlock_policy
from airlock_policy import CompileError, Policy, builtins, compile

TERRAFORM = """\
[command]
bin = "terraform"

[syntax]
style = "go"

[syntax.commands.apply]
bools = ["-auto-approve"]

[[rule]]
id = "terraform.auto-approve"
action = "deny"
command = "apply"
args = "-auto-approve"
reason = "apply must be confirmed by a person"
match = ["apply -auto-approve", "apply --auto-approve=true"]
not_match = ["apply", "apply -auto-approve=false"]
"""

GIT = """\
[command]
bin = "git"
[syntax]
style = "gnu"
abbreviate = true
[syntax.global]
values = ["-C", "--attr-source"]
paths = { "-C" = "chdir" }
[syntax.commands.clone]
values = ["-u|--upload-pack"]
flags = ["-q|--quiet"]
operands = ["read", "write"]
[[rule]]
id = "git.upload-pack"
action = "deny"
args = "--upload-pack"
reason = "`--upload-pack` names a program git runs"
"""


def test_a_rule_denies_with_its_id_reason_and_location() -> None:
    module = compile("terraform.toml", TERRAFORM)
    decision = module.check(["apply", "--auto-approve"])
    assert decision.verdict == "deny"
    assert not decision.allowed
    assert not decision
    assert decision.rule_id == "terraform.auto-approve"
    assert decision.reason == "apply must be confirmed by a person"
    assert decision.location is not None
    assert (decision.location.source, decision.location.line, decision.location.column) == (
        "terraform.toml",
        14,
        9,
    )
    assert str(decision.location) == "terraform.toml:14:9"
    assert str(decision) == (
        "deny: apply must be confirmed by a person "
        "(rule `terraform.auto-approve` at terraform.toml:14:9)"
    )


def test_an_allowed_argv() -> None:
    module = compile("terraform.toml", TERRAFORM)
    decision = module.check(["plan", "-out", "tf.plan"])
    assert decision.verdict == "allow"
    assert decision.allowed and bool(decision)
    assert decision.rule_id is None
    assert decision.location is None
    assert decision.reason == "no deny rule matches"
    assert str(decision) == "allow: no deny rule matches"
    # A false boolean cancels the flag, as Go's flag package reads it.
    assert module.check(["apply", "-auto-approve=false"]).allowed


def test_module_attributes() -> None:
    module = compile("terraform.toml", TERRAFORM)
    assert module.bin == "terraform"
    assert module.source_name == "terraform.toml"
    assert not module.is_allow_list
    assert module.rule_ids == ["terraform.auto-approve"]
    assert "terraform" in repr(module)


def test_the_reading_is_the_tools_reading() -> None:
    module = compile("git.toml", GIT)
    argv = ["--attr-source", "HEAD", "-C", "sub", "clone", "-qu", "cmd", "repo", "dir"]
    decision = module.check(argv)
    assert decision.rule_id == "git.upload-pack"
    reading = decision.reading
    assert reading is not None
    assert reading.path == ["clone"]
    assert [(w.text, w.index) for w in reading.path_words] == [("clone", 4)]
    options = reading.options
    assert [(o.name, o.value, o.is_global, o.is_declared, o.index) for o in options] == [
        ("--attr-source", "HEAD", True, True, 0),
        ("-C", "sub", True, True, 2),
        ("--quiet", None, False, True, 5),
        ("--upload-pack", "cmd", False, True, 5),
    ]
    upload = reading.option("--upload-pack")
    assert upload is not None and upload.value_span is not None
    span = upload.value_span
    assert (span.index, span.start, span.end) == (6, 0, 3)
    assert reading.option("--nothing") is None
    assert [(w.text, w.index) for w in reading.operands] == [("repo", 7), ("dir", 8)]
    paths = reading.paths
    assert [(p.text, p.access, p.option, p.operand, p.base) for p in paths] == [
        ("sub", "chdir", "-C", None, []),
        ("repo", "read", None, 1, [0]),
        ("dir", "write", None, 2, [0]),
    ]
    assert (paths[2].span.index, paths[2].span.start, paths[2].span.end) == (8, 0, 3)
    assert str(reading) == "clone --attr-source=HEAD -C=sub --quiet --upload-pack=cmd repo dir"


def test_an_abbreviation_reads_as_the_option() -> None:
    module = compile("git.toml", GIT)
    decision = module.check(["clone", "--upload-pa=touch /tmp/x", "repo"])
    assert decision.rule_id == "git.upload-pack"
    assert decision.reading is not None
    assert decision.reading.option("--upload-pack") is not None


def test_every_plausible_reading() -> None:
    module = compile("m.toml", '[command]\nbin = "m"\n[syntax]\nstyle = "gnu"\n')
    # `--undeclared` may or may not take `x` as its value: two readings.
    readings = module.readings(["--undeclared", "x"])
    assert sorted(str(r) for r in readings) == ["--undeclared x", "--undeclared=x"]
    assert len(module.readings(["plain"])) == 1


def test_an_unreadable_argv_is_denied_and_readings_raise() -> None:
    module = compile(
        "m.toml",
        '[command]\nbin = "m"\n[syntax]\nstyle = "gnu"\nundeclared = "deny"\n'
        '[syntax.global]\nflags = ["-v"]\n',
    )
    decision = module.check(["-x"])
    assert not decision.allowed
    assert decision.rule_id == "airlock.unreadable"
    assert "`-x` is not an option this module knows" in decision.reason
    assert decision.reading is None
    with pytest.raises(ValueError, match="cannot read the argv reliably"):
        module.readings(["-x"])


def test_a_policy_of_modules() -> None:
    policy = Policy([compile("terraform.toml", TERRAFORM), compile("git.toml", GIT)])
    assert policy.commands == ["git", "terraform"]
    assert "git" in policy and "rm" not in policy
    assert len(policy) == 2
    assert policy.check("git", ["status"]).allowed
    assert policy.check("terraform", ["apply", "-auto-approve"]).rule_id == (
        "terraform.auto-approve"
    )
    unknown = policy.check("rm", ["-rf", "/"])
    assert not unknown.allowed
    assert unknown.rule_id == "airlock.unknown-command"
    assert unknown.reason == "unknown command"
    assert unknown.reading is None
    git = policy.module("git")
    assert git is not None and git.bin == "git"
    assert policy.module("rm") is None
    assert not Policy().check("git", []).allowed


def test_a_second_module_for_one_program_is_an_error() -> None:
    first = compile("a.toml", GIT)
    second = compile("b.toml", GIT)
    with pytest.raises(CompileError) as caught:
        Policy([first, second])
    assert caught.value.kind == "duplicate"
    assert caught.value.source == "b.toml"
    assert (caught.value.line, caught.value.column) == (2, 7)


def test_compile_errors_carry_the_place() -> None:
    with pytest.raises(CompileError) as caught:
        compile("broken.toml", '[command]\nbin = "x"\n[deny]\nargs = ["--a=[z-a]"]\n')
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.kind == "glob"
    assert error.source == "broken.toml"
    assert error.line == 4
    assert error.column > 1
    assert error.line_text == 'args = ["--a=[z-a]"]'
    assert error.caret_width >= 1
    assert error.message in str(error)
    assert "--> broken.toml:4:" in str(error)
    assert "^" in str(error).splitlines()[-1]


def test_an_example_that_does_not_hold_fails_the_compile() -> None:
    with pytest.raises(CompileError) as caught:
        compile("t.toml", TERRAFORM.replace('"apply", "apply -auto', '"apply -auto-approve", "x'))
    assert caught.value.kind == "example"
    assert caught.value.source == "t.toml"
    assert caught.value.line > 1


def test_toml_errors_have_line_and_column() -> None:
    with pytest.raises(CompileError) as caught:
        compile("broken.toml", "[command]\nbin = 42\n")
    assert (caught.value.kind, caught.value.line, caught.value.column) == ("toml", 2, 7)
    assert "invalid type" in caught.value.message


def test_extending_a_builtin() -> None:
    git = airlock_policy.builtin("git")
    mine = compile(
        "commands/git.toml",
        '[command]\nbin = "git"\nextends = "builtin:git"\n'
        '[[rule]]\nid = "mine.push"\naction = "deny"\nargs = "push"\n',
        extends=git,
    )
    assert mine.check(["push"]).rule_id == "mine.push"
    # The built-in still decides first.
    assert mine.check(["-c", "core.fsmonitor=x", "status"]).rule_id is not None
    assert not mine.check(["-c", "core.fsmonitor=x", "status"]).allowed
    assert mine.check(["status"]).allowed
    with pytest.raises(CompileError) as caught:
        compile("commands/git.toml", '[command]\nbin = "git"\nextends = "builtin:git"\n')
    assert caught.value.kind == "extends"


def test_builtins() -> None:
    names = airlock_policy.builtin_names()
    assert names == sorted(names)
    assert {"git", "ssh", "terraform"} <= set(names)
    policy = builtins()
    assert policy is Policy.builtins()
    assert policy.commands == names
    assert "[command]" in airlock_policy.builtin_source("git")
    assert airlock_policy.builtin_notes("git").strip()
    assert airlock_policy.builtin("ssh").bin == "ssh"
    for lookup in (airlock_policy.builtin, airlock_policy.builtin_source, airlock_policy.builtin_notes):
        with pytest.raises(KeyError):
            lookup("no-such-tool")


def test_builtin_decisions() -> None:
    policy = builtins()
    denied = policy.check("git", ["fetch", "--upload-pac=touch /tmp/x", "origin"])
    assert denied.rule_id == "git.upload-pack"
    assert denied.location is not None and denied.location.source == "builtin:git.toml"
    assert denied.location.line > 1
    assert policy.check("git", ["add", "-u"]).allowed
    assert not policy.check("ssh", ["-A", "host"]).allowed
    assert not policy.check("ssh", ["-4A", "host"]).allowed
    assert policy.check("ssh", ["-v", "host", "uptime"]).allowed


def test_argv_must_be_a_sequence_of_str() -> None:
    module = compile("git.toml", GIT)
    with pytest.raises(TypeError):
        module.check("clone --upload-pack=x")  # a str is a Sequence[str] to mypy; it raises here
    with pytest.raises(TypeError):
        module.check(["clone", 1])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        module.check(None)  # type: ignore[arg-type]
    assert module.check(("status",)).allowed
    assert module.check([]).allowed


def test_strange_text_does_not_crash() -> None:
    module = compile("git.toml", GIT)
    # A lone surrogate is not UTF-8: the binding raises, it never guesses.
    with pytest.raises(UnicodeEncodeError):
        module.check(["clone", "\udcff"])
    decision = module.check(["clone", "--upload-pack=\x00é\u202e", "r"])
    assert decision.rule_id == "git.upload-pack"
    assert decision.reading is not None
    opt = decision.reading.option("--upload-pack")
    assert opt is not None and opt.value == "\x00é\u202e"
    assert opt.value_span is not None
    # Spans count UTF-8 bytes, as the engine does.
    assert (opt.value_span.start, opt.value_span.end) == (14, 14 + len("\x00é\u202e".encode()))
    long = ["x" * 100_000] * 1_000
    assert module.check(long).allowed


def test_decisions_from_many_threads() -> None:
    policy = builtins()
    results: list[tuple[bool, str | None]] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(200):
            a = policy.check("git", ["status"])
            d = policy.check("git", ["-c", "core.pager=x", "log"])
            with lock:
                results.append((a.allowed, a.rule_id))
                results.append((d.allowed, d.rule_id))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 1600
    assert set(results) == {
        (True, policy.check("git", ["status"]).rule_id),
        (False, policy.check("git", ["-c", "k=v", "log"]).rule_id),
    }


def test_reprs() -> None:
    decision = compile("terraform.toml", TERRAFORM).check(["apply", "-auto-approve"])
    assert repr(decision).startswith("Decision(verdict=\"deny\", rule_id=\"terraform.auto-approve\"")
    assert decision.reading is not None
    assert repr(decision.reading) == 'Reading("apply -auto-approve")'
    assert "Policy(commands=" in repr(builtins())


def test_a_decision_describes_the_argv_it_checked_even_if_the_list_changes() -> None:
    module = compile("git.toml", GIT)
    argv = ["clone", "--upload-pack=x", "repo"]
    decision = module.check(argv)
    argv[1] = "--quiet"
    argv.append("more")
    assert not decision.allowed
    assert decision.rule_id == "git.upload-pack"
    assert decision.reading is not None
    assert str(decision.reading) == "clone --upload-pack=x repo"
    # The details are the same on every look.
    assert str(decision) == str(decision)
    assert decision.reading.options == decision.reading.options


def test_a_decisions_details_from_many_threads_at_once() -> None:
    decision = builtins().check("git", ["-C", "sub", "log", "--output=o.txt", "main"])
    seen: list[tuple[str | None, str, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def look() -> None:
        start.wait()
        reading = decision.reading
        assert reading is not None
        with lock:
            seen.append((decision.rule_id, decision.reason, str(reading)))

    threads = [threading.Thread(target=look) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8
    assert len(set(seen)) == 1
    assert seen[0][2] == "log -C=sub --output=o.txt main"
