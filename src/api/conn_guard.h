/* conn_guard.h: who may hold yund's HTTP connections, and for how long (docs/operations.md, "Connection
 * limits"). Each connection is a thread (libmicrohttpd, thread per connection), so a client that opens
 * sockets and sends half a request would otherwise hold them until a long idle timeout, and with enough of
 * them lock everybody out, agents and the health check included. Three rules:
 *   - deadlines: a request's headers must arrive within header_ms of the connection's start (or of the
 *     previous answer, on a kept-alive connection); its body within body_ms more, plus its length at
 *     body_min_bps for large ones (image uploads). While yund answers (an agent's long-poll, a console's
 *     websocket) there is no deadline;
 *   - per address: an address that is not trusted holds at most per_address connections at once;
 *   - room kept: the last `reserve` of the max_total connections are for trusted addresses only: the
 *     loopback addresses 127.0.0.1 and ::1 (yund's own machine) and every address that presented the agent
 *     token in the last trust_ms.
 * The guard only decides; the server cuts the connections it names (shutdown of the socket, so the
 * connection's own thread ends it). Thread-safe: one lock guards every record. */
#ifndef YUN_API_CONN_GUARD_H
#define YUN_API_CONN_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct conn_guard_config {
    unsigned max_total;    /* 0: CONN_GUARD_MAX_TOTAL */
    unsigned per_address;  /* 0: CONN_GUARD_PER_ADDRESS */
    unsigned reserve;      /* 0: CONN_GUARD_RESERVE (less than max_total) */
    int header_ms;         /* 0: CONN_GUARD_HEADER_MS */
    int body_ms;           /* 0: CONN_GUARD_BODY_MS */
    uint64_t body_min_bps; /* 0: CONN_GUARD_BODY_MIN_BPS */
    int64_t trust_ms;      /* 0: CONN_GUARD_TRUST_MS */
} conn_guard_config;

/* a thousand hosts' agents keep a connection each (their reports, kept alive) and users come on top: at 1024,
 * bench/scale.sh's lists were refused at 1,000 hosts ("SSL connect error") */
#define CONN_GUARD_MAX_TOTAL 4096u
#define CONN_GUARD_PER_ADDRESS 32u
#define CONN_GUARD_RESERVE 64u
#define CONN_GUARD_HEADER_MS 10000
#define CONN_GUARD_BODY_MS 10000
#define CONN_GUARD_BODY_MIN_BPS (64u * 1024u)
#define CONN_GUARD_TRUST_MS (10 * 60 * 1000)

typedef struct conn_guard conn_guard;
typedef struct conn_guard_rec conn_guard_rec;

conn_guard *conn_guard_new(const conn_guard_config *cfg);
void conn_guard_free(conn_guard *g);
/* The limit the server gives libmicrohttpd (cfg's max_total or its default). */
unsigned conn_guard_max_total(const conn_guard *g);

/* Whether a new connection from sa may be accepted now (the per-address and reserve rules). */
bool conn_guard_accept(conn_guard *g, const struct sockaddr *sa, int64_t now_ms);

/* A connection began on socket fd: its record (the deadline for its headers runs), freed by close. */
conn_guard_rec *conn_guard_open(conn_guard *g, int fd, const struct sockaddr *sa, int64_t now_ms);
void conn_guard_close(conn_guard *g, conn_guard_rec *r);

/* The request's headers are in; body_len bytes of body (its Content-Length, 0 when none) are to come. */
void conn_guard_headers(conn_guard *g, conn_guard_rec *r, uint64_t body_len, int64_t now_ms);
/* The request is in: yund answers it, for as long as that takes (no deadline). */
void conn_guard_answering(conn_guard *g, conn_guard_rec *r);
/* The connection is a websocket now (the console): never cut. */
void conn_guard_upgraded(conn_guard *g, conn_guard_rec *r);
/* The answer went out: the connection waits for its next request (the header deadline runs again). */
void conn_guard_idle(conn_guard *g, conn_guard_rec *r, int64_t now_ms);

/* sa presented a host's credential: trusted for trust_ms from now. */
void conn_guard_trust(conn_guard *g, const struct sockaddr *sa, int64_t now_ms);

/* Calls cut(fd, ud) for every connection past its deadline, under the guard's lock (so the socket is still
 * the connection's: close runs under the same lock before the server closes it), and marks each so it is
 * cut once. Returns how many. */
size_t conn_guard_sweep(conn_guard *g, int64_t now_ms, void (*cut)(int fd, void *ud), void *ud);

/* Connections open now (all, and from sa's address). */
size_t conn_guard_count(conn_guard *g, const struct sockaddr *sa);

#endif
