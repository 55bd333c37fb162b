/* tls.h: yund's HTTPS identity. yund serves HTTPS only. Either the operator gives a certificate (chain) and
 * its key, or yund keeps its own in a folder (STATE/tls): a CA made once (ca.pem, ca.key: ca.pem is what
 * clients trust) and a server certificate it signs (cert.pem, key.pem) naming this machine's host name,
 * localhost and every address of this machine, made again when it does not name the listen address, was not
 * signed by that CA, or expires within 30 days. Who frees what: api_tls_free frees what api_tls_load filled. */
#ifndef YUN_API_TLS_H
#define YUN_API_TLS_H

#include "util/err.h"

typedef struct api_tls {
    char *cert_pem; /* the server certificate, then its chain */
    char *key_pem;  /* its private key */
    /* "sha256//" + base64 of the SHA-256 of the server key's SubjectPublicKeyInfo: what curl's
     * CURLOPT_PINNEDPUBLICKEY (yun --pin, yun-agent --pin) and Chromium's --ignore-certificate-errors-spki-list
     * take */
    char pin[64];
    char *ca_path; /* the certificate clients should trust: DIR/ca.pem, or the operator's cert_file */
} api_tls;

/* With cert_file and key_file (both or neither): reads them and checks the key is the certificate's. Else
 * makes or reuses the identity in dir (created 0700 if missing). listen_host: the host part of yund's listen
 * address ("" or a wildcard: any), which the certificate must name. */
int api_tls_load(const char *dir, const char *cert_file, const char *key_file, const char *listen_host,
                 api_tls *out, yun_err *err);
void api_tls_free(api_tls *t);

#endif
