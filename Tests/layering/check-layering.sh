#!/usr/bin/env bash
# The layering check: docs/architecture.md's table of targets against Package.swift and the
# `import` lines of the sources (Tests/layering/check-layering.py says the rules).
#
#   bash Tests/layering/check-layering.sh                      # this package
#   bash Tests/layering/check-layering.sh --package-json FILE --root DIR   # another tree (self-test)
#
# Without --package-json it runs `swift package dump-package` (read-only) in the root.
set -euo pipefail
script_dir="$(cd "$(dirname "$0")" && pwd)"
caller_dir="$(pwd)"
absolute() { [[ "$1" == /* ]] && echo "$1" || echo "$caller_dir/$1"; }

package_json=""
root="."
while [[ $# -gt 0 ]]; do
    case "$1" in
        --package-json) package_json="$(absolute "${2:?--package-json needs a file}")"; shift 2 ;;
        --root) root="$(absolute "${2:?--root needs a directory}")"; shift 2 ;;
        *) echo "check-layering: unknown argument $1 (use --package-json FILE, --root DIR)" >&2; exit 2 ;;
    esac
done
cd "$script_dir/../.."

if [[ -z "$package_json" ]]; then
    tmp="$(mktemp)"
    trap 'rm -f "$tmp"' EXIT
    (cd "$root" && swift package dump-package) >"$tmp"
    package_json="$tmp"
fi

python3 "$script_dir/check-layering.py" --package-json "$package_json" --root "$root"
