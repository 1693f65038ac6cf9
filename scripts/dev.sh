#!/usr/bin/env bash
# The local default: berth's dev stack on a disposable local VPS.
#   npm run dev:up     VPS + git server (sample app) + Pebble, then apply the dev stack
#   npm run dev:down   destroy the dev stack, remove the containers
# With the Pulumi CLI on PATH this runs `pulumi up -s dev` on a local file
# backend (no account). Without it, the test applier applies the same program
# (see test/e2e/README.md), so the command works on machines without Pulumi.
#
# The dev stack shares nothing with the e2e suite (npm run test:e2e) that
# either could break for the other: its own VPS (berth-dev), its own Pebble +
# challtestsrv and git server (BERTH_E2E_INSTANCE=dev: own ports, CA root, DNS
# records, container berth-dev-git), its own domain (berth:domain of
# Pulumi.dev.yaml; the suite uses e2e.berth.test) and state (.berth/). Both
# may run at once; dev:down stops only the dev set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
HOST=test/e2e/host
NAME=berth-dev
STATE_DIR="$PWD/.berth"
node=node_modules/.bin/node
export BERTH_E2E_INSTANCE=dev
# A working Pulumi CLI (`pulumi version` succeeds), not just one on PATH: the
# `pulumi` npm package's launcher is on PATH but fails without get.pulumi.com.
has_pulumi() { "$node" --import tsx cli/main.ts pulumi-cli; }
DOMAIN="$(awk '$1 == "berth:domain:" {print $2; exit}' Pulumi.dev.yaml)"

up() {
  bash scripts/ensure.sh dev
  mkdir -p "$STATE_DIR"
  bash "$HOST/image.sh" >&2
  vps_json="$(bash "$HOST/vps.sh" up "$NAME")"
  bash "$HOST/vps.sh" stage-images "$NAME" >&2
  acme_json="$(bash "$HOST/acme.sh" up)"
  bash "$HOST/vps.sh" gitserver up >/dev/null
  rm -rf "$STATE_DIR/sample"
  bash test/e2e/sample-repo.sh "$STATE_DIR/sample" >/dev/null
  repo_url="$(bash "$HOST/vps.sh" gitserver push "$STATE_DIR/sample" sample)"
  git_json="$(bash "$HOST/vps.sh" gitserver info)"
  ip="$(jq -r .ip <<<"$vps_json")"

  if has_pulumi; then
    export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$STATE_DIR/backend}"
    export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-berth-dev}"
    mkdir -p "$STATE_DIR/backend"
    pulumi stack select dev --create --non-interactive
    pulumi config set host "$ip"
    pulumi config set hostKey "$(jq -r .hostKey <<<"$vps_json")"
    pulumi config set repository "$repo_url"
    pulumi config set repositoryHostKey "$(jq -r .hostKey <<<"$git_json")"
    pulumi config set --secret deployKey <"$(jq -r .deployKeyPath <<<"$git_json")"
    pulumi config set --path acme.server "$(jq -r .directoryUrl <<<"$acme_json")"
    jq -r .caBundlePem <<<"$acme_json" | pulumi config set --path acme.caBundle
    # dns is off in the dev stack: point the test DNS at the VPS ourselves.
    curl -fsS -d "{\"host\":\"$DOMAIN.\",\"addresses\":[\"$ip\"]}" "$(jq -r .dnsApi <<<"$acme_json")/add-a" >/dev/null
    eval "$(ssh-agent -s)" >/dev/null
    ssh-add -q "$(jq -r .privateKeyPath <<<"$vps_json")"
    pulumi up --stack dev --yes --diff
  else
    echo "dev: no pulumi CLI on PATH; applying with the test applier" >&2
    BERTH_REAL_HOME=1 "$node" --import tsx test/e2e/dev-apply.ts up "$NAME" "$STATE_DIR/applier-state.json"
  fi
  echo "dev: https://$DOMAIN on $ip (curl --resolve $DOMAIN:443:$ip --cacert <(curl -sk $(jq -r .rootsUrl <<<"$acme_json")) https://$DOMAIN/)"
}

down() {
  bash scripts/ensure.sh dev
  if has_pulumi && [ -d "$STATE_DIR/backend" ]; then
    export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$STATE_DIR/backend}"
    export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-berth-dev}"
    pulumi destroy --stack dev --yes || true
  elif [ -f "$STATE_DIR/applier-state.json" ]; then
    BERTH_REAL_HOME=1 "$node" --import tsx test/e2e/dev-apply.ts down "$NAME" "$STATE_DIR/applier-state.json" || true
  fi
  bash "$HOST/vps.sh" down "$NAME" || true
  bash "$HOST/vps.sh" gitserver down || true
  bash "$HOST/acme.sh" down || true
  rm -f "$STATE_DIR/applier-state.json"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
