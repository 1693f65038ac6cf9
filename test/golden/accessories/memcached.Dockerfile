# Managed by berth (project berth, stack accessories). Changes are overwritten by pulumi up.
# Accessory memcached: built on the host from Debian packages.
FROM debian:trixie-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update -q && apt-get install -y -q --no-install-recommends memcached && apt-get clean && rm -rf /var/lib/apt/lists/*
