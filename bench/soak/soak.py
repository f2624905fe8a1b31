#!/usr/bin/python3
"""The soak benchmark's sampler and report (bench/soak.sh runs both; see bench/README).

  soak.py sample --work DIR --tsctl PATH --viewers N --total BYTES [--interval S] [--stall S]
                 [--warmup S | --warmup-frac F]
      Samples every process of the broadcast "soak" and of the viewers v1..vN (supervisor and
      stages: open descriptors from /proc/PID/fd, VmRSS from /proc/PID/status) and the checkers'
      progress files DIR/checkI.prog, until every checker has reached the end, one reports an
      error, progress stalls, or a sampled process is gone. Writes DIR/samples.csv,
      DIR/progress.csv, DIR/fds-warm.json, DIR/fds-end.json and DIR/sampler.json.
  soak.py report --work DIR --out DIR
      Writes OUT/soak.md (the table), OUT/soak-samples.csv and OUT/soak-rss.png; exits 1 when a
      viewer's output was not byte-identical, or a descriptor count moved after warm-up.

Descriptors and RSS are read from /proc, never through `tsctl status`: a status query is itself
a connection to each supervisor and would show up in the very counts being watched."""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time


def status(tsctl):
    out = subprocess.run([tsctl, "status", "--json"], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def processes(st, names, strict=True):
    """[(instance, stage, pid)] for the named instances: supervisor first, then each stage. Not
    strict: an instance that is down (a failed checker stops its viewer) is left out."""
    procs = []
    by = {i["name"]: i for i in st["instances"]}
    for n in names:
        i = by.get(n)
        if not i or not i.get("supervisor_pid"):
            if strict:
                raise SystemExit("soak.py: instance %s is not running" % n)
            continue
        procs.append((n, "supervisor", int(i["supervisor_pid"])))
        for s in i["stages"]:
            if s.get("pid"):
                procs.append((n, s["name"], int(s["pid"])))
    return procs


def fd_targets(pid):
    d = "/proc/%d/fd" % pid
    out = []
    for f in os.listdir(d):
        try:
            t = os.readlink(os.path.join(d, f))
        except OSError:
            continue  # closed between listdir and readlink
        # pipe:[123] / socket:[456] -> kind only; inode numbers differ between samples
        out.append(t.split(":[")[0] + ":" if ":[" in t else t)
    return sorted(out)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def read_prog(path):
    try:
        with open(path) as f:
            return dict(kv.split("=", 1) for kv in f.read().split())
    except (OSError, ValueError):
        return None


def sample(a):
    st = status(a.tsctl)
    names = ["soak"] + ["v%d" % i for i in range(1, a.viewers + 1)]
    procs = processes(st, names)
    with open(os.path.join(a.work, "status-start.json"), "w") as f:
        json.dump(st, f)
    go = os.path.getmtime(os.path.join(a.work, "go"))
    t0 = time.monotonic() - max(0.0, time.time() - go)  # the go file's time, on the monotonic clock
    scsv = open(os.path.join(a.work, "samples.csv"), "w", newline="")
    pcsv = open(os.path.join(a.work, "progress.csv"), "w", newline="")
    sw, pw = csv.writer(scsv), csv.writer(pcsv)
    sw.writerow(["t_s", "instance", "stage", "pid", "fds", "rss_kb"])
    pw.writerow(["t_s", "viewer", "checked_bytes"])
    warm_t = a.warmup if a.warmup is not None else None
    warm_done = False
    last_change, last_sum = time.monotonic(), -1
    outcome, detail = "running", ""
    snap = {}
    while outcome == "running":
        now = time.monotonic()
        t = now - t0
        snap = {}
        for inst, stage, pid in procs:
            try:
                fds = fd_targets(pid)
                rss = rss_kb(pid)
            except OSError:
                outcome, detail = "process-gone", "%s/%s (pid %d) is gone" % (inst, stage, pid)
                break
            snap["%s/%s" % (inst, stage)] = fds
            sw.writerow(["%.1f" % t, inst, stage, pid, len(fds), rss])
        checked, done, errs = [], 0, []
        for i in range(1, a.viewers + 1):
            p = read_prog(os.path.join(a.work, "check%d.prog" % i)) or {}
            c = int(p.get("checked", 0))
            checked.append(c)
            pw.writerow(["%.1f" % t, "v%d" % i, c])
            done += p.get("done") == "1"
            if p.get("error") == "1":
                errs.append("v%d" % i)
        scsv.flush()
        pcsv.flush()
        if outcome != "running":
            break
        if sum(checked) != last_sum:
            last_sum, last_change = sum(checked), now
        # Warm-up ends at a fixed time, or once the slowest viewer has checked a fraction of the stream.
        if not warm_done and ((warm_t is not None and t >= warm_t) or
                              (warm_t is None and min(checked) >= a.warmup_frac * a.total)):
            warm_done, warm_t = True, t
            with open(os.path.join(a.work, "fds-warm.json"), "w") as f:
                json.dump({"t_s": t, "fds": snap}, f, indent=1)
        if errs:
            outcome, detail = "check-error", "checker of %s reported an error" % ",".join(errs)
        elif done == a.viewers:
            outcome = "done"
        elif now - last_change > a.stall:
            outcome, detail = "stalled", "no byte checked for %d s" % a.stall
        else:
            time.sleep(max(0.0, a.interval - (time.monotonic() - now)))
    t_end = time.monotonic() - t0
    with open(os.path.join(a.work, "fds-end.json"), "w") as f:
        json.dump({"t_s": t_end, "fds": snap}, f, indent=1)
    st = status(a.tsctl)
    with open(os.path.join(a.work, "status-end.json"), "w") as f:
        json.dump(st, f)
    restarted = [("%s/%s" % (i, s), p) for (i, s, p) in processes(st, names, False)
                 if (i, s, p) not in procs]
    with open(os.path.join(a.work, "sampler.json"), "w") as f:
        json.dump({"outcome": outcome, "detail": detail, "t_warm": warm_t if warm_done else None,
                   "t_end": t_end, "restarted": restarted, "interval": a.interval}, f, indent=1)
    print("soak.py sample: %s %s (%.0f s, warm-up end %s)" %
          (outcome, detail, t_end, "%.0f s" % warm_t if warm_done else "never reached"))
    return 0 if outcome == "done" and not restarted else 1


# ------------------------------------------------------------------ report

def report(a):
    w = a.work
    params = json.load(open(os.path.join(w, "params.json")))
    smp = json.load(open(os.path.join(w, "sampler.json")))
    rows = list(csv.DictReader(open(os.path.join(w, "samples.csv"))))
    prog = list(csv.DictReader(open(os.path.join(w, "progress.csv"))))
    st_end = json.load(open(os.path.join(w, "status-end.json")))
    os.makedirs(a.out, exist_ok=True)
    shutil.copy(os.path.join(w, "samples.csv"), os.path.join(a.out, "soak-samples.csv"))
    t_warm, t_end = smp["t_warm"], smp["t_end"]
    payload = params["piece_size"] - 88
    total = params["total_bytes"]

    def stage(inst, name):
        for i in st_end["instances"]:
            if i["name"] == inst:
                for s in i["stages"]:
                    if s["name"] == name:
                        return s
        return {}

    ing, sig, bsw = stage("soak", "ingest"), stage("soak", "signer"), stage("soak", "swarm")
    pieces_out = int(ing.get("pieces_out", 0))
    # Rate over the run: first to last sample in which the slowest viewer's count moved.
    by_t = {}
    for r in prog:
        by_t.setdefault(float(r["t_s"]), []).append(int(r["checked_bytes"]))
    ts = sorted(t for t in by_t if len(by_t[t]) == params["viewers"])
    t_full = next((t for t in ts if min(by_t[t]) >= total), ts[-1] if ts else 0)
    gen, gen_s = "?", 0.0
    try:
        for line in open(os.path.join(w, "home", "soak", "log", "ingest.log"), errors="replace"):
            if "ts-pattern gen:" in line:
                gen = line[line.index("ts-pattern gen:") + 16:].strip().strip('"')
                gen_s = float(gen.split(" bytes in ")[1].split(" s")[0])
    except (OSError, IndexError, ValueError):
        pass
    # The source's own clock from its first byte to its last: the rate the pipeline took.
    rate = pieces_out / gen_s if gen_s else (pieces_out / t_full if t_full else 0)

    fail = []
    viewers = []
    for i in range(1, params["viewers"] + 1):
        rc = open(os.path.join(w, "check%d.rc" % i)).read().strip() if os.path.exists(
            os.path.join(w, "check%d.rc" % i)) else "?"
        line = open(os.path.join(w, "check%d.out" % i)).read().strip().splitlines()
        line = line[0] if line else "(no output)"
        p = read_prog(os.path.join(w, "check%d.prog" % i)) or {}
        sw_ = stage("v%d" % i, "swarm")
        viewers.append((i, int(p.get("checked", 0)), int(p.get("start", 0)), rc, line, sw_))
        if rc != "0":
            fail.append("viewer %d: %s" % (i, line))

    notes = []
    procs = {}
    for r in rows:
        procs.setdefault((r["instance"], r["stage"]), []).append((float(r["t_s"]), int(r["fds"]), int(r["rss_kb"])))
    table = []
    for (inst, stg), v in procs.items():
        after = [x for x in v if t_warm is not None and x[0] >= t_warm]
        if not after:
            after = v[-1:]
        fmin, fmax = min(x[1] for x in after), max(x[1] for x in after)
        r_warm, r_end, r_max = after[0][2], after[-1][2], max(x[2] for x in after)
        r_first = v[0][2]
        table.append((inst, stg, v[0][1], after[0][1], fmin, fmax, after[-1][1], r_first, r_warm, r_end, r_max))
        # A leak grows and stays: the end must equal the warm-up count. A descriptor seen open in a
        # sample or two and gone again (ingest's fsync'd seq/clock files are written every few
        # seconds) is reported, not failed; more than one extra at once is.
        transient = sum(1 for x in after if x[1] != after[0][1])
        if after[-1][1] != after[0][1] or fmax - fmin > 1:
            fail.append("%s/%s: descriptors %d..%d after warm-up" % (inst, stg, fmin, fmax))
        elif transient:
            notes.append("%s/%s: %d of %d samples saw %d descriptors instead of %d (transient; back to %d at the end)"
                         % (inst, stg, transient, len(after), fmax if fmax != after[0][1] else fmin, after[0][1],
                            after[-1][1]))
    if smp["outcome"] != "done":
        fail.append("run ended: %s %s" % (smp["outcome"], smp["detail"]))
    if smp["restarted"]:
        fail.append("stages restarted: %s" % smp["restarted"])
    if pieces_out < params["pieces"]:
        fail.append("ingest pushed %d pieces, fewer than %d" % (pieces_out, params["pieces"]))

    mib = lambda kb: "%.1f" % (kb / 1024.0)
    L = []
    L.append("# Soak benchmark (`bench/soak.sh`)\n")
    L.append("Run %s on %s (%d CPUs), code at %s.\n" % (params["date"], params["host"], os.cpu_count(),
                                                        params["commit"]))
    L.append("```\n%s\n```\n" % params["command"])
    L.append("| | |\n|---|---|")
    L.append("| pieces pushed (ingest `pieces_out`) | %d (asked %d) |" % (pieces_out, params["pieces"]))
    L.append("| piece size / payload | %d / %d bytes |" % (params["piece_size"], payload))
    L.append("| bytes per viewer | %d (%.2f GB) |" % (total, total / 1e9))
    L.append("| window (npieces) | %d: the index space wrapped %d times |" % (params["npieces"],
                                                                              pieces_out // params["npieces"]))
    L.append("| rate asked / achieved | %d / %.0f pieces/s (%.0f Mbit/s of payload), by the source's clock |" % (
        params["rate"], rate, rate * payload * 8 / 1e6))
    L.append("| duration | %.0f s from the first byte to every viewer's last (%.2f h); at this rate 2.6 M pieces "
             "take %.1f h |" % (t_full, t_full / 3600, 2.6e6 / rate / 3600 if rate else 0))
    L.append("| warm-up | first %s s (%s) |" % ("%.0f" % t_warm if t_warm is not None else "-",
                                                  params["warmup_desc"]))
    L.append("| samples | every %s s, %d per process |" % (smp["interval"], max(len(v) for v in procs.values())))
    L.append("| signer | %s signed, %s rejected |" % (sig.get("pieces_signed", "?"), sig.get("pieces_rejected", "?")))
    L.append("| broadcaster swarm | %s pieces in, %s uploaded (%.2f copies per piece) |" % (
        bsw.get("pieces_in", "?"), bsw.get("pieces_up", "?"),
        int(bsw.get("pieces_up", 0)) / max(1, int(bsw.get("pieces_in", 1)))))
    L.append("| source (`ts-pattern gen`, lead %d pieces) | %s |" % (params["lead"], gen))
    L.append("| outcome | %s |\n" % ("**PASS**" if not fail else "**FAIL**: " + "; ".join(fail)))
    for n in notes:
        L.append("\nNote: %s.\n" % n)
    L.append("Per viewer (`tsctl watch soak.tstream --output - | ts-pattern check`):\n")
    L.append("| viewer | bytes checked | first stream byte | errors | swarm skipped / bad pieces | checker |")
    L.append("|---|---|---|---|---|---|")
    for i, checked, start, rc, line, s in viewers:
        L.append("| v%d | %d | %d | %s | %s / %s | %s |" % (i, checked, start, 0 if rc == "0" else 1,
                                                           s.get("skipped", "?"), s.get("bad_pieces", "?"), line))
    L.append("\nPer process: open descriptors and resident memory (MiB). \"warm\" is the first sample after "
             "warm-up; min/max are over every sample from then to the end.\n")
    L.append("| instance | process | fds start | fds warm | fds min | fds max | fds end | RSS start | RSS warm | "
             "RSS end | RSS max | RSS end − warm |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for inst, stg, f0, fw, fmin, fmax, fe, r0, rw, re_, rm in table:
        L.append("| %s | %s | %d | %d | %d | %d | %d | %s | %s | %s | %s | %+.1f |" % (
            inst, stg, f0, fw, fmin, fmax, fe, mib(r0), mib(rw), mib(re_), mib(rm), (re_ - rw) / 1024.0))
    # Descriptors that differ between warm-up and end, by kind, for the record.
    try:
        fw_, fe_ = json.load(open(os.path.join(w, "fds-warm.json")))["fds"], json.load(
            open(os.path.join(w, "fds-end.json")))["fds"]
        diffs = []
        for k in fw_:
            if k in fe_ and sorted(fw_[k]) != sorted(fe_[k]):
                a_, b_ = list(fw_[k]), list(fe_[k])
                for x in fw_[k]:
                    if x in b_:
                        b_.remove(x)
                        a_.remove(x)
                diffs.append("%s: warm-up only %s, end only %s" % (k, a_, b_))
        if diffs:
            L.append("\nDescriptors that differ between the warm-up and the end sample:\n")
            L += ["- " + d for d in diffs]
    except (OSError, KeyError, ValueError):
        pass
    if os.path.exists(os.path.join(a.out, "soak-rss.png")):
        os.remove(os.path.join(a.out, "soak-rss.png"))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(10, 5.5))
        styles = ["-", "--", ":", "-."]
        insts = sorted({i for i, _ in procs})
        for (inst, stg), v in sorted(procs.items()):
            ax.plot([x[0] / 60 for x in v], [x[2] / 1024 for x in v], label="%s/%s" % (inst, stg), lw=1,
                    ls=styles[insts.index(inst) % len(styles)])
        if t_warm is not None:
            ax.axvline(t_warm / 60, color="grey", ls="--", lw=0.8)
        ax.set_xlabel("minutes")
        ax.set_ylabel("RSS (MiB)")
        ax.set_title("soak: %d pieces of %d bytes, window %d" % (pieces_out, params["piece_size"], params["npieces"]))
        ax.legend(fontsize=7, ncol=3)
        fig.tight_layout()
        fig.savefig(os.path.join(a.out, "soak-rss.png"), dpi=90)
        L.append("\n![RSS over time](soak-rss.png)")
    except ImportError:
        L.append("\n(no plot: matplotlib missing)")
    with open(os.path.join(a.out, "soak.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    print("\n".join(L))
    return 1 if fail else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--work", required=True)
    s.add_argument("--tsctl", required=True)
    s.add_argument("--viewers", type=int, default=3)
    s.add_argument("--total", type=int, required=True)
    s.add_argument("--interval", type=float, default=5)
    s.add_argument("--stall", type=int, default=60)
    s.add_argument("--warmup", type=float)
    s.add_argument("--warmup-frac", type=float, default=0.1)
    r = sub.add_parser("report")
    r.add_argument("--work", required=True)
    r.add_argument("--out", required=True)
    a = p.parse_args()
    sys.exit(sample(a) if a.cmd == "sample" else report(a))


if __name__ == "__main__":
    main()
