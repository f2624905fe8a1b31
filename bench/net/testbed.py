#!/usr/bin/env python3
"""The network testbed of issue 15: hosts in Linux network namespaces, on emulated access links
(delay, jitter, loss, rate caps: ts-netlink, a user-space link emulator between TUN devices, since
this kernel has no netem), some behind home routers doing NAT with nftables, some of those running
a real UPnP IGD / NAT-PMP daemon (miniupnpd).

    core ──tun══ts-netlink══tun── pub host               (public: its 11.x address is its own)
    core ──tun══ts-netlink══tun── router ──veth── home   (NATed: router WAN 11.x, home 192.168.K.2)

The "internet" is 11.0.0.0/8, routed by the core namespace: not a reserved range, because
miniupnpd refuses a reserved external address. Nothing links to the host's own namespace, so no
packet can leave. Needs root.

    from testbed import Testbed
    tb = Testbed(prefix="tsnb1234-", seed=1)
    h = tb.add_host("v1", public=False, nat="masq", upnp=True, up_bps=5_000_000, down_bps=50_000_000,
                    delay_ms=10, jitter_pct=10, loss_pct=0.5)
    tb.up(); tb.cmd(h, ["ping", "-c1", other.public_ip]); print(tb.check()); tb.down()

CLI:  testbed.py --selftest [--keep]    build a small net, check it, print JSON, tear down
      testbed.py --serve SPEC STATE     build the net of SPEC (JSON: {"prefix", "seed", "hosts": [{"name",
                                        add_host's arguments}]}), write STATE (JSON: each host's ns, ip,
                                        public_ip), run until SIGTERM/SIGINT or its parent dies, tear down
                                        (the emulator's final counters go to STATE.netlink.json)
      testbed.py --load                 ts-netlink's CPU at ~100 Mbit/s aggregate (parallel iperf3)
      testbed.py --clean PREFIX         remove namespaces and processes left by a killed run
"""
import atexit
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _netlink_binary():
    if os.environ.get("TS_NETLINK"):
        return os.environ["TS_NETLINK"]
    for d in (os.environ.get("TS_BIN"), os.path.join(HERE, "..", "..", "build", "bin")):
        if d and os.path.exists(os.path.join(d, "ts-netlink")):
            return os.path.join(d, "ts-netlink")
    raise RuntimeError("ts-netlink not found: set TS_BIN (the build's bin/) or TS_NETLINK")


def _run(argv, check=True, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), r.returncode, (r.stderr or r.stdout).strip()))
    return r


def _ipb(ns, lines):
    """Several ip commands in namespace NS, one process."""
    _run(["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n")


def _ns_pids(ns):
    r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()] if r.returncode == 0 else []


def _kill_ns(ns):
    """Every process inside NS: TERM, a moment, then KILL (they were all started by the testbed)."""
    pids = _ns_pids(ns)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        end = time.time() + 1.0
        while pids and time.time() < end:
            pids = [p for p in pids if os.path.exists("/proc/%d" % p)]
            time.sleep(0.05)
        if not pids:
            return


def _cpu_ticks(pid):
    """utime + stime of PID, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


# A home router's ruleset. The miniupnpd chains come first (miniupnpd adds its rules there; the
# hook chains jump to them). Unsolicited inbound on the WAN is dropped silently, as real home
# routers do (no RST, no ICMP unreachable): what TCP hole punching meets. Echo requests to the
# router itself are answered, so the testbed can measure a NATed host's RTT.
ROUTER_NFT = """
table inet filter {
  chain miniupnpd { }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
  chain input {
    type filter hook input priority 0; policy drop;
    iifname "lo" accept
    iifname "lan" accept
    ct state established,related accept
    icmp type echo-request accept
  }
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "lan" oifname "wan" accept
    jump miniupnpd
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
    oifname "wan" masquerade%s
  }
}
"""


class Host:
    def __init__(self, tb, index, name, public, nat, upnp, up_bps, down_bps, delay_ms, jitter_pct, loss_pct):
        self.index, self.name = index, name
        self.public, self.nat, self.upnp = public, nat, upnp
        self.up_bps, self.down_bps = int(up_bps), int(down_bps)
        self.delay_ms, self.jitter_pct, self.loss_pct = float(delay_ms), float(jitter_pct), float(loss_pct)
        n = index + 1
        self.public_ip = "11.%d.%d.2" % (n // 250, n % 250)
        self.core_ip = "11.%d.%d.1" % (n // 250, n % 250)
        self.ns = tb.prefix + name
        self.router = None if public else tb.prefix + name + "-r"
        self.lan = None if public else "192.168.%d" % (n % 250 + 1)
        self.ip = self.public_ip if public else self.lan + ".2"
        self.core_dev = "h%d" % n

    def __repr__(self):
        return "Host(%s %s%s)" % (self.name, self.ip, "" if self.public else " via " + self.public_ip)


class Testbed:
    def __init__(self, prefix="tsnb%d-" % os.getpid(), seed=1, workdir=None, keep=False, rt_prio=10, cc="cubic"):
        self.prefix, self.seed, self.keep, self.rt_prio = prefix, seed, keep, rt_prio
        # every peer's TCP congestion control, whatever the host's default (a new namespace inherits
        # it): Linux's own default, so that figures do not depend on the machine they ran on
        self.cc = cc
        self.hosts, self.namespaces, self.procs = [], [], []
        self.core = prefix + "core"
        self.netlink = None
        self.workdir = workdir or tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        self._down = False
        atexit.register(self.down)
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                prev = signal.getsignal(sig)
                signal.signal(sig, lambda s, f, prev=prev: self._on_signal(s, f, prev))
            except ValueError:      # not the main thread: atexit still cleans up
                pass

    def _on_signal(self, sig, frame, prev):
        self.down()
        if callable(prev):
            prev(sig, frame)
        sys.exit(128 + sig)

    def add_host(self, name, public=True, nat=None, upnp=False, up_bps=20_000_000, down_bps=20_000_000,
                 delay_ms=10.0, jitter_pct=0.0, loss_pct=0.0):
        if not public and nat not in ("masq", "random"):
            raise ValueError("a host behind NAT needs nat='masq' or 'random'")
        if public and (nat or upnp):
            raise ValueError("a public host has no router (nat=None, upnp=False)")
        if any(h.name == name for h in self.hosts):
            raise ValueError("host %s exists" % name)
        h = Host(self, len(self.hosts), name, public, nat, upnp, up_bps, down_bps, delay_ms, jitter_pct, loss_pct)
        self.hosts.append(h)
        return h

    def host(self, name):
        return next(h for h in self.hosts if h.name == name)

    # --- running things inside --------------------------------------------------------------
    @staticmethod
    def _nsof(h):
        return h if isinstance(h, str) else h.ns

    def cmd(self, h, argv, check=False, **kw):
        """Run ARGV inside host H's namespace (or a namespace name); a CompletedProcess (text)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(["ip", "netns", "exec", self._nsof(h)] + list(argv), check=check, **kw)

    def popen(self, h, argv, **kw):
        """Start ARGV inside H's namespace; tb.down() ends it (with everything else in there)."""
        p = subprocess.Popen(["ip", "netns", "exec", self._nsof(h)] + list(argv), **kw)
        self.procs.append(p)
        return p

    def _mkns(self, ns):
        _run(["ip", "netns", "add", ns])
        self.namespaces.append(ns)
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def _sysctl(self, ns, kv):
        _run(["ip", "netns", "exec", ns, "sysctl", "-qw", kv])

    def _set_cc(self, ns):
        """The host's congestion control in namespace ns, self.cc if the kernel lets us. A namespace
        may only choose one of the host's net.ipv4.tcp_allowed_congestion_control (EPERM
        otherwise); then the namespace's default stays, self.cc says which, and a line says so once."""
        key = "net.ipv4.tcp_congestion_control"
        r = _run(["ip", "netns", "exec", ns, "sysctl", "-qw", key + "=" + self.cc], check=False)
        if r.returncode == 0:
            return
        got = _run(["ip", "netns", "exec", ns, "sysctl", "-n", key]).stdout.strip()
        allowed = _run(["sysctl", "-n", "net.ipv4.tcp_allowed_congestion_control"], check=False).stdout.strip()
        print("testbed: %s is not allowed in namespaces here (host's allowed: %s); using %s" % (self.cc, allowed, got),
              file=sys.stderr, flush=True)
        self.cc = got

    # --- building ---------------------------------------------------------------------------
    def up(self):
        """Build every namespace, link, router, NAT and miniupnpd; raise on any failure."""
        if not self.hosts:
            raise ValueError("no hosts")
        try:
            self._up()
        except BaseException:
            self.down()
            raise

    def _up(self):
        self._mkns(self.core)
        self._sysctl(self.core, "net.ipv4.ip_forward=1")
        lines = []
        for h in self.hosts:
            self._mkns(h.ns)
            self._set_cc(h.ns)
            if h.router:
                self._mkns(h.router)
                self._sysctl(h.router, "net.ipv4.ip_forward=1")
            edge = h.ns if h.public else h.router
            # side A = the host's end (its upload flows A -> B), side B = the core
            lines.append("%s %s wan %s %s %d %d %g %g %g" % (h.name, edge, self.core, h.core_dev, h.up_bps,
                                                              h.down_bps, h.delay_ms, h.jitter_pct, h.loss_pct))
        conf = os.path.join(self.workdir, "links.conf")
        with open(conf, "w") as f:
            f.write("# NAME NS_A DEV_A NS_B DEV_B RATE_AB RATE_BA DELAY_MS JITTER_PCT LOSS_PCT\n")
            f.write("\n".join(lines) + "\n")
        self.stats_path = os.path.join(self.workdir, "netlink.json")
        # real-time priority: the emulated network must not wait behind the peers it carries
        self.netlink = subprocess.Popen([_netlink_binary(), "--seed", str(self.seed), "--stats", self.stats_path,
                                         "--rt", str(self.rt_prio), conf], stdout=subprocess.PIPE, stderr=open(
                                             os.path.join(self.workdir, "netlink.err"), "w"), text=True)
        ready = self.netlink.stdout.readline()
        if not ready.startswith("ready"):
            raise RuntimeError("ts-netlink did not start: %s" % open(os.path.join(self.workdir, "netlink.err")).read())
        core = []
        for h in self.hosts:
            edge = h.ns if h.public else h.router
            core += ["addr add %s peer %s dev %s" % (h.core_ip, h.public_ip, h.core_dev),
                     "link set %s up" % h.core_dev]
            _ipb(edge, ["addr add %s peer %s dev wan" % (h.public_ip, h.core_ip), "link set wan up",
                        "route add default via %s dev wan" % h.core_ip])
            if h.router:
                self._home(h)
        _ipb(self.core, core)
        for h in self.hosts:
            if h.upnp:
                self._miniupnpd(h)
        self._probe()

    def _home(self, h):
        r = h.router
        _ipb(r, ["link add lan type veth peer name eth0 netns %s" % h.ns, "addr add %s.1/24 dev lan" % h.lan,
                 "link set lan up"])
        _ipb(h.ns, ["addr add %s/24 dev eth0" % h.ip, "link set eth0 up", "route add default via %s.1" % h.lan])
        # "random": every new mapping gets a random external port (what hole punching finds hardest);
        # the default masquerade keeps the source port where it is free.
        rules = ROUTER_NFT % (" fully-random" if h.nat == "random" else "")
        _run(["ip", "netns", "exec", r, "nft", "-f", "-"], input=rules)

    def _miniupnpd(self, h):
        d = os.path.join(self.workdir, h.name + "-upnp")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "miniupnpd.conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "ext_ifname=wan", "listening_ip=lan", "http_port=0",
                "enable_upnp=yes", "enable_natpmp=yes", "secure_mode=yes", "system_uptime=yes",
                "uuid=3d3cec3a-8cf0-11e0-98ee-%012x" % (0x001a00000000 + h.index),
                "allow 1024-65535 %s.0/24 1024-65535" % h.lan, "deny 0-65535 0.0.0.0/0 0-65535", ""]))
        log = open(os.path.join(d, "miniupnpd.log"), "w")
        p = self.popen(h.router, ["miniupnpd", "-d", "-f", conf, "-P", os.path.join(d, "miniupnpd.pid")],
                       stdout=log, stderr=subprocess.STDOUT)
        # ready once it listens for NAT-PMP on the LAN
        end = time.time() + 10
        while time.time() < end:
            if p.poll() is not None:
                raise RuntimeError("miniupnpd in %s exited: %s" % (h.router, open(log.name).read()[-800:]))
            r = self.cmd(h.router, ["ss", "-lun"])
            if ":5351" in r.stdout:
                return
            time.sleep(0.1)
        raise RuntimeError("miniupnpd in %s never listened: %s" % (h.router, open(log.name).read()[-800:]))

    def _probe(self):
        """Each host reaches the core: pings through its link until one answers (the link may lose
        some), all hosts at once."""
        ps = [(h, subprocess.Popen(["ip", "netns", "exec", h.ns, "ping", "-n", "-q", "-c", "1", "-i", "0.05", "-w", "5",
                                    h.core_ip], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
              for h in self.hosts]
        bad = [(h, p.communicate()[0]) for h, p in ps if p.wait() != 0]
        if bad:
            raise RuntimeError("cannot reach the core: " + "; ".join("%s: %s" % (h.name, o.strip()[-200:])
                                                                     for h, o in bad))

    # --- stats and teardown -----------------------------------------------------------------
    def netlink_stats(self):
        """The emulator's per-link counters now ({"links": [{"name", "ab": {...}, "ba": {...}}]};
        ab = the host's upload, ba = its download)."""
        if not self.netlink or self.netlink.poll() is not None:
            return None
        try:
            old = os.stat(self.stats_path).st_mtime_ns
        except FileNotFoundError:
            old = 0
        self.netlink.send_signal(signal.SIGUSR1)
        end = time.time() + 2
        while time.time() < end:
            try:
                if os.stat(self.stats_path).st_mtime_ns != old:
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.02)
        with open(self.stats_path) as f:
            return json.load(f)

    def down(self):
        """Remove everything: processes in our namespaces, ts-netlink, the namespaces, the workdir."""
        if self._down:
            return
        self._down = True
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for ns in reversed(self.namespaces):
            _kill_ns(ns)
        for p in self.procs:
            try:
                p.wait(timeout=2)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.netlink and self.netlink.poll() is None:
            self.netlink.terminate()
            try:
                self.netlink.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.netlink.kill()
                self.netlink.wait()
            # its complaints (a sanitizer's included) outlive the workdir
            err = open(os.path.join(self.workdir, "netlink.err")).read()
            if err.strip():
                sys.stderr.write("ts-netlink: " + err)
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.namespaces = []
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def check(self, **kw):
        sys.path.insert(0, HERE)
        from tbcheck import check
        return check(self, **kw)


def clean(prefix):
    """Remove what a killed run with PREFIX left: its ts-netlink, its namespaces and their processes."""
    if len(prefix) < 3:
        raise SystemExit("refusing a prefix shorter than 3 characters")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"ts-netlink") and any(("/" + prefix).encode() in a for a in argv):
            os.kill(int(pid), signal.SIGKILL)
    names = [ln.split()[0] for ln in _run(["ip", "netns", "list"]).stdout.splitlines() if ln.strip()]
    gone = [n for n in names if n.startswith(prefix)]
    for ns in gone:
        _kill_ns(ns)
    for ns in gone:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    for d in os.listdir("/tmp"):
        if d.startswith(prefix):
            shutil.rmtree(os.path.join("/tmp", d), ignore_errors=True)
    return gone


def serve(spec_path, state_path):
    """For shell scenarios (tests/net/): the net lives as long as this process."""
    with open(spec_path) as f:
        spec = json.load(f)
    tb = Testbed(prefix=spec["prefix"], seed=spec.get("seed", 1))
    for h in spec["hosts"]:
        kw = dict(h)
        tb.add_host(kw.pop("name"), **kw)
    tb.up()
    state = {"prefix": tb.prefix, "core": tb.core, "netlink_pid": tb.netlink.pid, "hosts": {
        h.name: {"ns": h.ns, "ip": h.ip, "public_ip": h.public_ip, "router": h.router} for h in tb.hosts}}
    with open(state_path + ".tmp", "w") as f:
        json.dump(state, f, indent=1)
    os.rename(state_path + ".tmp", state_path)
    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, f: stop.append(s))
    parent = os.getppid()
    while not stop and os.getppid() == parent:   # also ends when the script that started it dies
        time.sleep(0.2)
    st = tb.netlink_stats()
    if st:
        with open(state_path + ".netlink.json", "w") as f:
            json.dump(st, f, indent=1)
    tb.down()
    return 0


def main(argv):
    if len(argv) == 3 and argv[0] == "--serve":
        return serve(argv[1], argv[2])
    if len(argv) >= 2 and argv[0] == "--clean":
        print(json.dumps({"removed": clean(argv[1])}))
        return 0
    if argv and argv[0] in ("--selftest", "--load"):
        sys.path.insert(0, HERE)
        import tbcheck
        return tbcheck.main(argv)
    print(__doc__, file=sys.stderr)
    return 100


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
