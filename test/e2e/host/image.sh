#!/usr/bin/env bash
# Build (or reuse) the local images the berth e2e tests need, on the OUTER
# docker engine, from Debian packages only (no registry but Debian's):
#
#   berth-local/debian:<suite>    debootstrap minbase rootfs, `docker import`ed
#                                 (trixie = Debian 13, the default; bookworm = Debian 12)
#   berth-vps:<suite>             a "fresh VPS": systemd, sshd, sudo, no nginx/docker/ufw/certbot
#                                 (the suite is BERTH_E2E_SUITE, lib.sh)
#   berth-local/postgres:15       postgresql-15, same contract as the official postgres image
#   berth-local/redis:7           redis-server 7, same contract as the official redis image
#
# usage: image.sh [build] [--force] [base|vps|postgres|redis ...]   (default: all)
#        image.sh verify       smoke-test postgres and redis on the outer engine
#        image.sh clean        remove the images and the cached rootfs tarball
#
# Reruns are fast: the rootfs tarball is cached under /var/cache/berth-e2e/rootfs
# (delete it, or `image.sh clean`, to debootstrap again) and an image is
# rebuilt (--force: always) only when missing or when its build context (or the
# base image) changed (tracked by the image label berth.e2e.context).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOTFS_DIR="$E2E_CACHE/rootfs"
FORCE=0

# apt_sources SUITE MIRROR — deb822 sources of that Debian release: the
# release, its updates and its security archive (what a fresh VPS has).
apt_sources() {
    local suite="$1" mirror="$2"
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n' \
        "$mirror" "$suite" "$suite"
    printf 'Types: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$(security_mirror "$mirror")" "$suite"
}

# security_mirror MIRROR — the security archive next to MIRROR.
security_mirror() {
    case "$1" in
        */debian) printf '%s-security\n' "$1" ;;
        */debian/) printf '%s\n' "${1%/}-security" ;;
        *) printf 'http://deb.debian.org/debian-security\n' ;;
    esac
}

# build_rootfs SUITE — debootstrap a minbase rootfs of SUITE once, with that
# release's apt sources on this machine's mirror, into the cached tarball.
build_rootfs() {
    local suite="$1"
    local ROOTFS_TAR="$ROOTFS_DIR/$suite-minbase.tar"
    if [ -s "$ROOTFS_TAR" ]; then
        log "reusing cached rootfs $ROOTFS_TAR"
        return 0
    fi
    ensure_pkgs debootstrap:debootstrap
    local mirror work
    mirror="$(debian_mirror)"
    work="$ROOTFS_DIR/work.$$"
    install -d -m 0755 "$ROOTFS_DIR"
    rm -rf "$work"
    log "debootstrap --variant=minbase $suite from $mirror (first run only)"
    # shellcheck disable=SC2064 # expand $work now
    trap "rm -rf '$work'" EXIT
    debootstrap --variant=minbase --include=ca-certificates \
        "$suite" "$work" "$mirror" >"$ROOTFS_DIR/debootstrap-$suite.log" 2>&1 ||
        { tail -n 30 "$ROOTFS_DIR/debootstrap-$suite.log" >&2; die "debootstrap failed"; }

    # That release's archive on this machine's mirror (and this machine's apt
    # tweaks, such as Check-Valid-Until for a snapshot mirror).
    rm -f "$work/etc/apt/sources.list"
    rm -f "$work"/etc/apt/sources.list.d/*
    apt_sources "$suite" "$mirror" >"$work/etc/apt/sources.list.d/debian.sources"
    local f
    for f in /etc/apt/apt.conf.d/99*; do
        [ -f "$f" ] || continue
        cp "$f" "$work/etc/apt/apt.conf.d/"
    done
    # Keep containers lean; never start services from dpkg during image builds
    # (each Dockerfile decides for itself; the VPS image must NOT keep this).
    chroot "$work" apt-get clean
    rm -rf "$work"/var/lib/apt/lists/* "$work"/var/cache/apt/*.bin "$work"/var/log/*.log
    : >"$work/etc/machine-id"
    printf 'localhost\n' >"$work/etc/hostname"

    tar --numeric-owner --xattrs -C "$work" -cf "$ROOTFS_TAR.tmp" .
    mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
    rm -rf "$work"
    trap - EXIT
    log "rootfs cached at $ROOTFS_TAR ($(du -h "$ROOTFS_TAR" | cut -f1))"
}

# context_hash DIR — what an image is built from: its build context plus
# the id of the base image.
context_hash() {
    local dir="$1" base="$2" base_id
    base_id="$(docker image inspect -f '{{.Id}}' "$base")"
    {
        printf '%s\n' "$base_id"
        (cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    } | sha256sum | cut -c1-16
}

image_label() {
    docker image inspect -f '{{index .Config.Labels "berth.e2e.context"}}' "$1" 2>/dev/null || true
}

# build_base SUITE — berth-local/debian:SUITE from the cached rootfs.
build_base() {
    local suite="$1" image="berth-local/debian:$1"
    local ROOTFS_TAR="$ROOTFS_DIR/$suite-minbase.tar"
    if image_exists "$image" && [ "$FORCE" = 0 ]; then
        log "$image present"
        return 0
    fi
    build_rootfs "$suite"
    log "docker import $ROOTFS_TAR -> $image"
    docker import \
        --change 'CMD ["/bin/bash"]' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'LABEL berth.e2e=1' \
        "$ROOTFS_TAR" "$image" >/dev/null
}

# build_ctx IMAGE DIR BASE — docker build DIR as IMAGE FROM BASE (the build
# argument BASE) when missing or stale.
build_ctx() {
    local image="$1" dir="$2" base="$3" hash
    hash="$(context_hash "$dir" "$base")"
    if [ "$FORCE" = 0 ] && [ "$(image_label "$image")" = "$hash" ]; then
        log "$image present (context $hash)"
        return 0
    fi
    log "docker build $image from $dir (context $hash)"
    local logf
    logf="$E2E_CACHE/build-$(basename "$dir")-${image##*:}.log"
    # The outer engine is 20.10 and buildx may be absent: use the classic builder.
    if ! DOCKER_BUILDKIT=0 docker build --label "berth.e2e=1" --label "berth.e2e.context=$hash" \
        --build-arg "BASE=$base" -t "$image" "$dir" >"$logf" 2>&1; then
        tail -n 40 "$logf" >&2
        die "docker build $image failed (log: $logf)"
    fi
    BUILT+=("$image")
}

# ---------------------------------------------------------------------------
# verify: the local postgres/redis images honour the official images' contract
# ---------------------------------------------------------------------------

verify_postgres() {
    local c=berth-e2e-verify-pg pw="s3cret-pw" ok=0 i
    docker rm -f -v "$c" >/dev/null 2>&1 || true
    docker volume rm -f berth-e2e-verify-pg >/dev/null 2>&1 || true
    local pwfile
    pwfile="$(mktemp)"
    printf '%s' "$pw" >"$pwfile"
    # The same definition berth uses: password from a file, PGDATA in a
    # subdirectory of the volume, port on loopback only.
    docker create --name "$c" --label "$E2E_LABEL" \
        -e POSTGRES_USER=postgres -e POSTGRES_PASSWORD_FILE=/etc/berth-postgres-password \
        -e POSTGRES_DB=appdb -e POSTGRES_INITDB_ARGS=--auth-host=scram-sha-256 \
        -e PGDATA=/var/lib/postgresql/data/pgdata \
        -v berth-e2e-verify-pg:/var/lib/postgresql/data \
        "$IMG_PG" >/dev/null
    docker cp "$pwfile" "$c:/etc/berth-postgres-password"
    rm -f "$pwfile"
    docker start "$c" >/dev/null
    for i in $(seq 1 60); do
        if docker exec "$c" pg_isready -q -U postgres -h 127.0.0.1 -p 5432 2>/dev/null; then ok=1; break; fi
        sleep 1
    done
    if [ "$ok" != 1 ]; then docker logs "$c" >&2; die "postgres never became ready"; fi
    log "postgres ready after ${i}s"
    local ip
    ip="$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$c")"
    # TCP from another container with the password (scram-sha-256).
    docker run --rm --label "$E2E_LABEL" -e PGPASSWORD="$pw" "$IMG_PG" \
        psql -h "$ip" -U postgres -d appdb -tAc "select current_user || ' ' || current_database() || ' ' || (select setting from pg_settings where name='password_encryption') || ' ' || version()" |
        grep '^postgres appdb scram-sha-256 PostgreSQL 15' >/dev/null || die "psql over TCP failed"
    # A wrong password must be refused over TCP.
    if docker run --rm --label "$E2E_LABEL" -e PGPASSWORD=wrong "$IMG_PG" \
        psql -h "$ip" -U postgres -d appdb -tAc 'select 1' >/dev/null 2>&1; then
        die "postgres accepted a wrong password over TCP"
    fi
    # Local socket is trust, like the official image; runs as postgres.
    [ "$(docker exec -u postgres "$c" psql -tAc 'select 1')" = 1 ] || die "local socket psql failed"
    [ "$(docker exec "$c" ps -o user= -p 1 | tr -d ' ')" = postgres ] || die "postgres is not running as postgres"
    docker exec "$c" grep -q "^host all all all scram-sha-256" /var/lib/postgresql/data/pgdata/pg_hba.conf ||
        die "pg_hba.conf lacks the scram host line"
    # Restart keeps data and skips init.
    docker exec -u postgres "$c" psql -d appdb -qc 'create table t(x int); insert into t values (42)'
    docker restart "$c" >/dev/null
    for i in $(seq 1 60); do
        docker exec "$c" pg_isready -q -h 127.0.0.1 2>/dev/null && break
        sleep 1
    done
    [ "$(docker exec -u postgres "$c" psql -d appdb -tAc 'select x from t')" = 42 ] || die "data lost across restart"
    docker logs "$c" 2>&1 | grep 'Skipping initialization' >/dev/null || die "restart re-initialised"
    docker rm -f -v "$c" >/dev/null
    docker volume rm -f berth-e2e-verify-pg >/dev/null
    log "verify $IMG_PG: OK (initdb, POSTGRES_PASSWORD_FILE, scram over TCP, trust socket, restart)"
}

verify_redis() {
    local c=berth-e2e-verify-redis pw="r3dis-pw" conf ok=0 i
    docker rm -f -v "$c" >/dev/null 2>&1 || true
    docker volume rm -f berth-e2e-verify-redis >/dev/null 2>&1 || true
    conf="$(mktemp)"
    printf 'bind 0.0.0.0\nport 6379\nprotected-mode no\ndir /data\nappendonly yes\nappendfsync everysec\nrequirepass %s\n' "$pw" >"$conf"
    chmod 0644 "$conf"
    docker create --name "$c" --label "$E2E_LABEL" -v berth-e2e-verify-redis:/data \
        "$IMG_REDIS" redis-server /etc/berth-redis.conf >/dev/null
    docker cp "$conf" "$c:/etc/berth-redis.conf"
    rm -f "$conf"
    docker start "$c" >/dev/null
    for i in $(seq 1 30); do
        if docker exec -e REDISCLI_AUTH="$pw" "$c" redis-cli ping 2>/dev/null | grep PONG >/dev/null; then ok=1; break; fi
        sleep 0.5
    done
    if [ "$ok" != 1 ]; then docker logs "$c" >&2; die "redis never answered"; fi
    local ip
    ip="$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$c")"
    # berth's health check, verbatim.
    docker exec "$c" sh -c 'REDISCLI_AUTH="$(sed -n "s/^requirepass //p" /etc/berth-redis.conf)" redis-cli ping | grep -q PONG' ||
        die "berth health check failed"
    # AUTH over TCP from another container; unauthenticated is refused.
    docker run --rm --label "$E2E_LABEL" "$IMG_REDIS" redis-cli -h "$ip" ping 2>&1 | grep NOAUTH >/dev/null ||
        die "redis answered without AUTH"
    [ "$(docker run --rm --label "$E2E_LABEL" "$IMG_REDIS" redis-cli -h "$ip" -a "$pw" --no-auth-warning set k v)" = OK ] ||
        die "redis SET over TCP failed"
    [ "$(docker exec -e REDISCLI_AUTH="$pw" "$c" redis-cli config get appendonly | tail -n 1)" = yes ] || die "appendonly is off"
    [ "$(docker exec "$c" ps -o user= -p 1 | tr -d ' ')" = redis ] || die "redis is not running as redis"
    [ "$(docker exec "$c" pwd)" = /data ] || die "workdir is not /data"
    docker restart "$c" >/dev/null
    for i in $(seq 1 30); do
        docker exec -e REDISCLI_AUTH="$pw" "$c" redis-cli ping 2>/dev/null | grep PONG >/dev/null && break
        sleep 0.5
    done
    [ "$(docker exec -e REDISCLI_AUTH="$pw" "$c" redis-cli get k)" = v ] || die "redis lost data across restart (AOF)"
    docker exec "$c" test -d /data/appendonlydir || die "no AOF directory in /data"
    docker rm -f -v "$c" >/dev/null
    docker volume rm -f berth-e2e-verify-redis >/dev/null
    # Without a config file it must listen on all interfaces with protected
    # mode off, like the official image.
    docker run -d --name "$c" --label "$E2E_LABEL" "$IMG_REDIS" >/dev/null
    ip="$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$c")"
    sleep 1
    docker run --rm --label "$E2E_LABEL" "$IMG_REDIS" redis-cli -h "$ip" ping | grep PONG >/dev/null ||
        die "redis without config is not reachable (protected mode?)"
    docker rm -f -v "$c" >/dev/null
    log "verify $IMG_REDIS: OK (config file, requirepass, AUTH+PING, appendonly, restart)"
}

usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }

main() {
    local cmd=build targets=()
    while [ $# -gt 0 ]; do
        case "$1" in
            build) cmd=build ;;
            verify | clean) cmd="$1" ;;
            --force | -f) FORCE=1 ;;
            base | vps | postgres | redis) targets+=("$1") ;;
            -h | --help) usage; return 0 ;;
            *) usage >&2; die "unknown argument: $1" ;;
        esac
        shift
    done
    [ "${#targets[@]}" -gt 0 ] || targets=(base vps postgres redis)
    ensure_dockerd
    install -d -m 0755 "$E2E_CACHE"
    # One builder at a time (parallel `vps.sh up` calls all run this).
    exec 9>"$E2E_CACHE/image.lock"
    flock 9

    case "$cmd" in
        verify)
            verify_postgres
            verify_redis
            return 0
            ;;
        clean)
            docker image rm -f "$IMG_VPS" "$IMG_PG" "$IMG_REDIS" "$IMG_BASE" "$IMG_DATA_BASE" >/dev/null 2>&1 || true
            rm -f "$ROOTFS_DIR"/*-minbase.tar
            return 0
            ;;
    esac

    BUILT=()
    local t forced="$FORCE"
    # The base is always needed; --force on a child target rebuilds only it.
    if [[ " ${targets[*]} " != *" base "* ]]; then FORCE=0; fi
    build_base "$E2E_SUITE"
    [ "$IMG_DATA_BASE" = "$IMG_BASE" ] || build_base bookworm
    FORCE="$forced"
    for t in "${targets[@]}"; do
        case "$t" in
            base) ;;
            vps) build_ctx "$IMG_VPS" "$E2E_HOST_DIR/vps" "$IMG_BASE" ;;
            postgres) build_ctx "$IMG_PG" "$E2E_HOST_DIR/postgres" "$IMG_DATA_BASE" ;;
            redis) build_ctx "$IMG_REDIS" "$E2E_HOST_DIR/redis" "$IMG_DATA_BASE" ;;
        esac
    done
    if [ "${#BUILT[@]}" -gt 0 ]; then
        # superseded builds of our images
        docker image prune -f --filter label=berth.e2e=1 >/dev/null || true
    fi
    local b
    for b in "${BUILT[@]}"; do
        case "$b" in
            "$IMG_PG") verify_postgres ;;
            "$IMG_REDIS") verify_redis ;;
        esac
    done
    docker image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | grep -E '^berth' >&2 || true
}

main "$@"
