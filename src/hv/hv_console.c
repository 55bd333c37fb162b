/* hv_console.c: where a domain's VNC server listens (hv_console.h): the rules for that address, and reading it
 * back from a live domain for yund's console proxy. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv/hv_console.h"

static void quiet(void *ud, virErrorPtr e)
{
    (void)ud, (void)e; /* read with virGetLastErrorMessage where they happen, never printed by libvirt */
}

static int attr_int(xmlNodePtr n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    if (!v)
        return -1;
    char *end = NULL;
    long p = strtol((const char *)v, &end, 10);
    int ok = end != (char *)v && *end == '\0' && p > 0 && p < 65536;
    xmlFree(v);
    return ok ? (int)p : -1;
}

int hv_vnc_parse(const char *xml, hv_vnc *out, yun_err *err)
{
    memset(out, 0, sizeof *out);
    out->port = out->ws_port = -1;
    xmlDocPtr doc = xml ? xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR |
                                                                                     XML_PARSE_NOWARNING)
                        : NULL;
    if (!doc)
        return yun_err_set(err, YUN_E_INVALID, "the domain XML does not parse");
    xmlNodePtr root = xmlDocGetRootElement(doc), g = NULL;
    for (xmlNodePtr d = root ? root->children : NULL; d && !g; d = d->next) {
        if (d->type != XML_ELEMENT_NODE || strcmp((const char *)d->name, "devices"))
            continue;
        for (xmlNodePtr c = d->children; c && !g; c = c->next) {
            if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "graphics"))
                continue;
            xmlChar *t = xmlGetProp(c, (const xmlChar *)"type");
            if (t && !strcmp((const char *)t, "vnc"))
                g = c;
            xmlFree(t);
        }
    }
    int rc = 0;
    yun_err bad = YUN_ERR_INIT;
    if (!g) {
        rc = yun_err_set(err, YUN_E_CONFLICT, "the domain has no VNC console");
        goto out;
    }
    out->port = attr_int(g, "port");
    out->ws_port = attr_int(g, "websocket");
    xmlChar *l = xmlGetProp(g, (const xmlChar *)"listen");
    /* libvirt writes both forms; a hand-edited domain may carry only the <listen> child */
    for (xmlNodePtr c = g->children; c && !l; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, "listen"))
            l = xmlGetProp(c, (const xmlChar *)"address");
    snprintf(out->listen, sizeof out->listen, "%s", l ? (const char *)l : "127.0.0.1");
    xmlFree(l);
    if (out->ws_port < 0)
        rc = yun_err_set(err, YUN_E_CONFLICT, "the domain's VNC console has no websocket port (is it running?)");
    else if (hv_vnc_listen_check(out->listen, "the domain's VNC listen address", &bad) < 0)
        /* a wildcard would make yund connect to its own machine, maybe to another guest's screen */
        rc = yun_err_set(err, YUN_E_CONFLICT, "%s; redefine the domain through yun (stop and start the VM)", bad.msg);
out:
    xmlFreeDoc(doc);
    return rc;
}

int hv_vnc_listen_check(const char *addr, const char *what, yun_err *err)
{
    if (!addr || !*addr)
        return yun_err_set(err, YUN_E_INVALID, "%s is empty; give an IPv4 or IPv6 address of this host", what);
    unsigned char a[16];
    bool wild = false;
    if (inet_pton(AF_INET, addr, a) == 1) {
        wild = a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == 0;
    } else if (inet_pton(AF_INET6, addr, a) == 1) {
        /* :: and ::ffff:0.0.0.0 (the IPv4 wildcard written as IPv6) both bind every interface */
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        bool zero12 = true;
        for (int i = 0; i < 12; i++)
            zero12 = zero12 && a[i] == 0;
        bool tail0 = a[12] == 0 && a[13] == 0 && a[14] == 0 && a[15] == 0;
        wild = tail0 && (zero12 || memcmp(a, v4mapped, 12) == 0);
    } else {
        return yun_err_set(err, YUN_E_INVALID,
                           "%s '%.64s' is not an IP address; give the host's management address as an IPv4 or "
                           "IPv6 literal (e.g. 10.0.0.5), not a name",
                           what, addr);
    }
    if (wild)
        return yun_err_set(err, YUN_E_INVALID,
                           "%s '%s' is a wildcard: VNC has no password in yun, so it must never listen on every "
                           "interface; give the host's management address (the one yund reaches), or leave it "
                           "unset for 127.0.0.1",
                           what, addr);
    return 0;
}

bool hv_vnc_is_loopback(const char *addr)
{
    unsigned char a[16];
    if (addr && inet_pton(AF_INET, addr, a) == 1)
        return a[0] == 127;
    if (addr && inet_pton(AF_INET6, addr, a) == 1) {
        static const unsigned char one[16] = {[15] = 1};
        static const unsigned char v4mapped[12] = {[10] = 0xff, [11] = 0xff};
        return !memcmp(a, one, 16) || (!memcmp(a, v4mapped, 12) && a[12] == 127);
    }
    return addr && !strcmp(addr, "localhost");
}

bool hv_uri_is_remote(const char *uri)
{
    const char *p = uri ? strstr(uri, "://") : NULL;
    if (!p)
        return false;
    p += 3;
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n); /* user@host */
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    char host[256];
    if (n >= sizeof host)
        return true;
    memcpy(host, p, n);
    host[n] = 0;
    char *port = host[0] == '[' ? strstr(host, "]:") : strrchr(host, ':');
    if (port)
        port[host[0] == '[' ? 1 : 0] = 0;
    if (host[0] == '[') { /* [::1] */
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = 0;
    }
    return host[0] && !hv_vnc_is_loopback(host);
}

int hv_vnc_endpoint(const char *uri, const char *uuid, hv_vnc *out, yun_err *err)
{
    virSetErrorFunc(NULL, quiet);
    virConnectPtr conn = virConnectOpenReadOnly(uri && *uri ? uri : "qemu:///system");
    if (!conn)
        return yun_err_set(err, YUN_E_HYPERVISOR, "connecting to libvirt at %s: %s", uri, virGetLastErrorMessage());
    int rc = -1;
    char *xml = NULL;
    virDomainPtr dom = virDomainLookupByUUIDString(conn, uuid);
    if (!dom) {
        yun_err_set(err, YUN_E_HYPERVISOR, "finding domain %s: %s", uuid, virGetLastErrorMessage());
        goto out;
    }
    xml = virDomainGetXMLDesc(dom, 0); /* the live XML: it carries the ports autoport chose */
    if (!xml) {
        yun_err_set(err, YUN_E_HYPERVISOR, "reading domain %s: %s", uuid, virGetLastErrorMessage());
        goto out;
    }
    rc = hv_vnc_parse(xml, out, err);
out:
    free(xml);
    if (dom)
        virDomainFree(dom);
    virConnectClose(conn);
    return rc;
}

/* One probe; freed by whichever of the caller and the thread lets go of it last. */
typedef struct probe {
    pthread_mutex_t lock;
    pthread_cond_t done_cv;
    int refs;
    bool done;
    int answers, running;
    char uri[4096];
    char why[512];
} probe;

static void probe_put(probe *p)
{
    pthread_mutex_lock(&p->lock);
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&p->lock);
    if (last) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->done_cv);
        free(p);
    }
}

static void *probe_main(void *arg)
{
    probe *p = arg;
    virSetErrorFunc(NULL, quiet);
    int answers = 0, running = -1;
    char why[sizeof p->why] = "";
    virConnectPtr conn = virConnectOpenReadOnly(p->uri[0] ? p->uri : "qemu:///system");
    if (!conn) {
        snprintf(why, sizeof why, "connecting: %s", virGetLastErrorMessage());
    } else {
        running = virConnectNumOfDomains(conn);
        if (running < 0)
            snprintf(why, sizeof why, "listing its domains: %s", virGetLastErrorMessage());
        answers = running >= 0;
        virConnectClose(conn);
    }
    pthread_mutex_lock(&p->lock);
    p->answers = answers;
    p->running = running;
    snprintf(p->why, sizeof p->why, "%s", why);
    p->done = true;
    pthread_cond_signal(&p->done_cv);
    pthread_mutex_unlock(&p->lock);
    probe_put(p);
    return NULL;
}

int hv_libvirt_answers(const char *uri, int timeout_ms, int *running, char *why, size_t n)
{
    probe *p = calloc(1, sizeof *p);
    if (!p)
        abort();
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->done_cv, &ca);
    pthread_condattr_destroy(&ca);
    p->refs = 2;
    snprintf(p->uri, sizeof p->uri, "%s", uri ? uri : "");
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &at, probe_main, p);
    pthread_attr_destroy(&at);
    if (rc != 0) {
        snprintf(why, n, "cannot start a thread to ask it: %s", strerror(rc));
        p->refs = 1;
        probe_put(p);
        return 0;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    while (!p->done)
        if (pthread_cond_timedwait(&p->done_cv, &p->lock, &ts) == ETIMEDOUT)
            break;
    int answers = p->done && p->answers;
    if (!p->done)
        snprintf(why, n, "no answer within %d ms", timeout_ms);
    else if (!answers)
        snprintf(why, n, "%s", p->why);
    if (answers && running)
        *running = p->running;
    pthread_mutex_unlock(&p->lock);
    probe_put(p);
    return answers;
}
