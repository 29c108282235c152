#!/usr/bin/env bash
# The third act of `make demo` (make demo-fabric): the C fabric server in one process on 127.0.0.2
# and Python clients in other processes on 127.0.0.3, joined by the TCP fabric (SPEC section 11).
# Neither program knows about the fabric: each reads WSPSAN_* from its environment (SPEC F3).
#
#   examples/fabric_demo.sh FABRIC_SERVER PYTHON
#
# FABRIC_SERVER is a build of examples/c/fabric_server.c, PYTHON one with the wspsan module.
# WSPSAN_DEMO_FABRIC_PORT picks the fabric port (default 7470). Exits 0 when every step ended as
# told; the server is killed on any failure, and every wait has a deadline.
set -euo pipefail

server_bin=${1:?usage: $0 FABRIC_SERVER PYTHON}
python=${2:?usage: $0 FABRIC_SERVER PYTHON}
port=${WSPSAN_DEMO_FABRIC_PORT:-7470}
examples=$(cd "$(dirname "$0")" && pwd)
server_out=$(mktemp)
server_pid=
shown=0

cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -9 "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -f "$server_out"
}
trap cleanup EXIT

fail() {
    echo "demo-fabric: $*" >&2
    echo "demo-fabric: the server said:" >&2
    sed 's/^/    /' "$server_out" >&2
    exit 1
}

# Wait (at most 10 s) until the server has printed a new line matching $1, then show its lines
# up to that one.
server_says() {
    local tries=0 at
    while :; do
        at=$(awk -v from="$shown" -v re="$1" 'NR > from && $0 ~ re { print NR; exit }' "$server_out")
        [[ -n $at ]] && break
        kill -0 "$server_pid" 2>/dev/null || fail "the server exited before saying $1"
        ((++tries <= 100)) || fail "the server did not say $1 within 10 s"
        sleep 0.1
    done
    sed -n "$((shown + 1)),${at}p" "$server_out" | sed 's/^/  [C server, 127.0.0.2]     /'
    shown=$at
}

# One Python client process on 127.0.0.3: fabric_client.py TARGET CALLER_DATA [EXPECT].
client() {
    WSPSAN_FABRIC=tcp WSPSAN_NICS=127.0.0.3 WSPSAN_FABRIC_PORT=$port \
        timeout 30 "$python" "$examples/python/fabric_client.py" "$@" | sed 's/^/  [Python client, 127.0.0.3] /' \
        || fail "the client ($*) did not end as expected"
}

echo
echo "Across processes: the TCP fabric (fabric port $port)"
echo
echo "1. The C server (examples/c/fabric_server.c) starts with WSPSAN_FABRIC=tcp WSPSAN_NICS=127.0.0.2:"
echo "   its device accepts fabric peers on 127.0.0.2:$port and it listens on 127.0.0.2:5000."
WSPSAN_FABRIC=tcp WSPSAN_NICS=127.0.0.2 WSPSAN_FABRIC_PORT=$port "$server_bin" 5000 3 30 >"$server_out" 2>&1 &
server_pid=$!
server_says '^READY'

echo
echo "2. Python clients (examples/python/fabric_client.py) on 127.0.0.3 connect with caller data."
echo "   alice: the condition function in the other process answers with callee data."
client 127.0.0.2:5000 alice
server_says '^ACCEPTED .*"alice"'
echo "   mallory: CF_REJECT there is WSAECONNREFUSED here."
client 127.0.0.2:5000 mallory WSAECONNREFUSED
server_says '^REJECTED .*"mallory"'
echo "   slow: CF_DEFER keeps the request waiting; the next accept takes it."
client 127.0.0.2:5000 slow
server_says '^ACCEPTED .*"slow"'
echo "   nobody listens on 127.0.0.2:5999: refused after one round trip, never a timeout."
client 127.0.0.2:5999 anyone WSAECONNREFUSED

echo
echo "3. The server has decided its three requests and exits."
server_says '^DONE'
status=0
wait "$server_pid" || status=$?
server_pid=
((status == 0)) || fail "the server exited with status $status"
echo
echo "Done."
