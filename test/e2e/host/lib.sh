# shellcheck shell=bash disable=SC2034
# Shared helpers for the berth e2e host scripts. Source it; do not run it.
#
# Everything here is idempotent: calling a helper twice is harmless.

E2E_HOST_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export E2E_HOST_DIR

# Where cached rootfs tarballs, keys and ACME state live (survives reruns).
E2E_CACHE="${BERTH_E2E_CACHE:-/var/cache/berth-e2e}"
E2E_KEYS="$E2E_CACHE/keys"
E2E_NET="${BERTH_E2E_NETWORK:-berth-e2e}"
# Which Debian release the VPS runs: trixie (Debian 13, stable: the default)
# or bookworm (Debian 12, oldstable: BERTH_E2E_SUITE=bookworm).
E2E_SUITE="${BERTH_E2E_SUITE:-trixie}"
case "$E2E_SUITE" in
    trixie | bookworm) ;;
    *)
        printf 'berth-e2e: unsupported BERTH_E2E_SUITE %q (trixie or bookworm)\n' "$E2E_SUITE" >&2
        exit 2
        ;;
esac

# Which set of services (ACME CA + its DNS, git server) a caller gets: "e2e"
# (the default: the e2e suite), "dev" (scripts/dev.sh), "selftest"
# (selftest.sh). Each set is its own (own ports, state directory, container),
# so one set being started, reused or stopped never touches another: a
# running dev stack and the e2e suite do not share a CA root, DNS records or
# git repositories.
E2E_INSTANCE="${BERTH_E2E_INSTANCE:-e2e}"
if ! [[ "$E2E_INSTANCE" =~ ^[a-z0-9][a-z0-9-]{0,20}$ ]]; then
    printf 'berth-e2e: invalid BERTH_E2E_INSTANCE %q (a-z, 0-9, -)\n' "$E2E_INSTANCE" >&2
    exit 2
fi
E2E_MIRROR="${BERTH_E2E_MIRROR:-}"

IMG_BASE="berth-local/debian:$E2E_SUITE"
IMG_VPS="berth-vps:$E2E_SUITE"
# The data service images (stand-ins for the official postgres/redis images,
# whatever the VPS runs) are built on bookworm's base.
IMG_DATA_BASE="berth-local/debian:bookworm"
IMG_PG="berth-local/postgres:15"
IMG_REDIS="berth-local/redis:7"

# Label every container/volume/network we create so cleanup never touches
# anything else.
E2E_LABEL="berth.e2e=1"

# Flags that make a debootstrapped image boot real systemd as PID 1 on this
# machine's engine (cgroup v1 hybrid host). --privileged does NOT work here.
# shellcheck disable=SC2054 # the commas are tmpfs mount options
SYSTEMD_RUN_FLAGS=(
    --cap-add ALL --cap-drop SYS_RESOURCE
    --security-opt seccomp=unconfined
    --security-opt apparmor=unconfined
    --cgroupns=host
    -v /sys/fs/cgroup:/sys/fs/cgroup:rw
    --tmpfs /run:rw,exec,mode=755
    --tmpfs /run/lock:rw,mode=1777
    --tmpfs /tmp:rw,exec,mode=1777
    -e container=docker
    --stop-signal SIGRTMIN+3
)

log() { printf '[berth-e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ensure_pkgs CMD:PKG ... — apt-get install PKG when CMD is missing.
ensure_pkgs() {
    local spec cmd pkg missing=()
    for spec in "$@"; do
        cmd="${spec%%:*}"
        pkg="${spec#*:}"
        if ! command -v "$cmd" >/dev/null 2>&1; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "apt-get install ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# ensure_dockerd — start the outer docker engine if it is not answering.
ensure_dockerd() {
    ensure_pkgs docker:docker.io dockerd:docker.io iptables:iptables ssh:openssh-client \
        ssh-keygen:openssh-client jq:jq openssl:openssl
    if docker info >/dev/null 2>&1; then
        return 0
    fi
    if ! pgrep -x dockerd >/dev/null 2>&1; then
        log "starting dockerd (log: /var/log/dockerd.log)"
        # setsid + nohup: the engine must outlive this script and its job.
        setsid nohup dockerd >/var/log/dockerd.log 2>&1 </dev/null &
        disown || true
    fi
    local i
    for i in $(seq 1 120); do
        if docker info >/dev/null 2>&1; then
            log "dockerd is up (${i}x0.5s)"
            return 0
        fi
        sleep 0.5
    done
    tail -n 30 /var/log/dockerd.log >&2 || true
    die "dockerd did not come up"
}

# debian_mirror — the Debian mirror this machine's apt uses.
debian_mirror() {
    if [ -n "$E2E_MIRROR" ]; then
        printf '%s\n' "$E2E_MIRROR"
        return 0
    fi
    local m=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        m="$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
    fi
    if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
        m="$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)"
    fi
    printf '%s\n' "${m:-http://deb.debian.org/debian}"
}

ensure_network() {
    if ! docker network inspect "$E2E_NET" >/dev/null 2>&1; then
        log "creating docker network $E2E_NET"
        local args=(--driver bridge --label "$E2E_LABEL")
        if [ -n "${BERTH_E2E_SUBNET:-}" ]; then
            args+=(--subnet "$BERTH_E2E_SUBNET")
        fi
        docker network create "${args[@]}" "$E2E_NET" >/dev/null
    fi
}

# network_gateway — IPv4 gateway of the berth-e2e bridge (the outer host's
# address on that bridge).
network_gateway() {
    docker network inspect "$E2E_NET" -f '{{range .IPAM.Config}}{{.Gateway}} {{end}}' |
        tr ' ' '\n' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' | head -n 1
}

container_ip() {
    docker inspect -f "{{with index .NetworkSettings.Networks \"$E2E_NET\"}}{{.IPAddress}}{{end}}" "$1"
}

container_running() {
    [ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null || true)" = "true" ]
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# ensure_keypair PATH COMMENT — ed25519 key pair generated once.
ensure_keypair() {
    local key="$1" comment="$2"
    install -d -m 0700 "$(dirname "$key")"
    if [ ! -f "$key" ] || [ ! -f "$key.pub" ]; then
        rm -f "$key" "$key.pub"
        ssh-keygen -q -t ed25519 -N '' -C "$comment" -f "$key"
    fi
    chmod 0600 "$key"
}

# ssh options that trust exactly one pinned known_hosts file.
ssh_opts() {
    local key="$1" known="$2"
    printf '%s\n' -i "$key" -o IdentitiesOnly=yes -o BatchMode=yes \
        -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$known" \
        -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR
}

# host_key_line CONTAINER — the container's ssh-ed25519 host public key
# ("ssh-ed25519 AAAA..."), without the trailing comment.
host_key_line() {
    docker exec "$1" cat /etc/ssh/ssh_host_ed25519_key.pub | awk '{print $1" "$2}'
}
