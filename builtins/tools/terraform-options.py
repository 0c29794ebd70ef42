#!/usr/bin/env python3
"""The terraform module's option tables, read from the installed terraform.

    terraform-options.py table    prints `[syntax.commands.X]` bools/values for every
                                  subcommand, as the installed terraform reads them
    terraform-options.py check    exits 1 when the installed terraform has a
                                  subcommand the module does not declare, or an
                                  option of a subcommand the module allows (of any
                                  subcommand, with --all) that the module does not
                                  declare or declares with another kind

terraform's `-help` texts leave options out (apply takes every planning option but
lists few), so the names come from every subcommand's help text together, and each
name is then asked of each subcommand: `terraform CMD -NAME=airlock-probe
-airlock-undefined` never runs anything (Go's flag package stops at the first error)
and says whether -NAME exists there and whether it is a boolean
(`invalid boolean value`), a typed value (`invalid value`) or a string (the next,
undefined flag is the error). It runs in an empty directory with an empty HOME and
no CLI configuration, so nothing is read or reached. Run it when moving to a new
terraform and classify what it reports in modules/terraform.toml;
builtins/tests/terraform_options.rs runs `check` in CI.
"""
import atexit
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE = os.path.join(HERE, "..", "modules", "terraform.toml")
WORK = tempfile.mkdtemp(prefix="terraform-options.")
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
ENV = {
    "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
    "HOME": WORK,
    "TF_CLI_CONFIG_FILE": "/dev/null",
    "TF_IN_AUTOMATION": "1",
    "TF_INPUT": "0",
    "CHECKPOINT_DISABLE": "1",
}
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Names terraform reads but documents in no help text of 1.11 (they are probed like
# the others; a name that does not exist is simply not reported).
UNDOCUMENTED = ["-ignore-remote-version", "-json", "-h", "-help", "-cloud", "-var", "-var-file"]


def terraform(*args):
    run = subprocess.run(
        ["terraform", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd=WORK,
        env=ENV,
        timeout=60,
    )
    return ANSI.sub("", run.stdout + run.stderr)


def section(text, title):
    m = re.search(title + r":\n((?:[ \t]+\S.*\n?)+)", text)
    return [line.split()[0] for line in m.group(1).splitlines() if line.strip()] if m else []


def subcommands():
    """Every subcommand path: the top-level ones of `terraform -help`, the nested ones
    of each one's help (`state rm`, ...), and `env` (the deprecated name of
    `workspace`, which the help leaves out)."""
    top = terraform("-help")
    commands = section(top, "Main commands") + section(top, "All other commands")
    commands.append("env")
    paths = []
    for command in commands:
        paths.append(command)
        nested = section(terraform(command, "-help"), "Subcommands")
        if command == "env":
            nested = section(terraform("workspace", "-help"), "Subcommands")
        paths += [command + " " + sub for sub in nested]
    return paths


def candidate_names(paths):
    names = set(UNDOCUMENTED)
    for path in paths:
        for m in re.finditer(r"^\s+(-[a-z][a-z0-9-]*)", terraform(*path.split(), "-help"), re.M):
            names.add(m.group(1))
    return sorted(names)


def probe(path, name):
    """"bool", "value" or None: how `terraform PATH` reads -NAME."""
    text = terraform(*path.split(), name + "=airlock-probe", "-airlock-undefined")
    undefined = re.search(r"flag provided but not defined: (-\S+)", text)
    if undefined and undefined.group(1) == name:
        return None
    if re.search(r'invalid boolean value "airlock-probe" for ' + re.escape(name) + ":", text):
        return "bool"
    if re.search(r'invalid value "airlock-probe" for flag ' + re.escape(name) + ":", text):
        return "value"
    if undefined and undefined.group(1) == "-airlock-undefined":
        return "value"
    return "?"  # this subcommand prints its usage and says nothing more (import, login)


def help_options(path):
    """{name: kind} from the help text alone, for the subcommands that print their
    usage and nothing else on a bad flag (import, login, logout, the `env` names):
    `-name=true|false` and a bare `-name` are booleans, `-name=X` and `-name 'X'`
    take a value."""
    out = {}
    text = terraform(*path.split(), "-help")
    for m in re.finditer(r"^[ \t]+(-[a-z][a-z0-9-]*)(?=[= \t]|$)(=(\S+)| '[^']*'| [A-Z]+\b)?", text, re.M):
        name, value, attached = m.group(1), m.group(2), m.group(3)
        if name not in ("-h", "-help", "-no-color"):
            out[name] = "bool" if value is None or attached in ("true", "false") else "value"
    return out


def table(paths=None):
    """{path: {name: kind}} for every subcommand path (or those given)."""
    paths = paths or subcommands()
    # -h and -help are answered by the CLI library before any subcommand parses, and
    # -no-color is taken out of the argv, wherever it is, before the flags are parsed
    # (the module declares all three as flags of every scope).
    names = [n for n in candidate_names(subcommands()) if n not in ("-h", "-help", "-no-color")]
    jobs = [(p, n) for p in paths for n in names]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        kinds = list(pool.map(lambda job: probe(*job), jobs))
    out = {p: {} for p in paths}
    silent = {p: True for p in paths}
    for (p, n), kind in zip(jobs, kinds):
        if kind != "?":
            silent[p] = False
        if kind and kind != "?":
            out[p][n] = kind
    for p in paths:
        if silent[p]:
            out[p] = help_options(p)
    return out


def allowed_paths():
    """The subcommand paths the module's allow rules name."""
    module = tomllib.load(open(MODULE, "rb"))
    return sorted({r["command"] for r in module.get("rule", []) if r["action"] == "allow" and "command" in r})


def declared():
    """{path: {name: kind}} as modules/terraform.toml declares them."""
    module = tomllib.load(open(MODULE, "rb"))
    out = {}
    for path, scope in module["syntax"].get("commands", {}).items():
        kinds = {}
        for kind, key in (("bool", "bools"), ("value", "values"), ("flag", "flags")):
            for entry in scope.get(key, []):
                for name in entry.split("|"):
                    kinds[name] = kind
        out[path] = kinds
    return out


def check(everything=False):
    """Every subcommand must be known to the module; every option of an allowed one
    (of every one with `--all`) declared with its kind."""
    problems = []
    want = declared()
    for path in subcommands():
        if path not in want:
            problems.append(f"terraform has the subcommand `{path}`; the module does not declare it: classify it")
    have = table(None if everything else allowed_paths())
    for path, options in sorted(have.items()):
        if path not in want:
            continue
        for name, kind in sorted(options.items()):
            got = want[path].get(name)
            if got is None:
                problems.append(f"`terraform {path}` takes {name} ({kind}); the module does not declare it")
            elif got != kind:
                problems.append(f"`terraform {path}` reads {name} as a {kind}; the module declares a {got}")
        for name, got in sorted(want[path].items()):
            if got != "flag" and name not in options:
                problems.append(f"the module declares {name} for `{path}`, which this terraform does not take")
    for path in sorted(set(want) - set(subcommands())):
        problems.append(f"the module declares `{path}`, which this terraform does not have")
    for p in problems:
        print(p)
    print(f"{len(have)} subcommands, {sum(len(o) for o in have.values())} options checked", file=sys.stderr)
    return 1 if problems else 0


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "table":
        for path, options in table().items():
            print(f'[syntax.commands."{path}"]' if " " in path else f"[syntax.commands.{path}]")
            bools = [n for n, k in sorted(options.items()) if k == "bool"]
            values = [n for n, k in sorted(options.items()) if k != "bool"]
            if bools:
                print("bools = [" + ", ".join(f'"{n}"' for n in bools) + "]")
            if values:
                print("values = [" + ", ".join(f'"{n}"' for n in values) + "]")
            print()
    elif command == "check":
        sys.exit(check("--all" in sys.argv))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
