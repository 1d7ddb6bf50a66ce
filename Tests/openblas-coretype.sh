# Sourced by the test scripts. The test binary links OpenBLAS directly (no re-exec as kelm-dist
# does, DESIGN §8), so give it the fast kernels: OPENBLAS_CORETYPE from the CPU's flags, unless
# it is set already (mpirun passes it on to the ranks with -x).
if [[ -z "${OPENBLAS_CORETYPE:-}" ]]; then
    flags="$(grep -m1 '^flags' /proc/cpuinfo || true)"
    has() { for f in "$@"; do [[ " $flags " == *" $f "* ]] || return 1; done; }
    if has avx512f avx512bw avx512dq avx512vl; then
        export OPENBLAS_CORETYPE=SkylakeX
    elif has avx2 fma; then
        export OPENBLAS_CORETYPE=Haswell
    fi
fi
