#include "api/conn_guard.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

/* An address as compared: IPv4 as IPv4-mapped IPv6, so both forms of one address are one. */
typedef struct guard_addr {
    uint8_t a[16];
} guard_addr;

typedef enum { PH_HEADERS, PH_BODY, PH_ANSWERING, PH_UPGRADED } guard_phase;

struct conn_guard_rec {
    conn_guard_rec *prev, *next;
    int fd;
    guard_addr addr;
    guard_phase phase;
    int64_t deadline_ms; /* when PH_HEADERS or PH_BODY */
    bool cut;            /* already shut down once */
};

typedef struct guard_trusted {
    guard_addr addr;
    int64_t until_ms;
} guard_trusted;

#define GUARD_TRUSTED_MAX 1024

struct conn_guard {
    conn_guard_config cfg;
    pthread_mutex_t lock; /* guards everything below */
    conn_guard_rec *head;
    size_t n;
    guard_trusted trusted[GUARD_TRUSTED_MAX]; /* agents' addresses; a full table forgets the oldest */
    size_t n_trusted;
};

static void addr_of(const struct sockaddr *sa, guard_addr *out)
{
    memset(out, 0, sizeof *out);
    if (!sa)
        return;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        out->a[10] = out->a[11] = 0xff;
        memcpy(out->a + 12, &s4->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(out->a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
}

/* 127.0.0.1 or ::1: yund's own machine (its operator, a local agent or proxy). Not the rest of 127/8, so
 * a test can play a stranger from 127.0.0.2. */
static bool addr_is_local(const guard_addr *a)
{
    static const uint8_t v4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
    static const uint8_t v6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return !memcmp(a->a, v4, 16) || !memcmp(a->a, v6, 16);
}

static bool trusted_locked(conn_guard *g, const guard_addr *a, int64_t now_ms)
{
    if (addr_is_local(a))
        return true;
    for (size_t i = 0; i < g->n_trusted; i++)
        if (!memcmp(g->trusted[i].addr.a, a->a, 16) && g->trusted[i].until_ms > now_ms)
            return true;
    return false;
}

conn_guard *conn_guard_new(const conn_guard_config *cfg)
{
    conn_guard *g = xcalloc(1, sizeof *g);
    if (cfg)
        g->cfg = *cfg;
    if (!g->cfg.max_total)
        g->cfg.max_total = CONN_GUARD_MAX_TOTAL;
    if (!g->cfg.per_address)
        g->cfg.per_address = CONN_GUARD_PER_ADDRESS;
    if (!g->cfg.reserve)
        g->cfg.reserve = CONN_GUARD_RESERVE;
    if (g->cfg.reserve >= g->cfg.max_total)
        g->cfg.reserve = g->cfg.max_total / 2;
    if (!g->cfg.header_ms)
        g->cfg.header_ms = CONN_GUARD_HEADER_MS;
    if (!g->cfg.body_ms)
        g->cfg.body_ms = CONN_GUARD_BODY_MS;
    if (!g->cfg.body_min_bps)
        g->cfg.body_min_bps = CONN_GUARD_BODY_MIN_BPS;
    if (!g->cfg.trust_ms)
        g->cfg.trust_ms = CONN_GUARD_TRUST_MS;
    pthread_mutex_init(&g->lock, NULL);
    return g;
}

void conn_guard_free(conn_guard *g)
{
    if (!g)
        return;
    conn_guard_rec *r = g->head;
    while (r) {
        conn_guard_rec *next = r->next;
        free(r);
        r = next;
    }
    pthread_mutex_destroy(&g->lock);
    free(g);
}

unsigned conn_guard_max_total(const conn_guard *g)
{
    return g->cfg.max_total;
}

static size_t count_locked(conn_guard *g, const guard_addr *a)
{
    size_t n = 0;
    for (conn_guard_rec *r = g->head; r; r = r->next)
        n += !memcmp(r->addr.a, a->a, 16);
    return n;
}

bool conn_guard_accept(conn_guard *g, const struct sockaddr *sa, int64_t now_ms)
{
    guard_addr a;
    addr_of(sa, &a);
    pthread_mutex_lock(&g->lock);
    bool ok = true;
    if (!trusted_locked(g, &a, now_ms))
        ok = g->n + g->cfg.reserve < g->cfg.max_total && count_locked(g, &a) < g->cfg.per_address;
    pthread_mutex_unlock(&g->lock);
    return ok;
}

conn_guard_rec *conn_guard_open(conn_guard *g, int fd, const struct sockaddr *sa, int64_t now_ms)
{
    conn_guard_rec *r = xcalloc(1, sizeof *r);
    r->fd = fd;
    addr_of(sa, &r->addr);
    r->phase = PH_HEADERS;
    r->deadline_ms = now_ms + g->cfg.header_ms;
    pthread_mutex_lock(&g->lock);
    r->next = g->head;
    if (g->head)
        g->head->prev = r;
    g->head = r;
    g->n++;
    pthread_mutex_unlock(&g->lock);
    return r;
}

void conn_guard_close(conn_guard *g, conn_guard_rec *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&g->lock);
    if (r->prev)
        r->prev->next = r->next;
    else
        g->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    g->n--;
    pthread_mutex_unlock(&g->lock);
    free(r);
}

static void set_phase(conn_guard *g, conn_guard_rec *r, guard_phase ph, int64_t deadline_ms)
{
    if (!r)
        return;
    pthread_mutex_lock(&g->lock);
    if (r->phase != PH_UPGRADED) {
        r->phase = ph;
        r->deadline_ms = deadline_ms;
    }
    pthread_mutex_unlock(&g->lock);
}

void conn_guard_headers(conn_guard *g, conn_guard_rec *r, uint64_t body_len, int64_t now_ms)
{
    /* a large body gets time for its size at the slowest rate allowed; capped so the sum cannot overflow */
    uint64_t extra = body_len / g->cfg.body_min_bps * 1000u;
    if (extra > (uint64_t)INT32_MAX * 1000u)
        extra = (uint64_t)INT32_MAX * 1000u;
    set_phase(g, r, PH_BODY, now_ms + g->cfg.body_ms + (int64_t)extra);
}

void conn_guard_answering(conn_guard *g, conn_guard_rec *r)
{
    set_phase(g, r, PH_ANSWERING, 0);
}

void conn_guard_upgraded(conn_guard *g, conn_guard_rec *r)
{
    set_phase(g, r, PH_UPGRADED, 0);
}

void conn_guard_idle(conn_guard *g, conn_guard_rec *r, int64_t now_ms)
{
    set_phase(g, r, PH_HEADERS, now_ms + g->cfg.header_ms);
}

void conn_guard_trust(conn_guard *g, const struct sockaddr *sa, int64_t now_ms)
{
    guard_addr a;
    addr_of(sa, &a);
    if (addr_is_local(&a))
        return;
    pthread_mutex_lock(&g->lock);
    size_t slot = g->n_trusted, oldest = 0;
    for (size_t i = 0; i < g->n_trusted; i++) {
        if (!memcmp(g->trusted[i].addr.a, a.a, 16)) {
            slot = i;
            break;
        }
        if (g->trusted[i].until_ms < g->trusted[oldest].until_ms)
            oldest = i;
    }
    if (slot == g->n_trusted) {
        if (g->n_trusted < GUARD_TRUSTED_MAX)
            g->n_trusted++;
        else
            slot = oldest;
    }
    g->trusted[slot].addr = a;
    g->trusted[slot].until_ms = now_ms + g->cfg.trust_ms;
    pthread_mutex_unlock(&g->lock);
}

size_t conn_guard_sweep(conn_guard *g, int64_t now_ms, void (*cut)(int fd, void *ud), void *ud)
{
    size_t n = 0;
    pthread_mutex_lock(&g->lock);
    for (conn_guard_rec *r = g->head; r; r = r->next) {
        if (r->cut || (r->phase != PH_HEADERS && r->phase != PH_BODY) || r->deadline_ms > now_ms)
            continue;
        r->cut = true;
        cut(r->fd, ud);
        n++;
    }
    pthread_mutex_unlock(&g->lock);
    return n;
}

size_t conn_guard_count(conn_guard *g, const struct sockaddr *sa)
{
    pthread_mutex_lock(&g->lock);
    size_t n = g->n;
    if (sa) {
        guard_addr a;
        addr_of(sa, &a);
        n = count_locked(g, &a);
    }
    pthread_mutex_unlock(&g->lock);
    return n;
}
