/* sql.c: sql.h over sqlite3 and over libpq. The PostgreSQL dialect is made from the SQLite text here and only
 * here (pg_rewrite). On PostgreSQL each step of a fresh statement is one PQexecParams (text results, typed
 * parameters: int64 as int8, text as text, blobs as binary bytea), and its rows are read from the result. */
#include "store/sql.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

#define BUSY_TIMEOUT_MS 5000
/* the key of the advisory lock a writing transaction takes on PostgreSQL ("yun" in ASCII) */
#define PG_WRITE_LOCK 7959918
/* the key of the session advisory lock whose holder runs the controller's loops */
#define PG_LEAD_LOCK 7959919

/* PostgreSQL type oids (server/catalog/pg_type_d.h, not installed with libpq-dev) */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25

struct sql_db {
    sqlite3 *lite; /* one of lite and pg */
    PGconn *pg;
    char *target;
    char msg[512]; /* PostgreSQL's last error */
    int last_rc;
    int64_t changes;
    bool leading; /* this connection holds PG_LEAD_LOCK */
    /* PostgreSQL: the connection was lost inside a transaction; every statement fails until the store's
     * ROLLBACK (or COMMIT, which fails) ends it, and only then is the connection opened again (pg_ready) */
    bool lost_tx;
    /* reopen before the next statement outside a transaction: the server said it is ending this connection, or
     * it is read-only (a primary demoted to standby) */
    bool reopen;
};

typedef struct pg_param {
    char num[24]; /* an integer's text */
    char *own;    /* a text's copy (libpq's text format wants its NUL) */
    const char *val;
    int len, fmt;
    unsigned type;
    bool bound;
} pg_param;

struct sql_stmt {
    sql_db *db;
    sqlite3_stmt *lite;
    bool got_row;
    /* PostgreSQL */
    char *text; /* rewritten */
    int n;
    pg_param *p;
    PGresult *res;
    int row;
    unsigned char *blob; /* the last bytea read, unescaped */
    size_t blob_len;
    int blob_col;
};

/* ---- the PostgreSQL dialect ---- */
static bool word_at(const char *s, size_t i, const char *w)
{
    size_t n = strlen(w);
    if (strncmp(s + i, w, n))
        return false;
    bool before = i == 0 || !(isalnum((unsigned char)s[i - 1]) || s[i - 1] == '_');
    bool after = !(isalnum((unsigned char)s[i + n]) || s[i + n] == '_');
    return before && after;
}

/* The SQLite text as PostgreSQL's: ?N and ? become $N; with ddl, the column types too (sql.h). Quoted text
 * and identifiers are copied as they are. *nparams gets the highest parameter number. */
static char *pg_rewrite(const char *in, bool ddl, int *nparams)
{
    static const char *const types[][2] = {
        {"INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY"},
        {"INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY"},
        {"INTEGER", "BIGINT"},
        {"BLOB", "BYTEA"},
    };
    size_t len = strlen(in), cap = len * 2 + 64, o = 0;
    char *out = xmalloc(cap);
    int maxp = 0;
    for (size_t i = 0; i < len;) {
        if (o + 64 > cap)
            xgrow((void **)&out, &cap, o + 64, 1);
        char c = in[i];
        if (c == '\'' || c == '"') {
            size_t j = i + 1;
            while (j < len && in[j] != c)
                j++;
            j = j < len ? j + 1 : len;
            xgrow((void **)&out, &cap, o + (j - i) + 64, 1);
            memcpy(out + o, in + i, j - i);
            o += j - i;
            i = j;
            continue;
        }
        if (c == '?') {
            i++;
            int num = 0;
            if (isdigit((unsigned char)in[i])) {
                while (isdigit((unsigned char)in[i]))
                    num = num * 10 + (in[i++] - '0');
            } else {
                num = maxp + 1;
            }
            if (num > maxp)
                maxp = num;
            o += (size_t)snprintf(out + o, cap - o, "$%d", num);
            continue;
        }
        bool done = false;
        for (size_t t = 0; ddl && t < sizeof types / sizeof types[0] && !done; t++)
            if (word_at(in, i, types[t][0])) {
                o += (size_t)snprintf(out + o, cap - o, "%s", types[t][1]);
                i += strlen(types[t][0]);
                done = true;
            }
        if (!done)
            out[o++] = in[i++];
    }
    out[o] = '\0';
    if (nparams)
        *nparams = maxp;
    return out;
}

/* SQLSTATE to the step codes */
static int pg_code(const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!state)
        return SQL_ERROR;
    if (!strcmp(state, "23505"))
        return SQL_CONSTRAINT_UNIQUE;
    if (!strcmp(state, "23503") || !strcmp(state, "23001")) /* 23001: a delete ON DELETE RESTRICT refuses */
        return SQL_CONSTRAINT_FOREIGNKEY;
    if (!strncmp(state, "23", 2))
        return SQL_CONSTRAINT;
    if (!strcmp(state, "55P03") || !strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "57014"))
        return SQL_BUSY;
    /* 25006: a write reached a server that is read-only now (a primary demoted to standby); 57P01-57P03: the
     * server is shutting down or starting; 08xxx: the connection failed. All pass: UNAVAILABLE, try again. */
    if (!strcmp(state, "25006") || !strncmp(state, "57P0", 4) || !strncmp(state, "08", 2))
        return SQL_BUSY;
    return SQL_ERROR;
}

static void pg_keep_error(sql_db *db, const PGresult *r)
{
    const char *m = r ? PQresultErrorMessage(r) : NULL;
    if (!m || !*m)
        m = PQerrorMessage(db->pg);
    snprintf(db->msg, sizeof db->msg, "%s", m && *m ? m : "unknown PostgreSQL error");
    for (char *p = db->msg; (p = strchr(p, '\n'));) /* libpq's lines ("...\n\tIs the server running ...") as one */
        *p = p[1] == '\t' ? ';' : ' ';
    for (char *p = db->msg; (p = strchr(p, '\t'));)
        *p = ' ';
    size_t n = strlen(db->msg);
    while (n && (db->msg[n - 1] == '\n' || db->msg[n - 1] == ' '))
        db->msg[--n] = '\0';
}

/* NOTICEs ("relation exists, skipping") are not errors and go nowhere. A FATAL one, which comes while the
 * connection is idle ("terminating connection due to administrator command": a server shutting down, a primary
 * being demoted), says the connection is ending before its end of file arrives: reopen it (pg_ready). */
static void pg_notice(void *arg, const PGresult *r)
{
    sql_db *db = arg;
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (sev && (!strcmp(sev, "FATAL") || !strcmp(sev, "PANIC")))
        db->reopen = true;
}

static int lite_code(int rc)
{
    /* a delete ON DELETE RESTRICT refuses comes as a trigger's constraint; the store has no triggers of its own */
    if (rc == SQLITE_CONSTRAINT_TRIGGER)
        return SQL_CONSTRAINT_FOREIGNKEY;
    if (rc == SQLITE_ROW || rc == SQLITE_DONE || rc == SQLITE_OK)
        return rc;
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return SQL_CONSTRAINT_UNIQUE;
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return SQL_CONSTRAINT_FOREIGNKEY;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return SQL_CONSTRAINT;
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return SQL_BUSY;
    return SQL_ERROR;
}

/* ---- connections ---- */
bool sql_is_pg(const sql_db *db)
{
    return db->pg != NULL;
}
const char *sql_target(const sql_db *db)
{
    return db->target;
}
struct sqlite3 *sql_sqlite(sql_db *db)
{
    return db->lite;
}

const char *sql_errmsg(const sql_db *db)
{
    return db->pg ? db->msg : sqlite3_errmsg(db->lite);
}

int sql_fail(sql_db *db, yun_err *err, const char *what)
{
    if (db->pg && (PQstatus(db->pg) != CONNECTION_OK || db->lost_tx))
        return yun_err_set(err, YUN_E_UNAVAILABLE, "%s: the database is out of reach: try again shortly (%s; store %s)",
                           what, sql_errmsg(db), db->target);
    bool busy = db->last_rc == SQL_BUSY;
    return yun_err_set(err, busy ? YUN_E_UNAVAILABLE : YUN_E_STORE, "%s: %s (store %s)", what, sql_errmsg(db),
                       db->target);
}

void sql_close(sql_db *db)
{
    if (!db)
        return;
    if (db->pg)
        PQfinish(db->pg);
    if (db->lite)
        sqlite3_close(db->lite);
    free(db->target);
    free(db);
}

/* What every new connection gets, the first and each reopened one (the server it reached named in target). */
static int pg_setup(sql_db *db)
{
    PQsetNoticeReceiver(db->pg, pg_notice, db);
    char t[512];
    snprintf(t, sizeof t, "postgres database %s on %s port %s", PQdb(db->pg), PQhost(db->pg), PQport(db->pg));
    free(db->target);
    db->target = xstrdup(t);
    /* a writer waits for another's lock as long as SQLite's busy timeout, then fails UNAVAILABLE */
    return sql_exec(db, "SET lock_timeout = '5s'; SET client_encoding = 'UTF8'");
}

/* Before each statement on PostgreSQL: a connection whose server went away (it died, or it was a primary and a
 * standby was promoted in its place) is opened again with the same conninfo, so a conninfo naming several hosts
 * with target_session_attrs=read-write follows the primary. Only between transactions: a transaction whose
 * connection was lost fails to its end (lost_tx), as its work is gone. A session advisory lock (leadership)
 * does not survive this: leading becomes false, to be taken again (sql_try_lead). SQL_OK, or SQL_BUSY with
 * the message kept. */
static int pg_ready(sql_db *db)
{
    if (db->lost_tx) {
        snprintf(db->msg, sizeof db->msg,
                 "the connection to PostgreSQL was lost inside this transaction, so it "
                 "was not committed (it is opened again after)");
        return db->last_rc = SQL_BUSY;
    }
    if (PQstatus(db->pg) == CONNECTION_OK && PQtransactionStatus(db->pg) != PQTRANS_IDLE)
        return SQL_OK; /* a transaction's statements run, or fail, on its own connection */
    if (PQstatus(db->pg) == CONNECTION_OK && !db->reopen) {
        /* idle, nothing is due from the server: a readable socket is its goodbye (a "terminating connection"
         * message, then the end of file), which reading turns into CONNECTION_BAD */
        for (int i = 0; i < 4 && PQstatus(db->pg) == CONNECTION_OK; i++) {
            struct pollfd pfd = {.fd = PQsocket(db->pg), .events = POLLIN};
            if (pfd.fd < 0 || poll(&pfd, 1, 0) <= 0)
                break;
            if (PQconsumeInput(db->pg)) {
                PGnotify *n;
                while ((n = PQnotifies(db->pg)))
                    PQfreemem(n);
            }
        }
        if (PQstatus(db->pg) == CONNECTION_OK && !db->reopen)
            return SQL_OK;
    }
    char was[512];
    snprintf(was, sizeof was, "%s", db->target);
    db->leading = false;
    db->reopen = false;
    PQreset(db->pg);
    if (PQstatus(db->pg) != CONNECTION_OK) {
        pg_keep_error(db, NULL);
        return db->last_rc = SQL_BUSY;
    }
    int rc = pg_setup(db);
    log_info("store: the connection to %s was lost; reopened, now %s%s", was, db->target,
             rc == SQL_OK ? "" : " (its settings failed)");
    return rc;
}

/* After a failed statement: was the connection lost (and with it the transaction it was in)? */
static void pg_after_failure(sql_db *db, bool in_tx, const PGresult *r)
{
    if (PQstatus(db->pg) != CONNECTION_OK)
        db->lost_tx = in_tx;
    else if (r && PQresultErrorField(r, PG_DIAG_SQLSTATE) && !strcmp(PQresultErrorField(r, PG_DIAG_SQLSTATE), "25006"))
        db->reopen = true; /* a read-only server: look for the primary before the next statement */
}

static sql_db *pg_open(const char *target, yun_err *err)
{
    /* URIs go to libpq whole; "postgres:" followed by something else is a conninfo string. A connection attempt
     * waits at most 10 s for a server unless the conninfo says otherwise (libpq's default is forever). */
    const char *conninfo = strstr(target, "://") ? target : strchr(target, ':') + 1;
    const char *const keys[] = {"connect_timeout", "dbname", NULL};
    const char *const vals[] = {"10", conninfo, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        char m[512];
        snprintf(m, sizeof m, "%s", c ? PQerrorMessage(c) : "out of memory");
        m[strcspn(m, "\n")] = '\0';
        /* the same words as a lost connection (sql_fail): the pool opens stores while answering requests, and
         * the conninfo (which may hold a password) stays out of answers; yund names it when it starts */
        yun_err_set(err, YUN_E_UNAVAILABLE,
                    "the database is out of reach: try again shortly (%s; is PostgreSQL running there, and may "
                    "this user connect to that database?)",
                    m);
        PQfinish(c);
        return NULL;
    }
    sql_db *db = xcalloc(1, sizeof *db);
    db->pg = c;
    if (pg_setup(db) != SQL_OK) {
        sql_fail(db, err, "opening store");
        sql_close(db);
        return NULL;
    }
    return db;
}

static void lite_config(void)
{
    /* SQLite counts every allocation under one global mutex (its memory status, which yun never reads): with a
     * thousand agents' requests on their own handles at once, most of yund's threads queued on that mutex and
     * the pool's writers behind them (a 50,000-VM fill at 1,000 hosts stalled so, bench/scale.sh) */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

void sql_lite_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, lite_config);
}

static sql_db *lite_open(const char *path, yun_err *err)
{
    sql_lite_init();
    sql_db *db = xcalloc(1, sizeof *db);
    db->target = xstrdup(path);
    /* NOMUTEX: a handle belongs to one thread at a time (store.h), so SQLite's own per-call locking is waste */
    int rc = sqlite3_open_v2(path, &db->lite, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        yun_err_set(err, YUN_E_STORE, "opening store %s: %s (does its directory exist, and may yund write there?)",
                    path, db->lite ? sqlite3_errmsg(db->lite) : sqlite3_errstr(rc));
        sql_close(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db->lite, 1);
    sqlite3_busy_timeout(db->lite, BUSY_TIMEOUT_MS);
    /* WAL: readers (GET /v1/vms) never wait for the writer; synchronous=NORMAL is durable across a crash of yund
     * and at worst loses the last commits on power loss, which the level-triggered loops repair */
    char mode[16] = "";
    sql_stmt *st = sql_prepare(db, "PRAGMA journal_mode = WAL", err);
    if (st && sql_step(st) == SQL_ROW)
        snprintf(mode, sizeof mode, "%s", sql_column_text(st, 0));
    sql_finalize(st);
    if (!mode[0] || sql_exec(db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL") != SQL_OK) {
        sql_fail(db, err, "opening store");
        sql_close(db);
        return NULL;
    }
    if (strcmp(mode, "wal") && strcmp(path, ":memory:"))
        log_warn("store %s: journal mode is %s, not wal: readers will wait for writers", path, mode);
    return db;
}

sql_db *sql_open(const char *target, yun_err *err)
{
    if (!strncmp(target, "postgres:", 9) || !strncmp(target, "postgresql:", 11))
        return pg_open(target, err);
    return lite_open(target, err);
}

int sql_exec(sql_db *db, const char *text)
{
    if (!db->pg) {
        int rc = lite_code(sqlite3_exec(db->lite, text, NULL, NULL, NULL));
        if (rc != SQL_OK)
            rc = lite_code(sqlite3_extended_errcode(db->lite));
        return db->last_rc = rc == SQL_OK ? SQL_OK : (rc == SQL_ROW || rc == SQL_DONE ? SQL_ERROR : rc);
    }
    if (db->lost_tx && (!strcmp(text, "ROLLBACK") || !strcmp(text, "COMMIT"))) {
        /* the end of a transaction whose connection was lost: the server rolled it back */
        db->lost_tx = false;
        if (text[0] == 'R')
            return db->last_rc = SQL_OK;
        snprintf(db->msg, sizeof db->msg, "the connection to PostgreSQL was lost before COMMIT: not committed");
        return db->last_rc = SQL_BUSY;
    }
    if (pg_ready(db) != SQL_OK)
        return db->last_rc;
    bool in_tx = PQtransactionStatus(db->pg) != PQTRANS_IDLE;
    AUTOFREE char *t = pg_rewrite(text, true, NULL);
    PGresult *r = PQexec(db->pg, t);
    ExecStatusType s = PQresultStatus(r);
    int rc = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? SQL_OK : pg_code(r);
    if (rc != SQL_OK) {
        pg_keep_error(db, r);
        pg_after_failure(db, in_tx, r);
        if (PQstatus(db->pg) != CONNECTION_OK)
            rc = SQL_BUSY;
    }
    PQclear(r);
    return db->last_rc = rc;
}

int sql_begin_write(sql_db *db)
{
    if (!db->pg)
        return sql_exec(db, "BEGIN IMMEDIATE");
    char text[96];
    snprintf(text, sizeof text, "BEGIN; SELECT pg_advisory_xact_lock(%d)", PG_WRITE_LOCK);
    int rc = sql_exec(db, text);
    if (rc != SQL_OK && PQstatus(db->pg) == CONNECTION_OK && sql_in_tx(db))
        PQclear(PQexec(db->pg, "ROLLBACK")); /* keeps last_rc and the message: the failure is BEGIN's */
    return rc;
}

bool sql_in_tx(sql_db *db)
{
    if (db->pg) {
        PGTransactionStatusType t = PQtransactionStatus(db->pg);
        return t == PQTRANS_UNKNOWN ? db->lost_tx : t != PQTRANS_IDLE;
    }
    return !sqlite3_get_autocommit(db->lite);
}

/* one integer from a query without parameters */
static int query_int(sql_db *db, const char *text, int64_t *v, yun_err *err)
{
    sql_stmt *st = sql_prepare(db, text, err);
    if (!st)
        return -1;
    int rc = sql_step(st);
    if (rc == SQL_ROW)
        *v = sql_column_int64(st, 0);
    sql_finalize(st);
    if (rc != SQL_ROW)
        return sql_fail(db, err, text);
    return 0;
}

int sql_version_get(sql_db *db, int *v, yun_err *err)
{
    int64_t n = 0;
    if (!db->pg) {
        if (query_int(db, "PRAGMA user_version", &n, err) < 0)
            return -1;
    } else {
        if (query_int(db,
                      "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() "
                      "AND table_name = 'yun_schema'",
                      &n, err) < 0)
            return -1;
        if (n && query_int(db, "SELECT COALESCE(max(version), 0) FROM yun_schema", &n, err) < 0)
            return -1;
    }
    *v = (int)n;
    return 0;
}

int sql_version_set(sql_db *db, int v, yun_err *err)
{
    char text[160];
    if (!db->pg)
        snprintf(text, sizeof text, "PRAGMA user_version = %d", v);
    else
        snprintf(text, sizeof text,
                 "CREATE TABLE IF NOT EXISTS yun_schema (version INTEGER NOT NULL); DELETE FROM yun_schema; "
                 "INSERT INTO yun_schema (version) VALUES (%d)",
                 v);
    if (sql_exec(db, text) != SQL_OK)
        return sql_fail(db, err, "writing the schema version");
    return 0;
}

int sql_table_count(sql_db *db, int64_t *n, yun_err *err)
{
    return query_int(db,
                     db->pg ? "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() "
                              "AND table_name <> 'yun_schema'"
                            : "SELECT count(*) FROM sqlite_schema",
                     n, err);
}

int sql_try_lead(sql_db *db, bool *leading, yun_err *err)
{
    *leading = true;
    if (!db->pg)
        return 0;
    /* a connection opened again holds no lock any more (pg_ready clears leading): decide what to ask after it */
    if (pg_ready(db) != SQL_OK) {
        db->leading = *leading = false;
        return sql_fail(db, err, "checking leadership");
    }
    /* holding it: the lock lasts as long as the connection, so a live connection is all to check; not holding
     * it: try (pg_try_advisory_lock never waits) */
    char text[64];
    snprintf(text, sizeof text, db->leading ? "SELECT 1" : "SELECT pg_try_advisory_lock(%d)::int", PG_LEAD_LOCK);
    int64_t got = 0;
    if (query_int(db, text, &got, err) < 0 || PQstatus(db->pg) != CONNECTION_OK) {
        db->leading = *leading = false;
        return -1;
    }
    db->leading = *leading = got == 1;
    return 0;
}

int64_t sql_changes(sql_db *db)
{
    return db->pg ? db->changes : sqlite3_changes64(db->lite);
}

/* ---- statements ---- */
sql_stmt *sql_prepare(sql_db *db, const char *text, yun_err *err)
{
    sql_stmt *st = xcalloc(1, sizeof *st);
    st->db = db;
    st->blob_col = -1;
    if (!db->pg) {
        if (sqlite3_prepare_v3(db->lite, text, -1, SQLITE_PREPARE_PERSISTENT, &st->lite, NULL) != SQLITE_OK) {
            db->last_rc = SQL_ERROR;
            char what[512];
            snprintf(what, sizeof what, "preparing statement %.400s", text);
            sql_fail(db, err, what);
            free(st);
            return NULL;
        }
        return st;
    }
    st->text = pg_rewrite(text, false, &st->n);
    st->p = xcalloc((size_t)st->n + 1, sizeof *st->p);
    return st;
}

static void pg_clear_row(sql_stmt *st)
{
    if (st->blob)
        PQfreemem(st->blob);
    st->blob = NULL;
    st->blob_col = -1;
}

void sql_reset(sql_stmt *st)
{
    if (!st)
        return;
    st->got_row = false;
    if (st->lite) {
        sqlite3_reset(st->lite);
        sqlite3_clear_bindings(st->lite);
        return;
    }
    pg_clear_row(st);
    PQclear(st->res);
    st->res = NULL;
    for (int i = 0; i < st->n; i++) {
        free(st->p[i].own);
        memset(&st->p[i], 0, sizeof st->p[i]);
    }
}

void sql_finalize(sql_stmt *st)
{
    if (!st)
        return;
    sql_reset(st);
    sqlite3_finalize(st->lite);
    free(st->text);
    free(st->p);
    free(st);
}

static pg_param *pg_slot(sql_stmt *st, int i)
{
    if (i < 1 || i > st->n)
        return NULL; /* as sqlite3: binding a parameter the text does not have does nothing */
    pg_param *p = &st->p[i - 1];
    free(p->own);
    memset(p, 0, sizeof *p);
    p->bound = true;
    return p;
}

void sql_bind_int64(sql_stmt *st, int i, int64_t v)
{
    if (st->lite) {
        sqlite3_bind_int64(st->lite, i, v);
        return;
    }
    pg_param *p = pg_slot(st, i);
    if (!p)
        return;
    snprintf(p->num, sizeof p->num, "%lld", (long long)v);
    p->val = p->num;
    p->type = OID_INT8;
}

void sql_bind_int(sql_stmt *st, int i, int v)
{
    sql_bind_int64(st, i, v);
}

void sql_bind_text(sql_stmt *st, int i, const char *v, int len)
{
    if (st->lite) {
        sqlite3_bind_text(st->lite, i, v, len, SQLITE_STATIC);
        return;
    }
    pg_param *p = pg_slot(st, i);
    if (!p)
        return;
    p->own = len < 0 ? xstrdup(v) : strndup(v, (size_t)len);
    if (!p->own)
        abort();
    p->val = p->own;
    p->type = OID_TEXT;
}

void sql_bind_blob(sql_stmt *st, int i, const void *v, size_t len)
{
    if (st->lite) {
        sqlite3_bind_blob64(st->lite, i, v ? v : "", len, SQLITE_STATIC);
        return;
    }
    pg_param *p = pg_slot(st, i);
    if (!p)
        return;
    p->val = v ? v : ""; /* a NULL pointer would be SQL NULL, not an empty blob */
    p->len = (int)len;
    p->fmt = 1;
    p->type = OID_BYTEA;
}

void sql_bind_null(sql_stmt *st, int i)
{
    if (st->lite) {
        sqlite3_bind_null(st->lite, i);
        return;
    }
    pg_slot(st, i); /* NULL of the type the text implies */
}

static int pg_step(sql_stmt *st)
{
    sql_db *db = st->db;
    pg_clear_row(st);
    if (st->res) {
        st->row++;
        return st->row < PQntuples(st->res) ? SQL_ROW : SQL_DONE;
    }
    int n = st->n;
    const char *vals[n + 1];
    int lens[n + 1], fmts[n + 1];
    Oid types[n + 1];
    for (int i = 0; i < n; i++) {
        pg_param *p = &st->p[i];
        vals[i] = p->val;
        lens[i] = p->len;
        fmts[i] = p->fmt;
        /* a parameter one variant of a query leaves out still needs a type: text, and NULL */
        types[i] = p->bound ? p->type : OID_TEXT;
    }
    if (pg_ready(db) != SQL_OK)
        return db->last_rc;
    bool in_tx = PQtransactionStatus(db->pg) != PQTRANS_IDLE;
    PGresult *r = PQexecParams(db->pg, st->text, n, types, vals, lens, fmts, 0);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
        int rc = pg_code(r);
        pg_keep_error(db, r);
        pg_after_failure(db, in_tx, r);
        PQclear(r);
        return db->last_rc = PQstatus(db->pg) != CONNECTION_OK ? SQL_BUSY : rc;
    }
    const char *ct = PQcmdTuples(r);
    db->changes = ct && *ct ? strtoll(ct, NULL, 10) : 0;
    st->res = r;
    st->row = 0;
    return st->row < PQntuples(r) ? SQL_ROW : SQL_DONE;
}

/* Outside an explicit transaction, a write that finds another writer's newer snapshot gets SQLITE_BUSY_SNAPSHOT
 * without the busy handler being asked; before the first row, starting over is safe, until the busy timeout.
 * Inside a transaction BEGIN IMMEDIATE already holds the lock. */
static int lite_step(sql_stmt *st)
{
    int64_t t0 = 0;
    for (;;) {
        int rc = sqlite3_step(st->lite);
        if ((rc & 0xff) != SQLITE_BUSY || st->got_row || !sqlite3_get_autocommit(st->db->lite))
            return lite_code(rc);
        if (!t0)
            t0 = yun_mono_ms();
        else if (yun_mono_ms() - t0 > BUSY_TIMEOUT_MS)
            return lite_code(rc);
        sqlite3_reset(st->lite);
        yun_sleep_ms(2);
    }
}

int sql_step(sql_stmt *st)
{
    int rc = st->lite ? lite_step(st) : pg_step(st);
    if (rc == SQL_ROW)
        st->got_row = true;
    else if (rc != SQL_DONE)
        st->db->last_rc = rc;
    return rc;
}

static const char *pg_value(sql_stmt *st, int i)
{
    if (!st->res || st->row >= PQntuples(st->res) || i >= PQnfields(st->res) || PQgetisnull(st->res, st->row, i))
        return NULL;
    return PQgetvalue(st->res, st->row, i);
}

int64_t sql_column_int64(sql_stmt *st, int i)
{
    if (st->lite)
        return sqlite3_column_int64(st->lite, i);
    const char *v = pg_value(st, i);
    return v ? strtoll(v, NULL, 10) : 0;
}

int sql_column_int(sql_stmt *st, int i)
{
    return (int)sql_column_int64(st, i);
}

const char *sql_column_text(sql_stmt *st, int i)
{
    if (st->lite)
        return (const char *)sqlite3_column_text(st->lite, i);
    return pg_value(st, i);
}

const void *sql_column_blob(sql_stmt *st, int i)
{
    if (st->lite)
        return sqlite3_column_blob(st->lite, i);
    const char *v = pg_value(st, i);
    if (!v || PQftype(st->res, i) != OID_BYTEA)
        return v;
    if (st->blob_col != i) {
        pg_clear_row(st);
        st->blob = PQunescapeBytea((const unsigned char *)v, &st->blob_len);
        if (!st->blob)
            abort(); /* out of memory */
        st->blob_col = i;
    }
    return st->blob;
}

size_t sql_column_bytes(sql_stmt *st, int i)
{
    if (st->lite)
        return (size_t)sqlite3_column_bytes(st->lite, i);
    if (!pg_value(st, i))
        return 0;
    if (PQftype(st->res, i) == OID_BYTEA) {
        sql_column_blob(st, i);
        return st->blob_len;
    }
    return (size_t)PQgetlength(st->res, st->row, i);
}
