set -euo pipefail
umask 022
if [ -f /srv/berth/shop-staging/releases/5f8008de1dd704ea09395bd87621f1d32eeac017/.berth-built ]; then echo 'berth: release 5f8008de1dd704ea09395bd87621f1d32eeac017 is already built; reusing it'; exit 0; fi
export GIT_SSH_COMMAND='ssh -i /etc/berth/shop-staging/deploy_key -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/etc/berth/shop-staging/git_known_hosts -o GlobalKnownHostsFile=/dev/null'
export GIT_TERMINAL_PROMPT=0
if [ ! -d /srv/berth/shop-staging/repo ]; then
  git clone --quiet --mirror -- git@github.com:example-co/shop.git /srv/berth/shop-staging/repo
else
  git --git-dir /srv/berth/shop-staging/repo remote set-url origin git@github.com:example-co/shop.git
fi
if ! git --git-dir /srv/berth/shop-staging/repo cat-file -e '5f8008de1dd704ea09395bd87621f1d32eeac017^{commit}' 2>/dev/null; then
  git --git-dir /srv/berth/shop-staging/repo fetch --quiet --prune origin '+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*'
fi
git --git-dir /srv/berth/shop-staging/repo cat-file -e '5f8008de1dd704ea09395bd87621f1d32eeac017^{commit}' || { echo 'berth: commit 5f8008de1dd704ea09395bd87621f1d32eeac017 is not in git@github.com:example-co/shop.git' >&2; exit 1; }
rm -rf /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial
install -d -m 0755 /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial
git --git-dir /srv/berth/shop-staging/repo archive --format=tar 5f8008de1dd704ea09395bd87621f1d32eeac017 | tar -x -C /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial
printf '%s\n' 5f8008de1dd704ea09395bd87621f1d32eeac017 > /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial/REVISION
rm -rf /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial/log && ln -s /srv/berth/shop-staging/shared/log /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial/log
rm -rf /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial/tmp && ln -s /srv/berth/shop-staging/shared/tmp /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial/tmp
rm -rf /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial/storage && ln -s /srv/berth/shop-staging/shared/storage /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial/storage
chown -R shop-staging:shop-staging /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial
echo 'berth: building release 5f8008de1dd704ea09395bd87621f1d32eeac017'
systemd-run --quiet --wait --pipe --collect --service-type=exec --unit=berth-shop-staging-build-"$$" -p User=shop-staging -p Group=shop-staging -p EnvironmentFile=/etc/berth/shop-staging/app.env -p WorkingDirectory=/srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial -p Environment=HOME=/srv/berth/shop-staging/shared -p UMask=0022 /bin/bash -c 'set -euo pipefail
make release'
chown -R root:root /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial
[ ! -L /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial/log ] || chown -h shop-staging:shop-staging /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial/log
[ ! -L /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial/tmp ] || chown -h shop-staging:shop-staging /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial/tmp
[ ! -L /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial/storage ] || chown -h shop-staging:shop-staging /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial/storage
find /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial -maxdepth 1 -name .bundle -exec chown -R shop-staging:shop-staging {} +
rm -rf --one-file-system /srv/berth/shop-staging/releases/5f8008de1dd704ea09395bd87621f1d32eeac017
mv -T /srv/berth/shop-staging/releases/.5f8008de1dd704ea09395bd87621f1d32eeac017.partial /srv/berth/shop-staging/releases/5f8008de1dd704ea09395bd87621f1d32eeac017
if [ -d /srv/berth/shop-staging/releases/5f8008de1dd704ea09395bd87621f1d32eeac017/public/assets ] && [ ! -L /srv/berth/shop-staging/releases/5f8008de1dd704ea09395bd87621f1d32eeac017/public/assets ]; then
  install -d -m 0755 /srv/berth/shop-staging/shared/public/assets
  (cd /srv/berth/shop-staging/releases/5f8008de1dd704ea09395bd87621f1d32eeac017/public/assets && find . -name '.?*' -prune -o -type d -printf '%P\0') | while IFS= read -r -d '' sub; do
    install -d -m 0755 /srv/berth/shop-staging/shared/public/assets/"$sub"
    if ! find /srv/berth/shop-staging/releases/5f8008de1dd704ea09395bd87621f1d32eeac017/public/assets/"$sub" -mindepth 1 -maxdepth 1 ! -type d ! -name '.*' -print0 | xargs -0r ln -f -t /srv/berth/shop-staging/shared/public/assets/"$sub" -- 2>/dev/null; then
      find /srv/berth/shop-staging/releases/5f8008de1dd704ea09395bd87621f1d32eeac017/public/assets/"$sub" -mindepth 1 -maxdepth 1 ! -type d ! -name '.*' -print0 | while IFS= read -r -d '' f; do
        cp -p "$f" /srv/berth/shop-staging/shared/public/assets/"$sub/.berth-new" && mv -f /srv/berth/shop-staging/shared/public/assets/"$sub/.berth-new" /srv/berth/shop-staging/shared/public/assets/"$sub/${f##*/}"
      done
    fi
  done
  echo 'berth: linked the release'\''s assets into /srv/berth/shop-staging/shared/public/assets'
fi
touch /srv/berth/shop-staging/releases/5f8008de1dd704ea09395bd87621f1d32eeac017/.berth-built
echo 'berth: release 5f8008de1dd704ea09395bd87621f1d32eeac017 built in /srv/berth/shop-staging/releases/5f8008de1dd704ea09395bd87621f1d32eeac017'
