#!/usr/bin/env python3
"""The layer rule, checked on the built objects (nm): core <- io <- tls <- http.

Usage: layers.py [--nm NM] [--src DIR] LAYER OBJECTS [LAYER OBJECTS ...],
lowest layer first, each OBJECTS a list of object files separated by ":" (or
";"); NM is the toolchain's nm (a cross build's), default nm; DIR is the
source tree's src/, whose DIR/LAYER folders are read for includes.

Fails (exit 1, naming each wrong reference) when
  - an object of a layer references a symbol defined in a layer above it;
  - in a layer above the first, the objects' calls form a cycle (calls run
    one way inside a layer: server -> exchange -> conn, never back);
  - with --src, a source file of a layer includes a header by a path that
    leaves its folder ("../core/internal.h"): the include path gives each
    layer only the interface folders below it, and a relative path would
    get around that without leaving a symbol behind (a struct field read).
The core is exempt from the cycle rule: loop, task and timer are one
module, split for reading.
"""
import os
import re
import subprocess
import sys

NM = "nm"


def symbols(obj):
    """(defined, undefined) global symbol names of one object file."""
    out = subprocess.run([NM, "-P", obj], capture_output=True, text=True, check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind == "U":
            undefined.add(name)
        elif kind.isupper():  # upper case: global
            defined.add(name)
    return defined, undefined


def short(path):
    return "/".join(path.split("/")[-2:]).replace(".o", "")


def cycle(graph):
    """One cycle of the directed graph {node: set(nodes)} as a list, or None."""
    state = {}  # node -> 1 on the path, 2 done

    def visit(n, path):
        state[n] = 1
        path.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if not state.get(m):
                found = visit(m, path)
                if found:
                    return found
        path.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if not state.get(n):
            found = visit(n, [])
            if found:
                return found
    return None


def escaping_includes(src, layer):
    bad = []
    folder = os.path.join(src, layer)
    for root, _, files in os.walk(folder):
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(root, f)
            with open(path, encoding="utf-8") as fh:
                for no, line in enumerate(fh, 1):
                    m = re.match(r'\s*#\s*include\s*"([^"]*)"', line)
                    if m and ".." in m.group(1):
                        bad.append(f"{layer}: {os.path.relpath(path, src)}:{no} includes \"{m.group(1)}\"")
    return bad


def main(argv):
    global NM
    src = None
    while argv[:1] in (["--nm"], ["--src"]):
        if argv[0] == "--nm":
            NM = argv[1]
        else:
            src = argv[1]
        argv = argv[2:]
    if len(argv) < 2 or len(argv) % 2:
        sys.exit(__doc__)
    layers = []  # [(name, {obj: (defined, undefined)})]
    for i in range(0, len(argv), 2):
        objs = [o for o in argv[i + 1].replace(";", ":").split(":") if o]
        if not objs:
            sys.exit(f"layers.py: no objects for layer {argv[i]}")
        layers.append((argv[i], {o: symbols(o) for o in objs}))

    where = {}  # symbol -> (layer index, object)
    for li, (_, objs) in enumerate(layers):
        for obj, (defined, _) in objs.items():
            for sym in defined:
                where[sym] = (li, obj)

    bad = []
    for li, (name, objs) in enumerate(layers):
        for obj, (_, undefined) in sorted(objs.items()):
            for sym in sorted(undefined):
                if sym in where and where[sym][0] > li:
                    up = layers[where[sym][0]][0]
                    bad.append(f"{name} -> {up}: {short(obj)} uses {sym} ({short(where[sym][1])})")
        if src:
            bad += escaping_includes(src, name)
        if li == 0:
            continue
        graph = {o: {where[s][1] for s in u if s in where and where[s][1] in objs and where[s][1] != o}
                 for o, (_, u) in objs.items()}
        found = cycle(graph)
        if found:
            bad.append(f"{name}: calls go round: {' -> '.join(short(o) for o in found)}")
    for line in bad:
        print(line)
    total = sum(len(objs) for _, objs in layers)
    print(f"layers: {total} objects in {len(layers)} layers, {len(bad)} wrong-way references")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
