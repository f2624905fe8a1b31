#include "backoff.h"

void ts_backoff_init(ts_backoff_t *b, uint64_t min_ns, uint64_t max_ns, uint64_t healthy_ns)
{
    b->min_ns = min_ns;
    b->max_ns = max_ns < min_ns ? min_ns : max_ns;
    b->healthy_ns = healthy_ns;
    b->next_ns = min_ns;
}

uint64_t ts_backoff_next(ts_backoff_t *b, uint64_t ran_ns)
{
    if (ran_ns >= b->healthy_ns)
        b->next_ns = b->min_ns;
    uint64_t d = b->next_ns;
    b->next_ns = d > b->max_ns / 2 ? b->max_ns : d * 2;
    return d;
}
