/* hv_migrate.c: the destination's domain XML for a live migration (hv.h, hv_migrate_xml). Pure: the
 * libvirt driver feeds it the source's migratable XML. */
#include "hv/hv_impl.h"

#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "util/mem.h"

static bool is(xmlNodePtr n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && !xmlStrcmp(n->name, BAD_CAST name);
}

/* Every <listen type='address'> child and the listen attribute of a VNC <graphics> say addr. */
static void set_vnc_listen(xmlNodePtr g, const char *addr)
{
    xmlSetProp(g, BAD_CAST "listen", BAD_CAST addr);
    for (xmlNodePtr l = g->children; l; l = l->next) {
        if (!is(l, "listen"))
            continue;
        xmlChar *type = xmlGetProp(l, BAD_CAST "type");
        if (!type || !xmlStrcmp(type, BAD_CAST "address"))
            xmlSetProp(l, BAD_CAST "address", BAD_CAST addr);
        xmlFree(type);
    }
}

char *hv_migrate_xml(const char *xml, const char *vnc_listen, yun_err *err)
{
    if (vnc_listen && hv_vnc_listen_check(vnc_listen, "the destination's VNC listen address", err) < 0)
        return NULL;
    xmlDocPtr doc = xml ? xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)
                        : NULL;
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || !is(root, "domain")) {
        xmlFreeDoc(doc);
        yun_err_set(err, YUN_E_INVALID, "the source's domain XML does not parse as a <domain>");
        return NULL;
    }
    for (xmlNodePtr dev = root->children; dev; dev = dev->next) {
        if (!is(dev, "devices"))
            continue;
        for (xmlNodePtr c = dev->children; c; c = c->next) {
            xmlChar *type = c->type == XML_ELEMENT_NODE ? xmlGetProp(c, BAD_CAST "type") : NULL;
            if ((is(c, "serial") || is(c, "console")) && type && !xmlStrcmp(type, BAD_CAST "file")) {
                for (xmlNodePtr src = c->children; src; src = src->next)
                    if (is(src, "source"))
                        xmlSetProp(src, BAD_CAST "append", BAD_CAST "on");
            } else if (vnc_listen && is(c, "graphics") && type && !xmlStrcmp(type, BAD_CAST "vnc")) {
                set_vnc_listen(c, vnc_listen);
            }
            xmlFree(type);
        }
    }
    xmlChar *out = NULL;
    int len = 0;
    xmlDocDumpMemory(doc, &out, &len);
    xmlFreeDoc(doc);
    char *r = out ? xstrdup((const char *)out) : NULL;
    xmlFree(out);
    if (!r)
        yun_err_set(err, YUN_E_INTERNAL, "writing the destination's domain XML");
    return r;
}
