#!/usr/bin/env python3
"""The files of server/net call each other one way: a file calls only the files drawn deeper
than itself in the diagram at the top of server/net/internal.h (a callback handed down, such as
an authentication's `done`, is passed by name and not counted: only a call `name(` counts, not
a function used as a value). Run by tools/check-layers.sh; exits 1 naming each call against the
order."""
import glob
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "."
net = os.path.join(root, "server", "net")
header = open(os.path.join(net, "internal.h")).read()
diagram = header[: header.index("*/")]

# " *       ws.c  ..." -> level by indentation; "session_sio.c, session_json.c" share a level.
level = {}
for line in diagram.splitlines():
    m = re.match(r"^ \*( +)((?:\w+\.c)(?:, \w+\.c)*)\s", line + " ")
    if not m:
        continue
    for f in m.group(2).split(", "):
        level[f] = len(m.group(1))

files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(net, "*.c")))
bad = 0
for f in files:
    if f not in level:
        print(f"check-net-order: server/net/{f} is not in the diagram of internal.h", file=sys.stderr)
        bad = 1


def strip(src):
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', src)


defined = {}
for f in files:
    for m in re.finditer(r"^(?!static\b)[a-z][\w \*]*?\b(\w+)\(", strip(open(os.path.join(net, f)).read()), re.M):
        defined[m.group(1)] = f

for f in files:
    src = strip(open(os.path.join(net, f)).read())
    for name, owner in sorted(defined.items()):
        if owner == f or f not in level or owner not in level:
            continue
        if re.search(r"\b" + name + r"\s*\(", src) and level[owner] <= level[f]:
            print(f"check-net-order: server/net/{f} calls {name}() of {owner}, which is not below it "
                  "(server/net/internal.h)", file=sys.stderr)
            bad = 1
if not bad:
    print(f"check-net-order: {len(files)} files of server/net call downward only: ok")
sys.exit(bad)
