#!/usr/bin/env bash
# Shows, against the real terraform, what the argvs the terraform module denies would
# do (the `why` of builtins/tests/data/cases/terraform.toml). Each case runs in a
# scratch configuration whose only resource is the built-in terraform_data (no
# provider download, no network), with stdin from /dev/null, TF_IN_AUTOMATION=1 and
# TF_INPUT=0 as the daemon gives them. Markers: a local-exec provisioner touches
# MARK-<case>. Every case has a control that shows the same run without the
# dangerous part doing nothing (or the mechanism firing).
#
#   builtins/tools/terraform-verify.sh     # prints `ok` / `FAIL` per case
set -u
ROOT=$(mktemp -d /tmp/terraform-verify.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
export HOME=$ROOT TF_CLI_CONFIG_FILE=/dev/null TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
fails=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
tf() { terraform "$@" </dev/null >"$W/out" 2>&1; }
# A fresh configuration in $W: one terraform_data whose provisioners leave markers
# (MARK-create when it is created, MARK-destroy when it is destroyed).
fresh() {
    W=$(mktemp -d "$ROOT/case.XXXXXX")
    cat >"$W/main.tf" <<EOF
variable "v" {
  default = "a"
}
resource "terraform_data" "x" {
  input = var.v
  provisioner "local-exec" {
    command = "touch $W/MARK-create"
  }
  provisioner "local-exec" {
    when    = destroy
    command = "touch ${W}/MARK-destroy"
  }
}
output "secret" {
  value     = "FAKE-SECRET-airlock-verify"
  sensitive = true
}
EOF
    cd "$W" && tf init || fail "init in $W: $(tail -3 "$W/out")"
}
applied() { tf apply -auto-approve && rm -f "$W/MARK-create"; }

# approval
fresh
tf apply
if [ ! -e MARK-create ] && grep -q "Apply cancelled\|Error asking for approval\|Do you want to perform these actions" out; then ok "control: plain apply with an empty stdin asks and cancels"; else fail "control apply: $(tail -2 out)"; fi
tf apply -auto-approve
[ -e MARK-create ] && ok "auto-approve: marker created without a prompt" || fail "auto-approve"
fresh
tf apply --auto-approve=TRUE
[ -e MARK-create ] && ok "auto-approve: --auto-approve=TRUE, marker" || fail "auto-approve TRUE"
fresh
tf apply -auto-approve=false -auto-approve
[ -e MARK-create ] && ok "auto-approve: the last occurrence wins, marker" || fail "auto-approve last wins"
fresh
tf plan -out=tfplan && tf apply tfplan
[ -e MARK-create ] && ok "plan-file: apply PLANFILE applies without a prompt, marker" || fail "plan-file"
fresh; applied
tf apply -destroy
if [ ! -e MARK-destroy ] && grep -q "destroy" out; then ok "apply-destroy: plans the deletion and asks (cancelled: empty stdin)"; else fail "apply-destroy"; fi
tf destroy
if [ ! -e MARK-destroy ] && grep -q "destroy" out; then ok "destroy: plans the deletion and asks (cancelled: empty stdin)"; else fail "destroy"; fi
tf destroy -auto-approve
[ -e MARK-destroy ] && ok "destroy-auto-approve: marker from the destroy-time provisioner" || fail "destroy-auto-approve"

# test applies with no approval
fresh
mkdir -p tests && echo 'run "r" {}' >tests/a.tftest.hcl
tf test
[ -e MARK-create ] && ok "test: marker created, no prompt ($(grep -o '[0-9]* passed' out | head -1))" || fail "test: $(tail -3 out)"

# refresh writes the state without a prompt
fresh; applied
before=$(grep -o '"serial": [0-9]*' terraform.tfstate)
sed -i 's/FAKE-SECRET-airlock-verify/FAKE-SECRET-changed/' main.tf
tf refresh
after=$(grep -o '"serial": [0-9]*' terraform.tfstate)
if [ "$before" != "$after" ] && grep -q FAKE-SECRET-changed terraform.tfstate; then ok "refresh: the state file was rewritten ($before -> $after) without a prompt"; else fail "refresh: $before $after"; fi

# state
fresh; applied
tf state pull
grep -q FAKE-SECRET-airlock-verify out && ok "state-pull: prints the sensitive output's value" || fail "state-pull"
tf output
grep -q FAKE-SECRET-airlock-verify out && fail "control: output shows the sensitive value" || ok "control: plain output hides it (sensitive)"
tf state mv -state-out=other.tfstate terraform_data.x terraform_data.y
[ -s other.tfstate ] && grep -q '"name": "y"' other.tfstate && ok "state-mv-state-out: other.tfstate written with the moved resource" || fail "state-mv-state-out: $(tail -2 out)"
fresh; applied
tf state rm terraform_data.x
tf state list
[ ! -s out ] && ok "state-rm: terraform forgot the resource" || fail "state-rm: $(cat out)"
fresh; applied
tf taint terraform_data.x && grep -q '"status": "tainted"' terraform.tfstate && ok "taint: the state marks it tainted" || fail "taint"
tf untaint terraform_data.x && ! grep -q '"status": "tainted"' terraform.tfstate && ok "untaint: the state was rewritten" || fail "untaint"

# workspaces
fresh; applied
tf workspace new w && tf workspace select default && tf env delete w
tf workspace list
grep -q " w$" out && fail "env-delete: w still there" || ok "env-delete: the workspace is gone"
cp terraform.tfstate old.tfstate
tf workspace new -state=old.tfstate w2 && tf state list
grep -q terraform_data.x out && ok "workspace-new-state: the new workspace holds the copied state" || fail "workspace-new-state: $(cat out)"

# backend state copied without asking
fresh; applied
printf 'terraform {\n  backend "local" {\n    path = "moved.tfstate"\n  }\n}\n' >backend.tf
tf init -migrate-state
if [ ! -e moved.tfstate ]; then ok "control: init -migrate-state with an empty stdin does not copy ($(grep -o 'Error[^.]*' out | head -1))"; else fail "control migrate-state copied"; fi
tf init -migrate-state -force-copy
[ -s moved.tfstate ] && grep -q terraform_data moved.tfstate && ok "force-copy: the state was copied into the new backend without asking" || fail "force-copy: $(tail -3 out)"

# provider plugins from a directory run
fresh
cat >providers.tf <<'EOF'
terraform {
  required_providers {
    evil = {
      source  = "hashicorp/evil"
      version = "1.0.0"
    }
  }
}
provider "evil" {}
EOF
mkdir -p p/registry.terraform.io/hashicorp/evil/1.0.0/linux_amd64
printf '#!/bin/sh\ntouch %s/MARK-provider\n' "$W" >p/registry.terraform.io/hashicorp/evil/1.0.0/linux_amd64/terraform-provider-evil_v1.0.0
chmod +x p/registry.terraform.io/hashicorp/evil/1.0.0/linux_amd64/terraform-provider-evil_v1.0.0
tf init -plugin-dir=./p && tf plan
[ -e MARK-provider ] && ok "plugin-dir: the planted provider ran (marker)" || fail "plugin-dir: $(tail -3 out)"
tf providers lock -fs-mirror=./p -platform=linux_amd64
grep -q 'hashicorp/evil' .terraform.lock.hcl && ok "fs-mirror: the lock file records the planted plugin's hashes" || fail "fs-mirror: $(tail -3 out)"
# The same without any flag: terraform.d/plugins is an implied local mirror.
PLANTED=$W
rm -f "$PLANTED/MARK-provider"  # the planted script touches the marker where it was written
fresh
cp "$PLANTED/providers.tf" .
mkdir -p terraform.d/plugins && cp -r "$PLANTED/p/registry.terraform.io" terraform.d/plugins/
tf init; tf plan
[ -e "$PLANTED/MARK-provider" ] && ok "implied-mirror: a provider planted in terraform.d/plugins runs with a plain init and plan (left to other layers)" || fail "implied-mirror: $(tail -3 out)"

echo
echo "$fails failed"
exit $((fails > 0))
