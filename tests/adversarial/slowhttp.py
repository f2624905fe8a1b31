#!/usr/bin/python3
"""Hostile HTTP clients against a player-bridge (tests/adversarial/slow_http_clients.sh).

  hold      COUNT clients send a GET for the stream and never read, until RELEASE exists; then
            each is drained to its end: the bridge must have closed it (EOF), not kept it open.
  slowloris COUNT clients send a request head one byte every INTERVAL seconds, never finishing;
            reports when the bridge closed each of them.
  burst     COUNT clients send a whole GET at once and read the status line, then close:
            every one must be answered (200, or 503 past the player limit) or closed, none left
            hanging.
  flood     COUNT connections that send nothing: the bridge must close every one of them.

Each mode prints one summary line of key=value pairs and exits 1 if an expectation failed.
Standard library only (runs under /usr/bin/python3)."""
import argparse
import os
import select
import socket
import sys
import time
import urllib.parse


def target(url):
    u = urllib.parse.urlsplit(url)
    return (u.hostname, u.port or 80), u.path or "/"


def request(path, host):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: slowhttp\r\n\r\n" % (path, host)).encode()


def connect(addr, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(addr)
    return s


def closed_by_peer(s):
    """Non-blocking: has the bridge closed s? Reads (and discards) whatever is there."""
    try:
        while True:
            d = s.recv(65536, socket.MSG_DONTWAIT)
            if not d:
                return True
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:  # ECONNRESET
        return True


def mode_hold(a, addr, path):
    # A small receive buffer: the client's window closes after a few KiB, as a stalled player's does.
    socks = []
    for _ in range(a.count):
        s = connect(addr, rcvbuf=4096)
        s.sendall(request(path, "%s:%d" % addr))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    with open(a.ports, "w") as f:
        f.write("\n".join(str(p) for p in ports) + "\n")
    print("hold: %d clients connected, not reading" % len(socks), flush=True)
    end = time.monotonic() + 300  # never outlive a test that failed without releasing us
    while not os.path.exists(a.release) and time.monotonic() < end:
        time.sleep(0.2)
    # Drain each: what the kernel still held, then EOF if the bridge dropped the client.
    closed = still_open = 0
    drained = 0
    for s in socks:
        s.settimeout(a.drain_timeout)
        try:
            while True:
                d = s.recv(1 << 20)
                if not d:
                    closed += 1
                    break
                drained += len(d)
        except socket.timeout:
            still_open += 1
        except OSError:
            closed += 1
        s.close()
    print("hold: closed_by_bridge=%d still_open=%d drained_bytes=%d" % (closed, still_open, drained))
    return 0 if still_open == 0 else 1


def mode_slowloris(a, addr, path):
    head = request(path, "%s:%d" % addr)[:-2]  # never the final empty line
    socks = {}
    t0 = time.monotonic()
    for _ in range(a.count):
        s = connect(addr)
        socks[s] = [time.monotonic(), 0]  # connected at, bytes sent
    if a.ports:
        with open(a.ports, "w") as f:
            f.write("\n".join(str(s.getsockname()[1]) for s in socks) + "\n")
    closed_after = []
    next_send = time.monotonic()
    end = t0 + a.limit
    while socks and time.monotonic() < end:
        now = time.monotonic()
        if now >= next_send:
            for s, st in list(socks.items()):
                try:
                    s.send(head[st[1] % len(head):st[1] % len(head) + 1])
                    st[1] += 1
                except OSError:
                    pass  # noticed as closed below
            next_send = now + a.interval
        r, _, _ = select.select(list(socks), [], [], 0.2)
        for s in r:
            if closed_by_peer(s):
                closed_after.append(time.monotonic() - socks.pop(s)[0])
                s.close()
    for s in socks:
        s.close()
    print("slowloris: closed=%d open_after_%ds=%d first_close_s=%.1f last_close_s=%.1f"
          % (len(closed_after), a.limit, len(socks), min(closed_after, default=0), max(closed_after, default=0)))
    return 0 if not socks else 1


def mode_burst(a, addr, path):
    socks = []
    for _ in range(a.count):
        s = connect(addr)
        s.sendall(request(path, "%s:%d" % addr))
        socks.append(s)
    # Every client stays connected until all have their answer, so no player slot frees up
    # during the burst: at most SERVER_MAX_STREAMS minus the players already there get a 200.
    counts = {}
    deadline = time.monotonic() + a.limit
    for s in socks:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        buf = b""
        try:
            while b"\r\n" not in buf:
                d = s.recv(4096)
                if not d:
                    break
                buf += d
            status = buf.split(b" ", 2)[1].decode() if buf.startswith(b"HTTP/1.1 ") else "closed"
        except socket.timeout:
            status = "hung"
        except OSError:
            status = "closed"  # reset: closed to make room for newer connections
        counts[status] = counts.get(status, 0) + 1
    for s in socks:
        s.close()
    other = sum(v for k, v in counts.items() if k not in ("200", "503", "closed", "hung"))
    print("burst: 200=%d 503=%d closed=%d other=%d hung=%d" % (counts.get("200", 0), counts.get("503", 0),
                                                               counts.get("closed", 0), other, counts.get("hung", 0)))
    return 0 if counts.get("hung", 0) == 0 and other == 0 else 1


def mode_flood(a, addr, path):
    socks = {}
    for _ in range(a.count):
        s = connect(addr)
        socks[s] = time.monotonic()
    closed_after = []
    end = time.monotonic() + a.limit
    while socks and time.monotonic() < end:
        r, _, _ = select.select(list(socks), [], [], 0.2)
        for s in r:
            if closed_by_peer(s):
                closed_after.append(time.monotonic() - socks.pop(s))
                s.close()
    for s in socks:
        s.close()
    print("flood: closed=%d open_after_%ds=%d last_close_s=%.1f"
          % (len(closed_after), a.limit, len(socks), max(closed_after, default=0)))
    return 0 if not socks else 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["hold", "slowloris", "burst", "flood"])
    p.add_argument("--url", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--ports", help="hold, slowloris: write the clients' local ports here")
    p.add_argument("--release", help="hold: drain and report once this file exists")
    p.add_argument("--drain-timeout", type=float, default=20, help="hold: seconds without a byte = still open")
    p.add_argument("--interval", type=float, default=2, help="slowloris: seconds between bytes")
    p.add_argument("--limit", type=int, default=60, help="seconds to wait for the bridge at most")
    a = p.parse_args()
    addr, path = target(a.url)
    sys.exit({"hold": mode_hold, "slowloris": mode_slowloris, "burst": mode_burst, "flood": mode_flood}[a.mode](
        a, addr, path))


if __name__ == "__main__":
    main()
