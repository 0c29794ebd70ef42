#!/usr/bin/env python3
"""Runs every case of tests/data/cases/git.toml against the real git, unprotected.

    git-verify.py [--git PATH] [CASE-SUBSTRING]

Each case runs in a fresh copy of a scratch workspace under /tmp/airlock-git-verify
(the payloads in the corpus name that path): `ws/` is a clone of the local bare
repository `other.git` (branches main and topic, tags, a submodule `sub`, a planted
pre-commit hook, a template directory `tpl/` whose config sets core.fsmonitor, a
strategy program `git-merge-x/evil`, an exec-path directory `x/` with a fake
git-upload-pack), and `home/` is a fake HOME whose .gitconfig holds a fake credential
(`http.extraHeader` with a FAKE-KEY marker). git runs with that HOME, an editor that
does nothing and stdin at end of file, and *without* the module's hardening: this shows
what each argv does when nothing stops it.

What it reports for each case:
- `marker`: the payload `touch /tmp/airlock-git-verify/outside/pwned` ran;
- `secret`: the FAKE-KEY marker was printed;
- `outside`: a file appeared in outside/ (a write beyond the workspace);
- `usage`: git refused the argv (exit 129, unknown option or usage): the argv is not
  one git reads.
Everyday cases must not be `usage`; program cases must show `marker` and credential
cases `secret` unless their `why` says "unverified". Exit status 1 lists the cases
that do not hold.
"""
import os
import random
import shutil
import subprocess
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "tests", "data", "cases", "git.toml")
T = "/tmp/airlock-git-verify"
MARK = os.path.join(T, "outside", "pwned")
SECRET = "FAKE-KEY-%08x" % random.getrandbits(32)
GIT = "git"

# Steps run before a case (in the fresh workspace), and after it, for the cases whose
# effect needs a context or shows on the next command.
BEFORE = {
    "bisect run": [["bisect", "start", "HEAD", "HEAD~2"]],
    "bisect bad": [["bisect", "start"]],
    "bisect good": [["bisect", "start", "HEAD"]],
    "bisect reset": [["bisect", "start", "HEAD", "HEAD~2"]],
    "bisect visualize": [["bisect", "start", "HEAD", "HEAD~2"]],
    "stash pop": [["stash", "push", "-m", "x"]],
    "stash drop": [["stash", "push", "-m", "x"]],
    "stash show": [["stash", "push", "-m", "x"]],
    "rebase --continue": [],
    "mergetool": [],
    "remote remove upstream": [["remote", "add", "upstream", "https://example.com/r.git"]],
}
AFTER = {
    "init --tem": [["-C", "newrepo", "status"]],
    "clone --template": [["-C", "d", "status"]],
    "clone -c": [["-C", "d", "status"]],
    "clone --conf": [["-C", "d", "status"]],
    "config core.fsmonitor": [["status"]],
    "config --local --add": [["status"]],
    "config set": [["status"]],
}
# Not run: they serve the network, change this machine's scheduler, or send mail.
NOT_RUN = ["daemon", "instaweb", "maintenance start", "send-email"]


def run(args, cwd, env, timeout=30):
    try:
        p = subprocess.run([GIT, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return -1, "timeout"


def sh(cmd, cwd=None, env=None):
    subprocess.run(cmd, cwd=cwd, env=env, shell=True, check=True, capture_output=True)


def setup(env):
    shutil.rmtree(T, ignore_errors=True)
    for d in ("home", "outside"):
        os.makedirs(os.path.join(T, d))
    with open(os.path.join(T, "home", ".gitconfig"), "w") as f:
        f.write("[user]\n\tname = A\n\temail = a@example.com\n"
                "[http]\n\textraHeader = Authorization: Bearer %s\n"
                "[protocol \"file\"]\n\tallow = always\n"
                "[init]\n\tdefaultBranch = main\n" % SECRET)
    sh("git init -q --bare other.git", T, env)
    sh("git clone -q other.git seed && cd seed && printf 'one\\nTODO two\\n' > a.txt && "
       "git add a.txt && git commit -qm one && echo 3 >> a.txt && git commit -qam two && "
       "echo 4 >> a.txt && git commit -qam three && git tag v1 && "
       "git switch -qc topic HEAD~1 && echo t > t.txt && git add t.txt && "
       "git commit -qm topic && git push -q origin main topic v1", T, env)
    sh("git clone -q other.git ws", T, env)
    ws = os.path.join(T, "ws")
    sh("git branch -q topic origin/topic && git config airlock.repos %s/ws-run && "
       "git config user.name A && "
       "git submodule -q add ../other.git sub && git commit -qm sub && "
       "mkdir -p tpl x git-merge-x sub2 && "
       "printf '[core]\\n\\tfsmonitor = touch %s\\n' > tpl/config && "
       "printf '#!/bin/sh\\ntouch %s\\nexit 1\\n' > git-merge-x/evil && chmod +x git-merge-x/evil && "
       "printf '#!/bin/sh\\ntouch %s\\nexit 1\\n' > x/git-upload-pack && chmod +x x/git-upload-pack && "
       "printf '#!/bin/sh\\ntouch %s\\n' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit && "
       "printf 'diff --git a/../outside/p b/../outside/p\\nnew file mode 100644\\n--- /dev/null\\n+++ b/../outside/p\\n@@ -0,0 +1 @@\\n+x\\n' > p.diff && "
       "printf 'diff --git a/a.txt b/a.txt\\n--- a/a.txt\\n+++ b/a.txt\\n@@ -1 +1 @@\\n-one\\n+ONE\\n' > ok.diff"
       % (T, MARK, MARK, MARK, MARK), ws, env)
    shutil.copytree(os.path.join(T, "other.git"), os.path.join(T, "other-pristine.git"), symlinks=True)


def matching(table, args):
    joined = " ".join(args)
    return [steps for key, steps in table.items() if joined.startswith(key)]


def main():
    global GIT
    argv = sys.argv[1:]
    if argv[:1] == ["--git"]:
        GIT, argv = argv[1], argv[2:]
    only = argv[0] if argv else None
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": os.path.join(T, "home"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_EDITOR": "true",
        "GIT_SEQUENCE_EDITOR": "true",
        "GIT_PAGER": "cat",
        "GIT_TERMINAL_PROMPT": "0",
        "LANG": "C",
    }
    setup(env)
    with open(CORPUS, "rb") as f:
        cases = tomllib.load(f)["case"]
    failures = []
    for case in cases:
        args = case["args"]
        if only and only not in " ".join(args):
            continue
        if any(" ".join(args).startswith(n) for n in NOT_RUN):
            print("%-5s %-12s not run %s" % (case["expect"], case["class"], " ".join(args)))
            continue
        run_dir = os.path.join(T, "ws-run")
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.rmtree(os.path.join(T, "other.git"), ignore_errors=True)
        shutil.copytree(os.path.join(T, "ws"), run_dir, symlinks=True)
        shutil.copytree(os.path.join(T, "other-pristine.git"), os.path.join(T, "other.git"), symlinks=True)
        for name in os.listdir(os.path.join(T, "outside")):
            os.remove(os.path.join(T, "outside", name))
        for steps in matching(BEFORE, args):
            for step in steps:
                run(step, run_dir, env)
        code, out = run(args, run_dir, env)
        for steps in matching(AFTER, args):
            for step in steps:
                _, more = run(step, run_dir, env)
                out += more
        seen = []
        if os.path.exists(MARK):
            seen.append("marker")
        if SECRET in out:
            seen.append("secret")
        if os.listdir(os.path.join(T, "outside")) and "marker" not in seen:
            seen.append("outside")
        lowered = out.lower()
        if code == 129 or "unknown option" in lowered or "unrecognized argument" in lowered or "usage: git" in lowered:
            seen.append("usage")
        report = "%-5s %-12s rc=%-4s %-18s %s" % (case["expect"], case["class"], code, ",".join(seen) or "-", " ".join(args))
        print(report)
        unverified = "unverified" in case["why"]
        if case["class"] == "everyday" and "usage" in seen:
            failures.append(report + "\n    " + out.strip().replace("\n", "\n    ")[:600])
        if case["class"] == "program" and "marker" not in seen and not unverified:
            failures.append(report + "\n    " + out.strip().replace("\n", "\n    ")[:600])
        if case["class"] == "credential" and "secret" not in seen and not unverified:
            failures.append(report + "\n    " + out.strip().replace("\n", "\n    ")[:600])
    print("\n%d cases, %d do not hold" % (len(cases), len(failures)))
    for failure in failures:
        print(failure)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
