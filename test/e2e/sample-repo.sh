#!/usr/bin/env bash
# Build a git repository of the sample Rails app for the end-to-end tests.
#
#   test/e2e/sample-repo.sh <out-dir>
#
# sample-app/ is a Rails 7.2 app exactly as Debian 13's `rails new` writes it
# (test/e2e/host/rails-new.sh checks that). The project's own additions are
# ordinary commits on top of it, kept as diffs in test/e2e/sample-app-patches/:
#   rails-new  sample-app/ as generated (main's first commit)
#   v1         + a `notes` scaffold and a `visits` model (both from the rails
#              generators), a home page recording visits, plain-text probes
#              (/health/db, /health/redis, /version, /slow) and the redis gem
#   v2         + a visible change (page heading) and a second migration
#   broken     v2 whose /up answers 500 (a BROKEN file in the release)
#   hostcheck  v2 whose /up answers 500 on a host where /etc/berth-e2e-unhealthy
#              exists (healthy on one host, unhealthy on another)
#   redirect   v2 whose /up redirects to https://www.<host>/up (a canonical-host
#              redirect that also catches the health path)
#   generic    v2 + bin/berth-e2e-server, the app as one Python program for the
#              generic preset (no Ruby): the Debian 12 scenario deploys it
#   jsbundling v2 + a package.json with a lockfile (npm, one local dependency)
#              whose build writes app/assets/builds/application.js before
#              assets:precompile, as jsbundling-rails does
#   variants   generic + SQLite rows (/write, /count), an upload into storage/
#              (/upload), a memcached round trip at MEMCACHE_URL (/accessory),
#              a process loop (bin/berth-e2e-loop) and scheduled jobs
#              (bin/berth-e2e-job ok|fail|slow): variants.test.ts deploys it
#   variants-next  variants again as a new (empty) commit: a second release of
#              the same app
#   multidb    v2 with a second database (database.yml production `primary:` +
#              `queue:`, migrations in db/queue_migrate), a QueueItem model on
#              it (an abstract QueueRecord: connects_to writing: :queue) and
#              /health/queue: multidb.test.ts deploys it
# Branch main points at v2 (and is checked out); the others are only tags.
# Authors, committers and dates are fixed, so the shas depend only on the
# content of sample-app/ and the patches. Prints the shas of every tag as JSON
# ({"v1":"<sha>","v2":"<sha>",...}).
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 <out-dir>" >&2
  exit 2
fi
out=$1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../../sample-app" && pwd)
patches="$here/sample-app-patches"

if [[ -e "$out" && -n "$(ls -A "$out" 2>/dev/null)" ]]; then
  echo "sample-repo: $out exists and is not empty" >&2
  exit 1
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

# Ignore the caller's git configuration (signing, hooks, default branch...).
export GIT_CONFIG_NOSYSTEM=1
export GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME="berth e2e"
export GIT_AUTHOR_EMAIL="e2e@berth.invalid"
export GIT_COMMITTER_NAME="berth e2e"
export GIT_COMMITTER_EMAIL="e2e@berth.invalid"
export LC_ALL=C

g() { git -C "$out" -c core.autocrlf=false -c core.fileMode=true "$@"; }

commit() { # commit <date> <message>
  g add -A
  GIT_AUTHOR_DATE="$1" GIT_COMMITTER_DATE="$1" g commit -q --no-verify -m "$2"
}

apply() { # apply <patch>: the diff must apply exactly
  g apply --index --whitespace=nowarn "$patches/$1" || { echo "sample-repo: $1 does not apply" >&2; exit 1; }
}

# --- rails-new: sample-app/ as generated --------------------------------------
cp -R "$src/." "$out/"
g init -q -b main
commit "2026-01-01T00:00:00+0000" "rails new sample --database=postgresql --asset-pipeline=propshaft --skip-javascript --skip-rubocop --skip-brakeman"
g tag rails-new

apply 01-v1-scaffold-probes.patch
commit "2026-01-01T01:00:00+0000" "notes scaffold, visits, plain-text probes, redis"
g tag v1

apply 02-v2.patch
commit "2026-01-02T00:00:00+0000" "v2: new heading, visits.user_agent"
g tag v2

variant() { # variant <tag> <patch> <date> <message>: a tag on top of v2
  g checkout -q --detach v2
  apply "$2"
  commit "$3" "$4"
  g tag "$1"
}
variant broken 03-broken.patch "2026-01-03T00:00:00+0000" "broken: /up answers 500"
variant hostcheck 04-hostcheck.patch "2026-01-04T00:00:00+0000" "hostcheck: /up fails where /etc/berth-e2e-unhealthy exists"
variant redirect 05-redirect.patch "2026-01-05T00:00:00+0000" "redirect: /up redirects to the www host"
variant generic 07-generic.patch "2026-01-07T00:00:00+0000" "generic: the app as one program (no Ruby)"
variant jsbundling 06-jsbundling.patch "2026-01-06T00:00:00+0000" "jsbundling: a package.json with a lockfile, built before assets:precompile"
g checkout -q --detach generic
apply 08-variants.patch
commit "2026-01-08T00:00:00+0000" "variants: SQLite rows, an upload, memcached, process and job scripts"
g tag variants
GIT_AUTHOR_DATE="2026-01-09T00:00:00+0000" GIT_COMMITTER_DATE="2026-01-09T00:00:00+0000" g commit -q --no-verify --allow-empty -m "variants-next: the same app, a new release"
g tag variants-next
g checkout -q --detach v2
apply 09-multidb.patch
commit "2026-01-10T00:00:00+0000" "multidb: a queue database beside the primary, its model and /health/queue"
g tag multidb
g checkout -q main

sha() { g rev-parse "$1^{commit}"; }
printf '{"v1":"%s","v2":"%s","broken":"%s","hostcheck":"%s","redirect":"%s","jsbundling":"%s","generic":"%s","variants":"%s","variantsNext":"%s","multidb":"%s"}\n' \
  "$(sha v1)" "$(sha v2)" "$(sha broken)" "$(sha hostcheck)" "$(sha redirect)" "$(sha jsbundling)" "$(sha generic)" "$(sha variants)" "$(sha variants-next)" "$(sha multidb)"
