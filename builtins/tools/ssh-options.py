#!/usr/bin/env python3
"""The ssh module's option table, read from the installed ssh.

    ssh-options.py letters    the option letters ssh's getopt accepts, as
                              `flags`/`values` for [syntax.global]
    ssh-options.py keywords   every `-o` keyword the installed ssh knows (aliases and
                              deprecated ones too), and whether the module admits it
    ssh-options.py write      regenerates the `ssh.option-keywords` rule in
                              modules/ssh.toml from ssh-o-allowed.txt
    ssh-options.py check      exits 1 when the installed ssh has an option letter the
                              module does not declare (or declares with another
                              kind), when an allowed keyword is unknown to it, or
                              when the generated rule is out of date

Nothing connects anywhere: `ssh -G` prints the configuration an argv yields and exits,
and getopt errors come before any of that. Run it when moving to a new OpenSSH, then
classify what it reports in modules/ssh.toml (builtins/tests/ssh_options.rs runs the
same checks in Rust in CI).
"""
import os
import re
import string
import subprocess
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE = os.path.join(HERE, "..", "modules", "ssh.toml")
ALLOWED = os.path.join(HERE, "ssh-o-allowed.txt")
BEGIN = "# BEGIN ssh.option-keywords"
END = "# END ssh.option-keywords"
# ssh ends a keyword at whitespace, `"` or `=` (strdelim in misc.c); the module admits
# only these three separators after an allowed keyword.
SEPARATORS = [" ", "\t", "="]


def ssh(*args):
    run = subprocess.run(
        ["ssh", "-G", "-F", "/dev/null", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=10,
    )
    return run.returncode, run.stdout, run.stderr


def letters():
    """{letter: "flag" | "value"} for every option letter getopt accepts."""
    found = {}
    for c in string.ascii_letters + string.digits:
        _, out, err = ssh("-" + c)
        text = out + err
        if "unknown option -- " + c in text or "illegal option -- " + c in text:
            continue
        found[c] = "value" if "option requires an argument -- " + c in text else "flag"
    return found


def allowed_keywords():
    """[(keyword, "any" | "only", [values])] from ssh-o-allowed.txt."""
    out = []
    for line in open(ALLOWED, encoding="utf-8"):
        line = line.split("#", 1)[0].split()
        if not line:
            continue
        keyword, mode, *values = line
        if mode not in ("any", "only") or not values:
            sys.exit(f"ssh-o-allowed.txt: `{' '.join(line)}`: write KEYWORD any SAMPLE or KEYWORD only V...")
        out.append((keyword, mode, values))
    return out


def known_keywords():
    """Every `-o` keyword the installed ssh accepts, found by trying each word (and
    each tail of a word: the linker merges strings that end alike) of the binary's
    strings, and the keys `ssh -G` prints."""
    binary = subprocess.run(["sh", "-c", "command -v ssh"], capture_output=True, text=True).stdout.strip()
    words = set()
    data = open(os.path.realpath(binary), "rb").read()
    for m in re.finditer(rb"[a-z][a-z0-9]{2,}(?=\x00)", data):
        word = m.group().decode()
        for i in range(len(word) - 2):
            words.add(word[i:])
    _, out, _ = ssh("host")
    words.update(line.split(" ", 1)[0] for line in out.splitlines() if line)
    known = []
    for word in sorted(words):
        code, _, err = ssh("-o", word + "=x", "host")
        if "Bad configuration option" in err:
            continue
        known.append(word)
    return known


def generated_rule():
    """The `ssh.option-keywords` rule: a glob that matches every `-o` value whose
    keyword (with its value, for `only` keywords) is not allowed. Globs have no
    negation, so the complement of the allowed set is built from a trie: at each
    prefix of an allowed spelling, a value that ends there (unless the prefix is
    itself allowed) or continues with a character no allowed spelling continues with
    is matched."""
    root = {}
    WILD, EXACT = "\0wild", "\0exact"
    for keyword, mode, values in allowed_keywords():
        spellings = []
        if mode == "any":
            spellings = [(keyword.lower() + sep, WILD) for sep in SEPARATORS]
        else:
            for value in values:
                spellings += [(keyword.lower() + sep + value.lower(), EXACT) for sep in ("=", " ")]
        for text, end in spellings:
            node = root
            for ch in text:
                node = node.setdefault(ch, {})
            node[end] = True
    alternatives = []

    def escape(text):
        for ch in text:
            if ch in "*?[]{}\\,!-":
                raise SystemExit(f"unexpected `{ch}` in an allowed spelling")
        return text

    def walk(prefix, node):
        if WILD in node:
            return
        if EXACT not in node:
            alternatives.append(escape(prefix))
        children = sorted(ch for ch in node if not ch.startswith("\0"))
        if children:
            alternatives.append(escape(prefix) + "[!" + "".join(children) + "]*")
        else:
            alternatives.append(escape(prefix) + "?*")
        for ch in children:
            walk(prefix + ch, node[ch])

    walk("", root)
    glob = "{" + ",".join(alternatives) + "}"
    toml_glob = glob.replace("\\", "\\\\").replace("\t", "\\t").replace('"', '\\"')
    keywords = [k for k, _, _ in allowed_keywords()]
    samples = []
    for keyword, mode, values in allowed_keywords():
        samples.append(f"-o {keyword}={values[0]} host")
    lines = [
        BEGIN + " (generated by builtins/tools/ssh-options.py from",
        "# builtins/tools/ssh-o-allowed.txt: edit that list, then run `ssh-options.py write`)",
        "[[rule]]",
        'id = "ssh.option-keywords"',
        'action = "deny"',
        "ignore_case = true",
        f'args = "-o={toml_glob}"',
        'reason = "this `-o` keyword is not one the module knows to be harmless (builtins/tools/ssh-o-allowed.txt lists those); the options that have their own flag (-l, -p, -i) are the way to set user, port and identity"',
        'match = ["-o ProxyCommand=x host", "-o SmartcardDevice=./evil.so host", "-o GSSAPIDelegateCredentials=yes host", "-o ForkAfterAuthentication=yes host cmd", "-o ConnectTimeout host", "-o ConnectTimeoutX=5 host", "-o StrictHostKeyChecking=no host", "-o StrictHostKeyChecking=accept-new host", "-o =ProxyCommand=x host", "-o \' BatchMode=yes\' host"]',
        "not_match = [" + ", ".join('"%s"' % s for s in samples) + ', "-o batchmode=YES host", "-o \'ConnectTimeout 5\' host", "-o StrictHostKeyChecking=YES host", "-o \'stricthostkeychecking yes\' host"]',
        END,
    ]
    return "\n".join(lines) + "\n"


def module_block(text):
    start = text.index(BEGIN)
    end = text.index(END, start) + len(END) + 1
    return start, end


def write():
    text = open(MODULE, encoding="utf-8").read()
    start, end = module_block(text)
    open(MODULE, "w", encoding="utf-8").write(text[:start] + generated_rule() + text[end:])


def declared():
    """{letter: kind} as modules/ssh.toml declares them."""
    module = tomllib.load(open(MODULE, "rb"))
    scope = module["syntax"]["global"]
    out = {}
    for kind, key in (("flag", "flags"), ("value", "values")):
        for entry in scope.get(key, []):
            for name in entry.split("|"):
                out[name.lstrip("-")] = kind
    return out


def check():
    problems = []
    have, want = letters(), declared()
    for c, kind in sorted(have.items()):
        if c not in want:
            problems.append(f"ssh accepts -{c} ({kind}); the module does not declare it: classify it")
        elif want[c] != kind:
            problems.append(f"ssh reads -{c} as a {kind}; the module declares a {want[c]}")
    for c in sorted(set(want) - set(have)):
        problems.append(f"the module declares -{c}, which this ssh rejects")
    for keyword, _, values in allowed_keywords():
        # An alias (ChallengeResponseAuthentication) is printed under its canonical
        # name, so what counts is that ssh takes it without a complaint.
        code, _, err = ssh("-o", f"{keyword}={values[0]}", "host")
        if code != 0 or re.search(r"(?i)(bad|unsupported|deprecated) .*option", err):
            problems.append(f"allowed keyword {keyword}={values[0]}: ssh -G says {err.strip() or 'nothing'}")
    text = open(MODULE, encoding="utf-8").read()
    start, end = module_block(text)
    if text[start:end] != generated_rule():
        problems.append("the ssh.option-keywords rule is out of date: run `ssh-options.py write`")
    for p in problems:
        print(p)
    return 1 if problems else 0


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "letters":
        found = letters()
        print('flags = [%s]' % ", ".join('"-%s"' % c for c, k in found.items() if k == "flag"))
        print('values = [%s]' % ", ".join('"-%s"' % c for c, k in found.items() if k == "value"))
    elif command == "keywords":
        allowed = {k.lower() for k, _, _ in allowed_keywords()}
        for keyword in known_keywords():
            print(("allowed " if keyword in allowed else "denied  ") + keyword)
    elif command == "write":
        write()
    elif command == "check":
        sys.exit(check())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
