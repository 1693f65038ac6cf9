#!/usr/bin/env bash
set -euo pipefail
umask 022
# Managed by berth (project berth, stack alerts). Changes are overwritten by pulumi up.
# berth alert sender of shop-alerts: fire KEY WHAT LOGS [SINCE] | resolve KEY | event WHAT [LOGS] | unit UNIT
root=${BERTH_ROOT:-}
state="$root/var/lib/berth/shop-alerts/alerts"
hooks="$root/etc/berth/shop-alerts/alerts/webhooks"
app=shop
stack=alerts
host='main (203.0.113.60)'
json() {
  local s
  s=$(printf '%s' "$1" | tr -d '\000-\010\013\014\016-\037')
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\t'/\\t}
  printf '"%s"' "$s"
}
post() {
  local status=$1 what=$2 since=$3 logs=$4 delivered=1 format url text head body
  case "$status" in firing) head=":rotating_light: ALERT" ;; resolved) head=":white_check_mark: RESOLVED" ;; *) head=":information_source:" ;; esac
  text="$head $app/$stack on $host: $what (since $since). Logs: $logs"
  if [ ! -r "$hooks" ]; then echo "berth: no webhooks file ($hooks): $text" >&2; return 1; fi
  while read -r format url; do
    [ -n "$url" ] || continue
    case "$format" in
      slack) body="{\"text\":$(json "$text")}" ;;
      *) body="{\"source\":\"berth\",\"status\":$(json "$status"),\"app\":$(json "$app"),\"stack\":$(json "$stack"),\"host\":$(json "$host"),\"what\":$(json "$what"),\"since\":$(json "$since"),\"logs\":$(json "$logs")}" ;;
    esac
    if printf '%s' "$body" | curl -sS -o /dev/null --fail --connect-timeout 5 --max-time 10 --retry 2 --retry-delay 2 --retry-max-time 30 --retry-all-errors -H 'Content-Type: application/json' --data-binary @- -K <(printf 'url = "%s"\n' "$url"); then delivered=0; else echo "berth: a $format webhook did not take the $status message: $what" >&2; fi
  done < "$hooks"
  echo "berth: $status: $what"
  return "$delivered"
}
logs_for() {
  local u=$1 p=berth-shop-alerts- l
  case "$u" in
    "$p"web@*|"$p"proxy@*) echo 'npx berth logs -s alerts web' ;;
    "$p"worker.service) echo 'npx berth logs -s alerts worker' ;;
    "$p"schedule-failed@*|"$p"backup.service|"$p"restore-test.service|"$p"check.service|"$p"drain-*) echo "journalctl -u $u on host $host" ;;
    "$p"schedule-*.service) l=${u#"$p"schedule-}; echo 'npx berth logs -s alerts '"${l%.service}" ;;
    "$p"*@*.service) l=${u#"$p"}; echo 'npx berth logs -s alerts '"${l%%@*}" ;;
    *) echo "journalctl -u $u on host $host" ;;
  esac
}
install -d -m 0700 "$state"
exec 8>>"$state/.lock"
flock -w 60 8 || exit 75
now_iso() { date -u +%Y-%m-%dT%H:%M:%SZ; }
key_file() { printf '%s/%s.firing' "$state" "${1//[^A-Za-z0-9@._-]/_}"; }
case "${1:-}" in
  fire)
    f=$(key_file "$2")
    [ -e "$f" ] && exit 0
    since=${5:-$(now_iso)}
    if post firing "$3" "$since" "$4"; then printf '%s\n%s\n%s\n' "$since" "$3" "$4" > "$f.new" && mv -f "$f.new" "$f"; else exit 1; fi
    ;;
  resolve)
    f=$(key_file "$2")
    [ -e "$f" ] || exit 0
    { read -r since; read -r what; read -r logs; } < "$f"
    if post resolved "$what" "$since" "$logs"; then rm -f "$f"; else exit 1; fi
    ;;
  event)
    post event "$2" "$(now_iso)" "${3:-npx berth status -s $stack}"
    ;;
  unit)
    u=$2
    case "$u" in berth-shop-alerts-*) ;; *) echo "berth: $u is not a unit of $app/$stack" >&2; exit 64 ;; esac
    case "$u" in
      berth-shop-alerts-backup.service) what="backup failed ($u)" ;;
      berth-shop-alerts-restore-test.service) what="restore test failed ($u)" ;;
      berth-shop-alerts-schedule-*) what="schedule failed ($u)" ;;
      *) what="unit $u failed" ;;
    esac
    f=$(key_file "unit-$u")
    [ -e "$f" ] && exit 0
    since=$(now_iso)
    logs=$(logs_for "$u")
    if post firing "$what" "$since" "$logs"; then printf '%s\n%s\n%s\n' "$since" "$what" "$logs" > "$f.new" && mv -f "$f.new" "$f"; else exit 1; fi
    ;;
  *) echo "usage: $0 fire KEY WHAT LOGS [SINCE] | resolve KEY | event WHAT [LOGS] | unit UNIT" >&2; exit 64 ;;
esac
