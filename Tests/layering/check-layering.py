#!/usr/bin/env python3
"""Layering check: docs/architecture.md against Package.swift and the sources.

    python3 Tests/layering/check-layering.py --package-json PACKAGE.json [--root DIR] [--doc FILE]

PACKAGE.json is the output of `swift package dump-package`. The table under the header
`| target | job | may import |` in the doc says what each target may import; what those may
import is allowed too (transitive closure). Rules:

  rule 1   every non-test target has a table row, and every row is a target
  rule 2   every Package.swift dependency of a non-test target is allowed by the table
  rule 3   every `import` in a non-test target's Swift sources is allowed by the table
  rule 4a  KELMModel, KELMRouting, KELMMemory never depend (transitively) on MPI or HDF5
  rule 4b  no target depends on kelm-dist (kelm-distTests excepted)
  rule 4c  only kelm-dist (and KELMBenchmarksTests) depends on KELMBenchmarks
  rule 4d  the tests of MPI-free targets never link KELMMPI or CMPI

One line per violation, `layering: <rule>: <detail>`, then a summary line. Exit status 1 when
there are violations, 0 when there are none, 2 when the inputs cannot be read.
Python 3 standard library only.
"""

import argparse
import json
import os
import re
import sys

TABLE_HEADER = ["target", "job", "may import"]

SYSTEM_MODULES = {
    "Foundation", "FoundationEssentials", "FoundationNetworking", "FoundationXML",
    "Glibc", "Darwin", "Musl", "Dispatch", "XCTest", "Synchronization", "os",
}

NONE_MARKS = {"", "—", "–", "-", "none"}

# 4a: these must stay free of processes and files.
MODEL_TARGETS = ["KELMModel", "KELMRouting", "KELMMemory"]
MODEL_FORBIDDEN = ["KELMMPI", "CMPI", "KELMHDF5", "CHDF5"]
# 4d: the tests of these must not link MPI.
MPI_FREE_TARGETS = ["KELMHost", "KELMNumerics", "KELMModel", "KELMRouting", "KELMHDF5",
                    "KELMFiles", "KELMData", "KELMCheckpoint", "KELMConfig"]
MPI_MODULES = ["KELMMPI", "CMPI"]
EXECUTABLE = "kelm-dist"
BENCHMARKS = "KELMBenchmarks"


def fail_input(message):
    print(f"layering: error: {message}", file=sys.stderr)
    sys.exit(2)


def is_system_module(name):
    return name in SYSTEM_MODULES or name.startswith("Swift") or name.startswith("_")


# ----------------------------------------------------------------------------- the table

def split_row(line):
    """Cells of a Markdown table row (`| a | b |`), stripped; None if the line is not a row."""
    s = line.strip()
    if not s.startswith("|"):
        return None
    s = s[1:]
    if s.endswith("|"):
        s = s[:-1]
    return [c.strip() for c in s.split("|")]


def is_separator(cells):
    return all(re.fullmatch(r":?-{3,}:?", c) for c in cells)


def parse_table(doc_path):
    """Returns (rows, problems). rows: {target: {"line", "names", "everything"}}."""
    try:
        with open(doc_path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        return None, [f"cannot read {doc_path}: {e.strerror}"]

    problems = []
    header_at = None
    for i, line in enumerate(lines):
        cells = split_row(line)
        if cells is not None and [c.lower() for c in cells] == TABLE_HEADER:
            if header_at is not None:
                problems.append(f"{doc_path}:{i + 1}: a second table with header "
                                f"`| target | job | may import |` (only one is read)")
                continue
            header_at = i
    if header_at is None:
        return None, [f"{doc_path} has no table with header `| target | job | may import |`"]

    rows = {}
    i = header_at + 1
    if i < len(lines) and split_row(lines[i]) is not None and is_separator(split_row(lines[i])):
        i += 1
    while i < len(lines):
        cells = split_row(lines[i])
        if cells is None:
            break
        lineno = i + 1
        i += 1
        if len(cells) != 3:
            problems.append(f"{doc_path}:{lineno}: row has {len(cells)} cells, expected 3")
            continue
        target_cell, _, may_cell = cells
        m = re.search(r"`([^`]+)`", target_cell)
        target = m.group(1).strip() if m else target_cell.strip()
        if not target:
            problems.append(f"{doc_path}:{lineno}: row without a target name")
            continue
        everything = [e for e in re.findall(r"everything\s+`?([^`\s]+)`?\s+may\s+import", may_cell)]
        rest = re.sub(r"everything\s+`?[^`\s]+`?\s+may\s+import", "", may_cell)
        names = [n.strip() for n in re.findall(r"`([^`]+)`", rest)]
        leftover = re.sub(r"`[^`]*`", "", rest)
        leftover = re.sub(r"\band\b", "", leftover).replace(",", "").strip()
        if not names and not everything and may_cell.strip().lower() not in NONE_MARKS:
            problems.append(f"{doc_path}:{lineno}: `{target}`: cannot read the may-import cell "
                            f"{may_cell!r} (backticked names, or — for none)")
        elif leftover and leftover.lower() not in NONE_MARKS:
            problems.append(f"{doc_path}:{lineno}: `{target}`: unexpected text {leftover!r} in the "
                            f"may-import cell (names must be in backticks)")
        if target in rows:
            problems.append(f"{doc_path}:{lineno}: `{target}` has a second row "
                            f"(first on line {rows[target]['line']})")
            continue
        rows[target] = {"line": lineno, "names": names, "everything": everything}
    return rows, problems


def allowed_closure(rows):
    """allowed*(T) for each row: the listed names, plus what they may import, recursively.
    "everything X may import" adds allowed*(X) (without X itself unless X is also listed)."""
    memo = {}

    def direct(t):
        row = rows.get(t)
        if row is None:
            return set(), set()
        return set(row["names"]), set(row["everything"])

    def closure(t, visiting):
        if t in memo:
            return memo[t]
        if t in visiting:  # a cycle in the table: stop here, the caller unions the rest
            return set()
        visiting = visiting | {t}
        names, everything = direct(t)
        result = set(names)
        for n in names:
            result |= closure(n, visiting)
        for e in everything:
            result |= closure(e, visiting)
        memo[t] = result
        return result

    return {t: closure(t, frozenset()) for t in rows}


# ----------------------------------------------------------------------------- the package

def dependency_name(dep):
    """(name, kind) of a dump-package dependency entry."""
    if isinstance(dep, dict):
        for kind in ("byName", "target", "product"):
            if kind in dep:
                value = dep[kind]
                if isinstance(value, list) and value and isinstance(value[0], str):
                    return value[0], kind
                if isinstance(value, dict) and isinstance(value.get("name"), str):
                    return value["name"], kind
    if isinstance(dep, str):
        return dep, "byName"
    return None, None


def read_package(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        fail_input(f"cannot read {path}: {e.strerror}")
    except json.JSONDecodeError as e:
        fail_input(f"{path} is not JSON: {e}")
    targets = {}
    order = []
    for t in data.get("targets", []):
        name = t.get("name")
        if not isinstance(name, str):
            fail_input(f"{path}: a target without a name")
        deps = []
        for d in t.get("dependencies", []) or []:
            dep_name, kind = dependency_name(d)
            if dep_name is None:
                fail_input(f"{path}: target {name}: unreadable dependency {d!r}")
            deps.append((dep_name, kind))
        targets[name] = {
            "type": t.get("type", "regular"),
            "path": t.get("path"),
            "exclude": t.get("exclude") or [],
            "deps": deps,
        }
        order.append(name)
    return targets, order


def dependency_chain(targets, start, goals):
    """Shortest chain start -> ... -> g over Package.swift dependencies, for each g in goals
    that is reachable. Returns {goal: [start, ..., goal]}."""
    parents = {start: None}
    queue = [start]
    found = {}
    while queue:
        nxt = []
        for t in queue:
            for dep, _ in targets.get(t, {}).get("deps", []):
                if dep in parents:
                    continue
                parents[dep] = t
                if dep in goals and dep not in found:
                    chain = [dep]
                    p = t
                    while p is not None:
                        chain.append(p)
                        p = parents[p]
                    found[dep] = list(reversed(chain))
                nxt.append(dep)
        queue = nxt
    return found


# ----------------------------------------------------------------------------- the sources

IMPORT_RE = re.compile(
    r"^\s*(?:(?:@\w+(?:\([^)]*\))?|public|package|internal|fileprivate|private|open)\s+)*"
    r"import\s+(?:(?:typealias|struct|class|enum|protocol|let|var|func|actor)\s+)?"
    r"([A-Za-z_]\w*)")


class Scanner:
    """Tracks block comments (nested) and multi-line string literals across lines, so that an
    `import` inside them is not taken for one."""

    def __init__(self):
        self.comment_depth = 0
        self.in_multiline_string = False

    def at_code(self):
        return self.comment_depth == 0 and not self.in_multiline_string

    def advance(self, line):
        i, n = 0, len(line)
        while i < n:
            if self.comment_depth > 0:
                if line.startswith("*/", i):
                    self.comment_depth -= 1
                    i += 2
                elif line.startswith("/*", i):
                    self.comment_depth += 1
                    i += 2
                else:
                    i += 1
            elif self.in_multiline_string:
                if line.startswith('"""', i):
                    self.in_multiline_string = False
                    i += 3
                elif line[i] == "\\":
                    i += 2
                else:
                    i += 1
            elif line.startswith("//", i):
                return
            elif line.startswith("/*", i):
                self.comment_depth += 1
                i += 2
            elif line.startswith('"""', i):
                self.in_multiline_string = True
                i += 3
            elif line[i] == '"':
                i += 1
                while i < n and line[i] != '"':
                    i += 2 if line[i] == "\\" else 1
                i += 1
            else:
                i += 1


def swift_files(root, target_dir, excludes):
    base = os.path.join(root, target_dir)
    excluded = [os.path.normpath(os.path.join(base, e)) for e in excludes]
    files = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames
                             if os.path.normpath(os.path.join(dirpath, d)) not in excluded)
        for fn in sorted(filenames):
            full = os.path.join(dirpath, fn)
            if fn.endswith(".swift") and os.path.normpath(full) not in excluded:
                files.append(full)
    return files


def imports_of(path):
    """[(line number, module)] of the import declarations in a Swift file."""
    result = []
    scanner = Scanner()
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if scanner.at_code():
                m = IMPORT_RE.match(line)
                if m:
                    result.append((lineno, m.group(1)))
            scanner.advance(line)
    return result


# ----------------------------------------------------------------------------- the check

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--package-json", required=True, help="output of `swift package dump-package`")
    ap.add_argument("--root", default=".", help="package root (default: .)")
    ap.add_argument("--doc", default="docs/architecture.md", help="table file, relative to --root")
    args = ap.parse_args()

    root = args.root
    doc_path = args.doc if os.path.isabs(args.doc) else os.path.join(root, args.doc)
    doc_shown = os.path.relpath(doc_path, root)
    targets, order = read_package(args.package_json)

    violations = []

    def report(rule, detail):
        violations.append(f"layering: {rule}: {detail}")

    rows, problems = parse_table(doc_path)
    for p in problems:
        report("rule 1", p.replace(doc_path, doc_shown))
    rows = rows or {}
    allowed = allowed_closure(rows)

    non_test = [t for t in order if targets[t]["type"] != "test"]
    tests = [t for t in order if targets[t]["type"] == "test"]

    def shown(names):
        return ", ".join(sorted(names)) if names else "nothing"

    # Rule 1: rows and targets agree.
    for t in non_test:
        if t not in rows:
            report("rule 1", f"target {t} ({targets[t]['type']}) is in Package.swift but has no row "
                             f"in {doc_shown}")
    for t, row in sorted(rows.items(), key=lambda kv: kv[1]["line"]):
        if t not in targets:
            report("rule 1", f"{doc_shown}:{row['line']}: row {t} is not a target of Package.swift")
        elif targets[t]["type"] == "test":
            report("rule 1", f"{doc_shown}:{row['line']}: row {t} is a test target "
                             f"(test targets have no row)")
    for t, row in rows.items():
        for n in row["everything"]:
            if n not in rows:
                report("rule 1", f"{doc_shown}:{row['line']}: row {t} says \"everything {n} may "
                                 f"import\" but {n} has no row")

    # Rule 2: Package.swift dependencies of non-test targets.
    for t in non_test:
        if t not in rows:
            continue
        row_says = shown(rows[t]["names"])
        for e in rows[t]["everything"]:
            row_says += f" and everything {e} may import"
        for dep, kind in targets[t]["deps"]:
            if dep not in allowed[t]:
                what = "product" if kind == "product" or dep not in targets else "target"
                report("rule 2", f"{t} depends on {what} {dep} in Package.swift, which {doc_shown} "
                                 f"does not allow (row {t}: {row_says})")

    # Rule 3: imports in the sources of non-test targets.
    import_count = 0
    for t in non_test:
        info = targets[t]
        target_dir = info["path"] or os.path.join("Sources", t)
        if not os.path.isdir(os.path.join(root, target_dir)):
            if info["type"] != "system" and info["path"] is not None:
                report("rule 3", f"{t}: source directory {target_dir} does not exist")
            continue
        for path in swift_files(root, target_dir, info["exclude"]):
            rel = os.path.relpath(path, root)
            for lineno, module in imports_of(path):
                if is_system_module(module) or module == t:
                    continue
                import_count += 1
                if t in rows and module not in allowed[t]:
                    report("rule 3", f"{rel}:{lineno}: {t} imports {module}, which {doc_shown} "
                                     f"does not allow")

    # Rule 4a: the model targets know nothing of MPI or HDF5.
    for t in MODEL_TARGETS:
        if t not in targets:
            continue
        chains = dependency_chain(targets, t, set(MODEL_FORBIDDEN))
        for goal in MODEL_FORBIDDEN:
            if goal in chains:
                report("rule 4a", f"{t} depends on {goal}: {' -> '.join(chains[goal])} "
                                  f"(never: model targets are free of MPI and HDF5)")

    # Rule 4b: nothing depends on kelm-dist (but its own test target, which runs it).
    for t in order:
        if t == EXECUTABLE + "Tests" and targets[t]["type"] == "test":
            continue
        for dep, _ in targets[t]["deps"]:
            if dep == EXECUTABLE:
                report("rule 4b", f"{t} depends on {EXECUTABLE} (never: nothing depends on the "
                                  f"command-line tool)")

    # Rule 4c: only kelm-dist (and KELMBenchmarksTests) depends on KELMBenchmarks.
    for t in order:
        if t == EXECUTABLE or (t == BENCHMARKS + "Tests" and targets[t]["type"] == "test"):
            continue
        for dep, _ in targets[t]["deps"]:
            if dep == BENCHMARKS:
                report("rule 4c", f"{t} depends on {BENCHMARKS} (never: only {EXECUTABLE} may)")

    # Rule 4d: the tests of MPI-free targets do not link MPI.
    for t in tests:
        if not t.endswith("Tests") or t[:-len("Tests")] not in MPI_FREE_TARGETS:
            continue
        chains = dependency_chain(targets, t, set(MPI_MODULES))
        for goal in MPI_MODULES:
            if goal in chains:
                report("rule 4d", f"{t} links {goal}: {' -> '.join(chains[goal])} "
                                  f"(never: the tests of MPI-free {t[:-len('Tests')]} do not link MPI)")

    for v in violations:
        print(v)
    print(f"layering: {len(order)} targets, {import_count} imports checked, "
          f"{len(violations)} violations")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
