"""Prove that the native code we compile ourselves has no AVX-512 instructions.

Usage::

    python packaging/check_no_avx512.py dist/ECGCaseFinder      # the packaged folder
    python packaging/check_no_avx512.py path/to/hnswlib.cpython-311-x86_64-linux-gnu.so

Why: hnswlib 0.8.0 is published only as source, and its setup.py compiles with
``-march=native`` unless ``HNSWLIB_NO_NATIVE=1`` is set. Built on the development machine (an
AVX-512 Zen 5), that gives zmm code, and the app would die with SIGILL on the many clinic PCs
without AVX-512 (PLATFORM.md §3). ``build.sh`` builds it with ``HNSWLIB_NO_NATIVE=1``; this
script checks the result, because a wheel cached from an earlier native build, a changed
setup.py or a stray CFLAGS would all slip through silently.

What is checked: every extension listed in :data:`OWN_BUILDS` found under the given path is
disassembled with ``objdump -d`` (GNU binutils on Linux; llvm-objdump on macOS) and fails on
any AVX-512 trace: a zmm register, an xmm/ymm register 16-31 (EVEX only), an opmask
(``{%k1}``) or a k-register instruction, or a mnemonic that exists only in AVX-512. AVX2 and
FMA (ymm0-15, VEX) are allowed: the x86-64-v3 level, which any PC from 2013 on has.

What is not checked, on purpose: onnxruntime, numpy (OpenBLAS), scipy and Qt ship prebuilt
wheels whose AVX-512 kernels are chosen at run time from the CPU's flags (cpuid dispatch), so
zmm code in them is expected and safe. Only code we compile ourselves has no such dispatch.

Exit status: 0 clean; 1 AVX-512 found; 2 nothing to check or no objdump.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

#: Extensions compiled from source by our build (glob patterns on the file name).
OWN_BUILDS = ("hnswlib*.so", "hnswlib*.pyd", "hnswlib*.dylib")
# Register names and mnemonics that only AVX-512 (EVEX) code uses. AT&T syntax, as objdump
# prints by default. (vpdpbusd and vpmadd52 also have VEX forms, AVX-VNNI/AVX-IFMA, so they
# count only together with an EVEX register, which the register patterns catch.)
_AVX512 = re.compile(
    r"%zmm\d+|%[xy]mm(?:1[6-9]|2\d|3[01])\b|\{%k[0-7]\}"
    r"|\b(?:k(?:mov|and|andn|or|xor|xnor|not|shift[lr]|test|ortest|add|unpck)[bwdq]*"
    r"|vpternlog[dq]|vperm[ti]2[bwdqps]+|vcompressp[sd]|vpcompress[bwdq]|vexpandp[sd]"
    r"|vpexpand[bwdq]|vpconflict[dq]|vplzcnt[dq]|vrndscale[ps][sd]|vgetexp[ps][sd]"
    r"|vgetmant[ps][sd]|vscalef[ps][sd]|vfixupimm[ps][sd]|vrange[ps][sd]|vreduce[ps][sd]"
    r"|vfpclass[ps][sd]|vpmovm2[bwdq]|vpmov[bwdq]2m|vpbroadcastm|valign[dq]|vpro[lr]v?[dq]"
    r"|vpopcnt[bwdq]|vpshufbitqmb|vp2intersect[dq])\b")


def find_own_builds(path: Path) -> list[Path]:
    """The extensions of :data:`OWN_BUILDS` at or under ``path``, sorted."""
    if path.is_file():
        return [path]
    return sorted({p for pattern in OWN_BUILDS for p in path.rglob(pattern) if p.is_file()})


def avx512_lines(binary: Path, objdump: str = "objdump") -> tuple[int, list[str]]:
    """Disassemble ``binary``; return (number of instructions, lines with AVX-512).

    Raises
    ------
    RuntimeError
        If objdump fails or disassembles nothing.
    """
    proc = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(binary)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{objdump} -d {binary} failed: {proc.stderr.strip()[:300]}")
    insns = [ln for ln in proc.stdout.splitlines() if re.match(r"\s+[0-9a-f]+:\t", ln)]
    if not insns:
        raise RuntimeError(f"{objdump} found no instructions in {binary}")
    # Symbol names in <...> (call targets) are text, not instructions: leave them out.
    return len(insns), [ln.strip() for ln in insns if _AVX512.search(re.sub(r"<[^>]*>", "", ln))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fail if our own native builds use AVX-512.")
    parser.add_argument("path", type=Path, help="the packaged folder, or one extension file")
    parser.add_argument("--objdump", default="objdump", help="objdump to use")
    args = parser.parse_args(argv)
    if shutil.which(args.objdump) is None:
        print(f"check_no_avx512.py: {args.objdump} not found; install binutils "
              f"(apt-get install binutils)", file=sys.stderr)
        return 2
    binaries = find_own_builds(args.path)
    if not binaries:
        print(f"check_no_avx512.py: no extension matching {', '.join(OWN_BUILDS)} under "
              f"{args.path}; nothing was checked", file=sys.stderr)
        return 2
    status = 0
    for binary in binaries:
        n, bad = avx512_lines(binary, args.objdump)
        if bad:
            status = 1
            print(f"FAIL {binary}: {len(bad)} of {n} instructions are AVX-512, e.g.")
            for line in bad[:5]:
                print(f"       {line}")
            print("     rebuild it with HNSWLIB_NO_NATIVE=1 and pip's cache off "
                  "(packaging/build.sh --clean)")
        else:
            print(f"ok   {binary}: {n} instructions, none AVX-512 (no zmm, no EVEX registers, "
                  f"no opmask)")
    return status


if __name__ == "__main__":
    sys.exit(main())
