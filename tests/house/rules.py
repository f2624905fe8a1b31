#!/usr/bin/env python3
"""The house rules of issue 14, checked on the tree and the build:

  1. no source file (.c outside tests/ and bench/) over 700 lines;
  2. no stage main (ingest, signer, swarm, player-bridge, and tsctl's *_main) over 80 lines;
  3. no file cycle among the object files of one build target (tslib, tsswarm, tstsctl, ...): if
     a.o uses a symbol b.o defines, a -> b; the graph must have no cycle, so each reads bottom-up;
  4. docs/ARCHITECTURE.md's map of rooms names every source file of those folders, and only
     files that exist.

    tests/house/rules.py SRC_DIR BUILD_DIR
Exit 0 when all hold, 1 with one line per breach.
"""
import glob
import os
import re
import subprocess
import sys

FOLDERS = ["lib", "ingest", "signer", "swarm", "player-bridge", "tsctl", "proto"]
MAX_FILE = 700
MAX_MAIN = 80


def functions(path):
    """(name, first line, length in lines) of each top-level function definition in a C file:
    a line at column 0 naming a function, then a body from a '{' at column 0 to a '}' at column 0."""
    out = []
    with open(path, errors="replace") as f:
        lines = f.read().split("\n")
    start = name = None
    for i, ln in enumerate(lines):
        if start is None:
            m = re.match(r"^[A-Za-z_][\w \*]*?\b(\w+)\s*\(", ln)
            if m and not ln.rstrip().endswith(";"):
                name, head = m.group(1), i
            if ln.startswith("{") and name is not None:
                start = head
        elif ln.startswith("}"):
            out.append((name, start + 1, i - start + 1))
            start = name = None
    return out


def sources(src):
    files = []
    for d in FOLDERS:
        files += sorted(glob.glob(os.path.join(src, d, "*.[ch]")) + glob.glob(os.path.join(src, d, "*.proto")))
    return [os.path.relpath(f, src) for f in files]


def symbols(obj):
    """(defined, undefined) global symbols of an object file."""
    res = subprocess.run(["nm", "-g", obj], capture_output=True, text=True, check=True).stdout
    dfn, und = set(), set()
    for ln in res.splitlines():
        parts = ln.split()
        if len(parts) == 2 and parts[0] == "U":
            und.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBRCVWGS":
            dfn.add(parts[2])
    return dfn, und


def target_objects(build, tdir):
    """The object files of a target's current sources (from CMake's DependInfo.cmake, so objects
    left behind by files since removed do not count), without tests, bench and generated code."""
    try:
        with open(os.path.join(tdir, "DependInfo.cmake")) as f:
            info = f.read()
    except OSError:
        return []
    objs = []
    for srcf, obj in re.findall(r'^\s*"([^"]+\.c)" "([^"]+\.c\.o)"', info, re.M):
        if "/tests/" in srcf or "/bench/" in srcf or srcf.endswith(".pb-c.c"):
            continue
        path = obj if os.path.isabs(obj) else os.path.join(build, obj)
        if os.path.exists(path):
            objs.append(path)
    return sorted(objs)


def cycles(objs):
    """Cycles in the uses-graph of one folder's objects: a list of file-name paths."""
    syms = {os.path.basename(o)[: -len(".c.o")]: symbols(o) for o in objs}
    owner = {}
    for f, (dfn, _) in syms.items():
        for s in dfn:
            owner[s] = f
    edges = {f: sorted({owner[s] for s in und if s in owner and owner[s] != f}) for f, (_, und) in syms.items()}
    found, state, stack = [], {}, []

    def visit(f):
        state[f] = 1
        stack.append(f)
        for g in edges[f]:
            if state.get(g) == 1:
                found.append(stack[stack.index(g):] + [g])
            elif g not in state:
                visit(g)
        stack.pop()
        state[f] = 2

    for f in sorted(edges):
        if f not in state:
            visit(f)
    return found


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, build = sys.argv[1], sys.argv[2]
    bad = []
    files = sources(src)
    for f in files:
        if not f.endswith(".c"):
            continue
        n = sum(1 for _ in open(os.path.join(src, f), errors="replace"))
        if n > MAX_FILE:
            bad.append("%s: %d lines (house limit %d)" % (f, n, MAX_FILE))
        for name, line, length in functions(os.path.join(src, f)):
            if (name == "main" or name.endswith("_main")) and length > MAX_MAIN:
                bad.append("%s:%d: %s is %d lines (house limit %d)" % (f, line, name, length, MAX_MAIN))
    nobj = 0
    for tdir in sorted(glob.glob(os.path.join(build, "**", "CMakeFiles", "*.dir"), recursive=True)):
        target = os.path.basename(tdir)[: -len(".dir")]
        objs = target_objects(build, tdir)
        if target.startswith(("test_", "fuzz_", "bench")) or not objs:
            continue
        nobj += len(objs)
        for c in cycles(objs):
            bad.append("target %s: file cycle %s" % (target, " -> ".join(x + ".c" for x in c)))
    if nobj == 0:
        bad.append("%s: no object files found (build first)" % build)
    with open(os.path.join(src, "docs", "ARCHITECTURE.md")) as f:
        arch = f.read()
    m = re.search(r"^## Map of rooms\n(.*?)(?=^## )", arch, re.S | re.M)
    if not m:
        bad.append("docs/ARCHITECTURE.md: no '## Map of rooms' section")
    else:
        named = set(re.findall(r"`((?:%s)/[\w.+-]+)`" % "|".join(map(re.escape, FOLDERS)), m.group(1)))
        for f in files:
            if f not in named:
                bad.append("docs/ARCHITECTURE.md: map of rooms does not name %s" % f)
        for f in sorted(named):
            if not os.path.exists(os.path.join(src, f)):
                bad.append("docs/ARCHITECTURE.md: map of rooms names %s, which does not exist" % f)
    for b in bad:
        print(b)
    print("house rules: %d source files, %d object files, %d breaches" % (len(files), nobj, len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
