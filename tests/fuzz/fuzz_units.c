/* Sizes and names as users type them: units_parse_mib (util/units.h), model_name_validate and
 * model_uuid_check (model/model.h). */
#include <ctype.h>
#include <stdbool.h>

#include "fuzz.h"
#include "model/model.h"
#include "util/num.h"
#include "util/units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);

    yun_err err = YUN_ERR_INIT;
    uint64_t mib = 0;
    int rc = units_parse_mib(s, "size", &mib, &err);
    fuzz_err_ok(rc, &err);
    if (rc == 0) {
        FUZZ_ASSERT(mib >= 1 && mib <= (1ULL << 40), "\"%s\" parsed to %llu MiB, outside 1..1 EiB", s,
                    (unsigned long long)mib);
        /* what yun prints, yun reads back as the same size */
        char buf[32];
        uint64_t back = 0;
        yun_err e2 = YUN_ERR_INIT;
        FUZZ_ASSERT(units_parse_mib(units_format_mib(mib, buf, sizeof buf), "size", &back, &e2) == 0 && back == mib,
                    "%llu MiB formats as \"%s\", which reads back as %llu (%s)", (unsigned long long)mib, buf,
                    (unsigned long long)back, e2.msg);
    }

    /* names: [a-z0-9][a-z0-9-]{0,62}, exactly */
    err = (yun_err)YUN_ERR_INIT;
    rc = model_name_validate(s, "name", &err);
    fuzz_err_ok(rc, &err);
    size_t len = strlen(s);
    bool ok = len >= 1 && len <= 63 && (islower((unsigned char)s[0]) || isdigit((unsigned char)s[0]));
    for (size_t i = 0; ok && i < len; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-';
    FUZZ_ASSERT((rc == 0) == ok, "model_name_validate(\"%s\") = %d, the rule says %s", s, rc, ok ? "valid" : "invalid");

    /* a UUID from outside: 8-4-4-4-12 hex digits, nothing else (it names files) */
    err = (yun_err)YUN_ERR_INIT;
    rc = model_uuid_check(s, "uuid", &err);
    fuzz_err_ok(rc, &err);
    if (rc == 0) {
        FUZZ_ASSERT(len == 36, "uuid \"%s\" accepted with length %zu", s, len);
        for (size_t i = 0; i < len; i++)
            FUZZ_ASSERT((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] == '-' : isxdigit((unsigned char)s[i]),
                        "uuid \"%s\" accepted with '%c' at %zu", s, s[i], i);
    }

    /* whole numbers from outside (query parameters, ids) */
    err = (yun_err)YUN_ERR_INIT;
    int64_t v = 0;
    rc = num_parse_i64(s, "number", -1000, 1000, &v, &err);
    fuzz_err_ok(rc, &err);
    if (rc == 0)
        FUZZ_ASSERT(v >= -1000 && v <= 1000, "\"%s\" parsed to %lld outside -1000..1000", s, (long long)v);
    free(s);
    return 0;
}
