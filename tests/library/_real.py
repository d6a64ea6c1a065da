"""Real PTB-XL data for library tests, read where it lies (``shared_data``), and a stand-in
embedding library built from it.

The trained image encoder does not exist yet: these helpers embed real records with
:class:`model_export._mechanics.SpectrumPCA`, a deterministic spectrum+PCA function, to test the
*mechanics* (store, index, consensus, service, CLI). Tests that need the shipped models come
when the model lands.
"""

from __future__ import annotations

import functools
import io
import json
import lzma
from pathlib import Path

import numpy as np


@functools.lru_cache(maxsize=2)
def pack_signals(shared_data: Path, folder: str = "00000") -> tuple[np.ndarray, np.ndarray]:
    """All records of one PTB-XL pack: ids (n,) and signals (n, 12, 1000) in mV.

    Decodes the pack's documented layout (int16 first differences, limb leads as residuals);
    the gain comes from each record's header (PTB-XL: 1000 units per mV, baseline 0).
    """
    packed = shared_data / "ptbxl" / "packed"
    z = np.load(io.BytesIO(lzma.decompress((packed / f"records100-{folder}.npz.xz").read_bytes())))
    heads = json.loads(lzma.decompress((packed / "headers-records100.json.xz").read_bytes()))
    x = np.cumsum(z["delta"].astype(np.int32), axis=2)
    i, ii = x[:, 0].copy(), x[:, 1].copy()
    x[:, 2] += ii - i
    x[:, 3] += -(i + ii) // 2
    x[:, 4] += i - ii // 2
    x[:, 5] += ii - i // 2
    ids = np.asarray(z["ids"], dtype=np.int64)
    gains = []
    for ecg_id in ids:
        line = heads[f"{ecg_id:05d}_lr"].splitlines()[1].split()
        gains.append(float(line[2].split("(")[0].split("/")[0]))
    signals = (x / np.asarray(gains)[:, None, None]).astype(np.float32)
    ids.setflags(write=False)
    signals.setflags(write=False)  # cached: shared between tests
    return ids, signals


def prepared_cases(shared_data: Path, out: Path, ids: tuple[int, int] = (1, 100)) -> list[dict]:
    """``cases.jsonl`` entries of records ``ids`` (``model_export.prepare`` on the shared data's
    unpacked ``ptbxl/records100/00000``)."""
    from model_export.build_library import read_cases
    from model_export.prepare import prepare

    result = prepare(out, shared_data / "ptbxl",
                     records=shared_data / "ptbxl" / "records100" / "00000", limit_ids=ids)
    return read_cases(result.out_dir)
