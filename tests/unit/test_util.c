#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/err.h"
#include "util/mem.h"
#include "util/num.h"
#include "util/proc.h"
#include "util/clock.h"
#include "util/units.h"
#include "util/http_client.h"
#include "fake_http.h"
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <pthread.h>

static void test_err_maps_to_http(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(yun_err_set(&err, YUN_E_NOT_FOUND, "vm %s not found", "web1"), -1);
    assert_string_equal(err.msg, "vm web1 not found");
    assert_int_equal(yun_err_http_status(err.code), 404);
    assert_string_equal(yun_err_code_name(err.code), "not_found");
    assert_int_equal(yun_err_code_from_name("no_capacity"), YUN_E_NO_CAPACITY);
    yun_err_prefix(&err, "deleting: ");
    assert_string_equal(err.msg, "deleting: vm web1 not found");
    yun_err_sys(&err, YUN_E_IO, 2, "opening %s", "x");
    assert_string_equal(err.msg, "opening x: No such file or directory");
    assert_int_equal(err.sys_errno, 2);
}

static void test_units_parse(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    uint64_t m = 0;
    assert_int_equal(units_parse_mib("128M", "memory", &m, &err), 0);
    assert_int_equal(m, 128);
    assert_int_equal(units_parse_mib("1G", "disk", &m, &err), 0);
    assert_int_equal(m, 1024);
    assert_int_equal(units_parse_mib("1.5g", "disk", &m, &err), 0);
    assert_int_equal(m, 1536);
    assert_int_equal(units_parse_mib("2T", "disk", &m, &err), 0);
    assert_int_equal(m, 2 * 1024 * 1024);
    assert_int_equal(units_parse_mib("1536K", "memory", &m, &err), 0);
    assert_int_equal(m, 2); /* rounds up */
    assert_int_equal(units_parse_mib("64MiB", "memory", &m, &err), 0);
    assert_int_equal(m, 64);
    assert_int_equal(units_parse_mib("300", "memory", &m, &err), 0);
    assert_int_equal(m, 300);
    const char *bad[] = {"", "abc", "12Q", "-1G", "0", "0M", "1Gx", " 1G"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(units_parse_mib(bad[i], "memory", &m, &err), -1);
        assert_int_equal(err.code, YUN_E_INVALID);
        assert_non_null(strstr(err.msg, "memory"));
    }
    char b[32];
    assert_string_equal(units_format_mib(1024, b, sizeof b), "1G");
    assert_string_equal(units_format_mib(96, b, sizeof b), "96M");
    assert_string_equal(units_format_mib(1536, b, sizeof b), "1536M");
}

static void test_num_parse(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    int64_t v = 7;
    assert_int_equal(num_parse_i64("42", "cpus", 1, 64, &v, &err), 0);
    assert_int_equal(v, 42);
    assert_int_equal(num_parse_i64("-0", "n", 0, 10, &v, &err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(num_parse_i64("9223372036854775807", "n", INT64_MIN, INT64_MAX, &v, &err), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(num_parse_i64("-9223372036854775808", "n", INT64_MIN, INT64_MAX, &v, &err), 0);
    assert_true(v == INT64_MIN);
    /* each refused with the parameter's name and the range, and *out untouched */
    const char *bad[] = {"",
                         "-",
                         "+5",
                         " 5",
                         "5 ",
                         "12abc",
                         "1e99",
                         "2.0",
                         "0x10",
                         "65",
                         "0",
                         "-1",
                         "9223372036854775808",
                         "-9223372036854775809",
                         "99999999999999999999999",
                         "184467440737095516160"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7;
        yun_err_clear(&err);
        if (num_parse_i64(bad[i], "cpus", 1, 64, &v, &err) == 0)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_int_equal(err.code, YUN_E_INVALID);
        assert_int_equal(v, 7);
        if (!strstr(err.msg, "cpus") || !strstr(err.msg, "from 1 to 64"))
            fail_msg("\"%s\": \"%s\" does not name cpus and 1 to 64", bad[i], err.msg);
    }
    assert_int_equal(num_parse_i64("99999999999999999999999999999999999999999", "to", 0, 9, &v, &err), -1);
    assert_non_null(strstr(err.msg, "...")); /* cut, and says so */

    json_t *j = json_loads("[5, 2.0, 1e99, \"5\", -0, 9223372036854775807]", 0, NULL);
    assert_int_equal(num_json_i64(json_array_get(j, 0), "cpus", 1, 64, &v, &err), 0);
    assert_int_equal(v, 5);
    for (size_t i = 1; i < 4; i++) {
        assert_int_equal(num_json_i64(json_array_get(j, i), "cpus", 1, 64, &v, &err), -1);
        assert_non_null(strstr(err.msg, "from 1 to 64"));
    }
    assert_int_equal(num_json_i64(json_array_get(j, 4), "cap", 0, 100, &v, &err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(num_json_i64(json_array_get(j, 5), "cpus", 1, 64, &v, &err), -1);
    assert_non_null(strstr(err.msg, "cpus 9223372036854775807 is out of range: give a whole number from 1 to 64"));
    json_decref(j);

    assert_true(num_add_sat(INT64_MAX, 1) == INT64_MAX);
    assert_true(num_add_sat(INT64_MIN, -1) == INT64_MIN);
    assert_int_equal(num_add_sat(2, 3), 5);
    assert_true(num_mul_sat(INT64_MAX / 2, 3) == INT64_MAX);
    assert_true(num_mul_sat(INT64_MAX / 2, -3) == INT64_MIN);
    assert_int_equal(num_mul_sat(-4, 5), -20);
    assert_true(num_u64_sat(UINT64_MAX) == INT64_MAX);
    assert_int_equal(num_u64_sat(12), 12);
}

static void test_buf(void **state)
{
    (void)state;
    yun_buf b = YUN_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%d,", i);
    buf_puts(&b, "end");
    AUTOFREE char *s = buf_steal(&b);
    assert_int_equal(strncmp(s, "0,1,2,", 6), 0);
    assert_non_null(strstr(s, "999,end"));
    assert_null(b.data);
    yun_buf e = YUN_BUF_INIT;
    AUTOFREE char *empty = buf_steal(&e);
    assert_string_equal(empty, "");
    /* presized: exactly the room asked for, what is there kept, never shrunk; appends fill it without growing */
    yun_buf p = YUN_BUF_INIT;
    buf_puts(&p, "ab");
    buf_presize(&p, 1000);
    assert_int_equal(p.cap, 1001);
    assert_string_equal(p.data, "ab");
    buf_presize(&p, 10);
    assert_int_equal(p.cap, 1001);
    char *at = p.data;
    for (int i = 0; i < 998; i++)
        buf_append(&p, "x", 1);
    assert_ptr_equal(p.data, at);
    assert_int_equal(p.len, 1000);
    buf_append(&p, "y", 1); /* past it: grows as before */
    assert_int_equal(p.len, 1001);
    assert_int_equal(p.data[1000], 'y');
    buf_free(&p);
}

static void test_utf8_seq(void **state)
{
    (void)state;
    const struct {
        const char *s;
        size_t n, len;
    } t[] = {
        {"a", 1, 1},
        {"\xc3\xa9", 2, 2},
        {"\xe2\x82\xac", 3, 3},
        {"\xf0\x9f\x98\x80", 4, 4},
        {"\xc3", 1, 0},
        /* cut short */ {"\xc0\xaf", 2, 0}, /* overlong */
        {"\xed\xa0\x80", 3, 0},
        /* a surrogate */ {"\xf4\x90\x80\x80", 4, 0}, /* above U+10FFFF */
        {"\x80", 1, 0},
        /* a lone continuation */ {"", 1, 0}, /* NUL */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        assert_int_equal(str_utf8_seq((const unsigned char *)t[i].s, t[i].n), t[i].len);
}

static void test_mkdir_p(void **state)
{
    (void)state;
    char dir[] = "/tmp/yun-test-fs.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char deep[128], file[160];
    snprintf(deep, sizeof deep, "%s/a/b/c", dir);
    snprintf(file, sizeof file, "%s/x/y/file", dir);
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(fs_mkdir_p(deep, 0700, &err), 0);
    assert_int_equal(fs_mkdir_p(deep, 0700, &err), 0); /* again: fine */
    struct stat st;
    assert_int_equal(stat(deep, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(fs_mkdir_parent(file, 0755, &err), 0);
    snprintf(deep, sizeof deep, "%s/x/y", dir);
    assert_int_equal(stat(deep, &st), 0);
    assert_int_equal(access(file, F_OK), -1); /* only its folder */
    snprintf(deep, sizeof deep, "%s/x/y/file/z", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(fs_mkdir_p(deep, 0755, &err), -1); /* a file in the way */
    assert_int_equal(err.code, YUN_E_IO);
    assert_non_null(strstr(err.msg, "creating folder"));
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_not_found(void **state)
{
    (void)state;
    yun_err e = YUN_ERR_INIT;
    assert_false(yun_err_not_found(&e));
    assert_false(yun_err_not_found(NULL));
    yun_err_set(&e, YUN_E_NOT_FOUND, "no such VM");
    assert_true(yun_err_not_found(&e));
    yun_err_set(&e, YUN_E_STORE, "disk full");
    assert_false(yun_err_not_found(&e));
}

/* proc_run: output and status; the extra environment; a program that runs too long is stopped, its children
 * too; a missing program names its package. */
static void test_proc_run(void **state)
{
    (void)state;
    yun_buf out = YUN_BUF_INIT, etext = YUN_BUF_INIT;
    yun_err err = YUN_ERR_INIT;
    char *env[] = {"YUN_T=42", NULL};
    char *echo[] = {"sh", "-c", "echo out $YUN_T; echo err >&2; exit 5", NULL};
    assert_int_equal(proc_run(echo, env, 0, &out, &etext, NULL, &err), 5);
    assert_string_equal(out.data, "out 42\n");
    assert_string_equal(etext.data, "err\n");
    char *slow[] = {"sh", "-c", "sleep 30 & sleep 30", NULL};
    int64_t t0 = yun_mono_ms();
    assert_int_equal(proc_run(slow, NULL, 300, NULL, NULL, NULL, &err), -1);
    assert_true(yun_mono_ms() - t0 < 10000);
    assert_int_equal(err.code, YUN_E_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "sh did not finish within 0.3 s"));
    char *none[] = {"yun-no-such-program", NULL};
    buf_free(&etext);
    assert_int_equal(proc_run(none, NULL, 0, NULL, &etext, "yun-pkg", &err), -1);
    assert_non_null(strstr(err.msg, "cannot run yun-no-such-program: is it installed (Debian package yun-pkg)?"));
    buf_free(&out);
    buf_free(&etext);
}

/* The client port of each request a fake_http saw: a new port is a new connection. */
typedef struct seen_ports {
    pthread_mutex_t lock; /* guards n and port */
    int n;
    unsigned port[8];
} seen_ports;

static void note_port(void *ud, const fake_http_req *rq, fake_http_resp *rs)
{
    seen_ports *sp = ud;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    pthread_mutex_lock(&sp->lock);
    if (sp->n < 8)
        sp->port[sp->n++] = ntohs(((const struct sockaddr_in *)ci->client_addr)->sin_port);
    pthread_mutex_unlock(&sp->lock);
    buf_puts(&rs->body, "{}");
}

/* http_conn keeps its connection from one request to the next (an agent's reports: no handshake each);
 * http_request makes one per request. The server's view, the client's port, tells them apart. */
static void test_http_conn_kept(void **state)
{
    (void)state;
    http_global_init();
    seen_ports sp = {.lock = PTHREAD_MUTEX_INITIALIZER};
    fake_http *srv = fake_http_start(note_port, &sp);
    assert_non_null(srv);
    AUTOFREE char *url = xasprintf("%s/v1/agent/hosts/1/report", fake_http_url(srv));
    http_conn *hc = http_conn_new();
    for (int i = 0; i < 3; i++) {
        http_resp r;
        yun_err e = YUN_ERR_INIT;
        assert_int_equal(http_conn_request(hc, "POST", url, "tok", "application/json", "{}", 2, 5000, &r, &e), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "{}");
        http_resp_free(&r);
    }
    for (int i = 0; i < 2; i++) {
        http_resp r;
        yun_err e = YUN_ERR_INIT;
        assert_int_equal(http_request("POST", url, "tok", "application/json", "{}", 2, 5000, &r, &e), 0);
        http_resp_free(&r);
    }
    http_conn_free(hc);
    fake_http_stop(srv);
    assert_int_equal(sp.n, 5);
    assert_int_equal(sp.port[1], sp.port[0]); /* the kept connection */
    assert_int_equal(sp.port[2], sp.port[0]);
    assert_int_not_equal(sp.port[3], sp.port[0]); /* a connection each */
    assert_int_not_equal(sp.port[4], sp.port[3]);
}

/* A controller that answers with its name, counting the requests it got. */
typedef struct named {
    pthread_mutex_t lock;
    const char *name;
    int n;
} named;

static void answer_name(void *ud, const fake_http_req *rq, fake_http_resp *rs)
{
    (void)rq;
    named *c = ud;
    pthread_mutex_lock(&c->lock);
    c->n++;
    pthread_mutex_unlock(&c->lock);
    buf_printf(&rs->body, "{\"by\":\"%s\"}", c->name);
}

/* A port nothing listens on (bound, then closed). */
static unsigned dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A server that takes each request whole and closes without a word: a yund killed between the request and its
 * answer. */
typedef struct silent {
    int fd;
    unsigned port;
    pthread_t t;
    int n; /* requests taken (one thread) */
} silent;

static void *silent_run(void *ud)
{
    silent *s = ud;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char b[4096];
        ssize_t r = read(c, b, sizeof b); /* curl sends a small request in one go */
        if (r > 0)
            __atomic_add_fetch(&s->n, 1, __ATOMIC_SEQ_CST);
        close(c);
    }
}

static void silent_start(silent *s)
{
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->fd, 8), 0);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->t, NULL, silent_run, s), 0);
}

static void silent_stop(silent *s)
{
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->t, NULL);
}

/* "by" of a JSON call to base + path, or NULL with e set. */
static char *call(const char *method, const char *base, yun_err *e)
{
    AUTOFREE char *url = xasprintf("%s/v1/vms", base);
    json_t *j = http_json(method, url, "tok", NULL, 5000, e);
    if (!j)
        return NULL;
    char *by = xstrdup(json_string_value(json_object_get(j, "by")));
    json_decref(j);
    return by;
}

/* Several controllers (http_global_controllers): a refused one is skipped and the one that answered is asked
 * first from then on; a change sent to one that closed without answering is not sent again (it may have been
 * made), a GET is; bad lists are refused saying why. */
static void test_http_failover(void **state)
{
    (void)state;
    http_global_init();
    named a = {.lock = PTHREAD_MUTEX_INITIALIZER, .name = "a"}, b = {.lock = PTHREAD_MUTEX_INITIALIZER, .name = "b"};
    fake_http *sa = fake_http_start(answer_name, &a), *sb = fake_http_start(answer_name, &b);
    assert_non_null(sa);
    assert_non_null(sb);
    yun_err e = YUN_ERR_INIT;
    char *first = NULL;
    AUTOFREE char *list = xasprintf("http://127.0.0.1:%u/, %s,%s", dead_port(), fake_http_url(sa), fake_http_url(sb));
    assert_int_equal(http_global_controllers(list, &first, &e), 0);
    AUTOFREE char *base = first;
    assert_null(strchr(base, ',')); /* the first, without its '/' */
    assert_int_equal(base[strlen(base) - 1] != '/', 1);
    char *by = call("GET", base, &e);
    assert_string_equal(by, "a"); /* the dead one skipped */
    free(by);
    by = call("POST", base, &e);
    assert_string_equal(by, "a"); /* asked first now */
    free(by);
    assert_int_equal(a.n, 2);
    fake_http_stop(sa); /* a dies: refused, so the POST was not sent there, and goes to b */
    by = call("POST", base, &e);
    assert_non_null(by);
    assert_string_equal(by, "b");
    free(by);
    by = call("GET", base, &e);
    assert_string_equal(by, "b");
    free(by);
    assert_int_equal(b.n, 2);

    /* one that takes the request and closes: a POST is not repeated, a GET is */
    silent q = {0};
    silent_start(&q);
    AUTOFREE char *list2 = xasprintf("http://127.0.0.1:%u,%s", q.port, fake_http_url(sb));
    char *first2 = NULL;
    assert_int_equal(http_global_controllers(list2, &first2, &e), 0);
    AUTOFREE char *base2 = first2;
    yun_err pe = YUN_ERR_INIT;
    assert_null(call("POST", base2, &pe));
    assert_int_equal(pe.code, YUN_E_UNAVAILABLE);
    if (!strstr(pe.msg, "The POST was sent and may have been carried out: check before repeating it"))
        fail_msg("%s", pe.msg);
    assert_int_equal(b.n, 2);
    by = call("GET", base2, &e);
    assert_string_equal(by, "b");
    free(by);
    assert_int_equal(b.n, 3);
    assert_int_equal(__atomic_load_n(&q.n, __ATOMIC_SEQ_CST), 2);
    silent_stop(&q);

    /* none answers: the last failure, saying so */
    AUTOFREE char *list3 = xasprintf("http://127.0.0.1:%u,http://127.0.0.1:%u", dead_port(), dead_port());
    char *first3 = NULL;
    assert_int_equal(http_global_controllers(list3, &first3, &e), 0);
    AUTOFREE char *base3 = first3;
    yun_err ne = YUN_ERR_INIT;
    assert_null(call("GET", base3, &ne));
    if (!strstr(ne.msg, "none of the 2 controllers answered; the last: cannot reach http://127.0.0.1:"))
        fail_msg("%s", ne.msg);

    char *f = NULL;
    yun_err be = YUN_ERR_INIT;
    assert_int_equal(http_global_controllers("https://a:1,ftp://b", &f, &be), -1);
    assert_int_equal(be.code, YUN_E_INVALID);
    assert_non_null(strstr(be.msg, "the controller URL \"ftp://b\" must start with https://"));
    assert_int_equal(http_global_controllers(" , ", &f, &be), -1);
    assert_non_null(strstr(be.msg, "no controller URL"));
    assert_null(f);
    fake_http_stop(sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_maps_to_http),
        cmocka_unit_test(test_units_parse),
        cmocka_unit_test(test_proc_run),
        cmocka_unit_test(test_num_parse),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_utf8_seq),
        cmocka_unit_test(test_mkdir_p),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_http_conn_kept),
        cmocka_unit_test(test_http_failover),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
