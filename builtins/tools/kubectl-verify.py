#!/usr/bin/env python3
"""Runs the real kubectl against a fake API server on 127.0.0.1 and prints, for
each argv, which API paths kubectl requested, with which bearer token, and whether
the fake secret's marker reached its output. This is how the kubectl corpus
(tests/data/cases/kubectl.toml) was verified without a cluster:

    python3 builtins/tools/kubectl-verify.py              # the built-in list below
    python3 builtins/tools/kubectl-verify.py get Secret   # one argv

The fake server answers discovery (/api, /api/v1, /apis, /apis/apps/v1) for pods,
secrets, configmaps, services, namespaces, serviceaccounts and deployments, lists
one object of each kind (the secret's data holds the marker) and records every
request. The kubeconfig has two contexts: `dev` (current, namespace `default`) and
`prod-admin` (namespace `kube-system`, another user), both at the fake server: the
requested path shows which context kubectl used.
"""
import base64
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading

MARKER = "FAKE-SECRET-7f3a9c"
DEV_TOKEN = "FAKE-DEV-TOKEN-51c2"
ADMIN_TOKEN = "FAKE-ADMIN-TOKEN-88e0"

RESOURCES_V1 = [
    ("pods", "Pod", ["po"], True), ("secrets", "Secret", [], True),
    ("configmaps", "ConfigMap", ["cm"], True), ("services", "Service", ["svc"], True),
    ("namespaces", "Namespace", ["ns"], False),
    ("serviceaccounts", "ServiceAccount", ["sa"], True),
    ("serviceaccounts/token", "TokenRequest", [], True),
    ("events", "Event", ["ev"], True),
]
RESOURCES_APPS = [("deployments", "Deployment", ["deploy"], True)]
REQUESTS = []


def resource_list(group_version, resources):
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": [{"name": n, "singularName": "", "namespaced": ns, "kind": k,
                           "verbs": ["get", "list", "create", "update", "patch", "delete", "watch"],
                           "shortNames": short} for n, k, short, ns in resources]}


def obj(kind, api_version, name):
    o = {"kind": kind, "apiVersion": api_version,
         "metadata": {"name": name, "namespace": "default", "uid": "u-" + name,
                      "resourceVersion": "1", "creationTimestamp": "2024-01-01T00:00:00Z"}}
    if kind == "Secret":
        o["data"] = {"password": base64.b64encode(MARKER.encode()).decode()}
        o["type"] = "Opaque"
    if kind == "TokenRequest":
        o["status"] = {"token": MARKER, "expirationTimestamp": "2030-01-01T00:00:00Z"}
    return o


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, body, code=200):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        token = (self.headers.get("Authorization") or "").replace("Bearer ", "")
        path = self.path.split("?")[0]
        REQUESTS.append((self.command, self.path, token))
        if path == "/api":
            return self.reply({"kind": "APIVersions", "versions": ["v1"],
                               "serverAddressByClientCIDRs": []})
        if path == "/apis":
            return self.reply({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]})
        if path == "/api/v1":
            return self.reply(resource_list("v1", RESOURCES_V1))
        if path == "/apis/apps/v1":
            return self.reply(resource_list("apps/v1", RESOURCES_APPS))
        if path == "/version":
            return self.reply({"major": "1", "minor": "32", "gitVersion": "v1.32.0"})
        parts = [p for p in path.split("/") if p]
        kinds = {n: (k, "v1") for n, k, _, _ in RESOURCES_V1}
        kinds.update({n: (k, "apps/v1") for n, k, _, _ in RESOURCES_APPS})
        # .../namespaces/NS/RESOURCE[/NAME[/SUB]]
        if "namespaces" in parts:
            i = parts.index("namespaces")
            rest = parts[i + 2:]
        else:
            rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
        if rest:
            resource = rest[0]
            if len(rest) >= 3 and resource + "/" + rest[2] in kinds:
                kind, version = kinds[resource + "/" + rest[2]]
                return self.reply(obj(kind, "authentication.k8s.io/v1", rest[1]), 201)
            if resource in kinds:
                kind, version = kinds[resource]
                if len(rest) >= 2:
                    return self.reply(obj(kind, version, rest[1]))
                return self.reply({"kind": kind + "List", "apiVersion": version,
                                   "metadata": {"resourceVersion": "1"},
                                   "items": [obj(kind, version, "db")]})
        return self.reply({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                           "reason": "NotFound", "code": 404, "message": "not found"}, 404)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


def start():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def kubeconfig(home, port):
    path = os.path.join(home, "config")
    url = "http://127.0.0.1:%d" % port
    with open(path, "w") as f:
        f.write("""apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: fake
  cluster: {server: "%s"}
users:
- name: dev
  user: {token: %s}
- name: admin
  user: {token: %s}
contexts:
- name: dev
  context: {cluster: fake, user: dev, namespace: default}
- name: prod-admin
  context: {cluster: fake, user: admin, namespace: kube-system}
""" % (url, DEV_TOKEN, ADMIN_TOKEN))
    return path


CASES = [
    ["get", "pods"], ["get", "secrets"], ["get", "Secret"], ["get", "SECRETS"],
    ["get", "sEcReT", "db"], ["get", "secret.v1"], ["get", "secrets.v1."],
    ["get", "pods,Secret"], ["get", "secret/db"], ["get", "Secrets/db"],
    ["get", "externalsecrets"], ["get", "deploy", "secret-rotator"],
    ["get", "--raw", "/api/v1/namespaces/default/secrets"],
    ["create", "--raw", "/api/v1/namespaces/default/serviceaccounts/default/token",
     "-f", "-"],
    ["create", "token", "default"],
    ["--context", "prod-admin", "get", "pods"], ["get", "pods", "--context=prod-admin"],
    ["--user", "admin", "get", "pods"],
    ["-v=9", "get", "pods"], ["config", "view"], ["config", "view", "--raw"],
    ["config", "view", "--flatten"], ["config", "get-contexts"],
    ["describe", "Secret", "db"], ["get", "all"], ["get", "cm,secrets", "-o", "yaml"],
    ["set", "env", "deploy/db", "--list", "--resolve"],
]


def main(argv):
    server = start()
    home = tempfile.mkdtemp(prefix="airlock-kubectl-verify-")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": home,
           "KUBECONFIG": kubeconfig(home, server.server_address[1]),
           "KUBECACHEDIR": os.path.join(home, "cache")}
    cases = [argv] if argv else CASES
    for args in cases:
        del REQUESTS[:]
        run = subprocess.run(["kubectl"] + args, capture_output=True, text=True, env=env,
                             input="{}", timeout=30)
        out = run.stdout + run.stderr
        api = [(m, p, "admin-token" if t == ADMIN_TOKEN else "dev-token" if t == DEV_TOKEN else t)
               for m, p, t in REQUESTS if p.split("?")[0] not in ("/api", "/apis", "/api/v1", "/apis/apps/v1")]
        print("kubectl %s" % " ".join(args))
        print("  exit %d; requests: %s" % (run.returncode, api))
        print("  secret marker printed: %s; dev token printed: %s; admin token printed: %s" % (
            MARKER in out or base64.b64encode(MARKER.encode()).decode() in out,
            DEV_TOKEN in out, ADMIN_TOKEN in out))
        if run.returncode != 0:
            print("  " + out.strip().splitlines()[-1][:200] if out.strip() else "")
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
    home = tempfile.mkdtemp(prefix="airlock-kubectl-corpus-")
    config = os.path.join(home, "kubeconfig")
    open(config, "w").write("apiVersion: v1\nkind: Config\n")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": home, "KUBECONFIG": config,
           "DOCKER_CONFIG": os.path.join(home, ".docker"),
           "DOCKER_HOST": "unix://" + os.path.join(home, "none.sock")}
    cases = tomllib.load(open(path, "rb"))["case"]
    refused = 0
    for case in cases:
        try:
            run = subprocess.run(["kubectl"] + case["args"], capture_output=True, text=True,
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
