#!/usr/bin/env python3
"""Runs every everyday case of builtins/tests/data/cases/terraform.toml against the
installed terraform in a scratch configuration, as the daemon would run it (stdin
from /dev/null, TF_IN_AUTOMATION=1, TF_INPUT=0, no CLI configuration), and fails when
terraform refuses a flag or when an apply ran without a person (the configuration's
local-exec provisioner leaves MARK-apply). Needs no network: the only resource is the
built-in terraform_data."""
import os, re, shutil, subprocess, sys, tempfile, tomllib
HERE = os.path.dirname(os.path.abspath(__file__))
corpus = tomllib.load(open(os.path.join(HERE, "..", "tests", "data", "cases", "terraform.toml"), "rb"))
work = tempfile.mkdtemp(prefix="tf-corpus.")
env = {"PATH": os.environ["PATH"], "HOME": work, "TF_CLI_CONFIG_FILE": "/dev/null",
       "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
MAIN = '''
terraform {
  backend "local" {}
}
variable "env" {
  default = "dev"
}
variable "region" {
  default = "x"
}
variable "action" {
  default = "x"
}
resource "terraform_data" "x" {
  input = var.env
  provisioner "local-exec" {
    command = "touch ${abspath(path.root)}/MARK-apply"
  }
}
output "name" {
  value = "n"
}
'''
for d in (work, os.path.join(work, "infra")):
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "main.tf"), "w").write(MAIN)
open(os.path.join(work, "prod.tfvars"), "w").write('env = "prod"\n')
open(os.path.join(work, "backend.hcl"), "w").write('path = "terraform.tfstate"\n')
def tf(args):
    r = subprocess.run(["terraform", *args], cwd=work, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=120)
    return r.returncode, re.sub(r"\x1b\[[0-9;]*m", "", r.stdout + r.stderr)
for setup in (["init"], ["-chdir=infra", "init"], ["apply", "-auto-approve"], ["plan", "-out=tfplan"]):
    code, out = tf(setup)
    assert code == 0, (setup, out)
os.remove(os.path.join(work, "MARK-apply"))
FLAG_ERRORS = ("flag provided but not defined", "Failed to parse command-line flags",
               "Error parsing command-line", "invalid boolean value", "flag needs an argument")
bad = 0
for case in corpus["case"]:
    if case["class"] != "everyday":
        continue
    code, out = tf(case["args"])
    problem = next((e for e in FLAG_ERRORS if e in out), None)
    if problem is None and "Usage: terraform" in out and not any(a in ("-help", "-h") for a in case["args"]):
        problem = "printed its usage"
    if os.path.exists(os.path.join(work, "MARK-apply")):
        problem = "an apply ran without a person"
        os.remove(os.path.join(work, "MARK-apply"))
    if problem:
        bad += 1
    if problem or "-v" in sys.argv:
        print("FAIL" if problem else "ok  ", case["args"], "exit", code, problem or "", out.strip().splitlines()[-1:] if problem else "")
shutil.rmtree(work)
print(bad, "everyday cases failed")
sys.exit(1 if bad else 0)
