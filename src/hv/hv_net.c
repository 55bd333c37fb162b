/* hv_net.c: the pure side of guest networking (hv_net.h): subnets, yun's network XML (written with
 * libxml2's writer, read back with its parser), the MAC of a VM, and /proc/net/arp. */
#include "hv/hv_net.h"
#include "hv/hv_impl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

#include "model/net.h"
#include "util/mem.h"

int hv_subnet_pick(const yun_subnet *taken, size_t n, yun_subnet *out, yun_err *err)
{
    uint32_t first = 0;
    model_ip_parse(HV_NET_FIRST, &first);
    for (uint32_t k = 0; k < 256; k++) {
        yun_subnet c = {.net = first + (k << 8), .prefix = 24};
        bool free_ = true;
        for (size_t i = 0; i < n && free_; i++)
            free_ = !model_subnet_overlap(&c, &taken[i]);
        if (free_) {
            *out = c;
            return 0;
        }
    }
    return yun_err_set(err, YUN_E_CONFLICT,
                       "every /24 of %s/16 is used by another network of this host: define a libvirt network "
                       "named \"" HV_NET_NAME "\" on a free subnet yourself, or give the agent --bridge BR",
                       HV_NET_FIRST);
}

static xmlDocPtr parse_xml(const char *xml)
{
    if (!xml || !*xml)
        return NULL;
    return xmlReadMemory(xml, (int)strlen(xml), "network.xml", NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

static bool is_el(xmlNodePtr n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

/* An attribute's value into out ("" when absent). */
static void attr(xmlNodePtr n, const char *name, char *out, size_t on)
{
    xmlChar *v = xmlGetProp(n, BAD_CAST name);
    snprintf(out, on, "%s", v ? (const char *)v : "");
    xmlFree(v);
}

size_t hv_network_xml_subnets(const char *xml, yun_subnet *out, size_t max)
{
    xmlDocPtr doc = parse_xml(xml);
    if (!doc)
        return 0;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    size_t k = 0;
    for (xmlNodePtr c = root ? root->children : NULL; c && k < max; c = c->next) {
        if (!is_el(c, "ip"))
            continue;
        char family[16], addr[64], mask[64], prefix[8];
        attr(c, "family", family, sizeof family);
        attr(c, "address", addr, sizeof addr);
        attr(c, "netmask", mask, sizeof mask);
        attr(c, "prefix", prefix, sizeof prefix);
        uint32_t ip, m;
        if ((*family && strcmp(family, "ipv4") != 0) || !model_ip_parse(addr, &ip))
            continue;
        int p = 24; /* libvirt's default for an ipv4 <ip> without either */
        if (*mask && model_ip_parse(mask, &m))
            p = __builtin_popcount(m);
        else if (*prefix)
            p = atoi(prefix);
        if (p < 0 || p > 32)
            continue;
        out[k].prefix = p;
        out[k].net = ip & model_subnet_mask(p);
        k++;
    }
    xmlFreeDoc(doc);
    return k;
}

void hv_network_xml_bridge(const char *xml, char *out, size_t n)
{
    if (n)
        out[0] = 0;
    xmlDocPtr doc = parse_xml(xml);
    if (!doc)
        return;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    for (xmlNodePtr c = root ? root->children : NULL; c; c = c->next)
        if (is_el(c, "bridge")) {
            attr(c, "name", out, n);
            break;
        }
    xmlFreeDoc(doc);
}

/* libvirt's rules for names: no '/', nothing invisible; interface names: at most 15 bytes (IFNAMSIZ). */
int hv_net_name_check(const char *what, const char *s, size_t max, yun_err *err)
{
    if (!s || !*s)
        return yun_err_set(err, YUN_E_INVALID, "network %s is missing", what);
    if (strlen(s) > max)
        return yun_err_set(err, YUN_E_INVALID, "network %s \"%.64s\" is longer than %zu bytes", what, s, max);
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_.", *p))
            return yun_err_set(err, YUN_E_INVALID,
                               "network %s \"%.64s\" may hold only letters, digits, '-', '_' and '.'", what, s);
    return 0;
}

char *hv_network_xml(const hv_net_spec *spec, yun_err *err)
{
    if (!spec)
        return yun_err_set(err, YUN_E_INVALID, "no network spec given"), NULL;
    if (hv_net_name_check("name", spec->name, 64, err) < 0 || hv_net_name_check("bridge", spec->bridge, 15, err) < 0)
        return NULL;
    const yun_subnet *s = &spec->subnet;
    if (s->prefix < 8 || s->prefix > 29 || (s->net & ~model_subnet_mask(s->prefix))) {
        char c[24];
        model_subnet_format(s, c, sizeof c);
        yun_err_set(err, YUN_E_INVALID, "network subnet %s must be a /8 to /29 without host bits", c);
        return NULL;
    }
    uint32_t bcast = s->net | ~model_subnet_mask(s->prefix);
    char gw[16], mask[16], lo[16], hi[16];
    model_ip_format(s->net + 1, gw, sizeof gw);
    model_ip_format(model_subnet_mask(s->prefix), mask, sizeof mask);
    model_ip_format(s->net + 2, lo, sizeof lo);
    model_ip_format(bcast - 1, hi, sizeof hi);

    xmlBufferPtr buf = xmlBufferCreate();
    if (!buf)
        abort();
    xmlTextWriterPtr w = xmlNewTextWriterMemory(buf, 0);
    if (!w)
        abort();
    xmlTextWriterSetIndent(w, 1);
    xmlTextWriterSetIndentString(w, BAD_CAST "  ");
    int rc = 0;
#define W(call)                                                                                                        \
    do {                                                                                                               \
        if (rc >= 0)                                                                                                   \
            rc = (call);                                                                                               \
    } while (0)
    W(xmlTextWriterStartElement(w, BAD_CAST "network"));
    W(xmlTextWriterWriteElement(w, BAD_CAST "name", BAD_CAST spec->name));
    /* NAT: guests reach out through the host's uplink; nothing outside reaches in */
    W(xmlTextWriterStartElement(w, BAD_CAST "forward"));
    W(xmlTextWriterWriteAttribute(w, BAD_CAST "mode", BAD_CAST "nat"));
    W(xmlTextWriterEndElement(w));
    W(xmlTextWriterStartElement(w, BAD_CAST "bridge"));
    W(xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST spec->bridge));
    W(xmlTextWriterWriteAttribute(w, BAD_CAST "stp", BAD_CAST "on"));
    W(xmlTextWriterWriteAttribute(w, BAD_CAST "delay", BAD_CAST "0"));
    W(xmlTextWriterEndElement(w));
    W(xmlTextWriterStartElement(w, BAD_CAST "ip"));
    W(xmlTextWriterWriteAttribute(w, BAD_CAST "address", BAD_CAST gw));
    W(xmlTextWriterWriteAttribute(w, BAD_CAST "netmask", BAD_CAST mask));
    W(xmlTextWriterStartElement(w, BAD_CAST "dhcp"));
    W(xmlTextWriterStartElement(w, BAD_CAST "range"));
    W(xmlTextWriterWriteAttribute(w, BAD_CAST "start", BAD_CAST lo));
    W(xmlTextWriterWriteAttribute(w, BAD_CAST "end", BAD_CAST hi));
    W(xmlTextWriterEndElement(w)); /* range */
    W(xmlTextWriterEndElement(w)); /* dhcp */
    W(xmlTextWriterEndElement(w)); /* ip */
    W(xmlTextWriterEndElement(w)); /* network */
    W(xmlTextWriterEndDocument(w));
#undef W
    xmlFreeTextWriter(w);
    char *out = NULL;
    if (rc < 0)
        yun_err_set(err, YUN_E_INTERNAL, "building the XML of network %s failed", spec->name);
    else
        out = xstrdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return out;
}

void hv_mac_from_uuid(const char *uuid, char mac[18])
{
    /* FNV-1a over the lower-cased uuid: any uuid spreads over the 2^24 suffixes */
    uint32_t h = 2166136261u;
    for (const char *p = uuid ? uuid : ""; *p; p++) {
        h ^= (uint32_t)tolower((unsigned char)*p);
        h *= 16777619u;
    }
    snprintf(mac, 18, "52:54:00:%02x:%02x:%02x", (h >> 16) & 255, (h >> 8) & 255, h & 255);
}

int hv_arp_find(const char *text, const char *mac, char *ip, size_t n)
{
    if (n)
        ip[0] = 0;
    if (!text || !mac)
        return 0;
    /* IP address       HW type     Flags       HW address            Mask     Device */
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char l[256], a[64], type[16], flags[16], hw[64];
        if (len < sizeof l) {
            memcpy(l, line, len);
            l[len] = 0;
            if (sscanf(l, "%63s %15s %15s %63s", a, type, flags, hw) == 4 && !strcasecmp(hw, mac) &&
                strtoul(flags, NULL, 16) != 0) {
                uint32_t dummy;
                if (model_ip_parse(a, &dummy)) {
                    snprintf(ip, n, "%s", a);
                    return 1;
                }
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}
