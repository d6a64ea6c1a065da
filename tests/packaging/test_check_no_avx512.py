"""``packaging/check_no_avx512.py`` finds AVX-512 where it is, and only there.

Two tiny shared libraries are compiled from the same loop: one for AVX-512 (what
``-march=native`` gives on the AVX-512 development machine), one for AVX2 + FMA (the x86-64-v3
level the app may assume). The checker must fail the first and pass the second, so a passing
check of the bundle means something.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "packaging"))
import check_no_avx512  # noqa: E402

SOURCE = """
void add(float *restrict a, const float *restrict b, int n) {
    for (int i = 0; i < n; i++) a[i] = a[i] * 1.5f + b[i];
}
"""


def _compile(tmp_path: Path, name: str, *flags: str) -> Path:
    cc = shutil.which("gcc") or shutil.which("cc")
    assert cc, "a C compiler is needed (hnswlib is compiled with it too)"
    src = tmp_path / "loop.c"
    src.write_text(SOURCE)
    out = tmp_path / name
    subprocess.run([cc, "-O3", "-shared", "-fPIC", *flags, str(src), "-o", str(out)],
                   check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("avx")
    return {"avx512": _compile(tmp, "hnswlib_avx512.so", "-mavx512f", "-mprefer-vector-width=512"),
            "avx2": _compile(tmp, "hnswlib_avx2.so", "-mavx2", "-mfma")}


def test_check_no_avx512_flags_zmm_code(built, capsys):
    n, bad = check_no_avx512.avx512_lines(built["avx512"])
    assert n > 0 and bad
    assert any("zmm" in line for line in bad)
    assert check_no_avx512.main([str(built["avx512"])]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_check_no_avx512_passes_avx2_code(built, capsys):
    n, bad = check_no_avx512.avx512_lines(built["avx2"])
    assert n > 0 and bad == []
    assert check_no_avx512.main([str(built["avx2"])]) == 0
    assert "none AVX-512" in capsys.readouterr().out


def test_check_no_avx512_fails_when_nothing_to_check(tmp_path, capsys):
    (tmp_path / "libother.so").write_bytes(b"")
    assert check_no_avx512.main([str(tmp_path)]) == 2
    assert "nothing was checked" in capsys.readouterr().err


def test_check_no_avx512_finds_extensions_in_a_folder(built):
    found = check_no_avx512.find_own_builds(built["avx2"].parent)
    assert [p.name for p in found] == ["hnswlib_avx2.so", "hnswlib_avx512.so"]
