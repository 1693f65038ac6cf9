set -euo pipefail
umask 022
exec 9>>/run/lock/berth-host.lock
if ! flock -n 9; then
  echo 'berth: docker engine: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
  flock -w 900 9 || { echo 'berth: docker engine: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
fi
export DEBIAN_FRONTEND=noninteractive
if ! command -v docker >/dev/null 2>&1; then
  apt-get update -q -o DPkg::Lock::Timeout=600
  apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 docker.io
fi
systemctl enable --now --quiet docker
for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
docker version --format 'docker {{.Server.Version}}'
