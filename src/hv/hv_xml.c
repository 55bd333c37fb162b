/* hv_xml.c: libvirt domain XML, written with libxml2's xmlTextWriter so that every value a user chose
 * (names, the description, paths) is escaped by the writer and never pasted into markup; and yun's
 * <metadata> read back with libxml2's parser. */
#include "hv/hv_impl.h"
#include "hv/hv_net.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

#include "util/mem.h"
#include "util/str.h"

/* Each writer call returns < 0 on failure; collecting the first failure keeps the builder readable.
 * The writer only fails on out-of-memory or invalid UTF-8, both of which validation excludes. */
typedef struct xw {
    xmlTextWriterPtr w;
    int rc;
} xw;

static void x_start(xw *x, const char *el)
{
    if (x->rc >= 0)
        x->rc = xmlTextWriterStartElement(x->w, BAD_CAST el);
}

static void x_start_ns(xw *x, const char *el, const char *uri)
{
    if (x->rc >= 0)
        x->rc = xmlTextWriterStartElementNS(x->w, BAD_CAST HV_META_PREFIX, BAD_CAST el, uri ? BAD_CAST uri : NULL);
}

static void x_end(xw *x)
{
    if (x->rc >= 0)
        x->rc = xmlTextWriterEndElement(x->w);
}

static void x_attr(xw *x, const char *name, const char *value)
{
    if (x->rc >= 0)
        x->rc = xmlTextWriterWriteAttribute(x->w, BAD_CAST name, BAD_CAST value);
}

static void x_text(xw *x, const char *text)
{
    if (x->rc >= 0)
        x->rc = xmlTextWriterWriteString(x->w, BAD_CAST text);
}

/* <el>text</el>, the text escaped by the writer. */
static void x_elem(xw *x, const char *el, const char *text)
{
    x_start(x, el);
    x_text(x, text);
    x_end(x);
}

static void x_elem_u64(xw *x, const char *el, const char *unit, uint64_t v)
{
    char num[32];
    snprintf(num, sizeof num, "%" PRIu64, v);
    x_start(x, el);
    if (unit)
        x_attr(x, "unit", unit);
    x_text(x, num);
    x_end(x);
}

static void x_empty(xw *x, const char *el, const char *attr, const char *value)
{
    x_start(x, el);
    if (attr)
        x_attr(x, attr, value);
    x_end(x);
}

static bool set(const char *s)
{
    return s && *s;
}

/* XML 1.0 cannot carry most control characters, even escaped, nor U+FFFE and U+FFFF; and a parser refuses
 * anything but valid UTF-8 (util/str.h's rule: libxml2's own xmlCheckUTF8 lets overlong forms such as
 * C1 A9 through, which the writer then emits and every parser, libvirt's included, refuses). */
static int check_xml_text(const char *what, const char *s, yun_err *err)
{
    if (!s)
        return 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    while (left) {
        size_t k = str_utf8_seq(p, left);
        if (!k)
            return yun_err_set(err, YUN_E_INVALID, "domain %s is not valid UTF-8 (byte 0x%02x at %zu)", what, *p,
                               (size_t)(p - (const unsigned char *)s));
        if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
            return yun_err_set(err, YUN_E_INVALID, "domain %s contains control character 0x%02x", what, *p);
        if (k == 3 && p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF))
            return yun_err_set(err, YUN_E_INVALID, "domain %s contains U+FFF%c, which XML cannot carry", what,
                               p[2] == 0xBE ? 'E' : 'F');
        p += k;
        left -= k;
    }
    return 0;
}

uint64_t hv_tcg_tb_cache_mib(uint64_t max_mem_mib)
{
    uint64_t q = max_mem_mib / 4;
    return q < HV_TCG_TB_CACHE_MIN_MIB   ? HV_TCG_TB_CACHE_MIN_MIB
           : q > HV_TCG_TB_CACHE_MAX_MIB ? HV_TCG_TB_CACHE_MAX_MIB
                                         : q;
}

char *hv_domain_xml(const hv_domain_spec *spec, yun_err *err)
{
    if (hv_spec_validate(spec, err) < 0)
        return NULL;
    const struct {
        const char *what, *s;
    } texts[] = {{"name", spec->name},
                 {"owner", spec->owner},
                 {"description", spec->description},
                 {"disk path", spec->disk_path},
                 {"kernel path", spec->kernel},
                 {"initrd path", spec->initrd},
                 {"kernel command line", spec->cmdline},
                 {"console log path", spec->console_log},
                 {"network", spec->network},
                 {"bridge", spec->bridge}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (check_xml_text(texts[i].what, texts[i].s, err) < 0)
            return NULL;

    xmlBufferPtr buf = xmlBufferCreate();
    if (!buf)
        abort();
    xw x = {xmlNewTextWriterMemory(buf, 0), 0};
    if (!x.w)
        abort();
    xmlTextWriterSetIndent(x.w, 1);
    xmlTextWriterSetIndentString(x.w, BAD_CAST "  ");

    bool kvm = spec->accel && strcmp(spec->accel, "kvm") == 0;
    uint64_t max_mem = spec->max_mem_mib ? spec->max_mem_mib : spec->mem_mib;
    int shares = spec->cpu_shares ? spec->cpu_shares : YUN_VM_DEFAULT_SHARES;

    x_start(&x, "domain");
    x_attr(&x, "type", kvm ? "kvm" : "qemu");
    x_elem(&x, "name", spec->name);
    x_elem(&x, "uuid", spec->uuid);
    if (set(spec->description))
        x_elem(&x, "description", spec->description);

    /* yun's mark: what makes a domain yun's to manage (and a stranger's to leave alone). */
    x_start(&x, "metadata");
    x_start_ns(&x, "vm", HV_META_NS);
    x_start_ns(&x, "uuid", NULL);
    x_text(&x, spec->uuid);
    x_end(&x);
    x_start_ns(&x, "owner", NULL);
    x_text(&x, spec->owner);
    x_end(&x);
    x_end(&x);
    x_end(&x);

    /* memory is the balloon's ceiling, currentMemory its target. */
    x_elem_u64(&x, "memory", "MiB", max_mem);
    x_elem_u64(&x, "currentMemory", "MiB", spec->mem_mib);
    char num[32];
    snprintf(num, sizeof num, "%d", spec->cpus);
    x_start(&x, "vcpu");
    x_attr(&x, "placement", "static");
    x_text(&x, num);
    x_end(&x);

    /* shares: the weight under contention; period + quota: the cap, per vCPU (cgroup v1 cpu controller). */
    x_start(&x, "cputune");
    snprintf(num, sizeof num, "%d", shares);
    x_elem(&x, "shares", num);
    if (spec->cpu_cap > 0) {
        x_elem_u64(&x, "period", NULL, HV_CAP_PERIOD_US);
        x_elem_u64(&x, "quota", NULL, (uint64_t)HV_CAP_PERIOD_US * (uint64_t)spec->cpu_cap / 100);
    }
    x_end(&x);

    x_start(&x, "os");
    x_start(&x, "type");
    x_attr(&x, "arch", "x86_64");
    x_attr(&x, "machine", "pc");
    x_text(&x, "hvm");
    x_end(&x);
    if (set(spec->kernel)) {
        x_elem(&x, "kernel", spec->kernel);
        if (set(spec->initrd))
            x_elem(&x, "initrd", spec->initrd);
        if (set(spec->cmdline))
            x_elem(&x, "cmdline", spec->cmdline);
    } else {
        x_empty(&x, "boot", "dev", "hd");
    }
    x_end(&x);
    x_start(&x, "features");
    x_empty(&x, "acpi", NULL, NULL); /* ACPI shutdown and device hot-plug need it */
    if (spec->accel && !strcmp(spec->accel, "tcg")) {
        /* QEMU sizes it for one big guest (1 GiB): with many small ones that, not guest RAM, is the host's memory */
        x_start(&x, "tcg");
        x_elem_u64(&x, "tb-cache", "MiB", hv_tcg_tb_cache_mib(max_mem));
        x_end(&x);
    }
    x_end(&x);
    if (kvm)
        x_empty(&x, "cpu", "mode", "host-passthrough");
    x_elem(&x, "on_poweroff", "destroy");
    x_elem(&x, "on_reboot", "restart");
    x_elem(&x, "on_crash", "destroy");

    x_start(&x, "devices");
    if (set(spec->disk_path)) {
        x_start(&x, "disk");
        x_attr(&x, "type", "file");
        x_attr(&x, "device", "disk");
        x_start(&x, "driver");
        x_attr(&x, "name", "qemu");
        x_attr(&x, "type", "qcow2");
        x_end(&x);
        x_empty(&x, "source", "file", spec->disk_path);
        x_start(&x, "target");
        x_attr(&x, "dev", "vda");
        x_attr(&x, "bus", "virtio");
        x_end(&x);
        x_end(&x);
    }
    /* The NIC (hv_net.h): on yun's NAT network, on an operator's bridge, or else an unconnected tap (type
     * ethernet), which needs nothing on the host; all three, unlike type user, give per-interface
     * statistics (net.N.* in virConnectGetAllDomainStats). The MAC comes from the uuid, so the DHCP lease
     * and the address stay with the VM. */
    char mac[18];
    hv_mac_from_uuid(spec->uuid, mac);
    x_start(&x, "interface");
    if (set(spec->network)) {
        x_attr(&x, "type", "network");
        x_empty(&x, "source", "network", spec->network);
    } else if (set(spec->bridge)) {
        x_attr(&x, "type", "bridge");
        x_empty(&x, "source", "bridge", spec->bridge);
    } else {
        x_attr(&x, "type", "ethernet");
    }
    x_empty(&x, "mac", "address", mac);
    x_empty(&x, "model", "type", "virtio");
    x_end(&x);
    if (set(spec->console_log)) {
        x_start(&x, "serial");
        x_attr(&x, "type", "file");
        x_empty(&x, "source", "path", spec->console_log);
        x_empty(&x, "target", "port", "0");
        x_end(&x);
        x_start(&x, "console");
        x_attr(&x, "type", "file");
        x_empty(&x, "source", "path", spec->console_log);
        x_start(&x, "target");
        x_attr(&x, "type", "serial");
        x_attr(&x, "port", "0");
        x_end(&x);
        x_end(&x);
    } else {
        x_start(&x, "serial");
        x_attr(&x, "type", "pty");
        x_end(&x);
    }
    /* VNC on loopback or the host's management address only (validated: never a wildcard), port chosen by
     * libvirt, plus its websocket for yund's console proxy. */
    x_start(&x, "graphics");
    x_attr(&x, "type", "vnc");
    x_attr(&x, "port", "-1");
    x_attr(&x, "autoport", "yes");
    x_attr(&x, "websocket", "-1");
    x_attr(&x, "listen", set(spec->vnc_listen) ? spec->vnc_listen : "127.0.0.1");
    x_end(&x);
    x_start(&x, "memballoon");
    x_attr(&x, "model", "virtio");
    x_empty(&x, "stats", "period", "5"); /* balloon.* statistics for the agent's reports */
    x_end(&x);
    x_end(&x); /* devices */
    x_end(&x); /* domain */
    if (x.rc >= 0)
        x.rc = xmlTextWriterEndDocument(x.w);
    xmlFreeTextWriter(x.w); /* flushes into buf */
    char *out = NULL;
    if (x.rc < 0)
        yun_err_set(err, YUN_E_INTERNAL, "building the domain XML of %s failed", spec->name);
    else
        out = xstrdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return out;
}

/* The child element name of parent in yun's namespace (or in none, when bare). */
static xmlNodePtr child_ns(xmlNodePtr parent, const char *name, bool bare)
{
    for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, name) != 0)
            continue;
        if (bare ? !c->ns : (c->ns && c->ns->href && strcmp((const char *)c->ns->href, HV_META_NS) == 0))
            return c;
    }
    return NULL;
}

static void copy_content(xmlNodePtr n, char *out, size_t out_n)
{
    if (!out || !out_n)
        return;
    out[0] = 0;
    if (!n)
        return;
    xmlChar *t = xmlNodeGetContent(n);
    if (t)
        snprintf(out, out_n, "%s", (const char *)t);
    xmlFree(t);
}

/* Finds <yun:vm> (in yun's namespace, whatever its prefix) at or below n. */
static xmlNodePtr find_meta(xmlNodePtr n)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (n->ns && n->ns->href && strcmp((const char *)n->ns->href, HV_META_NS) == 0 &&
            strcmp((const char *)n->name, "vm") == 0)
            return n;
        xmlNodePtr c = find_meta(n->children);
        if (c)
            return c;
    }
    return NULL;
}

int hv_meta_parse(const char *xml, char *uuid, size_t uuid_n, char *owner, size_t owner_n)
{
    if (uuid && uuid_n)
        uuid[0] = 0;
    if (owner && owner_n)
        owner[0] = 0;
    if (!xml || !*xml)
        return 0;
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "metadata.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return 0;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlNodePtr vm = find_meta(root);
    bool bare = false;
    /* virDomainGetMetadata, asked for yun's namespace, returns the element stripped of it: <vm>...</vm>. */
    if (!vm && root && !root->ns && strcmp((const char *)root->name, "vm") == 0) {
        vm = root;
        bare = true;
    }
    if (vm) {
        copy_content(child_ns(vm, "uuid", bare), uuid, uuid_n);
        copy_content(child_ns(vm, "owner", bare), owner, owner_n);
    }
    xmlFreeDoc(doc);
    return vm != NULL;
}

/* Here rather than in hv.c, so the dispatcher does not call back into the XML builder. */
int hv_domain_define(yun_hv *hv, const hv_domain_spec *spec, yun_err *err)
{
    if (hv_conn_check(hv, err) < 0)
        return -1;
    AUTOFREE char *xml = hv_domain_xml(spec, err);
    if (!xml)
        return -1;
    return hv->ops->define(hv, spec, xml, err);
}
