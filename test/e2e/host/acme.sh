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
#   acme.sh prove-dns <vps-name>
#                   end-to-end check of berth's dns-01 certificate script
#                   (components/web/certificate.ts) on the VPS: hooks that call
#                   challtestsrv's API issue a certificate for a name with NO
#                   A record, a second run does nothing, `certbot renew
#                   --force-renewal` renews through the stored hooks; a
#                   lineage switches http-01 -> dns-01 hooks -> Cloudflare
#                   (certbot's real plugin against a stand-in API on the
#                   VPS); the delete scripts remove lineage and files.
#                   Needs its own BERTH_E2E_INSTANCE (not e2e or dev): it
#                   (re)starts that pebble with authorization reuse off, so
#                   every issuance and renewal validates again
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
# Percentage of valid authorizations pebble reuses for a new order of the
# same account (prove-dns sets 0: every order validates again).
AUTHZ_REUSE="${BERTH_E2E_AUTHZREUSE:-100}"

usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }

gateway() {
    local gw
    gw="$(network_gateway)"
    [ -n "$gw" ] || die "network $E2E_NET has no IPv4 gateway"
    printf '%s\n' "$gw"
}

# pid_alive NAME BINARY — pid from $ACME_DIR/NAME.pid if it is still this
# instance's BINARY. A pid file outlives its process across a reboot (the
# cache is on disk), and the number may then be another process, or a thread
# of one (/proc/<tid> reads like a process): only a process (Tgid = pid) whose
# command line names this instance (its config file, its DNS API port) counts,
# so a stale file neither hides a missing server nor gets another one killed.
pid_alive() {
    local pidf="$ACME_DIR/$1.pid" pid cmd mark
    [ -s "$pidf" ] || return 1
    pid="$(cat "$pidf")"
    [ "$(awk '$1 == "Tgid:" { print $2 }' "/proc/$pid/status" 2>/dev/null)" = "$pid" ] || return 1
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    case "$1" in
        pebble) mark="-config $ACME_DIR/pebble-config.json " ;;
        challtestsrv) mark=":$DNS_API_PORT " ;;
        *) die "pid_alive: unknown server $1" ;;
    esac
    grep -E "^(/usr/bin/)?$2 " >/dev/null <<<"$cmd" || return 1
    [[ "$cmd" == *"$mark"* ]] || return 1
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
        PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE="$AUTHZ_REUSE" \
            spawn pebble pebble -config "$ACME_DIR/pebble-config.json" -dnsserver "$gw:$DNS_PORT"
        printf '%s\n' "$AUTHZ_REUSE" >"$ACME_DIR/authzreuse"
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

# dns01_scripts SPEC_JSON — berth's certificate create/delete scripts and
# stdin payload for SPEC ({stack, domain, challenge, dns01, server, caBundle,
# owner}), generated by components/web/certificate.ts: {create, delete, stdin}.
dns01_scripts() {
    local root
    root="$(cd "$E2E_HOST_DIR/../../.." && pwd)"
    (cd "$root" && BERTH_PROVE_SPEC="$1" node_modules/.bin/node --import tsx -e '
        const { parseConfig } = require("./lib/config");
        const { projectDefaults } = require("./test/unit/harness");
        const cert = require("./components/web/certificate");
        const s = JSON.parse(process.env.BERTH_PROVE_SPEC);
        const values = {
            ...projectDefaults(),
            "berth:app": "prove",
            "berth:host": "192.0.2.10",
            "berth:domain": s.domain,
            "berth:dns": "false",
            "berth:sshAgent": "true",
            "berth:repository": "https://git.example.test/app.git",
            "berth:acme": JSON.stringify({ challenge: s.challenge, email: "ops@example.test", server: s.server, caBundle: s.caBundle }),
        };
        if (s.dns01) values["berth:dns01"] = JSON.stringify(s.dns01);
        const r = parseConfig(values, { project: "berth", stack: s.stack, secretKeys: new Set(["berth:dns01"]) });
        if (!r.ok) { console.error(r.errors.join("\n")); process.exit(1); }
        process.stdout.write(JSON.stringify({
            create: cert.certificateScript(r.config, s.owner),
            delete: cert.certificateDeleteScript(r.config, s.owner),
            stdin: cert.dns01Stdin(r.config) ?? "",
            certName: r.config.names.certName,
            dns01Dir: cert.dns01Paths(r.config).dir,
        }));
    ')
}

# A stand-in for Cloudflare's v4 API (the calls certbot-dns-cloudflare 2.0.0
# makes: zone lookup, TXT create/list/delete), run on the VPS for the proof:
# it checks the bearer token and forwards TXT records to challtestsrv.
FAKE_CLOUDFLARE_PY='
import json, sys, urllib.request, urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer
port, token, zone, dnsapi = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
records = {}
def challtest(path, body):
    urllib.request.urlopen(urllib.request.Request(dnsapi + path, data=json.dumps(body).encode()), timeout=10).read()
class H(BaseHTTPRequestHandler):
    def reply(self, code, result, ok=True, errors=()):
        body = json.dumps({"success": ok, "errors": list(errors), "messages": [], "result": result}).encode()
        self.send_response(code); self.send_header("Content-Type", "application/json"); self.end_headers(); self.wfile.write(body)
    def authorized(self):
        if self.headers.get("Authorization") != "Bearer " + token:
            self.reply(403, None, False, [{"code": 9109, "message": "Invalid access token"}]); return False
        return True
    def do_GET(self):
        if not self.authorized(): return
        u = urllib.parse.urlparse(self.path); q = dict(urllib.parse.parse_qsl(u.query)); parts = u.path.strip("/").split("/")
        if parts[-1] == "zones":
            return self.reply(200, [{"id": "zone1", "name": zone}] if q.get("name") == zone else [])
        if parts[-1] == "dns_records":
            return self.reply(200, [dict(id=i, **r) for i, r in records.items() if all(r.get(k) == v for k, v in q.items() if k in ("type", "name", "content"))])
        self.reply(404, None, False, [{"code": 7003, "message": "no route"}])
    def do_POST(self):
        if not self.authorized(): return
        r = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        i = "rec%d" % (len(records) + 1); records[i] = r
        challtest("/set-txt", {"host": r["name"] + ".", "value": r["content"]})
        print("fake-cloudflare: TXT %s added" % r["name"], flush=True)
        self.reply(200, dict(id=i, **r))
    def do_DELETE(self):
        if not self.authorized(): return
        i = self.path.rstrip("/").split("/")[-1]; r = records.pop(i, None)
        if r: challtest("/clear-txt", {"host": r["name"] + "."})
        print("fake-cloudflare: TXT %s deleted" % (r or {}).get("name"), flush=True)
        self.reply(200, {"id": i})
    def log_message(self, *a): pass
HTTPServer(("127.0.0.1", port), H).serve_forever()
'

# A DNS query for NAME type A to SERVER:PORT, run on the VPS (python3, no
# dig): prints the number of answers.
DNS_A_COUNT_PY='
import socket, struct, sys
name, server, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split(".")) + b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5); s.sendto(q, (server, port))
r = s.recv(4096); print(struct.unpack(">HHHHHH", r[:12])[3])
'

# prove_dns VPS — berth's dns-01 certificate script on a VPS made by vps.sh.
acme_prove_dns() {
    local name="$1" vps="$E2E_HOST_DIR/vps.sh" info dir dnsapi roots dnsserver vip ca t0 out mark
    local domain="dns01.example.test" sdomain="dns01-switch.example.test"
    case "$E2E_INSTANCE" in
        e2e | dev) die "prove-dns restarts pebble without authorization reuse: run it with its own BERTH_E2E_INSTANCE (e.g. dns01)" ;;
    esac
    # Without reuse, every order (issue, renew, switch) validates over the challenge again.
    if [ "$(cat "$ACME_DIR/authzreuse" 2>/dev/null || true)" != 0 ]; then acme_down; fi
    AUTHZ_REUSE=0
    info="$(acme_up)"
    dir="$(jq -r .directoryUrl <<<"$info")"
    dnsapi="$(jq -r .dnsApi <<<"$info")"
    roots="$(jq -r .rootsUrl <<<"$info")"
    dnsserver="$(jq -r .dnsServer <<<"$info")"
    ca="$(jq -r .caBundlePem <<<"$info")"
    vip="$("$vps" info "$name" | jq -r .ip)"
    # The hooks the e2e suite uses (certbot sets CERTBOT_DOMAIN, CERTBOT_VALIDATION).
    local auth_hook clean_hook
    # shellcheck disable=SC2016 # expanded by the hook's shell, on the VPS
    auth_hook='curl -fsS -d "{\"host\":\"_acme-challenge.${CERTBOT_DOMAIN}.\",\"value\":\"${CERTBOT_VALIDATION}\"}" '"$dnsapi/set-txt"
    # shellcheck disable=SC2016
    clean_hook='curl -fsS -d "{\"host\":\"_acme-challenge.${CERTBOT_DOMAIN}.\"}" '"$dnsapi/clear-txt"
    log "prove-dns: authHook:    $auth_hook"
    log "prove-dns: cleanupHook: $clean_hook"
    # vssh CMD — a command on the VPS; stdin passed through.
    vssh() { "$vps" ssh "$name" "$@"; }
    # gen STACK DOMAIN CHALLENGE DNS01_JSON [OWNER] — generated scripts (JSON).
    gen() {
        dns01_scripts "$(jq -n --arg stack "$1" --arg domain "$2" --arg ch "$3" --argjson d "$4" --arg server "$dir" \
            --arg ca "$ca" --arg owner "${5:-prove-$1-certificate-certbot}" \
            '{stack: $stack, domain: $domain, challenge: $ch, dns01: $d, server: $server, caBundle: $ca, owner: $owner}')"
    }
    # run_script GEN_JSON KIND [ENV...] — run create|delete on the VPS the way
    # remoteScript does (bash -c '<script>', the secrets on stdin); prints its output.
    run_script() {
        local g="$1" kind="$2" file
        shift 2
        file="/root/berth-prove-$(jq -r .certName <<<"$g")-$kind.sh"
        jq -r ".$kind" <<<"$g" | vssh "cat > $file"
        # shellcheck disable=SC2029 # expanded on the VPS
        jq -j .stdin <<<"$g" | vssh "env $* bash -c \"\$(cat $file)\"" 2>&1
    }
    # renew CERT [ENV...] — certbot's own renewal from the lineage's renewal
    # conf, in certbot.service's environment (the berth drop-in's REQUESTS_CA_BUNDLE).
    renew() {
        local c="$1"
        shift
        # shellcheck disable=SC2029
        vssh "env $(timer_env) $* certbot renew --force-renewal --no-random-sleep-on-renew --cert-name $c" </dev/null 2>&1
    }
    elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
    show() { printf '%s\n' "$1" | grep -vE '^(Get|Selecting|Preparing|Unpacking|Setting up|\(Reading|Reading|Building|Hit|Fetched|Processing|Need to get|After this|The following|Recommended|  |If you like| \* Donating|- - -|$)' | sed 's/^/    | /' >&2; }
    serial() { vssh "openssl x509 -noout -serial -in /etc/letsencrypt/live/$1/cert.pem" </dev/null; }
    renewal_params() { vssh "sed -n '/^\[renewalparams\]/,\$p' /etc/letsencrypt/renewal/$1.conf" </dev/null; }
    timer_env() { vssh "systemctl show certbot.service -p Environment --value" </dev/null; }
    # certbot's log (appended by every run): mark, then what the runs since then did.
    log_mark() { vssh "{ wc -l </var/log/letsencrypt/letsencrypt.log; } 2>/dev/null || echo 0" </dev/null; }
    validated() {
        local since="$1" what="$2" lines p
        shift 2
        # shellcheck disable=SC2029
        lines="$(vssh "tail -n +$((since + 1)) /var/log/letsencrypt/letsencrypt.log" </dev/null |
            grep -E 'challenge for|Running manual-(auth|cleanup)-hook|Attempting to add record|Successfully deleted' | cut -d: -f4- | cut -c1-150 || true)"
        printf '%s\n' "$lines" | sed 's/^/    certbot log: /' >&2
        for p in "$@"; do
            grep -qE -- "$p" <<<"$lines" || die "prove-dns: $what: nothing like '$p' in certbot's log"
        done
    }

    vssh "set -e
        export DEBIAN_FRONTEND=noninteractive
        if ! command -v nginx >/dev/null || ! command -v certbot >/dev/null; then
            apt-get update -q >/dev/null
            apt-get install -y -q --no-install-recommends nginx certbot >/dev/null
        fi
        systemctl enable --now nginx >/dev/null 2>&1
        certbot --version" </dev/null >&2

    # --- 1. dns-01 with hooks, for a name that has no A record --------------
    local hooks gh cert s1 s2 s3
    hooks="$(jq -n --arg a "$auth_hook" --arg c "$clean_hook" '{authHook: $a, cleanupHook: $c}')"
    gh="$(gen hooks "$domain" dns-01 "$hooks")"
    cert="$(jq -r .certName <<<"$gh")"
    # A clean slate: no lineage of an earlier run, no account of an earlier pebble.
    run_script "$gh" delete >/dev/null
    run_script "$(gen switch "$sdomain" dns-01 "$hooks")" delete >/dev/null
    vssh "rm -rf '/etc/letsencrypt/accounts/${dir#https://}'" </dev/null
    curl -fsS -d "{\"host\":\"$domain.\"}" "$dnsapi/clear-a" >/dev/null
    out="$(vssh "python3 -c '$DNS_A_COUNT_PY' $domain ${dnsserver%:*} ${dnsserver#*:}" </dev/null)"
    log "prove-dns: A records of $domain at pebble's DNS ($dnsserver): $out"
    [ "$out" = 0 ] || die "prove-dns: $domain has an A record"
    if jq -r .create <<<"$gh" | grep -qF -e "$dnsapi" -e set-txt; then die "prove-dns: a hook is in the script text"; fi

    mark="$(log_mark)"
    t0=$(date +%s.%N)
    out="$(run_script "$gh" create)" || { printf '%s\n' "$out" >&2; die "prove-dns: first run failed"; }
    log "prove-dns: 1. first run, issue over DNS-01 hooks: $(elapsed "$t0")s"
    show "$out"
    validated "$mark" "first run" "dns-01 challenge for $domain" "Running manual-auth-hook command: /etc/berth/prove-hooks/dns01/auth-hook" "Running manual-cleanup-hook"
    s1="$(serial "$cert")"
    renewal_params "$cert" | sed 's/^/    renewal: /' >&2
    vssh "stat -c '%a %U:%G %n' $(jq -r .dns01Dir <<<"$gh") $(jq -r .dns01Dir <<<"$gh")/*" </dev/null | sed 's/^/    file: /' >&2

    t0=$(date +%s.%N)
    out="$(run_script "$gh" create)" || { printf '%s\n' "$out" >&2; die "prove-dns: second run failed"; }
    log "prove-dns: 1. second run: $(elapsed "$t0")s"
    show "$out"
    s2="$(serial "$cert")"
    grep -q "Certificate not yet due for renewal" <<<"$out" || die "prove-dns: the second run did not keep the certificate"
    [ "$s1" = "$s2" ] || die "prove-dns: the second run reissued ($s1 -> $s2)"
    log "prove-dns: 1. second run kept $s1"

    mark="$(log_mark)"
    t0=$(date +%s.%N)
    out="$(renew "$cert")" || { printf '%s\n' "$out" >&2; die "prove-dns: certbot renew failed"; }
    log "prove-dns: 1. certbot renew --force-renewal: $(elapsed "$t0")s"
    show "$out"
    validated "$mark" "renew" "dns-01 challenge for $domain" "Running manual-auth-hook command: /etc/berth/prove-hooks/dns01/auth-hook" "Running manual-cleanup-hook"
    s3="$(serial "$cert")"
    [ "$s3" != "$s1" ] || die "prove-dns: renew did not renew"
    log "prove-dns: 1. renewed through the stored hooks: $s1 -> $s3"
    if vssh "grep -rlF -e set-txt -e clear-txt /etc/letsencrypt /var/log/letsencrypt" </dev/null; then
        die "prove-dns: a hook's text is in certbot's files or logs"
    fi
    log "prove-dns: 1. no hook text in /etc/letsencrypt or /var/log/letsencrypt"

    local tmp
    tmp="$(mktemp -d)"
    curl -fsS --cacert "$ACME_DIR/ca.pem" "$roots" >"$tmp/root.pem"
    vssh "cat /etc/letsencrypt/live/$cert/cert.pem" </dev/null >"$tmp/cert.pem"
    vssh "cat /etc/letsencrypt/live/$cert/chain.pem" </dev/null >"$tmp/chain.pem"
    openssl x509 -in "$tmp/cert.pem" -noout -subject -ext subjectAltName >&2
    openssl verify -CAfile "$tmp/root.pem" -untrusted "$tmp/chain.pem" "$tmp/cert.pem" >&2 || { rm -rf "$tmp"; die "prove-dns: certificate does not chain to pebble's root"; }
    rm -rf "$tmp"

    # --- 2. a lineage switches http-01 -> dns-01 hooks -> Cloudflare --------
    local gs_http gs_hooks gs_cf scert
    gs_http="$(gen switch "$sdomain" http-01 null)"
    gs_hooks="$(gen switch "$sdomain" dns-01 "$hooks")"
    scert="$(jq -r .certName <<<"$gs_http")"
    curl -fsS -d "{\"host\":\"$sdomain.\",\"addresses\":[\"$vip\"]}" "$dnsapi/add-a" >/dev/null
    vssh "set -e
        install -d -m 0755 /var/www/berth-acme/prove-switch
        printf '%s\n' 'server { listen 80; server_name $sdomain; location /.well-known/acme-challenge/ { root /var/www/berth-acme/prove-switch; } }' >/etc/nginx/sites-enabled/prove-switch
        nginx -t 2>/dev/null && systemctl reload nginx" </dev/null
    mark="$(log_mark)"
    t0=$(date +%s.%N)
    out="$(run_script "$gs_http" create)" || { printf '%s\n' "$out" >&2; die "prove-dns: http-01 run failed"; }
    log "prove-dns: 2. http-01 issue (A record $sdomain -> $vip): $(elapsed "$t0")s"
    validated "$mark" "http-01" "http-01 challenge for $sdomain"
    renewal_params "$scert" | sed 's/^/    renewal: /' >&2
    s1="$(serial "$scert")"
    # From here on the name has no A record and port 80 serves nothing for it: only DNS-01 can validate.
    curl -fsS -d "{\"host\":\"$sdomain.\"}" "$dnsapi/clear-a" >/dev/null
    vssh "rm -f /etc/nginx/sites-enabled/prove-switch && systemctl reload nginx" </dev/null
    mark="$(log_mark)"
    t0=$(date +%s.%N)
    out="$(run_script "$gs_hooks" create)" || { printf '%s\n' "$out" >&2; die "prove-dns: switch to dns-01 failed"; }
    log "prove-dns: 2. switch http-01 -> dns-01 hooks: $(elapsed "$t0")s"
    show "$out"
    validated "$mark" "switch to hooks" "dns-01 challenge for $sdomain" "Running manual-auth-hook command: /etc/berth/prove-switch/dns01/auth-hook"
    renewal_params "$scert" | sed 's/^/    renewal: /' >&2
    grep -q "reissuing it with manual" <<<"$out" || die "prove-dns: the switch did not reissue"
    renewal_params "$scert" | grep -qx 'authenticator = manual' || die "prove-dns: the renewal conf still names another authenticator"
    if renewal_params "$scert" | grep -q webroot; then die "prove-dns: webroot options left in the renewal conf"; fi
    s2="$(serial "$scert")"
    out="$(run_script "$gs_hooks" create)"
    grep -q "Certificate not yet due for renewal" <<<"$out" || die "prove-dns: the run after the switch did not keep the certificate"
    [ "$(serial "$scert")" = "$s2" ] || die "prove-dns: the run after the switch reissued"
    mark="$(log_mark)"
    out="$(renew "$scert")" || { printf '%s\n' "$out" >&2; die "prove-dns: renew after the switch failed"; }
    validated "$mark" "renew after the switch" "dns-01 challenge for $sdomain" "Running manual-auth-hook command: /etc/berth/prove-switch/dns01/auth-hook"
    s3="$(serial "$scert")"
    log "prove-dns: 2. serials $s1 (http-01) -> $s2 (switched to dns-01 hooks) -> $s3 (certbot renew, no A record)"

    # Cloudflare: certbot's real plugin (installed by the script) against the stand-in API.
    local token="berthProveDns01FakeCloudflareToken0123456789" port=18555 fpid cfenv
    cfenv="CF_API_URL=http://127.0.0.1:$port/client/v4"
    gs_cf="$(gen switch "$sdomain" dns-01 "$(jq -n --arg t "$token" '{cloudflareApiToken: $t}')")"
    if jq -r .create <<<"$gs_cf" | grep -qF "$token"; then die "prove-dns: the token is in the script text"; fi
    # shellcheck disable=SC2029
    fpid="$(vssh "setsid nohup python3 -c '$FAKE_CLOUDFLARE_PY' $port $token example.test $dnsapi >/tmp/fake-cloudflare.log 2>&1 </dev/null & echo \$!" </dev/null)"
    sleep 1
    mark="$(log_mark)"
    t0=$(date +%s.%N)
    out="$(run_script "$gs_cf" create "$cfenv")" || { printf '%s\n' "$out" >&2; vssh "kill $fpid" </dev/null || true; die "prove-dns: switch to Cloudflare failed"; }
    log "prove-dns: 2. switch dns-01 hooks -> Cloudflare (incl. installing the plugin when missing): $(elapsed "$t0")s"
    show "$out"
    validated "$mark" "switch to Cloudflare" "dns-01 challenge for $sdomain" "Attempting to add record"
    renewal_params "$scert" | sed 's/^/    renewal: /' >&2
    renewal_params "$scert" | grep -qx 'authenticator = dns-cloudflare' || { vssh "kill $fpid" </dev/null || true; die "prove-dns: the renewal conf does not name dns-cloudflare"; }
    vssh "stat -c '%a %U:%G %n' $(jq -r .dns01Dir <<<"$gs_cf") $(jq -r .dns01Dir <<<"$gs_cf")/*" </dev/null | sed 's/^/    file: /' >&2
    out="$(run_script "$gs_cf" create "$cfenv")"
    grep -q "Certificate not yet due for renewal" <<<"$out" || die "prove-dns: the run after the Cloudflare switch did not keep the certificate"
    s1="$(serial "$scert")"
    mark="$(log_mark)"
    t0=$(date +%s.%N)
    out="$(renew "$scert" "$cfenv")" || { printf '%s\n' "$out" >&2; die "prove-dns: Cloudflare renew failed"; }
    validated "$mark" "Cloudflare renew" "dns-01 challenge for $sdomain" "Attempting to add record"
    s2="$(serial "$scert")"
    [ "$s1" != "$s2" ] || die "prove-dns: Cloudflare renew did not renew"
    log "prove-dns: 2. certbot renew through the stored Cloudflare credentials: $s1 -> $s2 ($(elapsed "$t0")s, 30 s of it the plugin's propagation wait)"
    vssh "cat /tmp/fake-cloudflare.log; kill $fpid" </dev/null | sed 's/^/    stand-in API: /' >&2
    if vssh "grep -rlF $token /etc/letsencrypt /var/log/letsencrypt /root/berth-prove-* /tmp/fake-cloudflare.log" </dev/null; then
        die "prove-dns: the token is outside its credentials file"
    fi
    log "prove-dns: 2. the token is only in $(jq -r .dns01Dir <<<"$gs_cf")/cloudflare.ini"

    # --- 3. delete: the identity guard, then lineage and files gone ---------
    out="$(run_script "$(gen hooks "$domain" dns-01 "$hooks" prove-hooks-OLD-certbot)" delete)"
    show "$out"
    grep -q "belongs to a newer certificate resource" <<<"$out" || die "prove-dns: a stale resource's delete did not leave the newer one's files"
    show "$(run_script "$gh" delete)"
    show "$(run_script "$gs_cf" delete)"
    if vssh "ls -d /etc/letsencrypt/live/$cert /etc/letsencrypt/live/$scert $(jq -r .dns01Dir <<<"$gh") $(jq -r .dns01Dir <<<"$gs_cf") 2>/dev/null" </dev/null; then
        die "prove-dns: the delete scripts left files"
    fi
    log "prove-dns: 3. delete: lineages, credentials and hooks removed"
    log "prove-dns: OK"
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
        prove-dns) [ $# -eq 1 ] || die "usage: acme.sh prove-dns <vps-name>"; acme_prove_dns "$1" ;;
        -h | --help | help) usage ;;
        *) usage >&2; die "unknown command: $cmd" ;;
    esac
}

main "$@"
