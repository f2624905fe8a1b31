#!/usr/bin/env python3
"""Check Prometheus text exposition (format 0.0.4) the way `promtool check metrics` does, plus
tstream's conventions, without promtool (Debian's `prometheus` package; deploy/setup.sh installs
it, and tests/e2e/scrape.sh runs it too when present).

    prom_lint.py FILE...       one line per problem, exit 1 if any

As promtool: the text parser's rules (one HELP and one TYPE per family, before its samples, a
family's samples together, valid names, labels and values, histograms with a +Inf bucket that
equals _count and cumulative buckets, no series twice) and its linter's (help text, counters end
in _total and only counters do, _bucket/_sum/_count and le/quantile reserved, no type in the name,
no colon, snake_case, no abbreviated or non-base units). tstream's: every name starts tstream_ or
process_, no "instance" label (Prometheus sets it), every sample has a "stream" label."""
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\\n]|\\[\\"n])*)"\s*(,|(?=\}))')
CAMEL = re.compile(r"[a-z][A-Z]")
ABBREV = ["s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d"]
NON_BASE = {"minutes": "seconds", "hours": "seconds", "days": "seconds", "weeks": "seconds", "bits": "bytes",
            "kelvins": "kelvin", "fahrenheit": "celsius", "rankine": "celsius", "inches": "meters",
            "yards": "meters", "miles": "meters", "calories": "joules", "pounds": "grams", "ounces": "grams"}
BASE = ["amperes", "bytes", "celsius", "grams", "joules", "kelvin", "meters", "metres", "seconds", "volts"]
PREFIXES = ["pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega", "mibi",
            "giga", "gibi", "tera", "tebi", "peta", "pebi"]
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def parse(text):
    """(families {name: {"help", "type", "samples": [(name, labels, value)]}}, problems)."""
    fams, errs, order = {}, [], []
    cur = None
    seen_series = set()
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.fullmatch(name):
                    errs.append("line %d: bad metric name %r" % (n, name))
                    continue
                f = fams.get(name)
                if f is None:
                    f = fams[name] = {"help": None, "type": None, "samples": []}
                    order.append(name)
                elif f["samples"] or cur != name:
                    errs.append("line %d: %s %s after its family's samples or another family" % (n, parts[1], name))
                key = "help" if parts[1] == "HELP" else "type"
                if f[key] is not None:
                    errs.append("line %d: second %s line for %s" % (n, parts[1], name))
                f[key] = parts[3] if len(parts) > 3 else ""
                if key == "type" and f["type"] not in TYPES:
                    errs.append("line %d: unknown type %r" % (n, f["type"]))
                cur = name
            continue
        m = NAME.match(line)
        if not m:
            errs.append("line %d: unparsable %r" % (n, line))
            continue
        name, rest = m.group(0), line[m.end():]
        labels = {}
        if rest.startswith("{"):
            pos, body = 1, rest
            while True:
                if body[pos:].lstrip().startswith("}"):
                    pos = body.index("}", pos) + 1
                    break
                lm = LABEL.match(body, pos)
                if not lm:
                    errs.append("line %d: bad labels %r" % (n, line))
                    break
                if lm.group(1) in labels:
                    errs.append("line %d: label %s twice" % (n, lm.group(1)))
                labels[lm.group(1)] = lm.group(2).replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
                pos = lm.end()
            rest = body[pos:]
        vals = rest.split()
        if not rest.startswith(" ") or len(vals) not in (1, 2):
            errs.append("line %d: no value in %r" % (n, line))
            continue
        try:
            value = float(vals[0])
        except ValueError:
            errs.append("line %d: bad value %r" % (n, vals[0]))
            continue
        fam = name
        for suf in ("_bucket", "_sum", "_count"):
            if name.endswith(suf) and fams.get(name[: -len(suf)], {}).get("type") in ("histogram", "summary"):
                fam = name[: -len(suf)]
        if fam != cur:
            errs.append("line %d: sample %s outside its family's block (or without TYPE)" % (n, name))
            fams.setdefault(fam, {"help": None, "type": None, "samples": []})
        key = (name, tuple(sorted(labels.items())))
        if key in seen_series:
            errs.append("line %d: series %s%s twice" % (n, name, labels))
        seen_series.add(key)
        fams[fam]["samples"].append((name, labels, value))
    return fams, errs


def check_histogram(name, f, errs):
    series = {}
    for sname, labels, v in f["samples"]:
        base = {k: x for k, x in labels.items() if k != "le"}
        key = tuple(sorted(base.items()))
        s = series.setdefault(key, {"buckets": [], "count": None, "sum": None})
        if sname == name + "_bucket":
            if "le" not in labels:
                errs.append("%s: bucket without le" % name)
                continue
            s["buckets"].append((float(labels["le"]), v))
        elif sname == name + "_count":
            s["count"] = v
        elif sname == name + "_sum":
            s["sum"] = v
        else:
            errs.append("%s: sample %s in a histogram" % (name, sname))
    for key, s in series.items():
        b = sorted(s["buckets"])
        if not b or b[-1][0] != math.inf:
            errs.append("%s%s: no +Inf bucket" % (name, dict(key)))
        elif s["count"] is None or s["count"] != b[-1][1]:
            errs.append("%s%s: _count %s != +Inf bucket %s" % (name, dict(key), s["count"], b[-1][1]))
        if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            errs.append("%s%s: buckets not cumulative" % (name, dict(key)))
        if s["sum"] is None:
            errs.append("%s%s: no _sum" % (name, dict(key)))


def lint_name(name, f, errs):
    t, n = f["type"], name.lower()
    if f["help"] is None:
        errs.append("%s: no help text" % name)
    if t == "counter" and not name.endswith("_total"):
        errs.append('%s: counter metrics should have "_total" suffix' % name)
    if t not in ("counter", "untyped", None) and name.endswith("_total"):
        errs.append('%s: non-counter metrics should not have "_total" suffix' % name)
    if t != "histogram" and name.endswith("_bucket"):
        errs.append('%s: non-histogram metrics should not have "_bucket" suffix' % name)
    if t not in ("histogram", "summary") and (name.endswith("_count") or name.endswith("_sum")):
        errs.append("%s: non-histogram and non-summary metrics should not have _count or _sum suffix" % name)
    for _, labels, _ in f["samples"]:
        if t != "histogram" and "le" in labels:
            errs.append('%s: non-histogram metrics should not have "le" label' % name)
        if t != "summary" and "quantile" in labels:
            errs.append('%s: non-summary metrics should not have "quantile" label' % name)
        for k in labels:
            if CAMEL.search(k):
                errs.append("%s: label names should be written in 'snake_case' not 'camelCase'" % name)
    for typ in ("counter", "gauge", "histogram", "summary"):
        if "_%s_" % typ in n or n.endswith("_" + typ):
            errs.append("%s: metric name should not include type '%s'" % (name, typ))
    if ":" in name:
        errs.append("%s: metric names should not contain ':'" % name)
    if CAMEL.search(name):
        errs.append("%s: metric names should be written in 'snake_case' not 'camelCase'" % name)
    for a in ABBREV:
        if "_%s_" % a in n or n.endswith("_" + a):
            errs.append("%s: metric names should not contain abbreviated units (%s)" % (name, a))
    for part in name.split("_"):
        for unit, base in list(NON_BASE.items()) + [(u, u) for u in BASE]:
            for p in PREFIXES + [""]:
                if part == p + unit and p + unit != base:
                    errs.append('%s: use base unit "%s" instead of "%s"' % (name, base, p + unit))


def lint(text):
    fams, errs = parse(text)
    for name, f in fams.items():
        if f["type"] == "histogram":
            check_histogram(name, f, errs)
        lint_name(name, f, errs)
        if not (name.startswith("tstream_") or name.startswith("process_")):
            errs.append("%s: no tstream_ (or process_) prefix" % name)
        for sname, labels, _ in f["samples"]:
            if "instance" in labels:
                errs.append("%s: an instance label (Prometheus sets it from the target)" % sname)
            if "stream" not in labels:
                errs.append("%s%s: no stream label" % (sname, labels))
    return fams, errs


def main():
    bad = 0
    for path in sys.argv[1:]:
        fams, errs = lint(open(path, encoding="utf-8").read())
        for e in errs:
            print("%s: %s" % (path, e))
        bad += len(errs)
        if not errs:
            print("%s: %d families, ok" % (path, len(fams)))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
