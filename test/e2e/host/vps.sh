#!/usr/bin/env bash
# Disposable local "VPS" hosts (and a git server) for berth's e2e tests.
#
#   vps.sh up <name>            start (or reuse) VPS <name>; prints `info` JSON
#   vps.sh info <name>          {"name","ip","sshPort","user","privateKeyPath",
#                                "hostKey","knownHostsLine","knownHostsPath",...}
#   vps.sh load-images <name>   docker save berth-local/postgres:15 berth-local/redis:7
#                               | ssh root@<ip> docker load   (after docker is installed there)
#   vps.sh stage-images <name>  BEFORE docker is installed there: stage the same images
#                               so docker.service loads them at its first start
#                               (images present within a single `pulumi up`)
#   vps.sh stage-images <name> <image>...  the same, plus these local images (e.g.
#                               berth-local/debian:trixie, the base of an accessory
#                               berth builds on the host)
#   vps.sh ssh <name> [cmd...]  ssh root@<name> with the pinned host key
#   vps.sh down <name>          remove the container and its volumes
#   vps.sh down-all             remove every VPS and every git server
#   vps.sh list                 names of all VPS containers (running or not)
#
#   vps.sh gitserver up                       start (or reuse) berth-$BERTH_E2E_INSTANCE-git
#                                             (berth-e2e-git by default; dev: berth-dev-git)
#   vps.sh gitserver push <repo-dir> <name>   mirror all branches and tags of a local
#                                             repo to /home/git/<name>.git; prints its URL
#   vps.sh gitserver info                     {"ip","host","url","urlTemplate",
#                                              "deployKeyPath","hostKey","knownHostsLine",...}
#   vps.sh gitserver down
#
# Logs go to stderr; stdout carries only the JSON (or URL) results.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLIENT_KEY="$E2E_KEYS/id_ed25519"
DEPLOY_KEY="$E2E_KEYS/deploy"
# One git server per BERTH_E2E_INSTANCE (lib.sh): berth-e2e-git for the e2e
# suite, berth-dev-git for the dev stack, so `gitserver down` of one leaves
# the other's repositories serving.
GIT_CTR="berth-$E2E_INSTANCE-git"
STATE="$E2E_CACHE/hosts"

usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }

valid_name() {
    [[ "$1" =~ ^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$ ]] || die "invalid name: '$1'"
}

# ensure_images — build/refresh the images (~0.2 s when nothing changed).
ensure_images() {
    "$E2E_HOST_DIR/image.sh" >/dev/null 2>"$E2E_CACHE/image-last.log" || {
        cat "$E2E_CACHE/image-last.log" >&2
        die "image.sh failed"
    }
}

# write_known_hosts CONTAINER IP — pinned known_hosts file for the container.
write_known_hosts() {
    local ctr="$1" ip="$2" dir="$STATE/$1"
    install -d -m 0700 "$dir"
    printf '%s %s\n' "$ip" "$(host_key_line "$ctr")" >"$dir/known_hosts"
    printf '%s\n' "$dir/known_hosts"
}

# wait_ssh USER IP KEY KNOWN_HOSTS
wait_ssh() {
    local user="$1" ip="$2" key="$3" known="$4" i opts
    mapfile -t opts < <(ssh_opts "$key" "$known")
    for i in $(seq 1 120); do
        if ssh "${opts[@]}" "$user@$ip" true </dev/null 2>/dev/null; then
            log "ssh $user@$ip answers (${i}x0.5s)"
            return 0
        fi
        sleep 0.5
    done
    ssh "${opts[@]}" "$user@$ip" true </dev/null || true
    die "ssh $user@$ip never answered"
}

wait_host_key() {
    local ctr="$1" i
    for i in $(seq 1 120); do
        if docker exec "$ctr" test -s /etc/ssh/ssh_host_ed25519_key.pub 2>/dev/null; then return 0; fi
        sleep 0.5
    done
    die "$ctr has no ssh host key"
}

# ---------------------------------------------------------------------------
# VPS
# ---------------------------------------------------------------------------

vps_up() {
    local name="$1"
    valid_name "$name"
    ensure_dockerd
    ensure_images
    ensure_network
    ensure_keypair "$CLIENT_KEY" "berth-e2e-client"
    local vol="berth-e2e-$name-docker"

    if docker container inspect "$name" >/dev/null 2>&1; then
        if [ "$(docker inspect -f '{{index .Config.Labels "berth.e2e.role"}}' "$name")" != vps ]; then
            die "a container named $name exists and is not a berth e2e VPS"
        fi
        # A VPS made before the restart policy below was "no" (see there).
        docker update --restart no "$name" >/dev/null
        if ! container_running "$name"; then
            log "starting existing VPS $name"
            docker start "$name" >/dev/null
        else
            log "VPS $name already running"
        fi
    else
        log "starting VPS $name from $IMG_VPS"
        docker volume create --label "$E2E_LABEL" "$vol" >/dev/null
        # --restart no: a powered-off VPS stays off, as at a provider. With
        # CAP_SYS_BOOT, systemd-shutdown's reboot(2) in a pid namespace makes
        # the kernel kill the namespace's init (kernel/pid_namespace.c
        # reboot_pid_ns: SIGINT for power-off and halt, SIGHUP for restart),
        # so `systemctl poweroff` ends the container with exit 130, which
        # "on-failure" restarted (grow.test.ts 9 powers the old VPS off).
        # A reboot test restarts the container itself (faults.test.ts 4).
        docker run -d --name "$name" --hostname "$name" \
            --label "$E2E_LABEL" --label berth.e2e.role=vps \
            --network "$E2E_NET" \
            --restart no \
            "${SYSTEMD_RUN_FLAGS[@]}" \
            -v "$vol:/var/lib/docker" \
            "$IMG_VPS" >/dev/null
    fi

    # Authorize the client key for root (and the sudo test user).
    docker exec -i "$name" sh -c '
        set -e
        install -d -m 0700 -o root -g root /root/.ssh
        cat > /root/.ssh/authorized_keys
        chmod 0600 /root/.ssh/authorized_keys
        install -d -m 0700 -o tester -g tester /home/tester/.ssh
        install -m 0600 -o tester -g tester /root/.ssh/authorized_keys /home/tester/.ssh/authorized_keys
    ' <"$CLIENT_KEY.pub"

    # Right after the container starts, systemd's bus may not exist yet:
    # is-system-running then prints nothing ("Failed to connect to bus").
    # Ask again until it answers (bounded: 180 s in all).
    local state="" deadline=$((SECONDS + 180))
    while [ "$SECONDS" -lt "$deadline" ]; do
        state="$(timeout $((deadline - SECONDS)) docker exec "$name" systemctl is-system-running --wait 2>/dev/null || true)"
        [ -n "$state" ] && break
        sleep 1
    done
    case "$state" in
        running) log "systemd in $name: running" ;;
        degraded)
            log "systemd in $name: degraded; failed units:"
            docker exec "$name" systemctl --failed --no-legend --plain >&2 || true
            ;;
        *) docker logs --tail 30 "$name" >&2 || true; die "systemd in $name is '$state'" ;;
    esac
    wait_host_key "$name"
    local ip known
    ip="$(container_ip "$name")"
    [ -n "$ip" ] || die "$name has no address on $E2E_NET"
    known="$(write_known_hosts "$name" "$ip")"
    wait_ssh root "$ip" "$CLIENT_KEY" "$known"
    vps_info "$name"
}

vps_info() {
    local name="$1" ip hk
    valid_name "$name"
    ensure_dockerd
    container_running "$name" || die "VPS $name is not running (vps.sh up $name)"
    ip="$(container_ip "$name")"
    hk="$(host_key_line "$name")"
    jq -n --arg name "$name" --arg ip "$ip" --arg key "$CLIENT_KEY" --arg hk "$hk" \
        --arg known "$STATE/$name/known_hosts" --arg net "$E2E_NET" \
        --arg gw "$(network_gateway)" --arg pub "$(cat "$CLIENT_KEY.pub")" '{
            name: $name, ip: $ip, sshPort: 22, user: "root",
            privateKeyPath: $key, publicKey: $pub,
            hostKey: $hk, knownHostsLine: ($ip + " " + $hk), knownHostsPath: $known,
            dockerHost: ("ssh://root@" + $ip),
            network: $net, gateway: $gw,
            passwordUser: "tester", password: "tester-password"
        }'
}

# vps_ssh NAME [CMD...] — ssh root@NAME with the pinned host key.
vps_ssh() {
    local name="$1" ip known opts
    shift
    valid_name "$name"
    docker info >/dev/null 2>&1 || ensure_dockerd
    container_running "$name" || die "VPS $name is not running"
    ip="$(container_ip "$name")"
    known="$(write_known_hosts "$name" "$ip")"
    mapfile -t opts < <(ssh_opts "$CLIENT_KEY" "$known")
    # shellcheck disable=SC2029 # the caller's words are the remote command
    ssh "${opts[@]}" "root@$ip" "$@"
}

# saved_images — `docker save` of the local data-service images, cached
# under $E2E_CACHE/images/ per image ids; prints the tarball's path.
saved_images() {
    local ids f
    ids="$(docker image inspect -f '{{.Id}}' "$IMG_PG" "$IMG_REDIS" | sha256sum | cut -c1-16)"
    f="$E2E_CACHE/images/local-images-$ids.tar"
    if [ ! -s "$f" ]; then
        install -d -m 0755 "$E2E_CACHE/images"
        # Older images' tarballs only: a world beside this one (run.sh's lanes)
        # may have just saved this very one and be copying it.
        find "$E2E_CACHE/images" -maxdepth 1 -name 'local-images-*.tar' ! -name "$(basename "$f")" -delete
        log "docker save $IMG_PG $IMG_REDIS -> $f"
        docker save -o "$f.tmp.$$" "$IMG_PG" "$IMG_REDIS"
        mv "$f.tmp.$$" "$f"
    fi
    printf '%s\n' "$f"
}

vps_docker_running() {
    vps_ssh "$1" 'command -v docker >/dev/null && docker info >/dev/null 2>&1' </dev/null
}

vps_load_images() {
    local name="$1" tar
    valid_name "$name"
    ensure_dockerd
    ensure_images
    if ! vps_docker_running "$name"; then
        die "docker is not installed/running on $name yet: load-images must run after berth installed it (or use stage-images before)"
    fi
    tar="$(saved_images)"
    log "ssh root@$name docker load < $tar"
    vps_ssh "$name" docker load <"$tar" >&2
    vps_ssh "$name" docker image ls --format "'{{.Repository}}:{{.Tag}} {{.ID}}'" </dev/null | grep -E '^berth-local/' >&2
}

# stage-images: before docker exists on the VPS, put the tarball where the
# image's docker.service drop-in loads it at docker's first start (so the
# images are there before berth's data services look for them, in the same
# `pulumi up`). If docker already runs there, this is load-images.
# Extra images (arguments after the name) go in a tarball of their own, next
# to the data-service one: that one's cache is shared by every world.
vps_stage_images() {
    local name="$1" tar extra=""
    shift
    valid_name "$name"
    ensure_dockerd
    ensure_images
    if [ $# -gt 0 ]; then extra="$(saved_extra_images "$@")"; fi
    if vps_docker_running "$name"; then
        vps_load_images "$name"
        if [ -n "$extra" ]; then vps_ssh "$name" docker load <"$extra" >&2; fi
        return 0
    fi
    tar="$(saved_images)"
    log "staging $(basename "$tar") in $name:/var/lib/berth-e2e/preload"
    docker cp "$tar" "$name:/var/lib/berth-e2e/preload/local-images.tar"
    if [ -n "$extra" ]; then
        log "staging $(basename "$extra") ($*) in $name:/var/lib/berth-e2e/preload"
        docker cp "$extra" "$name:/var/lib/berth-e2e/preload/extra-images.tar"
    fi
}

# saved_extra_images IMAGE... — `docker save` of those local images, cached
# under $E2E_CACHE/images/ by their ids (never removed by saved_images).
saved_extra_images() {
    local ids f
    ids="$(docker image inspect -f '{{.Id}}' "$@" | sha256sum | cut -c1-16)" || die "no such local image among: $*"
    f="$E2E_CACHE/images/extra-images-$ids.tar"
    if [ ! -s "$f" ]; then
        install -d -m 0755 "$E2E_CACHE/images"
        log "docker save $* -> $f"
        docker save -o "$f.tmp.$$" "$@"
        mv "$f.tmp.$$" "$f"
    fi
    printf '%s\n' "$f"
}

vps_down() {
    local name="$1"
    valid_name "$name"
    ensure_dockerd
    if docker container inspect "$name" >/dev/null 2>&1; then
        if [ "$(docker inspect -f '{{index .Config.Labels "berth.e2e"}}' "$name")" != 1 ]; then
            die "container $name was not created by these scripts; not removing it"
        fi
        log "removing $name"
        docker rm -f -v "$name" >/dev/null
    fi
    docker volume rm -f "berth-e2e-$name-docker" >/dev/null 2>&1 || true
    rm -rf "${STATE:?}/$name"
}

vps_list() {
    ensure_dockerd
    docker ps -a --filter label=berth.e2e.role=vps --format '{{.Names}}'
}

# ---------------------------------------------------------------------------
# git server
# ---------------------------------------------------------------------------

git_up() {
    ensure_dockerd
    ensure_images
    ensure_network
    ensure_keypair "$DEPLOY_KEY" "berth-e2e-deploy-key"
    if docker container inspect "$GIT_CTR" >/dev/null 2>&1; then
        container_running "$GIT_CTR" || docker start "$GIT_CTR" >/dev/null
    else
        log "starting $GIT_CTR"
        # sshd alone (no systemd): host keys made at first start.
        docker run -d --name "$GIT_CTR" --hostname "$GIT_CTR" \
            --label "$E2E_LABEL" --label berth.e2e.role=gitserver \
            --network "$E2E_NET" --tmpfs /run:rw,mode=755 \
            "$IMG_VPS" \
            /bin/sh -c 'ssh-keygen -A >/dev/null && mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e' >/dev/null
    fi
    # The git user: git-shell, key-only, the deploy key authorized.
    docker exec -i "$GIT_CTR" sh -c '
        set -e
        id -u git >/dev/null 2>&1 || useradd -m -s /usr/bin/git-shell git
        usermod -p "*" git
        install -d -m 0700 -o git -g git /home/git/.ssh
        cat > /home/git/.ssh/authorized_keys
        chown git:git /home/git/.ssh/authorized_keys
        chmod 0600 /home/git/.ssh/authorized_keys
    ' <"$DEPLOY_KEY.pub"
    wait_host_key "$GIT_CTR"
    local ip known
    ip="$(container_ip "$GIT_CTR")"
    known="$(write_known_hosts "$GIT_CTR" "$ip")"
    # git-shell refuses `true`; wait for the TCP banner instead.
    local i
    for i in $(seq 1 60); do
        if ssh-keyscan -T 2 -t ed25519 "$ip" 2>/dev/null | grep ssh-ed25519 >/dev/null; then break; fi
        sleep 0.5
    done
    git_info
}

git_info() {
    ensure_dockerd
    container_running "$GIT_CTR" || die "$GIT_CTR is not running (vps.sh gitserver up)"
    local ip hk
    ip="$(container_ip "$GIT_CTR")"
    hk="$(host_key_line "$GIT_CTR")"
    jq -n --arg ip "$ip" --arg host "$GIT_CTR" --arg key "$DEPLOY_KEY" --arg hk "$hk" \
        --arg pub "$(cat "$DEPLOY_KEY.pub")" --arg known "$STATE/$GIT_CTR/known_hosts" '{
            ip: $ip, host: $host, user: "git",
            url: ("ssh://git@" + $ip + "/home/git/{name}.git"),
            urlTemplate: ("ssh://git@" + $ip + "/home/git/{name}.git"),
            deployKeyPath: $key, deployPublicKey: $pub,
            hostKey: $hk, knownHostsLine: ($ip + " " + $hk), knownHostsPath: $known
        }'
}

git_push() {
    local src="$1" name="$2"
    valid_name "$name"
    [ -d "$src" ] || die "no such directory: $src"
    git -C "$src" rev-parse --git-dir >/dev/null 2>&1 || die "$src is not a git repository"
    container_running "$GIT_CTR" || git_up >/dev/null
    local ip known repo url
    ip="$(container_ip "$GIT_CTR")"
    known="$(write_known_hosts "$GIT_CTR" "$ip")"
    repo="/home/git/$name.git"
    docker exec -u git "$GIT_CTR" sh -c "test -d '$repo' || git init -q --bare '$repo'"
    url="ssh://git@$ip$repo"
    local opts
    mapfile -t opts < <(ssh_opts "$DEPLOY_KEY" "$known")
    log "pushing all branches and tags of $src to $url"
    GIT_SSH_COMMAND="ssh ${opts[*]}" git -C "$src" push -q --force --prune "$url" \
        'refs/heads/*:refs/heads/*' 'refs/tags/*:refs/tags/*' >&2
    # The bare repo's HEAD follows the local checkout's branch.
    local branch
    branch="$(git -C "$src" symbolic-ref -q --short HEAD || true)"
    if [ -n "$branch" ]; then
        docker exec -u git "$GIT_CTR" git --git-dir="$repo" symbolic-ref HEAD "refs/heads/$branch"
    fi
    printf '%s\n' "$url"
}

git_down() {
    ensure_dockerd
    if docker container inspect "$GIT_CTR" >/dev/null 2>&1; then
        log "removing $GIT_CTR"
        docker rm -f -v "$GIT_CTR" >/dev/null
    fi
    rm -rf "${STATE:?}/$GIT_CTR"
}

main() {
    [ $# -ge 1 ] || { usage >&2; exit 2; }
    local cmd="$1"
    shift
    case "$cmd" in
        up) [ $# -eq 1 ] || die "usage: vps.sh up <name>"; vps_up "$1" ;;
        info) [ $# -eq 1 ] || die "usage: vps.sh info <name>"; vps_info "$1" ;;
        load-images) [ $# -eq 1 ] || die "usage: vps.sh load-images <name>"; vps_load_images "$1" ;;
        stage-images) [ $# -ge 1 ] || die "usage: vps.sh stage-images <name> [image...]"; vps_stage_images "$@" ;;
        ssh) [ $# -ge 1 ] || die "usage: vps.sh ssh <name> [cmd...]"; vps_ssh "$@" ;;
        down) [ $# -eq 1 ] || die "usage: vps.sh down <name>"; vps_down "$1" ;;
        down-all)
            local n
            for n in $(vps_list); do vps_down "$n"; done
            for n in $(docker ps -a --filter label=berth.e2e.role=gitserver --format '{{.Names}}'); do
                GIT_CTR="$n" git_down
            done
            ;;
        list) vps_list ;;
        gitserver)
            local sub="${1:-}"
            shift || true
            case "$sub" in
                up) git_up ;;
                info) git_info ;;
                push) [ $# -eq 2 ] || die "usage: vps.sh gitserver push <repo-dir> <name>"; git_push "$1" "$2" ;;
                down) git_down ;;
                *) die "usage: vps.sh gitserver up|push|info|down" ;;
            esac
            ;;
        -h | --help | help) usage ;;
        *) usage >&2; die "unknown command: $cmd" ;;
    esac
}

main "$@"
