#!/usr/bin/env bash
# Build a git repository of the sample Rails app for the end-to-end tests.
#
#   test/e2e/sample-repo.sh <out-dir>
#
# Creates a fresh, non-bare repository at <out-dir> from sample-app/ with
# four commits and these tags:
#   v1         the app as it is in sample-app/
#   v2         a visible change (page heading) plus a second, harmless migration
#   broken     v2 plus a BROKEN file, so GET /up answers 500
#   hostcheck  v2 whose GET /up answers 500 on a host where the file
#              /etc/berth-e2e-unhealthy exists (healthy on one host, unhealthy
#              on another: test/e2e/multi.test.ts)
# Branch main points at v2 (and is checked out); `broken` and `hostcheck` are
# only tags (hostcheck comes after broken, so v1, v2 and broken keep their shas).
# Authors, committers and dates are fixed, so the shas depend only on the
# content of sample-app/. Prints
# {"v1":"<sha>","v2":"<sha>","broken":"<sha>","hostcheck":"<sha>"}.
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 <out-dir>" >&2
  exit 2
fi
out=$1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../../sample-app" && pwd)

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

# Copy sample-app/; its .gitignore keeps generated files out of the commits.
cp -R "$src/." "$out/"
g init -q -b main

# --- v1: the app as is -------------------------------------------------------
commit "2024-01-01T00:00:00+0000" "sample app v1"
g tag v1

# --- v2: visible change plus a second migration --------------------------------
view="$out/app/views/pages/index.html.erb"
sed -i 's|<h1>berth sample app</h1>|<h1>berth sample app (v2)</h1>|' "$view"
grep -q '(v2)' "$view" || { echo "sample-repo: could not edit $view" >&2; exit 1; }

cat > "$out/db/migrate/20240201000000_add_user_agent_to_visits.rb" <<'EOF'
# frozen_string_literal: true

class AddUserAgentToVisits < ActiveRecord::Migration[6.1]
  def change
    add_column :visits, :user_agent, :string
  end
end
EOF

schema="$out/db/schema.rb"
sed -i \
  -e 's|define(version: 2024_01_01_000000)|define(version: 2024_02_01_000000)|' \
  -e 's|^\(    t\.string "path"\)$|\1\n    t.string "user_agent"|' \
  "$schema"
if ! grep -q 'version: 2024_02_01_000000' "$schema" || ! grep -q '"user_agent"' "$schema"; then
  echo "sample-repo: could not edit $schema" >&2
  exit 1
fi
commit "2024-01-02T00:00:00+0000" "sample app v2: new heading, visits.user_agent"
g tag v2

# --- broken: v2 plus BROKEN (GET /up answers 500); only a tag -----------------
g checkout -q --detach
echo "This release is broken on purpose: GET /up answers 500." > "$out/BROKEN"
commit "2024-01-03T00:00:00+0000" "sample app broken: /up fails"
g tag broken

# --- hostcheck: v2 whose /up fails where /etc/berth-e2e-unhealthy exists; only a tag
# (the web units' sandbox, ProtectSystem=strict, leaves /etc readable).
g checkout -q --detach v2
health="$out/app/controllers/health_controller.rb"
sed -i 's|^  def up$|  def up\
    if File.exist?("/etc/berth-e2e-unhealthy")\
      return render plain: "unhealthy: /etc/berth-e2e-unhealthy exists on this host\\n", status: :internal_server_error\
    end\
|' "$health"
grep -q 'berth-e2e-unhealthy' "$health" || { echo "sample-repo: could not edit $health" >&2; exit 1; }
commit "2024-01-04T00:00:00+0000" "sample app hostcheck: /up fails on a host with /etc/berth-e2e-unhealthy"
g tag hostcheck
g checkout -q main

printf '{"v1":"%s","v2":"%s","broken":"%s","hostcheck":"%s"}\n' \
  "$(g rev-parse 'v1^{commit}')" "$(g rev-parse 'v2^{commit}')" "$(g rev-parse 'broken^{commit}')" \
  "$(g rev-parse 'hostcheck^{commit}')"
