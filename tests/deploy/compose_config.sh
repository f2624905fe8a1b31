#!/usr/bin/env bash
# deploy/docker-compose.yml validates with docker-compose (1.29, Debian's; no engine needed) with
# each profile and all of them, and what `config` resolves keeps the deployment's promises: the
# signing key's volume is mounted by the signer alone; each CURVE volume by the keys service and one
# stage, read-only there, matching the stage's own key name; every long-running service has a
# restart policy and a healthcheck with explicit interval, timeout and retries that runs
# `tsctl probe` on the /readyz its stage serves; every stage has --exit-unready; tcp:// stages have
# --curve; a one-shot `source` service checks ingest's source (`ts-ingest --check`, same --source,
# same mount) and ingest starts only once it succeeded (a missing source directory: one clear
# error, no restart loop); metrics are off node_exporter's port 9100; ports and piece sizes agree between services, also when overridden; the keys service's
# mount points exist in the image (a new volume takes its owner from them); and the Dockerfile
# installs packages only through deploy/setup.sh.
set -euo pipefail
SRC=${TS_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
F="$SRC/deploy/docker-compose.yml"
command -v docker-compose >/dev/null || { echo "FAIL: docker-compose not installed (deploy/setup.sh installs it)" >&2; exit 1; }
unset COMPOSE_PROFILES TS_PEER_PORT TS_PIECE_SIZE TS_NAME
work=$(mktemp -d /tmp/tscompose.XXXXXX)
trap 'rm -rf "$work"' EXIT

for p in "" bridge viewer seeder; do
  docker-compose -f "$F" ${p:+--profile "$p"} config -q || { echo "FAIL: config -q${p:+ --profile $p}" >&2; exit 1; }
  echo "ok: docker-compose config -q${p:+ --profile $p}"
done
all=(--profile bridge --profile viewer --profile seeder)
docker-compose -f "$F" "${all[@]}" config > "$work/all.yml"
TS_PEER_PORT=7000 TS_PIECE_SIZE=64k TS_NAME=other docker-compose -f "$F" "${all[@]}" config > "$work/over.yml"

/usr/bin/python3 - "$work/all.yml" "$work/over.yml" "$SRC/deploy/Dockerfile" <<'PY'
import re, sys, yaml

fails = []
def check(cond, msg):
    if not cond:
        fails.append(msg)

def mounts(svc):
    """(volume or host path, target, read_only) for each of a service's volumes, short or long form."""
    out = []
    for v in svc.get("volumes", []):
        if isinstance(v, str):
            parts = v.split(":")
            out.append((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
        else:
            out.append((v.get("source"), v.get("target"), bool(v.get("read_only"))))
    return out

def cmdline(svc):
    c = svc.get("command", [])
    return " ".join(c) if isinstance(c, list) else c

def opt(cmd, name):
    m = re.search(r"%s[ =](\S+)" % re.escape(name), cmd)
    return m.group(1) if m else None

def check_file(path, peer_port, piece, name):
    cfg = yaml.safe_load(open(path))
    svcs = cfg["services"]
    want = {"keys", "source", "ingest", "signer", "swarm", "player-bridge", "viewer-swarm", "viewer-bridge", "seeder"}
    check(set(svcs) == want, "services: %s, expected %s" % (sorted(svcs), sorted(want)))

    # The signing key: one volume, one service.
    users = [n for n, s in svcs.items() for src, tgt, ro in mounts(s) if src == "signer-key"]
    check(users == ["signer"], "signer-key is mounted by %s, expected the signer alone" % users)
    at_key = [n for n, s in svcs.items() for src, tgt, ro in mounts(s) if tgt == "/var/lib/tstream/key"]
    check(at_key == ["signer"], "/var/lib/tstream/key is mounted by %s" % at_key)

    # CURVE volumes: made by keys, each used by one stage, read-only, holding that stage's own key.
    own = {"ingest": "ingest", "signer": "signer", "swarm": "swarm", "player-bridge": "player-bridge",
           "viewer-swarm": "swarm", "viewer-bridge": "player-bridge"}
    for svc, key in own.items():
        vol = "curve-" + svc
        users = sorted(n for n, s in svcs.items() for src, tgt, ro in mounts(s) if src == vol)
        check(users == sorted(["keys", svc]), "%s is mounted by %s, expected keys and %s" % (vol, users, svc))
        m = [(tgt, ro) for src, tgt, ro in mounts(svcs[svc]) if src == vol]
        check(m == [("/var/lib/tstream/curve", True)], "%s: %s mounted as %s, expected read-only at the --curve dir" % (svc, vol, m))
        keyscmd = cmdline(svcs["keys"])
        check(re.search(r"%s\.secret %s/" % (re.escape(key), re.escape(svc)), keyscmd) or
              (svc in ("ingest", "signer", "swarm", "player-bridge") and "$$s.secret $$s/" in keyscmd),
              "keys: does not put %s.secret into %s's volume" % (key, svc))

    for n, s in svcs.items():
        cmd = cmdline(s)
        if n in ("keys", "source"):
            check(s.get("restart") in (None, "no"), "%s: a one-shot service must not restart (%s)" % (n, s.get("restart")))
            continue
        check(s.get("restart") in ("unless-stopped", "always", "on-failure"), "%s: restart policy %r" % (n, s.get("restart")))
        hc = s.get("healthcheck") or {}
        for k in ("interval", "timeout", "retries"):
            check(k in hc, "%s: healthcheck without an explicit %s" % (n, k))
        test = " ".join(hc.get("test", []))
        check(re.search(r"tsctl probe http://127\.0\.0\.1:(\d+)/readyz", test), "%s: healthcheck %r is not tsctl probe of /readyz" % (n, test))
        port = re.search(r":(\d+)/readyz", test)
        check(port and opt(cmd, "--metrics") == "0.0.0.0:%s" % port.group(1),
              "%s: healthcheck port and --metrics %s differ" % (n, opt(cmd, "--metrics")))
        check(opt(cmd, "--metrics") != "0.0.0.0:9100", "%s: --metrics on 9100, node_exporter's port" % n)
        check(opt(cmd, "--exit-unready"), "%s: no --exit-unready" % n)
        if "tcp://" in cmd:
            check(opt(cmd, "--curve") == "/var/lib/tstream/curve", "%s: tcp:// links without --curve" % n)

    # The source check: ingest's own check of ingest's own source, on the same mount, before ingest.
    ing, src = cmdline(svcs["ingest"]), cmdline(svcs.get("source", {}))
    check(re.search(r"(^|\s)ts-ingest --check(\s|$)", src), "source: does not run ts-ingest --check (%r)" % src)
    check(opt(src, "--source") == opt(ing, "--source"), "source checks %s, ingest reads %s" % (opt(src, "--source"), opt(ing, "--source")))
    src_mounts = [m for m in mounts(svcs.get("source", {})) if m[1] == "/var/lib/tstream/source"]
    check(src_mounts and src_mounts == [m for m in mounts(svcs["ingest"]) if m[1] == "/var/lib/tstream/source"],
          "source and ingest mount different source directories: %s" % src_mounts)
    dep = svcs["ingest"].get("depends_on", {})
    check(isinstance(dep, dict) and dep.get("source", {}).get("condition") == "service_completed_successfully",
          "ingest does not wait for the source check to succeed: %s" % dep)

    sw = cmdline(svcs["swarm"])
    check(opt(sw, "--port") == peer_port, "swarm --port %s, expected %s" % (opt(sw, "--port"), peer_port))
    pub = [p if isinstance(p, str) else "%s:%s" % (p.get("published"), p.get("target"))
           for p in svcs["swarm"].get("ports", [])]
    check(any(p.split("/")[0].endswith("%s:%s" % (peer_port, peer_port)) for p in pub),
          "swarm publishes %s, expected %s:%s" % (pub, peer_port, peer_port))
    sg = cmdline(svcs["signer"])
    check(opt(sg, "--port") == peer_port, "the .tstream's tracker port %s, swarm's %s" % (opt(sg, "--port"), peer_port))
    check(opt(cmdline(svcs["ingest"]), "--piece-size") == piece == opt(sg, "--piece-size"),
          "piece sizes: ingest %s, .tstream %s, expected %s" % (opt(cmdline(svcs["ingest"]), "--piece-size"), opt(sg, "--piece-size"), piece))
    check("/var/lib/tstream/published/%s.tstream" % name in sg, "the signer does not write %s.tstream" % name)
    return svcs

svcs = check_file(sys.argv[1], "6881", "16k", "live")
check_file(sys.argv[2], "7000", "64k", "other")

# The image must have the keys service's mount points (owned by the stages' user), or new
# volumes would come up root-owned and the keys service could not write them.
docker = open(sys.argv[3]).read()
for src, tgt, ro in mounts(svcs["keys"]):
    check(tgt in docker, "Dockerfile does not create %s (keys mounts %s there)" % (tgt, src))
check("apt-get install" not in docker and "setup.sh --build-deps" in docker and "setup.sh --runtime-deps" in docker,
      "the Dockerfile must install packages through deploy/setup.sh alone")

for f in fails:
    print("FAIL:", f, file=sys.stderr)
if fails:
    sys.exit(1)
print("ok: %d services; signer-key only in the signer; CURVE volumes one stage each; restart, healthcheck, "
      "--exit-unready everywhere; overrides agree" % len(svcs))
PY
echo PASS
