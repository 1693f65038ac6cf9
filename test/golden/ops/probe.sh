set -euo pipefail
umask 022
r() { local IFS=$'\t'; printf '%s\n' "$*"; }
for k in color revision stamp; do if [ -f /srv/berth/shop-staging/state/"$k" ]; then r S "$k" "$(head -c 500 /srv/berth/shop-staging/state/"$k")"; fi; done
r S current "$(readlink -f /srv/berth/shop-staging/current 2>/dev/null || true)"
if grep -qs 'berth:maintenance is on' /etc/nginx/sites-available/berth-shop-staging-https.conf; then r S maintenance on; else r S maintenance off; fi
for c in blue green; do r L /srv/berth/shop-staging/slots/"$c" "$(readlink -f /srv/berth/shop-staging/slots/"$c" 2>/dev/null || true)"; done
if [ -d /srv/berth/shop-staging/releases ]; then
  find /srv/berth/shop-staging/releases -mindepth 1 -maxdepth 1 -type d -name '[0-9a-f]*' -printf '%f\t%T@\n' | while IFS=$'\t' read -r sha at; do
    d=/srv/berth/shop-staging/releases/"$sha"
    if [ -f "$d/.berth-built" ]; then at=$(stat -c %Y "$d/.berth-built"); fi
    r R "$sha" "${at%.*}" "$([ -f "$d/.berth-built" ] && echo 1 || echo 0)" "$([ -f "$d/.berth-released" ] && echo 1 || echo 0)"
  done
fi
units=(nginx.service)
for u in "${units[@]}"; do
  r U "$u" "$(systemctl is-active "$u" 2>/dev/null || true)" "$(systemctl is-enabled "$u" 2>/dev/null || true)"
done
containers=(c)
for c in "${containers[@]}"; do
  if info=$(docker inspect -f '{{.State.Status}}{{"\t"}}{{if .State.Health}}{{.State.Health.Status}}{{end}}{{"\t"}}{{.Image}}' "$c" 2>/dev/null); then
    img=$(printf '%s' "$info" | cut -f3)
    r C "$c" "$info" "$(docker image inspect -f '{{join .RepoTags " "}}' "$img" 2>/dev/null || true)"
  else
    r C "$c" missing
  fi
done
names=(staging.shop.example.com)
for h in "${names[@]}"; do
  pem=$(openssl s_client -connect 127.0.0.1:443 -servername "$h" </dev/null 2>/dev/null | openssl x509 2>/dev/null || true)
  if [ -n "$pem" ]; then
    r X "$h" "$(printf '%s\n' "$pem" | openssl x509 -noout -enddate | cut -d= -f2)" "$(printf '%s\n' "$pem" | openssl x509 -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ')"
  else
    r X "$h"
  fi
done
files=('/etc/a b')
for f in "${files[@]}"; do
  if [ -f "$f" ]; then r F "$f" "$(stat -c '%a %U:%G' "$f")" "$(sha256sum < "$f" | cut -d' ' -f1)"; else r F "$f" missing; fi
done
masked=(/etc/wireguard/bm-0.conf)
for f in "${masked[@]}"; do
  if [ -f "$f" ]; then r F "$f" "$(stat -c '%a %U:%G' "$f")" "$(sed 's/^PrivateKey = .*/PrivateKey = <the host'\''s key file>/' "$f" | sha256sum | cut -d' ' -f1)"; else r F "$f" missing; fi
done
links=(/etc/nginx/sites-enabled/x)
for l in "${links[@]}"; do r L "$l" "$(readlink "$l" 2>/dev/null || true)"; done
up=/etc/nginx/berth/shop-staging-upstream.conf
if [ -f "$up" ]; then
  server=$(awk '$1 == "server" { print $2; exit }' "$up")
  case "$server" in unix:*) r N upstream "$server" "$(readlink -f "${server#unix:}" 2>/dev/null || true)" ;; *) r N upstream "$server" "" ;; esac
fi
if out=$(nginx -t 2>&1); then r N test ok; else r N test fail "$(printf '%s' "$out" | tr '\n\t' '  ')"; fi
ufw status verbose 2>&1 | while IFS= read -r line; do r W "$line"; done
sshd -T 2>/dev/null | while IFS= read -r line; do r H "$line"; done
true
