#!/usr/bin/env python3
"""Compare two sets of bench/live.py results, scenario by scenario (bench/run.sh --against REV).

    bench/compare.py OLD_DIR NEW_DIR [--out FILE] [--old-name NAME] [--new-name NAME]

Both directories hold the *.json files bench/live.py writes. For each scenario present in both it
prints lag p50/p99, CPU per viewer, wire overhead, source upload and delivery failures, old and
new side by side with the new/old ratio, as a Markdown table. It measures nothing itself and
asserts nothing: a reader judges a regression against the run's own noise (the two builds ran
back to back, scenario by scenario, so they share the machine's conditions).
"""
import argparse
import glob
import json
import os
import sys


def load(d):
    out = {}
    for p in glob.glob(os.path.join(d, "*.json")):
        with open(p) as f:
            r = json.load(f)
        if "scenario" in r and "viewers" in r:
            out[(r["scenario"], r["viewers"])] = r
    return out


def fmt(v, spec):
    return "n/a" if v is None else spec % v


def ratio(a, b):
    if a is None or b is None or a == 0:
        return "—"
    return "%.2f" % (b / a)


def row_values(r):
    cm = r.get("cpu_per_viewer_pct") or {}
    return {
        "lag p50 s": (r["lag_s"].get("p50"), "%.3f"),
        "lag p99 s": (r["lag_s"].get("p99"), "%.3f"),
        "CPU/viewer %": (cm.get("mean"), "%.2f"),
        "overhead %": (r.get("overhead_pct"), "%.2f"),
        "source upload ×": (r.get("source_upload_x"), "%.2f"),
        "continuity min %": ((r.get("continuity_pct") or {}).get("min"), "%.2f"),
        "skipped": (r.get("skipped_total"), "%d"),
        "decode+identical failures": ((r.get("decode_failures") or 0) + (r.get("identical_failures") or 0), "%d"),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--out")
    p.add_argument("--old-name", default="old")
    p.add_argument("--new-name", default="new")
    a = p.parse_args()
    old, new = load(a.old), load(a.new)
    keys = [k for k in sorted(old, key=lambda k: (k[0], k[1])) if k in new]
    if not keys:
        print("compare: no scenario in both %s and %s" % (a.old, a.new), file=sys.stderr)
        return 1
    lines = ["| scenario | N | measure | %s | %s | %s/%s |" % (a.old_name, a.new_name, a.new_name, a.old_name),
             "|---|---|---|---|---|---|"]
    for k in keys:
        ro, rn = row_values(old[k]), row_values(new[k])
        for m, (vo, spec) in ro.items():
            vn = rn[m][0]
            if k[0] == "baseline" and m in ("CPU/viewer %", "overhead %"):
                continue  # no swarm in the HTTP fan-out baseline
            lines.append("| %s | %d | %s | %s | %s | %s |" % (k[0], k[1], m, fmt(vo, spec), fmt(vn, spec),
                                                            ratio(vo, vn)))
    text = "\n".join(lines) + "\n"
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
