"""Time reading each real sample file through ``read_ecg`` (issue 8 target: <= 50 ms a file).

Run from the repository root: ``python -m benchmarks.bench_readers``. Reads every real file of
every format in the shared data folder (plus an EDF written from PTB-XL record 1 with edfio,
since no real EDF sample exists), 20 timed reads each after 3 warm-ups, and writes
``benchmarks/results/readers.json`` and ``readers.md``. The ratio is against reading the
PTB-XL WFDB record in the same run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks._common import machine_facts, shared_data, summary_ms, time_ms, write_results
from desktop_app.ecg import read_ecg


def _samples(data: Path, tmp: Path) -> list[Path]:
    files = [data / "records" / "00001_lr.hea", data / "records" / "JS00001.hea",
             data / "records" / "s0010_re.hea"]
    fmt = data / "formats"
    files += sorted((fmt / "aecg").glob("*.xml")) + sorted((fmt / "dicom").glob("*.dcm"))
    files += sorted((fmt / "scp").glob("*.SCP")) + sorted((fmt / "muse").glob("*.xml"))
    files += sorted((fmt / "philips").glob("*.XML"))
    files.append(_write_edf(data / "records" / "00001_lr.hea", tmp / "ptbxl_00001.edf"))
    csv = tmp / "ptbxl_00001.csv"
    rec = read_ecg(files[0])
    with csv.open("w") as fh:
        fh.write(f"# fs_hz={rec.fs_hz:g}\n" + ",".join(rec.leads) + "\n")
        for row in rec.signal.T:
            fh.write(",".join(f"{v:.6f}" for v in row) + "\n")
    files.append(csv)
    return files


def _write_edf(header: Path, out: Path) -> Path:
    import edfio

    rec = read_ecg(header)
    signals = [edfio.EdfSignal(rec.signal[i].astype("float64"), sampling_frequency=rec.fs_hz,
                               label=f"ECG {name}", physical_dimension="mV",
                               physical_range=(-32.768, 32.767))
               for i, name in enumerate(rec.leads)]
    edfio.Edf(signals).write(out)
    return out


def run(runs: int = 20, warmup: int = 3) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in _samples(shared_data(), Path(tmp)):
            rec = read_ecg(path)
            stats = summary_ms(time_ms(lambda p=path: read_ecg(p), runs, warmup))
            rows.append({"file": path.name, "format": rec.source_format,
                         "fs_hz": rec.fs_hz, "duration_s": round(rec.duration_s, 2), **stats})
    base = rows[0]["median_ms"]
    for row in rows:
        row["ratio_vs_wfdb"] = round(row["median_ms"] / base, 2)
    return {"machine": machine_facts(), "target_ms": 50, "files": rows}


def to_markdown(res: dict) -> str:
    m = res["machine"]
    lines = [f"Reading time per file on {m['cpu']} ({m['cpus']} CPUs), {m['date_utc']}; "
             "median of 20 reads after 3 warm-ups. Target: <= 50 ms for a 10-s 12-lead file.", "",
             "| file | format | fs Hz | duration s | median ms | IQR ms | ratio vs WFDB |",
             "|---|---|---|---|---|---|---|"]
    for r in res["files"]:
        lines.append(f"| {r['file']} | {r['format']} | {r['fs_hz']:g} | {r['duration_s']} | "
                     f"{r['median_ms']:.1f} | {r['iqr_ms'][0]:.1f}-{r['iqr_ms'][1]:.1f} | "
                     f"{r['ratio_vs_wfdb']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    res = run()
    md = to_markdown(res)
    write_results("readers", res, md)
    print(md)


if __name__ == "__main__":
    main()
