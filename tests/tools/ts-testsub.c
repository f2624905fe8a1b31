/* Test helper for tests/e2e/ingest_basic.sh: subscribes to ts-ingest's outlink as "signer" for
 * SECONDS (or until SIGTERM), writes the payloads to OUT (or - for none, flushed piece by piece so a
 * test can watch it grow) and prints what it saw.
 * usage: ts-testsub ENDPOINT SECONDS OUT */
#include "ts_link.h"
#include "ts_log.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
typedef struct { FILE *f; ts_inlink_t *il; int have; unsigned long long first, last, n, gaps, rap, rap_bad, disc, not188, bytes, lastrap_off; } st_t;
static void on_piece(const Ts__Piece *p, void *arg)
{
    st_t *s = arg;
    if (s->have && p->seq != s->last + 1)
        s->gaps++;
    if (!s->have)
        s->first = p->seq, s->have = 1;
    s->last = p->seq;
    s->n++;
    s->bytes += p->payload.len;
    s->not188 += p->payload.len % 188 != 0;
    if (p->flags & 1) {
        const uint8_t *d = p->payload.data;
        s->lastrap_off = s->bytes - p->payload.len;
        s->rap++;
        s->rap_bad += p->payload.len < 188 || d[0] != 0x47 || ((d[1] & 0x1f) << 8 | d[2]) != 0;
    }
    s->disc += (p->flags & 2) != 0;
    if (s->f) {
        fwrite(p->payload.data, 1, p->payload.len, s->f);
        fflush(s->f);
    }
    ts_inlink_ack(s->il, p->seq);
}
static void on_end(struct ev_loop *loop, ev_timer *w, int r) { ev_break(loop, EVBREAK_ALL); }
static void on_term(struct ev_loop *loop, ev_signal *w, int r) { ev_break(loop, EVBREAK_ALL); }
int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    ts_log_init("sub", "e2e");
    struct ev_loop *loop = ev_default_loop(0);
    void *z = zmq_ctx_new();
    st_t s;
    memset(&s, 0, sizeof s);
    if (strcmp(argv[3], "-"))
        s.f = fopen(argv[3], "wb");
    s.il = ts_inlink_new(loop, z, argv[1], "signer", "ingest", 0, 0, on_piece, &s);
    ev_timer t;
    ev_timer_init(&t, on_end, atof(argv[2]), 0);
    ev_timer_start(loop, &t);
    ev_signal sig;
    ev_signal_init(&sig, on_term, SIGTERM);
    ev_signal_start(loop, &sig);
    ev_run(loop, 0);
    if (s.f)
        fclose(s.f);
    printf("pieces=%llu first=%llu last=%llu gaps=%llu bytes=%llu rap=%llu rap_bad=%llu discont=%llu not188=%llu "
           "lastrap_off=%llu\n", s.n, s.first, s.last, s.gaps, s.bytes, s.rap, s.rap_bad, s.disc, s.not188, s.lastrap_off);
    ts_inlink_destroy(&s.il);
    zmq_ctx_term(z);
    return 0;
}
