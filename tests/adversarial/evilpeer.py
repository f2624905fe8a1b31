#!/usr/bin/python3
"""A scripted hostile BitTorrent peer for tstream's adversarial tests (standard library only).

    evilpeer.py --tstream F --target HOST:PORT --bind IP --scenario NAME [--key KEY.pem]
    evilpeer.py ... --scenario flood-connections --count N
    evilpeer.py ... --scenario verify-flood --flood forged|dup|dup-badsig --count K --duration S

Each scenario connects from --bind (a 127/8 address of its own, so banning it spares the real
peers on 127.0.0.1), does one hostile thing, and then checks what a tstream peer must do about
it: close the connection, and refuse the same address for a while afterwards. Exit 0 when the
target behaved, 1 (with the reason) when it did not, 2 on a usage or setup error.

verify-flood makes the target spend signature checks from many addresses (issue 13, case 6):
K threads, each connecting from a fresh 127/8 address every time (rotating over 250 /24
prefixes: 127.B.P.H), completing the handshake and then sending
  forged      one validly shaped piece with a forged signature, for a seq just past the target's
              edge (one it does not hold yet, so only the signature can tell it is false);
  dup         up to 80 genuine pieces the target already holds (each a verification for a target
              that checks before it looks for a duplicate);
  dup-badsig  up to 80 pieces the target holds, byte for byte but for a broken signature;
and reconnecting as soon as the target closes (or after 2 s). For S seconds; then it prints one
line of counts: attempts (TCP connections made), handshakes (the target answered), pieces
written, closed (by the target), and the seconds it ran.
"""
import argparse
import hashlib
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

# ------------------------------------------------------------------ bencode


def bdecode(b, i=0):
    """Decode one value at b[i:]; returns (value, end). Dict values keep their raw span."""
    c = b[i:i + 1]
    if c == b'i':
        j = b.index(b'e', i)
        return int(b[i + 1:j]), j + 1
    if c == b'l':
        i += 1
        out = []
        while b[i:i + 1] != b'e':
            v, i = bdecode(b, i)
            out.append(v)
        return out, i + 1
    if c == b'd':
        i += 1
        out = {}
        while b[i:i + 1] != b'e':
            k, i = bdecode(b, i)
            start = i
            v, i = bdecode(b, i)
            out[k] = v
            out[(k, 'raw')] = b[start:i]
        return out, i + 1
    j = b.index(b':', i)
    n = int(b[i:j])
    return b[j + 1:j + 1 + n], j + 1 + n


def bencode(v):
    if isinstance(v, int):
        return b'i%de' % v
    if isinstance(v, bytes):
        return b'%d:%s' % (len(v), v)
    if isinstance(v, dict):
        return b'd' + b''.join(bencode(k) + bencode(v[k]) for k in sorted(v)) + b'e'
    raise TypeError(v)

# ------------------------------------------------------------------ wire


class Closed(Exception):
    pass


class Peer:
    def __init__(self, meta, target, bind, timeout=10.0):
        self.meta = meta
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.s.bind((bind, 0))
        self.s.settimeout(timeout)
        self.s.connect(target)
        self.buf = b''
        self.has = {}       # index -> True, from bitfield and HAVEs
        self.edge = None

    def send(self, data):
        try:
            self.s.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise Closed(str(e))

    def msg(self, mid, payload=b''):
        self.send(struct.pack('>IB', 1 + len(payload), mid) + payload)

    def handshake(self, ext=True):
        reserved = bytearray(8)
        if ext:
            reserved[5] |= 0x10
        self.send(b'\x13BitTorrent protocol' + bytes(reserved) + self.meta['infohash'] + os.urandom(20))
        h = self.read_exact(68)
        if h[28:48] != self.meta['infohash']:
            raise Closed('handshake with a wrong infohash')
        if ext:
            self.msg(20, b'\x00' + bencode({b'm': {b'ts_live': 1}, b'v': b'evilpeer'}))

    def read_exact(self, n):
        while len(self.buf) < n:
            try:
                d = self.s.recv(65536)
            except (ConnectionResetError, socket.timeout) as e:
                raise Closed(type(e).__name__)
            if not d:
                raise Closed('EOF')
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_msg(self):
        n = struct.unpack('>I', self.read_exact(4))[0]
        if n == 0:
            return None, b''
        body = self.read_exact(n)
        mid, p = body[0], body[1:]
        npieces = self.meta['npieces']
        if mid == 4:
            self.has[struct.unpack('>I', p)[0]] = True
        elif mid == 5:
            for i in range(npieces):
                if p[i // 8] & (0x80 >> (i % 8)):
                    self.has[i] = True
        elif mid == 20 and p[:1] == b'\x00':
            d, _ = bdecode(p[1:])
            if b'ts_edge' in d:
                self.edge = d[b'ts_edge']
            self.ext_m = d.get(b'm', {})
        return mid, p

    def fetch_piece(self, deadline=20.0):
        """Ask for a piece the target holds; returns (index, bytes) of a valid signed piece."""
        self.msg(2)  # interested
        end = time.time() + deadline
        asked = set()
        while time.time() < end:
            want = [i for i in self.has if i not in asked]
            if want:
                i = want[-1]
                asked.add(i)
                self.msg(6, struct.pack('>III', i, 0, self.meta['piece_len']))
            mid, p = self.read_msg()
            if mid == 7:
                return struct.unpack('>I', p[:4])[0], p[8:]
        raise Closed('target served no piece')

    def closed_by_target(self, wait):
        """True if the target closes the connection within `wait` seconds (reading all it sends)."""
        end = time.time() + wait
        self.s.settimeout(0.5)
        while time.time() < end:
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not d:
                return True
        return False

# ------------------------------------------------------------------ pieces


def trailer(piece):
    t = piece[-88:]
    version, flags, _, plen, seq, ts = struct.unpack('>BBHIQQ', t[:24])
    return {'flags': flags, 'payload_len': plen, 'seq': seq, 'ts': ts, 'head': t[:24], 'sig': t[24:]}


def der_to_raw(der):
    # SEQUENCE { INTEGER r, INTEGER s }
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7f)
    out = b''
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2:i + 2 + n].lstrip(b'\x00')
        out += v.rjust(32, b'\x00')
        i += 2 + n
    return out


def sign(key, infohash, head, payload):
    """ECDSA P-256/SHA-256 over the signed bytes of PROTOCOL.md section 2, as r||s."""
    with tempfile.NamedTemporaryFile() as f:
        f.write(b'tstream-piece-v1' + infohash + head + payload)
        f.flush()
        der = subprocess.run(['openssl', 'dgst', '-sha256', '-sign', key, f.name], check=True,
                             stdout=subprocess.PIPE).stdout
    return der_to_raw(der)

# ------------------------------------------------------------------ scenarios


def send_piece(p, index, data):
    p.msg(7, struct.pack('>II', index, 0) + data)


def sc_forged(p, a):
    i, piece = p.fetch_piece()
    bad = bytearray(piece)
    bad[-1] ^= 0x55  # inside the signature
    send_piece(p, i, bytes(bad))


def sc_bitflip(p, a):
    i, piece = p.fetch_piece()
    bad = bytearray(piece)
    bad[0] ^= 0x01  # first payload byte
    send_piece(p, i, bytes(bad))


def sc_wrong_index(p, a):
    i, piece = p.fetch_piece()
    send_piece(p, (i + 1) % p.meta['npieces'], piece)


def sc_equivocate(p, a):
    if not a.key:
        raise SystemExit('equivocate needs --key')
    i, piece = p.fetch_piece()
    t = trailer(piece)
    payload = bytearray(piece[:t['payload_len']])
    payload[len(payload) // 2] ^= 0xff
    sig = sign(a.key, p.meta['infohash'], t['head'], bytes(payload))
    send_piece(p, i, bytes(payload) + t['head'] + sig)


def sc_replay(p, a):
    # a piece fetched long ago (--old FILE, written by --save), now older than the window
    data = open(a.old, 'rb').read()
    t = trailer(data)
    send_piece(p, t['seq'] % p.meta['npieces'], data)


def sc_oversized(p, a):
    p.send(struct.pack('>IB', 0x7fffff00, 7) + b'\x00' * 64)


def sc_unknown_id(p, a):
    p.msg(99, b'hello')


def sc_truncated(p, a):
    p.send(struct.pack('>IB', 3, 4) + b'\x00\x00')  # a HAVE whose length leaves no room for the index


def sc_unfinished(p, a):
    p.send(struct.pack('>IB', 100, 7) + b'\x00' * 10)  # and never the rest


def sc_bitfield_size(p, a):
    p.msg(5, b'\xff' * ((p.meta['npieces'] + 7) // 8 + 3))


def sc_have_flood(p, a):
    n = p.meta['npieces']
    burst = b''.join(struct.pack('>IBI', 5, 4, i % n) for i in range(20000))
    for _ in range(5):
        p.send(burst)


def sc_request_flood(p, a):
    p.msg(2)
    burst = b''.join(struct.pack('>IBIII', 13, 6, i % p.meta['npieces'], 0, p.meta['piece_len'])
                     for i in range(20000))
    p.send(burst)


def md_id(p):
    """The target's id for ut_metadata, from its extension handshake (tells ours too)."""
    p.msg(20, b'\x00' + bencode({b'm': {b'ut_metadata': 9}}))
    end = time.time() + 10
    while time.time() < end and not getattr(p, 'ext_m', None):
        p.read_msg()
    i = (getattr(p, 'ext_m', None) or {}).get(b'ut_metadata')
    if not i:
        raise Closed('target offers no ut_metadata')
    return i


def sc_md_malformed(p, a):
    p.msg(20, bytes([md_id(p)]) + b'd8:msg_typei0e5:piece')  # truncated dict


def sc_md_flood(p, a):
    i = md_id(p)
    req = struct.pack('>IBB', 2 + 25, 20, i) + b'd8:msg_typei0e5:piecei0ee'
    p.send(req * 400)  # the whole dict over and over: a few are served, then it is junk


SCENARIOS = {
    'md-malformed': sc_md_malformed, 'md-flood': sc_md_flood,
    'forged': sc_forged, 'bitflip': sc_bitflip, 'wrong-index': sc_wrong_index, 'equivocate': sc_equivocate,
    'replay': sc_replay, 'oversized': sc_oversized, 'unknown-id': sc_unknown_id, 'truncated': sc_truncated,
    'unfinished': sc_unfinished, 'bitfield-size': sc_bitfield_size, 'have-flood': sc_have_flood,
    'request-flood': sc_request_flood,
}


def refused(meta, target, bind):
    """The target keeps a banned address out: the connection is closed before any handshake reply."""
    try:
        p = Peer(meta, target, bind, timeout=5.0)
        p.handshake(ext=False)
    except (Closed, ConnectionRefusedError, ConnectionResetError, OSError):
        return True
    return False


def no_handshake(meta, target, bind, wait):
    p = Peer(meta, target, bind)
    p.send(b'\x13BitTorrent')  # and nothing more
    return p.closed_by_target(wait)


def flood_connections(meta, target, count, hold):
    """`count` connections from many 127/8 addresses that never speak, held `hold` seconds.
    Returns how many were still open then (the caller watches the target's descriptors)."""
    socks = []
    for k in range(count):
        ip = '127.0.%d.%d' % (10 + k // 250, 1 + k % 250)
        s = socket.socket()
        s.setblocking(False)
        try:
            s.bind((ip, 0))
            s.connect_ex(target)
        except OSError:
            s.close()
            continue
        socks.append(s)
    time.sleep(hold)
    alive = 0
    for s in socks:
        try:
            d = s.recv(1)
            alive += d != b''
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    for s in socks:
        s.close()
    return alive


# ------------------------------------------------------------------ verify-flood


def flood_ip(k):
    """The k-th attacker address: consecutive ones in different /24 prefixes (250 of them)."""
    a, b = k % 250, k // 250
    return '127.%d.%d.%d' % (1 + b // 254, a, 1 + b % 254)


class Flood:
    """Genuine recent pieces of the target (for the duplicate floods and as a template for forged
    ones) and its edge, kept fresh by one monitor connection that asks the target for what it
    announces."""

    def __init__(self, meta, target, bind):
        import threading
        self.meta, self.target, self.bind = meta, target, bind
        self.lock = threading.Lock()
        self.pieces = {}            # seq -> bytes, the newest 100
        self.edge = None
        self.ready = threading.Event()
        self.stop = False
        self.counts = {'attempts': 0, 'handshakes': 0, 'pieces': 0, 'closed': 0}
        self.next = 0

    def monitor(self):
        while not self.stop:
            try:
                self._monitor_once()
            except (Closed, OSError):
                time.sleep(0.2)

    def _monitor_once(self):
        p = Peer(self.meta, self.target, self.bind)
        p.handshake()
        p.msg(2)  # interested
        n = self.meta['npieces']
        p.s.settimeout(10.0)  # it announces pieces all the time; silence means reconnect
        if p.edge is None:
            end = time.time() + 5
            while p.edge is None and time.time() < end:
                p.read_msg()
        if p.edge is not None:  # the newest piece it holds, then each one it announces
            p.msg(6, struct.pack('>III', p.edge % n, 0, self.meta['piece_len']))
        while not self.stop:
            mid, body = p.read_msg()
            if mid == 4:
                p.msg(6, struct.pack('>III', struct.unpack('>I', body)[0], 0, self.meta['piece_len']))
            elif mid == 7:
                data = body[8:]
                seq = trailer(data)['seq']
                with self.lock:
                    self.pieces[seq] = data
                    for old in sorted(self.pieces)[:-100]:
                        del self.pieces[old]
                    if self.edge is None or seq > self.edge:
                        self.edge = seq
                self.ready.set()

    def take_ip(self):
        with self.lock:
            k = self.next
            self.next += 1
            return flood_ip(k)

    def count(self, key):
        with self.lock:
            self.counts[key] += 1

    def make(self, kind, edge):
        """Pieces one connection sends, with the index each goes under."""
        with self.lock:
            held = sorted(self.pieces.items())
        if not held:
            return []
        if kind == 'forged':
            base_seq, base = held[-1]
            t = trailer(base)
            seq = max(edge, base_seq) + 2
            head = struct.pack('>BBHIQQ', 1, t['flags'] & 1, 0, t['payload_len'], seq,
                               t['ts'] + (seq - base_seq) * 40000)
            sig = bytearray(t['sig'])
            sig[-1] ^= 0x55
            return [(seq % self.meta['npieces'], base[:t['payload_len']] + head + bytes(sig))]
        out = []
        recent = held[-40:]
        for k in range(80):
            seq, data = recent[k % len(recent)]
            if kind == 'dup-badsig':
                bad = bytearray(data)
                bad[-1] ^= 0x55
                data = bytes(bad)
            out.append((seq % self.meta['npieces'], data))
        return out

    def worker(self, kind, end):
        while not self.stop and time.time() < end:
            ip = self.take_ip()
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            try:
                s.bind((ip, 0))
                s.settimeout(2.0)
                s.connect(self.target)
            except OSError:
                s.close()
                continue
            self.count('attempts')
            try:
                self._attack(s, kind)
            except (Closed, OSError):
                self.count('closed')
            finally:
                s.close()

    def _attack(self, s, kind):
        p = Peer.__new__(Peer)
        p.meta, p.s, p.buf, p.has, p.edge = self.meta, s, b'', {}, None
        p.handshake()
        self.count('handshakes')
        end = time.time() + 2.0
        while p.edge is None and time.time() < end:  # its extension handshake says where it is
            p.read_msg()
        with self.lock:
            edge = max(self.edge or 0, p.edge or 0)
        for index, data in self.make(kind, edge):
            send_piece(p, index, data)
            self.count('pieces')
        if p.closed_by_target(2.0):
            self.count('closed')


def verify_flood(meta, target, bind, kind, threads, duration):
    import threading
    f = Flood(meta, target, bind)
    mon = threading.Thread(target=f.monitor, daemon=True)
    mon.start()
    if not f.ready.wait(20):
        raise SystemExit('verify-flood: the target served no piece to copy')
    time.sleep(1.0)  # a few more pieces in the pool
    t0 = time.time()
    end = t0 + duration
    ws = [threading.Thread(target=f.worker, args=(kind, end), daemon=True) for _ in range(threads)]
    for w in ws:
        w.start()
    for w in ws:
        w.join(duration + 5)
    f.stop = True
    c = f.counts
    return ('verify-flood %s: attempts %d handshakes %d pieces %d closed %d seconds %.1f'
            % (kind, c['attempts'], c['handshakes'], c['pieces'], c['closed'], time.time() - t0))


def load_meta(path):
    raw = open(path, 'rb').read()
    d, _ = bdecode(raw)
    info = d[b'info']
    plen = info[b'piece length']
    return {'infohash': hashlib.sha1(d[(b'info', 'raw')]).digest(), 'piece_len': plen,
            'npieces': info[b'length'] // plen}


def pex_alias(meta, target, src, alias_ip, alias_port):
    """Connect from src to the peer at 127.0.0.1:target and tell it (ut_pex) that a peer listens at
    alias_ip:alias_port. Returns the socket, to be kept open while the peer acts on it."""
    s = socket.socket()
    s.bind((src, 0))
    s.connect(('127.0.0.1', target))
    s.sendall(b'\x13BitTorrent protocol' + bytes([0, 0, 0, 0, 0, 0x10, 0, 0]) + meta['infohash'] + os.urandom(20))
    s.recv(68)
    ext = bencode({b'm': {b'ut_pex': 7}})
    s.sendall(struct.pack('>IBB', len(ext) + 2, 20, 0) + ext)
    time.sleep(0.5)
    pex = bencode({b'added': socket.inet_aton(alias_ip) + struct.pack('>H', alias_port)})
    s.sendall(struct.pack('>IBB', len(pex) + 2, 20, 2) + pex)  # tstream announces ut_pex as 2
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--tstream', required=True)
    ap.add_argument('--target', required=True)
    ap.add_argument('--bind', default='127.0.0.66')
    ap.add_argument('--scenario', required=True)
    ap.add_argument('--key')
    ap.add_argument('--old', help='replay: file holding an old piece (from --save)')
    ap.add_argument('--save', help='fetch one piece from the target into this file and exit')
    ap.add_argument('--count', type=int, default=2000)
    ap.add_argument('--wait', type=float, default=20.0, help='seconds the target gets to close us')
    ap.add_argument('--duration', type=float, default=10.0, help='verify-flood: seconds of attack')
    ap.add_argument('--flood', default='forged', choices=['forged', 'dup', 'dup-badsig'],
                    help='verify-flood: what each connection sends')
    a = ap.parse_args()
    meta = load_meta(a.tstream)
    host, port = a.target.rsplit(':', 1)
    target = (host, int(port))

    if a.save:
        p = Peer(meta, target, a.bind)
        p.handshake()
        _, piece = p.fetch_piece()
        open(a.save, 'wb').write(piece)
        print('saved seq %d' % trailer(piece)['seq'])
        return 0
    if a.scenario == 'flood-connections':
        alive = flood_connections(meta, target, a.count, a.wait)
        print('flood-connections: %d of %d silent connections still open after %.0f s' % (alive, a.count, a.wait))
        return 0
    if a.scenario == 'verify-flood':
        print(verify_flood(meta, target, a.bind, a.flood, a.count, a.duration), flush=True)
        return 0
    if a.scenario == 'no-handshake':
        if not no_handshake(meta, target, a.bind, a.wait):
            print('no-handshake: target kept a silent connection open for %.0f s' % a.wait)
            return 1
    else:
        fn = SCENARIOS.get(a.scenario)
        if not fn:
            print('unknown scenario %s' % a.scenario, file=sys.stderr)
            return 2
        p = Peer(meta, target, a.bind)
        p.handshake()
        try:
            fn(p, a)
        except Closed as e:
            pass  # closed while we were still sending: that is the expected outcome too
        else:
            if not p.closed_by_target(a.wait):
                print('%s: target did not disconnect us within %.0f s' % (a.scenario, a.wait))
                return 1
    if not refused(meta, target, a.bind):
        print('%s: target let the offender back in at once' % a.scenario)
        return 1
    print('%s: disconnected and kept out' % a.scenario)
    return 0


if __name__ == '__main__':
    sys.exit(main())
