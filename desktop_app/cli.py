"""The command line: ``python -m desktop_app [COMMAND] ...`` (also ``ecg-case-finder``).

Without arguments, or with just the path of an ECG file, the window opens (and shows that
file). Commands:

``info FILE [--json] [--fs HZ]``
    What the file holds: format, rate, duration, each lead's source and quality flags, heart
    rate, age and sex, and the machine's own statements. Never the patient's name or ID. For a
    picture also the layout, speed, gain and each lead's confidence and printed window.
``render FILE --out ecg.png [--layout 3x4|6x2|12x1] [--speed 25|50] [--gain 5|10|20] [--dpi N]``
    Draw the ECG as a standard 12-lead printout into a PNG.
``search PATH... [--top-k 10] [--json] [--fs HZ]``
    Similar confirmed cases for each ECG file (PATH may be a folder: its ECG files, recursively).
    Models load once; with ``--json`` one JSON object per input per line (see
    :func:`search_result_json`); one unreadable file gives an error line and the batch goes on.
``search-text "WORDS" [--top-k 10] [--json]``
    Cases whose ECGs match a description, through the text encoder.

``digitise PICTURE --out DIR [--json] [--fs HZ]``
    Digitise a photo or scan of a printed 12-lead ECG: writes the WFDB record
    ``DIR/<stem>.hea/.dat`` (samples a lead's printed window does not cover are WFDB's invalid
    value) and ``DIR/<stem>_overlay.png`` (the traces drawn over the straightened page), and
    prints their paths (with ``--json``: the ``info`` object plus ``files``).

``info``, ``render`` and ``search`` accept pictures like any ECG file (the photo reader is the
last entry of the format table). Further commands register in :data:`_COMMANDS`.

Exit status, for scripts:

====  ==============================================================================
0     success
1     unexpected internal error (a bug: the message asks you to report it)
2     usage error (unknown command or option, bad value)
3     the input could not be read (or the output could not be written)
4     damaged installation (a shipped model or library file is missing or corrupt)
130   interrupted (Ctrl+C)
====  ==============================================================================

Results go to stdout; errors go to stderr as one line.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from desktop_app import __version__
from desktop_app.errors import AssetError, EcgError

log = logging.getLogger(__name__)

PROG = "ecg-case-finder"
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_INSTALL = 4

_EXIT_HELP = """\
exit status:
  0  success
  1  unexpected internal error (please report it)
  2  usage error
  3  input could not be read, or output could not be written
  4  damaged installation (reinstall the app)

Without a command, the window opens (with FILE, if one is given)."""

# Meta keys that carry the recording machine's own interpretation; shown as "machine".
_MACHINE_KEYS = ("machine_statements", "machine_measurements")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line (or the window) and return the exit status.

    Parameters
    ----------
    argv : arguments after the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        The exit status (see the module docstring).
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if _wants_gui(args_list):
        return _run_gui(args_list)
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse exits 0 for --help/--version, 2 for usage errors
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    _configure_logging(args.verbose)
    try:
        return int(args.handler(args) or EXIT_OK)
    except AssetError as exc:
        _error(str(exc))
        return EXIT_INSTALL
    except EcgError as exc:
        _error(str(exc))
        return EXIT_INPUT
    except OSError as exc:
        # Writing the output (or reading a file a reader had already opened) failed.
        _error(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
        return EXIT_INPUT
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as exc:  # the documented catch-all: a bug, reported on one line
        log.debug("internal error", exc_info=True)
        _error(f"internal error: {type(exc).__name__}: {exc}; please report this "
               f"(run again with --verbose for details)")
        if args.verbose:
            import traceback

            traceback.print_exc()
        return EXIT_INTERNAL


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Offline ECG case finder: open a 12-lead ECG and find similar confirmed "
                    "cases. A decision aid, not a diagnosis.",
        epilog=_EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log progress and warnings to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (add, help_text) in _COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text, epilog=_EXIT_HELP,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        cmd.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="log progress and warnings to stderr")
        add(cmd)
    return parser


# ---------------------------------------------------------------------------------------------
# info

def _add_info(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="ECG file (for WFDB, the .hea header)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    _add_fs(p)
    p.set_defaults(handler=_cmd_info)


def _cmd_info(args: argparse.Namespace) -> int:
    from desktop_app.signal import heart_rate_bpm

    record = _read(args.file, args.fs)
    info = record_info(record, heart_rate=heart_rate_bpm(record))
    info["path"] = str(args.file)
    if args.json:
        sys.stdout.write(json.dumps(info, ensure_ascii=False, default=_json_default) + "\n")
    else:
        sys.stdout.write(_info_text(info, record.meta))
    return EXIT_OK


def record_info(record: Any, *, heart_rate: float | None) -> dict[str, Any]:
    """The facts ``info`` prints, as a JSON-ready dict (no patient name or identifier).

    The same keys for ECG files and pictures, so a script reads both alike.

    Parameters
    ----------
    record : an :class:`~desktop_app.ecg.EcgRecord`.
    heart_rate : heart rate in bpm, or None when it could not be measured.

    Returns
    -------
    dict
        Keys ``path``, ``source`` (``"file"`` or ``"picture"``), ``format``, ``fs_hz``,
        ``duration_s``, ``n_samples``, ``leads`` (list of ``{name, source, flags, confidence,
        window_s}``; ``source`` is recorded, derived, digitised or missing; ``confidence`` (0-1,
        share of the lead's printed columns whose trace was followed) and ``window_s`` (the
        printed time span) are null for files), ``heart_rate_bpm``, ``age_years``, ``sex``,
        ``machine`` (the machine's statements and measurements, if the file has them),
        ``photo`` (null for files; for pictures ``layout``, ``rhythm_strips``, ``speed_mm_s``,
        ``gain_mm_mv``, ``speed_from``, ``gain_from``, ``px_per_mm``) and ``meta_keys``.
    """
    demo = record.demographics
    photo = record.meta.get("photo") if record.source_format == "photo" else None
    confidence = (photo or {}).get("confidence", {})
    windows = (photo or {}).get("windows_s", {})
    return {
        "path": None if record.source_path is None else str(record.source_path),
        "source": "picture" if photo is not None else "file",
        "format": record.source_format,
        "fs_hz": record.fs_hz,
        "duration_s": round(record.duration_s, 6),
        "n_samples": record.n_samples,
        "leads": [
            {"name": name, "source": src.value, "flags": list(flags),
             "confidence": confidence.get(name), "window_s": windows.get(name)}
            for name, src, flags in zip(record.leads, record.lead_sources, record.lead_flags)
        ],
        "photo": None if photo is None else {
            k: photo.get(k) for k in ("layout", "rhythm_strips", "speed_mm_s", "gain_mm_mv",
                                      "speed_from", "gain_from", "px_per_mm")},
        "heart_rate_bpm": None if heart_rate is None else round(float(heart_rate), 1),
        "age_years": demo.age_years,
        "sex": demo.sex,
        "machine": {
            k.removeprefix("machine_"): record.meta[k] for k in _MACHINE_KEYS if record.meta.get(k)
        },
        "meta_keys": sorted(str(k) for k in record.meta),
    }


def _info_text(info: dict[str, Any], meta: dict[str, Any]) -> str:
    rate = info["heart_rate_bpm"]
    age = info["age_years"]
    lines = [
        f"file:        {info['path']}",
        f"format:      {info['format']}",
        f"sampling:    {info['fs_hz']:g} Hz",
        f"duration:    {info['duration_s']:.2f} s ({info['n_samples']} samples)",
        f"heart rate:  {'unknown' if rate is None else f'{rate:.0f} bpm'}",
        f"age:         {'unknown' if age is None else f'{age:g} years'}",
        f"sex:         {info['sex'] or 'unknown'}",
        "leads:",
    ]
    for lead in info["leads"]:
        flags = ", ".join(lead["flags"])
        seen = ""
        if lead["window_s"] is not None:
            seen = f"{lead['window_s'][0]:.2f}-{lead['window_s'][1]:.2f} s "
        if lead["confidence"] is not None:
            seen += f"confidence {lead['confidence']:.2f} "
        lines.append(f"  {lead['name']:<4} {lead['source']:<10} {seen}{flags}".rstrip())
    machine = info["machine"]
    if machine:
        lines.append("machine:")
        for key, value in machine.items():
            items = value if isinstance(value, (list, tuple)) else [value]
            if isinstance(value, dict):
                items = [f"{k}: {_quantity(v)}" for k, v in value.items()]
            lines.append(f"  {key}:")
            lines.extend(f"    {_one_line(item)}" for item in items)
    photo = info.get("photo")
    if photo:
        lines.insert(3, f"picture:     layout {photo['layout']}, {photo['speed_mm_s']:g} mm/s "
                        f"({photo['speed_from']}), {photo['gain_mm_mv']:g} mm/mV "
                        f"({photo['gain_from']}), {photo['px_per_mm']:g} px/mm")
    lines.append(f"meta keys:   {', '.join(info['meta_keys']) or 'none'}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# render

def _add_render(p: argparse.ArgumentParser) -> None:
    from desktop_app.render import LAYOUT_NAMES

    p.add_argument("file", type=Path, help="ECG file (for WFDB, the .hea header)")
    p.add_argument("--out", "-o", type=Path, required=True, help="PNG file to write")
    p.add_argument("--layout", choices=LAYOUT_NAMES, default="3x4",
                   help="lead arrangement (default: 3x4 with a lead II rhythm strip)")
    p.add_argument("--speed", type=float, choices=(25.0, 50.0), default=25.0,
                   metavar="{25,50}", help="paper speed in mm/s (default: 25)")
    p.add_argument("--gain", type=float, choices=(5.0, 10.0, 20.0), default=10.0,
                   metavar="{5,10,20}", help="gain in mm/mV (default: 10)")
    p.add_argument("--dpi", type=_dpi, default=200.0,
                   help="resolution in dots per inch, 50-1000 (default: 200)")
    p.add_argument("--title", help="text for the header line")
    _add_fs(p)
    p.set_defaults(handler=_cmd_render)


def _cmd_render(args: argparse.Namespace) -> int:
    from desktop_app.render import render_png

    record = _read(args.file, args.fs)
    out = render_png(record, args.out, layout=args.layout, speed_mm_s=args.speed,
                     gain_mm_mv=args.gain, px_per_mm=args.dpi / 25.4, title=args.title)
    sys.stdout.write(f"{out}\n")
    return EXIT_OK


def _bounded(kind: type, low: float, high: float, unit: str = ""):
    """An argparse type: a number of ``kind`` within ``low..high``, else a usage error."""
    noun = "whole number" if kind is int else "number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {noun}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value:g}{unit}: expected {low:g} to {high:g}")
        return value

    return parse


_dpi = _bounded(float, 50, 1000, " dpi")
_top_k = _bounded(int, 1, 50)


# ---------------------------------------------------------------------------------------------
# digitise

def _add_digitise(p: argparse.ArgumentParser) -> None:
    p.add_argument("picture", type=Path, help="photo or scan of a printed 12-lead ECG")
    p.add_argument("--out", "-o", type=Path, required=True,
                   help="folder for <stem>.hea/.dat (WFDB) and <stem>_overlay.png (created)")
    p.add_argument("--json", action="store_true",
                   help="print the info object (see info --json) plus the written files")
    p.add_argument("--fs", type=_positive_hz, default=None, metavar="HZ",
                   help="sampling rate of the digitised record in Hz (default: 250)")
    p.set_defaults(handler=_cmd_digitise)


def _cmd_digitise(args: argparse.Namespace) -> int:
    from desktop_app.photo import (
        DEFAULT_FS_HZ, digitise_array, load_picture, record_name, write_digitised,
    )
    from desktop_app.signal import heart_rate_bpm

    if not args.picture.is_file():
        from desktop_app.errors import EcgReadError

        raise EcgReadError(args.picture, "photo", "a picture file",
                           "a folder" if args.picture.is_dir() else "no such file",
                           "check the path")
    result = digitise_array(load_picture(args.picture), path=args.picture,
                            fs_hz=args.fs or DEFAULT_FS_HZ)
    files = write_digitised(result, args.out, name=record_name(args.picture.stem))
    if args.json:
        info = record_info(result.record, heart_rate=heart_rate_bpm(result.record))
        info["path"] = str(args.picture)
        info["files"] = {"header": str(files.header), "signal": str(files.signal),
                         "overlay": str(files.overlay)}
        sys.stdout.write(json.dumps(info, ensure_ascii=False, default=_json_default) + "\n")
    else:
        sys.stdout.write(f"{files.header}\n{files.signal}\n{files.overlay}\n")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# search, search-text

def _add_search(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", type=Path, nargs="+", metavar="PATH",
                   help="ECG files or folders (folders: every ECG file in them, recursively)")
    p.add_argument("--top-k", type=_top_k, default=None,
                   help="number of similar cases per input, 1-50 (default: the setting, 10)")
    p.add_argument("--json", action="store_true", help="one JSON object per input per line")
    _add_fs(p)
    p.set_defaults(handler=_cmd_search)


def _add_search_text(p: argparse.ArgumentParser) -> None:
    p.add_argument("words", help="a description, e.g. \"atrial fibrillation\"")
    p.add_argument("--top-k", type=_top_k, default=None,
                   help="number of similar cases, 1-50 (default: the setting, 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_cmd_search_text)


def _make_finder():
    """The one :class:`~desktop_app.service.CaseFinder` of a command (models load once)."""
    from desktop_app.service import CaseFinder
    from desktop_app.settings import load_settings

    return CaseFinder(load_settings())


def expand_inputs(paths: Sequence[Path]) -> list[Path]:
    """Files to search for: files as given; for a folder, its ECG files, sorted.

    In a folder, a file counts when its suffix is one a reader claims (``FORMATS``); a WFDB
    signal file (``.dat``/``.mat``) is left out when its ``.hea`` header is beside it, and
    hidden files are skipped. A path that does not exist is kept so that it gets an error line.
    """
    from desktop_app.ecg import FORMATS

    suffixes = {s for spec in FORMATS for s in spec.suffixes}
    out: list[Path] = []
    for path in paths:
        if not path.is_dir():
            out.append(path)
            continue
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            rel = f.relative_to(path)
            if any(part.startswith(".") for part in rel.parts):
                continue
            suffix = f.suffix.lower()
            if suffix not in suffixes:
                continue
            if suffix in (".dat", ".mat") and f.with_suffix(".hea").is_file():
                continue
            out.append(f)
    return out


def _cmd_search(args: argparse.Namespace) -> int:
    finder = _make_finder()
    failed = 0
    for path in expand_inputs(args.paths):
        try:
            record = _read(path, args.fs)
            result = finder.find_similar(record, args.top_k)
        except AssetError:
            raise  # a damaged installation fails every input: stop with exit status 4
        except (EcgError, OSError) as exc:
            failed += 1
            log.debug("search failed for %s", path, exc_info=True)
            line = {"input": str(path), "ok": False,
                    "error": {"type": type(exc).__name__, "message": _one_line(exc)}}
            if args.json:
                sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
            else:
                sys.stdout.write(f"{path}: error: {_one_line(exc)}\n")
            sys.stdout.flush()
            continue
        doc = search_result_json(result, input_path=str(path))
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n" if args.json
                         else _search_text_output(doc))
        sys.stdout.flush()
    return EXIT_INPUT if failed else EXIT_OK


def _cmd_search_text(args: argparse.Namespace) -> int:
    result = _make_finder().search_text(args.words, args.top_k)
    doc = search_result_json(result)
    sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n" if args.json
                     else _search_text_output(doc))
    return EXIT_OK


def search_result_json(result: Any, input_path: str | None = None) -> dict[str, Any]:
    """A :class:`~desktop_app.service.SearchResult` as the JSON object ``search`` prints.

    Parameters
    ----------
    result : the search result.
    input_path : the input as given on the command line (None for a text search).

    Returns
    -------
    dict
        Keys: ``input``, ``ok`` (true), ``query`` (``path, format, fs_hz, duration_s,
        leads_present, age, sex``) or null, ``query_text``, ``k``, ``encoder_version``,
        ``elapsed_ms``, ``hits`` (list; see the README), ``consensus`` (``k``, ``items``) and
        ``disclaimer``.
    """
    q = result.query
    return {
        "input": input_path,
        "ok": True,
        "query": None if q is None else {
            "path": q.path, "format": q.source_format, "fs_hz": q.fs_hz,
            "duration_s": q.duration_s, "leads_present": list(q.leads_present),
            "age": q.age, "sex": q.sex},
        "query_text": result.query_text,
        "k": result.k,
        "encoder_version": result.encoder_version,
        "elapsed_ms": result.elapsed_ms,
        "hits": [{
            "rank": h.rank, "source": h.source, "case_key": h.case_key, "ecg_id": h.ecg_id,
            "clinic_case_id": h.clinic_case_id, "similarity": round(h.similarity, 6),
            "age": h.age, "sex": h.sex,
            "statements": [s.to_dict() for s in h.statements],
            "statements_en": h.statements_en, "report_en": h.report_en,
            "report_original": h.report_original, "report_language": h.report_language,
            "diagnosis": h.diagnosis, "heart_axis": h.heart_axis,
            "infarction_stadium": list(h.infarction_stadium)} for h in result.hits],
        "consensus": {"k": result.consensus.k, "items": [{
            "code": it.code, "description": it.description, "count": it.count, "k": it.k,
            "weighted_share": round(it.weighted_share, 6),
            "mean_likelihood": it.mean_likelihood, "text": it.text}
            for it in result.consensus.items]},
        "disclaimer": result.disclaimer,
    }


def _search_text_output(doc: dict[str, Any]) -> str:
    head = doc["input"] or f"words: {doc['query_text']}"
    lines = [f"{head}", f"  {doc['disclaimer']}"]
    for h in doc["hits"]:
        ident = f"PTB-XL {h['ecg_id']}" if h["source"] == "library" else (
            f"clinic case {h['clinic_case_id']}")
        text = h["diagnosis"] or h["statements_en"] or ""
        lines.append(f"  {h['rank']:>2}. {h['similarity']:.3f}  {ident:<18} {_one_line(text)}")
    if doc["consensus"]["items"]:
        lines.append("  in common:")
        for it in doc["consensus"]["items"][:8]:
            lines.append(f"    {it['description']}: {it['text']} "
                         f"(weighted share {it['weighted_share']:.0%})")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# shared helpers

def _add_fs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fs", type=_positive_hz, default=None, metavar="HZ",
                   help="sampling rate in Hz, for files that do not state it (CSV)")


def _positive_hz(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 1 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"{value:g} Hz: expected 1 to 100000")
    return value


def _read(path: Path, fs_hz: float | None):
    from desktop_app.ecg import read_ecg

    kwargs = {} if fs_hz is None else {"fs_hz": fs_hz}
    return read_ecg(path, **kwargs)


#: Command name -> (function that adds its arguments, one-line help).
_COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], str]] = {
    "info": (_add_info, "describe an ECG file: format, rate, leads, quality, heart rate"),
    "render": (_add_render, "draw an ECG as a standard 12-lead printout (PNG)"),
    "search": (_add_search, "find similar confirmed cases for ECG files (decision aid)"),
    "search-text": (_add_search_text, "find cases matching a description in words"),
    "digitise": (_add_digitise, "digitise a photo or scan of a paper ECG into a WFDB record"),
}


def _wants_gui(argv: list[str]) -> bool:
    """No arguments, a single existing file, or Qt's own options (``-platform x``) mean the
    window; anything else is parsed as a command so a typo fails with exit 2."""
    if not argv:
        return True
    first = argv[0]
    if first in _COMMANDS or first in ("-h", "--help", "--version", "-v", "--verbose"):
        return False
    if first.startswith("-") and not first.startswith("--") and len(first) > 2:
        return True
    return len(argv) == 1 and Path(first).is_file()


def _run_gui(argv: list[str]) -> int:
    try:
        # Imported here: only the window needs Qt, and the command line must work without it.
        from desktop_app import gui
    except ImportError as exc:
        _error(f"the window cannot start ({exc}); reinstall the app, or use the command line "
               f"(run with --help)")
        return EXIT_INSTALL
    return int(gui.run(argv))


def _configure_logging(verbose: bool) -> None:
    # Library warnings (a reader's notes, numpy) stay off stderr unless asked for, so a script
    # sees exactly one line on failure and nothing on success.
    logging.captureWarnings(True)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.ERROR + 10,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _error(message: str) -> None:
    sys.stderr.write(f"{PROG}: error: {_one_line(message)}\n")
    sys.stderr.flush()


def _quantity(value: Any) -> str:
    if isinstance(value, dict) and "value" in value:
        number = value["value"]
        text = f"{number:g}" if isinstance(number, (int, float)) else str(number)
        return f"{text} {value.get('unit') or ''}".rstrip()
    return _one_line(value)


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)
