/* sql.h: the statement layer under the store (private to src/store): one SQL text per query and per migration,
 * run on SQLite or on PostgreSQL (libpq). Calls are shaped like sqlite3's (bind by 1-based index, step returning
 * SQL_ROW then SQL_DONE), so a store function written for sqlite3 converts name for name.
 *
 * The SQL is SQLite's, written to be PostgreSQL's too; the few differences are rewritten for PostgreSQL in one
 * place (sql.c, pg_rewrite): placeholders ?N and ? become $N; in DDL run by sql_exec, INTEGER becomes BIGINT,
 * "INTEGER PRIMARY KEY [AUTOINCREMENT]" BIGSERIAL PRIMARY KEY (SQLite's rowid: numbered when left out), BLOB
 * BYTEA. Quote PostgreSQL's reserved words used as names ("user"). Write COALESCE (not IFNULL),
 * IS NOT DISTINCT FROM (not IS with a parameter), INSERT ... ON CONFLICT ... DO UPDATE (not INSERT OR REPLACE),
 * INSERT ... RETURNING id (not last_insert_rowid), integers for booleans.
 *
 * Converting a store function written against sqlite3 (store_sql.c): sqlite3_stmt -> sql_stmt; sqlite3_bind_X ->
 * sql_bind_X (drop SQLITE_STATIC; blob64 -> blob); sqlite3_column_X -> sql_column_X; step(q, st, ...) ->
 * sql_step(st); SQLITE_ROW/DONE/CONSTRAINT_* -> SQL_*; sqlite3_changes -> sql_changes; prepare with stmt() (the
 * table) or job_prepare (kept per store, reset by AUTORESET, never finalized); then make its SQL the dialect
 * above. Tell constraints apart by the step's code (SQL_CONSTRAINT_UNIQUE, _FOREIGNKEY), and two UNIQUEs of one
 * table by the column's name in sql_errmsg (SQLite "networks.vni", PostgreSQL "networks_vni_key"). A new
 * migration is one string in migrations[], written as today's (INTEGER, BLOB, AUTOINCREMENT are rewritten for
 * PostgreSQL); a test case of test_store.c then runs it on both back ends (the store and store_pg tests).
 *
 * A sql_db is used by one thread at a time, as a yun_store is. Text and blobs bound stay the caller's and must
 * live until the statement's next step or reset. Column values live until the next step or reset. */
#ifndef YUN_STORE_SQL_H
#define YUN_STORE_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct sql_db sql_db;
typedef struct sql_stmt sql_stmt;

/* step results; the constraint codes are the ones the store turns into words users see */
enum {
    SQL_OK = 0,
    SQL_ERROR = 1,
    SQL_BUSY = 5, /* another writer held the lock past the busy timeout */
    SQL_ROW = 100,
    SQL_DONE = 101,
    SQL_CONSTRAINT_UNIQUE = 2067,     /* a UNIQUE or PRIMARY KEY taken */
    SQL_CONSTRAINT_FOREIGNKEY = 787,  /* a reference to an absent row, or a delete others still refer to */
    SQL_CONSTRAINT = 19,              /* any other constraint */
};

/* target: "postgres://..." or "postgresql://..." (a libpq URI) or "postgres:KEY=VALUE ..." (a libpq conninfo
 * string), else a SQLite file name (or ":memory:"). SQLite gets WAL, foreign keys and a 5 s busy timeout.
 * PostgreSQL: connect_timeout is 10 s unless the target says; a connection the server ended (it died, or a
 * standby was promoted in its place) is opened again with the same target before the next statement outside
 * a transaction, so a target naming several hosts with target_session_attrs=read-write follows the primary;
 * a transaction whose connection was lost fails to its end (COMMIT included) with SQL_BUSY (UNAVAILABLE). */
/* SQLite's process-wide settings, once, before its first handle (sql_open calls it; so does any other
 * opener of an SQLite file in yund: the metrics store). */
void sql_lite_init(void);
sql_db *sql_open(const char *target, yun_err *err);
void sql_close(sql_db *db);
bool sql_is_pg(const sql_db *db);
const char *sql_target(const sql_db *db); /* as opened, for messages (a PostgreSQL password is not shown) */
const char *sql_errmsg(const sql_db *db); /* the last failure on this connection */
/* The failure a step returned, as the store reports it: SQL_BUSY is UNAVAILABLE, anything else STORE. */
int sql_fail(sql_db *db, yun_err *err, const char *what);

/* Runs one or more statements without parameters (migrations, BEGIN, COMMIT); SQL_OK or an error code. */
int sql_exec(sql_db *db, const char *text);
/* A transaction that writes: takes the write lock at once (SQLite BEGIN IMMEDIATE; PostgreSQL BEGIN and a
 * transaction-scoped advisory lock, so transactions that read then write see the same serial order as on
 * SQLite, also across several yund on one database). */
int sql_begin_write(sql_db *db);
bool sql_in_tx(sql_db *db); /* inside BEGIN .. COMMIT/ROLLBACK */

/* The schema version (SQLite: PRAGMA user_version; PostgreSQL: table yun_schema, 0 when absent); set runs
 * inside the migration's transaction. */
int sql_version_get(sql_db *db, int *v, yun_err *err);
int sql_version_set(sql_db *db, int v, yun_err *err);
/* How many tables the database holds besides the version's own (a fresh database has none). */
int sql_table_count(sql_db *db, int64_t *n, yun_err *err);

sql_stmt *sql_prepare(sql_db *db, const char *text, yun_err *err); /* NULL and err set on failure */
void sql_finalize(sql_stmt *st);
void sql_reset(sql_stmt *st); /* back to before the first step, bindings cleared */
void sql_bind_int64(sql_stmt *st, int i, int64_t v);
void sql_bind_int(sql_stmt *st, int i, int v);
void sql_bind_text(sql_stmt *st, int i, const char *v, int len); /* len < 0: up to the NUL */
void sql_bind_blob(sql_stmt *st, int i, const void *v, size_t len);
void sql_bind_null(sql_stmt *st, int i);
/* SQL_ROW (a row to read), SQL_DONE, or an error code. Outside a transaction a step that has not yet returned
 * a row is tried again while the database is busy, up to the busy timeout. */
int sql_step(sql_stmt *st);
int64_t sql_column_int64(sql_stmt *st, int i);
int sql_column_int(sql_stmt *st, int i);
const char *sql_column_text(sql_stmt *st, int i); /* NULL for NULL */
const void *sql_column_blob(sql_stmt *st, int i);
size_t sql_column_bytes(sql_stmt *st, int i); /* of the text or blob just read */
int64_t sql_changes(sql_db *db);              /* rows the last finished write changed */

/* Leadership among the processes sharing this database: PostgreSQL, a session advisory lock on this connection,
 * taken when free and held until the connection ends (with its process, kill -9 included); *leading says
 * whether this connection holds it now (false, and an error, when the connection is lost; a connection opened
 * again holds nothing until this takes the lock again). SQLite: always
 * true (one yund per file, which its state folder's lock already makes sure of). */
int sql_try_lead(sql_db *db, bool *leading, yun_err *err);

/* The SQLite connection under db (for SQLite's online backup), NULL on PostgreSQL. */
struct sqlite3 *sql_sqlite(sql_db *db);

#endif
