set -euo pipefail
umask 022
os_release=${BERTH_OS_RELEASE:-/etc/os-release}
if [ ! -r "$os_release" ]; then echo "berth: cannot read $os_release: berth supports Debian 12, Debian 13, Ubuntu 24.04" >&2; exit 1; fi
# shellcheck source=/dev/null
host_os=$(. "$os_release" && printf '%s:%s' "${ID:-}" "${VERSION_ID:-}")
case "$host_os" in
  debian:12|debian:13|ubuntu:24.04) ;;
  *)
    # shellcheck source=/dev/null
    host_os_name=$(. "$os_release" && printf '%s' "${PRETTY_NAME:-${NAME:-unknown}}")
    printf 'berth: unsupported host OS "%s" (%s); berth supports %s\n' "$host_os_name" "${host_os/:/ }" 'Debian 12, Debian 13, Ubuntu 24.04' >&2
    exit 1
    ;;
esac
exec 9>>/run/lock/berth-host.lock
if ! flock -n 9; then
  echo 'berth: docker engine: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
  flock -w 900 9 || { echo 'berth: docker engine: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
fi
case "$host_os" in
  debian:12|ubuntu:24.04) wanted=(docker.io) ;;
  debian:13) wanted=(docker.io docker-cli) ;;
esac
if ! { command -v docker >/dev/null 2>&1 && command -v dockerd >/dev/null 2>&1; }; then
  export DEBIAN_FRONTEND=noninteractive
  missing=()
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -q -o DPkg::Lock::Timeout=600
    apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold "${missing[@]}"
    echo "installed: ${missing[*]}"
  fi
fi
if ! { command -v docker >/dev/null 2>&1 && command -v dockerd >/dev/null 2>&1; }; then echo "berth: docker engine: docker and dockerd are not both on PATH after installing ${wanted[*]}" >&2; exit 1; fi
systemctl enable --now --quiet docker
for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
docker version --format 'docker {{.Server.Version}}'
