"""Case library: search latency, hnswlib recall@10 against exact search, build time, sizes.

Run from the repository root, after building a library::

    python -m model_export.build_library --cases PREPARE_DIR --mechanics-embedding 256 --out B
    python -m benchmarks.bench_library --library B/build_library-<key> --cases PREPARE_DIR

Until the trained encoder exists, the library is built from all 19,601 real PTB-XL records of
folds 1-9 with the stand-in embedding (``model_export._mechanics.SpectrumPCA``, 256-d, the
encoder's planned size), and the benchmark re-fits the same stand-in to embed its queries; the
results say so. With ``--encoder image_encoder.onnx`` it embeds queries with the real model.

Queries: 1,000 held-out fold-10 records (not the 500 the build used to tune ``ef``).
Measured per query, after warm-up: index (hnswlib top-10) + store lookup of the 10 cases;
the same through :meth:`CaseFinder.search` (adds the empty clinic store); and, as the in-run
baseline, exact numpy search + the same lookup. Also: recall@10 of the index against exact
search, decoding the 10 hits' traces, start-up verification of the published assets (size and
SHA-256), and every asset's size. Writes ``benchmarks/results/library.json`` and ``library.md``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import machine_facts, summary_ms, write_results
from desktop_app import assets as A
from desktop_app.library import CaseStore, VectorIndex, exact_search, normalise, recall_at_k
from model_export.build_library import (
    N_TUNE_QUERIES, TUNE_FOLD, canonical_signals, mechanics_embedding, read_cases,
)


def _timed(fn, items, warmup: int = 50) -> np.ndarray:
    for item in items[:warmup]:
        fn(item)
    times = np.empty(len(items))
    for i, item in enumerate(items):
        t0 = time.perf_counter()
        fn(item)
        times[i] = (time.perf_counter() - t0) * 1e3
    return times


def run(library: Path, cases_path: Path, encoder: Path | None, n_queries: int) -> dict:
    build_dir = Path(library)
    lib_dir = build_dir / "library" if (build_dir / "library").is_dir() else build_dir
    build_manifest = json.loads((lib_dir.parent / "manifest.json").read_text())
    store = CaseStore(lib_dir / "cases.sqlite")
    meta = store.meta
    dim, ef = int(meta["embedding_dim"]), int(meta["index_ef"])
    index = VectorIndex.load(lib_dir / "index.hnsw", dim, ef)

    cases = read_cases(cases_path)
    fold10 = sorted((c for c in cases if int(c["strat_fold"]) == TUNE_FOLD),
                    key=lambda c: int(c["ecg_id"]))[N_TUNE_QUERIES:N_TUNE_QUERIES + n_queries]
    if encoder is not None:
        from desktop_app.encoding import ImageEncoder

        embed = ImageEncoder(encoder).embed_signals
        embedding_note = f"trained image encoder {encoder.name}"
    else:
        params = build_manifest["parameters"]
        stand_in = mechanics_embedding(cases, dim, int(params["mechanics_fit"]))
        if stand_in.version != meta["encoder_version"]:
            raise SystemExit(f"stand-in {stand_in.version} differs from the library's "
                             f"{meta['encoder_version']}")
        embed = stand_in.embed_signals
        embedding_note = ("stand-in embedding (spectrum + PCA, model_export._mechanics), not a "
                          "trained model: latency and recall are those of the index and store "
                          "mechanics on real PTB-XL records")
    queries = normalise(embed(canonical_signals(fold10)))

    matrix, labels = index.vectors()
    truth, _ = exact_search(matrix, labels, queries, 10)
    found, _ = index.query(queries, 10)
    recall = recall_at_k(found, truth)

    def hnsw_search(q):
        lab, _ = index.query(q, 10)
        return store.get_cases(lab[0].tolist())

    def exact_plus_store(q):
        lab, _ = exact_search(matrix, labels, q[None], 10)
        return store.get_cases(lab[0].tolist())

    items = list(queries)
    t_hnsw = _timed(hnsw_search, items)
    t_exact = _timed(exact_plus_store, items)
    t_index_only = _timed(lambda q: index.query(q, 10), items)
    hits = [found[i].tolist() for i in range(min(100, len(found)))]
    t_traces = _timed(lambda ids: [store.traces(i) for i in ids], hits, warmup=5)

    with tempfile.TemporaryDirectory() as tmp:
        from model_export.publish import publish

        from desktop_app.service import CaseFinder

        root = Path(tmp) / "assets"
        publish(lib_dir, root)
        verify = _timed(lambda _: A.verify_assets(root), list(range(7)), warmup=1)
        sizes_only = _timed(lambda _: A.verify_assets(root, check_hashes=False),
                            list(range(7)), warmup=1)
        manifest = A.read_manifest(root)
        # The whole shipped folder (models and examples too), as the app verifies it at start.
        shipped = A.default_assets_root()
        verify_shipped = (_timed(lambda _: A.verify_assets(shipped), list(range(7)), warmup=1)
                          if (shipped / A.MANIFEST).is_file() else None)

        class _Embedder:  # the service only needs dim/version to search by vector
            dim = index.dim
            version = meta["encoder_version"]

            def embed_signals(self, x):
                raise AssertionError

        finder = CaseFinder(assets_root=root, clinic_path=Path(tmp) / "clinic.sqlite",
                            image_encoder=_Embedder())
        finder._encoder()
        t_service = _timed(lambda q: finder.search(q, 10), items)
        finder.clinic().close()

    t0 = time.perf_counter()
    VectorIndex.build(matrix, labels)
    index_build_s = time.perf_counter() - t0

    blob_bytes = np.array([r[0] for r in store._conn().execute(
        "SELECT length(data) FROM traces")])
    files = manifest["files"]
    return {
        "machine": machine_facts(),
        "embedding": embedding_note,
        "library": {"n_cases": len(store), "dim": dim, "ef": ef,
                    "m": int(meta["index_m"]),
                    "ef_construction": int(meta["index_ef_construction"]),
                    "encoder_version": meta["encoder_version"],
                    "traces_quantum_uv": float(meta["traces_quantum_uv"]),
                    "traces_codec": meta["traces_codec"]},
        "queries": {"n": len(items), "source": f"fold {TUNE_FOLD} records (held out), ecg_id "
                    f"rank {N_TUNE_QUERIES + 1}-{N_TUNE_QUERIES + len(items)}"},
        "recall_at_10_vs_exact": round(recall, 4),
        "recall_at_10_at_build": float(meta["index_recall_at_10"]),
        "search_index_plus_store_10_hits": summary_ms(t_hnsw),
        "search_service_10_hits": summary_ms(t_service),
        "search_index_only": summary_ms(t_index_only),
        "baseline_exact_numpy_plus_store": summary_ms(t_exact),
        "ratio_hnsw_vs_exact_median": round(float(np.median(t_hnsw) / np.median(t_exact)), 3),
        "decode_traces_10_hits": summary_ms(t_traces),
        "verify_assets_sha256": summary_ms(verify),
        "verify_assets_sizes_only": summary_ms(sizes_only),
        "verify_shipped_assets_sha256": (summary_ms(verify_shipped)
                                         if verify_shipped is not None else None),
        "shipped_assets_bytes": (A.read_manifest(shipped)["total_bytes"]
                                 if verify_shipped is not None else None),
        "build_seconds": {**build_manifest["library"]["seconds"],
                          "index_rebuild_now_s": round(index_build_s, 2)},
        "asset_bytes": {name: e["bytes"] for name, e in files.items()},
        "asset_total_bytes": manifest["total_bytes"],
        "traces_bytes": {"total": int(blob_bytes.sum()),
                         "mean_per_case": round(float(blob_bytes.mean()), 1),
                         "p95_per_case": int(np.percentile(blob_bytes, 95))},
    }


def markdown(r: dict) -> str:
    def row(name, s):
        return (f"| {name} | {s['median_ms']:.3f} | {s['p95_ms']:.3f} | "
                f"{s['iqr_ms'][0]:.3f}-{s['iqr_ms'][1]:.3f} | {s['runs']} |")

    lib = r["library"]
    sizes = "\n".join(f"| {k} | {v / 1e6:.1f} |" for k, v in sorted(r["asset_bytes"].items()))
    return f"""# Case library benchmark

{r['machine']['cpu']} ({r['machine']['cpus']} CPUs), {r['machine']['date_utc']}.
Library: {lib['n_cases']} real PTB-XL cases (folds 1-9), {lib['dim']}-d, hnswlib M={lib['m']},
ef_construction={lib['ef_construction']}, query ef={lib['ef']}; traces {lib['traces_codec']} at
{lib['traces_quantum_uv']:g} µV.
**Embedding: {r['embedding']}.**
Queries: {r['queries']['n']} {r['queries']['source']}.

## Search latency (ms per query, 10 hits)

| what | median | p95 | IQR | n |
|---|---|---|---|---|
{row('hnswlib top-10 + store lookup of 10 cases', r['search_index_plus_store_10_hits'])}
{row('CaseFinder.search (index + store + empty clinic store)', r['search_service_10_hits'])}
{row('hnswlib top-10 only', r['search_index_only'])}
{row('baseline: exact numpy top-10 + store lookup', r['baseline_exact_numpy_plus_store'])}
{row('decode the 10 hits traces', r['decode_traces_10_hits'])}

Ratio hnswlib+store / exact+store (median): {r['ratio_hnsw_vs_exact_median']}.

## Recall and start-up

- recall@10 of hnswlib against exact search: **{r['recall_at_10_vs_exact']}** on these queries
  ({r['recall_at_10_at_build']} on the 500 tuning queries at build time).
- verify_assets (sizes + SHA-256 of every file): median
  {r['verify_assets_sha256']['median_ms']:.1f} ms, p95 {r['verify_assets_sha256']['p95_ms']:.1f} ms;
  sizes only {r['verify_assets_sizes_only']['median_ms']:.2f} ms.
{_shipped_line(r)}
- build (one run of build_library, s): {json.dumps(r['build_seconds'])}

## Library sizes (the models and examples: `assets/manifest.json`)

| file | MB |
|---|---|
{sizes}
| **total** | **{r['asset_total_bytes'] / 1e6:.1f}** |

Traces: {r['traces_bytes']['total'] / 1e6:.1f} MB in all, {r['traces_bytes']['mean_per_case']:.0f} B
per case on average (p95 {r['traces_bytes']['p95_per_case']} B).
"""


def _shipped_line(r: dict) -> str:
    v = r.get("verify_shipped_assets_sha256")
    if not v:
        return "- the shipped `assets/` folder: not published yet."
    return (f"- verify_assets on the whole shipped `assets/` "
            f"({r['shipped_assets_bytes'] / 1e6:.1f} MB, as at app start): median "
            f"{v['median_ms']:.1f} ms, p95 {v['p95_ms']:.1f} ms.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_library",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--library", type=Path, required=True,
                        help="build_library's output folder")
    parser.add_argument("--cases", type=Path, required=True, help="prepare's output folder")
    parser.add_argument("--encoder", type=Path, default=None,
                        help="image encoder ONNX the library was built with (default: the "
                             "stand-in recorded in the build manifest)")
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args(argv)
    result = run(args.library, args.cases, args.encoder, args.queries)
    md = markdown(result)
    path = write_results("library", result, md)
    print(md)  # benchmarks are scripts: printing the table is their output
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
