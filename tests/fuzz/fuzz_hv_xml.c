/* Domain XML (hv/hv_xml.c) from a fuzzed spec: the input is the spec's numbers (12 bytes) then its strings,
 * NUL-separated, in hv_domain_spec's order. What hv_domain_xml accepts must parse back with libxml2 and carry
 * every value exactly: the text a user chose (description, names, paths) escaped, never markup, and read back
 * as it was given; yun's metadata read by hv_meta_parse, as the agent reads it. */
#include <inttypes.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "fuzz.h"
#include "hv/hv.h"
#include "hv/hv_impl.h"

enum {
    S_UUID,
    S_NAME,
    S_OWNER,
    S_DESC,
    S_DISK,
    S_KERNEL,
    S_INITRD,
    S_CMDLINE,
    S_CONSOLE,
    S_ACCEL,
    S_NETWORK,
    S_BRIDGE,
    S_VNC,
    S_N
};

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name))
            return c;
    return NULL;
}

/* n's text equals want exactly ("" when n is absent and want is NULL or empty) */
static void text_is(xmlNodePtr n, const char *want, const char *what)
{
    if (!want || !*want) {
        FUZZ_ASSERT(!n, "%s is in the XML though not given", what);
        return;
    }
    FUZZ_ASSERT(n, "%s \"%s\" is missing from the XML", what, want);
    xmlChar *t = xmlNodeGetContent(n);
    FUZZ_ASSERT(t && !strcmp((const char *)t, want), "%s came back as \"%s\", given \"%s\"", what,
                t ? (const char *)t : "(null)", want);
    xmlFree(t);
}

static void attr_is(xmlNodePtr n, const char *attr, const char *want, const char *what)
{
    FUZZ_ASSERT(n, "%s: no element", what);
    xmlChar *t = xmlGetProp(n, BAD_CAST attr);
    FUZZ_ASSERT(t && !strcmp((const char *)t, want), "%s came back as \"%s\", given \"%s\"", what,
                t ? (const char *)t : "(null)", want);
    xmlFree(t);
}

static void u64_is(xmlNodePtr n, uint64_t want, const char *what)
{
    char num[32];
    snprintf(num, sizeof num, "%" PRIu64, want);
    text_is(n, num, what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 12)
        return 0;
    hv_domain_spec spec = {0};
    spec.cpus = data[0] % 70;
    spec.mem_mib = (uint64_t)data[1] << 24 | (uint64_t)data[2] << 16 | (uint64_t)data[3] << 8 | data[4];
    spec.max_mem_mib = data[5] & 1 ? 0 : spec.mem_mib + ((uint64_t)data[6] << 8 | data[7]);
    spec.cpu_shares = data[8] < 16 ? 0 : (int)((unsigned)data[8] << 10 | data[9]);
    spec.cpu_cap = data[10] % 110;
    (void)data[11];

    /* the strings: a copy so each is NUL-terminated; absent ones stay NULL */
    char *rest = fuzz_str(data + 12, size - 12);
    const char *s[S_N] = {0};
    char *p = rest, *end = rest + (size - 12);
    for (int i = 0; i < S_N && p <= end; i++) {
        s[i] = p;
        p += strlen(p) + 1;
    }
    spec.uuid = s[S_UUID];
    spec.name = s[S_NAME];
    spec.owner = s[S_OWNER];
    spec.description = s[S_DESC];
    spec.disk_path = s[S_DISK];
    spec.kernel = s[S_KERNEL];
    spec.initrd = s[S_INITRD];
    spec.cmdline = s[S_CMDLINE];
    spec.console_log = s[S_CONSOLE];
    spec.accel = s[S_ACCEL];
    spec.network = s[S_NETWORK];
    spec.bridge = s[S_BRIDGE];
    spec.vnc_listen = s[S_VNC];

    yun_err err = YUN_ERR_INIT;
    char *xml = hv_domain_xml(&spec, &err);
    fuzz_err_ok(xml ? 0 : -1, &err);
    if (!xml) {
        FUZZ_ASSERT(err.code == YUN_E_INVALID, "a spec refused with %d, not INVALID: %s", err.code, err.msg);
        free(rest);
        return 0;
    }
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    FUZZ_ASSERT(doc, "the domain XML does not parse:\n%s", xml);
    xmlNodePtr dom = xmlDocGetRootElement(doc);
    FUZZ_ASSERT(dom && !strcmp((const char *)dom->name, "domain"), "the root is not <domain>");
    text_is(child(dom, "name"), spec.name, "name");
    text_is(child(dom, "uuid"), spec.uuid, "uuid");
    text_is(child(dom, "description"), spec.description, "description");
    u64_is(child(dom, "memory"), spec.max_mem_mib ? spec.max_mem_mib : spec.mem_mib, "memory");
    u64_is(child(dom, "currentMemory"), spec.mem_mib, "currentMemory");
    u64_is(child(dom, "vcpu"), (uint64_t)spec.cpus, "vcpu");
    xmlNodePtr tune = child(dom, "cputune");
    u64_is(child(tune, "shares"), (uint64_t)(spec.cpu_shares ? spec.cpu_shares : YUN_VM_DEFAULT_SHARES), "shares");
    if (spec.cpu_cap)
        u64_is(child(tune, "quota"), (uint64_t)HV_CAP_PERIOD_US * (uint64_t)spec.cpu_cap / 100, "quota");
    else
        FUZZ_ASSERT(!child(tune, "quota"), "a quota without a cap");
    xmlNodePtr os = child(dom, "os");
    bool kernel = spec.kernel && *spec.kernel;
    text_is(child(os, "kernel"), spec.kernel, "kernel");
    text_is(child(os, "initrd"), kernel ? spec.initrd : NULL, "initrd");
    text_is(child(os, "cmdline"), kernel ? spec.cmdline : NULL, "cmdline");
    xmlNodePtr dev = child(dom, "devices");
    if (spec.disk_path && *spec.disk_path)
        attr_is(child(child(dev, "disk"), "source"), "file", spec.disk_path, "disk path");
    else
        FUZZ_ASSERT(!child(dev, "disk"), "a disk though none was given");
    xmlNodePtr nic = child(dev, "interface");
    if (spec.network && *spec.network)
        attr_is(child(nic, "source"), "network", spec.network, "network");
    else if (spec.bridge && *spec.bridge)
        attr_is(child(nic, "source"), "bridge", spec.bridge, "bridge");
    if (spec.console_log && *spec.console_log)
        attr_is(child(child(dev, "serial"), "source"), "path", spec.console_log, "console log");
    attr_is(child(dev, "graphics"), "listen", spec.vnc_listen && *spec.vnc_listen ? spec.vnc_listen : "127.0.0.1",
            "VNC listen");
    xmlFreeDoc(doc);

    /* the metadata as the agent reads it (hv_meta_parse), from the whole domain XML */
    char uuid[YUN_UUID_LEN], owner[YUN_NAME_MAX];
    FUZZ_ASSERT(hv_meta_parse(xml, uuid, sizeof uuid, owner, sizeof owner) == 1, "no yun metadata found");
    FUZZ_ASSERT(!strcmp(uuid, spec.uuid) && !strcmp(owner, spec.owner), "metadata came back as %s/%s, given %s/%s",
                uuid, owner, spec.uuid, spec.owner);
    free(xml);
    free(rest);
    return 0;
}
