#!/usr/bin/python3
"""A BitTorrent peer that lies about a stream's metadata (BEP 9), for tests/e2e/magnet.sh.

    metadata_liar.py INFOHASH_HEX PORTFILE

Listens on 127.0.0.1 (a free port, written to PORTFILE), answers every handshake for INFOHASH
with an extension handshake offering ut_metadata, and serves an info dict that looks like a
tstream's but is not the one the infohash names. Prints one line per request it answered.
"""
import socket
import struct
import sys
import threading

FAKE_INFO = (b'd6:lengthi16777216e4:lived10:authmethod5:ECDSA6:pubkey4:fakee'
             b'4:name4:fake12:piece lengthi16384ee')


def bencode(v):
    if isinstance(v, int):
        return b'i%de' % v
    if isinstance(v, bytes):
        return b'%d:%s' % (len(v), v)
    if isinstance(v, dict):
        return b'd' + b''.join(bencode(k) + bencode(v[k]) for k in sorted(v)) + b'e'
    raise TypeError(v)


def read_exact(s, n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b


def serve(conn, infohash):
    try:
        hs = read_exact(conn, 68)
        if hs[28:48] != infohash:
            return
        conn.sendall(b'\x13BitTorrent protocol' + bytes([0, 0, 0, 0, 0, 0x10, 0, 0]) + infohash + b'-LI0001-liarliarliar')
        ext = bencode({b'm': {b'ut_metadata': 5}, b'metadata_size': len(FAKE_INFO)})
        conn.sendall(struct.pack('>IBB', len(ext) + 2, 20, 0) + ext)
        their_md = None
        while True:
            n, = struct.unpack('>I', read_exact(conn, 4))
            body = read_exact(conn, n) if n else b''
            if len(body) < 2 or body[0] != 20:
                continue
            if body[1] == 0:
                d = body[2:]
                i = d.find(b'11:ut_metadatai')
                if i >= 0:
                    their_md = int(d[i + 15:d.index(b'e', i + 15)])
            elif body[1] == 5 and their_md:
                at = body.index(b'5:piecei') + 8
                piece = int(body[at:body.index(b'e', at)])
                reply = bencode({b'msg_type': 1, b'piece': piece, b'total_size': len(FAKE_INFO)}) + FAKE_INFO
                conn.sendall(struct.pack('>IBB', len(reply) + 2, 20, their_md) + reply)
                print('served fake metadata piece %d' % piece, flush=True)
    except (EOFError, OSError, ValueError):
        pass
    finally:
        conn.close()


def main():
    infohash = bytes.fromhex(sys.argv[1])
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(('127.0.0.1', 0))
    ls.listen(16)
    with open(sys.argv[2], 'w') as f:
        f.write(str(ls.getsockname()[1]))
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=serve, args=(conn, infohash), daemon=True).start()


if __name__ == '__main__':
    main()
