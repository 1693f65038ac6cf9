#!/usr/bin/env bash
# The e2e sample app is what Debian 13's own `rails new` writes. This script
# runs that generator again, in a container of the local Debian 13 base image
# (berth-local/debian:trixie, image.sh), and compares its output with
# sample-app/:
#
#   rails-new.sh check        regenerate and diff against sample-app/ (exit 1 on a difference)
#   rails-new.sh write        regenerate into sample-app/ (then review `git diff sample-app`)
#
# The generator command (see test/e2e/README.md, "The sample app"):
#
#   rails new sample --database=postgresql --asset-pipeline=propshaft \
#       --skip-javascript --skip-rubocop --skip-brakeman
#
# Every flag past --database is forced by Debian's gem set (rubygems.org is
# not reachable; Bundler resolves against Debian's ruby-* packages only):
# sprockets-rails (7.2's default pipeline), importmap-rails, turbo-rails,
# stimulus-rails, rubocop-rails-omakase and brakeman are not packaged.
# Debian packages propshaft (ruby-rails-propshaft). With those flags the
# generator's own `bundle install --local` succeeds and writes Gemfile.lock;
# its `bundle lock --add-platform` step needs rubygems.org and fails
# harmlessly. Not compared: config/credentials.yml.enc (encrypted with a
# fresh random master key on every run; config/master.key is git-ignored).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

APP_DIR="$(cd "$E2E_HOST_DIR/../../.." && pwd)/sample-app"
IMAGE="berth-local/debian:trixie"
FLAGS=(--database=postgresql --asset-pipeline=propshaft --skip-javascript --skip-rubocop --skip-brakeman)
# The gems the generated Gemfile asks for (development and test groups included:
# the generator's bundle install resolves every group).
PKGS=(rails ruby-pg puma ruby-rails-propshaft ruby-bootsnap ruby-jbuilder ruby-web-console ruby-capybara
    ruby-selenium-webdriver git ca-certificates)

generate() { # generate OUT-TAR
    local out="$1" ctr="berth-e2e-rails-new-$$"
    BERTH_E2E_SUITE=trixie "$E2E_HOST_DIR/image.sh" base >&2
    docker rm -f "$ctr" >/dev/null 2>&1 || true
    docker run -d --name "$ctr" --label "$E2E_LABEL" "$IMAGE" sleep 3600 >/dev/null
    # shellcheck disable=SC2064 # expand $ctr now
    trap "docker rm -f '$ctr' >/dev/null 2>&1 || true" EXIT
    docker exec -e DEBIAN_FRONTEND=noninteractive "$ctr" bash -c \
        "apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends ${PKGS[*]} >/dev/null"
    log "rails new sample ${FLAGS[*]} ($(docker exec "$ctr" rails --version), $(docker exec "$ctr" ruby --version | cut -d' ' -f1-2))"
    docker exec "$ctr" bash -c "git config --global user.email e2e@berth.invalid && git config --global user.name 'berth e2e' &&
        cd /tmp && rails new sample ${FLAGS[*]} >/tmp/rails-new.log 2>&1 || { tail -n 40 /tmp/rails-new.log >&2; exit 1; }
        cd sample && git add -A && git ls-files -z | tar --null -T - -cf /tmp/sample.tar"
    docker cp "$ctr:/tmp/sample.tar" "$out"
}

main() {
    local cmd="${1:-check}" tmp
    ensure_dockerd
    tmp="$(mktemp -d)"
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" RETURN
    generate "$tmp/sample.tar"
    mkdir -p "$tmp/new"
    tar -xf "$tmp/sample.tar" -C "$tmp/new"
    case "$cmd" in
        write)
            find "$APP_DIR" -mindepth 1 -delete 2>/dev/null || true
            mkdir -p "$APP_DIR"
            tar -xf "$tmp/sample.tar" -C "$APP_DIR"
            log "wrote $APP_DIR"
            ;;
        check)
            if diff -r -q -x credentials.yml.enc "$tmp/new" "$APP_DIR"; then
                log "sample-app/ is what rails new writes today"
            else
                diff -r -u -x credentials.yml.enc "$tmp/new" "$APP_DIR" | head -n 80 >&2 || true
                die "sample-app/ differs from what rails new writes today"
            fi
            ;;
        *) die "usage: rails-new.sh check|write" ;;
    esac
}

main "$@"
