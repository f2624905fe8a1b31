#!/usr/bin/python3
"""Long-running hostile peers that stall a viewer without ever sending a bad piece (issue 13).

    liarpeer.py --tstream F --mode withhold|stale|edge-lie|freerider --source HOST:PORT
                [--target HOST:PORT] --bind IP [--count K] --duration S [--report FILE]
                [--ahead A] [--no-listen] [--retry S] [--quiet]

Each liar is one peer id on its own address (--bind, then the next K-1 addresses: 127.0.0.60,
.61, ...). It speaks the protocol of docs/PROTOCOL.md sections 4-5 exactly (handshake with the
BEP 10 bit, extension handshake with `m`/`ts_live`, `p`, `ts_edge`/`ts_rap`, a bitfield read
against its announced edge, HAVE index = seq mod N read against the receiver's edge), so nothing
it sends can be refused as malformed; what it lies about is what it holds and where the edge is.

--source is the broadcaster's peer port. One connection there (from --bind) learns the real
edge: from the broadcaster's extension handshake, its `ts_live` at every random-access piece and
its HAVEs, extrapolated at the rate the `ts_live` edges advance (the broadcaster tells most peers
of a piece only after 1 s, so HAVEs alone lag). In `stale` mode it also downloads every piece.

--target is the victim viewer's peer port: each liar dials it, and dials again whenever the
victim drops it (a dropped attacker comes back), until --duration is over. Unless --no-listen,
each liar also listens on its address and announces that port (`p`), so the victim may dial it.

Modes:
  withhold   bitfield of all ones relative to an edge --ahead (3) seqs past the real edge, and a
             HAVE for every seq as the real edge advances, kept --ahead seqs ahead; unchokes;
             answers no request.
  stale      holds genuine pieces downloaded from --source; advertises (bitfield, HAVEs) each
             piece s it holds whose s-N it holds too, and answers a request for s with the genuine
             piece s-N (N = npieces: one window older, same index). The victim must first hold the
             pieces around s, so s-N is a replay it must reject.
  edge-lie   extension handshake with ts_edge = ts_rap = real edge + N/2 - 2, bitfield of all ones,
             a fresh ts_live lie (edge = rap = real edge + N/2 - 2) whenever the broadcaster states
             a new random-access point, HAVEs --ahead seqs past the real edge; serves nothing.
  freerider  connects only to --source (K connections with --count K): requests every piece it
             hears of, never sends a HAVE or a bitfield, never serves (--target is not used).

The report (printed at the end, and with --report written as JSON every second and at the end)
tells, per liar: every connection (direction, when it opened and closed, who closed it, requests
received, pieces sent, HAVEs and ts_live sent), every dial and its outcome (accepted, refused: the
victim closed before answering the handshake, as it does for a banned address; unreachable), and
for the source connection(s) the edge seen and, for freeriders, how each HAVE of the broadcaster
arrived: at once (within 0.5 s of the piece's timestamp: it was among the first told) or late.
Exit 0 once --duration is over, 2 on a usage or setup error.
"""
import argparse
import collections
import json
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evilpeer import Closed, Peer, bdecode, bencode, load_meta, trailer  # noqa: E402

LIVE_ID = 1            # our id for ts_live in `m`
MAX_SRC_REQS = 16      # requests outstanding to the broadcaster (it queues 64 per peer; more is junk)
EARLY_S = 0.5          # a HAVE this soon after the piece's timestamp: we were among the first told
T0 = time.monotonic()


def now():
    return time.monotonic() - T0


def seq_for_index(index, ref, n):
    """The seq a HAVE index names, read against `ref` (PROTOCOL.md section 4)."""
    lo = ref - n // 2 + 1 if ref >= n // 2 else 0
    return lo + (index - lo) % n


def newest_le(edge, index, n):
    """Bitfield reading: the newest seq <= edge with that index, or None."""
    s = edge - (edge - index) % n
    return s if s >= 0 else None


class Conn(Peer):
    """evilpeer's Peer around an already connected socket, with a send lock (reader and driver
    threads both write)."""

    def __init__(self, meta, sock):
        self.meta = meta
        self.s = sock
        self.buf = b''
        self.has = {}
        self.edge = None
        self.lock = threading.Lock()

    def send(self, data):
        with self.lock:
            try:
                self.s.sendall(data)
            except OSError as e:
                raise Closed(str(e))

    def read_msg(self):
        try:
            return Peer.read_msg(self)
        except OSError as e:
            raise Closed(type(e).__name__)

    def close(self):
        try:
            self.s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.s.close()


def handshake(conn, meta, peer_id, outgoing):
    """BitTorrent handshake with the BEP 10 bit. Returns the remote's 68 bytes; raises Closed if the
    remote closes before answering (refused)."""
    reserved = bytearray(8)
    reserved[5] |= 0x10
    mine = b'\x13BitTorrent protocol' + bytes(reserved) + meta['infohash'] + peer_id
    if outgoing:
        conn.send(mine)
    h = conn.read_exact(68)
    if h[:20] != b'\x13BitTorrent protocol' or h[28:48] != meta['infohash']:
        raise Closed('bad handshake from the remote')
    if not outgoing:
        conn.send(mine)
    return h


def ext_msg(conn, ext_id, d):
    conn.msg(20, bytes([ext_id]) + bencode(d))


def bitfield_bytes(n, seqs):
    bits = bytearray((n + 7) // 8)
    for s in seqs:
        i = s % n
        bits[i // 8] |= 0x80 >> (i % 8)
    return bytes(bits)

# ------------------------------------------------------------------ the broadcaster's side


class SourceView:
    """One connection to the broadcaster: where the real edge is; optionally downloads pieces."""

    def __init__(self, meta, addr, bind, deadline, download=False, backfill=False, keep=None,
                 freerider=False, log=None):
        self.meta, self.addr, self.bind, self.deadline = meta, addr, bind, deadline
        self.n = meta['npieces']
        self.download, self.backfill, self.freerider = download, backfill, freerider
        self.keep = keep or 2 * self.n + 32
        self.lock = threading.Lock()
        self.ref = None           # highest seq the broadcaster announced
        self.rap = None           # newest random-access seq it stated
        self.live_pts = collections.deque(maxlen=16)   # (t, edge) of its ts_live messages
        self.pieces = {}          # seq -> wire piece (download)
        self.raps = set()         # seqs held that are random-access pieces
        self.heard = set()        # seqs announced to us, not yet requested
        self.outstanding = {}     # index -> time requested
        self.have_at = {}         # seq -> (t, wall) of the HAVE that named it
        self.log = log or (lambda *a: None)
        self.stats = {'bind': bind, 'connects': 0, 'disconnects': [], 'haves_received': 0,
                      'requests_sent': 0, 'pieces_received': 0, 'early_haves': 0, 'late_haves': 0,
                      'early_by_10s': {}, 'late_by_10s': {}, 'edge': None, 'ts_live_received': 0,
                      'haves_sent': 0, 'bitfields_sent': 0, 'pieces_served': 0, 'requests_from_source': 0}
        self.listeners = []       # callables run (outside the lock) when a new piece is stored
        self.peer_id = b'-LP0001-' + os.urandom(12)
        self.thread = threading.Thread(target=self.run, daemon=True)

    # -- edge model
    def model_edge(self, t=None):
        """Best estimate of the broadcaster's newest seq now."""
        t = now() if t is None else t
        with self.lock:
            if self.ref is None:
                return None
            e = self.ref
            pts = list(self.live_pts)
        if len(pts) >= 2:
            (t0, e0), (t1, e1) = pts[0], pts[-1]
            if t1 - t0 > 1.0 and e1 > e0:
                rate = (e1 - e0) / (t1 - t0)
                e = max(e, int(e1 + rate * min(t - t1, 3.0)))
        return e

    def stated_rap(self):
        with self.lock:
            return self.rap

    def _announce(self, seq, t=None):
        """The broadcaster announced seq (handshake edge, bitfield, HAVE, ts_live)."""
        if self.ref is None or seq > self.ref:
            self.ref = seq
            self.stats['edge'] = seq
        if self.download and seq not in self.pieces:
            self.heard.add(seq)

    def run(self):
        while now() < self.deadline:
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind((self.bind, 0))
                s.settimeout(10)
                s.connect(self.addr)
            except OSError as e:
                self.log('source %s:%d: %s' % (self.addr[0], self.addr[1], e))
                time.sleep(1)
                continue
            conn = Conn(self.meta, s)
            try:
                handshake(conn, self.meta, self.peer_id, True)
                s.settimeout(None)
                ext_msg(conn, 0, {b'm': {b'ts_live': LIVE_ID}, b'v': b'liarpeer 0.1'})
                if self.download:
                    conn.msg(2)  # interested
                self.stats['connects'] += 1
                self.session(conn)
            except Closed as e:
                self.stats['disconnects'].append([round(now(), 2), str(e)])
                self.log('source connection closed: %s' % e)
            finally:
                conn.close()
                with self.lock:
                    self.outstanding.clear()
            time.sleep(1)

    def session(self, conn):
        stop = threading.Event()
        threading.Thread(target=self.requester, args=(conn, stop), daemon=True).start()
        threading.Thread(target=self.closer, args=(conn, stop), daemon=True).start()
        try:
            while True:
                mid, p = conn.read_msg()
                self.on_msg(conn, mid, p)
        finally:
            stop.set()

    def closer(self, conn, stop):
        while not stop.wait(0.2):
            if now() >= self.deadline:
                conn.close()
                return

    def on_msg(self, conn, mid, p):
        n = self.n
        new = []
        with self.lock:
            if mid == 4:
                self.stats['haves_received'] += 1
                idx = struct.unpack('>I', p)[0]
                if self.ref is not None:
                    seq = seq_for_index(idx, self.ref, n)
                    self.have_at.setdefault(seq, (now(), time.time()))
                    self._announce(seq)
            elif mid == 5 and self.ref is not None:
                # stale: all it will serve (a tstream peer reads a request's index against its
                # edge within +- N/2, so older pieces cannot be asked for); a freerider: what is new
                lo = self.ref - n // 2 + 8 if self.backfill else self.ref - 8
                for i in range(n):
                    if p[i // 8] & (0x80 >> (i % 8)):
                        s = newest_le(self.ref, i, n)
                        if s is not None and s >= lo:
                            self._announce(s)
            elif mid == 6:
                self.stats['requests_from_source'] += 1  # never served
            elif mid == 7:
                idx = struct.unpack('>I', p[:4])[0]
                data = p[8:]
                self.outstanding.pop(idx, None)
                t = trailer(data)
                seq = t['seq']
                self.stats['pieces_received'] += 1
                self.heard.discard(seq)
                if seq in self.have_at:
                    tt, wall = self.have_at.pop(seq)
                    key = str(int(tt // 10) * 10)
                    early = wall - t['ts'] / 1e6 < EARLY_S
                    self.stats['early_haves' if early else 'late_haves'] += 1
                    d = self.stats['early_by_10s' if early else 'late_by_10s']
                    d[key] = d.get(key, 0) + 1
                if not self.freerider and seq % n == idx:
                    self.pieces[seq] = data
                    if t['flags'] & 1:
                        self.raps.add(seq)
                    if self.ref is None or seq > self.ref:
                        self.ref = seq
                    for old in [k for k in self.pieces if k + self.keep < self.ref]:
                        del self.pieces[old]
                        self.raps.discard(old)
                    new.append(seq)
                for old in [k for k in self.have_at if self.ref is not None and k + 2 * n < self.ref]:
                    del self.have_at[old]
            elif mid == 20 and p[:1] == b'\x00':
                d, _ = bdecode(p[1:])
                if b'ts_edge' in d:
                    self.rap = d[b'ts_rap']
                    self.live_pts.append((now(), d[b'ts_edge']))
                    self._announce(d[b'ts_edge'])
            elif mid == 20 and p[:1] == bytes([LIVE_ID]):
                d, _ = bdecode(p[1:])
                self.stats['ts_live_received'] += 1
                self.rap = max(self.rap or 0, d[b'rap'])
                self.live_pts.append((now(), d[b'edge']))
                self._announce(d[b'edge'])
        for seq in new:
            for f in self.listeners:
                f(seq)

    def requester(self, conn, stop):
        """Keep up to MAX_SRC_REQS requests outstanding, oldest announced first."""
        while not stop.wait(0.02):
            if not self.download:
                continue
            out = []
            with self.lock:
                t = now()
                for idx, at in list(self.outstanding.items()):
                    if t - at > 10:
                        del self.outstanding[idx]
                if self.ref is not None:
                    # beyond what the broadcaster serves (half a window back): asking would be junk
                    self.heard = {s for s in self.heard if s + self.n // 2 - 4 > self.ref and s not in self.pieces}
                for s in sorted(self.heard):
                    if len(self.outstanding) >= MAX_SRC_REQS:
                        break
                    if s % self.n in self.outstanding:
                        continue
                    self.outstanding[s % self.n] = t
                    self.heard.discard(s)
                    out.append(s % self.n)
                self.stats['requests_sent'] += len(out)
            if out:
                try:
                    conn.send(b''.join(struct.pack('>IBIII', 13, 6, i, 0, self.meta['piece_len']) for i in out))
                except Closed:
                    return

    # -- stale mode helpers
    def held(self, seq):
        with self.lock:
            return self.pieces.get(seq)

    def stale_ready(self):
        """Seqs s held whose s - N is held too, ascending."""
        with self.lock:
            return sorted(s for s in self.pieces if s - self.n in self.pieces)

    def newest_rap_le(self, seq):
        with self.lock:
            r = [s for s in self.raps if s <= seq]
        return max(r) if r else None

# ------------------------------------------------------------------ the victim's side


class Session:
    """One connection between a liar and the victim."""

    def __init__(self, liar, sock, outgoing):
        self.liar, self.outgoing = liar, outgoing
        self.conn = Conn(liar.meta, sock)
        self.rec = {'dir': 'out' if outgoing else 'in', 'opened': round(now(), 2), 'closed': None,
                    'closed_by': None, 'reason': None, 'requests': 0, 'distinct_requested': 0,
                    'first_request': None, 'last_request': None, 'cancels': 0, 'pieces_sent': 0,
                    'haves_sent': 0, 'ts_live_sent': 0, 'claimed_edge': None, 'victim_edge': None}
        self.requested = set()
        self.victim_live_id = LIVE_ID
        self.victim_edge = None
        self.claimed_to = None    # newest seq claimed to this victim (bitfield edge, then HAVEs)
        self.lie = None
        self.last_live = -1.0
        self.closing = False
        self.lock = threading.Lock()

    def run(self):
        liar = self.liar
        c = self.conn
        try:
            c.s.settimeout(10)
            handshake(c, liar.meta, liar.peer_id, self.outgoing)
            c.s.settimeout(None)
        except (Closed, OSError) as e:
            c.close()
            return 'refused: %s' % e
        liar.sessions.append(self.rec)
        reader = threading.Thread(target=self.reader, daemon=True)
        try:
            liar.mode.open(self)
            reader.start()
            while reader.is_alive() and now() < liar.deadline:
                liar.mode.tick(self)
                reader.join(0.05)
        except Closed as e:
            self.end('victim', str(e))
        except Exception as e:  # a bug here must show, not hang the session
            liar.log('%s: session error %r' % (liar.ip, e))
            self.end('self', 'error: %r' % e)
        if reader.is_alive():
            self.end('self', 'duration over')
        c.close()
        reader.join(2)
        return 'accepted'

    def end(self, by, why):
        with self.lock:
            if self.rec['closed'] is None:
                self.rec['closed'] = round(now(), 6)  # µs: compared with dial times below
                self.rec['closed_by'] = by
                self.rec['reason'] = why
                self.closing = True

    def reader(self):
        n = self.liar.meta['npieces']
        try:
            while True:
                mid, p = self.conn.read_msg()
                if mid == 6:
                    idx = struct.unpack('>I', p[:4])[0]
                    t = round(now(), 2)
                    with self.lock:
                        self.rec['requests'] += 1
                        self.requested.add(idx)
                        self.rec['distinct_requested'] = len(self.requested)
                        if self.rec['first_request'] is None:
                            self.rec['first_request'] = t
                        self.rec['last_request'] = t
                    self.liar.mode.on_request(self, idx)
                elif mid == 8:
                    with self.lock:
                        self.rec['cancels'] += 1
                elif mid == 20 and p[:1] == b'\x00':
                    d, _ = bdecode(p[1:])
                    m = d.get(b'm', {})
                    if isinstance(m, dict) and isinstance(m.get(b'ts_live'), int):
                        self.victim_live_id = m[b'ts_live']
                    if b'ts_edge' in d:
                        self.saw_victim_edge(d[b'ts_edge'])
                elif mid == 20 and p[:1] == bytes([LIVE_ID]):
                    d, _ = bdecode(p[1:])
                    self.saw_victim_edge(d[b'edge'])
                elif mid == 4 and self.victim_edge is not None:
                    self.saw_victim_edge(seq_for_index(struct.unpack('>I', p)[0], self.victim_edge, n))
        except Closed as e:
            if not self.closing:
                self.end('victim', str(e))
        except Exception as e:  # a bug here must show, not hang the session
            self.end('self', 'reader error: %r' % e)

    def saw_victim_edge(self, e):
        if self.victim_edge is None or e > self.victim_edge:
            self.victim_edge = e
            self.rec['victim_edge'] = e

    # -- what modes send
    def send_ext(self, edge, rap):
        d = {b'm': {b'ts_live': LIVE_ID}, b'v': b'liarpeer 0.1'}
        if self.liar.listen_port:
            d[b'p'] = self.liar.listen_port
        if edge is not None:
            d[b'ts_edge'] = edge
            d[b'ts_rap'] = rap
            self.claimed_to = edge
            self.rec['claimed_edge'] = edge
        ext_msg(self.conn, 0, d)

    def send_live(self, edge, rap):
        ext_msg(self.conn, self.victim_live_id, {b'edge': edge, b'rap': rap})
        self.rec['ts_live_sent'] += 1

    def send_haves(self, seqs):
        if seqs:
            n = self.liar.meta['npieces']
            self.conn.send(b''.join(struct.pack('>IBI', 5, 4, s % n) for s in seqs))
            self.rec['haves_sent'] += len(seqs)
            self.claimed_to = seqs[-1]
            self.rec['claimed_edge'] = seqs[-1]

    def have_cap(self):
        """HAVEs are read against the victim's edge within +- N/2: claim no further, or they
        would be read as older seqs."""
        n = self.liar.meta['npieces']
        return None if self.victim_edge is None else self.victim_edge + n // 2 - 2


class Withhold:
    """Claim every piece a few seqs ahead of the real edge; answer nothing."""

    def __init__(self, a, src):
        self.ahead, self.src = a.ahead, src

    def ready(self):
        return self.src.model_edge() is not None and self.src.stated_rap() is not None

    def open(self, ss):
        n = ss.liar.meta['npieces']
        e = self.src.model_edge() + self.ahead
        ss.send_ext(e, min(self.src.stated_rap(), e))
        ss.conn.msg(5, b'\xff' * (n // 8) + (bytes([(0xff << (8 - n % 8)) & 0xff]) if n % 8 else b''))
        ss.conn.msg(1)  # unchoke
        ss.rap_told = self.src.stated_rap()

    def tick(self, ss):
        e = self.src.model_edge()
        if e is None:
            return
        want = e + self.ahead
        cap = ss.have_cap()
        if cap is not None:
            want = min(want, cap)
        rap = self.src.stated_rap()
        if rap is not None and rap != ss.rap_told and rap <= max(want, ss.claimed_to):
            ss.send_live(max(want, ss.claimed_to), rap)   # ts_live before the HAVE of a new RAP, as peers do
            ss.rap_told = rap
        if want > ss.claimed_to:
            ss.send_haves(list(range(ss.claimed_to + 1, min(want, ss.claimed_to + 64) + 1)))

    def on_request(self, ss, idx):
        pass


class EdgeLie:
    """Claim an edge N/2 - 2 past the real one (and a random-access point there) and every piece;
    serve nothing. The lie is renewed, as peers send ts_live, whenever the broadcaster states a new
    random-access point; HAVEs go --ahead seqs past the real edge, as a withholder's (a HAVE
    placed at the lie would be read as an old seq)."""

    def __init__(self, a, src):
        self.ahead, self.src = a.ahead, src

    def ready(self):
        return self.src.model_edge() is not None

    def lie(self, ss):
        return self.src.model_edge() + ss.liar.meta['npieces'] // 2 - 2

    def open(self, ss):
        n = ss.liar.meta['npieces']
        L = self.lie(ss)
        ss.send_ext(L, L)
        ss.claimed_to = self.src.model_edge() + self.ahead  # HAVEs continue from the real edge
        ss.lie = L
        ss.rap_told = self.src.stated_rap()
        ss.conn.msg(5, b'\xff' * (n // 8) + (bytes([(0xff << (8 - n % 8)) & 0xff]) if n % 8 else b''))
        ss.conn.msg(1)

    def tick(self, ss):
        rap = self.src.stated_rap()
        if rap != ss.rap_told:
            L = self.lie(ss)
            ss.send_live(L, L)
            ss.lie = max(ss.lie, L)
            ss.rap_told = rap
        want = self.src.model_edge() + self.ahead
        cap = ss.have_cap()
        if cap is not None:
            want = min(want, cap)
        if want > ss.claimed_to:
            ss.send_haves(list(range(ss.claimed_to + 1, min(want, ss.claimed_to + 64) + 1)))

    def on_request(self, ss, idx):
        pass


class Stale:
    """Advertise genuine pieces; answer a request for seq s with the genuine piece s - N."""

    def __init__(self, a, src):
        self.src = src

    def ready(self):
        return bool(self.src.stale_ready())

    def open(self, ss):
        n = ss.liar.meta['npieces']
        ready = self.src.stale_ready()
        e = ready[-1]
        rap = self.src.newest_rap_le(e)
        ss.send_ext(e, rap if rap is not None else ready[0])
        ss.conn.msg(5, bitfield_bytes(n, [s for s in ready if s > e - n]))
        ss.conn.msg(1)
        ss.rap_told = rap

    def tick(self, ss):
        cap = ss.have_cap()
        new = [s for s in self.src.stale_ready() if s > ss.claimed_to and (cap is None or s <= cap)][:64]
        for s in new:
            rap = self.src.newest_rap_le(s)
            if rap == s and rap != ss.rap_told:
                ss.send_live(s, s)
                ss.rap_told = s
            ss.send_haves([s])

    def on_request(self, ss, idx):
        n = ss.liar.meta['npieces']
        if ss.claimed_to is None:
            return
        s = newest_le(ss.claimed_to, idx, n)  # what we advertised under that index
        old = self.src.held(s - n) if s is not None else None
        if old is None:
            return
        ss.conn.msg(7, struct.pack('>II', idx, 0) + old)
        with ss.lock:
            ss.rec['pieces_sent'] += 1
            ss.liar.stats['stale_sent'] += 1


MODES = {'withhold': Withhold, 'stale': Stale, 'edge-lie': EdgeLie}


class Liar:
    """One hostile peer id on its own address, dialling the victim for the whole duration."""

    def __init__(self, a, meta, ip, mode, deadline, log):
        self.meta, self.ip, self.mode, self.deadline, self.log = meta, ip, mode, deadline, log
        self.target = a.target
        self.retry = a.retry
        self.peer_id = b'-LP0001-' + os.urandom(12)
        self.sessions = []
        self.dials = []           # [t, outcome]
        self.stats = {'stale_sent': 0}
        self.listen_port = 0
        self.lsock = None
        if a.listen:
            self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.lsock.bind((ip, 0))
            self.lsock.listen(16)
            self.lsock.settimeout(0.5)
            self.listen_port = self.lsock.getsockname()[1]

    def start(self):
        threading.Thread(target=self.dialer, daemon=True).start()
        if self.lsock:
            threading.Thread(target=self.acceptor, daemon=True).start()

    def dialer(self):
        while now() < self.deadline and not self.mode.ready():
            time.sleep(0.1)
        ever = False
        while now() < self.deadline:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            # µs, not 10 ms: a session dialled, accepted and dropped within 10 ms would otherwise
            # count its own dial as a redial after the drop.
            t = round(now(), 6)
            try:
                s.bind((self.ip, 0))
                s.settimeout(5)
                s.connect(self.target)
            except OSError as e:
                s.close()
                if ever:  # the victim's port was seen open before: record it
                    self.dials.append([t, 'unreachable: %s' % e])
                time.sleep(0.2 if not ever else self.retry)
                continue
            ever = True
            outcome = Session(self, s, True).run()
            self.dials.append([t, outcome.split(':')[0]])
            if outcome != 'accepted':
                self.log('%s: dial refused (%s)' % (self.ip, outcome))
            time.sleep(self.retry)

    def acceptor(self):
        while now() < self.deadline:
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=lambda: Session(self, s, False).run(), daemon=True).start()
        self.lsock.close()

    def summary(self):
        recs = list(self.sessions)
        dropped = [r for r in recs if r['closed_by'] == 'victim']
        first_drop = min((r['closed'] for r in dropped), default=None)
        after = [d for d in self.dials if first_drop is not None and d[0] > first_drop]
        return {
            'ip': self.ip, 'listen_port': self.listen_port,
            'connections': len(recs),
            'requests_received': sum(r['requests'] for r in recs),
            'pieces_sent': sum(r['pieces_sent'] for r in recs),
            'stale_sent': self.stats['stale_sent'],
            'haves_sent': sum(r['haves_sent'] for r in recs),
            'disconnected_by_victim': len(dropped),
            'first_disconnect': first_drop,
            'dials': len(self.dials),
            'dials_refused': sum(1 for d in self.dials if d[1] == 'refused'),
            'dials_accepted': sum(1 for d in self.dials if d[1] == 'accepted'),
            'dials_after_first_disconnect': len(after),
            'refused_after_first_disconnect': sum(1 for d in after if d[1] == 'refused'),
            'accepted_after_first_disconnect': sum(1 for d in after if d[1] == 'accepted'),
            'sessions': recs, 'dial_log': self.dials[-200:],
        }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--tstream', required=True)
    ap.add_argument('--mode', required=True, choices=['withhold', 'stale', 'edge-lie', 'freerider'])
    ap.add_argument('--target', help='HOST:PORT of the victim viewer (not for freerider)')
    ap.add_argument('--source', required=True, help="HOST:PORT of the broadcaster's peer port")
    ap.add_argument('--bind', default='127.0.0.60', help='address of the first liar (127/8, not 127.0.0.1)')
    ap.add_argument('--count', type=int, default=1, help='liars, on --bind and the next addresses')
    ap.add_argument('--duration', type=float, required=True, help='seconds to keep attacking')
    ap.add_argument('--report', help='write the report here as JSON (every second and at the end)')
    ap.add_argument('--ahead', type=int, default=3, help='withhold: claims this many seqs past the real edge')
    ap.add_argument('--retry', type=float, default=1.0, help='seconds between dials after a drop or refusal')
    ap.add_argument('--no-listen', dest='listen', action='store_false', help='do not accept connections')
    ap.add_argument('--quiet', action='store_true')
    a = ap.parse_args()

    def hp(v, what):
        try:
            h, p = v.rsplit(':', 1)
            return (h, int(p))
        except (AttributeError, ValueError):
            ap.error('%s must be HOST:PORT' % what)
    try:
        meta = load_meta(a.tstream)
    except (OSError, KeyError, ValueError) as e:
        print('liarpeer: cannot read %s: %s' % (a.tstream, e), file=sys.stderr)
        return 2
    source = hp(a.source, '--source')
    if a.mode != 'freerider':
        a.target = hp(a.target, '--target')
    if a.count < 1 or a.count > 200:
        ap.error('--count 1..200')
    base = [int(x) for x in a.bind.split('.')]
    if len(base) != 4 or base[0] != 127 or base[3] + a.count - 1 > 254:
        ap.error('--bind must be a 127/8 address leaving room for --count addresses')
    ips = ['127.%d.%d.%d' % (base[1], base[2], base[3] + k) for k in range(a.count)]
    deadline = a.duration
    log = (lambda *m: None) if a.quiet else (lambda m: print('[liarpeer %6.1f] %s' % (now(), m), file=sys.stderr, flush=True))
    n = meta['npieces']

    if a.mode == 'freerider':
        views = [SourceView(meta, source, ip, deadline, download=True, backfill=False, freerider=True, log=log)
                 for ip in ips]
        liars = []
    else:
        stale = a.mode == 'stale'
        views = [SourceView(meta, source, ips[0], deadline, download=stale, backfill=stale, log=log)]
        try:
            liars = [Liar(a, meta, ip, MODES[a.mode](a, views[0]), deadline, log) for ip in ips]
        except OSError as e:
            print('liarpeer: cannot listen: %s' % e, file=sys.stderr)
            return 2
    for v in views:
        v.thread.start()
    for li in liars:
        li.start()

    def report():
        r = {'mode': a.mode, 'npieces': n, 'duration': a.duration, 'elapsed': round(now(), 2),
             'started_wall': round(time.time() - now(), 3),
             'target': '%s:%d' % a.target if isinstance(a.target, tuple) else a.target, 'source': '%s:%d' % source,
             'liars': [li.summary() for li in liars],
             'source_connections': [dict(v.stats) for v in views]}
        return r

    def write(r):
        if a.report:
            tmp = a.report + '.tmp'
            with open(tmp, 'w') as f:
                json.dump(r, f, indent=1, default=list)
            os.replace(tmp, a.report)

    while now() < deadline:
        time.sleep(min(1.0, max(0.05, deadline - now())))
        write(report())
    time.sleep(0.3)
    r = report()
    write(r)
    for li in r['liars']:
        print('%s %s: %d connection(s), %d requests received, %d pieces sent, dropped by the victim %d time(s)%s; '
              'dials after the first drop: %d accepted, %d refused'
              % (a.mode, li['ip'], li['connections'], li['requests_received'], li['pieces_sent'],
                 li['disconnected_by_victim'],
                 ' (first after %.1f s)' % li['first_disconnect'] if li['first_disconnect'] is not None else '',
                 li['accepted_after_first_disconnect'], li['refused_after_first_disconnect']))
    for v in r['source_connections']:
        print('%s %s at the broadcaster: edge %s, %d HAVEs, %d pieces downloaded (%d announced to us at once, '
              '%d late), %d disconnect(s)'
              % (a.mode, v['bind'], v['edge'], v['haves_received'], v['pieces_received'], v['early_haves'],
                 v['late_haves'], len(v['disconnects'])))
    sys.stdout.flush()
    os._exit(0)  # daemon threads may be blocked in reads


if __name__ == '__main__':
    sys.exit(main())
