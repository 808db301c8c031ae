#!/bin/sh
# redis-server ARGS -> redis-server ARGS --protected-mode no (as the official redis image); anything else as given
set -e
if [ "${1:-}" = redis-server ]; then
    shift
    exec redis-server "$@" --protected-mode no
fi
exec "$@"
