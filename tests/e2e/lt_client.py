#!/usr/bin/python3
"""libtorrent (python3-libtorrent, a standard BitTorrent client) against a tstream peer.

    lt_client.py fetch LINK HOST:PORT   join by magnet link; report what libtorrent saw
    lt_client.py liar LINK HOST:PORT    the same against a peer serving a wrong info dict
    lt_client.py pester LINK HOST:PORT SECONDS
                                        keep reconnecting, resuming after errors, with and
                                        without encryption, for SECONDS

fetch/liar print one line per fact (handshake=1, ext_handshake=..., metadata=...) and exit 0
when libtorrent got that far; anything else exits 1 with the reason.
"""
import sys
import time

import libtorrent as lt

BASE = {'listen_interfaces': '127.0.0.1:0', 'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False,
        'enable_natpmp': False, 'alert_mask': lt.alert.category_t.all_categories}


def session(**extra):
    s = dict(BASE)
    s.update(extra)
    return lt.session(s)


def add(s, link, peer):
    p = lt.parse_magnet_uri(link)
    p.save_path = '/tmp'
    h = s.add_torrent(p)
    host, port = peer.rsplit(':', 1)
    h.connect_peer((host, int(port)))
    return h


def fetch(link, peer, seconds=30):
    """Until the metadata is in (or refused): returns facts seen."""
    s = session()
    h = add(s, link, peer)
    facts = {}
    end = time.time() + seconds
    while time.time() < end and 'torrent_error' not in facts:
        if 'metadata' in facts and 'settle' not in facts:
            facts['settle'] = 1  # the alerts that follow the outcome arrive within moments
            end = min(end, time.time() + 5)
        s.wait_for_alert(500)
        for a in s.pop_alerts():
            name, msg = type(a).__name__, a.message()
            if name == 'peer_log_alert':
                if '<<< HANDSHAKE [ received peer_id' in msg:
                    facts['handshake'] = 1
                elif '<== EXTENDED_HANDSHAKE' in msg:
                    facts['ext_handshake'] = msg[msg.index('{'):][:160]
                elif '<== UT_METADATA [ type: 1' in msg:
                    facts['metadata_pieces'] = facts.get('metadata_pieces', 0) + 1
            elif name == 'metadata_received_alert':
                facts['metadata'] = 'received'
            elif name == 'metadata_failed_alert':
                facts['metadata'] = 'failed: %s/%d %s' % (a.error.category().name(), a.error.value(),
                                                          a.error.message())
            elif name == 'torrent_error_alert':
                facts['torrent_error'] = a.error.message()
    return facts


def report(facts):
    facts.pop('settle', None)
    for k, v in facts.items():
        print('%s=%s' % (k, v), flush=True)


def main():
    mode, link, peer = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode in ('fetch', 'liar'):
        facts = fetch(link, peer)
        report(facts)
        for k in ('handshake', 'ext_handshake', 'metadata_pieces', 'metadata'):
            if k not in facts:
                print('missing: %s' % k)
                return 1
        return 0
    if mode == 'pester':
        # Whatever a client might do next: resume the errored torrent and reconnect over and over,
        # plain and with forced encryption (which a tstream peer does not speak).
        end = time.time() + float(sys.argv[4])
        plain = session()
        forced = session(out_enc_policy=lt.enc_policy.forced, in_enc_policy=lt.enc_policy.forced)
        hs = [add(plain, link, peer), add(forced, link, peer)]
        n = 0
        while time.time() < end:
            for h in hs:
                h.clear_error()
                h.resume()
                h.connect_peer((peer.rsplit(':', 1)[0], int(peer.rsplit(':', 1)[1])))
                n += 1
            for s in (plain, forced):
                s.pop_alerts()
            time.sleep(0.5)
        for s, h in ((plain, hs[0]), (forced, hs[1])):
            s.remove_torrent(h)
        print('reconnects=%d' % n)
        return 0
    print('unknown mode %s' % mode)
    return 2


if __name__ == '__main__':
    sys.exit(main())
