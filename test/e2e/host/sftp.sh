#!/usr/bin/env bash
# An off-host backup target for berth's backup e2e tests: a real OpenSSH sshd
# (the local berth-vps:bookworm image, itself built from
# berth-local/debian:bookworm) in its own container on the berth-e2e network,
# with a key-only `repo` user (Debian already has a system user `backup`) confined to internal-sftp.
#
#   sftp.sh up <name>       start (or reuse) <name>; prints {"name","ip","user",
#                           "hostKey","privateKeyPath","path"}
#   sftp.sh pause <name>    freeze it (the target stops answering)
#   sftp.sh unpause <name>
#   sftp.sh exec <name> CMD run CMD (bash) as root inside (inspection, corruption)
#   sftp.sh down <name>     remove it and everything it stored
#
# Logs go to stderr; stdout carries only the JSON results.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KEY="$E2E_KEYS/sftp-backup"
REPO_DIR=/srv/restic

valid_name() {
    [[ "$1" =~ ^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$ ]] || die "invalid name: '$1'"
}

# Runs inside the container as its PID 1: host keys, the confined user, sshd.
# shellcheck disable=SC2016 # expanded inside the container
BOOT='set -e
ssh-keygen -A >/dev/null
mkdir -p /run/sshd
printf "%s\n" "Match User repo" "  ForceCommand internal-sftp" "  AllowTcpForwarding no" "  X11Forwarding no" > /etc/ssh/sshd_config.d/50-backup.conf
id -u repo >/dev/null 2>&1 || useradd -m -s /bin/bash repo
usermod -p "*" repo
install -d -m 0700 -o repo -g repo /srv/restic
exec /usr/sbin/sshd -D -e'

sftp_up() {
    local name="$1"
    valid_name "$name"
    ensure_dockerd
    image_exists "$IMG_VPS" || die "$IMG_VPS is missing (bash test/e2e/host/image.sh)"
    ensure_network
    ensure_keypair "$KEY" "berth-e2e-backup"
    if docker container inspect "$name" >/dev/null 2>&1; then
        [ "$(docker inspect -f '{{index .Config.Labels "berth.e2e.role"}}' "$name")" = sftp ] ||
            die "a container named $name exists and is not a berth e2e SFTP target"
        if [ "$(docker inspect -f '{{.State.Paused}}' "$name")" = true ]; then docker unpause "$name" >/dev/null; fi
        container_running "$name" || docker start "$name" >/dev/null
    else
        log "starting SFTP target $name"
        docker run -d --name "$name" --hostname "$name" \
            --label "$E2E_LABEL" --label berth.e2e.role=sftp \
            --network "$E2E_NET" --tmpfs /run:rw,mode=755 \
            "$IMG_VPS" /bin/sh -c "$BOOT" >/dev/null
    fi
    local i
    for i in $(seq 1 120); do
        if docker exec "$name" test -s /etc/ssh/ssh_host_ed25519_key.pub 2>/dev/null; then break; fi
        [ "$i" -lt 120 ] || die "$name has no ssh host key"
        sleep 0.5
    done
    docker exec -i "$name" sh -c '
        set -e
        # PID 1 becomes sshd once the boot script (user, directories) is done.
        while [ "$(cat /proc/1/comm)" != sshd ]; do sleep 0.2; done
        install -d -m 0700 -o repo -g repo /home/repo/.ssh
        cat > /home/repo/.ssh/authorized_keys
        chown repo:repo /home/repo/.ssh/authorized_keys
        chmod 0600 /home/repo/.ssh/authorized_keys
    ' <"$KEY.pub"
    local ip
    ip="$(container_ip "$name")"
    [ -n "$ip" ] || die "$name has no address on $E2E_NET"
    for i in $(seq 1 60); do
        if ssh-keyscan -T 2 -t ed25519 "$ip" 2>/dev/null | grep ssh-ed25519 >/dev/null; then break; fi
        sleep 0.5
    done
    sftp_info "$name"
}

sftp_info() {
    local name="$1"
    container_running "$name" || die "$name is not running (sftp.sh up $name)"
    jq -n --arg name "$name" --arg ip "$(container_ip "$name")" --arg hk "$(host_key_line "$name")" \
        --arg key "$KEY" --arg path "$REPO_DIR" \
        '{name: $name, ip: $ip, user: "repo", hostKey: $hk, privateKeyPath: $key, path: $path}'
}

sftp_down() {
    local name="$1"
    valid_name "$name"
    if docker container inspect "$name" >/dev/null 2>&1; then
        [ "$(docker inspect -f '{{index .Config.Labels "berth.e2e.role"}}' "$name")" = sftp ] ||
            die "$name is not a berth e2e SFTP target"
        log "removing $name"
        docker rm -f -v "$name" >/dev/null
    fi
}

cmd="${1:-}"
shift || true
case "$cmd" in
    up) [ $# -eq 1 ] || die "usage: sftp.sh up <name>"; sftp_up "$1" ;;
    pause) [ $# -eq 1 ] || die "usage: sftp.sh pause <name>"; docker pause "$1" >/dev/null ;;
    unpause) [ $# -eq 1 ] || die "usage: sftp.sh unpause <name>"; docker unpause "$1" >/dev/null ;;
    exec) [ $# -eq 2 ] || die "usage: sftp.sh exec <name> <command>"; docker exec -i "$1" bash -c "$2" ;;
    down) [ $# -eq 1 ] || die "usage: sftp.sh down <name>"; sftp_down "$1" ;;
    *) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
