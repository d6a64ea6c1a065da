"""Copy the licence of everything the packaged app ships into ``<bundle>/licenses/``.

Run with the runtime venv's Python (``packaging/build.sh`` does), after PyInstaller::

    python packaging/collect_licenses.py dist/ECGCaseFinder [--modules build/.../modules.txt]

``--modules`` is the list of top-level names the spec bundled (``ECGFINDER_MODULES_LIST``);
with it only distributions that are inside the folder are listed (the venv also holds, e.g.,
matplotlib, which wfdb requires but the app never imports, so the spec leaves it out). For each
shipped distribution it copies the licence files its ``.dist-info`` records
(``License-File`` entries, the ``licenses/`` folder of PEP 639, and LICENSE/COPYING/NOTICE/
AUTHORS files), into ``licenses/<name>-<version>/``; a distribution that ships no file gets a
``METADATA-LICENSE.txt`` with the licence its metadata declares. ``licenses/INDEX.txt`` lists
them all. Python's own licence and the PTB-XL credit (``CREDIT.txt``, also at the top of the
folder, where a clinic sees it) are added. Exit status 1 if a distribution has neither a file
nor a declared licence, so a new dependency cannot ship without one.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

#: Build tools in the venv that are not part of the app.
NOT_SHIPPED = {"pip", "setuptools", "wheel", "pyinstaller-hooks-contrib", "altgraph",
               "packaging"}
LICENSE_NAME = re.compile(r"(licen[cs]e|copying|notice|authors|copyright)", re.IGNORECASE)
PTBXL_CREDIT = """\
ECG Case Finder ships a case library and example records derived from:

PTB-XL, a large publicly available electrocardiography dataset (v1.0.3), Wagner et al.,
PhysioNet, CC BY 4.0.

  Wagner P, Strodthoff N, Bousseljot R-D, Samek W, Schaeffter T. PTB-XL, a large publicly
  available electrocardiography dataset (version 1.0.3). PhysioNet (2022).
  https://doi.org/10.13026/kfzx-aw45
  Wagner P, Strodthoff N, Bousseljot R-D, et al. PTB-XL, a large publicly available
  electrocardiography dataset. Scientific Data 7, 154 (2020).
  https://doi.org/10.1038/s41597-020-0495-6
  Goldberger A, et al. PhysioBank, PhysioToolkit, and PhysioNet. Circulation 101(23),
  e215-e220 (2000).

Licence: Creative Commons Attribution 4.0 International (CC BY 4.0),
https://creativecommons.org/licenses/by/4.0/
Changes: the records were resampled, filtered and embedded by the app's encoder; the case
library holds their traces, statements and report texts. The app is a decision aid and does
not diagnose.
"""


def _license_files(dist: metadata.Distribution) -> list[Path]:
    found: dict[str, Path] = {}
    declared = set(dist.metadata.get_all("License-File") or [])
    for f in dist.files or []:
        parts = Path(str(f)).parts
        in_info = parts and parts[0].endswith((".dist-info", ".egg-info"))
        if not in_info:
            continue
        name = Path(str(f)).name
        if ("licenses" in parts[1:-1] or name in declared or LICENSE_NAME.search(name)) \
                and name not in ("RECORD", "METADATA", "WHEEL", "INSTALLER"):
            path = Path(dist.locate_file(f))
            if path.is_file():
                found[str(f)] = path
    return [found[k] for k in sorted(found)]


def _declared(dist: metadata.Distribution) -> str:
    md = dist.metadata
    parts = [md.get("License-Expression") or "", md.get("License") or ""]
    parts += [c.split("::")[-1].strip() for c in md.get_all("Classifier") or []
              if c.startswith("License ::")]
    text = "; ".join(p.strip() for p in parts if p and p.strip() and p.strip() != "UNKNOWN")
    return text if len(text) < 200 else text[:200].rsplit(" ", 1)[0] + " ..."


def _top_levels(dist: metadata.Distribution) -> set[str]:
    tops = set((dist.read_text("top_level.txt") or "").split())
    for f in dist.files or []:
        first = Path(str(f)).parts[0]
        if first.endswith((".dist-info", ".egg-info", ".data")) or first in ("..", "bin"):
            continue
        tops.add(first.split(".")[0] if first.endswith((".py", ".so", ".pyd")) else first)
    return tops


def collect(bundle: Path, shipped: set[str] | None = None) -> list[str]:
    """Write ``bundle/licenses`` and ``bundle/CREDIT.txt``; return the problems found.

    Parameters
    ----------
    bundle : the packaged folder.
    shipped : top-level module/folder names in the bundle; every installed distribution
        (less the build tools) when None.
    """
    out = bundle / "licenses"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    index, problems = [], []
    dists = {d.metadata["Name"].lower(): d for d in metadata.distributions()}
    for key in sorted(dists):
        if key in NOT_SHIPPED:
            continue
        dist = dists[key]
        if shipped is not None and key != "pyinstaller" and not (_top_levels(dist) & shipped):
            continue  # installed in the venv, not bundled
        name, version = dist.metadata["Name"], dist.version
        target = out / f"{name}-{version}"
        target.mkdir()
        files = _license_files(dist)
        info_dir = next((p for p in (Path(str(f)).parts[0] for f in dist.files or [])
                         if p.endswith((".dist-info", ".egg-info"))), "")
        for path in files:
            rel = Path(str(path)).relative_to(Path(dist.locate_file(info_dir)))
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
        declared = _declared(dist)
        if not files:
            if not declared:
                problems.append(f"{name} {version}: no licence file and no declared licence")
            (target / "METADATA-LICENSE.txt").write_text(
                f"{name} {version}\nDeclared licence (from its package metadata): "
                f"{declared or 'none declared'}\n", encoding="utf-8")
        index.append(f"{name} {version}: {declared or 'see files'} "
                     f"({len(files) or 'no'} file{'s' if len(files) != 1 else ''})")
    py_license = Path(sysconfig.get_path("stdlib")) / "LICENSE.txt"
    if py_license.is_file():
        shutil.copyfile(py_license, out / "Python-LICENSE.txt")
        index.append(f"Python {sys.version.split()[0]}: PSF-2.0 (Python-LICENSE.txt)")
    else:
        problems.append(f"Python's licence not found at {py_license}")
    index.append("libgomp (GCC OpenMP runtime, linked by hnswlib): GPL-3.0 with the GCC "
                 "Runtime Library Exception")
    (out / "INDEX.txt").write_text(
        "Third-party software shipped in this folder, with its licence.\n"
        "Qt (through PySide6) is used under the LGPL-3.0: its libraries lie unmodified in\n"
        "_internal/PySide6 and may be replaced by the user.\n\n" + "\n".join(index) + "\n",
        encoding="utf-8")
    for dest in (bundle / "CREDIT.txt", out / "PTB-XL-CREDIT.txt"):
        dest.write_text(PTBXL_CREDIT, encoding="utf-8")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path, help="the packaged folder, dist/ECGCaseFinder")
    parser.add_argument("--modules", type=Path, default=None,
                        help="file of top-level names the spec bundled, one a line")
    args = parser.parse_args(argv)
    if not args.bundle.is_dir():
        parser.error(f"{args.bundle} is not a folder; build the app first")
    shipped = (set(args.modules.read_text(encoding="utf-8").split())
               if args.modules is not None else None)
    problems = collect(args.bundle, shipped)
    n = sum(1 for p in (args.bundle / "licenses").iterdir() if p.is_dir())
    print(f"licences of {n} distributions in {args.bundle / 'licenses'}; CREDIT.txt written")
    for p in problems:
        print(f"collect_licenses.py: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
