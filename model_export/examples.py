"""Bundled example ECGs: a few PTB-XL fold-10 records for trying the app without data.

``python -m model_export.examples --prepare PREPARE_DIR --out DIR``

Fold 10 is the held-out reporting fold, so no example is in the bundled library (folds 1-9):
searching with an example is a genuine query, not a lookup of itself. One record is chosen per
rule in :data:`EXAMPLES`: of the validated cases whose statements match, the one with the
fewest statements (the plainest teaching case), then the lowest ``ecg_id``; the choice depends
only on PTB-XL's labels, so a rebuild picks the same files. Each example is copied as its
WFDB pair (``.hea`` + ``.dat``, 100 Hz) under a readable name; ``examples.json`` says what each
is. PTB-XL is CC BY 4.0 (Wagner et al., PhysioNet): the credit travels in ``examples.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CREDIT = ("PTB-XL v1.0.3 (Wagner et al., PhysioNet), CC BY 4.0, "
          "https://physionet.org/content/ptb-xl/1.0.3/")

#: (file stem, what it shows, statement codes that must all be present at 100 % likelihood
#: or be a rhythm statement, codes that must be absent).
EXAMPLES: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("example_normal", "normal ECG, sinus rhythm", ("NORM", "SR"), ()),
    ("example_inferior_mi", "inferior myocardial infarction", ("IMI",), ("AFIB",)),
    ("example_atrial_fibrillation", "atrial fibrillation", ("AFIB",), ()),
    ("example_lbbb", "complete left bundle branch block", ("CLBBB",), ()),
)


def _matches(case: Mapping[str, Any], need: Sequence[str], avoid: Sequence[str]) -> bool:
    codes = {s["code"]: s["likelihood"] for s in case["statements"]}
    if any(code in codes for code in avoid):
        return False
    # Rhythm statements carry likelihood 0 in PTB-XL (not rated); diagnostic ones must be 100.
    return all(code in codes and ((codes[code] or 0) >= 100 or code in ("SR", "AFIB"))
               for code in need)


def choose_examples(cases: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One validated fold-10 case per rule of :data:`EXAMPLES` (the plainest, see above).

    Raises
    ------
    ValueError
        If no fold-10 case matches a rule.
    """
    pool = sorted((c for c in cases if c["strat_fold"] == 10 and not c.get("report_unconfirmed")),
                  key=lambda c: c["ecg_id"])
    chosen = []
    for stem, what, need, avoid in EXAMPLES:
        # The plainest match: fewest statements, then the lowest ecg_id.
        matches = sorted((c for c in pool if _matches(c, need, avoid)),
                         key=lambda c: (len(c["statements"]), c["ecg_id"]))
        case = matches[0] if matches else None
        if case is None:
            raise ValueError(f"no fold-10 case has {need} without {avoid}")
        chosen.append({"file": f"{stem}.hea", "shows": what, "ecg_id": case["ecg_id"],
                       "statements": [s["code"] for s in case["statements"]],
                       "report_en": case["report_en"], "record_path": case["record_path"]})
    return chosen


def write_examples(cases: Sequence[Mapping[str, Any]], out: Path) -> list[Path]:
    """Copy the chosen records into ``out`` as ``<stem>.hea/.dat``; returns the files written.

    The header's record name and signal file name are rewritten to the new stem, so the
    pair stays a valid WFDB record.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    entries = []
    for entry in choose_examples(cases):
        hea = Path(entry.pop("record_path"))
        stem = Path(entry["file"]).stem
        lines = hea.read_text(encoding="ascii").splitlines()
        old = lines[0].split()[0]
        lines[0] = re.sub(rf"^{re.escape(old)}\b", stem, lines[0])
        lines = [re.sub(rf"^{re.escape(old)}\.dat\b", f"{stem}.dat", ln) for ln in lines]
        (out / f"{stem}.hea").write_text("\n".join(lines) + "\n", encoding="ascii")
        shutil.copyfile(hea.with_suffix(".dat"), out / f"{stem}.dat")
        written += [out / f"{stem}.hea", out / f"{stem}.dat"]
        entries.append(entry)
    (out / "examples.json").write_text(json.dumps({"credit": CREDIT, "examples": entries},
                                                  indent=2), encoding="utf-8")
    written.append(out / "examples.json")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns the exit status."""
    from model_export.build_library import read_cases

    p = argparse.ArgumentParser(prog="python -m model_export.examples",
                                description=__doc__.splitlines()[0])
    p.add_argument("--prepare", type=Path, required=True, help="the prepare step's folder")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for path in write_examples(read_cases(args.prepare), args.out):
        logger.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
