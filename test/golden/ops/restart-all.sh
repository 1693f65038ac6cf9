set -euo pipefail
umask 022
exec 9>>/run/lock/berth-host.lock
if ! flock -n 9; then
  echo 'berth: restart of shop-processes: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
  flock -w 900 9 || { echo 'berth: restart of shop-processes: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
fi
active=$(cat /srv/berth/shop-processes/state/color 2>/dev/null || true)
case "$active" in
  blue) idle=green; port=21155 ;;
  green) idle=blue; port=21154 ;;
  *) echo 'berth: nothing serves yet (no serving instance): deploy first' >&2; exit 1 ;;
esac
if [ "$(readlink /srv/berth/shop-processes/web.sock 2>/dev/null)" != /run/berth-shop-processes/"$active.sock" ]; then echo "berth: traffic does not go to $active as the state says; run berth repair first" >&2; exit 1; fi
rel=$(readlink /srv/berth/shop-processes/slots/"$active")
rev=$(sed -n 's/^REVISION=//p' /srv/berth/shop-processes/slots/"$active.env")
stamp=$(cat /srv/berth/shop-processes/state/"$active.stamp" 2>/dev/null || true)
active_unit=berth-shop-processes-web@"$active.service"
active_socket=berth-shop-processes-proxy@"$active.socket"
idle_unit=berth-shop-processes-web@"$idle.service"
idle_socket=berth-shop-processes-proxy@"$idle.socket"
systemctl stop berth-shop-processes-drain-"$idle.timer" 2>/dev/null || true
systemctl stop "$idle_socket" "$idle_unit" 2>/dev/null || true
rm -f /srv/berth/shop-processes/state/"$idle.stamp"
ln -sfn "$rel" /srv/berth/shop-processes/slots/"$idle"
sed "s/^PORT=.*/PORT=$port/" /srv/berth/shop-processes/slots/"$active.env" > /srv/berth/shop-processes/slots/"$idle.env"
systemctl reset-failed "$idle_unit" berth-shop-processes-proxy@"$idle.service" 2>/dev/null || true
systemctl start "$idle_unit" "$idle_socket"
echo "berth: restarting release $rev on $idle (127.0.0.1:$port), waiting for /up"
deadline=$((SECONDS + 60))
code=000
while [ "$SECONDS" -lt "$deadline" ]; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket /run/berth-shop-processes/"$idle.sock" -H 'Host: jobs.shop.example.com' -H 'X-Real-IP: 127.0.0.1' -H 'X-Forwarded-For: 127.0.0.1' -H 'X-Forwarded-Proto: https' -H 'X-Forwarded-Host: jobs.shop.example.com' http://jobs.shop.example.com/up || true)
  if [ "$code" = 200 ]; then break; fi
  if systemctl is-failed --quiet "$idle_unit"; then break; fi
  sleep 0.5
done
if [ "$code" != 200 ]; then
  echo "berth: the restarted release $rev did not answer 200 on /up within 60s (last answer: $code); traffic stays on $active. Last log lines of $idle_unit:" >&2
  systemctl stop "$idle_socket" "$idle_unit" || true
  journalctl -u "$idle_unit" -n 40 --no-pager -o cat >&2 || true
  exit 1
fi
if [ -n "$stamp" ]; then echo "$stamp" > /srv/berth/shop-processes/state/"$idle.stamp"; fi
systemctl enable --quiet --no-reload "$idle_unit" "$idle_socket"
ln -sfn /run/berth-shop-processes/"$idle.sock" /srv/berth/shop-processes/web.sock.berth-new
mv -T /srv/berth/shop-processes/web.sock.berth-new /srv/berth/shop-processes/web.sock
echo "$idle" > /srv/berth/shop-processes/state/color
systemctl disable --quiet --no-reload "$active_unit" "$active_socket" || true
drain=berth-shop-processes-drain-"$active"
systemctl stop "$drain.timer" 2>/dev/null || true
systemctl reset-failed "$drain.timer" "$drain.service" 2>/dev/null || true
systemd-run --quiet --collect --unit="$drain" --on-active=60 -p Conflicts="$active_socket" -p Conflicts="$active_unit" -p DynamicUser=yes -p NoNewPrivileges=yes -p ProtectSystem=strict -p ProtectHome=yes -p PrivateTmp=yes -p PrivateDevices=yes -p ProtectKernelTunables=yes -p ProtectKernelModules=yes -p ProtectKernelLogs=yes -p ProtectControlGroups=yes -p ProtectClock=yes -p ProtectHostname=yes -p RestrictSUIDSGID=yes -p RestrictNamespaces=yes -p RestrictRealtime=yes -p LockPersonality=yes -p PrivateUsers=yes -p PrivateIPC=yes -p ProtectProc=invisible -p ProcSubset=pid -p CapabilityBoundingSet= -p AmbientCapabilities= -p RestrictAddressFamilies=AF_UNIX -p 'RestrictAddressFamilies=~AF_UNIX' -p IPAddressDeny=any -p DevicePolicy=closed -p MemoryDenyWriteExecute=yes -p SystemCallArchitectures=native -p SystemCallFilter=@system-service -p 'SystemCallFilter=~@privileged @resources' -p SystemCallErrorNumber=EPERM -p UMask=0077 /bin/true
echo "berth: web restarted: release $rev serving on $idle; the previous instance stops after 60s"
systemctl restart berth-shop-processes-worker@1.service berth-shop-processes-worker@2.service berth-shop-processes-mailer@1.service
echo 'berth: restarted processes: berth-shop-processes-worker@1.service berth-shop-processes-worker@2.service berth-shop-processes-mailer@1.service'
