#!/usr/bin/env python3
"""layering.py — the module structure of metacrawl, checked (docs/architecture.md).

Written by hand because no tool checks this for C: meson gives each folder its
own static library and include paths, which keeps a folder from *finding* a
header it is not given, but the static library that combines them for the
tests links anything with anything, and nothing in meson forbids a cycle
between two libraries' objects.  The pg_dump meson build keeps its layers
apart the same way, with separate libraries; this adds the checks.

MODULES below is the declared structure: each module is a folder, the
modules it may use (directly or through one another), and the third-party
libraries it may include.  A file belongs to the module with the longest
folder that contains it (crawler/pg/pg.c is module pg, crawler/crawl.c is
module crawler).  The checks:

  1. includes: `#include "x.h"` has no `../`; it names a header of the same
     module, or a public header (not *_internal.h) of a module the including
     module may use; a third-party header (<libpq-fe.h>, <sqlite3.h> ...) is
     included only by the modules that declare that library, and never in a
     public header, so no library type leaves its module;
  2. links: for every object of the library (compile_commands.json gives the
     objects and their sources), the global symbols it uses and the object
     that defines each give an edge between modules; every edge must go to a
     module the user may use, and the module graph must have no cycle (each
     cycle is printed with the symbols that make it);
  3. `--self-test` builds a small tree with a reversed include and a link
     cycle and checks that both are reported, so this test cannot pass by
     checking nothing.

Usage: layering.py --source DIR --build DIR     (meson test 'layering')
       layering.py --self-test
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile


class Module:
    def __init__(self, name, folder, uses=(), third=(), public=None):
        self.name = name
        self.folder = folder          # relative to the source root
        self.uses = set(uses)         # modules it may use directly
        self.third = set(third)       # third-party libraries it may include
        self.public = public          # None: every header not *_internal.h


# The declared structure, lowest first (docs/architecture.md draws it).
MODULES = [
    Module('base', 'crawler/base'),
    Module('aws', 'crawler/aws', ['base'], ['libcurl', 'jansson']),
    Module('store', 'store', ['base'], ['sqlite3']),
    Module('tunnel', 'tunnel', ['base'], ['libssh2', 'libcrypto']),
    Module('pg', 'crawler/pg', ['base'], ['libpq']),
    Module('config', 'crawler/config', ['base', 'store', 'aws'], ['yaml', 'libcurl']),
    Module('lineage', 'crawler/lineage', ['base', 'store', 'pg'], ['jansson']),
    Module('crawler', 'crawler', ['base', 'store', 'tunnel', 'pg', 'config', 'lineage']),
    Module('report', 'crawler/report', ['crawler'], ['jansson']),
    Module('alerts', 'crawler/alerts', ['report'], ['libcurl', 'jansson']),
    Module('diagram', 'crawler/diagram', ['base'], ['graphviz']),
    Module('site', 'crawler/site', ['report', 'diagram'], ['jansson']),
    Module('grants', 'crawler/grants', ['crawler']),
    Module('schedules', 'schedules', ['alerts', 'crawler'], []),
    Module('export', 'crawler/export', ['store'], ['jansson']),
    Module('cli', 'crawler/cli', ['schedules', 'site', 'grants', 'alerts', 'export'], ['jansson']),
]

# Third-party headers and the library each belongs to.
THIRD_PARTY = [
    (re.compile(r'^libpq-fe\.h$|^libpq/|^pg_config'), 'libpq'),
    (re.compile(r'^libssh2'), 'libssh2'),
    (re.compile(r'^openssl/'), 'libcrypto'),
    (re.compile(r'^sqlite3\.h$'), 'sqlite3'),
    (re.compile(r'^yaml\.h$'), 'yaml'),
    (re.compile(r'^jansson'), 'jansson'),
    (re.compile(r'^curl/'), 'libcurl'),
    (re.compile(r'^(graphviz/)?(gvc|cgraph|cdt|gvcext|gvcommon|gvplugin\w*)\.h$'), 'graphviz'),
]

# Headers generated into the build directory, usable by every module.
GENERATED = {'mc_build.h'}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def closure(modules):
    """name -> every module it may use, directly or through others."""
    by = {m.name: m for m in modules}
    out = {}
    for m in modules:
        seen, pending = set(), list(m.uses)
        while pending:
            n = pending.pop()
            if n in seen or n not in by:
                continue
            seen.add(n)
            pending.extend(by[n].uses)
        out[m.name] = seen
    return out


def module_of(modules, rel):
    best = None
    for m in modules:
        if rel == m.folder or rel.startswith(m.folder + '/'):
            if best is None or len(m.folder) > len(best.folder):
                best = m
    return best


def sources(root, modules):
    """(relative path, module) of every .c and .h of the modules."""
    out = []
    for m in modules:
        for dirpath, _, names in os.walk(os.path.join(root, m.folder)):
            for n in names:
                if n.endswith(('.c', '.h')):
                    rel = os.path.relpath(os.path.join(dirpath, n), root)
                    if module_of(modules, rel) is m:
                        out.append((rel, m))
    return sorted(out)


def is_public(m, rel):
    base = os.path.basename(rel)
    if m.public is not None:
        return base in m.public
    return rel.endswith('.h') and not base.endswith('_internal.h')


def check_includes(root, modules):
    problems = []
    uses = closure(modules)
    files = sources(root, modules)
    headers = {}
    for rel, m in files:
        if rel.endswith('.h'):
            headers.setdefault(os.path.basename(rel), []).append((rel, m))
    for name, where in headers.items():
        if len(where) > 1:
            problems.append('header name %s is used by %s: includes by bare name would be '
                            'ambiguous' % (name, ', '.join(r for r, _ in where)))
    for rel, m in files:
        with open(os.path.join(root, rel), encoding='utf-8', errors='replace') as f:
            text = f.read()
        for mt in INCLUDE.finditer(text):
            line = text.count('\n', 0, mt.start()) + 1
            kind, name = mt.group(1), mt.group(2)
            at = '%s:%d' % (rel, line)
            if kind == '<':
                for pat, lib in THIRD_PARTY:
                    if pat.search(name):
                        if lib not in m.third:
                            problems.append('%s: <%s> is %s, which module %s does not use '
                                            '(only %s may)' % (
                                                at, name, lib, m.name,
                                                ', '.join(x.name for x in modules
                                                          if lib in x.third) or 'none'))
                        elif is_public(m, rel):
                            problems.append('%s: <%s> in a public header: %s types would '
                                            'leave module %s' % (at, name, lib, m.name))
                continue
            if '..' in name.split('/'):
                problems.append('%s: "%s" reaches out with ../; include by bare name' %
                                (at, name))
            base = os.path.basename(name)
            if base in GENERATED:
                continue
            cands = headers.get(base)
            if not cands:
                if not os.path.exists(os.path.join(root, os.path.dirname(rel), name)):
                    problems.append('%s: "%s" is not a header of any module' % (at, name))
                continue
            target_rel, target = cands[0]
            if target is m:
                continue
            if target.name not in uses[m.name]:
                problems.append('%s: module %s includes "%s" of module %s, which it may not '
                                'use (%s may use: %s)' % (at, m.name, name, target.name, m.name,
                                                          ', '.join(sorted(uses[m.name])) or
                                                          'nothing'))
            elif not is_public(target, target_rel):
                problems.append('%s: "%s" is private to module %s' % (at, name, target.name))
    return problems


def objects(build):
    """(object path, source path) of the compiled library sources."""
    with open(os.path.join(build, 'compile_commands.json')) as f:
        cmds = json.load(f)
    out = []
    for c in cmds:
        src = os.path.normpath(os.path.join(c['directory'], c['file']))
        obj = os.path.normpath(os.path.join(c['directory'], c['output']))
        out.append((obj, src))
    return out


def nm(obj, flags):
    r = subprocess.run(['nm', '-P'] + flags + [obj], capture_output=True, text=True,
                       check=True)
    syms = set()
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            syms.add(parts[0])
    return syms


def check_links(root, build, modules):
    problems = []
    uses = closure(modules)
    objs = []
    for obj, src in objects(build):
        rel = os.path.relpath(src, root)
        m = module_of(modules, rel)
        if m is None or not os.path.exists(obj):
            continue  # tests, main.c, fuzz targets, generated files
        objs.append((obj, rel, m))
    defined = {}
    for obj, rel, m in objs:
        for s in nm(obj, ['--defined-only', '-g']):
            defined[s] = (rel, m)
    edges = {}   # (from module, to module) -> [(file, symbol, file)]
    for obj, rel, m in objs:
        for s in nm(obj, ['-u']):
            if s not in defined:
                continue
            drel, dm = defined[s]
            if dm is m:
                continue
            edges.setdefault((m.name, dm.name), []).append((rel, s, drel))
    for (a, b), why in sorted(edges.items()):
        if b not in uses[a]:
            r, s, d = why[0]
            problems.append('link: module %s uses module %s, which it may not: %s calls %s '
                            '(%s)%s' % (a, b, r, s, d,
                                        ' and %d more' % (len(why) - 1) if len(why) > 1 else ''))
    # cycles in the module graph (Tarjan)
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    index, low, stack, on, sccs = {}, {}, [], set(), []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
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
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    for comp in sccs:
        lines = []
        for a in comp:
            for b in comp:
                if (a, b) in edges:
                    r, s, d = edges[(a, b)][0]
                    lines.append('%s -> %s (%s calls %s)' % (a, b, r, s))
        problems.append('link: cycle through modules %s: %s' % (', '.join(comp),
                                                                '; '.join(lines)))
    return problems, edges


def run(root, build, modules, quiet=False):
    problems = check_includes(root, modules)
    edges = {}
    if build:
        p, edges = check_links(root, build, modules)
        problems += p
    if not quiet:
        for p in problems:
            print('layering: ' + p)
        if not problems:
            print('layering: %d modules, %d module-to-module link edges, all downward, '
                  'no cycle' % (len(modules), len(edges)))
    return problems


def self_test():
    """A reversed include and a link cycle must both be reported."""
    cc = shutil.which('cc') or shutil.which('gcc')
    tmp = tempfile.mkdtemp(prefix='layering-')
    try:
        os.makedirs(os.path.join(tmp, 'low'))
        os.makedirs(os.path.join(tmp, 'high'))
        files = {
            'low/low.h': 'int low_f(void);\n',
            # reversed: the low module includes the high one's header and calls it
            'low/low.c': '#include "low.h"\n#include "high.h"\n'
                         'int low_f(void) { return high_f() + 1; }\n',
            'high/high.h': 'int high_f(void);\n',
            'high/high.c': '#include "high.h"\n#include "low.h"\n'
                           'int high_f(void) { return 1; }\n'
                           'int high_g(void);\nint high_g(void) { return low_f(); }\n',
        }
        for rel, text in files.items():
            with open(os.path.join(tmp, rel), 'w') as f:
                f.write(text)
        build = os.path.join(tmp, 'build')
        os.makedirs(build)
        cmds = []
        for rel in ('low/low.c', 'high/high.c'):
            obj = rel.replace('/', '_') + '.o'
            subprocess.run([cc, '-c', '-I', os.path.join(tmp, 'low'), '-I',
                            os.path.join(tmp, 'high'), os.path.join(tmp, rel), '-o',
                            os.path.join(build, obj)], check=True)
            cmds.append({'directory': build, 'file': os.path.join(tmp, rel), 'output': obj})
        with open(os.path.join(build, 'compile_commands.json'), 'w') as f:
            json.dump(cmds, f)
        mods = [Module('low', 'low'), Module('high', 'high', ['low'])]
        problems = run(tmp, build, mods, quiet=True)
        want = ['module low includes "high.h" of module high',
                'link: module low uses module high',
                'link: cycle through modules high, low']
        ok = True
        for w in want:
            if not any(w in p for p in problems):
                print('layering self-test: not reported: ' + w)
                ok = False
        # and the same tree with the call removed passes
        with open(os.path.join(tmp, 'low/low.c'), 'w') as f:
            f.write('#include "low.h"\nint low_f(void) { return 1; }\n')
        subprocess.run([cc, '-c', os.path.join(tmp, 'low/low.c'), '-o',
                        os.path.join(build, 'low_low.c.o')], check=True)
        clean = run(tmp, build, mods, quiet=True)
        if clean:
            print('layering self-test: a clean tree is reported: %s' % clean)
            ok = False
        print('layering self-test: %s' % ('ok' if ok else 'FAILED'))
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp)


def main():
    ap = argparse.ArgumentParser(description='check the module structure')
    ap.add_argument('--source')
    ap.add_argument('--build')
    ap.add_argument('--self-test', action='store_true')
    a = ap.parse_args()
    if a.self_test:
        return self_test()
    if not a.source:
        ap.error('--source is required')
    return 1 if run(a.source, a.build, MODULES) else 0


if __name__ == '__main__':
    sys.exit(main())
