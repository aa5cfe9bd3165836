#!/usr/bin/env python3
"""Prints which modules each module of a crate uses, and any cycle among them.

usage: scripts/module-graph.py CRATE_SRC_DIR      (e.g. policy/src); exits 1 on a cycle.

An edge is a `crate::X` or `super::X` path (a parent's `use child::…` too). Root re-exports
(`crate::Policy`) count as an edge to the module defining them; `#[cfg(test)] mod tests`
and comments are left out. A reading aid, not a compiler: macros are not expanded.
"""
import os
import re
import sys

src = sys.argv[1]
mods = {}
for dirpath, _, files in os.walk(src):
    for f in files:
        if not f.endswith(".rs"):
            continue
        rel = os.path.relpath(os.path.join(dirpath, f), src)[:-3]
        name = rel.replace(os.sep, "::")
        name = re.sub(r"(::)?mod$", "", name)
        if name in ("lib", "main"):
            name = "(root)"
        mods[name] = open(os.path.join(dirpath, f)).read()


def code_of(text):
    """The text without comments and without `#[cfg(test)] mod tests { … }`."""
    text = re.sub(r"//[^\n]*", "", text)
    m = re.search(r"#\[cfg\(test\)\]\s*mod tests\s*\{", text)
    return text[: m.start()] if m else text


root = code_of(mods.get("(root)", ""))
reexport = {}
for m in re.finditer(r"pub use (\w+)::\{([^}]*)\}|pub use (\w+)::(\w+);", root):
    module = m.group(1) or m.group(3)
    names = m.group(2) if m.group(1) else m.group(4)
    for n in re.split(r"[\s,]+", names):
        if n:
            reexport[n] = module
top = {n.split("::")[0] for n in mods}

edges = {}
for name, text in sorted(mods.items()):
    if name == "(root)":
        continue
    code = code_of(text)
    found = set()
    paths = re.findall(r"\bcrate::(\w+)", code)
    for group in re.findall(r"\bcrate::\{([^}]*)\}", code):
        paths += [p.split("::")[0].strip() for p in group.split(",") if p.strip()]
    if "::" not in name:
        paths += re.findall(r"\bsuper::(\w+)", code)
    for p in paths:
        target = p if p in top else reexport.get(p)
        if target and target != name.split("::")[0]:
            found.add(target)
    # Inside a directory module: `super::sibling` and a parent's `use child::…`.
    parent = name.rsplit("::", 1)[0] if "::" in name else None
    if parent:
        for p in re.findall(r"\bsuper::(\w+)", code):
            found.add(f"{parent}::{p}" if f"{parent}::{p}" in mods else parent)
    for p in re.findall(r"(?<![:\w])(\w+)::", code):
        if f"{name}::{p}" in mods:
            found.add(f"{name}::{p}")
    edges[name] = sorted(found)

for name, out in edges.items():
    print(f"{name:12} -> {', '.join(out) if out else '-'}")

# Tarjan's strongly connected components: any with more than one module is a cycle.
index, low, stack, on, sccs = {}, {}, [], set(), []


def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on.add(v)
    for w in edges.get(v, []):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        sccs.append(comp)


for v in edges:
    if v not in index:
        visit(v)
cycles = [sorted(c) for c in sccs if len(c) > 1]
print("cycles:", "; ".join(" <-> ".join(c) for c in cycles) if cycles else "none")
sys.exit(1 if cycles else 0)
