#!/usr/bin/env python3
"""The module graph of src/ against docs/architecture.md.

Every folder under src/ is a module; a module uses another when one of its
files has `#include "../other/..."`. docs/architecture.md lists, between
the markers `<!-- layers -->` and `<!-- /layers -->`, one line per module:

    module: dependency dependency ...

This check fails when the includes use a module the list does not give
(or the list gives one they do not use), or when the graph has a cycle:
a layer may only use the layers below it.

    tests/check_layers.py [ROOT]      (default: the checkout this file is in)
"""
import re
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])
src = root / "src"

actual = {}
for f in sorted(src.glob("*/*.[ch]")):
    mod = f.parent.name
    deps = actual.setdefault(mod, set())
    for m in re.finditer(r'^\s*#\s*include\s+"\.\./([a-z_0-9]+)/', f.read_text(), re.M):
        if m.group(1) != mod:
            deps.add(m.group(1))

doc = (root / "docs" / "architecture.md").read_text()
m = re.search(r"<!-- layers -->(.*?)<!-- /layers -->", doc, re.S)
if not m:
    sys.exit("check_layers: no <!-- layers --> block in docs/architecture.md")
documented = {}
for line in m.group(1).splitlines():
    line = line.strip().strip("`")
    if not line or line.startswith("```"):
        continue
    name, _, rest = line.partition(":")
    documented[name.strip()] = set(rest.split())

problems = []
for mod in sorted(set(actual) | set(documented)):
    a, d = actual.get(mod), documented.get(mod)
    if a is None:
        problems.append("%s: documented, but there is no src/%s/" % (mod, mod))
    elif d is None:
        problems.append("%s: src/%s/ is not in the documented graph" % (mod, mod))
    else:
        for x in sorted(a - d):
            problems.append("%s uses %s (an #include), which the graph does not show" % (mod, x))
        for x in sorted(d - a):
            problems.append("%s: the graph shows %s, which no #include uses" % (mod, x))

# Cycles, by depth-first search over what the includes really do.
state, stack = {}, []


def visit(n):
    state[n] = 1
    stack.append(n)
    for x in sorted(actual.get(n, ())):
        if state.get(x) == 1:
            problems.append("cycle: " + " -> ".join(stack[stack.index(x):] + [x]))
        elif x not in state:
            visit(x)
    stack.pop()
    state[n] = 2


for n in sorted(actual):
    if n not in state:
        visit(n)

if problems:
    print("check_layers: src/ does not match docs/architecture.md:")
    for p in problems:
        print("  " + p)
    sys.exit(1)
print("check_layers: %d modules, acyclic, as documented" % len(actual))
