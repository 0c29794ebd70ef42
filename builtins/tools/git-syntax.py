#!/usr/bin/env python3
"""Prints `[syntax.commands.X]` tables for the git module from `git X -h`.

The option lists of git's subcommands come from git itself (parse-options prints
every option it accepts), so the module reads argv the way that git version does.
Run it when moving to a new git and paste the output into modules/git.toml.
"""
import re
import subprocess
import sys

COMMANDS = sys.argv[1:]


def options(command):
    run = subprocess.run(["git", command, "-h"], capture_output=True, text=True)
    out = run.stdout + run.stderr
    flags, values, optional = [], [], []
    for line in out.splitlines():
        m = re.match(r"^ {4}(-.*)$", line)
        if not m:
            continue
        spec = re.split(r"\s{2,}", m.group(1).strip())[0]
        names, arg = [], None
        for part in [p.strip() for p in spec.split(",")]:
            pm = re.match(r"^(?:--\[no-\]([A-Za-z0-9][A-Za-z0-9-]*)|(-{1,2}[A-Za-z0-9][A-Za-z0-9-]*))(.*)$", part)
            if not pm:
                continue
            negated_name, plain_name, rest = pm.groups()
            negatable = negated_name is not None
            name = "--" + negated_name if negatable else plain_name
            if not name.startswith("--") and len(name) > 2:
                continue  # -NUM and the like
            names.append(name)
            stripped = rest.lstrip()
            if rest.startswith("[=") or rest.startswith("[<"):
                arg = "optional"
            elif rest.startswith("<") or (rest.startswith(" ") and stripped[:1] in ("<", "(", "[")):
                arg = "value"
            if negatable:
                flags.append("--no-" + name[2:])
        if not names:
            continue
        entry = "|".join(names)
        {"value": values, "optional": optional}.get(arg, flags).append(entry)
    seen = set()
    def unique(items):
        out = []
        for item in items:
            names = [n for n in item.split("|") if n not in seen]
            seen.update(names)
            if names:
                out.append("|".join(names))
        return out
    return unique(values), unique(optional), unique(flags)


def fmt(items):
    return "[" + ", ".join('"%s"' % i for i in items) + "]"


for command in COMMANDS:
    values, optional, flags = options(command)
    print("[syntax.commands.%s]" % command)
    if flags:
        print("flags = " + fmt(flags))
    if values:
        print("values = " + fmt(values))
    if optional:
        print("optional = " + fmt(optional))
    print()
