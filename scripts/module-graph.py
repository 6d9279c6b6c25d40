#!/usr/bin/env python3
"""The module graph of each crate, from the `crate::` paths in its code (comments and tests left out):
prints every import circle between a crate's top-level modules (a file and its submodules count as
one; the crate's root, which only declares and re-exports, is left out). Exit 1 if there is one."""
import os
import re
import sys

def modules(src):
    """module name (top-level, e.g. 'pool') -> list of files."""
    mods = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith('.rs'):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, src)
            top = rel.split(os.sep)[0]
            top = top[:-3] if top.endswith('.rs') else top
            if top in ('lib', 'main'):
                top = '<front>'
            mods.setdefault(top, []).append(path)
    return mods

PATH = re.compile(r'\bcrate::(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)')

def arrows(mods):
    names = set(mods)
    graph = {m: set() for m in mods}
    for m, files in mods.items():
        for path in files:
            text = open(path).read()
            # tests inside a file are not part of the module's design
            text = re.split(r'#\[cfg\(test\)\]\s*mod tests\s*\{', text)[0]
            text = re.sub(r'//.*', '', text)
            for hit in PATH.finditer(text):
                target = hit.group(1)
                targets = re.findall(r'[A-Za-z_][A-Za-z0-9_]*', target) if target.startswith('{') else [target]
                for t in targets:
                    to = t if t in names else '<front>'
                    if to != m:
                        graph[m].add(to)
    return graph

def circles(graph):
    """Strongly connected components of more than one module, the front left out."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    g = {m: {t for t in ts if t != '<front>'} for m, ts in graph.items() if m != '<front>'}
    sys.setrecursionlimit(10000)
    def visit(v):
        index[v] = low[v] = counter[0]; counter[0] += 1
        stack.append(v); on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in g:
        if v not in index:
            visit(v)
    return out

found = False
for crate in sorted(os.listdir('crates')):
    src = os.path.join('crates', crate, 'src')
    if not os.path.isdir(src):
        continue
    for comp in circles(arrows(modules(src))):
        found = True
        print(f"{crate}: import circle between {', '.join(comp)}")
if not found:
    print("no import circle inside any crate")
sys.exit(1 if found else 0)
