#!/bin/sh
# Entrypoint of berth-local/redis:7. Behaves like the official redis image's
# docker-entrypoint.sh (docker-library/redis, BSD-3): a first argument that is
# a flag or a *.conf file means `redis-server ...`; as root it chowns the
# workdir (/data) to redis and re-execs itself as redis.
#
# The official image's redis-server is compiled with protected mode OFF;
# Debian's is not, so protected mode is switched off on the command line
# unless the given config file sets `protected-mode` itself.
set -e

# first arg is `-f` or `--some-option`, or first arg is `something.conf`
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi

# allow the container to be started with `--user`
if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec gosu redis "$0" "$@"
fi

if [ "$1" = 'redis-server' ]; then
    conf=''
    if [ "$#" -ge 2 ] && [ "${2#-}" = "$2" ]; then
        conf="$2"
    fi
    if [ -z "$conf" ] || ! grep -Eqs '^[[:space:]]*protected-mode[[:space:]]' "$conf"; then
        set -- "$@" --protected-mode no
    fi
fi

# set an appropriate umask (if one isn't set already)
um="$(umask)"
if [ "$um" = '0022' ]; then
    umask 0077
fi

exec "$@"
