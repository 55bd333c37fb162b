/* yund's HTTPS identity (src/api/tls.c): made once, kept, made again only when it must be; the operator's pair
 * checked. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/tls.h"
#include "util/fs.h"
#include "util/mem.h"

static char dir[] = "/tmp/yun-test-tls.XXXXXX";

static char *slurp(const char *path)
{
    return fs_read_all(path, 1 << 20, NULL, NULL);
}

/* Does the PEM certificate name the IPv4 address ip? */
static bool names_ip(const char *pem, const char *ip)
{
    gnutls_x509_crt_t c;
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)strlen(pem)};
    gnutls_x509_crt_init(&c);
    assert_true(gnutls_x509_crt_import(c, &d, GNUTLS_X509_FMT_PEM) >= 0);
    unsigned char raw[4];
    sscanf(ip, "%hhu.%hhu.%hhu.%hhu", &raw[0], &raw[1], &raw[2], &raw[3]);
    bool r = gnutls_x509_crt_check_ip(c, raw, 4, 0) != 0;
    gnutls_x509_crt_deinit(c);
    return r;
}

static void test_made_then_kept(void **state)
{
    (void)state;
    AUTOFREE char *d = xasprintf("%s/a", dir);
    api_tls t, u;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(api_tls_load(d, NULL, NULL, "127.0.0.1", &t, &err), 0);
    AUTOFREE char *ca_path = xasprintf("%s/ca.pem", d);
    assert_string_equal(t.ca_path, ca_path);
    assert_int_equal(strncmp(t.pin, "sha256//", 8), 0);
    assert_int_equal(strlen(t.pin), 8 + 44);
    assert_non_null(strstr(t.cert_pem, "BEGIN CERTIFICATE"));
    assert_non_null(strstr(t.key_pem, "PRIVATE KEY"));
    assert_true(names_ip(t.cert_pem, "127.0.0.1"));
    /* the keys are the owner's only */
    struct stat st;
    AUTOFREE char *key = xasprintf("%s/key.pem", d);
    AUTOFREE char *cakey = xasprintf("%s/ca.key", d);
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(cakey, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* a restart keeps the same key and CA */
    AUTOFREE char *ca1 = slurp(ca_path);
    assert_int_equal(api_tls_load(d, NULL, NULL, "", &u, &err), 0);
    assert_string_equal(t.pin, u.pin);
    AUTOFREE char *ca2 = slurp(ca_path);
    assert_string_equal(ca1, ca2);
    api_tls_free(&u);
    /* an address the certificate does not name: a new server certificate naming it, from the same CA */
    assert_int_equal(api_tls_load(d, NULL, NULL, "192.0.2.77", &u, &err), 0);
    assert_string_not_equal(t.pin, u.pin);
    assert_true(names_ip(u.cert_pem, "192.0.2.77"));
    AUTOFREE char *ca3 = slurp(ca_path);
    assert_string_equal(ca1, ca3);
    api_tls_free(&u);
    /* a lost CA: a new one, and a server certificate it signed */
    assert_int_equal(unlink(ca_path), 0);
    assert_int_equal(api_tls_load(d, NULL, NULL, "192.0.2.77", &u, &err), 0);
    AUTOFREE char *ca4 = slurp(ca_path);
    assert_string_not_equal(ca1, ca4);
    assert_non_null(strstr(u.cert_pem, ca4)); /* the chain served carries the CA */
    api_tls_free(&u);
    api_tls_free(&t);
}

static void test_operator_pair(void **state)
{
    (void)state;
    /* two identities of yund's own make an operator's pair, and a mismatched one */
    AUTOFREE char *d1 = xasprintf("%s/b", dir);
    AUTOFREE char *d2 = xasprintf("%s/c", dir);
    api_tls a, b, t;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(api_tls_load(d1, NULL, NULL, "", &a, &err), 0);
    assert_int_equal(api_tls_load(d2, NULL, NULL, "", &b, &err), 0);
    AUTOFREE char *c1 = xasprintf("%s/cert.pem", d1), *k1 = xasprintf("%s/key.pem", d1);
    AUTOFREE char *k2 = xasprintf("%s/key.pem", d2);
    AUTOFREE char *unused = xasprintf("%s/unused", dir);
    assert_int_equal(api_tls_load(unused, c1, k1, "", &t, &err), 0);
    assert_string_equal(t.pin, a.pin);
    assert_string_equal(t.ca_path, c1);
    assert_int_equal(access(unused, F_OK), -1); /* nothing of yund's own made */
    api_tls_free(&t);
    assert_int_equal(api_tls_load(unused, c1, k2, "", &t, &err), -1);
    assert_non_null(strstr(err.msg, "is not the key of the certificate"));
    assert_int_equal(api_tls_load(unused, c1, NULL, "", &t, &err), -1);
    assert_non_null(strstr(err.msg, "together"));
    assert_int_equal(api_tls_load(unused, k1, k1, "", &t, &err), -1);
    assert_non_null(strstr(err.msg, "is not a PEM certificate"));
    AUTOFREE char *missing = xasprintf("%s/missing.pem", dir);
    assert_int_equal(api_tls_load(unused, missing, k1, "", &t, &err), -1);
    assert_non_null(strstr(err.msg, "missing.pem"));
    api_tls_free(&a);
    api_tls_free(&b);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    AUTOFREE char *cmd = xasprintf("rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_made_then_kept),
        cmocka_unit_test(test_operator_pair),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
