set -euo pipefail
umask 022
if [ -f /srv/berth/shop-frontend/frontend/releases/0000000000000000000000000000000000000000/.berth-built ]; then echo 'berth: frontend 0000000000000000000000000000000000000000 is already built; reusing it'; exit 0; fi
install -d -m 0755 /srv/berth/shop-frontend/frontend /srv/berth/shop-frontend/frontend/releases
changed=0
tmp=$(mktemp /srv/berth/shop-frontend/frontend/.berth-frontend.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack frontend). Changes are overwritten by pulumi up.
berth frontend of shop-frontend (project berth, stack frontend)
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /srv/berth/shop-frontend/frontend/.berth-frontend && [ "$(stat -c '%a %U:%G' /srv/berth/shop-frontend/frontend/.berth-frontend)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /srv/berth/shop-frontend/frontend/.berth-frontend; changed=1; fi
if [ "$changed" = 1 ]; then echo 'berth: wrote /srv/berth/shop-frontend/frontend/.berth-frontend'; fi
src=/srv/berth/shop-frontend/frontend/releases/.0000000000000000000000000000000000000000.src
out=/srv/berth/shop-frontend/frontend/releases/.0000000000000000000000000000000000000000.out
rm -rf --one-file-system "$src" "$out"
install -d -m 0755 "$src" "$out"
export GIT_SSH_COMMAND='ssh -i /etc/berth/shop-frontend/deploy_key -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/etc/berth/shop-frontend/git_known_hosts -o GlobalKnownHostsFile=/dev/null'
export GIT_TERMINAL_PROMPT=0
if [ ! -d /srv/berth/shop-frontend/frontend/repo ]; then
  git clone --quiet --mirror -- https://git.example.com/site.git /srv/berth/shop-frontend/frontend/repo
fi
if ! git --git-dir /srv/berth/shop-frontend/frontend/repo cat-file -e '0000000000000000000000000000000000000000^{commit}' 2>/dev/null; then
  git --git-dir /srv/berth/shop-frontend/frontend/repo fetch --quiet --prune origin '+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*'
fi
git --git-dir /srv/berth/shop-frontend/frontend/repo cat-file -e '0000000000000000000000000000000000000000^{commit}' || { echo 'berth: frontend commit 0000000000000000000000000000000000000000 is not in https://git.example.com/site.git' >&2; exit 1; }
git --git-dir /srv/berth/shop-frontend/frontend/repo archive --format=tar 0000000000000000000000000000000000000000 | tar -x -C "$src"
chown -R shop-frontend:shop-frontend "$src" "$out"
echo 'berth: building frontend 0000000000000000000000000000000000000000'
# shellcheck disable=SC2016
systemd-run --quiet --wait --pipe --collect --service-type=exec --unit=berth-shop-frontend-frontend-build-"$$" -p User=shop-frontend -p Group=shop-frontend -p EnvironmentFile=/etc/berth/shop-frontend/app.env -p WorkingDirectory=/srv/berth/shop-frontend/frontend/releases/.0000000000000000000000000000000000000000.src -p Environment=HOME=/srv/berth/shop-frontend/shared -p UMask=0022 -p Environment=OUT=/srv/berth/shop-frontend/frontend/releases/.0000000000000000000000000000000000000000.out -p Environment=REVISION=0000000000000000000000000000000000000000 /bin/bash -c 'set -euo pipefail
cd site && hugo --minify -d "$OUT"'
if [ ! -d "$src"/site/public ]; then echo 'berth: the frontend build did not write site/public (berth:frontend.output)' >&2; exit 1; fi
rm -rf "$out" && mv -T "$src"/site/public "$out"
if [ ! -f "$out/index.html" ]; then echo 'berth: the frontend build of 0000000000000000000000000000000000000000 wrote no index.html in site/public (berth:frontend.output); nothing published' >&2; exit 1; fi
chown -R root:root "$out" && chmod -R u=rwX,go=rX "$out"
rm -rf --one-file-system "$src"
rm -rf --one-file-system /srv/berth/shop-frontend/frontend/releases/0000000000000000000000000000000000000000
install -d -m 0755 /srv/berth/shop-frontend/frontend/releases/0000000000000000000000000000000000000000
mv -T "$out" /srv/berth/shop-frontend/frontend/releases/0000000000000000000000000000000000000000/site
touch /srv/berth/shop-frontend/frontend/releases/0000000000000000000000000000000000000000/.berth-built
echo 'berth: frontend 0000000000000000000000000000000000000000 built in /srv/berth/shop-frontend/frontend/releases/0000000000000000000000000000000000000000/site'
