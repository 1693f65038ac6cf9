#!/usr/bin/env bash
# A local ACME CA for berth's e2e tests: Debian's pebble + pebble-challtestsrv
# on the OUTER host, bound only to the berth-e2e bridge gateway address.
#
#   acme.sh up      start (or reuse) both; prints `info` JSON
#   acme.sh info    {"directoryUrl","caBundlePem","caBundlePath","rootsUrl",
#                    "dnsApi","gateway",...}
#   acme.sh down    stop both (only the processes this script started for
#                   this BERTH_E2E_INSTANCE; see below)
#   acme.sh prove <vps-name>
#                   end-to-end check: nginx + certbot on the VPS get a
#                   certificate for app.example.test over HTTP-01
#
# pebble validates HTTP-01 on port 80 (TLS-ALPN-01 on 443) of the address
# challtestsrv's DNS returns: add it first with
#   curl -d '{"host":"app.example.test.","addresses":["<vps ip>"]}' <dnsApi>/add-a
# Names without an A record do not resolve (no default address).
# pebble's own listener cert is signed by a small local CA (caBundlePem,
# valid for IP:<gateway>): point certbot at it with REQUESTS_CA_BUNDLE.
# pebble makes a NEW issuing root each time it starts: fetch rootsUrl after up.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# One pebble + challtestsrv pair per BERTH_E2E_INSTANCE (lib.sh), each with
# its own ports, state directory, issuing root and DNS records: the e2e suite
# (e2e: 14000/15000/8053/8055), the dev stack (dev: each port +10) and the
# self-test (selftest: +20) never stop, restart or answer for one another.
case "$E2E_INSTANCE" in
    e2e) ACME_SLOT=0 ;;
    dev) ACME_SLOT=1 ;;
    selftest) ACME_SLOT=2 ;;
    *) ACME_SLOT=$(($(printf '%s' "$E2E_INSTANCE" | cksum | cut -d' ' -f1) % 90 + 10)) ;;
esac
if [ "$E2E_INSTANCE" = e2e ]; then
    ACME_DIR="$E2E_CACHE/acme"
else
    ACME_DIR="$E2E_CACHE/acme-$E2E_INSTANCE"
fi
PEBBLE_PORT=$((14000 + 10 * ACME_SLOT))
PEBBLE_MGMT_PORT=$((15000 + 10 * ACME_SLOT))
DNS_PORT=$((8053 + 10 * ACME_SLOT))
DNS_API_PORT=$((8055 + 10 * ACME_SLOT))

usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }

gateway() {
    local gw
    gw="$(network_gateway)"
    [ -n "$gw" ] || die "network $E2E_NET has no IPv4 gateway"
    printf '%s\n' "$gw"
}

# pid_alive NAME BINARY — pid from $ACME_DIR/NAME.pid if it is still BINARY.
pid_alive() {
    local pidf="$ACME_DIR/$1.pid" pid
    [ -s "$pidf" ] || return 1
    pid="$(cat "$pidf")"
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -E "^(/usr/bin/)?$2 " >/dev/null || return 1
    printf '%s\n' "$pid"
}

# ensure_certs GW — local CA (once) and pebble's listener cert for IP:GW.
ensure_certs() {
    local gw="$1"
    install -d -m 0700 "$ACME_DIR"
    if [ ! -s "$ACME_DIR/ca.pem" ] || [ ! -s "$ACME_DIR/ca.key" ]; then
        log "generating the local CA for pebble's listener"
        openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
            -keyout "$ACME_DIR/ca.key" -out "$ACME_DIR/ca.pem" -days 3650 \
            -subj "/CN=berth e2e pebble listener CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -addext "subjectKeyIdentifier=hash" 2>/dev/null
        rm -f "$ACME_DIR/pebble.pem"
    fi
    if [ -s "$ACME_DIR/pebble.pem" ] && [ "$(cat "$ACME_DIR/pebble.gw" 2>/dev/null || true)" = "$gw" ]; then
        return 0
    fi
    log "issuing pebble's listener certificate for IP:$gw"
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$ACME_DIR/pebble.key" -out "$ACME_DIR/pebble.csr" \
        -subj "/CN=$gw" 2>/dev/null
    printf '%s\n' \
        "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth" \
        "subjectAltName=IP:$gw,DNS:pebble,DNS:localhost" \
        "authorityKeyIdentifier=keyid" \
        "subjectKeyIdentifier=hash" >"$ACME_DIR/pebble.ext"
    openssl x509 -req -in "$ACME_DIR/pebble.csr" -CA "$ACME_DIR/ca.pem" -CAkey "$ACME_DIR/ca.key" \
        -CAcreateserial -days 825 -extfile "$ACME_DIR/pebble.ext" -out "$ACME_DIR/pebble.pem" 2>/dev/null
    rm -f "$ACME_DIR/pebble.csr" "$ACME_DIR/pebble.ext"
    printf '%s\n' "$gw" >"$ACME_DIR/pebble.gw"
}

write_config() {
    local gw="$1"
    jq -n --arg gw "$gw" --arg cert "$ACME_DIR/pebble.pem" --arg key "$ACME_DIR/pebble.key" \
        --argjson p "$PEBBLE_PORT" --argjson m "$PEBBLE_MGMT_PORT" '{
        pebble: {
            listenAddress: ($gw + ":" + ($p|tostring)),
            managementListenAddress: ($gw + ":" + ($m|tostring)),
            certificate: $cert,
            privateKey: $key,
            httpPort: 80,
            tlsPort: 443,
            ocspResponderURL: "",
            externalAccountBindingRequired: false
        }
    }' >"$ACME_DIR/pebble-config.json"
}

# spawn NAME CMD... — CMD as a daemon in its own session (outlives this
# script); its pid in $ACME_DIR/NAME.pid, its output in $ACME_DIR/NAME.log.
spawn() {
    local name="$1"
    shift
    # shellcheck disable=SC2016 # $$ and $0 belong to the inner sh
    setsid nohup sh -c 'echo "$$" >"$0"; exec "$@"' "$ACME_DIR/$name.pid" "$@" \
        >"$ACME_DIR/$name.log" 2>&1 </dev/null &
    local i
    for i in $(seq 1 40); do
        [ -s "$ACME_DIR/$name.pid" ] && return 0
        sleep 0.05
    done
    die "$name did not start"
}

# proc_gone PID — exited (a zombie waiting for its reaper counts as gone).
proc_gone() {
    local st
    st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
    [ -z "$st" ] || [ "$st" = Z ]
}

acme_down() {
    local name bin pid
    for name in pebble challtestsrv; do
        bin=pebble
        [ "$name" = challtestsrv ] && bin=pebble-challtestsrv
        if pid="$(pid_alive "$name" "$bin")"; then
            log "stopping $bin (pid $pid)"
            kill "$pid" 2>/dev/null || true
            local i
            for i in $(seq 1 20); do
                proc_gone "$pid" && break
                sleep 0.25
            done
            proc_gone "$pid" || kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$ACME_DIR/$name.pid"
    done
    rm -f "$ACME_DIR/running.gw"
}

wait_http() {
    local url="$1" what="$2" i
    shift 2
    for i in $(seq 1 60); do
        if curl -fsS -o /dev/null "$@" "$url" 2>/dev/null; then return 0; fi
        sleep 0.25
    done
    die "$what did not answer at $url"
}

acme_up() {
    ensure_dockerd
    ensure_pkgs pebble:pebble pebble-challtestsrv:pebble curl:curl
    ensure_network
    local gw
    gw="$(gateway)"
    ensure_certs "$gw"
    write_config "$gw"

    # Running but bound to another gateway (network re-created)? restart.
    if [ "$(cat "$ACME_DIR/running.gw" 2>/dev/null || true)" != "$gw" ]; then
        acme_down
    fi

    if ! pid_alive challtestsrv pebble-challtestsrv >/dev/null; then
        rm -f "$ACME_DIR/challtestsrv.pid"
        log "starting pebble-challtestsrv (DNS $gw:$DNS_PORT, API $gw:$DNS_API_PORT)"
        spawn challtestsrv pebble-challtestsrv \
            -defaultIPv4 "" -defaultIPv6 "" \
            -dns01 "$gw:$DNS_PORT" -management "$gw:$DNS_API_PORT" \
            -http01 "" -https01 "" -tlsalpn01 ""
    fi
    if ! pid_alive pebble pebble >/dev/null; then
        rm -f "$ACME_DIR/pebble.pid"
        log "starting pebble (ACME https://$gw:$PEBBLE_PORT/dir)"
        PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=100 \
            spawn pebble pebble -config "$ACME_DIR/pebble-config.json" -dnsserver "$gw:$DNS_PORT"
    fi
    printf '%s\n' "$gw" >"$ACME_DIR/running.gw"
    # challtestsrv's API answers POST only; any HTTP answer means it is up.
    local i
    for i in $(seq 1 60); do
        if curl -s -o /dev/null "http://$gw:$DNS_API_PORT/" 2>/dev/null; then break; fi
        sleep 0.25
    done
    wait_http "https://$gw:$PEBBLE_PORT/dir" pebble --cacert "$ACME_DIR/ca.pem"
    wait_http "https://$gw:$PEBBLE_MGMT_PORT/roots/0" "pebble management" --cacert "$ACME_DIR/ca.pem"
    acme_info
}

acme_info() {
    if [ ! -s "$ACME_DIR/running.gw" ] || ! pid_alive pebble pebble >/dev/null; then
        die "pebble is not running (acme.sh up)"
    fi
    local gw
    gw="$(cat "$ACME_DIR/running.gw")"
    jq -n --arg gw "$gw" --arg ca "$ACME_DIR/ca.pem" --rawfile pem "$ACME_DIR/ca.pem" \
        --argjson p "$PEBBLE_PORT" --argjson m "$PEBBLE_MGMT_PORT" \
        --argjson d "$DNS_PORT" --argjson a "$DNS_API_PORT" --arg inst "$E2E_INSTANCE" '{
        directoryUrl: ("https://" + $gw + ":" + ($p|tostring) + "/dir"),
        caBundlePem: $pem,
        caBundlePath: $ca,
        rootsUrl: ("https://" + $gw + ":" + ($m|tostring) + "/roots/0"),
        intermediatesUrl: ("https://" + $gw + ":" + ($m|tostring) + "/intermediates/0"),
        dnsApi: ("http://" + $gw + ":" + ($a|tostring)),
        dnsServer: ($gw + ":" + ($d|tostring)),
        gateway: $gw,
        instance: $inst
    }'
}

# prove VPS — the whole HTTP-01 path against a VPS made by vps.sh.
acme_prove() {
    local name="$1" vps="$E2E_HOST_DIR/vps.sh" info vip dir dnsapi roots domain="app.example.test"
    info="$(acme_up)"
    dir="$(jq -r .directoryUrl <<<"$info")"
    dnsapi="$(jq -r .dnsApi <<<"$info")"
    roots="$(jq -r .rootsUrl <<<"$info")"
    vip="$("$vps" info "$name" | jq -r .ip)"
    log "A $domain -> $vip"
    curl -fsS -d "{\"host\":\"$domain.\",\"addresses\":[\"$vip\"]}" "$dnsapi/add-a" >/dev/null
    "$vps" ssh "$name" 'cat > /usr/local/share/berth-e2e-acme-ca.pem' <"$ACME_DIR/ca.pem"
    # shellcheck disable=SC2016 # expanded on the VPS
    "$vps" ssh "$name" "set -e
        export DEBIAN_FRONTEND=noninteractive
        if ! command -v nginx >/dev/null || ! command -v certbot >/dev/null; then
            apt-get update -q >/dev/null
            apt-get install -y -q --no-install-recommends nginx certbot >/dev/null
        fi
        systemctl enable --now nginx >/dev/null 2>&1
        mkdir -p /var/www/html
        REQUESTS_CA_BUNDLE=/usr/local/share/berth-e2e-acme-ca.pem certbot certonly --webroot -w /var/www/html \
            -d $domain --server $dir --agree-tos -m a@b.test --non-interactive --no-eff-email \
            --force-renewal >/tmp/certbot.log 2>&1 || { cat /tmp/certbot.log; exit 1; }
        openssl x509 -in /etc/letsencrypt/live/$domain/cert.pem -noout -subject -issuer -ext subjectAltName" >&2
    local tmp
    tmp="$(mktemp -d)"
    curl -fsS --cacert "$ACME_DIR/ca.pem" "$roots" >"$tmp/root.pem"
    "$vps" ssh "$name" "cat /etc/letsencrypt/live/$domain/cert.pem" </dev/null >"$tmp/cert.pem"
    "$vps" ssh "$name" "cat /etc/letsencrypt/live/$domain/chain.pem" </dev/null >"$tmp/chain.pem"
    if openssl verify -CAfile "$tmp/root.pem" -untrusted "$tmp/chain.pem" "$tmp/cert.pem" >&2; then
        log "prove: certificate for $domain chains to pebble's root ($roots)"
        rm -rf "$tmp"
    else
        rm -rf "$tmp"
        die "prove: certificate does not chain to pebble's root"
    fi
}

main() {
    [ $# -ge 1 ] || { usage >&2; exit 2; }
    local cmd="$1"
    shift
    case "$cmd" in
        up) acme_up ;;
        info) acme_info ;;
        down) acme_down ;;
        prove) [ $# -eq 1 ] || die "usage: acme.sh prove <vps-name>"; acme_prove "$1" ;;
        -h | --help | help) usage ;;
        *) usage >&2; die "unknown command: $cmd" ;;
    esac
}

main "$@"
