#!/usr/bin/env bash
# Self-test of the layering check: small fake trees (a table, a hand-written dump-package JSON,
# one Swift file per target) on which check-layering.sh must pass, or fail with the expected
# `layering:` line.
#
#   bash Tests/layering/test-check-layering.sh
set -euo pipefail
script_dir="$(cd "$(dirname "$0")" && pwd)"
checker="$script_dir/check-layering.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

passed=0
failed=0

# ---------------------------------------------------------------- the fake tree

write_doc() { # DIR [extra table row]
    mkdir -p "$1/docs"
    cat >"$1/docs/architecture.md" <<DOC
# Architecture

## Targets and what they may import

| target | job | may import |
|---|---|---|
| \`CMPI\` | C module map | — |
| \`CBLAS\` | C module map | — |
| \`KELMHost\` | CPU flags | — |
| \`KELMMPI\` | MPI handles | \`CMPI\` |
| \`KELMNumerics\` | buffers, the \`Collective\` protocol | \`CBLAS\`, \`KELMHost\` |
| \`KELMModel\` | the model | \`KELMNumerics\` |
| \`KELMTraining\` | the trainer | \`KELMModel\`, \`KELMNumerics\`, \`KELMMPI\`, \`Logging\` |
| \`KELMBenchmarks\` | the \`bench\` measurements | \`KELMTraining\` and everything \`KELMTraining\` may import |
| \`kelm-dist\` | the command | \`KELMTraining\`, \`KELMBenchmarks\`, \`ArgumentParser\` |
| \`KELMTestSupport\` | test support | \`KELMNumerics\`, \`KELMModel\` |
| \`KELMMPITestSupport\` | multi-rank test helpers | \`KELMMPI\`, \`KELMTestSupport\`, \`KELMNumerics\` |
${2:-}

## Never

Prose.
DOC
}

# The dump-package JSON, by hand, in the three dependency forms (byName, target, product).
# Variables override one target's dependencies; EXTRA_TARGET adds a target.
write_package() { # DIR
    local numerics='{"target":["CBLAS",null]},{"byName":["KELMHost",null]}'
    local training='{"byName":["KELMModel",null]},{"byName":["KELMNumerics",null]},{"byName":["KELMMPI",null]},{"product":["Logging","swift-log",null,null]}'
    local numerics_tests='{"byName":["KELMNumerics",null]},{"byName":["KELMTestSupport",null]}'
    local training_tests='{"byName":["KELMTraining",null]},{"byName":["KELMMPITestSupport",null]}'
    [[ -n "${NUMERICS_DEPS:-}" ]] && numerics="$NUMERICS_DEPS"
    [[ -n "${TRAINING_DEPS:-}" ]] && training="$TRAINING_DEPS"
    [[ -n "${NUMERICS_TESTS_DEPS:-}" ]] && numerics_tests="$NUMERICS_TESTS_DEPS"
    [[ -n "${TRAINING_TESTS_DEPS:-}" ]] && training_tests="$TRAINING_TESTS_DEPS"
    cat >"$1/package.json" <<JSON
{
  "name": "kelm-dist",
  "targets": [
    {"name": "CMPI", "type": "system", "dependencies": []},
    {"name": "CBLAS", "type": "system", "dependencies": []},
    {"name": "KELMHost", "type": "regular", "dependencies": []},
    {"name": "KELMMPI", "type": "regular", "dependencies": [{"byName":["CMPI",null]}]},
    {"name": "KELMNumerics", "type": "regular", "dependencies": [$numerics]},
    {"name": "KELMModel", "type": "regular", "dependencies": [{"byName":["KELMNumerics",null]}]},
    {"name": "KELMTraining", "type": "regular", "dependencies": [$training]},
    {"name": "KELMBenchmarks", "type": "regular", "dependencies": [{"byName":["KELMTraining",null]},{"byName":["KELMModel",null]}]},
    {"name": "kelm-dist", "type": "executable", "dependencies": [{"byName":["KELMTraining",null]},{"byName":["KELMBenchmarks",null]},{"product":["ArgumentParser","swift-argument-parser",null,null]}]},
    {"name": "KELMTestSupport", "type": "regular", "path": "Tests/KELMTestSupport", "dependencies": [{"byName":["KELMNumerics",null]},{"byName":["KELMModel",null]}]},
    {"name": "KELMMPITestSupport", "type": "regular", "path": "Tests/KELMMPITestSupport", "dependencies": [{"byName":["KELMMPI",null]},{"byName":["KELMTestSupport",null]}]},
    ${EXTRA_TARGET:-}
    {"name": "KELMNumericsTests", "type": "test", "dependencies": [$numerics_tests]},
    {"name": "KELMTrainingTests", "type": "test", "dependencies": [$training_tests]},
    {"name": "KELMBenchmarksTests", "type": "test", "dependencies": [{"byName":["KELMBenchmarks",null]}]}
  ]
}
JSON
}

source_file() { # DIR RELATIVE-PATH, text on stdin
    mkdir -p "$(dirname "$1/$2")"
    cat >"$1/$2"
}

write_sources() { # DIR
    local d="$1"
    source_file "$d" Sources/KELMHost/x.swift <<'SWIFT'
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public struct CPU {}
SWIFT
    source_file "$d" Sources/KELMNumerics/x.swift <<'SWIFT'
import CBLAS
@_exported import KELMHost
import Foundation
import Synchronization
import _Concurrency
// import KELMMPI (a comment, not an import)
/* a block comment
import KELMMPI
   /* nested */
import CMPI
*/
let text = """
import KELMMPI
"""
SWIFT
    source_file "$d" Sources/KELMModel/x.swift <<'SWIFT'
import KELMNumerics
import struct KELMHost.CPU
SWIFT
    source_file "$d" Sources/KELMTraining/x.swift <<'SWIFT'
import KELMModel
@preconcurrency import KELMMPI
import CMPI
public import Logging
SWIFT
    source_file "$d" Sources/KELMBenchmarks/x.swift <<'SWIFT'
import KELMTraining
import KELMModel
import Logging
SWIFT
    source_file "$d" Sources/kelm-dist/main.swift <<'SWIFT'
import ArgumentParser
import KELMBenchmarks
import KELMNumerics
SWIFT
    source_file "$d" Tests/KELMTestSupport/x.swift <<'SWIFT'
import XCTest
@testable import KELMModel
SWIFT
    source_file "$d" Tests/KELMMPITestSupport/x.swift <<'SWIFT'
import KELMMPI
import KELMTestSupport
SWIFT
    # Test targets' own imports are not rule 3's business.
    source_file "$d" Tests/KELMNumericsTests/x.swift <<'SWIFT'
import XCTest
import KELMNumerics
SWIFT
}

new_tree() { # NAME -> prints the directory
    local d="$work/$1"
    mkdir -p "$d"
    write_doc "$d"
    write_package "$d"
    write_sources "$d"
    echo "$d"
}

# ---------------------------------------------------------------- assertions

run_checker() { # DIR -> sets out, rc
    rc=0
    out="$(bash "$checker" --package-json "$1/package.json" --root "$1" 2>&1)" || rc=$?
}

ok() { passed=$((passed + 1)); echo "ok   $1"; }
not_ok() { failed=$((failed + 1)); echo "FAIL $1: $2"; printf '%s\n' "$out" | sed 's/^/     | /'; }

expect_pass() { # NAME DIR
    run_checker "$2"
    if [[ $rc -eq 0 ]] && grep -qE '^layering: [0-9]+ targets, [0-9]+ imports checked, 0 violations$' <<<"$out" \
        && ! grep -qE '^layering: rule' <<<"$out"; then
        ok "$1"
    else
        not_ok "$1" "expected exit 0 and 0 violations, got exit $rc"
    fi
}

expect_violation() { # NAME DIR EXPECTED-LINE-PREFIX [EXPECTED-COUNT]
    run_checker "$2"
    if [[ $rc -ne 1 ]]; then
        not_ok "$1" "expected exit 1, got $rc"
    elif ! grep -qF -- "$3" <<<"$out"; then
        not_ok "$1" "no line starting with: $3"
    elif ! grep -q "^$(printf '%s' "$3" | sed 's/[][\.*^$/]/\\&/g')" <<<"$out"; then
        not_ok "$1" "the expected text is not at the start of a line: $3"
    elif [[ -n "${4:-}" ]] && ! grep -qE "imports checked, $4 violations\$" <<<"$out"; then
        not_ok "$1" "expected $4 violations"
    else
        ok "$1"
    fi
}

# ---------------------------------------------------------------- the cases

# A clean tree passes (all three dependency forms, `path`, attributes, `import struct`,
# comments and strings, system modules, "everything X may import", KELMBenchmarksTests).
d="$(new_tree clean)"
expect_pass "clean tree passes" "$d"
run_checker "$d"
# 17 = the non-system imports above; those in comments and string literals are not counted.
if grep -qE '^layering: 14 targets, 17 imports checked, 0 violations$' <<<"$out"; then
    ok "clean tree: 14 targets, 17 imports counted (none from comments or strings)"
else
    not_ok "clean tree: 14 targets, 17 imports counted" "unexpected summary"
fi

# Rule 3: an import the table does not allow.
d="$(new_tree rule3)"
echo "import KELMMPI" >>"$d/Sources/KELMModel/x.swift"
expect_violation "rule 3: KELMModel imports KELMMPI" "$d" \
    "layering: rule 3: Sources/KELMModel/x.swift:3: KELMModel imports KELMMPI" 1

# Rule 3 also reads a target's `path` (KELMTestSupport lives under Tests/).
d="$(new_tree rule3-path)"
echo "import KELMMPI" >>"$d/Tests/KELMTestSupport/x.swift"
expect_violation "rule 3: KELMTestSupport (path in JSON) imports KELMMPI" "$d" \
    "layering: rule 3: Tests/KELMTestSupport/x.swift:3: KELMTestSupport imports KELMMPI" 1

# Rule 2: a Package.swift dependency the table does not allow (a product).
d="$work/rule2"; mkdir -p "$d"; write_doc "$d"; write_sources "$d"
TRAINING_DEPS='{"byName":["KELMModel",null]},{"product":["ArgumentParser","swift-argument-parser",null,null]}' write_package "$d"
expect_violation "rule 2: KELMTraining depends on ArgumentParser" "$d" \
    "layering: rule 2: KELMTraining depends on product ArgumentParser in Package.swift" 1

# Rule 1: a target without a row.
d="$work/rule1-target"; mkdir -p "$d"; write_doc "$d"; write_sources "$d"
EXTRA_TARGET='{"name": "KELMExtra", "type": "regular", "dependencies": []},' write_package "$d"
expect_violation "rule 1: target KELMExtra has no row" "$d" \
    "layering: rule 1: target KELMExtra (regular) is in Package.swift but has no row in docs/architecture.md" 1

# Rule 1: a row without a target.
d="$(new_tree rule1-row)"
write_doc "$d" '| `KELMGhost` | nothing | `KELMNumerics` |'
expect_violation "rule 1: row KELMGhost is not a target" "$d" \
    "layering: rule 1: docs/architecture.md:18: row KELMGhost is not a target of Package.swift" 1

# Rule 4a: KELMModel reaches KELMMPI through KELMNumerics.
d="$work/rule4a"; mkdir -p "$d"; write_doc "$d"; write_sources "$d"
NUMERICS_DEPS='{"byName":["CBLAS",null]},{"byName":["KELMHost",null]},{"byName":["KELMMPI",null]}' write_package "$d"
expect_violation "rule 4a: KELMModel -> KELMNumerics -> KELMMPI" "$d" \
    "layering: rule 4a: KELMModel depends on KELMMPI: KELMModel -> KELMNumerics -> KELMMPI"
expect_violation "rule 4a: ... and CMPI behind it" "$d" \
    "layering: rule 4a: KELMModel depends on CMPI: KELMModel -> KELMNumerics -> KELMMPI -> CMPI"

# Rule 4b: a test target depends on kelm-dist.
d="$work/rule4b"; mkdir -p "$d"; write_doc "$d"; write_sources "$d"
TRAINING_TESTS_DEPS='{"byName":["KELMTraining",null]},{"byName":["kelm-dist",null]}' write_package "$d"
expect_violation "rule 4b: KELMTrainingTests depends on kelm-dist" "$d" \
    "layering: rule 4b: KELMTrainingTests depends on kelm-dist" 1

# Rule 4c: a target other than kelm-dist depends on KELMBenchmarks.
d="$work/rule4c"; mkdir -p "$d"; write_doc "$d"; write_sources "$d"
TRAINING_DEPS='{"byName":["KELMModel",null]},{"byName":["KELMBenchmarks",null]}' write_package "$d"
expect_violation "rule 4c: KELMTraining depends on KELMBenchmarks" "$d" \
    "layering: rule 4c: KELMTraining depends on KELMBenchmarks"

# Rule 4c: so may no test target other than KELMBenchmarksTests.
d="$work/rule4c-test"; mkdir -p "$d"; write_doc "$d"; write_sources "$d"
TRAINING_TESTS_DEPS='{"byName":["KELMTraining",null]},{"byName":["KELMBenchmarks",null]}' write_package "$d"
expect_violation "rule 4c: KELMTrainingTests depends on KELMBenchmarks" "$d" \
    "layering: rule 4c: KELMTrainingTests depends on KELMBenchmarks" 1

# Rule 4d: KELMNumericsTests links KELMMPI through a support target.
d="$work/rule4d"; mkdir -p "$d"; write_doc "$d"; write_sources "$d"
NUMERICS_TESTS_DEPS='{"byName":["KELMNumerics",null]},{"byName":["KELMMPITestSupport",null]}' write_package "$d"
expect_violation "rule 4d: KELMNumericsTests -> KELMMPITestSupport -> KELMMPI" "$d" \
    "layering: rule 4d: KELMNumericsTests links KELMMPI: KELMNumericsTests -> KELMMPITestSupport -> KELMMPI" 2
expect_violation "rule 4d: ... and CMPI behind it" "$d" \
    "layering: rule 4d: KELMNumericsTests links CMPI: KELMNumericsTests -> KELMMPITestSupport -> KELMMPI -> CMPI" 2

if [[ $failed -eq 0 ]]; then
    echo "test-check-layering: $passed passed"
else
    echo "test-check-layering: $passed passed, $failed failed"
fi
[[ $failed -eq 0 ]]
