#!/usr/bin/env bash
# Shows, against the real ssh and a throwaway sshd on 127.0.0.1, what the argvs the
# ssh module denies would do (the `why` of builtins/tests/data/cases/ssh.toml).
# Each payload is `touch $W/MARK-<case>`; each case runs a control that shows the
# same mechanism firing, so a case whose payload never fires cannot pass.
# Needs root (sshd), gcc, ssh, sshd, ssh-keygen, ssh-agent. No network but loopback,
# no real credentials: the keys are generated here and the host is this machine.
#
#   sudo builtins/tools/ssh-verify.sh      # prints `ok` / `FAIL` per case
set -u
W=$(mktemp -d /tmp/ssh-verify.XXXXXX)
trap 'kill $(cat "$W/sshd.pid" 2>/dev/null) 2>/dev/null; kill "$AGENT_PID" 2>/dev/null; rm -rf "$W"' EXIT
PORT=${PORT:-22922}
fails=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
marker() { # case, then the command that should create $W/MARK-case
    local name=$1; shift
    rm -f "$W/MARK-$name"
    timeout 10 "$@" </dev/null >"$W/out-$name" 2>&1
    sleep 0.3
    if [ -e "$W/MARK-$name" ]; then ok "$name: marker created"; else fail "$name: no marker ($(tail -1 "$W/out-$name"))"; fi
}
shows() { # case, expected `ssh -G` line, then ssh arguments
    local name=$1 line=$2; shift 2
    if ssh -G -F /dev/null "$@" 2>/dev/null | grep -qixF "$line"; then ok "$name: ssh -G shows $line"; else fail "$name: ssh -G lacks $line"; fi
}

# A throwaway sshd on loopback with a fresh host key and one authorized key.
mkdir -p "$W/home/.ssh" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$W/hostkey" -C FAKE-HOSTKEY
ssh-keygen -q -t ed25519 -N '' -f "$W/home/.ssh/id_ed25519" -C FAKE-KEY-airlock-verify
cp "$W/home/.ssh/id_ed25519.pub" "$W/authorized_keys"
cat >"$W/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $W/hostkey
PidFile $W/sshd.pid
AuthorizedKeysFile $W/authorized_keys
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
AllowAgentForwarding yes
AllowTcpForwarding yes
EOF
/usr/sbin/sshd -f "$W/sshd_config" -E "$W/sshd.log" || { echo "sshd did not start"; exit 2; }
sleep 0.5
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1-2 "$W/hostkey.pub")" >"$W/home/.ssh/known_hosts"
cat >"$W/home/.ssh/config" <<EOF
Host target
  HostName 127.0.0.1
  Port $PORT
  User $(id -un)
  IdentityFile $W/home/.ssh/id_ed25519
  UserKnownHostsFile $W/home/.ssh/known_hosts
  BatchMode yes
EOF
S=(ssh -F "$W/home/.ssh/config")

# The control: the plain command works.
if "${S[@]}" target true </dev/null 2>"$W/control"; then ok "control: ssh target true"; else fail "control: $(cat "$W/control")"; exit 1; fi

# A library whose constructor leaves a marker.
cat >"$W/evil.c" <<EOF
#include <stdlib.h>
__attribute__((constructor)) static void run(void) { system("touch $W/MARK-\$EVIL"); }
/* ssh checks for this symbol in the file before it loads the library */
int C_GetFunctionList(void *list) { return 1; }
EOF
gcc -shared -fPIC -o "$W/evil.so" "$W/evil.c"

# program / library
marker proxycommand "${S[@]}" -o "ProxyCommand=touch $W/MARK-proxycommand" target true
marker proxycommand-space "${S[@]}" -o "  proxycommand  touch $W/MARK-proxycommand-space" target true
marker proxycommand-quoted "${S[@]}" -o "Proxy\"Command\"=touch $W/MARK-proxycommand-quoted" target true
marker proxycommand-leading-equals "${S[@]}" -o "=ProxyCommand=touch $W/MARK-proxycommand-leading-equals" target true
EVIL=smartcarddevice marker smartcarddevice "${S[@]}" -o "SmartcardDevice=$W/evil.so" target true
EVIL=pkcs11provider marker pkcs11provider "${S[@]}" -o "PKCS11Provider=$W/evil.so" target true
EVIL=dash-i-upper marker dash-i-upper "${S[@]}" -I "$W/evil.so" target true
printf '#!/bin/sh\ntouch %s/MARK-knownhostscommand\n' "$W" >"$W/khc"; chmod +x "$W/khc"
marker knownhostscommand "${S[@]}" -o "KnownHostsCommand=$W/khc" target true
marker localcommand "${S[@]}" -o "LocalCommand=touch $W/MARK-localcommand" -o PermitLocalCommand=yes target true
marker remotecommand "${S[@]}" -o "RemoteCommand=touch $W/MARK-remotecommand" target
printf 'ProxyCommand touch %s/MARK-config-file\n' "$W" >"$W/evil_config"
marker config-file ssh -F "$W/evil_config" -o BatchMode=yes target true
shows proxyjump "proxyjump b1" -o ProxyJump=b1 host
shows proxyjump-J "proxyjump b1,b2" -J b1,b2 host

# credentials
eval "$(ssh-agent -s)" >/dev/null
AGENT_PID=$SSH_AGENT_PID
ssh-add -q "$W/home/.ssh/id_ed25519" 2>/dev/null
agent_seen() { # name, then ssh options: the remote side sees an agent socket
    local name=$1; shift
    if "${S[@]}" "$@" target 'test -n "$SSH_AUTH_SOCK" && ssh-add -l' </dev/null 2>/dev/null | grep -q FAKE-KEY-airlock-verify; then
        ok "$name: the remote side lists the daemon's key through the forwarded agent"
    else fail "$name: no forwarded agent"; fi
}
agent_seen forward-agent -A
agent_seen forward-agent-bundled -qA
agent_seen forward-agent-keyword -o ForwardAgent=yes
if "${S[@]}" target -A 'test -n "$SSH_AUTH_SOCK" && ssh-add -l' </dev/null 2>/dev/null | grep -q FAKE-KEY; then
    ok "forward-agent-after-destination: \`ssh target -A cmd\` forwards"
else fail "forward-agent-after-destination"; fi
if "${S[@]}" target 'test -n "$SSH_AUTH_SOCK"; echo $?' </dev/null 2>/dev/null | grep -qx 1; then
    ok "control: without -A the remote side has no agent"
else fail "control: an agent without -A"; fi
shows gssapi-delegation "gssapidelegatecredentials yes" -o GSSAPIDelegateCredentials=yes host
shows gssapi-K "gssapidelegatecredentials yes" -K host
shows identityagent "identityagent /tmp/other.sock" -o IdentityAgent=/tmp/other.sock host
shows addkeystoagent "addkeystoagent true" -o AddKeysToAgent=yes host

# outliving the request
start=$(date +%s)
"${S[@]}" -o ForkAfterAuthentication=yes target "sleep 2; touch $W/MARK-fork" </dev/null >/dev/null 2>&1
if [ $(($(date +%s) - start)) -lt 2 ] && sleep 3 && [ -e "$W/MARK-fork" ]; then
    ok "fork-after-authentication: ssh returned at once, its command finished later (marker)"
else fail "fork-after-authentication"; fi
shows control-master "controlmaster true" -o ControlMaster=yes host
shows control-persist "controlpersist 600" -o ControlPersist=10m host

# forwarding
"${S[@]}" -N -L 127.0.0.1:22923:127.0.0.1:$PORT target </dev/null 2>/dev/null &
TUNNEL_PID=$!
sleep 1
if ssh -p 22923 -F "$W/home/.ssh/config" -o HostName=127.0.0.1 -o "HostKeyAlias=[127.0.0.1]:$PORT" target true </dev/null 2>/dev/null; then
    ok "local-forward: a connection through the tunnel reaches sshd"
else fail "local-forward"; fi
kill "$TUNNEL_PID" 2>/dev/null
shows localforward-keyword "localforward [127.0.0.1]:5432 [db]:5432" -o "LocalForward=127.0.0.1:5432 db:5432" host
shows gatewayports "gatewayports yes" -g host
shows forward-x11 "forwardx11 yes" -X host
shows tunnel "tunnel point-to-point" -o Tunnel=yes host

# host trust
: >"$W/known_hosts_a"; : >"$W/known_hosts_b"
if ! "${S[@]}" -o UserKnownHostsFile="$W/known_hosts_a" -o StrictHostKeyChecking=yes target true </dev/null 2>/dev/null; then
    ok "control: StrictHostKeyChecking=yes refuses the unknown key"
else fail "control: StrictHostKeyChecking=yes"; fi
if "${S[@]}" -o UserKnownHostsFile="$W/known_hosts_b" -o StrictHostKeyChecking=no target true </dev/null 2>/dev/null; then
    ok "stricthostkeychecking-no: connects to a host whose key is unknown (and records it)"
else fail "stricthostkeychecking-no"; fi
if "${S[@]}" -o UserKnownHostsFile="$W/known_hosts_a" -o StrictHostKeyChecking=accept-new target true </dev/null 2>/dev/null && [ -s "$W/known_hosts_a" ]; then
    ok "stricthostkeychecking-accept-new: connects and writes the unknown key to known_hosts"
else fail "stricthostkeychecking-accept-new"; fi
shows hostkeyalias "hostkeyalias other" -o HostKeyAlias=other host
shows updatehostkeys "updatehostkeys true" -o UpdateHostKeys=yes host

# destination spelled as a keyword
shows hostname-keyword "hostname elsewhere.example" -o HostName=elsewhere.example host
shows canonicalize "canonicalizehostname true" -o CanonicalizeHostname=yes host

# 9.2 reads -P as a flag (newer releases: `-P tag`)
if ssh -G -F /dev/null -P host >/dev/null 2>&1; then ok "tag: 9.2 takes -P as a flag"; else fail "tag: -P"; fi

echo
echo "$fails failed"
exit $((fails > 0))
