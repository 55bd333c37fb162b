#include "api/tls.h"

#include <arpa/inet.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

#define PEM_MAX (1u << 20)
#define DAY 86400

static void crt_free(gnutls_x509_crt_t *c)
{
    if (*c)
        gnutls_x509_crt_deinit(*c);
}
static void key_free(gnutls_x509_privkey_t *k)
{
    if (*k)
        gnutls_x509_privkey_deinit(*k);
}
#define AUTOCRT __attribute__((cleanup(crt_free)))
#define AUTOKEY __attribute__((cleanup(key_free)))

static int tls_fail(yun_err *err, int rc, const char *what)
{
    return yun_err_set(err, YUN_E_INTERNAL, "TLS: %s: %s", what, gnutls_strerror(rc));
}

static int crt_import(const char *pem, gnutls_x509_crt_t *out, const char *what, yun_err *err)
{
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)strlen(pem)};
    int rc = gnutls_x509_crt_init(out);
    if (rc >= 0)
        rc = gnutls_x509_crt_import(*out, &d, GNUTLS_X509_FMT_PEM);
    if (rc < 0)
        return yun_err_set(err, YUN_E_INVALID, "%s is not a PEM certificate: %s", what, gnutls_strerror(rc));
    return 0;
}

static int key_import(const char *pem, gnutls_x509_privkey_t *out, const char *what, yun_err *err)
{
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)strlen(pem)};
    int rc = gnutls_x509_privkey_init(out);
    if (rc >= 0)
        rc = gnutls_x509_privkey_import2(*out, &d, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
    if (rc < 0)
        return yun_err_set(err, YUN_E_INVALID, "%s is not an unencrypted PEM private key: %s", what,
                           gnutls_strerror(rc));
    return 0;
}

static char *crt_pem(gnutls_x509_crt_t c)
{
    gnutls_datum_t d = {0};
    if (gnutls_x509_crt_export2(c, GNUTLS_X509_FMT_PEM, &d) < 0)
        return NULL;
    char *s = xstrndup((const char *)d.data, d.size);
    gnutls_free(d.data);
    return s;
}

static char *key_pem(gnutls_x509_privkey_t k)
{
    gnutls_datum_t d = {0};
    if (gnutls_x509_privkey_export2(k, GNUTLS_X509_FMT_PEM, &d) < 0)
        return NULL;
    char *s = xstrndup((const char *)d.data, d.size);
    gnutls_free(d.data);
    return s;
}

/* The pin of c's public key (tls.h). */
static int crt_pin(gnutls_x509_crt_t c, char out[64], yun_err *err)
{
    gnutls_pubkey_t pk;
    gnutls_datum_t der = {0};
    int rc = gnutls_pubkey_init(&pk);
    if (rc < 0)
        return tls_fail(err, rc, "reading the certificate's key");
    rc = gnutls_pubkey_import_x509(pk, c, 0);
    if (rc >= 0)
        rc = gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, &der);
    gnutls_pubkey_deinit(pk);
    if (rc < 0)
        return tls_fail(err, rc, "reading the certificate's key");
    unsigned char h[32];
    rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, h);
    gnutls_free(der.data);
    if (rc < 0)
        return tls_fail(err, rc, "hashing the certificate's key");
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, h, sizeof h, sodium_base64_VARIANT_ORIGINAL);
    snprintf(out, 64, "sha256//%s", b64);
    return 0;
}

static int new_key(gnutls_x509_privkey_t *k, yun_err *err)
{
    int rc = gnutls_x509_privkey_init(k);
    if (rc >= 0)
        rc = gnutls_x509_privkey_generate(*k, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
    return rc < 0 ? tls_fail(err, rc, "making a key") : 0;
}

/* A certificate of key for dn, valid from an hour ago for days; serial random. */
static int new_crt(gnutls_x509_crt_t *c, gnutls_x509_privkey_t key, const char *cn, int days, yun_err *err)
{
    unsigned char serial[16];
    randombytes_buf(serial, sizeof serial);
    serial[0] &= 0x7f;
    time_t now = time(NULL);
    int rc = gnutls_x509_crt_init(c);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_version(*c, 3);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_serial(*c, serial, sizeof serial);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_activation_time(*c, now - 3600);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_expiration_time(*c, now + (time_t)days * DAY);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_dn_by_oid(*c, GNUTLS_OID_X520_COMMON_NAME, 0, cn, (unsigned)strlen(cn));
    if (rc >= 0)
        rc = gnutls_x509_crt_set_key(*c, key);
    if (rc >= 0) {
        unsigned char id[64];
        size_t idn = sizeof id;
        rc = gnutls_x509_crt_get_key_id(*c, GNUTLS_KEYID_USE_SHA1, id, &idn);
        if (rc >= 0)
            rc = gnutls_x509_crt_set_subject_key_id(*c, id, idn);
    }
    return rc < 0 ? tls_fail(err, rc, "making a certificate") : 0;
}

static char *hostname_or(const char *dflt)
{
    char h[256] = "";
    if (gethostname(h, sizeof h - 1) < 0 || !h[0])
        return xstrdup(dflt);
    return xstrdup(h);
}

static int add_ip_san(gnutls_x509_crt_t c, const char *ip)
{
    unsigned char raw[16];
    if (inet_pton(AF_INET, ip, raw) == 1)
        return gnutls_x509_crt_set_subject_alt_name(c, GNUTLS_SAN_IPADDRESS, raw, 4, GNUTLS_FSAN_APPEND);
    if (inet_pton(AF_INET6, ip, raw) == 1)
        return gnutls_x509_crt_set_subject_alt_name(c, GNUTLS_SAN_IPADDRESS, raw, 16, GNUTLS_FSAN_APPEND);
    return GNUTLS_E_INVALID_REQUEST;
}

/* The listen host without brackets; "" for a wildcard. */
static void bare_host(const char *listen_host, char out[256])
{
    snprintf(out, 256, "%s", listen_host ? listen_host : "");
    size_t n = strlen(out);
    if (n >= 2 && out[0] == '[' && out[n - 1] == ']') {
        memmove(out, out + 1, n - 2);
        out[n - 2] = '\0';
    }
    if (!strcmp(out, "0.0.0.0") || !strcmp(out, "::"))
        out[0] = '\0';
}

static bool is_ip(const char *s)
{
    unsigned char raw[16];
    return inet_pton(AF_INET, s, raw) == 1 || inet_pton(AF_INET6, s, raw) == 1;
}

/* Does c name host ("" : nothing to check)? */
static bool crt_names(gnutls_x509_crt_t c, const char *host)
{
    if (!host[0])
        return true;
    unsigned char raw[16];
    if (inet_pton(AF_INET, host, raw) == 1)
        return gnutls_x509_crt_check_ip(c, raw, 4, 0) != 0;
    if (inet_pton(AF_INET6, host, raw) == 1)
        return gnutls_x509_crt_check_ip(c, raw, 16, 0) != 0;
    return gnutls_x509_crt_check_hostname(c, host) != 0;
}

/* Signs c with the issuer's key and exports c and its key as PEM; what names the certificate in errors. */
static int sign_export(gnutls_x509_crt_t c, gnutls_x509_privkey_t key, gnutls_x509_crt_t issuer,
                       gnutls_x509_privkey_t issuer_key, const char *what, char **cert_out, char **key_out, yun_err *err)
{
    int rc = gnutls_x509_crt_sign2(c, issuer, issuer_key, GNUTLS_DIG_SHA256, 0);
    if (rc < 0)
        return yun_err_set(err, YUN_E_INTERNAL, "TLS: making %s: %s", what, gnutls_strerror(rc));
    *cert_out = crt_pem(c);
    *key_out = key_pem(key);
    if (!*cert_out || !*key_out)
        return yun_err_set(err, YUN_E_INTERNAL, "TLS: exporting %s failed", what);
    return 0;
}

/* The server certificate: this machine's names and addresses, and host, signed by the CA. */
static int make_server(gnutls_x509_crt_t ca, gnutls_x509_privkey_t ca_key, const char *host, char **cert_out,
                       char **key_out, yun_err *err)
{
    AUTOKEY gnutls_x509_privkey_t key = NULL;
    AUTOCRT gnutls_x509_crt_t c = NULL;
    AUTOFREE char *name = hostname_or("localhost");
    if (new_key(&key, err) < 0 || new_crt(&c, key, name, 825, err) < 0)
        return -1;
    int rc = gnutls_x509_crt_set_basic_constraints(c, 0, -1);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_key_usage(c, GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_ENCIPHERMENT);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_key_purpose_oid(c, GNUTLS_KP_TLS_WWW_SERVER, 0);
    const char *dns[] = {name, "localhost", host[0] && !is_ip(host) ? host : NULL};
    for (size_t i = 0; rc >= 0 && i < sizeof dns / sizeof dns[0]; i++)
        if (dns[i] && (i == 0 || strcmp(dns[i], name)))
            rc = gnutls_x509_crt_set_subject_alt_name(c, GNUTLS_SAN_DNSNAME, dns[i], (unsigned)strlen(dns[i]),
                                                      GNUTLS_FSAN_APPEND);
    if (rc >= 0 && host[0] && is_ip(host))
        rc = add_ip_san(c, host);
    struct ifaddrs *ifs = NULL;
    if (rc >= 0 && getifaddrs(&ifs) == 0) {
        for (struct ifaddrs *i = ifs; rc >= 0 && i; i = i->ifa_next) {
            if (!i->ifa_addr)
                continue;
            if (i->ifa_addr->sa_family == AF_INET)
                rc = gnutls_x509_crt_set_subject_alt_name(
                    c, GNUTLS_SAN_IPADDRESS, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4, GNUTLS_FSAN_APPEND);
            else if (i->ifa_addr->sa_family == AF_INET6 &&
                     !IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr))
                rc = gnutls_x509_crt_set_subject_alt_name(
                    c, GNUTLS_SAN_IPADDRESS, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16, GNUTLS_FSAN_APPEND);
        }
        freeifaddrs(ifs);
    }
    if (rc >= 0)
        rc = add_ip_san(c, "127.0.0.1");
    if (rc >= 0)
        rc = add_ip_san(c, "::1");
    if (rc < 0)
        return tls_fail(err, rc, "making the server certificate");
    return sign_export(c, key, ca, ca_key, "the server certificate", cert_out, key_out, err);
}

static int make_ca(char **cert_out, char **key_out, yun_err *err)
{
    AUTOKEY gnutls_x509_privkey_t key = NULL;
    AUTOCRT gnutls_x509_crt_t c = NULL;
    AUTOFREE char *host = hostname_or("yun");
    AUTOFREE char *cn = xasprintf("yun controller CA (%s)", host);
    if (new_key(&key, err) < 0 || new_crt(&c, key, cn, 3650, err) < 0)
        return -1;
    int rc = gnutls_x509_crt_set_basic_constraints(c, 1, 0);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_key_usage(c, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN);
    if (rc < 0)
        return tls_fail(err, rc, "making the CA");
    return sign_export(c, key, c, key, "the CA", cert_out, key_out, err);
}

/* Is the key the certificate's? */
static bool key_matches(gnutls_x509_crt_t c, gnutls_x509_privkey_t k)
{
    unsigned char a[64], b[64];
    size_t an = sizeof a, bn = sizeof b;
    return gnutls_x509_crt_get_key_id(c, GNUTLS_KEYID_USE_SHA256, a, &an) >= 0 &&
           gnutls_x509_privkey_get_key_id(k, GNUTLS_KEYID_USE_SHA256, b, &bn) >= 0 && an == bn && !memcmp(a, b, an);
}

static int load_given(const char *cert_file, const char *key_file, api_tls *out, yun_err *err)
{
    yun_err e = YUN_ERR_INIT;
    AUTOFREE char *cert = fs_read_all(cert_file, PEM_MAX, NULL, &e);
    AUTOFREE char *key = cert ? fs_read_all(key_file, PEM_MAX, NULL, &e) : NULL;
    if (!key)
        return yun_err_set(err, YUN_E_INVALID, "--tls-cert/--tls-key: %s", e.msg);
    AUTOCRT gnutls_x509_crt_t c = NULL;
    AUTOKEY gnutls_x509_privkey_t k = NULL;
    if (crt_import(cert, &c, cert_file, err) < 0 || key_import(key, &k, key_file, err) < 0)
        return -1;
    if (!key_matches(c, k))
        return yun_err_set(err, YUN_E_INVALID, "the key %s is not the key of the certificate %s: give the pair",
                           key_file, cert_file);
    if (crt_pin(c, out->pin, err) < 0)
        return -1;
    out->cert_pem = STEAL(cert);
    out->key_pem = STEAL(key);
    out->ca_path = xstrdup(cert_file);
    return 0;
}

/* The file's text, or NULL when it is absent (other failures: err, and -1 through *bad). */
static char *read_opt(const char *path, bool *bad, yun_err *err)
{
    yun_err e = YUN_ERR_INIT;
    char *s = fs_read_all(path, PEM_MAX, NULL, &e);
    if (!s && e.code != YUN_E_NOT_FOUND) {
        *bad = true;
        if (err)
            *err = e;
    }
    return s;
}

int api_tls_load(const char *dir, const char *cert_file, const char *key_file, const char *listen_host,
                 api_tls *out, yun_err *err)
{
    memset(out, 0, sizeof *out);
    if ((cert_file && *cert_file) != (key_file && *key_file))
        return yun_err_set(err, YUN_E_INVALID, "give --tls-cert and --tls-key together (or neither: yund makes its own)");
    if (cert_file && *cert_file)
        return load_given(cert_file, key_file, out, err);
    if (fs_mkdir_p(dir, 0700, err) < 0)
        return -1;
    char host[256];
    bare_host(listen_host, host);
    AUTOFREE char *ca_path = xasprintf("%s/ca.pem", dir);
    AUTOFREE char *ca_key_path = xasprintf("%s/ca.key", dir);
    AUTOFREE char *cert_path = xasprintf("%s/cert.pem", dir);
    AUTOFREE char *key_path = xasprintf("%s/key.pem", dir);
    bool bad = false;
    AUTOFREE char *ca_pem = read_opt(ca_path, &bad, err);
    AUTOFREE char *ca_key_pem = read_opt(ca_key_path, &bad, err);
    if (bad)
        return -1;
    if (!ca_pem || !ca_key_pem) {
        free(ca_pem), free(ca_key_pem);
        ca_pem = ca_key_pem = NULL;
        if (make_ca(&ca_pem, &ca_key_pem, err) < 0 ||
            fs_write_atomic(ca_key_path, ca_key_pem, strlen(ca_key_pem), 0600, err) < 0 ||
            fs_write_atomic(ca_path, ca_pem, strlen(ca_pem), 0644, err) < 0)
            return -1;
        unlink(cert_path); /* signed by the CA before, if any */
        log_info("TLS: made a new CA in %s: clients trust it (yun --ca %s)", ca_path, ca_path);
    }
    AUTOCRT gnutls_x509_crt_t ca = NULL;
    AUTOKEY gnutls_x509_privkey_t ca_key = NULL;
    if (crt_import(ca_pem, &ca, ca_path, err) < 0 || key_import(ca_key_pem, &ca_key, ca_key_path, err) < 0)
        return -1;
    AUTOFREE char *cert = read_opt(cert_path, &bad, err);
    AUTOFREE char *key = read_opt(key_path, &bad, err);
    if (bad)
        return -1;
    bool remake = !cert || !key;
    AUTOCRT gnutls_x509_crt_t c = NULL;
    AUTOKEY gnutls_x509_privkey_t k = NULL;
    if (!remake) {
        yun_err ignore = YUN_ERR_INIT;
        remake = crt_import(cert, &c, cert_path, &ignore) < 0 || key_import(key, &k, key_path, &ignore) < 0 ||
                 !key_matches(c, k) || !gnutls_x509_crt_check_issuer(c, ca) ||
                 gnutls_x509_crt_get_expiration_time(c) < time(NULL) + 30 * DAY || !crt_names(c, host);
    }
    if (remake) {
        free(cert), free(key);
        cert = key = NULL;
        if (make_server(ca, ca_key, host, &cert, &key, err) < 0 ||
            fs_write_atomic(key_path, key, strlen(key), 0600, err) < 0 ||
            fs_write_atomic(cert_path, cert, strlen(cert), 0644, err) < 0)
            return -1;
        if (c)
            gnutls_x509_crt_deinit(c);
        c = NULL;
        if (crt_import(cert, &c, cert_path, err) < 0)
            return -1;
    }
    if (crt_pin(c, out->pin, err) < 0)
        return -1;
    out->cert_pem = xasprintf("%s%s", cert, ca_pem);
    out->key_pem = STEAL(key);
    out->ca_path = STEAL(ca_path);
    return 0;
}

void api_tls_free(api_tls *t)
{
    if (!t)
        return;
    if (t->key_pem)
        sodium_memzero(t->key_pem, strlen(t->key_pem));
    free(t->cert_pem);
    free(t->key_pem);
    free(t->ca_path);
    memset(t, 0, sizeof *t);
}
