#!/usr/bin/python3
"""Live-swarm benchmark of tstream: one scenario per run, measured, never asserted.

    bench/live.py --scenario A|B|C|baseline [--viewers N] [--bitrate RATE]
                  [--viewer-upload RATE] [--source-upload RATE] [--duration S] [--out DIR]
    bench/live.py --summarize DIR      (summary.md, lag-cdf.png, source-upload.png from DIR/*.json)

A run starts a broadcast (tsctl start, a paced ffmpeg source recorded with tee), starts the
viewers one after another (tsctl watch --output --stats, the invocation time of each recorded),
waits until every viewer has handed its first piece on, settles, then measures for --duration
seconds: tsctl status counters and /proc CPU ticks at both ends of the window, the broadcaster's
upload every second. Then it ends the source, lets the outputs settle, stops everything, checks
that every output is a byte-identical slice of the recorded source and that ffmpeg decodes it
without an error line, and writes DIR/<scenario>-<N>.json with every figure and the raw lags.

Scenario baseline is plain HTTP fan-out: a ts-player-bridge subscribed to the broadcaster's
swarm outlink, with N HTTP clients (threads here) pulling the stream straight from it.

Debian's /usr/bin/python3 and its standard library only; matplotlib (python3-matplotlib, see
deploy/setup.sh --bench) is needed for --summarize's plots and nothing else.
"""
import argparse
import glob
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("TS_BIN") or os.path.join(ROOT, "build", "bin")
TSCTL = os.path.join(BIN, "tsctl")
BRIDGE = os.path.join(BIN, "ts-player-bridge")
CLK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
BCAST = "bc"  # the broadcast's instance name

SCENARIOS = {
    # viewers, nominal bitrate, stagger between viewer starts (s)
    "A": dict(viewers=50, bitrate="2M", stagger=0.2),
    "B": dict(viewers=200, bitrate="1M", stagger=0.15),
    "C": dict(viewers=10, bitrate="64k", stagger=0.2),
    "baseline": dict(viewers=50, bitrate="2M", stagger=0.2),
}

# Targets of issue 3, evaluated by --summarize (the measuring run asserts nothing).
TARGETS = {
    "A": {"lag_p50": 0.5, "lag_p99": 1.0, "lag_p99_small": 0.25, "startup_p50": 0.5, "startup_p95": 1.0,
          "continuity_min": 99.9, "source_upload_x": 1.5, "overhead_pct": 2.0, "cpu_per_viewer": 2.0},
    "B": {"continuity_min": 99.0},
    "C": {"lag_p99": 0.5},
}


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def parse_rate(s):
    s = str(s).strip()
    mult = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}.get(s[-1:], None)
    return int(float(s[:-1]) * mult) if mult else int(float(s))


def fmt_rate(bps):
    if bps >= 1e6 and bps % 1e6 == 0:
        return "%dM" % (bps // 1e6)
    if bps >= 1e3 and bps % 1e3 == 0:
        return "%dk" % (bps // 1e3)
    return str(int(bps))


def pct(sorted_vals, p):
    """Nearest-rank percentile of an ascending list; None if empty or if it lands on infinity."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(math.ceil(p / 100.0 * len(sorted_vals))) - 1))
    v = sorted_vals[k]
    return None if v == math.inf else v


def rnd(v, n=4):
    return None if v is None else round(v, n)


# ---------------------------------------------------------------- /proc


def proc_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def proc_rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def proc_children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
            comm = s[s.index("(") + 1:s.rindex(")")]
            if int(s.rsplit(")", 1)[1].split()[1]) == ppid:
                out.append((int(d), comm))
        except (OSError, ValueError):
            pass
    return out


def machine_cpu():
    """(busy, total, softirq+irq) jiffies over all CPUs since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v), v[5] + v[6]


# ---------------------------------------------------------------- tsctl


class Tsctl:
    def __init__(self, home, cwd):
        self.env = dict(os.environ, TSTREAM_HOME=home)
        self.cwd = cwd

    def run(self, *args, timeout=120):
        return subprocess.run([TSCTL] + list(args), cwd=self.cwd, env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def status(self, name=None):
        """{instance name: instance dict}; {} if tsctl failed."""
        args = ["status"] + ([name] if name else []) + ["--json"]
        try:
            r = self.run(*args, timeout=60)
            return {i["name"]: i for i in json.loads(r.stdout).get("instances", [])}
        except (subprocess.SubprocessError, ValueError, KeyError):
            return {}


def stage(inst, name):
    for s in (inst or {}).get("stages", []):
        if s.get("name") == name:
            return s
    return {}


def help_has(cmd, opt):
    try:
        r = subprocess.run(cmd + ["--help"], capture_output=True, text=True, timeout=10)
        return opt in (r.stdout + r.stderr)
    except (OSError, subprocess.SubprocessError):
        return False


# ---------------------------------------------------------------- sources


def ffmpeg_cmd(scenario, bitrate, secs):
    base = "ffmpeg -hide_banner -nostdin -loglevel error -re "
    if scenario == "C":
        # mp2 at 48k in MPEG-TS without -muxrate is ~61 kbit/s on the wire, steady second to
        # second; -muxrate 64k cannot be met by an mp2 stream (ffmpeg then emits ~100-128 kbit/s).
        return base + ("-f lavfi -i sine=frequency=440:sample_rate=48000 -t %d "
                       "-c:a mp2 -b:a 48k -f mpegts pipe:1" % secs)
    if bitrate == 2000000:  # ../shared/MACHINE.md's stream, exactly
        v, a = 1800, 128
    else:  # scaled: leaves ~10 % of the mux rate to the TS layer (1M: 804k + 96k, no "dts < pcr")
        a = 96 if bitrate < 1500000 else 128
        v = int(bitrate * 0.9 / 1000) - a
    mux = bitrate // 1000
    return base + ("-f lavfi -i testsrc=size=640x360:rate=25 -f lavfi -i sine=frequency=1000:sample_rate=48000 "
                   "-t %d -c:v libx264 -preset veryfast -tune zerolatency -b:v %dk -minrate %dk -maxrate %dk "
                   "-bufsize %dk -x264-params nal-hrd=cbr -g 50 -pix_fmt yuv420p -c:a mp2 -b:a %dk "
                   "-f mpegts -muxrate %dk pipe:1" % (secs, v, v, v, v // 2, a, mux))


def source_spec(work, ff):
    # The shell records its pid (so the harness can end ffmpeg when the window closes) and
    # idles after the source ends, so ingest does not restart the command (tests/e2e/common.bash).
    return "pipe:echo $$ > %s/src.pid; %s | tee -a %s/src.ts; exec sleep 3600" % (work, ff, work)


def stop_source(work):
    try:
        sh = int(open(os.path.join(work, "src.pid")).read().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    done = False
    for pid, comm in proc_children(sh):
        if comm == "ffmpeg":
            try:
                os.kill(pid, signal.SIGTERM)
                done = True
            except OSError:
                pass
    return done


def source_ffmpeg_pid(work):
    try:
        sh = int(open(os.path.join(work, "src.pid")).read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    for pid, comm in proc_children(sh):
        if comm == "ffmpeg":
            return pid
    return None


def wait_stable(path, secs, still=3.0):
    """Wait until path has not grown for `still` seconds (at most secs). True if it settled."""
    end = time.time() + secs
    last, since = -1, time.time()
    while time.time() < end:
        try:
            n = os.path.getsize(path)
        except OSError:
            n = 0
        if n != last:
            last, since = n, time.time()
        elif time.time() - since >= still:
            return True
        time.sleep(0.25)
    return False


def wait_all_stable(paths, secs, still=3.0):
    end = time.time() + secs
    last = {p: -1 for p in paths}
    since = time.time()
    while time.time() < end:
        changed = False
        for p in paths:
            try:
                n = os.path.getsize(p)
            except OSError:
                n = 0
            if n != last[p]:
                last[p], changed = n, True
        if changed:
            since = time.time()
        elif time.time() - since >= still:
            return True
        time.sleep(0.5)
    return False


# ---------------------------------------------------------------- checks


def slice_check(src, out_path):
    """('ok' | 'truncated' | 'differs' | 'short' | 'missing', source offset, detail)"""
    try:
        out = open(out_path, "rb").read()
    except OSError:
        return "missing", None, "no output file"
    if len(out) < 4096:
        return "short", None, "output too short: %d bytes" % len(out)
    off = src.find(out[:4096])
    if off < 0:
        return "differs", None, "output's first 4 KiB are not in the source"
    if src[off:off + len(out)] != out:
        s = src[off:off + len(out)]
        n = min(len(s), len(out))
        i = next((k for k in range(n) if s[k] != out[k]), n)
        return "differs", off, "differs at output byte %d of %d" % (i, len(out))
    if off + len(out) != len(src):
        return "truncated", off, "stops %d bytes before the end of the source" % (len(src) - off - len(out))
    return "ok", off, ""


def decode_check(path):
    """(clean, first error lines) with ffmpeg -v error -xerror, as tests/e2e/common.bash."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return False, "no output"
    r = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-xerror", "-i", path, "-f", "null", "-"],
                       capture_output=True, text=True)
    err = (r.stdout + r.stderr).strip()
    return (r.returncode == 0 and not err), "\n".join(err.splitlines()[:3])


def read_stats(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) == 4:
                    try:
                        rows.append((int(p[0]), int(p[1]), int(p[2]), int(p[3])))
                    except ValueError:
                        pass
    except OSError:
        pass
    return rows


# ---------------------------------------------------------------- baseline HTTP clients


class HttpClient(threading.Thread):
    def __init__(self, host, port, path, stop):
        super().__init__(daemon=True)
        self.addr, self.path, self.stop = (host, port), path, stop
        self.t_inv = None
        self.t_first = None
        self.bytes = 0
        self.error = None

    def run(self):
        self.t_inv = time.time()
        try:
            s = socket.create_connection(self.addr, timeout=10)
            s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n"
                       % (self.path, self.addr[0], self.addr[1])).encode())
            s.settimeout(1.0)
            buf = b""
            while b"\r\n\r\n" not in buf and not self.stop.is_set():
                try:
                    d = s.recv(65536)
                except socket.timeout:
                    continue
                if not d:
                    raise OSError("closed before the body")
                buf += d
            body = buf.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in buf else b""
            if body:
                self.t_first = time.time()
                self.bytes += len(body)
            while not self.stop.is_set():
                try:
                    d = s.recv(262144)
                except socket.timeout:
                    continue
                if not d:
                    self.error = "server closed the connection"
                    break
                if self.t_first is None:
                    self.t_first = time.time()
                self.bytes += len(d)
            s.close()
        except OSError as e:
            self.error = str(e)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ---------------------------------------------------------------- one run


class Run:
    def __init__(self, a):
        self.a = a
        self.sc = a.scenario
        d = SCENARIOS[self.sc]
        self.n = a.viewers or d["viewers"]
        self.bitrate = parse_rate(a.bitrate or d["bitrate"])
        self.vup = a.viewer_upload
        self.sup = a.source_upload
        self.stagger = a.stagger if a.stagger is not None else d["stagger"]
        self.renice = not a.no_renice and os.geteuid() == 0
        self.prio = "equal"
        self.load_before = open("/proc/loadavg").read().split()[:3]
        self.busy_before = None
        self.work = tempfile.mkdtemp(prefix="tsb.", dir=a.workdir)
        self.home = os.path.join(self.work, "h")  # short: unix socket paths live under it
        os.makedirs(self.home)
        os.makedirs(os.path.join(self.work, "out"))
        os.makedirs(os.path.join(self.work, "stats"))
        self.ts = Tsctl(self.home, self.work)
        self.notes = []
        self.viewers = []  # dicts: name, t_inv, proc/client, out, stats
        self.series = []  # per-second samples of the broadcaster
        self.sampling = threading.Event()
        self.bridge = None
        self.clients = []
        self.client_stop = threading.Event()
        self.features = {
            "start_max_upload": help_has([TSCTL, "start"], "--max-upload"),
            "watch_max_upload": help_has([TSCTL, "watch"], "--max-upload"),
            "watch_stats": help_has([TSCTL, "watch"], "--stats"),
            "bridge_stats": help_has([BRIDGE], "--stats"),
        }

    # -- sampler: the broadcaster's counters (and the baseline clients' bytes) every second
    def sampler(self):
        b0 = machine_cpu()
        while not self.sampling.is_set():
            t = time.time()
            st = stage(self.ts.status(BCAST).get(BCAST), "swarm")
            b1 = machine_cpu()
            busy = 100.0 * NCPU * (b1[0] - b0[0]) / max(1, b1[1] - b0[1])
            b0 = b1
            self.series.append({
                "t": t, "bytes_up": st.get("bytes_up"), "payload_up": st.get("payload_up"),
                "peers": st.get("peers"), "skipped": st.get("skipped"),
                "clients_bytes": sum(c.bytes for c in self.clients) if self.clients else None,
                "cpu_busy_pct": round(busy, 1)})
            self.sampling.wait(max(0.0, 1.0 - (time.time() - t)))

    def start_broadcast(self, src_secs):
        ff = ffmpeg_cmd(self.sc, self.bitrate, src_secs)
        args = ["start", BCAST, "--source", source_spec(self.work, ff), "--bitrate", fmt_rate(self.bitrate)]
        if self.sup and self.sc != "baseline":
            if self.features["start_max_upload"]:
                args += ["--max-upload", self.sup]
            else:
                self.notes.append("tsctl start has no --max-upload: source upload not capped")
        r = self.ts.run(*args)
        if r.returncode != 0:
            raise RuntimeError("tsctl start failed (%d): %s%s" % (r.returncode, r.stdout, r.stderr))
        self.tstream = os.path.join(self.work, BCAST + ".tstream")
        if self.renice:
            self.prioritise()

    def prioritise(self):
        """The broadcaster stands for a host of its own, so its session (supervisor, stages and
        the source encoder) gets a scheduling weight of nice -20. The kernel groups processes by
        session (sched_autogroup) and shares the CPUs fairly between groups: each viewer instance
        is a session of its own, so with 200 viewers the broadcaster's session got 1/201 of the
        machine, the encoder ~3 % of a core, and the source fell to a third of its rate; a
        per-process nice does nothing across groups. --no-renice leaves every group equal."""
        inst = self.ts.status(BCAST).get(BCAST, {})
        sup = inst.get("supervisor_pid") or 0
        try:
            with open("/proc/%d/autogroup" % sup, "w") as f:
                f.write("-20")
            self.prio = "autogroup nice -20"
            return
        except OSError as e:
            why = str(e)
        # no autogroups: plain nice for each process of the broadcaster
        pids = [s.get("pid") for s in inst.get("stages", [])] + [sup, source_ffmpeg_pid(self.work)]
        for pid in pids:
            if pid and pid > 0:
                try:
                    os.setpriority(os.PRIO_PROCESS, pid, -20)
                except OSError as e:
                    self.notes.append("could not renice broadcaster pid %d: %s" % (pid, e))
        self.prio = "nice -20 (autogroup: %s)" % why

    def start_viewers(self):
        if self.sc == "baseline":
            port = free_port()
            stats = os.path.join(self.work, "stats", "bridge.txt")
            cmd = [BRIDGE, "--in", "ipc://%s/%s/swarm.ipc" % (self.home, BCAST), "--http", "127.0.0.1:%d" % port,
                   "--path", "/b.ts"]
            if self.features["bridge_stats"]:
                cmd += ["--stats", stats]
            self.bridge = subprocess.Popen(cmd, stdout=open(os.path.join(self.work, "bridge.log"), "w"),
                                           stderr=subprocess.STDOUT, start_new_session=True)
            self.bridge_stats = stats
            time.sleep(1.0)  # let it subscribe and fill its ring
            for i in range(self.n):
                c = HttpClient("127.0.0.1", port, "/b.ts", self.client_stop)
                c.start()
                self.clients.append(c)
                self.viewers.append({"name": "c%03d" % i, "client": c})
                time.sleep(self.stagger)
            return
        wargs = []
        if self.vup:
            if self.features["watch_max_upload"]:
                wargs += ["--max-upload", self.vup]
            else:
                self.notes.append("tsctl watch has no --max-upload: viewer upload not capped")
        if not self.features["watch_stats"]:
            self.notes.append("tsctl watch has no --stats: no lag figures; start-up from output-file polling")
        for i in range(self.n):
            name = "v%03d" % i
            out = os.path.join(self.work, "out", name + ".ts")
            stats = os.path.join(self.work, "stats", name + ".txt")
            cmd = [TSCTL, "watch", self.tstream, "--name", name, "--output", out] + wargs
            if self.features["watch_stats"]:
                cmd += ["--stats", stats]
            logf = open(os.path.join(self.work, "watch-%s.out" % name), "w")
            t = time.time()
            p = subprocess.Popen(cmd, cwd=self.work, env=self.ts.env, stdout=logf, stderr=subprocess.STDOUT)
            self.viewers.append({"name": name, "t_inv": t, "proc": p, "out": out, "stats": stats})
            time.sleep(self.stagger)

    def first_byte_poll(self):
        """When each viewer's first byte shows up (its stats file, or its output file without
        --stats; for the baseline the client's first body byte), polled every 50 ms while the
        viewers are being started. Returns how many had nothing --startup-timeout s after the
        last one was started."""
        seen = set()
        while self.t_last_inv is None or time.time() < self.t_last_inv + self.a.startup_timeout:
            now = time.time()
            for v in list(self.viewers):
                if v["name"] in seen:
                    continue
                if "client" in v:
                    c = v["client"]
                    if c.t_first is not None or c.error is not None:
                        seen.add(v["name"])
                    continue
                path = v["stats"] if self.features["watch_stats"] else v["out"]
                try:
                    got = os.path.getsize(path) > 0
                except OSError:
                    got = False
                if got:
                    v["first_seen"] = now
                    seen.add(v["name"])
            if len(seen) >= self.n:
                return 0
            time.sleep(0.05)
        return self.n - len(seen)

    def cpu_snapshot(self, insts):
        """{(instance, stage): (pid, ticks)} plus the source ffmpeg and the baseline bridge."""
        snap = {}
        for name, inst in insts.items():
            for s in inst.get("stages", []):
                pid = s.get("pid") or 0
                if pid > 0:
                    snap[(name, s["name"])] = (pid, proc_ticks(pid))
            sp = inst.get("supervisor_pid") or 0
            if sp > 0:
                snap[(name, "supervisor")] = (sp, proc_ticks(sp))
        fp = source_ffmpeg_pid(self.work)
        if fp:
            snap[("source", "ffmpeg")] = (fp, proc_ticks(fp))
        if self.bridge:
            snap[("baseline", "bridge")] = (self.bridge.pid, proc_ticks(self.bridge.pid))
        snap[("harness", "python")] = (os.getpid(), proc_ticks(os.getpid()))
        return snap

    def wait_quiet(self):
        """Other work on this machine skews every figure: wait (at most --quiet-wait s) until
        the CPUs were less than 25 % busy over 3 s, and record what was seen."""
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
        if a.quiet_wait > 0:
            self.wait_quiet()
        # ended by stop_source() when the window closes; -t is only a backstop
        src_secs = 7200
        log("%s N=%d %s: work dir %s" % (self.sc, self.n, fmt_rate(self.bitrate), self.work))
        self.start_broadcast(src_secs)
        self.t_bcast = time.time()
        sampler = threading.Thread(target=self.sampler, daemon=True)
        sampler.start()
        time.sleep(a.warmup)  # a few pieces and one random-access point in the broadcaster's window
        log("broadcast up; starting %d %s" % (self.n, "HTTP clients" if self.sc == "baseline" else "viewers"))
        res = {}
        self.t_last_inv = None
        poller = threading.Thread(target=lambda: res.update(left=self.first_byte_poll()), daemon=True)
        poller.start()
        self.start_viewers()
        self.t_last_inv = time.time()
        poller.join()
        if res.get("left"):
            self.notes.append("%d viewers had handed nothing on %d s after the last start" % (res["left"], a.startup_timeout))
        for v in self.viewers:
            if "proc" in v:
                try:
                    v["watch_rc"] = v["proc"].wait(timeout=60)
                except subprocess.TimeoutExpired:
                    v["watch_rc"] = None
        log("all started (%d not); settling %.0f s, then measuring %d s" % (res.get("left", 0), a.settle, a.duration))
        time.sleep(a.settle)
        # ---- the window. tsctl status asks every supervisor, which takes seconds on a saturated
        # machine: counters are rated over the midpoints of the two status calls, CPU ticks and
        # lags over [t0, t1] exactly.
        s0 = time.time()
        self.st0 = self.ts.status()
        self.st_dur = [round(time.time() - s0, 2)]
        self.ts_st0 = (s0 + time.time()) / 2
        self.cpu0 = self.cpu_snapshot(self.st0)
        self.mc0 = machine_cpu()
        self.t0 = time.time()
        cb0 = [c.bytes for c in self.clients]
        self.window(a.duration)
        self.t1 = time.time()
        self.mc1 = machine_cpu()
        self.cpu1 = self.cpu_snapshot(self.st0)  # the same pids as at t0
        cb1 = [c.bytes for c in self.clients]
        s1 = time.time()
        self.st1 = self.ts.status()
        self.st_dur.append(round(time.time() - s1, 2))
        self.ts_st1 = (s1 + time.time()) / 2
        self.rss = {k: proc_rss_kb(pid) for k, (pid, _) in self.cpu1.items()}
        self.client_rates = [(b - a_) * 8.0 / (self.t1 - self.t0) for a_, b in zip(cb0, cb1)]
        self.sampling.set()
        sampler.join(timeout=10)
        log("window closed; ending the source and letting the outputs settle")
        # ---- end: source stops, viewers drain to its last byte
        self.src_stopped = stop_source(self.work)
        if not self.src_stopped:
            self.notes.append("could not find the source ffmpeg to stop it; outputs may not reach its end")
        wait_stable(os.path.join(self.work, "src.ts"), 30)
        outs = [v["out"] for v in self.viewers if "out" in v]
        if outs:
            if not wait_all_stable(outs, 60):
                self.notes.append("some outputs were still growing 60 s after the source ended")
        else:
            time.sleep(3)
        self.st_end = self.ts.status()

    def window(self, secs):
        """The measurement window itself; bench/net/scenarios.py overrides it to churn viewers."""
        time.sleep(secs)

    def stop_all(self):
        self.client_stop.set()
        for c in self.clients:
            c.join(timeout=3)
        if self.bridge and self.bridge.poll() is None:
            try:
                os.killpg(self.bridge.pid, signal.SIGTERM)
                self.bridge.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.bridge.pid, signal.SIGKILL)
                except OSError:
                    pass
        # One tsctl stop per instance, 8 at a time (stop --all goes one by one: minutes for 200),
        # then stop --all for anything left.
        names = [n for n in self.ts.status() if n != BCAST]

        def stop1(n):
            try:
                self.ts.run("stop", n, timeout=60)
            except subprocess.SubprocessError:
                pass
        with ThreadPoolExecutor(max_workers=8) as ex:
            list(ex.map(stop1, names))
        try:
            self.ts.run("stop", "--all", timeout=600)
        except subprocess.SubprocessError:
            log("tsctl stop --all did not finish")

    # -- figures
    def analyse(self):
        a = self.a
        T = self.t1 - self.t0
        Tc = self.ts_st1 - self.ts_st0  # for tsctl status counters
        t0_us, t1_us = int(self.t0 * 1e6), int(self.t1 * 1e6)
        bc0, bc1 = self.st0.get(BCAST, {}), self.st1.get(BCAST, {})
        sw0, sw1 = stage(bc0, "swarm"), stage(bc1, "swarm")
        ing0, ing1 = stage(bc0, "ingest"), stage(bc1, "ingest")

        def d(s1, s0, k):
            x, y = s1.get(k), s0.get(k)
            return None if x is None or y is None else x - y

        def cpu(key):
            if key not in self.cpu0 or key not in self.cpu1:
                return None
            a0, a1 = self.cpu0[key][1], self.cpu1[key][1]
            if a0 is None or a1 is None:
                return None
            return 100.0 * (a1 - a0) / CLK / T

        # stats files: the per-piece record of every viewer (or of the baseline's bridge)
        per = []
        seq_ts = {}
        if self.sc == "baseline":
            rows = read_stats(self.bridge_stats)
            per.append(("bridge", rows))
        else:
            for v in self.viewers:
                v["rows"] = read_stats(v["stats"])
        for v in self.viewers:
            for r in v.get("rows", []):
                seq_ts[r[0]] = r[1]
        for _, rows in per:
            for r in rows:
                seq_ts[r[0]] = r[1]
        last_seq = max((s for s, ts in seq_ts.items() if ts <= t1_us), default=None)

        def continuity(rows):
            if not rows or last_seq is None:
                return 0.0
            first = rows[0][0]
            if last_seq < first:
                return None
            got = {r[0] for r in rows if first <= r[0] <= last_seq}
            return 100.0 * len(got) / (last_seq - first + 1)

        def window_lags(rows):
            return [(r[2] - r[1]) / 1e6 for r in rows if t0_us <= r[2] <= t1_us]

        lags = []
        pv = []
        raw = []
        if self.sc == "baseline":
            rows = per[0][1]
            lags = window_lags(rows)
            raw.append({"name": "bridge", "pieces": [[r[0], round(r[2] / 1e6 - self.t0, 3), round((r[2] - r[1]) / 1e3, 2)]
                                                     for r in rows if t0_us <= r[2] <= t1_us]})
            cont = continuity(rows)
            conts = [cont] if cont is not None else []
            starts = []
            for v in self.viewers:
                c = v["client"]
                su = (c.t_first - c.t_inv) if c.t_first else None
                starts.append(su if su is not None else math.inf)
                pv.append({"name": v["name"], "startup_s": rnd(su), "bytes": c.bytes, "error": c.error})
            for v, rate in zip(pv, self.client_rates):
                v["rate_bps"] = round(rate)
        else:
            conts, starts = [], []
            src = open(os.path.join(self.work, "src.ts"), "rb").read()
            log("checking %d outputs (byte-identical slice of the source, ffmpeg decode)" % len(self.viewers))
            with ThreadPoolExecutor(max_workers=NCPU) as ex:
                decodes = list(ex.map(decode_check, [v["out"] for v in self.viewers]))
            for v, (clean, derr) in zip(self.viewers, decodes):
                rows = v["rows"]
                if self.features["watch_stats"]:
                    su = (rows[0][2] / 1e6 - v["t_inv"]) if rows else None
                else:
                    su = (v["first_seen"] - v["t_inv"]) if v.get("first_seen") else None
                starts.append(su if su is not None else math.inf)
                vl = window_lags(rows)
                lags += vl
                # raw, in time order, for plots and for finding when lag builds up:
                # [seq, s since the window opened, lag ms]
                raw.append({"name": v["name"], "pieces": [[r[0], round(r[2] / 1e6 - self.t0, 3), round((r[2] - r[1]) / 1e3, 2)]
                                                          for r in rows if t0_us <= r[2] <= t1_us]})
                vl.sort()
                c = continuity(rows)
                if c is not None:
                    conts.append(c)
                ident, off, detail = slice_check(src, v["out"])
                i0, i1, ie = self.st0.get(v["name"], {}), self.st1.get(v["name"], {}), self.st_end.get(v["name"], {})
                c_sw = cpu((v["name"], "swarm"))
                c_br = cpu((v["name"], "player-bridge"))
                pv.append({
                    "name": v["name"], "watch_rc": v.get("watch_rc"), "startup_s": rnd(su),
                    "startup_poll_s": rnd(v["first_seen"] - v["t_inv"]) if v.get("first_seen") else None,
                    "first_seq": rows[0][0] if rows else None, "pieces_handed": len(rows),
                    "lag_p50_s": rnd(pct(vl, 50)), "lag_p99_s": rnd(pct(vl, 99)), "lag_max_s": rnd(vl[-1] if vl else None),
                    "continuity_pct": rnd(c, 3),
                    "cpu_swarm_pct": rnd(c_sw, 3), "cpu_bridge_pct": rnd(c_br, 3),
                    "cpu_pct": rnd(c_sw + c_br, 3) if c_sw is not None and c_br is not None else None,
                    "cpu_supervisor_pct": rnd(cpu((v["name"], "supervisor")), 3),
                    "rss_swarm_kb": self.rss.get((v["name"], "swarm")),
                    "rss_bridge_kb": self.rss.get((v["name"], "player-bridge")),
                    "output_bytes": os.path.getsize(v["out"]) if os.path.exists(v["out"]) else 0,
                    "identical": ident, "hook_offset": off, "identical_detail": detail,
                    "decode_clean": clean, "decode_error": derr,
                    "skipped": stage(ie, "swarm").get("skipped"), "gaps": stage(ie, "player-bridge").get("gaps"),
                    "peers": stage(i1, "swarm").get("peers"),
                    "restarts": sum(s.get("restarts", 0) for s in ie.get("stages", [])),
                    "payload_up_window": d(stage(i1, "swarm"), stage(i0, "swarm"), "payload_up"),
                    "bytes_up_window": d(stage(i1, "swarm"), stage(i0, "swarm"), "bytes_up"),
                })
        lags.sort()
        starts.sort()
        empty = sum(1 for v in pv if v.get("pieces_handed") and not v.get("output_bytes"))
        if empty:
            self.notes.append("%d viewers handed pieces on (--stats) but wrote 0 bytes to --output" % empty)
        if stage(self.st_end.get(BCAST), "ingest").get("rap_pieces") == 0:
            self.notes.append("ingest marked no piece RAP (rap_pieces = 0): players and --output wait for one")

        # wire overhead over every swarm process (each byte counted once, at its sender)
        tot_up = tot_pay = tot_down = tot_pdown = 0
        for name in self.st1:
            s0, s1 = stage(self.st0.get(name), "swarm"), stage(self.st1.get(name), "swarm")
            du, dp = d(s1, s0, "bytes_up"), d(s1, s0, "payload_up")
            dd, dpd = d(s1, s0, "bytes_down"), d(s1, s0, "payload_down")
            if du is None or dp is None:
                continue
            tot_up += du
            tot_pay += dp
            tot_down += dd or 0
            tot_pdown += dpd or 0
        overhead = 100.0 * (tot_up - tot_pay) / tot_pay if tot_pay > 0 else None
        overhead_down = 100.0 * (tot_down - tot_pdown) / tot_pdown if tot_pdown > 0 else None

        if self.sc == "baseline":
            up_bps = sum(self.client_rates)
            pay_bps = up_bps
        else:
            du, dp = d(sw1, sw0, "bytes_up"), d(sw1, sw0, "payload_up")
            up_bps = du * 8.0 / Tc if du is not None else None
            pay_bps = dp * 8.0 / Tc if dp is not None else None
        din = d(ing1, ing0, "bytes_in")
        src_bps = din * 8.0 / Tc if din is not None else None
        nominal = 61000 if self.sc == "C" else self.bitrate  # C's mp2 stream is ~61 kbit/s by design
        if src_bps is not None and src_bps < 0.9 * nominal:
            self.notes.append("the source ran at %.0f %% of its rate (%.0f kbit/s): CPU-starved chain upstream of the swarm"
                              % (100.0 * src_bps / nominal, src_bps / 1e3))

        vcpu = sorted(v["cpu_pct"] for v in pv if v.get("cpu_pct") is not None)
        if self.sc == "baseline":
            bcpu = cpu(("baseline", "bridge"))
            vcpu = [bcpu / self.n] if bcpu is not None else []
        rss_sw = sorted(v["rss_swarm_kb"] for v in pv if v.get("rss_swarm_kb"))
        rss_br = sorted(v["rss_bridge_kb"] for v in pv if v.get("rss_bridge_kb"))
        busy = 100.0 * NCPU * (self.mc1[0] - self.mc0[0]) / max(1, self.mc1[1] - self.mc0[1])
        irq = 100.0 * NCPU * (self.mc1[2] - self.mc0[2]) / max(1, self.mc1[1] - self.mc0[1])
        sup_cpu = [v["cpu_supervisor_pct"] for v in pv if v.get("cpu_supervisor_pct") is not None]
        sw_cpu = [v["cpu_swarm_pct"] for v in pv if v.get("cpu_swarm_pct") is not None]
        br_cpu = [v["cpu_bridge_pct"] for v in pv if v.get("cpu_bridge_pct") is not None]
        own = sum(x for x in (cpu(k) for k in self.cpu0) if x is not None)

        ident_fail = sum(1 for v in pv if v.get("identical") in ("differs", "short", "missing"))
        trunc = sum(1 for v in pv if v.get("identical") == "truncated")
        dec_fail = sum(1 for v in pv if v.get("decode_clean") is False)
        not_started = sum(1 for s in starts if s == math.inf)

        series = []
        for s in self.series:
            series.append({"t": round(s["t"] - self.t0, 3), "bytes_up": s["bytes_up"], "payload_up": s["payload_up"],
                           "peers": s["peers"], "skipped": s["skipped"], "clients_bytes": s["clients_bytes"],
                           "cpu_busy_pct": s["cpu_busy_pct"]})

        end_bc = self.st_end.get(BCAST, {})
        result = {
            "scenario": self.sc, "viewers": self.n, "bitrate_bps": self.bitrate,
            "viewer_upload": self.vup if self.sc != "baseline" else None,
            "source_upload": self.sup if self.sc != "baseline" else None,
            "broadcaster_priority": self.prio,
            "duration_s": round(T, 2), "counter_interval_s": round(Tc, 2),
            "status_call_s": self.st_dur, "settle_s": a.settle, "stagger_s": self.stagger,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.t_bcast)),
            "join_span_s": round(self.t_last_inv - self.t_bcast - a.warmup, 2),
            "machine": {"cpus": NCPU, "load_before": self.load_before, "busy_pct_before": self.busy_before},
            "features": self.features, "notes": self.notes,
            "binaries": {b: time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(os.path.getmtime(os.path.join(BIN, b))))
                         for b in ("tsctl", "ts-ingest", "ts-signer", "ts-swarm", "ts-player-bridge")
                         if os.path.exists(os.path.join(BIN, b))},
            "bin_dir": BIN,
            "lag_s": {"p50": rnd(pct(lags, 50)), "p90": rnd(pct(lags, 90)), "p95": rnd(pct(lags, 95)), "p99": rnd(pct(lags, 99)),
                      "max": rnd(lags[-1] if lags else None), "samples": len(lags),
                      "measured_at": "bridge hand-off (HTTP fan-out)" if self.sc == "baseline" else "viewer player-bridge hand-off"},
            "startup_s": {"p50": rnd(pct(starts, 50)), "p95": rnd(pct(starts, 95)),
                          "max": rnd(pct(starts, 100)), "not_started": not_started,
                          "measured_as": "HTTP connect -> first body byte" if self.sc == "baseline"
                          else "tsctl watch invoked -> first piece handed on"},
            "continuity_pct": {"min": rnd(min(conts), 3) if conts else None,
                               "mean": rnd(sum(conts) / len(conts), 3) if conts else None,
                               "viewers_below_99_9": sum(1 for c in conts if c < 99.9)},
            "source_upload_bps": rnd(up_bps, 0), "source_payload_bps": rnd(pay_bps, 0),
            "source_upload_x": rnd(up_bps / self.bitrate, 3) if up_bps is not None else None,
            "source_payload_x": rnd(pay_bps / self.bitrate, 3) if pay_bps is not None else None,
            "source_measured_bps": rnd(src_bps, 0),
            "source_upload_x_of_measured": rnd(up_bps / src_bps, 3) if up_bps is not None and src_bps else None,
            "overhead_pct": rnd(overhead, 3), "overhead_down_pct": rnd(overhead_down, 3),
            "wire_bytes_up": tot_up, "wire_payload_up": tot_pay,
            "cpu_per_viewer_pct": {"mean": rnd(sum(vcpu) / len(vcpu), 3) if vcpu else None,
                                   "max": rnd(vcpu[-1], 3) if vcpu else None,
                                   "supervisor_mean": rnd(sum(sup_cpu) / len(sup_cpu), 3) if sup_cpu else None,
                                   "swarm_mean": rnd(sum(sw_cpu) / len(sw_cpu), 3) if sw_cpu else None,
                                   "swarm_max": rnd(max(sw_cpu), 3) if sw_cpu else None,
                                   "bridge_mean": rnd(sum(br_cpu) / len(br_cpu), 3) if br_cpu else None},
            "broadcaster_cpu_pct": {k: rnd(cpu((BCAST, k)), 2) for k in ("ingest", "signer", "swarm", "supervisor")},
            "source_ffmpeg_cpu_pct": rnd(cpu(("source", "ffmpeg")), 2),
            "baseline_bridge_cpu_pct": rnd(cpu(("baseline", "bridge")), 2) if self.bridge else None,
            "harness_cpu_pct": rnd(cpu(("harness", "python")), 2),
            "machine_cpu_busy_pct": round(busy, 1), "machine_cpu_capacity_pct": 100 * NCPU,
            # busy minus what the run's own processes used: other work on the machine (and tsctl status calls)
            # (softirq time, mostly loopback TCP, is charged to no process: it is shown apart)
            "run_processes_cpu_pct": round(own, 1), "softirq_cpu_pct": round(irq, 1),
            "other_cpu_pct": round(busy - own - irq, 1),
            "rss_kb": {"viewer_swarm_mean": round(sum(rss_sw) / len(rss_sw)) if rss_sw else None,
                       "viewer_swarm_max": rss_sw[-1] if rss_sw else None,
                       "viewer_bridge_mean": round(sum(rss_br) / len(rss_br)) if rss_br else None,
                       "broadcaster_swarm": self.rss.get((BCAST, "swarm")),
                       "baseline_bridge": self.rss.get(("baseline", "bridge"))},
            "broadcaster": {"swarm_end": stage(end_bc, "swarm"), "ingest_end": stage(end_bc, "ingest"),
                            "signer_end": stage(end_bc, "signer")},
            "decode_failures": dec_fail if self.sc != "baseline" else None,
            "identical_failures": ident_fail if self.sc != "baseline" else None,
            "truncated_outputs": trunc if self.sc != "baseline" else None,
            "watch_failures": sum(1 for v in pv if v.get("watch_rc") not in (0, None)),
            "skipped_total": sum(v.get("skipped") or 0 for v in pv),
            "gaps_total": sum(v.get("gaps") or 0 for v in pv),
            "restarts_total": sum(v.get("restarts") or 0 for v in pv)
            + sum(s.get("restarts", 0) for s in end_bc.get("stages", [])),
            "per_viewer": pv,
            "series": series,
            "lags_ms": [round(x * 1000, 2) for x in lags],
            "pieces_raw": raw,
        }
        if self.sc == "baseline":
            result["client_errors"] = sum(1 for v in pv if v.get("error"))
            rates = sorted(self.client_rates)
            result["client_rate_bps"] = {"min": rnd(rates[0], 0) if rates else None,
                                         "mean": rnd(sum(rates) / len(rates), 0) if rates else None}
        return result


def run_one(a):
    """One scenario; measured again (at most --retries times) when other work on the machine used
    more than --max-other % of a core during the window. The last attempt is written."""
    earlier = []
    for attempt in range(a.retries + 1):
        r = Run(a)
        ok = False
        try:
            r.measure()
            r.stop_all()
            res = r.analyse()
            ok = True
        finally:
            if not ok:
                r.stop_all()
                log("run failed; work dir kept: %s" % r.work)
        L, S = res["lag_s"], res["startup_s"]
        log("%s N=%d: lag p50 %s p99 %s max %s s | start-up p50 %s p95 %s s | continuity min %s %% | "
            "source %s x | overhead %s %% | CPU/viewer %s %% | machine %s %% of %d %% (other work %s %%) | "
            "decode fail %s, identical fail %s"
            % (r.sc, r.n, L["p50"], L["p99"], L["max"], S["p50"], S["p95"], res["continuity_pct"]["min"],
               res["source_upload_x"], res["overhead_pct"], res["cpu_per_viewer_pct"]["mean"],
               res["machine_cpu_busy_pct"], 100 * NCPU, res["other_cpu_pct"], res["decode_failures"],
               res["identical_failures"]))
        for n in res["notes"]:
            log("note: " + n)
        bad = (res.get("decode_failures") or 0) + (res.get("identical_failures") or 0)
        if a.keep or bad:
            log("work dir kept: %s" % r.work)
        else:
            shutil.rmtree(r.work, ignore_errors=True)
        if res["other_cpu_pct"] > a.max_other and attempt < a.retries:
            log("other work on the machine used %.0f %% of a core during the window: measuring again"
                % res["other_cpu_pct"])
            earlier.append({k: res[k] for k in ("started_at", "other_cpu_pct", "machine_cpu_busy_pct", "lag_s",
                                                "startup_s", "continuity_pct", "source_upload_x", "overhead_pct",
                                                "cpu_per_viewer_pct", "decode_failures", "identical_failures")})
            time.sleep(5)
            continue
        break
    res["attempt"] = attempt + 1
    res["earlier_attempts"] = earlier
    if res["other_cpu_pct"] > a.max_other:
        res["notes"].append("other work on the machine used %.0f %% of a core during the window" % res["other_cpu_pct"])
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "%s-%d.json" % (r.sc, r.n))
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    log("wrote %s" % path)
    return 0


# ---------------------------------------------------------------- summary and plots


def load_results(d):
    order = {"baseline": 0, "A": 1, "B": 2, "C": 3}
    res = []
    for p in glob.glob(os.path.join(d, "*.json")):
        try:
            r = json.load(open(p))
            if "scenario" in r:
                res.append(r)
        except (OSError, ValueError):
            pass
    res.sort(key=lambda r: (order.get(r["scenario"], 9), r["viewers"]))
    return res


def checks(r):
    """{figure: (value, target or None, met or None)} for one result."""
    sc, n = r["scenario"], r["viewers"]
    t = TARGETS.get(sc, {})
    L, S, C = r["lag_s"], r["startup_s"], r["continuity_pct"]
    out = {}

    def chk(key, val, lim, ge=False):
        if lim is None:
            out[key] = (val, None, None)
        elif val is None:
            out[key] = (val, lim, False)
        else:
            out[key] = (val, lim, val >= lim if ge else val <= lim)

    p99lim = t.get("lag_p99_small") if (sc == "A" and n <= 20) else t.get("lag_p99")
    chk("lag_p50", L["p50"], t.get("lag_p50"))
    chk("lag_p99", L["p99"], p99lim)
    chk("startup_p50", S["p50"], t.get("startup_p50"))
    chk("startup_p95", S["p95"], t.get("startup_p95"))
    chk("continuity", C["min"], t.get("continuity_min"), ge=True)
    chk("source_x", r["source_upload_x"], t.get("source_upload_x"))
    chk("overhead", r["overhead_pct"], t.get("overhead_pct"))
    chk("cpu", r["cpu_per_viewer_pct"]["mean"], t.get("cpu_per_viewer"))
    if sc != "baseline":  # every viewer's output byte-identical and clean, in every P2P scenario
        bad = (r["decode_failures"] or 0) + (r["identical_failures"] or 0)
        out["correct"] = (bad, 0, bad == 0 and r["decode_failures"] is not None)
    else:
        out["correct"] = (None, None, None)
    return out


def cell(v, lim, met, fmt="%.3g", unit=""):
    if v is None:
        s = "n/a"
    else:
        s = (fmt % v) + unit
    if met is None:
        return s
    return s + (" ✓" if met else " ✗")


def summarize(d):
    res = load_results(d)
    lines = ["# Live-swarm benchmark summary", "",
             "Written by `bench/run.sh` (`bench/live.py --summarize`); one row per `bench/live.py` run.",
             "✓ = target of issue 3 met, ✗ = missed; cells without a mark have no target.", "",
             "| scenario | N | stream | lag p50 | lag p99 | start-up p50 | start-up p95 | continuity min (mean) | "
             "source upload × | overhead % | CPU/viewer % mean (max) | decode / identical failures | machine CPU % |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    met_all, missed = 0, []
    for r in res:
        c = checks(r)
        for k, (v, lim, m) in c.items():
            if m is True:
                met_all += 1
            elif m is False:
                missed.append("%s N=%d %s" % (r["scenario"], r["viewers"], k))
        cm = r["cpu_per_viewer_pct"]
        cont = cell(c["continuity"][0], *c["continuity"][1:], fmt="%.2f", unit=" %")
        if r["continuity_pct"]["mean"] is not None:
            cont += " (%.2f)" % r["continuity_pct"]["mean"]
        cpu = cell(c["cpu"][0], *c["cpu"][1:], fmt="%.2f")
        if cm["max"] is not None and r["scenario"] != "baseline":
            cpu += " (%.2f)" % cm["max"]
        if r["scenario"] == "baseline":
            cpu += " bridge/N"
        corr = "—" if r["scenario"] == "baseline" else cell(c["correct"][0], *c["correct"][1:], fmt="%d")
        if r["scenario"] != "baseline":
            corr = "%s / %s%s" % (r["decode_failures"], r["identical_failures"],
                                  "" if c["correct"][2] is None else (" ✓" if c["correct"][2] else " ✗"))
        lines.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.0f / %d |" % (
            r["scenario"], r["viewers"], fmt_rate(r["bitrate_bps"]) + "bit/s",
            cell(c["lag_p50"][0], *c["lag_p50"][1:], fmt="%.3f", unit=" s"),
            cell(c["lag_p99"][0], *c["lag_p99"][1:], fmt="%.3f", unit=" s"),
            cell(c["startup_p50"][0], *c["startup_p50"][1:], fmt="%.3f", unit=" s"),
            cell(c["startup_p95"][0], *c["startup_p95"][1:], fmt="%.3f", unit=" s"),
            cont,
            cell(c["source_x"][0], *c["source_x"][1:], fmt="%.2f"),
            cell(c["overhead"][0], *c["overhead"][1:], fmt="%.2f") if r["scenario"] != "baseline" else "—",
            cpu, corr, r["machine_cpu_busy_pct"], r["machine_cpu_capacity_pct"]))
    lines += ["", "Targets met: %d; missed: %d%s" % (met_all, len(missed), (" (" + ", ".join(missed) + ")") if missed else ""), ""]
    lines += ["Per run, further figures:", "",
              "| scenario | N | window s | lag max | lag samples | not started | skipped | gaps | restarts | "
              "source payload × | source rate | broadcaster swarm CPU % | viewer swarm CPU % mean (max) | "
              "viewer swarm RSS MiB mean (max) | broadcaster swarm RSS MiB | other load % | notes |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res:
        rs = r["rss_kb"]
        mib = lambda k: "%.1f" % (k / 1024.0) if k else "n/a"
        cm = r["cpu_per_viewer_pct"]
        lines.append("| %s | %d | %.0f | %s | %d | %d | %d | %d | %d | %s | %s | %s | %s (%s) | %s (%s) | %s | %s | %s |" % (
            r["scenario"], r["viewers"], r["duration_s"], cell(r["lag_s"]["max"], None, None, "%.3f", " s"),
            r["lag_s"]["samples"], r["startup_s"]["not_started"], r["skipped_total"], r["gaps_total"],
            r["restarts_total"], cell(r["source_payload_x"], None, None, "%.2f"),
            cell((r["source_measured_bps"] or 0) / 1e3, None, None, "%.0f", " kbit/s"),
            cell(r["broadcaster_cpu_pct"].get("swarm"), None, None, "%.2f")
            if r["scenario"] != "baseline" else cell(r.get("baseline_bridge_cpu_pct"), None, None, "%.1f") + " (bridge)",
            cell(cm.get("swarm_mean"), None, None, "%.2f"), cell(cm.get("swarm_max"), None, None, "%.2f"),
            mib(rs.get("viewer_swarm_mean")), mib(rs.get("viewer_swarm_max")),
            mib(rs.get("broadcaster_swarm")), cell(r.get("other_cpu_pct"), None, None, "%.0f"),
            "; ".join(r.get("notes", [])) or ""))
    lines += ["", "Plots: [lag CDF](lag-cdf.png), [source upload over time](source-upload.png).", ""]
    with open(os.path.join(d, "summary.md"), "w") as f:
        f.write("\n".join(lines))
    log("wrote %s" % os.path.join(d, "summary.md"))
    plots(d, res)


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
        lags = [x / 1000.0 for x in r.get("lags_ms", []) if x > 0]
        if not lags:
            continue
        lags.sort()
        ys = [(i + 1) / len(lags) for i in range(len(lags))]
        ls = "--" if r["scenario"] == "baseline" else "-"
        ax.plot(lags, ys, ls, label="%s N=%d (%s)" % (r["scenario"], r["viewers"], fmt_rate(r["bitrate_bps"])))
    ax.set_xscale("log")
    ax.set_xlabel("lag: source timestamp → handed to player (s, log)")
    ax.set_ylabel("fraction of pieces")
    for x in (0.25, 0.5, 1.0):
        ax.axvline(x, color="grey", lw=0.6, ls=":")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("tstream lag CDF (loopback, %d cores)" % NCPU)
    fig.tight_layout()
    fig.savefig(os.path.join(d, "lag-cdf.png"), dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 5.5))
    for r in res:
        s = r.get("series", [])
        key = "clients_bytes" if r["scenario"] == "baseline" else "bytes_up"
        pts = [(x["t"], x[key]) for x in s if x.get(key) is not None]
        xs, ys = [], []
        W = 3  # seconds: heartbeats come once a second, so rates over 3 samples
        for i in range(W, len(pts)):
            dt = pts[i][0] - pts[i - W][0]
            if dt > 0:
                xs.append(pts[i][0])
                ys.append((pts[i][1] - pts[i - W][1]) * 8.0 / dt / r["bitrate_bps"])
        if xs:
            ls = "--" if r["scenario"] == "baseline" else "-"
            ax.plot(xs, ys, ls, label="%s N=%d" % (r["scenario"], r["viewers"]))
    ax.axhline(1.5, color="red", lw=0.8, ls=":", label="target 1.5×")
    ax.axvline(0, color="grey", lw=0.6, ls=":")
    ax.set_yscale("log")
    ax.set_yticks([0.5, 1, 1.5, 2, 3, 5, 10, 20, 50, 100])
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g×"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("s from the start of the measurement window (viewers join before 0)")
    ax.set_ylabel("source upload ÷ stream bitrate (log)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    ax.set_title("Broadcaster upload (wire bytes, 3 s average); baseline: bytes the HTTP clients received")
    fig.tight_layout()
    fig.savefig(os.path.join(d, "source-upload.png"), dpi=110)
    plt.close(fig)
    log("wrote lag-cdf.png and source-upload.png in %s" % d)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", choices=sorted(SCENARIOS))
    p.add_argument("--viewers", type=int)
    p.add_argument("--bitrate", help="stream rate (A/B/baseline: the ffmpeg CBR test stream is scaled to it)")
    p.add_argument("--viewer-upload", default="4M", help="tsctl watch --max-upload (default 4M)")
    p.add_argument("--source-upload", default="6M", help="tsctl start --max-upload (default 6M)")
    p.add_argument("--duration", type=float, default=60, help="measurement window, s (default 60)")
    p.add_argument("--settle", type=float, default=5, help="s after the last viewer's first piece before the window")
    p.add_argument("--startup-timeout", type=float, default=30)
    p.add_argument("--stagger", type=float, help="s between viewer starts (default 0.2; B 0.15)")
    p.add_argument("--warmup", type=float, default=3, help="s between the broadcast's start and the first viewer")
    p.add_argument("--quiet-wait", type=float, default=120,
                   help="wait at most this long for the machine to be idle before starting (0: do not)")
    p.add_argument("--retries", type=int, default=2,
                   help="measure again (at most this often) when other work disturbed the window")
    p.add_argument("--max-other", type=float, default=25,
                   help="%% of a core other processes may use during the window before a retry (default 25)")
    p.add_argument("--no-renice", action="store_true",
                   help="run the broadcaster (source, ingest, signer, swarm) at the viewers' priority")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    p.add_argument("--workdir", default="/tmp", help="where the run's scratch directory goes")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (outputs, logs)")
    p.add_argument("--summarize", metavar="DIR", help="write DIR/summary.md and the plots from DIR/*.json")
    a = p.parse_args()
    if a.summarize:
        summarize(a.summarize)
        return 0
    if not a.scenario:
        p.error("--scenario or --summarize is needed")
    for k in ("viewer_upload", "source_upload"):
        if getattr(a, k) in ("", "0", "none"):
            setattr(a, k, None)
    if not a.no_renice and os.geteuid() == 0:
        own_session()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    return run_one(a)


def own_session():
    """Run the harness in a session of its own with the scheduling weight of nice -20 (see
    Run.prioritise: the kernel shares CPU between sessions). Otherwise, with 200 viewer sessions
    saturating 2 cores, the harness gets 1/200 of the machine and starting the viewers takes
    minutes instead of --stagger apart. The parent waits and passes signals on."""
    pid = os.fork()
    if pid == 0:
        os.setsid()
        try:
            with open("/proc/self/autogroup", "w") as f:
                f.write("-20")
        except OSError:
            pass
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


if __name__ == "__main__":
    sys.exit(main())
