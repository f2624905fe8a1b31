# Shared by the tests that run tests/adversarial/liarpeer.py against a viewer (issue 13):
# withholding_peer.sh, stale_replies.sh, edge_lie.sh, freerider.sh. Sourced after common.bash.

LIARPEER="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/liarpeer.py"
liar() { /usr/bin/python3 "$LIARPEER" --tstream "$WORK/demo.tstream" "$@"; }

# Viewers run where bans apply: `tsctl watch --bind 127.0.0.N` makes the viewer's swarm listen on
# and dial from its own address (127.0.0.1 is exempt from bans and per-address limits).
# TS_VIEWER_BIND= (empty) runs the viewers without --bind, for binaries from before the option
# (the liars still come from their own 127/8 addresses, so the viewer can ban them either way).
VBIND_BASE=${TS_VIEWER_BIND-127.0.0.2}
# viewer_bind K: sets vbind (options for tsctl watch) and vhost (where the viewer is reached) for
# viewer number K (1, 2, ...): 127.0.0.2, 127.0.0.3, ... from TS_VIEWER_BIND.
viewer_bind() {
  if [ -n "$VBIND_BASE" ]; then
    vhost="${VBIND_BASE%.*}.$(( ${VBIND_BASE##*.} + $1 - 1 ))"
    vbind=(--bind "$vhost")
  else
    vhost=127.0.0.1
    vbind=()
  fi
}

# Background processes of the test (liars, a fake tracker): ended on exit, also on failure.
BG_PIDS=()
trap 'rc=$?; set +e; for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done; (exit $rc); cleanup' EXIT

# rep FILE EXPR: a Python expression over the liar's JSON report `r`, printed.
rep() {
  /usr/bin/python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# Problems found are collected, printed at once, and fail the test at its end (after the output
# checks), so one run shows everything the attack did.
PROBLEMS=()
problem() { PROBLEMS+=("$*"); echo "PROBLEM: $*" >&2; }
# finish_output BROADCAST NVIEWERS: finish_and_check, its failure one more problem.
finish_output() {
  [ ${#PROBLEMS[@]} -eq 0 ] || say "${#PROBLEMS[@]} problem(s) so far; checking the output too"
  ( finish_and_check "$@" ) || problem "an output is not the source, byte for byte, to its end, decoding cleanly (above)"
}
finish_problems() {
  if [ ${#PROBLEMS[@]} -gt 0 ]; then
    fail "$(printf '%s; ' "${PROBLEMS[@]}")"
  fi
}

# The viewer kept playing meanwhile: it delivered at least half as many pieces as the broadcaster
# produced (a count, not a time: a stalled viewer delivers none, a healthy one all).
# progress NAME B0 D0 -> prints "delivered D of B"; returns 1 if too few.
progress() {
  local b1 d1
  b1=$(stage_field demo swarm seq); d1=$(stage_field "$1" swarm delivered)
  echo "delivered $((d1 - $3)) of $((b1 - $2)) pieces"
  [ $(( (d1 - $3) * 2 )) -ge $((b1 - $2)) ]
}

# "misbehaved" lines (disconnected and banned) in NAME's swarm log naming a peer matching ERE (address:port).
banned_lines() { grep -F "misbehaved" "$TSTREAM_HOME/$1/log/swarm.log" | grep -E "peer $2" || true; }

npieces() {
  /usr/bin/python3 -c 'import sys; sys.path.insert(0, sys.argv[2]); from evilpeer import load_meta; print(load_meta(sys.argv[1])["npieces"])' \
    "$WORK/demo.tstream" "$(dirname "$LIARPEER")"
}
