#!/usr/bin/env python3
"""The layer rule, checked on the built objects (nm): core <- io <- tls <- http.

Usage: layers.py [--nm NM] LAYER OBJECTS [LAYER OBJECTS ...], lowest layer
first, each OBJECTS a list of object files separated by ":" (or ";"); NM is
the toolchain's nm (a cross build's), default nm.

Fails (exit 1, naming each reference) when
  - an object of a layer references a symbol defined in a layer above it;
  - in a layer above the first, two objects reference each other (calls run
    one way inside a layer: server -> exchange -> conn, not both ways).
The core is exempt from the second rule: loop, task and timer are one
module, split for reading.
"""
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


def main(argv):
    global NM
    if argv[:1] == ["--nm"]:
        NM, argv = argv[1], argv[2:]
    if len(argv) < 2 or len(argv) % 2:
        sys.exit(__doc__)
    layers = []  # [(name, [(obj, defined, undefined)])]
    for i in range(0, len(argv), 2):
        objs = [o for o in argv[i + 1].replace(";", ":").split(":") if o]
        if not objs:
            sys.exit(f"layers.py: no objects for layer {argv[i]}")
        layers.append((argv[i], [(o, *symbols(o)) for o in objs]))

    where = {}  # symbol -> (layer index, object)
    for li, (_, objs) in enumerate(layers):
        for obj, defined, _ in objs:
            for sym in defined:
                where[sym] = (li, obj)

    bad = []
    for li, (name, objs) in enumerate(layers):
        for obj, _, undefined in objs:
            for sym in sorted(undefined):
                if sym in where and where[sym][0] > li:
                    up = layers[where[sym][0]][0]
                    bad.append(f"{name} -> {up}: {short(obj)} uses {sym} ({short(where[sym][1])})")
        if li == 0:
            continue
        for a, _, ua in objs:
            for b, db, _ in objs:
                if a < b and ua & db:
                    back = sorted(s for s in ua_of(objs, b) if where.get(s, (None, None))[1] == a)
                    if back:
                        fwd = sorted(ua & db)
                        bad.append(f"{name}: {short(a)} and {short(b)} call each other "
                                   f"({fwd[0]} one way, {back[0]} the other)")
    for line in bad:
        print(line)
    total = sum(len(objs) for _, objs in layers)
    print(f"layers: {total} objects in {len(layers)} layers, {len(bad)} wrong-way references")
    return 1 if bad else 0


def ua_of(objs, obj):
    return next(u for o, _, u in objs if o == obj)


def short(path):
    parts = path.split("/")
    return "/".join(parts[-2:]).replace(".o", "")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
