#!/usr/bin/env python3
"""Runs every case of builtins/tests/data/cases/aws.toml through the real aws CLI and
says what aws did with it, without credentials or a network.

    aws-verify.py [CASES.toml]      one line per case: the argv, the module's expected
                                    decision, and what aws did

aws runs in a scratch directory with an empty HOME holding a fake profile, fake
credentials in its environment (each with a marker, FAKE-...-<random>), and
AWS_ENDPOINT_URL pointing at a recording HTTP server on 127.0.0.1 that answers every
request with an error (AWS_MAX_ATTEMPTS=1). So a case shows:
- `parse error: ...`: aws refused the argv before doing anything (argparse's message);
- `sent Service.Action to 127.0.0.1`: aws read the argv and called that operation;
- `endpoint ...`: aws sent the request elsewhere (it cannot connect: there is no
  network), which is what --endpoint-url does;
- `printed MARKER`: a fake credential (or the session token) appeared in the output;
- `wrote FILE`: a file appeared in the scratch directory.
The corpus's `why` fields record these observations.
"""
import base64
import http.server
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import tomllib
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "..", "tests", "data", "cases", "aws.toml")
SEEN = []


class Recorder(http.server.BaseHTTPRequestHandler):
    def _record(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        action = self.headers.get("X-Amz-Target") or ""
        if not action:
            form = urllib.parse.parse_qs(body)
            action = (form.get("Action") or [""])[0]
        if not action:
            action = f"{self.command} {self.path.split('?')[0]}"
        SEEN.append(action)
        self.send_response(400)
        self.send_header("Content-Type", "application/xml")
        payload = b"<Error><Code>AirlockVerify</Code><Message>recorded</Message></Error>"
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _record

    def log_message(self, *args):
        pass


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else CASES
    cases = tomllib.load(open(path, "rb"))["case"]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    mark = secrets.token_hex(4).upper()
    markers = {
        f"AKIAFAKE{mark}": "the access key id",
        f"FAKE-SECRET-{mark}": "the secret key",
        f"FAKE-TOKEN-{mark}": "the session token",
    }
    home = tempfile.mkdtemp(prefix="aws-verify-home.")
    os.makedirs(os.path.join(home, ".aws"))
    credentials_before = (
        f"[default]\naws_access_key_id = AKIAFAKE{mark}\n"
        f"aws_secret_access_key = FAKE-SECRET-{mark}\n"
        f"[dev]\naws_access_key_id = AKIAFAKE{mark}\naws_secret_access_key = FAKE-SECRET-{mark}\n"
    )
    with open(os.path.join(home, ".aws", "credentials"), "w") as f:
        f.write(credentials_before)
    config_before = "[default]\nregion = us-east-1\n[profile dev]\nregion = us-east-1\n"
    with open(os.path.join(home, ".aws", "config"), "w") as f:
        f.write(config_before)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "AWS_ACCESS_KEY_ID": f"AKIAFAKE{mark}",
        "AWS_SECRET_ACCESS_KEY": f"FAKE-SECRET-{mark}",
        "AWS_SESSION_TOKEN": f"FAKE-TOKEN-{mark}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
        "AWS_PAGER": "",
    }
    for case in cases:
        work = tempfile.mkdtemp(prefix="aws-verify.")
        # Files the cases name.
        for name, text in {
            "filters.json": '[{"Name": "instance-state-name", "Values": ["running"]}]',
            "input.json": '{"InstanceIds": ["i-0abc1234"]}',
            "report.html": "<p>report</p>",
            "ca.pem": "not a certificate",
            "key.pem": "not a key",
            "c.bin": "ciphertext",
        }.items():
            with open(os.path.join(work, name), "w") as f:
                f.write(text)
        os.makedirs(os.path.join(work, "dir"))
        before = set(os.listdir(work))
        SEEN.clear()
        try:
            run = subprocess.run(
                ["aws", *case["args"], "--cli-connect-timeout", "2"],
                cwd=work, env=env, capture_output=True, text=True,
                stdin=subprocess.DEVNULL, timeout=60,
            )
            out = run.stdout + run.stderr
            code = run.returncode
        except subprocess.TimeoutExpired:
            out, code = "timeout", -1
        seen = []
        parse = re.search(
            r"(Unknown options:.*|usage:.*|Invalid choice.*|ambiguous option.*|"
            r"the following arguments are required.*|error: argument.*|expected one argument.*)",
            out,
        )
        if parse and not SEEN:
            seen.append("parse error: " + parse.group(0)[:90])
        for action in SEEN:
            seen.append(f"sent {action} to 127.0.0.1")
        m = re.search(r'Could not connect to the endpoint URL: "([^"]+)"', out)
        if m and not m.group(1).startswith(f"http://127.0.0.1:{port}"):
            seen.append(f"endpoint {m.group(1)[:60]}")
        # `eks get-token` prints a presigned STS URL, base64-encoded.
        decoded = out
        for token in re.findall(r"k8s-aws-v1\.([A-Za-z0-9_-]+)", out):
            decoded += base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8", "replace")
        for marker, what in markers.items():
            if marker in decoded or urllib.parse.quote(marker) in decoded:
                seen.append(f"printed {what}")
        if re.search(r"\*{8,}" + mark[-4:], out):
            seen.append("printed the access key's last characters")
        for name, before_text in (("config", config_before), ("credentials", credentials_before)):
            file = os.path.join(home, ".aws", name)
            if open(file).read() != before_text:
                seen.append(f"rewrote ~/.aws/{name}")
                with open(file, "w") as f:
                    f.write(before_text)
        if "--generate-cli-skeleton" in case["args"] and not SEEN and code == 0:
            seen.append("printed a skeleton, sent nothing")
        new = set(os.listdir(work)) - before
        if new:
            seen.append("wrote " + " ".join(sorted(new)))
        if not seen:
            seen.append(f"exit {code}: " + (out.strip().splitlines() or [""])[-1][:90])
        print(json.dumps(case["args"]), case["expect"], "|", "; ".join(seen))
    server.shutdown()


if __name__ == "__main__":
    main()
