#!/usr/bin/env bash
# Build the packaged app: dist/ECGCaseFinder/ (PyInstaller onedir), the folder a clinic copies.
#
#   packaging/build.sh            venv (reused when its inputs are unchanged) + PyInstaller
#   packaging/build.sh --clean    start from a fresh venv and an empty PyInstaller cache
#
# Environment:
#   ECGFINDER_BUILD_DIR   where the runtime venv and PyInstaller's work files go
#                         (default: build/packaging in the checkout; git-ignored)
#   ECGFINDER_DIST_DIR    where ECGCaseFinder/ is written (default: dist/ in the checkout)
#   ECGFINDER_ASSETS      the assets folder to bundle (default: assets/ in the checkout); it must
#                         hold manifest.json, the build checks it before bundling
#   PYTHON                the interpreter for the venv (default: python3)
#
# Why a separate venv: PyInstaller bundles whatever the imports reach. In the development venv
# (torch, onnx, onnxscript, transformers) the bundle grew to 1.2 GB; the runtime-only venv has
# just `pip install .` and PyInstaller (PLATFORM.md §7).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
build_dir="${ECGFINDER_BUILD_DIR:-$repo/build/packaging}"
dist_dir="${ECGFINDER_DIST_DIR:-$repo/dist}"
assets="${ECGFINDER_ASSETS:-$repo/assets}"
python="${PYTHON:-python3}"
venv="$build_dir/venv"
clean=0
[ "${1:-}" = "--clean" ] && clean=1

step() { printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

if [ ! -f "$assets/manifest.json" ]; then
  echo "build.sh: no assets to bundle: $assets/manifest.json is missing." >&2
  echo "  Publish the models and library first (python -m model_export.publish), or set" >&2
  echo "  ECGFINDER_ASSETS to an assets folder." >&2
  exit 1
fi

# hnswlib 0.8.0 is published only as source. Its setup.py adds -march=native unless
# HNSWLIB_NO_NATIVE is set, and pip's wheel cache keys a built wheel by the sdist, not by the
# environment, so a wheel cached from an earlier native build would be reused silently:
# build it here with the cache off, and check_no_avx512.py proves the result afterwards.
export HNSWLIB_NO_NATIVE=1
stamp_want="$(sha256sum < pyproject.toml | cut -c1-16)-$("$python" -c 'import sys;print(sys.version.split()[0])')"
if [ "$clean" = 1 ] || [ ! -x "$venv/bin/pyinstaller" ] || [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$stamp_want" ]; then
  step "runtime venv in $venv"
  rm -rf "$venv" "$build_dir/wheels"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  # The folder must exist: pip 26 writes a lone wheel to -w's path as a file otherwise.
  mkdir -p "$build_dir/wheels"
  "$venv/bin/python" -m pip wheel --quiet --no-cache-dir --no-deps --no-binary hnswlib \
      -w "$build_dir/wheels" "hnswlib==0.8.0"
  "$venv/bin/python" -m pip install --quiet "$build_dir"/wheels/hnswlib-0.8.0-*.whl
  # Not editable: the bundle must not depend on the checkout. Only the runtime deps and the
  # [packaging] extra (PyInstaller); no [train], no [test].
  "$venv/bin/python" -m pip install --quiet --no-cache-dir ".[packaging]"
  echo "$stamp_want" > "$venv/.stamp"
else
  step "runtime venv in $venv (reused)"
  # The app's own code may have changed since the venv was made: reinstall just it.
  "$venv/bin/python" -m pip install --quiet --no-deps --force-reinstall --no-cache-dir .
fi
rm -rf "$repo/build/lib" "$repo/build/bdist."*  # setuptools' leftovers from `pip install .`

for banned in torch onnx onnxscript transformers; do
  if "$venv/bin/python" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('$banned') is None)"; then
    echo "build.sh: $banned is installed in the runtime venv; it must not be bundled" >&2
    exit 1
  fi
done

step "PyInstaller"
pyi_args=(--noconfirm --distpath "$dist_dir" --workpath "$build_dir/work")
[ "$clean" = 1 ] && pyi_args+=(--clean)
ECGFINDER_ASSETS="$assets" ECGFINDER_MODULES_LIST="$build_dir/modules.txt" \
  "$venv/bin/pyinstaller" "${pyi_args[@]}" packaging/ecg_case_finder.spec

bundle="$dist_dir/ECGCaseFinder"
if [ "$(uname -s)" = Linux ] && command -v strip >/dev/null; then
  step "strip debug info (our hnswlib build, and the pyenv-built libpython and stdlib modules)"
  # Only binaries built on this machine with -g. Wheels' own libraries are left alone: many
  # were rewritten by auditwheel/patchelf, and strip can break those.
  find "$bundle/_internal" \( -path "*/_internal/libpython3*.so*" -o -path "*/lib-dynload/*.so" \
       -o -path "*/_internal/hnswlib*.so" \) -type f -print0 | xargs -0 -r strip --strip-debug
fi

step "licences and credits"
"$venv/bin/python" packaging/collect_licenses.py "$bundle" \
  --modules "$build_dir/modules.txt"

step "no AVX-512 in what we compile"
"$venv/bin/python" packaging/check_no_avx512.py "$bundle"

du -sh "$bundle"
echo "built $bundle (run: $bundle/ECGCaseFinder --self-test)"
