#!/usr/bin/env python3
"""The docker module's option table, read from the installed docker client.

The docker CLI (cobra/pflag) prints every visible option of a command with
`docker COMMAND --help`: `-x, --name TYPE` takes a value, `--name` alone is a
boolean (it takes `=value` and never the next argument), `--name TYPE[="x"]` takes
a value only when attached. This script walks the commands the module declares,
reads their options from the installed client, and

  --write MODULE   regenerates the `[syntax]` section of MODULE (between the
                   `BEGIN GENERATED` and `END GENERATED` lines) from the table and
                   the classification below;
  --check MODULE   fails (exit 1) when the installed client has an option the
                   classification below does not name for a declared command, or
                   an option whose kind differs from the module's declaration, or
                   when the generated section is not what --write would write;
  --probe          also runs the client on each option (`--name` with no value must
                   fail with "flag needs an argument", a boolean `--name=x` with
                   "invalid argument"), so the kinds do not rest on the help text;
  --json           prints the table read from the client.

Every option of a declared command has a class (CLASSES, per command where the
meaning differs): harmless, path (with its path declaration in PATHS), program,
config, credential, destination, or host (gives a container or build the host:
namespaces, devices, capabilities, the engine). An option nobody classified fails
--check and --write: a client upgrade that adds an option fails closed (the module
denies it as undeclared) until someone classifies it here.

The reference client is the one CI has: docker 28.2.2 (the static client in
/usr/local/bin on the project's machines). `docker build` is the legacy builder
there; the options buildx adds to `build` (BUILDX_BUILD below, read from buildx's
own `commands/build.go`) are declared too, since with buildx installed `docker
build` is `docker buildx build`.

No engine is needed: the client is run with DOCKER_HOST pointing at a socket that
does not exist, and only `--help` and option parsing are exercised.
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
# Which commands the module reads. Each is declared under every alias docker prints
# (`docker container ls`, `docker ps`, ...). Commands not listed here are not read:
# the module denies them (unknown subcommand, and every option undeclared).

COMMANDS = [
    # containers
    "container run", "container create", "container start", "container stop",
    "container restart", "container kill", "container rm", "container pause",
    "container unpause", "container wait", "container rename", "container exec",
    "container logs", "container ls", "container inspect", "container port",
    "container top", "container stats", "container diff", "container cp",
    "container attach", "container commit", "container export", "container update",
    "container prune",
    # images
    "image build", "image pull", "image push", "image ls", "image inspect",
    "image history", "image tag", "image rm", "image save", "image load",
    "image import", "image prune",
    # volumes and networks
    "volume ls", "volume inspect", "volume create", "volume rm", "volume prune",
    "network ls", "network inspect", "network create", "network rm",
    "network connect", "network disconnect", "network prune",
    # the engine
    "system df", "system info", "system events", "system prune", "version",
    "inspect", "search",
    # registry credentials (declared so the deny rules read them exactly)
    "login", "logout",
]

# The allow list: these commands (under every alias) are what an agent may run. The
# others above are read (so an agent's module can allow them with `extends`) but not
# allowed here; modules/docker.md says why each is left out.
ALLOWED = [
    "container run", "container create", "container start", "container stop",
    "container restart", "container kill", "container rm", "container pause",
    "container unpause", "container wait", "container rename", "container exec",
    "container logs", "container ls", "container inspect", "container port",
    "container top", "container stats", "container diff", "container cp",
    "image build", "image pull", "image ls", "image inspect", "image history",
    "image tag", "image rm", "image save", "image load",
    "volume ls", "volume inspect", "network ls", "network inspect",
    "system df", "system info", "version", "inspect",
]

# Management commands whose own scope is declared (so `docker container --help`
# and the like read), in addition to their subcommands.
GROUPS = ["container", "image", "volume", "network", "system", "builder"]

# Options buildx adds to `docker build` (buildx commands/build.go, v0.36; value
# options unless marked). Checked against buildx's source, not a binary: buildx is
# not installable on the project's machines.
BUILDX_BUILD = {
    "--allow": "value", "--annotation": "value", "--attest": "value",
    "--build-context": "value", "--builder": "value", "--cache-to": "value",
    "--call": "value", "--check": "bool", "-D|--debug": "bool", "--load": "bool",
    "--metadata-file": "value", "--no-cache-filter": "value", "-o|--output": "value",
    "--policy": "value", "--progress": "value", "--provenance": "value",
    "--push": "bool", "--resource": "value", "--sbom": "value", "--secret": "value",
    "--ssh": "value", "--print": "value",
}

# Hidden options the help does not print but the client accepts (docker/cli v28.2.2
# `MarkHidden`/`MarkDeprecated`; the probe checks their kinds): an alias joins the
# option it names, the others are declared as they are.
HIDDEN = {
    "container run": {"--net": "--network", "--net-alias": "--network-alias",
                      "--dns-opt": "--dns-option"},
    "container create": {"--net": "--network", "--net-alias": "--network-alias",
                         "--dns-opt": "--dns-option"},
    "container stop": {"--time": "value"},
    "container restart": {"--time": "value"},
    "container update": {"--kernel-memory": "value"},
}

# Booleans declared as `optional` (a value only when attached, as a boolean's): the
# engine drops a boolean set to false from its reading, and the deny rules for these
# must see `--tlsverify=false` as well.
READ_AS_OPTIONAL = {("global", "--tls"), ("global", "--tlsverify")}

# ---------------------------------------------------------------------------------
# Classification. CLASSES[name] is the class of an option in every command that has
# it; SCOPED[(command, name)] overrides it for one command (the canonical command,
# before aliases).

HARMLESS, PATH, PROGRAM, CONFIG, CREDENTIAL, DESTINATION, HOST = (
    "harmless", "path", "program", "config", "credential", "destination", "host")

CLASSES = {
    # output and selection
    "--format": HARMLESS, "--filter": HARMLESS, "--no-trunc": HARMLESS,
    "--quiet": HARMLESS, "--all": HARMLESS, "--last": HARMLESS, "--latest": HARMLESS,
    "--size": HARMLESS, "--digests": HARMLESS, "--tree": HARMLESS, "--type": HARMLESS,
    "--human": HARMLESS, "--no-stream": HARMLESS, "--verbose": HARMLESS,
    "--details": HARMLESS, "--follow": HARMLESS, "--since": HARMLESS,
    "--until": HARMLESS, "--tail": HARMLESS, "--timestamps": HARMLESS,
    "--force": HARMLESS, "--volumes": HARMLESS, "--link": HARMLESS,
    "--time": HARMLESS, "--net": HOST, "--net-alias": HARMLESS, "--dns-opt": HARMLESS, "--signal": HARMLESS, "--limit": HARMLESS,
    "--no-prune": HARMLESS, "--condition": HARMLESS, "--debug": HARMLESS,
    "--log-level": HARMLESS, "--version": HARMLESS, "--alias": HARMLESS,
    "--label": HARMLESS, "--name": HARMLESS, "--platform": HARMLESS,
    "--message": HARMLESS, "--change": HARMLESS, "--pause": HARMLESS,
    "--author": HARMLESS, "--checkpoint": HARMLESS, "--checkpoint-dir": PATH,
    "--attach": HARMLESS, "--interactive": HARMLESS, "--tty": HARMLESS,
    "--detach": HARMLESS, "--detach-keys": HARMLESS, "--sig-proxy": HARMLESS,
    "--no-stdin": HARMLESS, "--env": HARMLESS, "--user": HARMLESS,
    "--workdir": HARMLESS, "--disable-content-trust": HARMLESS,
    "--all-tags": HARMLESS, "--pull": HARMLESS, "--no-cache": HARMLESS,
    "--quiet-pull": HARMLESS, "--help": HARMLESS, "--timeout": HARMLESS,
    "--cluster": HARMLESS, "--keep-storage": HARMLESS, "--reserved-space": HARMLESS,
    "--max-used-space": HARMLESS, "--min-free-space": HARMLESS,
    # network and volume objects the engine creates (drivers are below)
    "--attachable": HARMLESS, "--internal": HARMLESS, "--ipv4": HARMLESS,
    "--ipv6": HARMLESS, "--subnet": HARMLESS, "--gateway": HARMLESS,
    "--ip-range": HARMLESS, "--aux-address": HARMLESS, "--scope": HARMLESS,
    "--ingress": HARMLESS, "--config-only": HARMLESS, "--config-from": HARMLESS,
    "--ipam-opt": HARMLESS, "--ip": HARMLESS, "--ip6": HARMLESS,
    "--link-local-ip": HARMLESS, "--driver-opt": HARMLESS, "--gw-priority": HARMLESS,
    "--availability": HARMLESS, "--group": HARMLESS, "--required-bytes": HARMLESS,
    "--limit-bytes": HARMLESS, "--sharing": HARMLESS, "--topology-preferred": HARMLESS,
    "--topology-required": HARMLESS, "--secret": HARMLESS,
    # container resources and identity inside the container
    "--add-host": HARMLESS, "--annotation": HARMLESS, "--blkio-weight": HARMLESS,
    "--blkio-weight-device": HARMLESS, "--cap-drop": HARMLESS,
    "--cgroup-parent": HARMLESS, "--cpu-count": HARMLESS, "--cpu-percent": HARMLESS,
    "--cpu-period": HARMLESS, "--cpu-quota": HARMLESS, "--cpu-rt-period": HARMLESS,
    "--cpu-rt-runtime": HARMLESS, "--cpu-shares": HARMLESS, "--cpus": HARMLESS,
    "--cpuset-cpus": HARMLESS, "--cpuset-mems": HARMLESS,
    "--device-read-bps": HARMLESS, "--device-read-iops": HARMLESS,
    "--device-write-bps": HARMLESS, "--device-write-iops": HARMLESS,
    "--dns": HARMLESS, "--dns-option": HARMLESS, "--dns-search": HARMLESS,
    "--domainname": HARMLESS, "--entrypoint": HARMLESS, "--expose": HARMLESS,
    "--gpus": HARMLESS, "--group-add": HARMLESS, "--health-cmd": HARMLESS,
    "--health-interval": HARMLESS, "--health-retries": HARMLESS,
    "--health-start-interval": HARMLESS, "--health-start-period": HARMLESS,
    "--health-timeout": HARMLESS, "--hostname": HARMLESS, "--init": HARMLESS,
    "--io-maxbandwidth": HARMLESS, "--io-maxiops": HARMLESS, "--isolation": HARMLESS,
    "--kernel-memory": HARMLESS, "--log-driver": HARMLESS, "--log-opt": HARMLESS,
    "--mac-address": HARMLESS, "--memory": HARMLESS, "--memory-reservation": HARMLESS,
    "--memory-swap": HARMLESS, "--memory-swappiness": HARMLESS,
    "--network-alias": HARMLESS, "--no-healthcheck": HARMLESS,
    "--oom-kill-disable": HARMLESS, "--oom-score-adj": HARMLESS,
    "--pids-limit": HARMLESS, "--publish": HARMLESS, "--publish-all": HARMLESS,
    "--read-only": HARMLESS, "--restart": HARMLESS, "--rm": HARMLESS,
    "--shm-size": HARMLESS, "--stop-signal": HARMLESS, "--stop-timeout": HARMLESS,
    "--storage-opt": HARMLESS, "--sysctl": HARMLESS, "--tmpfs": HARMLESS,
    "--ulimit": HARMLESS, "--archive": HARMLESS, "--follow-link": HARMLESS,
    # build (legacy and buildx)
    "--build-arg": HARMLESS, "--cache-from": HARMLESS, "--compress": HARMLESS,
    "--force-rm": HARMLESS, "--squash": HARMLESS, "--tag": HARMLESS,
    "--target": HARMLESS, "--attest": HARMLESS, "--provenance": HARMLESS,
    "--sbom": HARMLESS, "--call": HARMLESS, "--check": HARMLESS, "--print": HARMLESS,
    "--progress": HARMLESS, "--no-cache-filter": HARMLESS, "--load": HARMLESS,
    "--resource": HARMLESS, "--policy": PATH,
    # host paths (PATHS says how)
    "--file": PATH, "--iidfile": PATH, "--metadata-file": PATH, "--cidfile": PATH,
    "--env-file": PATH, "--label-file": PATH, "--input": PATH, "--output": PATH,
    "--build-context": PATH, "--cache-to": PATH,
    # the container or build gets the host (rules deny the dangerous values)
    "--privileged": HOST, "--cap-add": HOST, "--device": HOST,
    "--device-cgroup-rule": HOST, "--security-opt": HOST, "--volume": HOST,
    "--mount": HOST, "--volumes-from": HOST, "--pid": HOST, "--network": HOST,
    "--ipc": HOST, "--uts": HOST, "--userns": HOST, "--cgroupns": HOST,
    "--use-api-socket": HOST, "--runtime": HOST, "--volume-driver": HOST,
    "--allow": HOST, "--ssh": CREDENTIAL, "--driver": HOST, "--opt": HOST,
    "--ipam-driver": HOST,
    # which engine, registry or builder
    "--host": DESTINATION, "--context": DESTINATION, "--builder": DESTINATION,
    "--push": DESTINATION,
    # client configuration and credentials
    "--config": CONFIG, "--tls": CONFIG, "--tlsverify": CONFIG,
    "--tlscacert": CREDENTIAL, "--tlscert": CREDENTIAL, "--tlskey": CREDENTIAL,
    "--username": CREDENTIAL, "--password": CREDENTIAL,
    "--password-stdin": CREDENTIAL,
}

SCOPED = {
    # `-l` is `--latest`-like in `ps`; `--label` elsewhere: the names are what differs.
    ("container ls", "--last"): HARMLESS,
    ("container exec", "--privileged"): HOST,
    ("container update", "--restart"): HARMLESS,
    ("image build", "--secret"): PATH,
    ("image build", "--network"): HOST,
    ("image build", "--output"): PATH,
    ("image import", "--change"): HARMLESS,
    ("container commit", "--change"): HARMLESS,
}

# Path declarations (TOML inline values), by canonical command and option.
BIND = '{ access = "write", before = ":", unless = ["[!/.~]*", ""] }'
FILE_OR_STDIN = '{ access = "read", unless = ["-"] }'
PATHS = {
    "container run": {"--volume": BIND, "--mount": '{ access = "write", fields = ["source", "src"] }',
                      "--env-file": '"read"', "--label-file": '"read"', "--cidfile": '"write"'},
    "container exec": {"--env-file": '"read"'},
    "image build": {"--file": FILE_OR_STDIN, "--iidfile": '"write"', "--metadata-file": '"write"',
                    "--secret": '{ access = "read", fields = ["src", "source"] }',
                    "--output": '{ access = "write", fields = ["dest"] }',
                    "--cache-to": '{ access = "write", fields = ["dest"] }',
                    "--policy": '{ access = "read", fields = ["filename"] }'},
    "container cp": {},
    "image save": {"--output": '"write"'},
    "image load": {"--input": '"read"'},
    "container export": {"--output": '"write"'},
    "login": {},
}
PATHS["container create"] = PATHS["container run"]
PATHS["global"] = {"--config": '"write"', "--tlscacert": '"read"', "--tlscert": '"read"',
                   "--tlskey": '"read"'}

# `docker cp SRC DEST`: the host side is the operand that is not `CONTAINER:PATH`.
CP_OPERAND = '{ access = "%s", prefix = [":", ""], unless = ["[!/.]*:*", "-"] }'
OPERANDS = {
    "image build": '[{ access = "read", unless = ["-", "*://*"] }]',
    "container cp": "[%s, %s]" % (CP_OPERAND % "read", CP_OPERAND % "write"),
    "image import": '[{ access = "read", unless = ["-", "*://*"] }]',
}

# run, create and exec stop reading options at the image (or container).
OPTIONS_UNTIL = {"container run": 1, "container create": 1, "container exec": 1}

# ---------------------------------------------------------------------------------


def env():
    home = tempfile.mkdtemp(prefix="airlock-docker-syntax-")
    # docker's configuration home for this run only: gone when the script ends.
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    e = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL")}
    e.update(HOME=home, DOCKER_CONFIG=os.path.join(home, ".docker"),
             DOCKER_HOST="unix://" + os.path.join(home, "no-engine.sock"),
             DOCKER_CLI_HINTS="false", COLUMNS="200")
    return e


ENV = env()


def run(args, timeout=20):
    r = subprocess.run(["docker"] + args, capture_output=True, text=True, env=ENV,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


OPTION_LINE = re.compile(
    r"^\s{2,}(?:-(?P<short>[A-Za-z0-9]), )?--(?P<long>[A-Za-z0-9][A-Za-z0-9-]*)"
    r"(?: (?P<type>[A-Za-z0-9.]+)(?P<noopt>\[=[^\]]*\])?)?(?:\s{2,}|$)")


def parse_help(text):
    """(aliases, children, options) from `--help` output."""
    aliases, children, options = [], [], []
    section = None
    for line in text.splitlines():
        if re.match(r"^[A-Z][A-Za-z ]*:\s*$", line):
            section = line.strip().rstrip(":")
            continue
        if section == "Aliases":
            for alias in line.split(","):
                words = alias.split()
                if words and words[0] == "docker":
                    aliases.append(" ".join(words[1:]))
        elif section and section.endswith("Commands"):
            m = re.match(r"^  ([a-z][a-z0-9-]*)\*?\s", line)
            if m:
                children.append(m.group(1))
        elif section in ("Options", "Global Options", "Flags"):
            m = OPTION_LINE.match(line)
            if m:
                names = ("-%s|" % m["short"] if m["short"] else "") + "--" + m["long"]
                kind = "bool" if not m["type"] else ("optional" if m["noopt"] else "value")
                options.append((names, kind))
    return aliases, children, options


def read_tool():
    """{canonical command: {"aliases": [...], "options": {names: kind}}}, plus global."""
    table = {}
    _, _, options = parse_help(run(["--help"])[1])
    table["global"] = {"aliases": [], "options": dict(options)}
    for group in GROUPS:
        _, _, options = parse_help(run([group, "--help"])[1])
        table[group] = {"aliases": [group], "options": dict(options)}

    def one(command):
        code, text = run(command.split() + ["--help"])
        aliases, _, options = parse_help(text)
        if code != 0 or "Usage:" not in text:
            raise SystemExit("docker %s --help failed: %s" % (command, text[:300]))
        if command not in aliases:
            aliases.insert(0, command)
        return command, {"aliases": aliases, "options": dict(options)}

    with ThreadPoolExecutor(4) as pool:
        for command, entry in pool.map(one, COMMANDS):
            table[command] = entry
    for command, hidden in HIDDEN.items():
        options = table[command]["options"]
        for name, what in hidden.items():
            if what in ("value", "bool", "optional"):
                options[name] = what
                continue
            names = next(n for n in options if canon(n) == what)
            options[names.replace(what, "%s|%s" % (what, name))] = options.pop(names)
    build = table["image build"]
    for names, kind in BUILDX_BUILD.items():
        if not any(canon(n) == canon(names) for n in build["options"]):
            build["options"][names] = kind
    build["buildx"] = sorted(BUILDX_BUILD)
    return table


def probe(table):
    """Runs the client on every option; returns the disagreements with the help text."""
    jobs = []
    for command, entry in table.items():
        if command in GROUPS:
            continue
        prefix = [] if command == "global" else command.split()
        for names, kind in entry["options"].items():
            if command == "image build" and names in BUILDX_BUILD:
                continue
            jobs.append((command, prefix, names, kind))

    def one(job):
        command, prefix, names, kind = job
        long = [n for n in names.split("|") if n.startswith("--")][-1]
        if command == "global":
            code, out = run([long] if kind != "bool" else [long + "=notabool"])
        elif kind == "bool":
            code, out = run(prefix + [long + "=notabool"])
        else:
            code, out = run(prefix + [long])
        if kind == "bool":
            ok = "invalid argument" in out or "strconv.ParseBool" in out
        elif kind == "value":
            ok = "flag needs an argument" in out
        else:
            ok = "flag needs an argument" not in out
        return None if ok else "%s %s: help says %s, the client disagrees: %s" % (
            command, names, kind, out.strip().splitlines()[:1])

    with ThreadPoolExecutor(4) as pool:
        return [r for r in pool.map(one, jobs) if r]


def canon(names):
    """The first long name of `-x|--name|--alias`."""
    return next(n for n in names.split("|") if n.startswith("--"))


def classify(command, names):
    long = canon(names)
    return SCOPED.get((command, long)) or CLASSES.get(long)


def toml_list(items, key):
    """`key = [...]` with the items grouped by class, one comment per class."""
    if not items:
        return []
    order = [HARMLESS, PATH, HOST, PROGRAM, CONFIG, CREDENTIAL, DESTINATION]
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
    """The generated `[syntax]` section, or raises with every unclassified option."""
    out, missing = [], []
    for command in ["global"] + GROUPS + COMMANDS:
        entry = table[command]
        kinds = {"bool": [], "value": [], "optional": []}
        for names, kind in sorted(entry["options"].items()):
            if (command, canon(names)) in READ_AS_OPTIONAL:
                kind = "optional"
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
            if command in OPTIONS_UNTIL:
                out.append("options_until = %d" % OPTIONS_UNTIL[command])
            out += toml_list(kinds["bool"], "bools")
            out += toml_list(kinds["value"], "values")
            out += toml_list(kinds["optional"], "optional")
            paths = PATHS.get(command, {})
            declared = {canon(n) for n, _ in kinds["value"] + kinds["optional"]}
            items = ['"%s" = %s' % (n, v) for n, v in sorted(paths.items()) if n in declared]
            if items:
                out.append("paths = { %s }" % ", ".join(items))
            if command in OPERANDS:
                out.append("operands = %s" % OPERANDS[command])
    out.append("")
    out.append("# The allow list: every spelling of each allowed command.")
    for command in ALLOWED:
        for alias in table[command]["aliases"]:
            out.append("")
            out.append("[[rule]]")
            out.append('id = "docker.allow.%s"' % alias.replace(" ", "-"))
            out.append('action = "allow"')
            out.append('command = "%s"' % alias)
    if missing:
        raise SystemExit("options nobody classified (add them to CLASSES in %s):\n  %s"
                         % (sys.argv[0], "\n  ".join(missing)))
    return "\n".join(out).lstrip("\n") + "\n"


BEGIN = "# BEGIN GENERATED by builtins/tools/docker-syntax.py --write: do not edit by hand\n"
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
                                        "module", "installed docker", lineterm="", n=1)
            failures.append("the module's option table differs from the installed "
                            "client's (run --write and review):\n" + "\n".join(list(diff)[:80]))
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
