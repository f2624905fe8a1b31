#!/usr/bin/python3
"""Off-the-loopback scenarios of issue 15, measured like bench/live.py, never asserted.

    bench/net/scenarios.py W1|W2|W3 [--viewers N] [--seed S] [--mapping masq|random]
                           [--no-nat-traversal] [--duration S] [--out DIR] ...
    bench/net/scenarios.py --summarize DIR   (summary.md, lag-cdf.png, source-upload.png)

Each run builds an emulated network with bench/net/testbed.py (one namespace per peer, home
routers doing NAT, some with miniupnpd; per-link caps, delay, jitter and loss), starts the
broadcast with `tsctl start` in the broadcaster's namespace and each viewer with `tsctl watch`
in its own namespace (each with a TSTREAM_HOME of its own), and then measures exactly as
bench/live.py does (its Run class drives the run: start-up, settling, window, end of source,
byte-identical and decode checks). On top it records NAT traversal (reachability, port mappings,
hole punches), the emulator's own CPU and accuracy, and whether the machine kept up.

Root only (namespaces). Debian's /usr/bin/python3; matplotlib only for --summarize's plots.
"""
import argparse
import glob
import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import live  # noqa: E402  bench/live.py
from live import BCAST, log, pct, rnd, stage  # noqa: E402

CHURN_EVERY = 10.0
# Viewers and join spacing per scenario; the stream is bench/live.py's 2 Mbit/s CBR test stream.
NET_SCENARIOS = {
    "W1": dict(viewers=50, bitrate="2M", stagger=0.2),
    "W2": dict(viewers=30, bitrate="2M", stagger=0.2),
    "W3": dict(viewers=50, bitrate="2M", stagger=0.2),
}
live.SCENARIOS.update(NET_SCENARIOS)

# Targets of issue 15, printed next to each figure by --summarize (nothing is asserted).
TARGETS = {
    "W1": {"lag_p50": 0.5, "lag_p99": 1.0, "startup_p95": 1.5, "continuity_min": 99.9,
           "source_upload_x": 2.0, "corrupt_bytes": 0, "decode_error_lines": 0},
    "W2": {"punch_success_pct": 80.0, "source_upload_x": 3.0, "continuity_min": 99.9,
           "corrupt_bytes": 0, "decode_error_lines": 0},
    "W3": {"continuity_min": 99.5, "joiner_startup_p95": 1.5, "corrupt_bytes": 0, "decode_error_lines": 0},
}

LINK = dict(delay_lo=5.0, delay_hi=75.0, jitter_pct=10.0, loss_pct=0.5, down_bps=50_000_000)
UPLINKS = [(0.25, 1_000_000), (0.50, 5_000_000), (0.25, 20_000_000)]
BC_LINK = dict(up_bps=10_000_000, down_bps=50_000_000)
RUN_COMMS = {"tsctl", "ts-ingest", "ts-signer", "ts-swarm", "ts-player-bridg", "ffmpeg", "sh", "tee", "sleep",
             "ping", "ip", "env"}


def split(n, fracs):
    """Counts for fractions of n that add up to n (largest remainder; ties to the earlier class)."""
    raw = [f * n for f in fracs]
    cnt = [int(math.floor(x)) for x in raw]
    order = sorted(range(len(fracs)), key=lambda i: (-(raw[i] - cnt[i]), i))
    for i in order[:n - sum(cnt)]:
        cnt[i] += 1
    return cnt


def plan_hosts(sc, n, joiners, seed, mapping):
    """The viewers' links and routers, drawn from a seeded RNG: exact class proportions
    (largest remainder), shuffled; joiners (W3) drawn per host from the same distribution."""
    rng = random.Random(seed)
    ups = []
    for (f, bps), c in zip(UPLINKS, split(n, [f for f, _ in UPLINKS])):
        ups += [bps] * c
    rng.shuffle(ups)
    if sc == "W2":
        kinds = ["nat"] * n
    else:
        pub, up_, nat = split(n, [0.30, 0.35, 0.35])
        kinds = ["public"] * pub + ["upnp"] * up_ + ["nat"] * nat
        rng.shuffle(kinds)

    def host(name, up, kind):
        return {"name": name, "up_bps": up, "down_bps": LINK["down_bps"], "kind": kind,
                "public": kind == "public", "nat": None if kind == "public" else mapping, "upnp": kind == "upnp",
                "delay_ms": round(rng.uniform(LINK["delay_lo"], LINK["delay_hi"]), 2),
                "jitter_pct": LINK["jitter_pct"], "loss_pct": LINK["loss_pct"]}
    hosts = [host("v%02d" % i, ups[i], kinds[i]) for i in range(n)]
    for j in range(joiners):
        r = rng.random()
        up = 1_000_000 if r < 0.25 else (5_000_000 if r < 0.75 else 20_000_000)
        r = rng.random()
        kind = "public" if r < 0.30 else ("upnp" if r < 0.65 else "nat")
        hosts.append(host("j%02d" % j, up, kind))
    return hosts


def ns_inode(ns):
    try:
        return os.stat("/run/netns/" + ns).st_ino
    except OSError:
        return None


def procs_in(inodes):
    """{pid: comm} of every process whose network namespace is one of inodes."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if os.stat("/proc/%s/ns/net" % d).st_ino not in inodes:
                continue
            with open("/proc/%s/comm" % d) as f:
                out[int(d)] = f.read().strip()
        except OSError:
            pass
    return out


def corrupt_bytes(src, out):
    """Bytes of out that are not the source in order. Skipped pieces are not corruption: after a
    mismatch the output is re-synchronised by finding its next 512 bytes further on in the source."""
    if len(out) < 4096:
        return len(out)
    off = src.find(out[:4096])
    if off < 0:
        return len(out)
    i, bad, B = 0, 0, 65536
    while i < len(out):
        blk = out[i:i + B]
        if src[off:off + len(blk)] == blk:
            i += len(blk)
            off += len(blk)
            continue
        s = src[off:off + len(blk)]
        j = next((k for k in range(min(len(s), len(blk))) if s[k] != blk[k]), min(len(s), len(blk)))
        i += j
        off += j
        nxt = src.find(out[i:i + 512], off)
        if nxt >= 0:
            off = nxt  # a skip: the output jumps ahead in the source
            continue
        bad += min(188, len(out) - i)
        i += 188
        hit = src.find(out[i:i + 512], off) if i < len(out) else -1
        if hit >= 0:
            off = hit
        else:
            off += 188
    return bad


class Homes:
    """tsctl per host: each instance has its own TSTREAM_HOME and runs in its host's namespace.
    Status and stop go over the instance's unix sockets, so they run from here."""

    def __init__(self, run):
        self.run_ = run
        self.homes = {}  # instance name -> (home, ns)

    def add(self, name, ns):
        home = os.path.join(self.run_.work, "h", name)
        os.makedirs(home, exist_ok=True)
        self.homes[name] = (home, ns)
        return home

    def env(self, name):
        return dict(os.environ, TSTREAM_HOME=self.homes[name][0],
                    XDG_STATE_HOME=os.path.join(self.run_.work, "state"))

    def argv(self, name, args):
        home, ns = self.homes[name]
        return ["ip", "netns", "exec", ns, "env", "TSTREAM_HOME=" + home,
                "XDG_STATE_HOME=" + os.path.join(self.run_.work, "state"), live.TSCTL] + list(args)

    def run_in(self, name, args, timeout=120):
        return subprocess.run(self.argv(name, args), cwd=self.run_.work, capture_output=True, text=True,
                              timeout=timeout)

    def tsctl(self, name, args, timeout=60):
        return subprocess.run([live.TSCTL] + list(args), cwd=self.run_.work, env=self.env(name),
                              capture_output=True, text=True, timeout=timeout)

    def status1(self, name):
        try:
            r = self.tsctl(name, ["status", "--json"])
            return {i["name"]: i for i in json.loads(r.stdout).get("instances", [])}
        except (subprocess.SubprocessError, ValueError, KeyError):
            return {}

    def status(self, name=None):
        if name is not None:
            return self.status1(name)
        out = {}
        with ThreadPoolExecutor(max_workers=8) as ex:
            for d in ex.map(self.status1, list(self.homes)):
                out.update(d)
        return out


class Subset:
    """The testbed seen through some of its hosts, for tbcheck's functions (they walk tb.hosts)."""

    def __init__(self, tb, hosts):
        self._tb, self.hosts = tb, hosts

    def __getattr__(self, k):
        return getattr(self._tb, k)


class NetRun(live.Run):
    def __init__(self, a, plan):
        super().__init__(a)
        self.plan = plan
        self.ts = Homes(self)
        self.sc = a.scenario
        self.tb = None
        self.hosts = {}
        self.churn_log = []
        self.leaver_status = {}
        self.probes = []
        self.rng = random.Random(a.seed + 1)
        self.features["watch_no_nat_traversal"] = (live.help_has([live.TSCTL, "watch"], "--no-port-mapping")
                                                   and live.help_has([live.TSCTL, "watch"], "--no-holepunch"))
        if a.no_nat_traversal and not self.features["watch_no_nat_traversal"]:
            self.notes.append("tsctl watch has no --no-port-mapping/--no-holepunch: "
                              "--no-nat-traversal not applied (NAT traversal stays as built)")

    # -- the network
    def build_net(self):
        from testbed import Testbed
        a = self.a
        self.tb = Testbed(prefix="tsnb%04x-" % (os.getpid() & 0xffff), seed=a.seed, cc=a.cc)
        self.bch = self.tb.add_host("bc", public=True, nat=None, upnp=False, up_bps=BC_LINK["up_bps"],
                                    down_bps=BC_LINK["down_bps"], delay_ms=a.bc_delay, jitter_pct=0.0,
                                    loss_pct=0.0)
        for p in self.plan:
            self.hosts[p["name"]] = self.tb.add_host(
                p["name"], public=p["public"], nat=p["nat"], upnp=p["upnp"], up_bps=p["up_bps"],
                down_bps=p["down_bps"], delay_ms=p["delay_ms"], jitter_pct=p["jitter_pct"], loss_pct=p["loss_pct"])
        t = time.time()
        self.tb.up()
        self.net_up_s = round(time.time() - t, 1)
        log("testbed up in %.1f s (%d namespaces' hosts)" % (self.net_up_s, len(self.plan) + 1))
        self.ns_inodes = {i for i in (ns_inode(ns) for ns in self.namespaces()) if i}
        self.check_before = None
        if a.check != "none":
            t = time.time()
            try:
                self.check_before = self.run_check()
            except Exception as e:  # the check is a report, never a reason to abort the run
                self.check_before = {"error": repr(e)}
            log("emulator check (before the broadcast, %.0f s): %s" % (time.time() - t, short(self.check_before)))

    def namespaces(self):
        nss = set()
        for attr in ("namespaces", "all_namespaces"):
            f = getattr(self.tb, attr, None)
            if callable(f):
                try:
                    nss |= set(f())
                except Exception:
                    pass
            elif isinstance(f, (list, set, tuple)):
                nss |= set(f)
        if os.path.isdir("/run/netns"):  # the routers' and the core's namespaces too
            nss |= {n for n in os.listdir("/run/netns") if n.startswith(self.tb.prefix)}
        nss |= {h.ns for h in self.hosts.values()} | {self.bch.ns}
        return nss

    def emulator_snapshot(self):
        """{pid: (comm, ticks)} of everything in this run's namespaces that is not tstream or the
        source: the delay/loss elements, routers' daemons (miniupnpd)."""
        out = {}
        procs = procs_in(self.ns_inodes)
        for d in os.listdir("/proc"):  # elements that run in the host's namespace but name the run
            if d.isdigit() and int(d) not in procs:
                try:
                    with open("/proc/%s/cmdline" % d, "rb") as f:
                        if self.tb.prefix.encode() in f.read():
                            procs[int(d)] = open("/proc/%s/comm" % d).read().strip()
                except OSError:
                    pass
        nl = getattr(getattr(self.tb, "netlink", None), "pid", None)
        if nl and nl not in procs:
            procs[nl] = "ts-netlink"
        for pid, comm in procs.items():
            if comm in RUN_COMMS:
                continue
            out[pid] = (comm, live.proc_ticks(pid))
        return out

    def tb_stats(self):
        f = getattr(self.tb, "netlink_stats", None) or getattr(self.tb, "stats", None)
        if not callable(f):
            return None
        try:
            return f()
        except Exception as e:
            return {"error": repr(e)}

    def run_check(self):
        """The testbed's accuracy check before the broadcast. 'sample': RTT, NAT behaviour,
        throughput against the caps and loss on the broadcaster and one viewer of each uplink class
        and kind of home (the full check takes ~15 s per host); 'full': tb.check() on every host."""
        if self.a.check == "full":
            return self.tb.check()
        import tbcheck
        names, seen = [], set()
        for p in self.plan:
            key = (p["up_bps"], p["kind"])
            if p["name"].startswith("v") and key not in seen and len(names) < 4:
                seen.add(key)
                names.append(p["name"])
        sub = Subset(self.tb, [self.bch] + [self.hosts[n] for n in names])
        t0 = time.time()
        out = {"hosts": [h.name for h in sub.hosts], "rtt": tbcheck.check_rtt(sub), "nat": tbcheck.check_nat(sub),
               "throughput": tbcheck.check_throughput(sub, None, 3), "loss": tbcheck.check_loss(sub, secs=3)}
        out["seconds"] = round(time.time() - t0, 1)
        return out

    # -- peers
    def start_broadcast(self, src_secs):
        self.ts.add(BCAST, self.bch.ns)
        ff = live.ffmpeg_cmd("A", self.bitrate, src_secs)
        args = ["start", BCAST, "--source", live.source_spec(self.work, ff), "--bitrate", live.fmt_rate(self.bitrate),
                "--announce-host", self.bch.public_ip]
        if self.sup:
            args += ["--max-upload", self.sup]
        r = self.ts.run_in(BCAST, args)
        if r.returncode != 0:
            raise RuntimeError("tsctl start failed (%d): %s%s" % (r.returncode, r.stdout, r.stderr))
        self.tstream = os.path.join(self.work, BCAST + ".tstream")
        if self.renice:
            self.prioritise()

    def watch_args(self):
        w = []
        if self.vup:
            w += ["--max-upload", self.vup]
        if self.a.no_nat_traversal and self.features["watch_no_nat_traversal"]:
            w += ["--no-port-mapping", "--no-holepunch"]
        return w

    def start_viewer(self, hname, role):
        h = self.hosts[hname]
        name = hname  # instance name = host name: short, and says where it ran
        self.ts.add(name, h.ns)
        out = os.path.join(self.work, "out", name + ".ts")
        stats = os.path.join(self.work, "stats", name + ".txt")
        argv = self.ts.argv(name, ["watch", self.tstream, "--name", name, "--output", out, "--stats", stats]
                            + self.watch_args())
        logf = open(os.path.join(self.work, "watch-%s.out" % name), "w")
        t = time.time()
        p = subprocess.Popen(argv, cwd=self.work, stdout=logf, stderr=subprocess.STDOUT)
        v = {"name": name, "t_inv": t, "proc": p, "out": out, "stats": stats, "role": role}
        self.viewers.append(v)
        return v

    def start_viewers(self):
        for p in self.plan:
            if p["name"].startswith("v"):
                self.start_viewer(p["name"], "original")
                time.sleep(self.stagger)

    # -- the window: churn (W3) and a ping probe under load
    def window(self, secs):
        probe = threading.Thread(target=self.ping_probe, args=(secs,), daemon=True)
        probe.start()
        end = self.t0 + secs
        if self.sc == "W3":
            joiners = [p["name"] for p in self.plan if p["name"].startswith("j")]
            k = 0
            while k < len(joiners) and self.t0 + (k + 1) * CHURN_EVERY < end - 1:
                time.sleep(max(0.0, self.t0 + (k + 1) * CHURN_EVERY - time.time()))
                pool = [v for v in self.viewers if v["role"] == "original" and "left_at" not in v]
                leaver = self.rng.choice(pool) if pool else None
                if leaver:
                    threading.Thread(target=self.leave, args=(leaver,), daemon=True).start()
                v = self.start_viewer(joiners[k], "joiner")
                self.churn_log.append({"t": round(time.time() - self.t0, 2), "left": leaver and leaver["name"],
                                       "joined": v["name"]})
                log("churn: %s leaves, %s joins" % (leaver and leaver["name"], v["name"]))
                k += 1
        time.sleep(max(0.0, end - time.time()))
        for v in self.viewers:
            if v["role"] == "joiner" and "watch_rc" not in v:
                try:
                    v["watch_rc"] = v["proc"].wait(timeout=30)
                except subprocess.TimeoutExpired:
                    v["watch_rc"] = None
        probe.join(timeout=15)

    def leave(self, v):
        v["left_at"] = time.time()
        self.leaver_status.update(self.ts.status1(v["name"]))
        try:
            self.ts.tsctl(v["name"], ["stop", v["name"]], timeout=60)
        except subprocess.SubprocessError:
            pass

    def ping_probe(self, secs):
        """In the middle of the window, under the scenario's load, from up to 3 viewers: ping the
        core end of the viewer's own access link (only that link's emulated delay, configured
        2 × delay: the emulator's accuracy) and the broadcaster (end to end, queueing at loaded caps
        included)."""
        time.sleep(max(0.0, secs / 2 - 3))
        names = [p["name"] for p in self.plan if p["name"].startswith("v")]
        pick = sorted(random.Random(self.a.seed + 2).sample(names, min(3, len(names))))

        def ping(ns, ip):
            try:
                r = subprocess.run(["ip", "netns", "exec", ns, "ping", "-n", "-q", "-c", "10", "-i", "0.2", ip],
                                   capture_output=True, text=True, timeout=20)
                line = [ln for ln in r.stdout.splitlines() if "min/avg" in ln]
                return [float(x) for x in line[0].split("=")[1].split()[0].split("/")][:3] if line else [None] * 3
            except (subprocess.SubprocessError, ValueError, IndexError):
                return [None] * 3

        def one(n):
            h, p = self.hosts[n], next(x for x in self.plan if x["name"] == n)
            link = ping(h.ns, h.core_ip) if getattr(h, "core_ip", None) else [None] * 3
            e2e = ping(h.ns, self.bch.public_ip)
            return {"viewer": n, "configured_rtt_ms": round(2 * p["delay_ms"], 2),
                    "rtt_min_ms": link[0], "rtt_avg_ms": link[1], "rtt_max_ms": link[2],
                    "to_broadcaster_configured_ms": round(2 * (p["delay_ms"] + self.a.bc_delay), 2),
                    "to_broadcaster_avg_ms": e2e[1], "to_broadcaster_max_ms": e2e[2]}
        with ThreadPoolExecutor(max_workers=3) as ex:
            self.probes = list(ex.map(one, pick))

    def measure(self):
        self.emu0 = None
        super().measure()

    def cpu_snapshot(self, insts):
        snap = super().cpu_snapshot(insts)
        # the emulator's processes, at the same moments as the run's own (t0 and t1)
        if getattr(self, "emu0", 1) is None:
            self.emu0, self.emu_t0 = self.emulator_snapshot(), time.time()
            self.tbs0 = self.tb_stats()
        else:
            self.emu1, self.emu_t1 = self.emulator_snapshot(), time.time()
            self.tbs1 = self.tb_stats()
        return snap

    def stop_all(self):
        def stop1(n):
            try:
                self.ts.tsctl(n, ["stop", "--all"], timeout=120)
            except subprocess.SubprocessError:
                pass
        with ThreadPoolExecutor(max_workers=8) as ex:
            list(ex.map(stop1, [n for n in self.ts.homes if n != BCAST]))
        if BCAST in self.ts.homes:
            stop1(BCAST)

    # -- figures
    def analyse(self):
        res = super().analyse()
        a = self.a
        T = self.t1 - self.t0
        plan = {p["name"]: p for p in self.plan}
        src = open(os.path.join(self.work, "src.ts"), "rb").read()
        byname = {v["name"]: v for v in self.viewers}
        punch_a = punch_ok = punch_rel = pm_ok = pm_fail = 0
        reach = {"unknown": 0, "no": 0, "direct": 0, "mapped": 0, "n/a": 0}
        rnames = {0: "unknown", 1: "no", 2: "direct", 3: "mapped"}
        for pv in res["per_viewer"]:
            v = byname[pv["name"]]
            p = plan[pv["name"]]
            pv.update({"role": v["role"], "kind": p["kind"], "delay_ms": p["delay_ms"], "up_bps": p["up_bps"],
                       "left_at_s": rnd(v["left_at"] - self.t0, 2) if "left_at" in v else None,
                       "t_inv_s": rnd(v["t_inv"] - self.t0, 2)})
            try:
                pv["corrupt_bytes"] = corrupt_bytes(src, open(v["out"], "rb").read())
            except OSError:
                pv["corrupt_bytes"] = None
            pv["decode_error_lines"] = 0 if pv.get("decode_clean") else len((pv.get("decode_error") or "x").splitlines())
            if "left_at" in v and not pv.get("decode_clean"):
                # tsctl stop cuts a leaver's output mid-frame: decode it without its last 256 KiB (~1 s)
                pv["decode_error_at_leave"] = pv.get("decode_error")
                clean, derr = decode_head(v["out"], 262144)
                pv["decode_clean"], pv["decode_error"] = clean, derr
                pv["decode_error_lines"] = 0 if clean else len((derr or "x").splitlines())
            inst = self.st_end.get(pv["name"]) or self.leaver_status.get(pv["name"]) or {}
            sw = stage(inst, "swarm")
            if pv.get("skipped") is None:  # a leaver: its counters from just before it left
                pv["skipped"] = sw.get("skipped")
                pv["gaps"] = stage(inst, "player-bridge").get("gaps")
            for k in ("reachable", "incoming", "portmap_ok", "portmap_fail", "punch_attempts", "punch_ok",
                      "punch_relayed", "pushed_up", "pushed_in", "bytes_down", "payload_down", "pieces_in",
                      "pieces_up", "push_dup", "req_timeouts", "rejects_in", "rejects_up", "wrong_pieces",
                      "peers_dropped", "peers_banned"):
                pv[k] = sw.get(k)
            punch_a += sw.get("punch_attempts") or 0
            punch_ok += sw.get("punch_ok") or 0
            punch_rel += sw.get("punch_relayed") or 0
            pm_ok += 1 if (sw.get("portmap_ok") or 0) > 0 else 0
            pm_fail += sw.get("portmap_fail") or 0
            reach[rnames.get(sw.get("reachable"), "n/a")] += 1
            pv["reachable_name"] = rnames.get(sw.get("reachable"), "n/a")

        def group(role):
            return [pv for pv in res["per_viewer"] if pv["role"] == role and pv["left_at_s"] is None]
        stay = group("original")
        conts = sorted(pv["continuity_pct"] for pv in stay if pv.get("continuity_pct") is not None)
        js = sorted(pv["startup_s"] if pv.get("startup_s") is not None else math.inf
                    for pv in res["per_viewer"] if pv["role"] == "joiner")
        os_ = sorted(pv["startup_s"] if pv.get("startup_s") is not None else math.inf
                     for pv in res["per_viewer"] if pv["role"] == "original")
        res["startup_s"].update({"p50": rnd(pct(os_, 50)), "p95": rnd(pct(os_, 95)), "of": "original viewers"})
        res["joiner_startup_s"] = {"p50": rnd(pct(js, 50)), "p95": rnd(pct(js, 95)), "n": len(js),
                                   "not_started": sum(1 for x in js if x == math.inf)}
        res["continuity_pct"] = {"min": rnd(conts[0], 3) if conts else None,
                                 "mean": rnd(sum(conts) / len(conts), 3) if conts else None,
                                 "viewers_below_99_9": sum(1 for c in conts if c < 99.9),
                                 "of": "viewers present for the whole window (%d)" % len(conts)}
        res["skipped_total"] = sum(pv.get("skipped") or 0 for pv in res["per_viewer"])
        res["gaps_total"] = sum(pv.get("gaps") or 0 for pv in res["per_viewer"])
        res["corrupt_bytes"] = sum(pv["corrupt_bytes"] or 0 for pv in res["per_viewer"])
        res["missing_outputs"] = sum(1 for pv in res["per_viewer"] if pv["corrupt_bytes"] is None)
        res["decode_error_lines"] = sum(pv["decode_error_lines"] for pv in res["per_viewer"])
        res["decode_failures"] = sum(1 for pv in res["per_viewer"] if pv.get("decode_clean") is False)
        res["punch"] = {"attempts": punch_a, "ok": punch_ok, "relayed": punch_rel,
                        "success_pct": rnd(100.0 * punch_ok / punch_a, 1) if punch_a else None}
        res["reachability"] = reach
        # an honest swarm bans nobody: every ban here is a false accusation (or a bug)
        res["viewer_bans"] = sum(pv.get("peers_banned") or 0 for pv in res["per_viewer"])
        res["portmap"] = {"viewers_mapped": pm_ok, "failures": pm_fail,
                          "upnp_homes": sum(1 for p in self.plan if p["upnp"] and p["name"] in byname)}
        res["churn"] = self.churn_log

        # the emulator: CPU of its processes over the window, its own counters, accuracy checks
        emu = {}
        e0, e1 = getattr(self, "emu0", None) or {}, getattr(self, "emu1", None) or {}
        for pid, (comm, t1) in e1.items():
            if pid in e0 and t1 is not None and e0[pid][1] is not None:
                emu[comm] = emu.get(comm, 0.0) + 100.0 * (t1 - e0[pid][1]) / live.CLK / T
        emu_total = sum(emu.values())
        res["emulator"] = {"cpu_pct": {k: round(x, 1) for k, x in sorted(emu.items())}, "cpu_total_pct": round(emu_total, 1),
                           "processes": len(e1),
                           "links_window": link_window(getattr(self, "tbs0", None), getattr(self, "tbs1", None), T),
                           "check_before": self.check_before,
                           "ping_under_load": self.probes, "testbed_up_s": self.net_up_s}
        res["run_processes_cpu_pct"] = round(res["run_processes_cpu_pct"] + emu_total, 1)
        res["other_cpu_pct"] = round(res["other_cpu_pct"] - emu_total, 1)
        res["net"] = {"seed": a.seed, "mapping": a.mapping, "cc": self.tb.cc if self.tb else a.cc, "nat_traversal": not a.no_nat_traversal,
                      "nat_traversal_flags_applied": bool(a.no_nat_traversal and self.features["watch_no_nat_traversal"]),
                      "broadcaster": dict(BC_LINK, delay_ms=a.bc_delay, public_ip=self.bch.public_ip),
                      "link": LINK, "uplinks": UPLINKS, "hosts": self.plan}
        res["variant"] = variant(a)
        up = res.get("source_upload_bps")
        res["broadcaster_uplink_pct"] = rnd(100.0 * up / BC_LINK["up_bps"], 1) if up is not None else None
        res["capacity"] = capacity_verdict(res)
        res["notes"] += res["capacity"]["notes"]
        return res


def link_window(s0, s1, T):
    """ts-netlink's per-link counters over the window: each host's upload (ab) and download (ba)
    rate against its cap, queue drops (the cap's drop-tail queue full) and random-loss drops
    against the configured rate."""
    if not s0 or not s1 or "links" not in s0 or "links" not in s1:
        return None
    before = {l["name"]: l for l in s0["links"]}
    links, tot = [], {"packets": 0, "loss_drops": 0, "queue_drops": 0, "write_errors": 0}
    for l in s1["links"]:
        b = before.get(l["name"])
        if not b:
            continue
        row = {"name": l["name"]}
        for k, dn in (("ab", "up"), ("ba", "down")):
            d = {f: l[k][f] - b[k][f] for f in ("in_packets", "packets", "bytes", "queue_drops", "loss_drops", "write_errors")}
            row[dn + "_bps"] = round(d["bytes"] * 8.0 / T)
            row[dn + "_cap_bps"] = l[k].get("rate_bps")
            row[dn + "_queue_drops"] = d["queue_drops"]
            row[dn + "_loss_pct"] = rnd(100.0 * d["loss_drops"] / d["in_packets"], 3) if d["in_packets"] else None
            tot["packets"] += d["in_packets"]
            tot["loss_drops"] += d["loss_drops"]
            if l["name"] != BCAST:  # the lossy links: the viewers'
                tot["viewer_packets"] = tot.get("viewer_packets", 0) + d["in_packets"]
                tot["viewer_loss_drops"] = tot.get("viewer_loss_drops", 0) + d["loss_drops"]
            tot["queue_drops"] += d["queue_drops"]
            tot["write_errors"] += d["write_errors"]
        links.append(row)
    tot["loss_pct"] = rnd(100.0 * tot["loss_drops"] / tot["packets"], 3) if tot["packets"] else None
    vp = tot.get("viewer_packets")
    tot["viewer_loss_pct"] = rnd(100.0 * tot["viewer_loss_drops"] / vp, 3) if vp else None
    tot["packets_per_s"] = round(tot["packets"] / T)
    return {"total": tot, "links": links}


def decode_head(path, drop):
    """live.decode_check on the output without its last `drop` bytes."""
    import tempfile
    try:
        data = open(path, "rb").read()
    except OSError:
        return False, "no output"
    with tempfile.NamedTemporaryFile(suffix=".ts", dir=os.path.dirname(path)) as f:
        f.write(data[:max(0, len(data) - drop)])
        f.flush()
        return live.decode_check(f.name)


def short(x, n=300):
    s = json.dumps(x, default=str) if not isinstance(x, str) else x
    return s if len(s) <= n else s[:n] + "…"


def variant(a):
    v = a.scenario
    if a.mapping == "random":
        v += "-random"
    if a.no_nat_traversal:
        v += "-nonat"
    return v


def walk_numbers(x, keys):
    """Values under any of keys anywhere in a nested dict/list (the testbed's check and stats)."""
    out = []
    if isinstance(x, dict):
        for k, v in x.items():
            if k in keys and isinstance(v, (int, float)):
                out.append(v)
            else:
                out += walk_numbers(v, keys)
    elif isinstance(x, list):
        for v in x:
            out += walk_numbers(v, keys)
    return out


def capacity_verdict(res):
    """Whether this machine kept up: CPUs saturated, the emulator near a core, the source below
    its rate, RTT under load off the configuration, or the testbed's own check failing."""
    bad, notes = [], []
    cap = res["machine_cpu_capacity_pct"]
    busy = res["machine_cpu_busy_pct"]
    if busy >= 0.9 * cap:
        bad.append("machine saturated: CPUs %.0f %% busy of %d %% during the window; figures include "
                   "waiting for CPU, not only the network" % (busy, cap))
    emu = res["emulator"]
    for comm, c in emu["cpu_pct"].items():
        if c >= 80.0:
            bad.append("emulator near a core: %s used %.0f %% of a core" % (comm, c))
    src = res.get("source_measured_bps")
    if src is not None and src < 0.9 * res["bitrate_bps"]:
        bad.append("source below its rate: %.0f kbit/s of %.0f" % (src / 1e3, res["bitrate_bps"] / 1e3))
    links = {l["name"]: l for l in (emu.get("links_window") or {}).get("links", [])}
    for p in emu["ping_under_load"]:
        if p.get("rtt_avg_ms") is not None and abs(p["rtt_avg_ms"] - p["configured_rtt_ms"]) > 0.25 * p["configured_rtt_ms"] + 5:
            l = links.get(p["viewer"], {})
            busy = [d for d in ("up", "down") if (l.get(d + "_cap_bps") and l.get(d + "_bps", 0) >= 0.8 * l[d + "_cap_bps"])
                    or l.get(d + "_queue_drops")]
            if busy:  # a full link queues: real queueing delay at the cap, not the emulator falling behind
                notes.append("%s's access link RTT under load %.1f ms against %.1f configured: its %s was at "
                             "≥ 80 %% of its cap or its queue overflowed (queueing)" % (p["viewer"], p["rtt_avg_ms"], p["configured_rtt_ms"],
                                                               "/".join(busy)))
                continue
            bad.append("RTT of the access link under load off the configuration: %s %.1f ms against %.1f "
                       "configured" % (p["viewer"], p["rtt_avg_ms"], p["configured_rtt_ms"]))
    lw = (emu.get("links_window") or {}).get("total") or {}
    if lw.get("write_errors"):
        bad.append("the emulator failed %d packet writes" % lw["write_errors"])
    chk = emu.get("check_before")
    if isinstance(chk, dict) and (chk.get("ok") is False or chk.get("error")):
        bad.append("emulator check failed before the run: %s" % short(chk, 200))
    if res.get("broadcaster_uplink_pct") is not None and res["broadcaster_uplink_pct"] >= 90:
        notes.append("the broadcaster's upload was at %.0f %% of its 10 Mbit/s uplink: the link caps it"
                     % res["broadcaster_uplink_pct"])
    if res.get("viewer_bans"):
        notes.append("viewers banned %d peers (an honest swarm bans none)" % res["viewer_bans"])
    if res.get("other_cpu_pct", 0) > 25:
        notes.append("other work on the machine used %.0f %% of a core during the window" % res["other_cpu_pct"])
    return {"kept_up": not bad, "notes": ["CANNOT KEEP UP: " + b for b in bad] + notes}


# ---------------------------------------------------------------- one scenario


def run_scenario(a):
    d = NET_SCENARIOS[a.scenario]
    n = a.viewers or d["viewers"]
    joiners = int(max(0, (a.duration - 1) // CHURN_EVERY)) if a.scenario == "W3" else 0
    plan = plan_hosts(a.scenario, n, joiners, a.seed, a.mapping)
    a.viewers = n
    earlier = []
    for attempt in range(a.retries + 1):
        r = NetRun(a, plan)
        res, ok = None, False
        try:
            r.build_net()
            r.measure()
            r.stop_all()
            res = r.analyse()
            ok = True
        finally:
            if not ok:
                try:
                    r.stop_all()
                except Exception:
                    pass
                log("run failed; work dir kept: %s" % r.work)
            if r.tb is not None:
                r.tb.down()
        L, S, J = res["lag_s"], res["startup_s"], res["joiner_startup_s"]
        log("%s N=%d: lag p50 %s p90 %s p99 %s max %s s | start-up p50 %s p95 %s s%s | continuity min %s mean %s %% | "
            "skips %s | source %s x | corrupt bytes %s, decode error lines %s | punch %s/%s | reach %s | mapped %s | "
            "machine %s %% of %d %% | emulator %s %%"
            % (res["variant"], n, L["p50"], L.get("p90"), L["p99"], L["max"], S["p50"], S["p95"],
               (" (joiners p50 %s p95 %s)" % (J["p50"], J["p95"])) if J["n"] else "",
               res["continuity_pct"]["min"], res["continuity_pct"]["mean"], res["skipped_total"],
               res["source_upload_x"], res["corrupt_bytes"], res["decode_error_lines"], res["punch"]["ok"],
               res["punch"]["attempts"], res["reachability"], res["portmap"]["viewers_mapped"],
               res["machine_cpu_busy_pct"], res["machine_cpu_capacity_pct"], res["emulator"]["cpu_total_pct"]))
        for x in res["notes"]:
            log("note: " + x)
        bad = res["corrupt_bytes"] + res["decode_error_lines"] + (res["identical_failures"] or 0)
        if a.keep or bad:
            log("work dir kept: %s" % r.work)
        else:
            import shutil
            shutil.rmtree(r.work, ignore_errors=True)
        if res["other_cpu_pct"] > a.max_other and attempt < a.retries:
            log("other work used %.0f %% of a core during the window: measuring again" % res["other_cpu_pct"])
            earlier.append({k: res[k] for k in ("started_at", "other_cpu_pct", "machine_cpu_busy_pct", "lag_s",
                                                "startup_s", "continuity_pct", "source_upload_x")})
            time.sleep(5)
            continue
        break
    res["attempt"] = attempt + 1
    res["earlier_attempts"] = earlier
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "%s-%d.json" % (res["variant"], n))
    with open(path, "w") as f:
        json.dump(res, f, indent=1, default=str)
    log("wrote %s" % path)
    return 0


# ---------------------------------------------------------------- summary and plots


def load(d):
    res = []
    for p in sorted(glob.glob(os.path.join(d, "*.json"))):
        try:
            r = json.load(open(p))
            if r.get("scenario") in NET_SCENARIOS and "variant" in r:
                res.append(r)
        except (OSError, ValueError):
            pass
    res.sort(key=lambda r: (r["scenario"], r["variant"], r["viewers"]))
    return res


def mark(v, lim, ge=False, fmt="%.3g", unit=""):
    if v is None:
        s = "n/a"
    else:
        s = (fmt % v) + unit
    if lim is None:
        return s
    met = v is not None and (v >= lim if ge else v <= lim)
    return s + (" met" if met else " **missed**")


def summarize(d):
    res = load(d)
    L = ["# Off-the-loopback scenarios (issue 15)", "",
         "Written by `bench/net/run.sh` (`bench/net/scenarios.py --summarize`); one row per run. "
         "Each figure carries the issue's target: *met* or **missed** (nothing is asserted). "
         "`-nonat`: viewers with `--no-port-mapping --no-holepunch`; `-random`: routers with random port mapping.", "",
         "| run | N | lag p50 | p90 | p99 | max | start-up p50 | p95 | joiners p95 | continuity min (mean) | skips | "
         "source upload × | corrupt bytes | decode error lines | punch ok/attempts | reachable unk/no/direct/mapped | "
         "mapped | machine CPU % | emulator CPU % | kept up |",
         "|" + "---|" * 20]
    for r in res:  # the verdict again, from the stored figures: the criteria may have been refined since
        old = set(r.get("capacity", {}).get("notes", []))
        r["capacity"] = capacity_verdict(r)
        r["notes"] = [x for x in r.get("notes", []) if x not in old] + r["capacity"]["notes"]
    for r in res:
        t = TARGETS.get(r["scenario"], {})
        Lg, S, J, C = r["lag_s"], r["startup_s"], r["joiner_startup_s"], r["continuity_pct"]
        pu, re_ = r["punch"], r["reachability"]
        ps = "%d/%d" % (pu["ok"], pu["attempts"])
        if pu["success_pct"] is not None:
            ps += " (%s)" % mark(pu["success_pct"], t.get("punch_success_pct") if r["variant"] == "W2" else None,
                                 ge=True, fmt="%.0f", unit=" %")
        elif "punch_success_pct" in t and r["variant"] == "W2":
            ps += " **missed** (no attempts)"
        cont = mark(C["min"], t.get("continuity_min"), ge=True, fmt="%.2f", unit=" %")
        if C["mean"] is not None:
            cont += " (%.2f)" % C["mean"]
        L.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s | %s | %s | %s | %d/%d/%d/%d | %d | %.0f / %d | %.1f | %s |" % (
            r["variant"], r["viewers"], mark(Lg["p50"], t.get("lag_p50"), fmt="%.3f", unit=" s"),
            mark(Lg.get("p90"), None, fmt="%.3f", unit=" s"), mark(Lg["p99"], t.get("lag_p99"), fmt="%.3f", unit=" s"),
            mark(Lg["max"], None, fmt="%.3f", unit=" s"), mark(S["p50"], None, fmt="%.3f", unit=" s"),
            mark(S["p95"], t.get("startup_p95"), fmt="%.3f", unit=" s"),
            mark(J["p95"], t.get("joiner_startup_p95"), fmt="%.3f", unit=" s") if J["n"] else "—",
            cont, r["skipped_total"], mark(r["source_upload_x"], t.get("source_upload_x"), fmt="%.2f"),
            mark(r["corrupt_bytes"], t.get("corrupt_bytes"), fmt="%d"),
            mark(r["decode_error_lines"], t.get("decode_error_lines"), fmt="%d"), ps,
            re_["unknown"], re_["no"], re_["direct"], re_["mapped"], r["portmap"]["viewers_mapped"],
            r["machine_cpu_busy_pct"], r["machine_cpu_capacity_pct"], r["emulator"]["cpu_total_pct"],
            "yes" if r["capacity"]["kept_up"] else "**no**"))
    L += ["", "Per run, the network under it and notes:", "",
          "| run | N | window s | seed | viewers public/UPnP/NAT | reachable by home (end of run) | "
          "ping under load, access link (and to the broadcaster): configured → measured avg, ms | "
          "emulator processes: CPU % | links over the window: packets/s, loss % of viewer links (configured 0.5), queue drops | "
          "emulator check before the broadcast | testbed up s | other load % | notes |", "|" + "---|" * 13]
    for r in res:
        hosts = [h for h in r["net"]["hosts"] if any(pv["name"] == h["name"] for pv in r["per_viewer"])]
        kinds = [sum(1 for h in hosts if h["kind"] == k) for k in ("public", "upnp", "nat")]
        f1 = lambda x: "%.1f" % x if x is not None else "n/a"
        pings = ", ".join("%s %.0f→%s (to bc %.0f→%s)" % (p["viewer"], p["configured_rtt_ms"], f1(p["rtt_avg_ms"]),
                                                          p.get("to_broadcaster_configured_ms", 0),
                                                          f1(p.get("to_broadcaster_avg_ms")))
                          for p in r["emulator"]["ping_under_load"])
        emu = ", ".join("%s %.1f" % kv for kv in r["emulator"]["cpu_pct"].items()) or "n/a"
        lw = (r["emulator"].get("links_window") or {}).get("total")
        lws = "%d, %s %%, %d" % (lw["packets_per_s"], lw.get("viewer_loss_pct"), lw["queue_drops"]) if lw else "n/a"
        ck = r["emulator"].get("check_before") or {}
        if "rtt" in ck:
            thr = [x["ratio"] for x in (ck.get("throughput") or {}).get("runs", []) if x.get("ratio") is not None]
            cks = "RTT err median %s ms, p90 %s ms; throughput/cap %s–%s (%d runs)" % (
                ck["rtt"].get("median_err_ms"), ck["rtt"].get("p90_abs_err_ms"),
                min(thr) if thr else "n/a", max(thr) if thr else "n/a", len(thr))
        else:
            cks = "not run" if not ck else short(ck, 80)
        L.append("| %s | %d | %.0f | %s | %d/%d/%d | %s | %s | %s | %s | %s | %s | %.0f | %s |" % (
            r["variant"], r["viewers"], r["duration_s"], r["net"]["seed"], kinds[0], kinds[1], kinds[2], by_kind(r),
            pings or "n/a", emu, lws, cks, r["emulator"].get("testbed_up_s"), r.get("other_cpu_pct", 0),
            "; ".join(r.get("notes", []))))
    L += ["", "Plots: [lag CDF](lag-cdf.png), [source upload over time](source-upload.png).", ""]
    with open(os.path.join(d, "summary.md"), "w") as f:
        f.write("\n".join(L))
    log("wrote %s" % os.path.join(d, "summary.md"))
    plots(d, res)


def by_kind(r):
    """'public: 2 direct; upnp: 1 mapped, 1 no; nat: 2 no' from the per-viewer figures."""
    parts = []
    for k in ("public", "upnp", "nat"):
        cnt = {}
        for pv in r["per_viewer"]:
            if pv.get("kind") == k:
                cnt[pv.get("reachable_name", "n/a")] = cnt.get(pv.get("reachable_name", "n/a"), 0) + 1
        if cnt:
            parts.append("%s: %s" % (k, ", ".join("%d %s" % (c, n) for n, c in sorted(cnt.items()))))
    return "; ".join(parts)


def plots(d, res):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        log("matplotlib missing (deploy/setup.sh --bench installs python3-matplotlib): no plots")
        return
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for r in res:
        lags = sorted(x / 1000.0 for x in r.get("lags_ms", []) if x > 0)
        if lags:
            ax.plot(lags, [(i + 1) / len(lags) for i in range(len(lags))], "--" if "nonat" in r["variant"] else "-",
                    label="%s N=%d" % (r["variant"], r["viewers"]))
    ax.set_xscale("log")
    ax.set_xlabel("lag: source timestamp → handed to player (s, log)")
    ax.set_ylabel("fraction of pieces")
    for x in (0.5, 1.0):
        ax.axvline(x, color="grey", lw=0.6, ls=":")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("tstream lag CDF, emulated network (issue 15), %d cores" % live.NCPU)
    fig.tight_layout()
    fig.savefig(os.path.join(d, "lag-cdf.png"), dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 5.5))
    for r in res:
        pts = [(x["t"], x["bytes_up"]) for x in r.get("series", []) if x.get("bytes_up") is not None]
        xs, ys, W = [], [], 3
        for i in range(W, len(pts)):
            dt = pts[i][0] - pts[i - W][0]
            if dt > 0:
                xs.append(pts[i][0])
                ys.append((pts[i][1] - pts[i - W][1]) * 8.0 / dt / r["bitrate_bps"])
        if xs:
            ax.plot(xs, ys, "--" if "nonat" in r["variant"] else "-", label="%s N=%d" % (r["variant"], r["viewers"]))
    ax.axhline(2.0, color="red", lw=0.8, ls=":", label="W1 target 2×")
    ax.axhline(3.0, color="orange", lw=0.8, ls=":", label="W2 target 3×")
    ax.axhline(5.0, color="black", lw=0.8, ls="-.", label="uplink cap (10 Mbit/s)")
    ax.axvline(0, color="grey", lw=0.6, ls=":")
    ax.set_yscale("log")
    ax.set_ylim(0.3, 12)
    ax.set_yticks([0.5, 1, 2, 3, 5, 10])
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g×"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("s from the start of the measurement window (viewers join before 0)")
    ax.set_ylabel("source upload ÷ stream bitrate (log)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    ax.set_title("Broadcaster upload (wire bytes, 3 s average)")
    fig.tight_layout()
    fig.savefig(os.path.join(d, "source-upload.png"), dpi=110)
    plt.close(fig)
    log("wrote lag-cdf.png and source-upload.png in %s" % d)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scenario", nargs="?", choices=sorted(NET_SCENARIOS))
    p.add_argument("--viewers", type=int, help="viewers (W1/W3 default 50, W2 30); scale N down, never the links")
    p.add_argument("--seed", type=int, default=1, help="RNG seed for delays, uplinks and NAT kinds (default 1)")
    p.add_argument("--cc", default="cubic",
                   help="every peer's TCP congestion control (default cubic, Linux's default; bbr if loaded)")
    p.add_argument("--mapping", choices=("masq", "random"), default="masq",
                   help="home routers' NAT: the default masquerade or random port mapping")
    p.add_argument("--no-nat-traversal", action="store_true",
                   help="every viewer with --no-port-mapping --no-holepunch")
    p.add_argument("--bc-delay", type=float, default=0.0, help="broadcaster's one-way access delay, ms (default 0)")
    p.add_argument("--duration", type=float, default=60, help="measurement window, s (default 60)")
    p.add_argument("--settle", type=float, default=5)
    p.add_argument("--startup-timeout", type=float, default=30)
    p.add_argument("--stagger", type=float, help="s between viewer starts (default 0.2)")
    p.add_argument("--warmup", type=float, default=3)
    p.add_argument("--viewer-upload", default=None, help="tsctl watch --max-upload (default none: the link caps)")
    p.add_argument("--source-upload", default=None, help="tsctl start --max-upload (default none: the 10 Mbit/s link)")
    p.add_argument("--check", choices=("sample", "full", "none"), default="sample",
                   help="the testbed's accuracy check before the broadcast: the broadcaster and up to 4 viewers "
                   "(default, ~1 min), every host (tb.check(), ~15 s a host), or none")
    p.add_argument("--quiet-wait", type=float, default=120)
    p.add_argument("--retries", type=int, default=1)
    p.add_argument("--max-other", type=float, default=25)
    p.add_argument("--no-renice", action="store_true")
    p.add_argument("--out", default=os.path.join(live.ROOT, "bench", "results", "net", time.strftime("%Y-%m-%d")))
    p.add_argument("--workdir", default="/tmp")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--summarize", metavar="DIR")
    p.add_argument("--plan", action="store_true", help="print the hosts the scenario would build, and exit")
    a = p.parse_args()
    if a.summarize:
        summarize(a.summarize)
        return 0
    if not a.scenario:
        p.error("a scenario (W1, W2, W3) or --summarize is needed")
    if a.plan:
        n = a.viewers or NET_SCENARIOS[a.scenario]["viewers"]
        j = int(max(0, (a.duration - 1) // CHURN_EVERY)) if a.scenario == "W3" else 0
        for h in plan_hosts(a.scenario, n, j, a.seed, a.mapping):
            print("%-4s %-6s up %5.1f Mbit/s down %2.0f delay %5.2f ms ±%g %% loss %g %%" % (
                h["name"], h["kind"], h["up_bps"] / 1e6, h["down_bps"] / 1e6, h["delay_ms"], h["jitter_pct"],
                h["loss_pct"]))
        return 0
    if os.geteuid() != 0:
        p.error("needs root (network namespaces)")
    a.bitrate = None
    if not a.no_renice:
        live.own_session()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    return run_scenario(a)


if __name__ == "__main__":
    sys.exit(main())
