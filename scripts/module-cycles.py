#!/usr/bin/env python3
"""Reports module cycles inside each crate of the workspace.

A module depends on another when its code names a path into it (`crate::a::b`, `super::x`,
`self::y`, in `use` declarations or inline). `mod` declarations and the re-exports of a crate
root or `mod.rs` (`pub use`, its facade) are not dependencies. Each file is one node; a cycle
is a strongly connected component of more than one file.

    python3 scripts/module-cycles.py [CRATE_DIR...]   (default: every crate of the workspace)
"""
import os
import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = []
    for line in text.split("\n"):
        # Drop // comments outside string literals (good enough: vouch has no `//` in paths).
        in_str = False
        cut = len(line)
        i = 0
        while i < len(line):
            c = line[i]
            if c == '"' and (i == 0 or line[i - 1] != "\\"):
                in_str = not in_str
            elif not in_str and line.startswith("//", i):
                cut = i
                break
            i += 1
        out.append(line[:cut])
    return "\n".join(out)


def strip_strings(text):
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


class Crate:
    def __init__(self, root_file):
        self.modules = {}  # tuple path -> file
        self.files = {}  # file -> tuple path
        self.add(root_file, ())

    def add(self, path, modpath):
        self.modules[modpath] = path
        self.files[path] = modpath
        text = strip_strings(strip_comments(open(path, encoding="utf-8").read()))
        base = os.path.basename(path)
        if base in ("lib.rs", "main.rs", "mod.rs"):
            child_dir = os.path.dirname(path)
        else:
            child_dir = os.path.splitext(path)[0]
        for m in re.finditer(r"(?:#\[path\s*=\s*\"([^\"]+)\"\]\s*)?(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", text):
            name = m.group(2)
            for cand in (os.path.join(child_dir, name + ".rs"), os.path.join(child_dir, name, "mod.rs")):
                if os.path.exists(cand):
                    self.add(cand, modpath + (name,))
                    break


def use_paths(stmt):
    """Expands `a::{b, c::{d}}` into full paths."""
    stmt = re.sub(r"\s+", "", stmt)
    def expand(s):
        i = s.find("{")
        if i < 0:
            return [s]
        prefix = s[:i]
        depth, parts, start = 0, [], i + 1
        for j in range(i, len(s)):
            if s[j] == "{":
                depth += 1
            elif s[j] == "}":
                depth -= 1
                if depth == 0:
                    parts.append(s[start:j])
                    end = j
                    break
            elif s[j] == "," and depth == 1:
                parts.append(s[start:j])
                start = j + 1
        out = []
        for p in parts:
            if p:
                out.extend(prefix + e for e in expand(p))
        return out
    return [re.sub(r"as" + IDENT + "$", "", p) for p in expand(stmt)]


def edges(crate):
    deps = {f: set() for f in crate.files}
    for path, modpath in crate.files.items():
        raw = strip_strings(strip_comments(open(path, encoding="utf-8").read()))
        facade = os.path.basename(path) in ("lib.rs", "main.rs", "mod.rs")
        # Inline `mod x {` nesting per character offset.
        refs = []  # (offset, path text)
        for m in re.finditer(r"(?m)^\s*(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", raw):
            if facade and m.group(1):
                continue
            for p in use_paths(m.group(2)):
                refs.append((m.start(), p))
        code = re.sub(r"(?m)^\s*(pub(?:\([^)]*\))?\s+)?use\s+[^;]+;", lambda m: " " * len(m.group(0)), raw)
        for m in re.finditer(r"(?<![A-Za-z0-9_:])" + IDENT + r"(?:::" + IDENT + r")+", code):
            refs.append((m.start(), m.group(0)))
        inline = []
        depth = 0
        stack = []
        pos_depth = []
        for m in re.finditer(r"\bmod\s+" + IDENT + r"\s*\{|\{|\}", raw):
            tok = m.group(0)
            if tok.startswith("mod"):
                depth += 1
                stack.append(depth)
                pos_depth.append((m.start(), len(stack)))
            elif tok == "{":
                depth += 1
            else:
                if stack and stack[-1] == depth:
                    stack.pop()
                    pos_depth.append((m.start(), len(stack)))
                depth -= 1
        def inline_level(offset):
            level = 0
            for p, d in pos_depth:
                if p <= offset:
                    level = d
                else:
                    break
            return level
        for offset, p in refs:
            segs = p.split("::")
            level = inline_level(offset)
            if segs[0] == "crate":
                base = ()
                segs = segs[1:]
            elif segs[0] in ("super", "self"):
                base = modpath + ("<inline>",) * level
                while segs and segs[0] in ("super", "self"):
                    if segs[0] == "super":
                        base = base[:-1]
                    segs = segs[1:]
                base = tuple(b for b in base if b != "<inline>")
            elif modpath + (segs[0],) in crate.modules and level == 0:
                # A child module named relative to this one.
                base = modpath
            else:
                continue
            target = base
            for s in segs:
                if target + (s,) in crate.modules:
                    target = target + (s,)
                else:
                    break
            if target not in crate.modules:
                continue
            tfile = crate.modules[target]
            if tfile == path:
                continue
            # A path that only names a module (`use super::x;`) still depends on it; a glob
            # of the parent from a child is a dependency on the parent's items.
            deps[path].add(tfile)
    return deps


def sccs(graph):
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    sys.setrecursionlimit(10000)
    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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
            out.append(comp)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def crate_roots(args):
    if args:
        dirs = args
    else:
        dirs = ["cli", "policy"] + sorted(
            os.path.join("crates", d) for d in os.listdir("crates") if os.path.isdir(os.path.join("crates", d))
        )
    for d in dirs:
        for root in ("src/lib.rs", "src/main.rs"):
            p = os.path.join(d, root)
            if os.path.exists(p):
                yield d, p


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    found = 0
    for d, root in crate_roots(sys.argv[1:]):
        crate = Crate(root)
        graph = edges(crate)
        n_edges = sum(len(v) for v in graph.values())
        cycles = [c for c in sccs(graph) if len(c) > 1]
        status = "ok" if not cycles else f"{len(cycles)} cycle(s)"
        print(f"{root}: {len(graph)} modules, {n_edges} edges: {status}")
        for c in cycles:
            found += 1
            members = set(c)
            print("  cycle: " + ", ".join(sorted(c)))
            for a in sorted(c):
                for b in sorted(graph[a] & members):
                    print(f"    {a} -> {b}")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
