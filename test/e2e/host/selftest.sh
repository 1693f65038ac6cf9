#!/usr/bin/env bash
# shellcheck disable=SC2016 # single-quoted commands are expanded on the VPS
# Self-test of the e2e host world (images, VPS, nested docker, ufw, ACME, git
# server). Leaves the cached images; removes what it started unless --keep.
#
# usage: selftest.sh [--keep]
set -euo pipefail
# Its own ACME CA and git server (lib.sh): its cleanup must not stop the e2e
# suite's or the dev stack's.
export BERTH_E2E_INSTANCE=selftest
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KEEP=0
[ "${1:-}" = --keep ] && KEEP=1
H="$E2E_HOST_DIR"
VPS=berth-e2e-selftest
PASS=0
FAIL=0

ok() { PASS=$((PASS + 1)); log "PASS: $*"; }
bad() { FAIL=$((FAIL + 1)); log "FAIL: $*"; }
check() {
    local what="$1"
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}
timed() {
    local what="$1" t0 t1
    shift
    t0="$(date +%s.%N)"
    "$@"
    t1="$(date +%s.%N)"
    log "TIME: $what: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1fs", b-a}')"
}
vssh() { "$H/vps.sh" ssh "$VPS" "$@"; }

cleanup() {
    if [ "$KEEP" = 0 ]; then
        "$H/vps.sh" down "$VPS" || true
        "$H/vps.sh" gitserver down || true
        "$H/acme.sh" down || true
        rm -rf "${TMPD:-/nonexistent}"
    fi
}
trap cleanup EXIT
TMPD="$(mktemp -d)"

ensure_dockerd
ensure_pkgs sshpass:sshpass curl:curl git:git

timed "image.sh" "$H/image.sh"
timed "vps.sh up" "$H/vps.sh" up "$VPS" >"$TMPD/info.json"
IP="$(jq -r .ip "$TMPD/info.json")"
KNOWN="$(jq -r .knownHostsPath "$TMPD/info.json")"
check "info JSON has every field" jq -e '.name and .ip and .sshPort == 22 and .user == "root"
    and .privateKeyPath and (.hostKey | startswith("ssh-ed25519 AAAA"))
    and (.knownHostsLine == (.ip + " " + .hostKey))' "$TMPD/info.json"
check "key login as root with the pinned host key" \
    ssh -i "$(jq -r .privateKeyPath "$TMPD/info.json")" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$KNOWN" "root@$IP" true

pw_login() {
    sshpass -p tester-password ssh -o PubkeyAuthentication=no \
        -o PreferredAuthentications=password,keyboard-interactive \
        -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$KNOWN" "tester@$IP" true </dev/null 2>/dev/null
}
check "password login for tester works before hardening" pw_login
vssh 'printf "PasswordAuthentication no\nKbdInteractiveAuthentication no\n" >/etc/ssh/sshd_config.d/10-selftest.conf && sshd -t && systemctl reload ssh'
sleep 0.5
pw_refused() { ! pw_login; }
check "a 10-*.conf drop-in (as berth writes) refuses password logins" pw_refused
vssh 'rm -f /etc/ssh/sshd_config.d/10-selftest.conf && systemctl reload ssh'

# nested docker ----------------------------------------------------------------
stage_images() { "$H/vps.sh" stage-images "$VPS" 2>/dev/null; }
timed "vps.sh stage-images (before docker exists)" stage_images
timed "apt-get install docker.io on the VPS (+ staged image load)" vssh 'export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends docker.io >/dev/null 2>&1
    systemctl enable --now --quiet docker && docker info >/dev/null'
check "staged images are loaded once docker has started" vssh \
    'docker image inspect berth-local/postgres:15 berth-local/redis:7 >/dev/null'
load_images() { "$H/vps.sh" load-images "$VPS" 2>/dev/null; }
timed "vps.sh load-images (after docker exists)" load_images
vssh 'set -e
    printf "pw-selftest" >/tmp/pw
    docker rm -f sp >/dev/null 2>&1 || true
    docker create --name sp -e POSTGRES_PASSWORD_FILE=/etc/pw -e PGDATA=/var/lib/postgresql/data/pgdata \
        -v sp-data:/var/lib/postgresql/data -p 127.0.0.1:15432:5432 berth-local/postgres:15 >/dev/null
    docker cp /tmp/pw sp:/etc/pw && docker start sp >/dev/null
    for _ in $(seq 60); do docker exec sp pg_isready -q -h 127.0.0.1 && break; sleep 1; done'
check "nested docker: psql from the VPS to 127.0.0.1:15432" vssh \
    'docker run --rm --network host -e PGPASSWORD=pw-selftest berth-local/postgres:15 psql -h 127.0.0.1 -p 15432 -U postgres -tAc "select 1" | grep -qx 1'

# ufw ----------------------------------------------------------------------------
vssh 'export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends ufw nginx >/dev/null 2>&1
    ufw default deny incoming >/dev/null && ufw default allow outgoing >/dev/null
    ufw allow 22/tcp >/dev/null && ufw allow 80/tcp >/dev/null && ufw allow 443/tcp >/dev/null
    ufw --force enable >/dev/null
    (setsid python3 -m http.server 8080 </dev/null >/dev/null 2>&1 &)'
check "ufw is active" vssh 'ufw status | grep -q "Status: active"'
check "ufw: ssh still reachable" vssh true
check "ufw: port 80 reachable from outside" curl -fsS -o /dev/null "http://$IP/"
check "ufw: unlisted port 8080 dropped from outside" bash -c "! timeout 3 bash -c 'echo >/dev/tcp/$IP/8080' 2>/dev/null"
check "ufw: docker loopback-published port still works" vssh \
    'docker run --rm --network host -e PGPASSWORD=pw-selftest berth-local/postgres:15 psql -h 127.0.0.1 -p 15432 -U postgres -tAc "select 1" | grep -qx 1'
check "ufw: container-to-container on a user bridge still works" vssh 'set -e
    docker network create st-net >/dev/null 2>&1 || true
    docker network connect --alias postgres st-net sp 2>/dev/null || true
    docker run --rm --network st-net -e PGPASSWORD=pw-selftest berth-local/postgres:15 psql -h postgres -U postgres -tAc "select 1" | grep -qx 1'

# ACME ---------------------------------------------------------------------------
timed "acme.sh up" "$H/acme.sh" up >"$TMPD/acme.json"
GW="$(jq -r .gateway "$TMPD/acme.json")"
PEBBLE_PORT="$(jq -r .directoryUrl "$TMPD/acme.json" | sed -E 's#^https://[^/]*:([0-9]+)/.*#\1#')"
check "ufw: nested container egress to the outer gateway (pebble)" vssh \
    "docker run --rm berth-local/redis:7 bash -c 'echo >/dev/tcp/$GW/$PEBBLE_PORT'"
timed "acme.sh prove (certbot HTTP-01 through ufw)" check "certbot gets a pebble certificate that chains to rootsUrl" \
    "$H/acme.sh" prove "$VPS"

# git server -----------------------------------------------------------------------
git init -q -b main "$TMPD/repo"
git -C "$TMPD/repo" -c user.email=t@e.test -c user.name=t commit -q --allow-empty -m one
git -C "$TMPD/repo" tag v1
git -C "$TMPD/repo" branch other
timed "gitserver up" "$H/vps.sh" gitserver up >"$TMPD/git.json"
URL="$("$H/vps.sh" gitserver push "$TMPD/repo" selftest)"
vssh 'cat >/root/.ssh/deploy && chmod 600 /root/.ssh/deploy' <"$(jq -r .deployKeyPath "$TMPD/git.json")"
jq -r .knownHostsLine "$TMPD/git.json" | vssh 'cat >/root/.ssh/git_known'
check "VPS clones the pushed repo (branches + tags) with the deploy key" vssh "set -e
    rm -rf /tmp/clone
    GIT_SSH_COMMAND='ssh -i /root/.ssh/deploy -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/root/.ssh/git_known' \
        git clone -q '$URL' /tmp/clone
    git -C /tmp/clone rev-parse -q --verify refs/remotes/origin/other >/dev/null
    git -C /tmp/clone rev-parse -q --verify refs/tags/v1 >/dev/null
    test \"\$(git -C /tmp/clone symbolic-ref --short HEAD)\" = main"

printf 'selftest: %d passed, %d failed\n' "$PASS" "$FAIL"
[ "$FAIL" = 0 ]
