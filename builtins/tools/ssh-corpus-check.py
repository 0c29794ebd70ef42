#!/usr/bin/env python3
"""Runs every case of builtins/tests/data/cases/ssh.toml through the installed ssh
with `-G` (print the configuration, connect nowhere) and prints what ssh made of it:
its exit status and the configuration lines the argv changed, next to the case's
`why`. Everyday cases must be read without an error (exit 0). Connect-time effects
(markers) are shown by ssh-verify.sh."""
import os, subprocess, sys, tomllib
HERE = os.path.dirname(os.path.abspath(__file__))
corpus = tomllib.load(open(os.path.join(HERE, "..", "tests", "data", "cases", "ssh.toml"), "rb"))
def g(args):
    r = subprocess.run(["ssh", "-G", "-F", "/dev/null", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return r.returncode, set(r.stdout.splitlines()), r.stderr.strip().splitlines()
_, base, _ = g(["host"])
bad = 0
for case in corpus["case"]:
    args = case["args"]
    code, lines, err = g(args)
    changed = sorted(l for l in lines - base if not l.startswith(("hostname ", "user ")))
    if case["class"] == "everyday" and code != 0:
        bad += 1
        print("FAIL everyday", args, err[-1:] if err else "")
    elif "-v" in sys.argv:
        print(case["expect"], args, "exit", code, changed[:3], err[-1:] if err else "")
print(bad, "everyday cases ssh could not read")
sys.exit(1 if bad else 0)
