/**
 * Alerts (`berth:alerts`) and the automatic rollback (`berth:autoRollback`)
 * on a host: two installed scripts and three units, all pure text here
 * (components/host/alerts.ts installs them).
 *
 * - The sender, `berth-<id>-alert`: `fire KEY WHAT LOGS [SINCE]` posts one
 *   alert per condition (a `<KEY>.firing` file in the root-only state dir
 *   de-duplicates it, written only once a webhook took it, so an undelivered
 *   alert is retried by the next check); `resolve KEY` posts one "resolved"
 *   when that file exists and removes it; `event WHAT [LOGS]` posts a notice
 *   (automatic rollback, deploys); `unit UNIT` is `fire` for a failed unit,
 *   naming the `berth logs` command of its process. The webhook URLs are
 *   read from a 0600 file (written from stdin by the component) and given
 *   to curl in a config file on a pipe (`-K /dev/fd/N`), the body on stdin:
 *   neither is ever in an argv. curl: 10 s per try, 3 tries in 30 s at most.
 * - The check, `berth-<id>-check`, run by `berth-<id>-check.timer` every
 *   `checkSeconds`: failed `berth-<id>-*` units (fire; resolve once no longer
 *   failed), disks above `diskPercent`, on web hosts the certificate's
 *   remaining days and the health path through nginx (TLS, the primary
 *   domain, on 127.0.0.1) failing for `healthFailSeconds`; with
 *   `berth:autoRollback`, the move back to the kept release (below).
 * - `OnFailure=` on every berth unit of the stack without touching its file:
 *   a drop-in in `berth-<id>-.service.d/` applies to every unit whose name
 *   starts with `berth-<id>-` (systemd.unit(5): drop-ins of the name
 *   truncated after each dash), and the alert unit's own same-named drop-in
 *   resets it, so an alert unit that fails starts no alert. So the existing
 *   unit files (and their goldens) are unchanged, and a unit added later is
 *   covered without anyone remembering to.
 *
 * The automatic rollback: when health through nginx has failed continuously
 * for `failSeconds`, the failure began after the serving release's switch
 * (the mtime of `state/revision`, which only a switch writes) and that
 * switch is at most `afterReleaseSeconds` old, the check takes the host lock
 * without waiting (a deploy in progress wins) and moves traffic back the way
 * the switch does inside the rollback window: the idle instance still runs
 * the previous release (its slot), answers 200 through its socket with the
 * headers nginx sends, its drain timer is cancelled, the socket symlink and
 * `current` move with `mv -T`, the bad instance drains and stops, the worker
 * and process instances restart on the previous release. A marker per
 * release (both the bad one and the one restored) makes it once per release:
 * it never flaps. The stack still names the bad revision: the alert says to
 * record the rollback with `npx berth rollback`.
 */
import type { BerthConfig } from "../config";
import { alertNames, drainUnitPrefix, HOST_LOCK, PROTECT, processUnitNames } from "../names";
import { probeHeaders } from "../proxy";
import { managedBy } from "../remote";
import { cmd, type Lines, quote, raw, script, withShebang } from "../shell";
import { has } from "../topology";
import { timerUnitFile } from "./common";
import { drainRunCommand } from "./drain";
import { processesOn } from "./process";

/** What the alert files read of the configuration. */
export const ALERT_UNITS_SCOPE = ["project", "stack", "app", "names", "host", "domain", "certificate", "release", "processes", "maintenance", "alerts", "autoRollback"] as const;
export type AlertUnitsScope = Pick<BerthConfig, (typeof ALERT_UNITS_SCOPE)[number]>;

/** A path on the host, prefixed with `$root` (empty on a host; a scratch directory in the tests). */
function at(path: string): string {
    return /^[A-Za-z0-9@._\/-]+$/.test(path) ? `"$root${path}"` : `"$root"${quote(path)}`;
}

/** The host as the alerts name it: berth's name for it and its address. */
function hostLabel(cfg: AlertUnitsScope): string {
    return `${cfg.host.name} (${cfg.host.address})`;
}

/** `json STRING`: STRING as a JSON string (control characters dropped, `\` `"` newline tab escaped). */
const JSON_FUNCTION = [
    "json() {",
    "  local s",
    "  s=$(printf '%s' \"$1\" | tr -d '\\000-\\010\\013\\014\\016-\\037')",
    '  s=${s//\\\\/\\\\\\\\}',
    '  s=${s//\\"/\\\\\\"}',
    "  s=${s//$'\\n'/\\\\n}",
    "  s=${s//$'\\t'/\\\\t}",
    "  printf '\"%s\"' \"$s\"",
    "}",
];

/** `post STATUS WHAT SINCE LOGS`: the message to every webhook; status 0 when at least one took it. */
function postFunction(): Lines {
    const curl = cmd(
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        "--fail",
        "--connect-timeout",
        "5",
        "--max-time",
        "10",
        "--retry",
        "2",
        "--retry-delay",
        "2",
        "--retry-max-time",
        "30",
        "--retry-all-errors",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        "@-",
        "-K",
        raw("<(printf 'url = \"%s\"\\n' \"$url\")"),
    );
    return [
        "post() {",
        "  local status=$1 what=$2 since=$3 logs=$4 delivered=1 format url text head body",
        '  case "$status" in firing) head=":rotating_light: ALERT" ;; resolved) head=":white_check_mark: RESOLVED" ;; *) head=":information_source:" ;; esac',
        '  text="$head $app/$stack on $host: $what (since $since). Logs: $logs"',
        '  if [ ! -r "$hooks" ]; then echo "berth: no webhooks file ($hooks): $text" >&2; return 1; fi',
        '  while read -r format url; do',
        '    [ -n "$url" ] || continue',
        '    case "$format" in',
        '      slack) body="{\\"text\\":$(json "$text")}" ;;',
        '      *) body="{\\"source\\":\\"berth\\",\\"status\\":$(json "$status"),\\"app\\":$(json "$app"),\\"stack\\":$(json "$stack"),\\"host\\":$(json "$host"),\\"what\\":$(json "$what"),\\"since\\":$(json "$since"),\\"logs\\":$(json "$logs")}" ;;',
        "    esac",
        `    if printf '%s' "$body" | ${curl}; then delivered=0; else echo "berth: a $format webhook did not take the $status message: $what" >&2; fi`,
        '  done < "$hooks"',
        '  echo "berth: $status: $what"',
        '  return "$delivered"',
        "}",
    ];
}

/**
 * `logs_for UNIT`: the `berth logs` command of a unit's process (web, worker,
 * a schedule or process type by its name), else journalctl on the host.
 */
function logsForFunction(cfg: AlertUnitsScope): Lines {
    const p = `berth-${cfg.names.id}-`;
    const logs = (what: string) => `npx berth logs -s ${cfg.stack} ${what}`;
    return [
        "logs_for() {",
        `  local u=$1 p=${quote(p)} l`,
        '  case "$u" in',
        `    "$p"web@*|"$p"proxy@*) echo ${quote(logs("web"))} ;;`,
        `    "$p"worker.service) echo ${quote(logs("worker"))} ;;`,
        '    "$p"schedule-failed@*|"$p"backup.service|"$p"restore-test.service|"$p"check.service|"$p"drain-*) echo "journalctl -u $u on host $host" ;;',
        `    "$p"schedule-*.service) l=\${u#"$p"schedule-}; echo ${quote(logs(""))}"\${l%.service}" ;;`,
        `    "$p"*@*.service) l=\${u#"$p"}; echo ${quote(logs(""))}"\${l%%@*}" ;;`,
        '    *) echo "journalctl -u $u on host $host" ;;',
        "  esac",
        "}",
    ];
}

/** The sender script (installed 0700 root as `alertNames().sender`). */
export function senderScript(cfg: AlertUnitsScope): string {
    const a = alertNames(cfg.names);
    const p = `berth-${cfg.names.id}-`;
    return withShebang(
        script(
            managedBy(cfg),
            `# berth alert sender of ${cfg.names.id}: fire KEY WHAT LOGS [SINCE] | resolve KEY | event WHAT [LOGS] | unit UNIT`,
            'root=${BERTH_ROOT:-}',
            `state=${at(a.stateDir)}`,
            `hooks=${at(a.webhooks)}`,
            `app=${quote(cfg.app)}`,
            `stack=${quote(cfg.stack)}`,
            `host=${quote(hostLabel(cfg))}`,
            JSON_FUNCTION,
            postFunction(),
            logsForFunction(cfg),
            'install -d -m 0700 "$state"',
            // One sender at a time: the OnFailure= unit and the check timer may fire together.
            'exec 8>>"$state/.lock"',
            "flock -w 60 8 || exit 75",
            "now_iso() { date -u +%Y-%m-%dT%H:%M:%SZ; }",
            'key_file() { printf \'%s/%s.firing\' "$state" "${1//[^A-Za-z0-9@._-]/_}"; }',
            'case "${1:-}" in',
            "  fire)",
            '    f=$(key_file "$2")',
            '    [ -e "$f" ] && exit 0',
            '    since=${5:-$(now_iso)}',
            '    if post firing "$3" "$since" "$4"; then printf \'%s\\n%s\\n%s\\n\' "$since" "$3" "$4" > "$f.new" && mv -f "$f.new" "$f"; else exit 1; fi',
            "    ;;",
            "  resolve)",
            '    f=$(key_file "$2")',
            '    [ -e "$f" ] || exit 0',
            '    { read -r since; read -r what; read -r logs; } < "$f"',
            '    if post resolved "$what" "$since" "$logs"; then rm -f "$f"; else exit 1; fi',
            "    ;;",
            "  event)",
            '    post event "$2" "$(now_iso)" "${3:-npx berth status -s $stack}"',
            "    ;;",
            "  unit)",
            '    u=$2',
            `    case "$u" in ${quote(p)}*) ;; *) echo "berth: $u is not a unit of $app/$stack" >&2; exit 64 ;; esac`,
            '    case "$u" in',
            `      ${quote(`${p}backup.service`)}) what="backup failed ($u)" ;;`,
            `      ${quote(`${p}restore-test.service`)}) what="restore test failed ($u)" ;;`,
            `      ${quote(`${p}schedule-`)}*) what="schedule failed ($u)" ;;`,
            '      *) what="unit $u failed" ;;',
            "    esac",
            '    f=$(key_file "unit-$u")',
            '    [ -e "$f" ] && exit 0',
            '    since=$(now_iso)',
            '    logs=$(logs_for "$u")',
            '    if post firing "$what" "$since" "$logs"; then printf \'%s\\n%s\\n%s\\n\' "$since" "$what" "$logs" > "$f.new" && mv -f "$f.new" "$f"; else exit 1; fi',
            "    ;;",
            '  *) echo "usage: $0 fire KEY WHAT LOGS [SINCE] | resolve KEY | event WHAT [LOGS] | unit UNIT" >&2; exit 64 ;;',
            "esac",
        ),
    );
}

/** Failed berth units: one alert each (through the sender's `unit`), resolved once the unit is no longer failed. */
function unitCheckLines(cfg: AlertUnitsScope): Lines {
    return [
        `failed=$(systemctl list-units --failed --plain --no-legend --no-pager ${quote(`berth-${cfg.names.id}-*`)} 2>/dev/null | awk '{ print $1 }')`,
        'for u in $failed; do "$alert" unit "$u" || true; done',
        'for f in "$state"/unit-*.firing; do',
        '  [ -e "$f" ] || continue',
        "  u=${f##*/unit-}",
        "  u=${u%.firing}",
        '  if ! grep -qxF "$u" <<<"$failed"; then "$alert" resolve "unit-$u" || true; fi',
        "done",
    ];
}

/** The alert key of a disk path: `disk-root` for /, `disk-srv_data` for /srv/data. */
export function diskKey(path: string): string {
    return path === "/" ? "disk-root" : `disk-${path.replace(/^\/+|\/+$/g, "").replace(/[^A-Za-z0-9._-]/g, "_")}`;
}

function diskCheckLines(cfg: AlertUnitsScope): Lines {
    const al = cfg.alerts!;
    return al.diskPaths.map((p) => [
        `pct=$(df --output=pcent -- ${quote(p)} 2>/dev/null | tail -n 1 | tr -dc '0-9')`,
        `if [ -z "$pct" ]; then echo ${quote(`berth: cannot read the use of ${p}`)} >&2`,
        `elif [ "$pct" -gt ${al.diskPercent} ]; then "$alert" fire ${quote(diskKey(p))} ${quote(`disk ${p} is `)}"$pct% full (alert above ${al.diskPercent}%)" ${quote(`df -h ${p}; du -xhd1 ${p} | sort -h | tail (on host ${cfg.host.name})`)} || true`,
        `else "$alert" resolve ${quote(diskKey(p))} || true; fi`,
    ]);
}

function certCheckLines(cfg: AlertUnitsScope): Lines {
    const days = cfg.alerts!.certDays;
    const certName = cfg.certificate.lineage;
    return [
        `cert=${at(`/etc/letsencrypt/live/${certName}/cert.pem`)}`,
        'if [ -f "$cert" ]; then',
        `  if openssl x509 -checkend ${days * 86400} -noout -in "$cert" >/dev/null 2>&1; then "$alert" resolve cert || true`,
        "  else",
        `    end=$(openssl x509 -enddate -noout -in "$cert" 2>/dev/null | sed 's/^notAfter=//')`,
        `    "$alert" fire cert ${quote(`certificate ${certName} expires `)}"$end"${quote(` (less than ${days} days left: is its renewal failing?)`)} ${quote(`journalctl -u certbot.service; certbot certificates (on host ${cfg.host.name})`)} || true`,
        "  fi",
        "fi",
    ];
}

/** The health path through nginx, as a visitor reaches it (TLS, the primary domain), on this host's own nginx. */
function healthCheckLines(cfg: AlertUnitsScope): Lines {
    const al = cfg.alerts!;
    const url = `https://${cfg.domain}${cfg.release.healthPath}`;
    const curl = cmd("curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "--resolve", `${cfg.domain}:443:127.0.0.1`, url);
    return [
        `code=$(${curl} 2>/dev/null || true)`,
        'hf="$state/health.failing"',
        'if [ "$code" = 200 ]; then',
        '  rm -f "$hf"',
        '  "$alert" resolve health || true',
        "else",
        '  [ -e "$hf" ] || echo "$now" > "$hf"',
        '  read -r since < "$hf"',
        `  if [ $((now - since)) -ge ${al.healthFailSeconds} ]; then "$alert" fire health ${quote(`health ${url} through nginx fails`)}" (last answer $code)" ${quote(`npx berth logs -s ${cfg.stack} web; npx berth logs -s ${cfg.stack} nginx`)} "$(date -u -d "@$since" +%Y-%m-%dT%H:%M:%SZ)" || true; fi`,
        cfg.autoRollback && `  auto_rollback "$since"`,
        "fi",
    ];
}

/** The conditions `auto_rollback` checks before moving anything (returns 1 to leave things as they are). */
function rollbackConditionLines(cfg: AlertUnitsScope): Lines {
    const r = cfg.autoRollback!;
    const st = `${cfg.names.root}/state`;
    return [
        `  rev=$(cat ${at(`${st}/revision`)} 2>/dev/null) || return 0`,
        `  switched=$(stat -c %Y ${at(`${st}/revision`)})`,
        // Only a failure that began after this release's switch, within afterRelease of it, lasting failMinutes.
        `  [ "$since" -ge "$switched" ] && [ $((now - switched)) -le ${r.afterReleaseSeconds} ] && [ $((now - since)) -ge ${r.failSeconds} ] || return 0`,
        '  [ -e "$state/rolled-back-$rev" ] && return 0',
        `  exec 9>>${at(HOST_LOCK)}`,
        '  if ! flock -n 9; then echo "berth: a berth operation holds the host lock; the automatic rollback waits for the next check" >&2; return 0; fi',
        // Once per release, whatever happens next: never a second try, never a flap.
        '  touch "$state/rolled-back-$rev"',
        `  active=$(cat ${at(`${st}/color`)} 2>/dev/null || true)`,
        '  case "$active" in blue) idle=green ;; green) idle=blue ;; *) return 0 ;; esac',
        `  prev=$(readlink -f ${at(`${cfg.names.root}/slots/`)}"$idle" 2>/dev/null || true)`,
        `  prev_rev=$(sed -n 's/^REVISION=//p' ${at(`${cfg.names.root}/slots/`)}"$idle.env" 2>/dev/null || true)`,
        '  if [ -z "$prev_rev" ] || [ "$prev_rev" = "$rev" ]; then "$alert" event "automatic rollback of $rev not possible: no other release kept on $idle" || true; return 0; fi',
        `  if ! systemctl is-active --quiet ${quote(cfg.names.webUnit)}"$idle.service" || ! systemctl is-active --quiet ${quote(cfg.names.proxyUnit)}"$idle.socket"; then "$alert" event "automatic rollback of $rev not possible: the kept release $prev_rev no longer runs (rollback window over)" || true; return 0; fi`,
        `  answer=$(${idleProbe(cfg)} 2>/dev/null || true)`,
        `  if [ "$answer" != 200 ]; then "$alert" event "automatic rollback of $rev not done: the kept release $prev_rev answers $answer on ${cfg.release.healthPath} too" || true; return 0; fi`,
    ];
}

/** The health path through the idle instance's socket, with the headers nginx sends (as the switch probes). */
function idleProbe(cfg: AlertUnitsScope): string {
    const headers = probeHeaders(cfg.domain).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
    const sock = raw(`${at(`${cfg.names.runDir}/`)}"$idle.sock"`);
    return cmd("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "--unix-socket", sock, ...headers, `http://${cfg.domain}${cfg.release.healthPath}`);
}

/** `auto_rollback SINCE`: the conditions, then the move back (the switch's move inside the rollback window). */
function autoRollbackFunction(cfg: AlertUnitsScope): Lines {
    const n = cfg.names;
    const r = cfg.autoRollback!;
    const st = `${n.root}/state`;
    const restart = [...(cfg.release.workerCommand ? [`${n.workerUnit}.service`] : []), ...processesOn(cfg).flatMap((p) => [...processUnitNames(n, p.name, p.count).instances])];
    return [
        "auto_rollback() {",
        "  local since=$1 rev switched active idle prev prev_rev answer drain t0=$EPOCHREALTIME",
        rollbackConditionLines(cfg),
        `  systemctl stop ${quote(drainUnitPrefix(n))}"$idle.timer" 2>/dev/null || true`,
        `  systemctl enable --quiet --no-reload ${quote(n.webUnit)}"$idle.service" ${quote(n.proxyUnit)}"$idle.socket" || true`,
        `  ln -sfn ${quote(`${n.runDir}/`)}"$idle.sock" ${at(`${n.webSocket}.berth-new`)} && mv -T ${at(`${n.webSocket}.berth-new`)} ${at(n.webSocket)}`,
        `  ln -sfn "\${prev#"$root"}" ${at(`${n.root}/current.berth-new`)} && mv -T ${at(`${n.root}/current.berth-new`)} ${at(`${n.root}/current`)}`,
        `  echo "$idle" > ${at(`${st}/color`)}`,
        `  echo "$prev_rev" > ${at(`${st}/revision`)}`,
        '  touch "$state/rolled-back-$prev_rev"',
        `  systemctl disable --quiet --no-reload ${quote(n.webUnit)}"$active.service" ${quote(n.proxyUnit)}"$active.socket" || true`,
        `  drain=${quote(drainUnitPrefix(n))}"$active"`,
        '  systemctl stop "$drain.timer" 2>/dev/null || true',
        '  systemctl reset-failed "$drain.timer" "$drain.service" 2>/dev/null || true',
        `  ${drainRunCommand(raw('"$drain"'), cfg.release.drainSeconds, [raw(`${quote(n.proxyUnit)}"$active.socket"`), raw(`${quote(n.webUnit)}"$active.service"`)])} || true`,
        restart.length > 0 ? `  ${cmd("systemctl", "restart", ...restart)} || true` : [],
        `  ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')`,
        // The record `berth status` shows (cli/support/alerts.ts): when, the release rolled back, the one restored, how fast.
        `  printf '%s\\t%s\\t%s\\t%s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$rev" "$prev_rev" "$ms" >> ${at(alertNames(n).rollbacks)}`,
        `  "$alert" event "automatic rollback: release $rev failed ${cfg.release.healthPath} through nginx for $((now - since))s within ${r.afterReleaseSeconds}s of its switch; traffic moved back to the kept release $prev_rev in \${ms} ms. The stack still names $rev: record the rollback with npx berth rollback -s ${cfg.stack} $prev_rev" ${quote(`npx berth logs -s ${cfg.stack} web`)} || true`,
        "}",
    ];
}

/** The check script (installed 0700 root as `alertNames().check`), run by the check timer. */
export function checkScript(cfg: AlertUnitsScope): string {
    const a = alertNames(cfg.names);
    const web = has(cfg.host, "web");
    return withShebang(
        script(
            managedBy(cfg),
            `# berth check of ${cfg.names.id} on host ${cfg.host.name}: failed units, disks${web ? ", certificate, health through nginx" : ""}${web && cfg.autoRollback ? ", automatic rollback" : ""}`,
            'root=${BERTH_ROOT:-}',
            `state=${at(a.stateDir)}`,
            `alert=\${BERTH_ALERT:-${quote(a.sender)}}`,
            'install -d -m 0700 "$state"',
            "now=$(date +%s)",
            web && cfg.autoRollback ? autoRollbackFunction(cfg) : [],
            unitCheckLines(cfg),
            diskCheckLines(cfg),
            web ? certCheckLines(cfg) : [],
            // In maintenance every path answers 503 on purpose: no health alert, no rollback.
            web && !cfg.maintenance ? healthCheckLines(cfg) : [],
            web && cfg.maintenance ? ['rm -f "$state/health.failing"', '"$alert" resolve health || true'] : [],
            "exit 0",
        ),
    );
}

/** The unit a failed berth unit starts (`%i` = the failed unit's name). */
export function alertUnitFile(cfg: AlertUnitsScope): string {
    const a = alertNames(cfg.names);
    return [
        managedBy(cfg),
        "[Unit]",
        `Description=berth ${cfg.names.id} alert: %i failed`,
        "After=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        `ExecStart=${a.sender} unit %i`,
        `SyslogIdentifier=${cfg.names.id}-alert`,
        ...alertSandbox(cfg),
        "",
    ].join("\n");
}

/** The sender's sandbox: root (it reads the 0600 webhooks file) without capabilities, only its state writable. */
function alertSandbox(cfg: AlertUnitsScope): string[] {
    return [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        `ReadWritePaths=${alertNames(cfg.names).stateDir}`,
        ...PROTECT,
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "SystemCallArchitectures=native",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "SystemCallFilter=@system-service",
        "SystemCallErrorNumber=EPERM",
        "UMask=0077",
    ];
}

/** The check: a oneshot run by its timer, as root (it may move traffic back: systemctl, the app's state). */
export function checkServiceFile(cfg: AlertUnitsScope): string {
    const a = alertNames(cfg.names);
    return [
        managedBy(cfg),
        "[Unit]",
        `Description=berth ${cfg.names.id} check (units, disks, certificate, health)`,
        "After=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        `ExecStart=${a.check}`,
        `SyslogIdentifier=${cfg.names.id}-check`,
        "TimeoutStartSec=120",
        "NoNewPrivileges=yes",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectControlGroups=yes",
        "RestrictSUIDSGID=yes",
        "RestrictRealtime=yes",
        "LockPersonality=yes",
        "",
    ].join("\n");
}

export function checkTimerFile(cfg: AlertUnitsScope): string {
    const s = cfg.alerts!.checkSeconds;
    return timerUnitFile(cfg, `berth ${cfg.names.id} check every ${s}s`, ["OnActiveSec=10s", `OnUnitActiveSec=${s}s`, "AccuracySec=1s"]);
}

/** The drop-in adding `OnFailure=` to every `berth-<id>-*` unit (see the header). */
export function onFailureDropIn(cfg: AlertUnitsScope): string {
    return [managedBy(cfg), "[Unit]", `OnFailure=${alertNames(cfg.names).alertUnit}%n.service`, ""].join("\n");
}

/** The alert unit's own drop-in, same file name, more specific directory: resets the list (no alert about an alert). */
export function selfDropIn(cfg: AlertUnitsScope): string {
    return [managedBy(cfg), "[Unit]", "OnFailure=", ""].join("\n");
}

/** stdin of the install: one `<format> <url>` line per webhook (secret). */
export function webhooksPayload(cfg: Pick<BerthConfig, "alerts">): string {
    return (cfg.alerts?.webhooks ?? []).map((w) => `${w.format} ${w.url}\n`).join("");
}
