"""One command from a finished pipeline run to the app's ``assets/``.

``python -m model_export.ship --run DIR [--assets assets/]``

Reads ``DIR/pipeline.json`` (written by :mod:`model_export.pipeline`), then:

1. ``build_library``: the case library of PTB-XL folds 1-9 embedded with the chosen image
   encoder of the ``quantize`` step (cached under ``DIR/build_library-<key>``);
2. ``examples``: the bundled example ECGs (fold 10, so never in the library);
3. ``publish``: models, library and examples into ``assets/`` with the manifest, swapped in
   atomically.

Each part is deterministic for the same inputs, so rerunning it on the same run rewrites the
same files (git sees no change).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

_REPO_ROOT = Path(__file__).resolve().parents[1]


def ship(run: Path, assets: Path) -> dict:
    """Build the library from a pipeline run and publish everything; returns the manifest."""
    from model_export import build_library, examples, publish
    from model_export import export_onnx as _ex
    from model_export import text_base as _tb

    run = Path(run)
    summary = json.loads((run / "pipeline.json").read_text(encoding="utf-8"))
    folders = {k: Path(v) for k, v in summary["folders"].items()}
    quantize_dir, prepare_dir = folders["quantize"], folders["prepare"]
    image = quantize_dir / _ex.IMAGE_FILE
    built = build_library.run(["--cases", str(prepare_dir), "--encoder", str(image),
                               "--out", str(run)])
    with tempfile.TemporaryDirectory() as tmp:
        examples.write_examples(build_library.read_cases(prepare_dir), Path(tmp))
        return publish.publish(built, assets, image_encoder=image,
                               text_encoder=quantize_dir / _ex.TEXT_FILE,
                               tokenizer=quantize_dir / _tb.TOKENIZER_FILE, examples=Path(tmp))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m model_export.ship",
                                description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, required=True, help="the pipeline's --out folder")
    p.add_argument("--assets", type=Path, default=_REPO_ROOT / "assets")
    args = p.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    manifest = ship(args.run, args.assets)
    logger.info("shipped %d files, %.1f MB", len(manifest["files"]),
                manifest["total_bytes"] / 1e6)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
