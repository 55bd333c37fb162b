#!/usr/bin/env python3
"""prom_check.py < SCRAPE: checks a /metrics scrape against the Prometheus text exposition format 0.0.4
(used by test_metrics.sh). Prints the number of families, or the first errors and exits 1."""
import re, sys
# A checker of the Prometheus text exposition format 0.0.4: every line a HELP, a TYPE or a sample; a family's
# TYPE before its samples and its samples together; names and label names valid; values numbers; histograms
# with cumulative buckets ending in +Inf that equals _count.
text = sys.stdin.read()
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s(?:,%s)*)?,?\})? (\S+)(?: -?\d+)?$" % (NAME, LABEL, LABEL))
types, seen_done, current, errors = {}, set(), None, []
buckets = {}
for n, line in enumerate(text.split("\n")[:-1], 1):
    if line.startswith("# HELP ") or line.startswith("# TYPE "):
        parts = line.split(" ", 3)
        if not re.fullmatch(NAME, parts[2]):
            errors.append("line %d: bad name %r" % (n, parts[2]))
        if parts[1] == "TYPE":
            if parts[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
                errors.append("line %d: bad type" % n)
            if parts[2] in types:
                errors.append("line %d: second TYPE for %s" % (n, parts[2]))
            types[parts[2]] = parts[3]
            if current:
                seen_done.add(current)
            current = parts[2]
        continue
    if line.startswith("#") or not line:
        continue
    m = SAMPLE.match(line)
    if not m:
        errors.append("line %d: not a sample: %r" % (n, line))
        continue
    name, labels, value = m.group(1), m.group(2) or "", m.group(3)
    try:
        v = float(value.replace("+Inf", "inf").replace("-Inf", "-inf"))
    except ValueError:
        errors.append("line %d: bad value %r" % (n, value))
        continue
    fam = re.sub(r"_(bucket|sum|count)$", "", name) if re.sub(r"_(bucket|sum|count)$", "", name) in types else name
    if fam not in types:
        errors.append("line %d: %s has no TYPE" % (n, name))
    elif fam != current:
        errors.append("line %d: %s is apart from its family" % (n, name))
    if types.get(fam) == "histogram":
        key = (fam, re.sub(r'\{,?\}$', "", re.sub(r',?le="[^"]*"', "", labels).replace("{,", "{")))
        if name.endswith("_bucket"):
            le = re.search(r'le="([^"]*)"', labels).group(1)
            b = buckets.setdefault(key, [])
            if b and v < b[-1][1]:
                errors.append("line %d: buckets not cumulative" % n)
            b.append((le, v))
        elif name.endswith("_count"):
            b = buckets.get(key, [])
            if not b or b[-1][0] != "+Inf" or b[-1][1] != v:
                errors.append("line %d: +Inf bucket differs from _count" % n)
if errors:
    print("\n".join(errors[:10]))
    sys.exit(1)
print("%d families" % len(types))
