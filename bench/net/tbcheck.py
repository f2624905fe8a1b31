"""The testbed's own accuracy (Testbed.check) and its CLI runs (--selftest, --load).

A result is only as good as the network under it: ping RTT against the configured 2·(dA+dB), TCP
throughput (iperf3) against each cap, loss against the configured rate, ts-netlink's CPU under
that load, and the NAT behaviour (UPnP mapping reachable, unsolicited inbound dropped silently,
masquerade keeping or randomising the source port)."""
import json
import os
import re
import socket
import statistics
import sys
import time

from testbed import Testbed, _cpu_ticks

PY = "/usr/bin/python3"


def _pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else None


def _ping(tb, h, t, count, interval):
    r = tb.cmd(h, ["ping", "-n", "-c", str(count), "-i", str(interval), "-W", "2", t.public_ip])
    return [float(m) for m in re.findall(r"time=([0-9.]+) ms", r.stdout)]


def check_rtt(tb, count=20, interval=0.05):
    out, errs = [], []
    hs = tb.hosts
    for i, h in enumerate(hs):
        t = hs[(i + 1) % len(hs)]
        if t is h:
            continue
        conf = 2 * (h.delay_ms + t.delay_ms)
        rtts = _ping(tb, h, t, count, interval)
        e = [x - conf for x in rtts]
        errs += e
        out.append({"from": h.name, "to": t.name, "configured_ms": conf, "samples": len(rtts),
                    "median_ms": round(statistics.median(rtts), 3) if rtts else None,
                    "median_err_ms": round(statistics.median(e), 3) if e else None,
                    "p90_abs_err_ms": round(_pct([abs(x) for x in e], 0.9), 3) if e else None})
    return {"pairs": out, "median_err_ms": round(statistics.median(errs), 3) if errs else None,
            "p90_abs_err_ms": round(_pct([abs(x) for x in errs], 0.9), 3) if errs else None}


def _iperf(tb, client, server, secs, reverse=False, udp_bps=None, port=5201):
    srv = tb.popen(server, ["iperf3", "-s", "-1", "-p", str(port)], stdout=open(os.devnull, "w"),
                   stderr=open(os.devnull, "w"))
    end = time.time() + 5
    while time.time() < end and ":%d " % port not in tb.cmd(server, ["ss", "-ltn"]).stdout:
        time.sleep(0.05)
    argv = ["iperf3", "-c", server.public_ip, "-p", str(port), "-t", str(secs), "-J"]
    if udp_bps:
        argv += ["-u", "-b", str(udp_bps), "-l", "1200"]
    else:
        argv += ["-O", "1"]    # leave slow start out of the average
    if reverse:
        argv.append("-R")
    r = tb.cmd(client, argv, timeout=secs + 30)
    try:
        srv.wait(timeout=5)
    except Exception:
        srv.kill()
    try:
        j = json.loads(r.stdout)
    except ValueError:
        return None
    return j.get("end")


def _server_for(tb, h):
    """The public host (not H) whose caps least limit a transfer with H."""
    pubs = [s for s in tb.hosts if s.public and s is not h]
    return max(pubs, key=lambda s: min(s.up_bps, s.down_bps)) if pubs else None


def check_throughput(tb, hosts=None, secs=5):
    out = []
    pid = tb.netlink.pid
    t0, c0 = time.time(), _cpu_ticks(pid)
    for h in hosts or tb.hosts:
        s = _server_for(tb, h)
        if s is None:
            continue
        for direction, rev, cap in (("up", False, min(h.up_bps, s.down_bps)), ("down", True, min(s.up_bps, h.down_bps))):
            e = _iperf(tb, h, s, secs, reverse=rev)
            bps = e["sum_received"]["bits_per_second"] if e else None
            out.append({"host": h.name, "dir": direction, "peer": s.name, "cap_bps": cap,
                        "loss_pct_path": round(100 * (1 - (1 - h.loss_pct / 100) * (1 - s.loss_pct / 100)), 3),
                        "measured_bps": int(bps) if bps else None,
                        "ratio": round(bps / cap, 3) if bps else None})
    wall = time.time() - t0
    cpu = (_cpu_ticks(pid) - c0) / os.sysconf("SC_CLK_TCK")
    return {"runs": out, "netlink_cpu_pct": round(100 * cpu / wall, 1),
            "note": "TCP goodput (iperf3) over the IP rate cap: at most 1448/1500 = 0.965 with full packets"}


def check_loss(tb, secs=5, udp_bps=2_000_000):
    """UDP at a rate below every cap: iperf3's lost datagrams against 1-(1-lA)(1-lB) on the path,
    and ts-netlink's own loss counters against each link's configured rate."""
    runs = []
    for h in tb.hosts:
        if h.loss_pct <= 0:
            continue
        s = _server_for(tb, h)
        if s is None:
            continue
        e = _iperf(tb, h, s, secs, udp_bps=udp_bps)
        want = 100 * (1 - (1 - h.loss_pct / 100) * (1 - s.loss_pct / 100))
        lost = e["sum"]["lost_percent"] if e and "sum" in e else None
        runs.append({"host": h.name, "peer": s.name, "configured_pct": round(want, 3),
                     "measured_pct": round(lost, 3) if lost is not None else None,
                     "datagrams": e["sum"].get("packets") if e and "sum" in e else None})
    links = []
    st = tb.netlink_stats() or {"links": []}
    for l in st["links"]:
        h = tb.host(l["name"])
        n = l["ab"]["in_packets"] + l["ba"]["in_packets"]
        d = l["ab"]["loss_drops"] + l["ba"]["loss_drops"]
        links.append({"link": h.name, "configured_pct": h.loss_pct, "packets": n,
                      "dropped_pct": round(100.0 * d / n, 3) if n else None,
                      "queue_drops": l["ab"]["queue_drops"] + l["ba"]["queue_drops"]})
    return {"udp": runs, "links": links}


# A listener in one namespace, a dialler in another: what a peer behind each router sees.
_LISTEN = """
import socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", int(sys.argv[1]))); l.listen(1); l.settimeout(float(sys.argv[2]))
try:
    s, a = l.accept(); print(a[0], a[1])
except socket.timeout:
    print("timeout")
"""
_DIAL = """
import socket, sys
s = socket.socket(); s.settimeout(float(sys.argv[4]))
if int(sys.argv[3]): s.bind(("0.0.0.0", int(sys.argv[3])))
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("connected")
except socket.timeout:
    print("timeout")
except OSError as e:
    print("error", e.errno)
"""


def _listen_and_dial(tb, lh, port, dh, dst_ip, src_port=0, wait=3.0):
    import subprocess
    lp = tb.popen(lh, [PY, "-c", _LISTEN, str(port), str(wait + 1)], stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    d = tb.cmd(dh, [PY, "-c", _DIAL, dst_ip, str(port), str(src_port), str(wait)]).stdout.strip()
    out = lp.communicate(timeout=wait + 5)[0].strip()
    return d, out


def check_nat(tb):
    res = []
    pub = next((h for h in tb.hosts if h.public), None)
    for h in tb.hosts:
        if h.public or pub is None:
            continue
        r = {"host": h.name, "nat": h.nat, "upnp": h.upnp}
        # outbound: the public side sees the router's address; masq keeps the source port
        d, seen = _listen_and_dial(tb, pub, 23456, h, pub.public_ip, src_port=34567)
        r["outbound"] = seen
        r["keeps_port"] = seen.split()[-1] == "34567" if d == "connected" else None
        # unsolicited inbound: dropped silently (the dialler times out, no RST)
        d, seen = _listen_and_dial(tb, h, 23457, pub, h.public_ip, wait=2.0)
        r["unsolicited_inbound"] = d
        if h.upnp:
            m = tb.cmd(h, ["upnpc", "-e", "tbcheck", "-a", h.ip, "23458", "23458", "TCP"]).stdout
            r["upnpc_add"] = "is redirected to internal" in m
            d, seen = _listen_and_dial(tb, h, 23458, pub, h.public_ip)
            r["mapped_inbound"] = d
            tb.cmd(h, ["upnpc", "-d", "23458", "TCP"])
            n = tb.cmd(h, ["natpmpc", "-a", "23459", "23459", "tcp", "60"])
            r["natpmp_add"] = "Mapped public port 23459" in n.stdout if n.returncode != 127 else None
        res.append(r)
    return res


def check(tb, throughput_hosts=None, secs=5):
    t0 = time.time()
    out = {"rtt": check_rtt(tb), "nat": check_nat(tb), "throughput": check_throughput(tb, throughput_hosts, secs),
           "loss": check_loss(tb)}
    out["seconds"] = round(time.time() - t0, 1)
    return out


def selftest(keep=False):
    tb = Testbed(prefix="tsnbself%d-" % os.getpid(), seed=1, keep=keep)
    tb.add_host("p1", public=True, up_bps=20_000_000, down_bps=50_000_000, delay_ms=5, jitter_pct=10)
    tb.add_host("p2", public=True, up_bps=5_000_000, down_bps=50_000_000, delay_ms=10, jitter_pct=10)
    tb.add_host("n1", public=False, nat="masq", upnp=True, up_bps=1_000_000, down_bps=20_000_000,
                delay_ms=15, jitter_pct=10)
    tb.add_host("n2", public=False, nat="random", up_bps=5_000_000, down_bps=20_000_000, delay_ms=20,
                jitter_pct=10, loss_pct=1.0)
    tb.up()
    try:
        res = check(tb)
    finally:
        tb.down()
    return res


def load(flows=4, rate=25_000_000, secs=10, links=0):
    """ts-netlink's CPU with FLOWS parallel TCP flows, each capped at RATE: FLOWS*RATE end to end,
    twice that through the emulator (each packet crosses the sender's and the receiver's link)."""
    tb = Testbed(prefix="tsnbload%d-" % os.getpid(), seed=1)
    for i in range(2 * flows):
        tb.add_host("l%d" % i, public=True, up_bps=rate, down_bps=4 * rate, delay_ms=10, jitter_pct=10)
    # two idle hosts: their ping RTT shows how late the loaded emulator releases packets
    q0 = tb.add_host("q0", public=True, delay_ms=10)
    q1 = tb.add_host("q1", public=True, delay_ms=10)
    while len(tb.hosts) < links:    # idle links, as many as a scenario has
        tb.add_host("x%d" % len(tb.hosts), public=True, delay_ms=10)
    tb.up()
    import subprocess
    try:
        srv = []
        for i in range(flows):
            s = tb.hosts[flows + i]
            srv.append(tb.popen(s, ["iperf3", "-s", "-1", "-p", "5201"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL))
        time.sleep(0.5)
        pid = tb.netlink.pid
        cli = [tb.popen(tb.hosts[i], ["iperf3", "-c", tb.hosts[flows + i].public_ip, "-t", str(secs), "-O", "2", "-J"],
                        stdout=subprocess.PIPE, text=True) for i in range(flows)]
        time.sleep(2)
        t0, c0 = time.time(), _cpu_ticks(pid)
        stat0 = open("/proc/stat").readline().split()[1:]
        rtts = _ping(tb, q0, q1, int((secs - 4) / 0.05), 0.05)
        time.sleep(max(0.0, secs - 3 - (time.time() - t0)))
        cpu = (_cpu_ticks(pid) - c0) / os.sysconf("SC_CLK_TCK") / (time.time() - t0)
        stat1 = open("/proc/stat").readline().split()[1:]
        tot = sum(int(b) - int(a) for a, b in zip(stat0, stat1))
        idle = sum(int(stat1[k]) - int(stat0[k]) for k in (3, 4))
        bps = []
        for c in cli:
            j = json.loads(c.communicate(timeout=secs + 20)[0])
            bps.append(int(j["end"]["sum_received"]["bits_per_second"]))
        st = tb.netlink_stats()
        drops = sum(l[d]["queue_drops"] for l in st["links"] for d in ("ab", "ba"))
        return {"links": len(tb.hosts), "flows": flows, "cap_bps": rate, "aggregate_bps": sum(bps), "per_flow_bps": bps,
                "through_emulator_bps": 2 * sum(bps), "netlink_cpu_pct_of_one_core": round(100 * cpu, 1),
                "machine_busy_pct": round(100 * (tot - idle) / tot, 1), "queue_drops": drops,
                "idle_pair_rtt": {"configured_ms": 40.0, "samples": len(rtts),
                                  "median_ms": statistics.median(rtts) if rtts else None,
                                  "p90_ms": _pct(rtts, 0.9), "max_ms": max(rtts) if rtts else None}}
    finally:
        tb.down()


def main(argv):
    if argv[0] == "--selftest":
        print(json.dumps(selftest(keep="--keep" in argv), indent=1))
    elif argv[0] == "--load":    # --load [FLOWS [RATE [LINKS]]]
        flows = int(argv[1]) if len(argv) > 1 else 4
        rate = int(argv[2]) if len(argv) > 2 else 25_000_000
        links = int(argv[3]) if len(argv) > 3 else 0
        print(json.dumps(load(flows, rate, links=links), indent=1))
    return 0
