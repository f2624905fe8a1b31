#!/usr/bin/python3
"""Honest viewers under attack (issue 13): one run measures, back to back, a control without an
attacker and each attack, for one or more builds; it asserts nothing.

    bench/attacks.py [--builds NAME=DIR[,NAME=DIR...]] [--scenarios LIST] [--viewers N]
                     [--duration S] [--window S] [--out DIR] [--keep]
    bench/attacks.py --summarize DIR         (DIR/attacks.md from DIR/attacks-*.json)

Scenarios (default: all, in this order):
  none          broadcast + honest viewers, no attacker (the control of every attack below)
  withhold      tests/adversarial/liarpeer.py --mode withhold against viewer v000
  stale         liarpeer.py --mode stale (it first collects a full window: --window is small)
  freerider     liarpeer.py --mode freerider (a free-riding first recipient of the broadcaster)
  verify-flood  tests/adversarial/evilpeer.py --scenario verify-flood (forged pieces from many
                addresses) against v000
  none-retune   no attacker, but v000's swarm is stopped (SIGSTOP) for --stop-s s, --retune-at s
                into the window, then continued: it re-tunes (PROTOCOL §5). The control of
  edge-lie      liarpeer.py --mode edge-lie, with the same forced re-tune of v000.

Each run: a broadcast (`tsctl start`, the paced 2 Mbit/s ffmpeg testsrc CBR stream of
bench/live.py recorded with tee, 16 KiB pieces, --window S of piece space), --viewers honest
viewers (`tsctl watch --stats --output`, bound to 127.0.0.2, .3, ... when `tsctl watch --bind`
exists), --settle s, then the attacker (its own session, addresses of its own), and the
measurement window opens --lead s after it started (stale: the broadcast window + 5 s, so it has a
full window of stale pieces) and lasts --duration s. Then the source ends, the outputs settle,
everything stops and every output is checked: a byte-identical slice of the recorded source (or,
after a re-tune, consecutive slices in source order), and `ffmpeg -v error -xerror` clean.

Per viewer: lag p50/p95/p99/max of the pieces handed to the player inside the window (lag =
handed_us - timestamp_us of its --stats lines), the swarm's `skipped` counter (in the window and
in all), bad pieces and bans, CPU of its swarm over the window in % of one core (utime+stime from
/proc), the output checks. Also the attacker's own --report, its exit code and CPU, and the
machine's load (other work = busy CPU - this run's processes - softirq).

Builds: --builds old=/work/base/bin,new=/work/hC-build/bin runs each scenario once per build,
interleaved (scenario by scenario, the build order alternating), each from a copy of its
binaries. Without --builds: TS_BIN, else build/bin.

Writes DIR/attacks-<build>-<scenario>.json (every figure, raw per-piece lags) and DIR/attacks.md
(one table row per build and scenario, deltas against that build's control).
Debian's /usr/bin/python3, standard library only; helpers are shared with bench/live.py.
"""
import argparse
import glob
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import live  # noqa: E402  (ffmpeg source, /proc readers, stats reader, decode check)
from live import (log, parse_rate, fmt_rate, pct, rnd, proc_ticks, machine_cpu, stage, help_has,  # noqa: E402
                  ffmpeg_cmd, source_spec, stop_source, source_ffmpeg_pid, wait_stable, wait_all_stable,
                  decode_check, read_stats)

CLK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
BCAST = "bc"
PY = "/usr/bin/python3"
LIARPEER = os.path.join(ROOT, "tests", "adversarial", "liarpeer.py")
EVILPEER = os.path.join(ROOT, "tests", "adversarial", "evilpeer.py")
STAGES = ("tsctl", "ts-ingest", "ts-signer", "ts-swarm", "ts-player-bridge")

ALL = ["none", "withhold", "stale", "freerider", "verify-flood", "none-retune", "edge-lie"]
EXTRA = ["verify-flood-dup", "verify-flood-dup-badsig"]   # only when named in --scenarios
FLOODS = {"verify-flood": "forged", "verify-flood-dup": "dup", "verify-flood-dup-badsig": "dup-badsig"}
CONTROL = {"withhold": "none", "stale": "none", "freerider": "none", "verify-flood": "none",
           "verify-flood-dup": "none", "verify-flood-dup-badsig": "none", "edge-lie": "none-retune"}
RETUNE = ("none-retune", "edge-lie")
TARGET_P99_DELTA = 0.25   # issue 13: lag p99 rises by less than this over the control
TARGET_FLOOD_CPU = 25.0   # issue 13: viewer CPU under the verification flood, % of a core


# ---------------------------------------------------------------- small helpers


def free_port(host="127.0.0.1"):
    """A free TCP port below the ephemeral range (see commit d49ea00: one the kernel handed out
    can be taken by an outgoing connection before the stage binds it)."""
    try:
        lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        lo = 32768
    for _ in range(200):
        p = random.randint(10000, lo - 1)
        s = socket.socket()
        try:
            s.bind((host, p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port")


def proc_ut_st(pid):
    """(utime, stime) ticks of a process, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]), int(rest[12])
    except (OSError, IndexError, ValueError):
        return None


def set_autogroup(pid, nice):
    try:
        with open("/proc/%d/autogroup" % pid, "w") as f:
            f.write(str(nice))
        return True
    except OSError:
        return False


def common_len(a, ao, b, bo):
    """Length of the common prefix of a[ao:] and b[bo:]."""
    n = min(len(a) - ao, len(b) - bo)
    i = 0
    step = 1 << 20
    while step >= 1:
        while i + step <= n and a[ao + i:ao + i + step] == b[bo + i:bo + i + step]:
            i += step
        step >>= 4 if step > 16 else 1
    return i


def slices_check(src, out_path):
    """The output as consecutive byte-identical slices of the source, in source order.
    Returns dict: status ('ok' one slice to the source's end, 'spliced' several slices in order
    reaching the end, 'truncated' slices that stop before the end, 'differs', 'short', 'missing'),
    slices [[output offset, source offset, length]], skipped_bytes between slices, detail."""
    try:
        out = open(out_path, "rb").read()
    except OSError:
        return {"status": "missing", "slices": [], "detail": "no output file"}
    if len(out) < 4096:
        return {"status": "short", "slices": [], "detail": "output too short: %d bytes" % len(out)}
    slices, o, s_from = [], 0, 0
    while o < len(out):
        probe = out[o:o + 4096]
        if len(probe) < 188:
            return {"status": "differs", "slices": slices, "detail": "a %d-byte tail matches nothing" % len(probe)}
        off = src.find(probe, s_from)
        if off < 0:
            where = "first 4 KiB" if o == 0 else "4 KiB at output byte %d" % o
            return {"status": "differs", "slices": slices,
                    "detail": "the output's %s are not in the source%s" % (where, "" if o == 0 else " after the previous slice")}
        n = common_len(src, off, out, o)
        slices.append([o, off, n])
        o += n
        s_from = off + n
    skipped = sum(slices[i + 1][1] - (slices[i][1] + slices[i][2]) for i in range(len(slices) - 1))
    end = slices[-1][1] + slices[-1][2]
    if end != len(src):
        st, det = "truncated", "stops %d bytes before the end of the source" % (len(src) - end)
    else:
        st, det = ("ok" if len(slices) == 1 else "spliced"), ""
    return {"status": st, "slices": slices, "skipped_bytes": skipped, "detail": det}


def decode_errors(path):
    """(clean, error line count, first lines) of ffmpeg -v error over the file (no -xerror: every
    error is counted, so a re-tune's one cut can be told from a corrupt stream)."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return False, None, "no output"
    r = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"],
                       capture_output=True, text=True)
    lines = (r.stdout + r.stderr).strip().splitlines()
    return (r.returncode == 0 and not lines), len(lines), "\n".join(lines[:3])


def scrape(url):
    """{metric (with labels): value} from a stage's /metrics; {} if it does not answer."""
    import urllib.request
    out = {}
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            txt = r.read().decode(errors="replace")
    except (OSError, ValueError):
        return out
    for line in txt.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        k, _, v = line.rpartition(" ")
        try:
            out[k] = float(v)
        except ValueError:
            pass
    return out


def deltas(d1, d0):
    """Numeric fields that changed between two dicts (counters over the window)."""
    out = {}
    for k, v in d1.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and isinstance(d0.get(k), (int, float)):
            if v != d0[k]:
                out[k] = round(v - d0[k], 3)
    return out


class Tsctl:
    def __init__(self, bindir, home, cwd):
        self.tsctl = os.path.join(bindir, "tsctl")
        self.env = dict(os.environ, TSTREAM_HOME=home)
        self.env.pop("TS_LIBEXEC", None)
        self.cwd = cwd

    def run(self, *args, timeout=120):
        return subprocess.run([self.tsctl] + list(args), cwd=self.cwd, env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def status(self, name=None):
        args = ["status"] + ([name] if name else []) + ["--json"]
        try:
            r = self.run(*args, timeout=60)
            return {i["name"]: i for i in json.loads(r.stdout).get("instances", [])}
        except (subprocess.SubprocessError, ValueError, KeyError):
            return {}


def opts_of(cmd):
    """The --options a tool's --help names (to follow CLIs that are still changing)."""
    try:
        r = subprocess.run(cmd + ["--help"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return set()
    return set(re.findall(r"--[a-z][a-z0-9-]*", r.stdout + r.stderr))


# ---------------------------------------------------------------- one run


class Run:
    def __init__(self, a, build, bindir, sc, origin=None):
        self.a, self.build, self.bin, self.sc = a, build, bindir, sc
        self.origin = origin or bindir
        self.work = tempfile.mkdtemp(prefix="tsa.", dir=a.workdir)
        self.home = os.path.join(self.work, "h")
        for d in ("h", "out", "stats"):
            os.makedirs(os.path.join(self.work, d))
        self.ts = Tsctl(bindir, self.home, self.work)
        self.bitrate = parse_rate(a.bitrate)
        self.notes = []
        self.viewers = []
        self.attacker = None
        self.att_cmd = None
        self.retune = None
        self.renice = not a.no_renice and os.geteuid() == 0
        tsctl = os.path.join(bindir, "tsctl")
        self.features = {
            "watch_bind": help_has([tsctl, "watch"], "--bind"),
            "watch_stats": help_has([tsctl, "watch"], "--stats"),
            "watch_max_upload": help_has([tsctl, "watch"], "--max-upload"),
            "start_window": help_has([tsctl, "start"], "--window"),
            "start_max_upload": help_has([tsctl, "start"], "--max-upload"),
        }
        self.lead = a.lead if a.lead is not None else 3.0
        if sc == "stale" and a.lead is None:
            self.lead = a.window + 5.0  # liarpeer first downloads a full window, then dials

    # -- broadcast and viewers
    def start_broadcast(self):
        self.bport = free_port()
        ff = ffmpeg_cmd("A", self.bitrate, 7200)  # ended by stop_source() after the window
        args = ["start", BCAST, "--source", source_spec(self.work, ff), "--bitrate", fmt_rate(self.bitrate),
                "--piece-size", str(self.a.piece_size), "--port", str(self.bport)]
        if self.features["start_window"]:
            args += ["--window", str(self.a.window)]
        else:
            self.notes.append("tsctl start has no --window: the default window")
        if self.a.source_upload and self.features["start_max_upload"]:
            args += ["--max-upload", self.a.source_upload]
        r = self.ts.run(*args)
        if r.returncode != 0:
            raise RuntimeError("tsctl start failed (%d): %s%s" % (r.returncode, r.stdout, r.stderr))
        self.tstream = os.path.join(self.work, BCAST + ".tstream")
        if self.renice:
            sup = self.ts.status(BCAST).get(BCAST, {}).get("supervisor_pid") or 0
            if not set_autogroup(sup, -20):
                self.notes.append("could not give the broadcaster autogroup nice -20")

    def start_viewers(self):
        wargs = []
        if self.a.viewer_upload and self.features["watch_max_upload"]:
            wargs += ["--max-upload", self.a.viewer_upload]
        if not self.features["watch_bind"]:
            self.notes.append("tsctl watch has no --bind: viewers on 127.0.0.1 (exempt from bans)")
        for i in range(self.a.viewers):
            name = "v%03d" % i
            ip = "127.0.0.%d" % (2 + i) if self.features["watch_bind"] else "127.0.0.1"
            port = free_port(ip)
            out = os.path.join(self.work, "out", name + ".ts")
            stats = os.path.join(self.work, "stats", name + ".txt")
            cmd = [self.ts.tsctl, "watch", self.tstream, "--name", name, "--output", out, "--stats", stats,
                   "--port", str(port)] + wargs
            if self.features["watch_bind"]:
                cmd += ["--bind", ip]
            t = time.time()
            r = subprocess.run(cmd, cwd=self.work, env=self.ts.env, capture_output=True, text=True, timeout=120)
            v = {"name": name, "ip": ip, "port": port, "t_inv": t, "out": out, "stats": stats, "watch_rc": r.returncode}
            if r.returncode != 0:
                self.notes.append("tsctl watch %s failed (%d): %s" % (name, r.returncode, (r.stdout + r.stderr).strip()[:300]))
            self.viewers.append(v)
            if self.renice:
                sup = self.ts.status(name).get(name, {}).get("supervisor_pid") or 0
                set_autogroup(sup, self.a.viewer_nice)
            time.sleep(0.2)

    def wait_first_pieces(self):
        end = time.time() + self.a.startup_timeout
        while time.time() < end:
            if all(os.path.exists(v["stats"]) and os.path.getsize(v["stats"]) > 0 for v in self.viewers):
                return True
            time.sleep(0.1)
        self.notes.append("a viewer handed nothing on within %.0f s" % self.a.startup_timeout)
        return False

    # -- the attacker
    def attacker_cmd(self, duration):
        v = self.viewers[0]
        target = "%s:%d" % (v["ip"], v["port"])
        source = "127.0.0.1:%d" % self.bport
        self.att_report = os.path.join(self.work, "attacker-report.json")
        if self.sc in ("withhold", "stale", "freerider", "edge-lie"):
            if not os.path.exists(self.a.liarpeer):
                raise RuntimeError("%s does not exist (yet)" % self.a.liarpeer)
            o = opts_of([PY, self.a.liarpeer])
            cmd = [PY, self.a.liarpeer, "--mode", self.sc, "--target", target, "--source", source,
                   "--bind", self.a.attacker_ip, "--duration", "%.0f" % duration]
            if "--report" in o or not o:
                cmd += ["--report", self.att_report]
            if "--tstream" in o:
                cmd += ["--tstream", self.tstream]
            if self.a.attack_count:
                cmd += ["--count", str(self.a.attack_count)]
            return cmd
        if self.sc in FLOODS:
            o = opts_of([PY, self.a.evilpeer])
            cmd = [PY, self.a.evilpeer, "--tstream", self.tstream, "--target", target, "--scenario", "verify-flood",
                   "--bind", self.a.attacker_ip]
            if "--flood" in o:
                cmd += ["--flood", FLOODS[self.sc]]
            if "--source" in o:
                cmd += ["--source", source]
            if "--duration" in o:
                cmd += ["--duration", "%.0f" % duration]
            if "--report" in o:
                cmd += ["--report", self.att_report]
            # evilpeer's --count defaults to 2000 (for flood-connections): 16 threads, as
            # tests/adversarial/verify_flood.sh (fewer than the 24 peers a viewer accepts)
            cmd += ["--count", str(self.a.attack_count or self.a.flood_threads)]
            return cmd
        return None

    def start_attacker(self):
        dur = self.lead + self.a.duration + 2
        self.att_cmd = self.attacker_cmd(dur)
        self.t_att = time.time()
        if not self.att_cmd:
            return
        log("attacker: %s" % " ".join(self.att_cmd))
        self.att_log = os.path.join(self.work, "attacker.log")
        # a session of its own at nice 0 (the harness runs at autogroup -20)
        self.attacker = subprocess.Popen(self.att_cmd, cwd=self.work, stdout=open(self.att_log, "w"),
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.att_t0 = proc_ticks(self.attacker.pid)

    def finish_attacker(self):
        if not self.attacker:
            return {}
        p = self.attacker
        ticks = None
        t_end = time.time()
        # its CPU over its whole life: read just before it exits (or is ended)
        while p.poll() is None and time.time() < t_end + self.a.attacker_grace:
            t = proc_ticks(p.pid)
            ticks = t if t is not None else ticks
            time.sleep(0.2)
        ended = None
        if p.poll() is None:
            ended = "SIGTERM after %.0f s past the window" % self.a.attacker_grace
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                ended = "SIGKILL"
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                p.wait()
        life = time.time() - self.t_att
        rep = None
        try:
            txt = open(self.att_report).read()
            try:
                rep = json.loads(txt)
            except ValueError:
                rep = txt.strip()
        except OSError:
            pass
        try:
            tail = open(self.att_log, errors="replace").read().strip().splitlines()[-15:]
        except OSError:
            tail = []
        return {"cmd": self.att_cmd, "exit_code": p.returncode, "ended": ended, "report": rep, "log_tail": tail,
                "cpu_pct_window": None if self.att_w is None else rnd(self.att_w, 2),
                "life_s": round(life, 1)}

    # -- the forced re-tune
    def retuner(self, t0):
        pid = self.v_pid(self.viewers[0]["name"], "swarm")
        self.retune = {"pid": pid}
        time.sleep(max(0.0, t0 + self.a.retune_at - time.time()))
        if not pid:
            self.retune["error"] = "no swarm pid"
            return
        try:
            os.kill(pid, signal.SIGSTOP)
            self.retune["stopped_at_s"] = round(time.time() - t0, 2)
            time.sleep(self.a.stop_s)
        finally:
            os.kill(pid, signal.SIGCONT)
            self.retune["continued_at_s"] = round(time.time() - t0, 2)

    def v_pid(self, name, st):
        return stage(self.st0.get(name), st).get("pid") or 0

    def cpu_snapshot(self, insts):
        snap = {}
        for name, inst in insts.items():
            for s in inst.get("stages", []):
                if (s.get("pid") or 0) > 0:
                    snap[(name, s["name"])] = (s["pid"], proc_ticks(s["pid"]))
            sp = inst.get("supervisor_pid") or 0
            if sp > 0:
                snap[(name, "supervisor")] = (sp, proc_ticks(sp))
        fp = source_ffmpeg_pid(self.work)
        if fp:
            snap[("source", "ffmpeg")] = (fp, proc_ticks(fp))
        if self.attacker:
            snap[("attacker", "all")] = (self.attacker.pid, self.attacker_ticks())
        snap[("harness", "python")] = (os.getpid(), proc_ticks(os.getpid()))
        return snap

    def attacker_ticks(self):
        """The attacker's CPU: its process and every descendant alive now (a flood may fork)."""
        if not self.attacker:
            return None
        tot, seen, todo = 0, set(), [self.attacker.pid]
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            t = proc_ticks(pid)
            if t is not None:
                tot += t
            todo += [c for c, _ in live.proc_children(pid)]
        return tot

    def wait_quiet(self):
        end = time.time() + self.a.quiet_wait
        while True:
            b0 = machine_cpu()
            time.sleep(3)
            b1 = machine_cpu()
            busy = 100.0 * NCPU * (b1[0] - b0[0]) / max(1, b1[1] - b0[1])
            if busy < 25.0 * NCPU / 2 or time.time() >= end:
                break
            log("machine busy (%.0f %% of %d %%) before the run: waiting" % (busy, 100 * NCPU))
        self.busy_before = round(busy, 1)
        if busy >= 25.0 * NCPU / 2:
            self.notes.append("machine was %.0f %% busy before the run (other work)" % busy)

    def measure(self):
        a = self.a
        self.load_before = open("/proc/loadavg").read().split()[:3]
        self.busy_before = None
        if a.quiet_wait > 0:
            self.wait_quiet()
        log("[%s] %s: work dir %s" % (self.build, self.sc, self.work))
        self.start_broadcast()
        self.t_bcast = time.time()
        time.sleep(a.warmup)
        self.start_viewers()
        self.wait_first_pieces()
        time.sleep(a.settle)
        self.st_pre = self.ts.status()
        self.start_attacker()
        time.sleep(max(0.0, self.t_att + self.lead - time.time()))
        # ---- the window
        self.st0 = self.ts.status()
        self.m0 = {v["name"]: scrape(stage(self.st0.get(v["name"]), "swarm").get("metrics_url", "")) for v in self.viewers}
        self.cpu0 = self.cpu_snapshot(self.st0)
        self.split0 = {v["name"]: proc_ut_st(self.v_pid(v["name"], "swarm")) for v in self.viewers}
        self.mc0 = machine_cpu()
        self.t0 = time.time()
        rt = None
        if self.sc in RETUNE:
            rt = threading.Thread(target=self.retuner, args=(self.t0,), daemon=True)
            rt.start()
        log("[%s] %s: window open (%.0f s)" % (self.build, self.sc, a.duration))
        time.sleep(a.duration)
        self.t1 = time.time()
        self.mc1 = machine_cpu()
        self.cpu1 = self.cpu_snapshot(self.st0)
        self.split1 = {v["name"]: proc_ut_st(self.v_pid(v["name"], "swarm")) for v in self.viewers}
        self.st1 = self.ts.status()
        self.m1 = {v["name"]: scrape(stage(self.st1.get(v["name"]), "swarm").get("metrics_url", "")) for v in self.viewers}
        if rt:
            rt.join(timeout=a.stop_s + 5)
        c0, c1 = self.cpu0.get(("attacker", "all")), self.cpu1.get(("attacker", "all"))
        self.att_w = (100.0 * (c1[1] - c0[1]) / CLK / (self.t1 - self.t0)
                      if c0 and c1 and c0[1] is not None and c1[1] is not None else None)
        self.att = self.finish_attacker()
        log("[%s] %s: window closed; ending the source, letting the outputs settle" % (self.build, self.sc))
        if not stop_source(self.work):
            self.notes.append("could not find the source ffmpeg to stop it")
        wait_stable(os.path.join(self.work, "src.ts"), 30)
        if not wait_all_stable([v["out"] for v in self.viewers], 60):
            self.notes.append("some outputs were still growing 60 s after the source ended")
        self.st_end = self.ts.status()

    def stop_all(self):
        if self.attacker and self.attacker.poll() is None:
            try:
                os.killpg(self.attacker.pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.ts.run("stop", "--all", timeout=300)
        except subprocess.SubprocessError:
            log("tsctl stop --all did not finish")

    # -- figures
    def analyse(self):
        T = self.t1 - self.t0
        t0_us, t1_us = int(self.t0 * 1e6), int(self.t1 * 1e6)

        def cpu(key):
            x0, x1 = self.cpu0.get(key), self.cpu1.get(key)
            if not x0 or not x1 or x0[1] is None or x1[1] is None:
                return None
            return 100.0 * (x1[1] - x0[1]) / CLK / T

        def dd(s1, s0, k):
            x, y = s1.get(k), s0.get(k)
            return None if x is None or y is None else x - y

        src = open(os.path.join(self.work, "src.ts"), "rb").read()
        with ThreadPoolExecutor(max_workers=NCPU) as ex:
            decodes = list(ex.map(decode_check, [v["out"] for v in self.viewers]))
            errlines = list(ex.map(decode_errors, [v["out"] for v in self.viewers]))
        seq_ts = {}
        for v in self.viewers:
            v["rows"] = read_stats(v["stats"])
            for r in v["rows"]:
                seq_ts[r[0]] = r[1]
        last_seq = max((s for s, ts in seq_ts.items() if ts <= t1_us), default=None)
        pv = []
        pooled = []
        for v, (clean, derr), (_, nerr, _) in zip(self.viewers, decodes, errlines):
            rows = v["rows"]
            w = [r for r in rows if t0_us <= r[2] <= t1_us]
            lags = sorted((r[2] - r[1]) / 1e6 for r in w)
            pooled += lags
            seqs = [r[0] for r in rows]
            wseqs = [r[0] for r in w]
            # seqs never handed on between the first and the last handed in the window
            holes = (wseqs[-1] - wseqs[0] + 1 - len(set(wseqs))) if wseqs else None
            jumps = [[seqs[i - 1], seqs[i]] for i in range(1, len(seqs)) if seqs[i] != seqs[i - 1] + 1]
            cont = None
            if rows and last_seq is not None and last_seq >= rows[0][0]:
                got = {s for s in seqs if rows[0][0] <= s <= last_seq}
                cont = 100.0 * len(got) / (last_seq - rows[0][0] + 1)
            chk = slices_check(src, v["out"])
            n = v["name"]
            s0, s1, se = stage(self.st0.get(n), "swarm"), stage(self.st1.get(n), "swarm"), stage(self.st_end.get(n), "swarm")
            b1 = stage(self.st_end.get(n), "player-bridge")
            # lag over time: the window in 5 s bins (p99 each), to see when an attack bites
            bins = []
            for k in range(int(T // 5) + 1):
                lo, hi = t0_us + k * 5_000_000, min(t1_us, t0_us + (k + 1) * 5_000_000)
                bl = sorted((r[2] - r[1]) / 1e6 for r in w if lo <= r[2] < hi)
                if bl:
                    bins.append([k * 5, len(bl), rnd(pct(bl, 50)), rnd(pct(bl, 99))])
            pv.append({
                "name": n, "ip": v["ip"], "port": v["port"], "target": v is self.viewers[0], "watch_rc": v["watch_rc"],
                "pieces_window": len(w), "lag_p50_s": rnd(pct(lags, 50)), "lag_p95_s": rnd(pct(lags, 95)),
                "lag_p99_s": rnd(pct(lags, 99)), "lag_max_s": rnd(lags[-1] if lags else None),
                "lag_bins_5s": bins,
                "seq_holes_window": holes, "seq_jumps": jumps[:20], "continuity_pct": rnd(cont, 3),
                "skipped_window": dd(s1, s0, "skipped"), "skipped_total": se.get("skipped"),
                "bad_pieces_window": dd(s1, s0, "bad_pieces"), "bad_pieces_total": se.get("bad_pieces"),
                "peers_banned_total": se.get("peers_banned"), "peers_end_of_window": s1.get("peers"),
                "payload_down_window": dd(s1, s0, "payload_down"), "bytes_down_window": dd(s1, s0, "bytes_down"),
                "payload_up_window": dd(s1, s0, "payload_up"),
                "gaps_total": b1.get("gaps"),
                # every swarm counter (tsctl status) and /metrics series that moved during the window
                "swarm_counters_window": deltas(s1, s0),
                "metrics_window": deltas(self.m1.get(n, {}), self.m0.get(n, {})),
                "swarm_end": {k: v for k, v in se.items() if k not in ("metrics_url",)},
                "restarts": sum(s.get("restarts", 0) for s in self.st_end.get(n, {}).get("stages", [])),
                "cpu_swarm_pct": rnd(cpu((n, "swarm")), 2),
                "cpu_swarm_user_sys_pct": [rnd(100.0 * (b_ - a_) / CLK / T, 2) for a_, b_ in
                                           zip(self.split0.get(n), self.split1.get(n))]
                if self.split0.get(n) and self.split1.get(n) else None,
                "cpu_bridge_pct": rnd(cpu((n, "player-bridge")), 2),
                "output": chk["status"], "output_slices": len(chk["slices"]), "output_detail": chk["detail"],
                "output_skipped_bytes": chk.get("skipped_bytes"),
                "output_bytes": os.path.getsize(v["out"]) if os.path.exists(v["out"]) else 0,
                "decode_clean": clean, "decode_error": derr,
                # ffmpeg -v error lines without -xerror: a re-tune's cut (in the middle of a PES) shows
                # as a corrupt packet or two, a damaged stream as many
                "decode_error_lines": nerr,
                "raw": [[r[0], round(r[2] / 1e6 - self.t0, 3), round((r[2] - r[1]) / 1e3, 2)] for r in w],
            })
        pooled.sort()
        busy = 100.0 * NCPU * (self.mc1[0] - self.mc0[0]) / max(1, self.mc1[1] - self.mc0[1])
        irq = 100.0 * NCPU * (self.mc1[2] - self.mc0[2]) / max(1, self.mc1[1] - self.mc0[1])
        own = sum(x for x in (cpu(k) for k in self.cpu0) if x is not None)
        bc0, bc1, bce = (stage(x.get(BCAST), "swarm") for x in (self.st0, self.st1, self.st_end))
        ing0, ing1 = stage(self.st0.get(BCAST), "ingest"), stage(self.st1.get(BCAST), "ingest")
        din = dd(ing1, ing0, "bytes_in")
        if din is not None and din * 8.0 / T < 0.9 * self.bitrate:
            self.notes.append("the source ran at %.0f %% of its rate" % (100.0 * din * 8.0 / T / self.bitrate))
        tgt = pv[0] if pv else {}
        return {
            "scenario": self.sc, "build": self.build, "bin_dir": self.origin,
            "control": CONTROL.get(self.sc),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.t_bcast)),
            "viewers": len(self.viewers), "bitrate_bps": self.bitrate, "piece_size": self.a.piece_size,
            "window_s": self.a.window, "duration_s": round(T, 2), "lead_s": self.lead, "settle_s": self.a.settle,
            "viewer_upload": self.a.viewer_upload, "source_upload": self.a.source_upload,
            "priorities": ("broadcaster autogroup -20, viewers autogroup %d, attacker 0 (own session), harness -20"
                           % self.a.viewer_nice) if self.renice else "all equal",
            "features": self.features, "notes": self.notes,
            "binaries": {b: time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(os.path.getmtime(os.path.join(self.bin, b))))
                         for b in STAGES if os.path.exists(os.path.join(self.bin, b))},
            "retune": self.retune,
            "attacker": self.att,
            "target": {k: tgt.get(k) for k in ("name", "lag_p50_s", "lag_p99_s", "lag_max_s", "skipped_window",
                                               "skipped_total", "cpu_swarm_pct", "output", "decode_clean",
                                               "bad_pieces_total", "peers_banned_total", "seq_holes_window")},
            "lag_pooled_s": {"p50": rnd(pct(pooled, 50)), "p99": rnd(pct(pooled, 99)),
                             "max": rnd(pooled[-1] if pooled else None), "samples": len(pooled)},
            "skipped_window_all": sum(v["skipped_window"] or 0 for v in pv),
            "identical_failures": sum(1 for v in pv if v["output"] in ("differs", "short", "missing")),
            "decode_failures": sum(1 for v in pv if not v["decode_clean"]),
            "broadcaster": {"swarm_cpu_pct": rnd(cpu((BCAST, "swarm")), 2),
                            "bytes_up_window": dd(bc1, bc0, "bytes_up"), "payload_up_window": dd(bc1, bc0, "payload_up"),
                            "source_upload_x": rnd(dd(bc1, bc0, "bytes_up") * 8.0 / T / self.bitrate, 3)
                            if dd(bc1, bc0, "bytes_up") is not None else None,
                            "peers_banned_total": bce.get("peers_banned"), "bad_pieces_total": bce.get("bad_pieces"),
                            "source_bps": rnd(din * 8.0 / T, 0) if din is not None else None},
            "machine": {"cpus": NCPU, "load_before": self.load_before, "busy_pct_before": self.busy_before,
                        "busy_pct": round(busy, 1), "softirq_pct": round(irq, 1), "run_processes_pct": round(own, 1),
                        "other_pct": round(busy - own - irq, 1),
                        "load_after": open("/proc/loadavg").read().split()[:3]},
            "per_viewer": pv,
        }


def run_scenario(a, build, bindir, sc, origin=None):
    r = Run(a, build, bindir, sc, origin)
    ok = False
    try:
        r.measure()
        r.stop_all()
        res = r.analyse()
        ok = True
    except Exception as e:  # one scenario breaking must not stop the others
        log("[%s] %s failed: %s" % (build, sc, e))
        res = {"scenario": sc, "build": build, "bin_dir": origin or bindir, "error": str(e), "notes": r.notes,
               "control": CONTROL.get(sc)}
    finally:
        if not ok:
            r.stop_all()
    bad = res.get("error") or res.get("identical_failures") or res.get("decode_failures")
    if a.keep or bad:
        log("work dir kept: %s" % r.work)
        res["work_dir"] = r.work
    else:
        shutil.rmtree(r.work, ignore_errors=True)
    path = os.path.join(a.out, "attacks-%s-%s.json" % (build, sc))
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    t = res.get("target") or {}
    log("[%s] %s: target %s lag p50 %s p99 %s max %s s | skipped %s (window) | swarm CPU %s %% | output %s, "
        "decode %s | machine %s %%, other %s %% | wrote %s"
        % (build, sc, t.get("name"), t.get("lag_p50_s"), t.get("lag_p99_s"), t.get("lag_max_s"), t.get("skipped_window"),
           t.get("cpu_swarm_pct"), t.get("output"), "clean" if t.get("decode_clean") else "errors",
           (res.get("machine") or {}).get("busy_pct"), (res.get("machine") or {}).get("other_pct"), path))
    for n in res.get("notes", []):
        log("note: " + n)
    return res


# ---------------------------------------------------------------- summary


def fmt(v, f="%.3f", unit=""):
    return "n/a" if v is None else (f % v) + unit


def att_summary(att):
    """One short cell from the attacker's report (whatever keys it has)."""
    if not att:
        return ""
    rep = att.get("report")
    parts = []
    if att.get("exit_code") not in (0, None):
        parts.append("exit %s" % att.get("exit_code"))
    if att.get("ended"):
        parts.append(att["ended"])
    if isinstance(rep, dict) and ("liars" in rep or "source_connections" in rep):
        # liarpeer.py's report: totals over its liars and its broadcaster connections
        L = rep.get("liars") or []
        if L:
            tot = lambda k: sum(x.get(k) or 0 for x in L)
            fd = [x["first_disconnect"] for x in L if x.get("first_disconnect") is not None]
            parts.append("%d liar(s): %d conn, %d requests received, %d pieces sent, dropped %d× by the victim%s, "
                         "redials after: %d accepted / %d refused"
                         % (len(L), tot("connections"), tot("requests_received"), tot("pieces_sent"),
                            tot("disconnected_by_victim"), (" (first at %.1f s)" % min(fd)) if fd else "",
                            tot("accepted_after_first_disconnect"), tot("refused_after_first_disconnect")))
        for v in rep.get("source_connections") or []:
            if rep.get("mode") in ("freerider", "stale"):
                parts.append("at the source: %s pieces down, HAVEs %s at once / %s late, %d disconnects"
                             % (v.get("pieces_received"), v.get("early_haves"), v.get("late_haves"),
                                len(v.get("disconnects") or [])))
    elif isinstance(rep, dict):
        for k, v in rep.items():
            if isinstance(v, (int, float, str, bool)) and k not in ("mode", "target", "source", "bind"):
                parts.append("%s %s" % (k, v))
    elif isinstance(rep, str) and rep:
        parts.append(rep[:120])
    elif rep is None:
        parts.append((att.get("log_tail") or ["no report"])[-1][:200])
    if att.get("cpu_pct_window") is not None:
        parts.append("attacker CPU %.0f %%" % att["cpu_pct_window"])
    return "; ".join(parts)[:300].replace("|", "/")


def summarize(d):
    res = []
    for p in sorted(glob.glob(os.path.join(d, "attacks-*.json"))):
        try:
            res.append(json.load(open(p)))
        except (OSError, ValueError):
            pass
    builds = []
    for r in sorted(res, key=lambda r: r.get("started_at") or ""):
        if r["build"] not in builds:
            builds.append(r["build"])
    by = {(r["build"], r["scenario"]): r for r in res}
    lines = ["# Honest viewers under attack (issue 13)", "",
             "Written by `bench/attacks.py`; one row per build and scenario, figures of the attacked viewer "
             "(v000) inside the attack window. Δ p99 = its lag p99 − the same build's control (none; "
             "none-retune for edge-lie). Skipped = the swarm's `skipped` counter; seqs not handed on = holes in "
             "the seqs of its --stats lines inside the window (a re-tune's jump shows there whether or not "
             "a build counts it as skipped). Targets: Δ p99 < %.2f s and no skipped piece under every attack; "
             "swarm CPU < %.0f %% of a core under verify-flood." % (TARGET_P99_DELTA, TARGET_FLOOD_CPU), "",
             "| scenario | build | lag p50 | lag p99 | max | Δ p99 | skipped (window/total) | seqs not handed on | output / decode | "
             "swarm CPU % | bad pieces / bans | other viewers p99 | attacker | machine busy / other % |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for sc in ALL + EXTRA:
        for b in builds:
            r = by.get((b, sc))
            if not r:
                continue
            if r.get("error"):
                lines.append("| %s | %s | failed: %s ||||||||||||" % (sc, b, r["error"][:150].replace("|", "/")))
                continue
            t = r["target"]
            pv0 = r["per_viewer"][0]
            ctl = by.get((b, r.get("control"))) if r.get("control") else None
            delta, dcell = None, "—"
            if ctl and not ctl.get("error") and t["lag_p99_s"] is not None and ctl["target"]["lag_p99_s"] is not None:
                delta = t["lag_p99_s"] - ctl["target"]["lag_p99_s"]
                dcell = "%+.3f s %s" % (delta, "✓" if delta < TARGET_P99_DELTA else "✗")
            sk = "%s / %s" % (t["skipped_window"], t["skipped_total"])
            if r.get("control"):
                base = (ctl or {}).get("target", {}).get("skipped_window") if ctl else None
                ok = t["skipped_window"] == 0 or (base is not None and sc in RETUNE and t["skipped_window"] <= base)
                sk += " ✓" if ok else " ✗"
            cpu = fmt(t["cpu_swarm_pct"], "%.2f")
            if sc in FLOODS and t["cpu_swarm_pct"] is not None:
                cpu += " ✓" if t["cpu_swarm_pct"] < TARGET_FLOOD_CPU else " ✗"
                us = pv0.get("cpu_swarm_user_sys_pct")
                if us:
                    cpu += " (user %.1f, sys %.1f)" % tuple(us)
            others = ", ".join(fmt(v["lag_p99_s"]) for v in r["per_viewer"][1:]) or "—"
            dec = "clean" if t["decode_clean"] else "errors"
            if not t["decode_clean"] and pv0.get("decode_error_lines") is not None:
                dec += " (%d lines)" % pv0["decode_error_lines"]
            out = "%s%s / %s" % (t["output"], " (%d slices)" % pv0["output_slices"] if pv0["output_slices"] > 1 else "", dec)
            m = r["machine"]
            att = att_summary(r.get("attacker"))
            if sc in FLOODS:
                vf = next((x for k, x in pv0.get("metrics_window", {}).items()
                           if k.startswith("tstream_verify_failures_total")), None)
                shed = pv0.get("swarm_counters_window", {}).get("verify_shed")
                att = "v000: %s failed signature checks, verify_shed %s; %s" % (
                    "n/a" if vf is None else "%.0f" % vf, 0 if shed is None else shed, att)
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s | %.0f / %.0f |" % (
                sc, b, fmt(t["lag_p50_s"]), fmt(t["lag_p99_s"]), fmt(t["lag_max_s"]), dcell, sk,
                "n/a" if pv0.get("seq_holes_window") is None else pv0["seq_holes_window"], out, cpu,
                t["bad_pieces_total"], t["peers_banned_total"], others, att,
                m["busy_pct"], m["other_pct"]))
    lines += ["", "Runs: " + "; ".join("%s %s at %s (load before %s)" % (r["build"], r["scenario"], r.get("started_at"),
                                                                        " ".join((r.get("machine") or {}).get("load_before") or []))
                                      for r in sorted(res, key=lambda r: r.get("started_at") or "")), ""]
    notes = ["- %s %s: %s" % (r["build"], r["scenario"], n) for r in res for n in r.get("notes", [])]
    if notes:
        lines += ["Notes:", ""] + notes + [""]
    with open(os.path.join(d, "attacks.md"), "w") as f:
        f.write("\n".join(lines))
    log("wrote %s" % os.path.join(d, "attacks.md"))
    print("\n".join(lines))


# ---------------------------------------------------------------- main


def snapshot(bindir):
    """A copy of a build's binaries (tsctl starts the stages found next to itself), so a rebuild
    during the run changes nothing."""
    snap = tempfile.mkdtemp(prefix="tsa-bin.")
    for b in STAGES:
        p = os.path.join(bindir, b)
        if not os.path.exists(p):
            raise SystemExit("%s: no %s" % (bindir, b))
        shutil.copy2(p, snap)
    return snap


def own_session():
    """The harness in a session of its own with the weight of nice -20 (as bench/live.py): it only
    sleeps and polls, but it must start viewers and send SIGSTOP/SIGCONT on time."""
    pid = os.fork()
    if pid == 0:
        os.setsid()
        set_autogroup(os.getpid(), -20)
        return

    def forward(sig, _frame):
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    for sg in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sg, forward)
    while True:
        try:
            _, st = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    os._exit(os.waitstatus_to_exitcode(st))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--builds", help="NAME=BINDIR[,NAME=BINDIR...] (default: cur=$TS_BIN or build/bin)")
    p.add_argument("--scenarios", default=",".join(ALL), help="comma-separated, from: " + ",".join(ALL + EXTRA))
    p.add_argument("--viewers", type=int, default=2, help="honest viewers (default 2; v000 is attacked)")
    p.add_argument("--duration", type=float, default=40, help="attack window, s (default 40)")
    p.add_argument("--window", type=int, default=12, help="tsctl start --window, s of piece space (default 12)")
    p.add_argument("--bitrate", default="2M")
    p.add_argument("--piece-size", type=int, default=16384)
    p.add_argument("--viewer-upload", default="4M")
    p.add_argument("--source-upload", default="6M")
    p.add_argument("--lead", type=float, help="s between the attacker's start and the window (default 3; stale: window + 5)")
    p.add_argument("--settle", type=float, default=5)
    p.add_argument("--warmup", type=float, default=3)
    p.add_argument("--startup-timeout", type=float, default=30)
    p.add_argument("--retune-at", type=float, default=10, help="none-retune/edge-lie: SIGSTOP v000's swarm this far into the window")
    p.add_argument("--stop-s", type=float, default=4, help="... for this long (default 4)")
    p.add_argument("--attacker-ip", default="127.0.0.66")
    p.add_argument("--attack-count", type=int, help="--count for the attacker (default: its own)")
    p.add_argument("--flood-threads", type=int, default=16, help="verify-flood: evilpeer.py --count (default 16)")
    p.add_argument("--attacker-grace", type=float, default=8, help="s the attacker gets to exit after the window")
    p.add_argument("--liarpeer", default=LIARPEER)
    p.add_argument("--evilpeer", default=EVILPEER)
    p.add_argument("--viewer-nice", type=int, default=-10, help="autogroup nice of each viewer (default -10)")
    p.add_argument("--no-renice", action="store_true", help="every session at the same weight")
    p.add_argument("--quiet-wait", type=float, default=60, help="wait at most this long for an idle machine (0: do not)")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "attacks"))
    p.add_argument("--workdir", default="/tmp")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--summarize", metavar="DIR")
    a = p.parse_args()
    if a.summarize:
        summarize(a.summarize)
        return 0
    for k in ("viewer_upload", "source_upload"):
        if getattr(a, k) in ("", "0", "none"):
            setattr(a, k, None)
    scs = [s.strip() for s in a.scenarios.split(",") if s.strip()]
    bad = [s for s in scs if s not in ALL + EXTRA]
    if bad:
        p.error("unknown scenario(s): %s" % ",".join(bad))
    if a.builds:
        builds = []
        for item in a.builds.split(","):
            name, _, d = item.partition("=")
            if not d:
                p.error("--builds wants NAME=DIR")
            builds.append((name, os.path.abspath(d)))
    else:
        builds = [("cur", os.environ.get("TS_BIN") or os.path.join(ROOT, "build", "bin"))]
    os.makedirs(a.out, exist_ok=True)
    if not a.no_renice and os.geteuid() == 0:
        own_session()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    snaps = [(n, snapshot(d), d) for n, d in builds]
    log("builds: %s" % ", ".join("%s=%s" % (n, d) for n, _, d in snaps))
    try:
        for i, sc in enumerate(scs):
            order = snaps if i % 2 == 0 else snaps[::-1]
            for name, snap, orig in order:
                run_scenario(a, name, snap, sc, orig)
    finally:
        for _, snap, _ in snaps:
            shutil.rmtree(snap, ignore_errors=True)
    summarize(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
