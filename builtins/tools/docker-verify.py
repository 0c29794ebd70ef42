#!/usr/bin/env python3
"""Runs the real docker client against a recording fake engine and prints, for each
argv, what the client sent: the API requests and the parts of a container's
configuration that reach the host (binds, mounts, privileges, namespaces, devices,
capabilities, security options), or the client's own error when it refused the argv
before sending anything. This is how the docker corpus (tests/data/cases/docker.toml)
was verified without an engine:

    python3 builtins/tools/docker-verify.py                    # the list below
    python3 builtins/tools/docker-verify.py run -v /:/h alpine  # one argv

The fake engine listens on a unix socket in a scratch directory (DOCKER_HOST), answers
`/_ping`, `/version`, image inspection and container creation, records every request
with its body, and refuses the rest with an error, so nothing runs and nothing is
copied. The client gets an empty configuration directory (DOCKER_CONFIG).
"""
import http.server
import json
import os
import socketserver
import subprocess
import sys
import tempfile
import threading

REQUESTS = []
HOST_KEYS = ["Binds", "Mounts", "Privileged", "NetworkMode", "PidMode", "IpcMode",
             "UTSMode", "UsernsMode", "CgroupnsMode", "CapAdd", "SecurityOpt", "Devices",
             "DeviceCgroupRules", "VolumesFrom", "VolumeDriver"]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def address_string(self):
        return "fake-engine"

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Api-Version", "1.49")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Transfer-Encoding") == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        path = self.path
        REQUESTS.append((self.command, path, body))
        bare = path.split("?")[0]
        if bare.endswith("/_ping"):
            self.send_response(200)
            self.send_header("Api-Version", "1.49")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")
            return
        if bare.endswith("/version"):
            return self.reply(200, {"ApiVersion": "1.49", "Version": "28.2.2", "Os": "linux"})
        if "/images/" in bare and bare.endswith("/json"):
            return self.reply(200, {"Id": "sha256:" + "0" * 64, "RepoTags": ["alpine:latest"]})
        if bare.endswith("/containers/create"):
            return self.reply(500, {"message": "fake engine: recorded, not created"})
        return self.reply(500, {"message": "fake engine: recorded, refused"})

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = handle_any


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the client hung up after the refusal: expected


def summary(method, path, body):
    bare = path.split("?")[0]
    if bare.endswith("/_ping") or bare.endswith("/version"):
        return None
    text = "%s %s" % (method, path[:160])
    if body and bare.endswith("/containers/create"):
        config = json.loads(body)
        host = config.get("HostConfig") or {}
        shown = {k: host[k] for k in HOST_KEYS if host.get(k) not in (None, "", [], False)}
        text += " host=%s cmd=%s" % (json.dumps(shown), config.get("Cmd"))
    elif body and bare.endswith("/exec"):
        config = json.loads(body)
        text += " exec=%s" % json.dumps({k: config.get(k) for k in ("Cmd", "Privileged", "User")})
    elif body and "/build" in bare:
        text += " (build context: %d bytes)" % len(body)
    return text


CASES = [
    ["ps", "-a"], ["run", "--rm", "alpine", "echo", "hi"],
    ["run", "-v", "/:/host", "alpine"], ["run", "-dv/etc:/e", "alpine"],
    ["run", "-v", "./data:/data", "alpine"], ["run", "alpine", "-v", "/:/host"],
    ["run", "--privileged", "false", "alpine"], ["run", "--privileged=0", "alpine"],
    ["run", "--mount", "TYPE=BIND,SOURCE=/,TARGET=/host", "alpine"],
    ["run", "--mount", "type=volume,src=v,dst=/d,volume-opt=device=/", "alpine"],
    ["run", "--net=host", "alpine"], ["run", "--network", "container:db", "alpine"],
    ["run", "--pid", "container:db", "alpine"], ["run", "--cap-add", "cap_sys_admin", "alpine"],
    ["run", "--security-opt", "seccomp=unconfined", "alpine"],
    ["container", "run", "--use-api-socket", "alpine"],
    ["exec", "--privileged", "c", "sh"], ["exec", "c", "--privileged"],
    ["cp", "c:/etc/passwd", "./passwd"], ["container", "cp", ":/etc/shadow", "c:/x"],
    ["build", "--secret", "id=npm,src=./.npmrc", "."],
    ["--context", "prod", "ps"], ["ps", "--context", "prod"], ["-H", "tcp://127.0.0.1:9", "ps"],
    ["ps", "--debug"], ["-v", "push", "x"],
]


def main(argv):
    home = tempfile.mkdtemp(prefix="airlock-docker-verify-")
    sock = os.path.join(home, "engine.sock")
    server = Server(sock, Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.makedirs(os.path.join(home, "work", "data"), exist_ok=True)
    with open(os.path.join(home, "work", "Dockerfile"), "w") as f:
        f.write("FROM scratch\n")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": home,
           "DOCKER_CONFIG": os.path.join(home, ".docker"), "DOCKER_HOST": "unix://" + sock,
           "DOCKER_CLI_HINTS": "false"}
    for args in ([argv] if argv else CASES):
        del REQUESTS[:]
        run = subprocess.run(["docker"] + args, capture_output=True, text=True, env=env,
                             stdin=subprocess.DEVNULL, timeout=30,
                             cwd=os.path.join(home, "work"))
        print("docker %s" % " ".join(args))
        sent = [s for s in (summary(*r) for r in REQUESTS) if s]
        for line in sent:
            print("  sent: " + line)
        if not sent:
            last = (run.stdout + run.stderr).strip().splitlines()
            print("  nothing sent; exit %d: %s" % (run.returncode, last[0][:200] if last else ""))
    server.shutdown()


PARSE_ERRORS = ("unknown flag", "unknown shorthand flag", "flag needs an argument",
                "invalid argument", "unknown command", "bad flag syntax")


def corpus(path):
    """Runs every case of a corpus file with the tool's parsing only (no engine or
    cluster is reachable) and prints the cases whose argv the tool itself refused as
    unparseable, beside their expected decision: an `allow` case listed here is a
    case the tool does not accept as written."""
    import shlex
    import tomllib
    home = tempfile.mkdtemp(prefix="airlock-docker-corpus-")
    config = os.path.join(home, "kubeconfig")
    open(config, "w").write("apiVersion: v1\nkind: Config\n")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": home, "KUBECONFIG": config,
           "DOCKER_CONFIG": os.path.join(home, ".docker"),
           "DOCKER_HOST": "unix://" + os.path.join(home, "none.sock")}
    cases = tomllib.load(open(path, "rb"))["case"]
    refused = 0
    for case in cases:
        try:
            run = subprocess.run(["docker"] + case["args"], capture_output=True, text=True,
                                 env=env, stdin=subprocess.DEVNULL, timeout=5, cwd=home)
            out = run.stdout + run.stderr
        except subprocess.TimeoutExpired:
            out = "(still running after 5 s: parsed)"
        error = next((e for e in PARSE_ERRORS if e in out), None)
        if error:
            refused += 1
            print("%s  %s: %s" % (case["expect"], shlex.join(case["args"]),
                                 [l for l in out.splitlines() if error in l][:1]))
    print("%d of %d cases refused by the tool as unparseable" % (refused, len(cases)))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--corpus"]:
        corpus(sys.argv[2])
    else:
        main(sys.argv[1:])
