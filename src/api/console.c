#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

#include "api/console.h"
#include "util/mem.h"

typedef struct ticket {
    char value[CONSOLE_TICKET_LEN];
    int64_t user_id;
    char vm_uuid[CONSOLE_UUID_LEN];
    int64_t expires_ms;
} ticket;

struct console_ctx {
    pthread_mutex_t lock; /* guards tickets and n */
    ticket tickets[CONSOLE_TICKETS_MAX];
    size_t n;
    atomic_bool stopping;
    atomic_int relays; /* relay threads running (console_relay_hold/release) */
};

console_ctx *console_new(void)
{
    if (sodium_init() < 0)
        abort(); /* no randomness: nothing safe to hand out */
    console_ctx *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    atomic_init(&c->stopping, false);
    atomic_init(&c->relays, 0);
    return c;
}

void console_free(console_ctx *c)
{
    if (!c)
        return;
    /* relays see stopping within a second (they poll each second); wait for them, 10 s at most */
    for (int i = 0; i < 1000 && atomic_load(&c->relays) > 0; i++)
        usleep(10000);
    if (atomic_load(&c->relays) > 0)
        return; /* a relay stuck in a send: leaking the context beats freeing it under it */
    pthread_mutex_destroy(&c->lock);
    sodium_memzero(c->tickets, sizeof c->tickets);
    free(c);
}

void console_stop(console_ctx *c)
{
    if (c)
        atomic_store(&c->stopping, true);
}

void console_relay_hold(console_ctx *c)
{
    atomic_fetch_add(&c->relays, 1);
}

void console_relay_release(console_ctx *c)
{
    atomic_fetch_sub(&c->relays, 1);
}

bool console_stopping(console_ctx *c)
{
    return !c || atomic_load(&c->stopping);
}

/* Drops expired tickets; the caller holds the lock. */
static void sweep(console_ctx *c, int64_t now_ms)
{
    for (size_t i = 0; i < c->n;) {
        if (c->tickets[i].expires_ms <= now_ms)
            c->tickets[i] = c->tickets[--c->n];
        else
            i++;
    }
}

int console_ticket_issue(console_ctx *c, int64_t user_id, const char *vm_uuid, int64_t now_ms,
                         char out[CONSOLE_TICKET_LEN], yun_err *err)
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, CONSOLE_TICKET_LEN, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    pthread_mutex_lock(&c->lock);
    sweep(c, now_ms);
    size_t mine = 0;
    for (size_t i = 0; i < c->n; i++)
        mine += c->tickets[i].user_id == user_id;
    if (mine >= CONSOLE_TICKETS_PER_USER) {
        pthread_mutex_unlock(&c->lock);
        return yun_err_set(err, YUN_E_UNAVAILABLE,
                           "you have %d unused console tickets: use one, or try again in %d s when they expire",
                           CONSOLE_TICKETS_PER_USER, CONSOLE_TICKET_TTL_MS / 1000);
    }
    if (c->n == CONSOLE_TICKETS_MAX) {
        pthread_mutex_unlock(&c->lock);
        return yun_err_set(err, YUN_E_UNAVAILABLE, "%d console tickets are waiting to be used: try again in %d s",
                           CONSOLE_TICKETS_MAX, CONSOLE_TICKET_TTL_MS / 1000);
    }
    ticket *t = &c->tickets[c->n++];
    snprintf(t->value, sizeof t->value, "%s", out);
    t->user_id = user_id;
    snprintf(t->vm_uuid, sizeof t->vm_uuid, "%s", vm_uuid);
    t->expires_ms = now_ms + CONSOLE_TICKET_TTL_MS;
    pthread_mutex_unlock(&c->lock);
    return 0;
}

int console_ticket_redeem(console_ctx *c, const char *value, int64_t now_ms, int64_t *user_id,
                          char vm_uuid[CONSOLE_UUID_LEN], yun_err *err)
{
    size_t len = value ? strlen(value) : 0;
    int found = -1;
    pthread_mutex_lock(&c->lock);
    sweep(c, now_ms);
    /* compared in constant time against each: the time taken says nothing about how close a guess came */
    for (size_t i = 0; len > 0 && len < CONSOLE_TICKET_LEN && i < c->n; i++)
        if (strlen(c->tickets[i].value) == len && sodium_memcmp(c->tickets[i].value, value, len) == 0)
            found = (int)i;
    if (found >= 0) {
        *user_id = c->tickets[found].user_id;
        snprintf(vm_uuid, CONSOLE_UUID_LEN, "%s", c->tickets[found].vm_uuid);
        c->tickets[found] = c->tickets[--c->n];
    }
    pthread_mutex_unlock(&c->lock);
    if (found < 0)
        return yun_err_set(err, YUN_E_UNAUTHORIZED,
                           "the console ticket is unknown, used or expired: a ticket works once, within %d s; ask "
                           "POST /v1/vms/{vm}/console for a new one",
                           CONSOLE_TICKET_TTL_MS / 1000);
    return 0;
}

/* ---- SHA-1 ---- */
static uint32_t rol(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20)
            f = (b & c) | (~b & d), k = 0x5A827999;
        else if (i < 40)
            f = b ^ c ^ d, k = 0x6ED9EBA1;
        else if (i < 60)
            f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
        else
            f = b ^ c ^ d, k = 0xCA62C1D6;
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d, d = c, c = rol(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

void console_sha1(const void *data, size_t n, uint8_t out[20])
{
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    const uint8_t *p = data;
    size_t left = n;
    for (; left >= 64; p += 64, left -= 64)
        sha1_block(h, p);
    uint8_t last[128] = {0};
    memcpy(last, p, left);
    last[left] = 0x80;
    size_t total = left + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;
    for (int i = 0; i < 8; i++)
        last[total - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha1_block(h, last);
    if (total == 128)
        sha1_block(h, last + 64);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}

void console_ws_accept(const char *key, char out[29])
{
    AUTOFREE char *s = xasprintf("%s%s", key, CONSOLE_WS_GUID);
    uint8_t d[20];
    console_sha1(s, strlen(s), d);
    sodium_bin2base64(out, 29, d, sizeof d, sodium_base64_VARIANT_ORIGINAL);
}

bool console_header_has(const char *value, const char *token)
{
    size_t tl = strlen(token);
    for (const char *p = value; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        if (m == tl && strncasecmp(p, token, tl) == 0)
            return true;
        p += n;
    }
    return false;
}
