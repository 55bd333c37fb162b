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
    if (!g) {
        rc = yun_err_set(err, YUN_E_CONFLICT, "the domain has no VNC console");
        goto out;
    }
    out->port = attr_int(g, "port");
    out->ws_port = attr_int(g, "websocket");
    xmlChar *l = xmlGetProp(g, (const xmlChar *)"listen");
    snprintf(out->listen, sizeof out->listen, "%s", l ? (const char *)l : "127.0.0.1");
    xmlFree(l);
    if (out->ws_port < 0)
        rc = yun_err_set(err, YUN_E_CONFLICT, "the domain's VNC console has no websocket port (is it running?)");
out:
    xmlFreeDoc(doc);
    return rc;
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
