#!/bin/bash
# One create + start + wait + delete cycle of a container, for the latency benchmark.
# usage: cycle.sh <runtime> <root> <bundle> <id>
# env:   CYCLE_LOG=<file>  optional: pass --log <file> to every runtime call (diagnostics only)
# exit:  0 ok, 2 usage, 11 create, 12 start, 13 state never reached "stopped", 14 delete
set -u
[ $# -eq 4 ] || { echo "usage: $0 <runtime> <root> <bundle> <id>" >&2; exit 2; }
RT=$1 ROOT=$2 BUNDLE=$3 ID=$4
G=(--root "$ROOT")
[ -n "${CYCLE_LOG:-}" ] && G+=(--log "$CYCLE_LOG")
MAX_POLLS=${CYCLE_MAX_POLLS:-2000}

fail() { # code message
  echo "cycle.sh: $2" >&2
  "$RT" "${G[@]}" delete --force "$ID" >/dev/null 2>&1 || true
  exit "$1"
}

# create must not keep the caller's stdio: the container's init inherits it
"$RT" "${G[@]}" create --bundle "$BUNDLE" "$ID" </dev/null >/dev/null 2>&1 || fail 11 "create failed"
"$RT" "${G[@]}" start "$ID" || fail 12 "start failed"
n=0
re='"status": *"stopped"'
while :; do
  s=$("$RT" "${G[@]}" state "$ID" 2>/dev/null) || s=
  [[ $s =~ $re ]] && break
  n=$((n + 1))
  [ "$n" -ge "$MAX_POLLS" ] && fail 13 "state never reached \"stopped\" after $n polls (last state output: ${s:-<none or state failed>})"
done
"$RT" "${G[@]}" delete "$ID" || fail 14 "delete failed"
exit 0
