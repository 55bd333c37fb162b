/* store_target.h: where a unit test's store lives. Run plainly: SQLite in memory. Run by tests/pg_fixture.sh
 * (YUN_TEST_PG set, meson's *_pg tests): a fresh schema in the fixture's PostgreSQL 15 for each call, so the
 * same cases test both back ends. Include after cmocka.h. */
#ifndef YUN_TESTS_STORE_TARGET_H
#define YUN_TESTS_STORE_TARGET_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* YUN_TEST_PG: libpq conninfo of the fixture's cluster (its "postgres" database); NULL: SQLite */
static inline const char *test_pg_admin(void)
{
    const char *p = getenv("YUN_TEST_PG");
    return p && *p ? p : NULL;
}

/* A fresh, empty schema in the fixture's cluster (a database each would cost seconds per case), as store_open
 * takes it ("postgres:CONNINFO" whose search_path is that schema). */
static inline void test_pg_fresh(char *out, size_t n)
{
    static int seq;
    PGconn *c = PQconnectdb(test_pg_admin());
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("PostgreSQL fixture (%s): %s", test_pg_admin(), PQerrorMessage(c));
    char name[48], q[96];
    snprintf(name, sizeof name, "yun_t%d_%d", (int)getpid(), ++seq);
    snprintf(q, sizeof q, "CREATE SCHEMA %s", name);
    PGresult *r = PQexec(c, q);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", q, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    snprintf(out, n, "postgres:%s options='-csearch_path=%s'", test_pg_admin(), name);
}

/* A store no other test case sees: ":memory:", or a fresh PostgreSQL schema under the fixture. */
static inline void test_store_target(char *out, size_t n)
{
    if (test_pg_admin())
        test_pg_fresh(out, n);
    else
        snprintf(out, n, ":memory:");
}

#endif
