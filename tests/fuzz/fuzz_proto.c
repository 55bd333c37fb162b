/* The agent protocol (proto/proto.h), both directions: what yund reads from an agent (register, report) and
 * what an agent reads from yund (registered, answer, desired). The first byte picks the message, the rest is
 * its text. Whatever decodes must encode and decode again to the same message: both sides share the tables,
 * so a message one side accepts the other must be able to send. */
#include <jansson.h>

#include "fuzz.h"
#include "proto/proto.h"

/* encode(decoded) as text, decoded again by the same decoder, encoded again: the same text. */
static void same_text(json_t *a, json_t *b, const char *what)
{
    char *sa = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS), *sb = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
    FUZZ_ASSERT(sa && sb && strcmp(sa, sb) == 0, "%s changed on a round trip:\n%s\n%s", what, sa ? sa : "(null)",
                sb ? sb : "(null)");
    free(sa);
    free(sb);
    json_decref(a);
    json_decref(b);
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    FUZZ_ASSERT(s, "an encoded message does not dump");
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned which = data[0] % 5;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    yun_err err = YUN_ERR_INIT;

    if (which == 0) { /* POST /v1/agent/register */
        proto_register m, m2;
        int rc = proto_register_parse(text, n, &m, &err);
        fuzz_err_ok(rc, &err);
        if (rc == 0) {
            json_t *j = proto_register_encode(&m);
            char *s = dump(j);
            rc = proto_register_parse(s, strlen(s), &m2, &err);
            FUZZ_ASSERT(rc == 0, "register re-encoded does not parse: %s: %s", err.msg, s);
            same_text(j, proto_register_encode(&m2), "register");
            free(s);
        }
        return 0;
    }
    if (which == 1) { /* POST /v1/agent/report */
        proto_report m, m2;
        int rc = proto_report_parse(text, n, &m, &err);
        fuzz_err_ok(rc, &err);
        if (rc == 0) {
            json_t *j = proto_report_encode(&m);
            char *s = dump(j);
            rc = proto_report_parse(s, strlen(s), &m2, &err);
            FUZZ_ASSERT(rc == 0, "report re-encoded does not parse: %s: %s", err.msg, s);
            same_text(j, proto_report_encode(&m2), "report");
            free(s);
            proto_report_free(&m2);
            proto_report_free(&m);
        }
        return 0;
    }

    /* the agent's side: yund's answers, JSON first */
    json_t *j = json_loadb(text, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (!j)
        return 0;
    if (which == 2) {
        proto_registered m, m2;
        int rc = proto_registered_decode(j, &m, &err);
        fuzz_err_ok(rc, &err);
        if (rc == 0) {
            json_t *e = proto_registered_encode(&m);
            rc = proto_registered_decode(e, &m2, &err);
            FUZZ_ASSERT(rc == 0, "registered re-encoded does not decode: %s", err.msg);
            same_text(e, proto_registered_encode(&m2), "registered");
        }
    } else if (which == 3) {
        proto_answer a, a2;
        int rc = proto_answer_decode(j, &a, &err);
        fuzz_err_ok(rc, &err);
        if (rc == 0) {
            json_t *e = proto_answer_encode(&a);
            rc = proto_answer_decode(e, &a2, &err);
            FUZZ_ASSERT(rc == 0 && a2.n_skipped == 0, "answer re-encoded does not decode (%zu skipped: %s)",
                        a2.n_skipped, a2.skipped);
            same_text(e, proto_answer_encode(&a2), "answer");
            proto_answer_free(&a2);
            proto_answer_free(&a);
        }
    } else {
        proto_desired d, d2;
        memset(&d, 0, sizeof d);
        int rc = proto_desired_decode(j, &d, &err);
        fuzz_err_ok(rc, &err);
        if (rc == 0) {
            json_t *e = proto_desired_encode(&d);
            memset(&d2, 0, sizeof d2);
            rc = proto_desired_decode(e, &d2, &err);
            FUZZ_ASSERT(rc == 0, "desired re-encoded does not decode: %s", err.msg);
            same_text(e, proto_desired_encode(&d2), "desired");
            proto_desired_free(&d2);
        }
        proto_desired_free(&d); /* its user_data, when decode got that far */
    }
    json_decref(j);
    return 0;
}
