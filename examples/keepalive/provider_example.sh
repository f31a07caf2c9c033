#!/usr/bin/env bash
# Example p2p.keepalive_command for cloud instances (written against the Vast.ai CLI; adapt for others).
#
# The coordinator calls it for a peer it holds dead:
#   provider_example.sh check NODE_ID URL    exit 0: the instance is running; non-zero: it is not
#   provider_example.sh restart NODE_ID URL  exit 0: the provider accepted the (re)start
# with a timeout (60 s) and a doubling back-off (p2p.keepalive_backoff_s); its output ends up in the
# node's status document, so keep it short and never print secrets.
#
# Configuration (environment of the `ringrift-hpc p2p` process that runs the coordinator):
#   RINGRIFT_KEEPALIVE_MAP  file mapping node ids to instance ids, one "NODE_ID INSTANCE_ID" per line
#                           ('#' starts a comment), e.g.   gpu-a 1234567
#   RINGRIFT_KEEPALIVE_CLI  the provider CLI (default: vastai), already logged in (`vastai set api-key`)
#
# In the run config:
#   p2p:
#     keepalive_command: /opt/ringrift/provider_example.sh
#     keepalive_backoff_s: 120
#
# For Runpod, the same two calls would be `runpodctl get pod ID` (check the status column) and
# `runpodctl start pod ID`.
set -euo pipefail

usage() {
  echo "usage: $0 check|restart NODE_ID URL" >&2
  exit 2
}

not_configured() {
  echo "$0: not configured: $1" >&2
  exit 2
}

[ "$#" -eq 3 ] || usage
action=$1
node=$2
# URL ($3) is not needed by this provider: instances are found by id, not address.

map=${RINGRIFT_KEEPALIVE_MAP:-}
cli=${RINGRIFT_KEEPALIVE_CLI:-vastai}
[ -n "$map" ] || not_configured "set RINGRIFT_KEEPALIVE_MAP to a file of 'NODE_ID INSTANCE_ID' lines"
[ -r "$map" ] || not_configured "RINGRIFT_KEEPALIVE_MAP=$map is not a readable file"
command -v "$cli" >/dev/null || not_configured "the provider CLI '$cli' is not on PATH (set RINGRIFT_KEEPALIVE_CLI)"

instance=$(awk -v node="$node" '$1 !~ /^#/ && $1 == node { print $2; exit }' "$map")
[ -n "$instance" ] || not_configured "node '$node' has no instance id in $map; add a line '$node INSTANCE_ID'"

case "$action" in
  check)
    # `show instance ID --raw` prints the instance as JSON; actual_status is "running" when it is up.
    status=$("$cli" show instance "$instance" --raw | python3 -c 'import json, sys; print(json.load(sys.stdin).get("actual_status", ""))')
    echo "instance $instance of $node: ${status:-unknown}"
    [ "$status" = running ]
    ;;
  restart)
    # `start instance` boots a stopped instance; the node's own service (systemd, onstart script)
    # must start `ringrift-hpc p2p` again when the instance comes up.
    "$cli" start instance "$instance"
    echo "asked to start instance $instance of $node"
    ;;
  *)
    usage
    ;;
esac
