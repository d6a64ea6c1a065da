"""English case text for PTB-XL records: SCP statements in words and translated reports.

Two sources make a record's text:

* its SCP-ECG statements (``scp_codes`` with likelihoods, or the PTB-XL benchmark task labels
  where the original metadata row is missing), worded with the English descriptions of
  ``scp_statements.csv``;
* its report, which is mostly German (Schiller machine statements, some edited by
  cardiologists), sometimes Swedish, sometimes English. German and Swedish reports are
  translated with a reviewed phrase table (``data/de_en_phrases.tsv``) by longest-match
  substitution; words the table lacks stay visible as ``[de:word]`` instead of being guessed.

Run ``python -m model_export._text --coverage [--write]`` to measure the table's coverage over
the whole report corpus (and write the number into the table's header).
"""

from __future__ import annotations

import argparse
import ast
import csv
import functools
import logging
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

logger = logging.getLogger(__name__)

PHRASE_TABLE_PATH = Path(__file__).resolve().parent / "data" / "de_en_phrases.tsv"

TRANSLATED_LANGUAGES = ("de", "sv")

# One token: a word with inner hyphens/dots/apostrophes and trailing "(n)"-style plural
# markers ("extrasystole(n)", "qrs(t)", "a-v", "1.grades"), or one punctuation character.
_TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)+\b|\w+(?:[-.']\w+)*(?:\(\w+\))*|[^\w\s]")
_WORD_RE = re.compile(r"\w")
_NUMBER_RE = re.compile(r"\d[\dx.,\-/]*(?:mm|mg|mv|ms|bpm|ppm|amp|%)?")
# Lead names and lead ranges as the reports write them: "i", "avl", "v1", "v1-3", "v2-v6",
# "v4-5-6". "i"/"ii"/"iii" also end "a-v block i"; the phrase table claims those first.
_LEAD_RE = re.compile(r"(?:i{1,3}|avr|avl|avf|v[1-6](?:-v?[1-6])*)")
_WAVES = {
    "p": "P", "q": "Q", "r": "R", "s": "S", "t": "T", "u": "U", "qrs": "QRS", "qrs(t)": "QRS(T)",
    "st": "ST", "st-t": "ST-T", "qt": "QT", "pq": "PQ", "pr": "PR", "qs": "QS", "rs": "RS",
    "r-s": "R/S", "p-r": "PR", "qrs-t": "QRS-T",
}
_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "å": "aa", "é": "e"})

# The machine statement printout ends with the program version and "unconfirmed report";
# the metadata cuts some of them short ("4.46 unbestäti"), see README of the data folder.
_UNCONFIRMED = "unbestätigter bericht"
_TRAILER_RE = re.compile(r"\s*\b4\.46?\b(?P<tail>[^0-9]*)$")
_EDIT_RE = re.compile(r"\bedit\s*:", re.IGNORECASE)

# Marker words that only English reports use; German and Swedish are scored by the table.
_ENGLISH_MARKERS = frozenset(
    "the is are with of and to due this be waves wave leads rhythm ecg left right fibrillation "
    "tachycardia bradycardia requested trace otherwise pathology consistent suggesting "
    "possible probable probably old infarction axis deviation premature complex contraction "
    "contractions changes non-specific ischaemia ischaemic heart disease bundle branch "
    "definite no segments depressed inverted flat voltage voltages criteria hypertrophy "
    "likely evident cause minor only may suggest suggests most commonly atrial sinus "
    "ventricular response rapid interval prolonged".split()
)


def fold(token: str) -> str:
    """Matching key of a token: lower case, umlauts folded to their ASCII spellings."""
    return unicodedata.normalize("NFC", token.lower()).translate(_FOLD)


def tokenize(text: str) -> list[str]:
    """Split report text into word and punctuation tokens (see ``_TOKEN_RE``)."""
    return _TOKEN_RE.findall(text)


def _is_word(token: str) -> bool:
    return bool(_WORD_RE.search(token))


def _neutral(token: str) -> str | None:
    """English rendering of a language-neutral token (lead, wave symbol, number), else None."""
    if not _is_word(token):
        return token
    if _LEAD_RE.fullmatch(token):
        return token.upper().replace("AVR", "aVR").replace("AVL", "aVL").replace("AVF", "aVF")
    if token in _WAVES:
        return _WAVES[token]
    if _NUMBER_RE.fullmatch(token):
        return token
    return None


# ---------------------------------------------------------------------------------------------
# Phrase table
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Phrase:
    """One row of the phrase table."""

    lang: str
    source: str
    english: str
    key: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class PhraseTable:
    """Phrases indexed by their first folded token, longest first."""

    phrases: tuple[Phrase, ...]
    index: Mapping[str, tuple[Phrase, ...]]
    header: tuple[str, ...] = ()

    def words(self, lang: str) -> frozenset[str]:
        """Folded tokens that only phrases of ``lang`` use (for language detection)."""
        own = {t for p in self.phrases if p.lang == lang for t in p.key if _is_word(t)}
        other = {t for p in self.phrases if p.lang not in (lang, "*") for t in p.key}
        return frozenset(own - other - _ENGLISH_MARKERS - set(_WAVES))

    def match(self, tokens: Sequence[str], start: int, lang: str) -> Phrase | None:
        """Longest phrase of ``lang`` (or ``*``) matching ``tokens`` at ``start``, if any."""
        for phrase in self.index.get(fold(tokens[start]), ()):
            if phrase.lang not in (lang, "*"):
                continue
            end = start + len(phrase.key)
            if end <= len(tokens) and tuple(fold(t) for t in tokens[start:end]) == phrase.key:
                return phrase
        return None


def load_phrase_table(path: Path | None = None) -> PhraseTable:
    """Read the German/Swedish -> English phrase table.

    Parameters
    ----------
    path
        TSV file with the columns ``lang``, ``source``, ``english``; ``#`` starts a comment
        line. Defaults to ``model_export/data/de_en_phrases.tsv``.

    Returns
    -------
    PhraseTable
        The phrases, indexed for longest-match lookup.

    Raises
    ------
    ValueError
        If a row does not have three columns, names an unknown language or repeats a source
        phrase of the same language.
    """
    if path is None:
        return _default_table()
    return _read_table(Path(path))


@functools.lru_cache(maxsize=1)
def _default_table() -> PhraseTable:
    return _read_table(PHRASE_TABLE_PATH)


def _read_table(path: Path) -> PhraseTable:
    phrases: list[Phrase] = []
    header: list[str] = []
    seen: dict[tuple[str, tuple[str, ...]], int] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            header.append(line)
            continue
        cols = line.split("\t")
        if len(cols) != 3 or cols[0] not in (*TRANSLATED_LANGUAGES, "*"):
            raise ValueError(f"{path}:{lineno}: expected 'lang<TAB>source<TAB>english' with lang "
                             f"in de/sv/*, found {line!r}")
        lang, source, english = (c.strip() for c in cols)
        key = tuple(fold(t) for t in tokenize(source))
        if (lang, key) in seen:
            raise ValueError(f"{path}:{lineno}: {source!r} repeats line {seen[(lang, key)]}")
        seen[(lang, key)] = lineno
        phrases.append(Phrase(lang, source, english, key))
    index: dict[str, list[Phrase]] = {}
    for phrase in phrases:
        index.setdefault(phrase.key[0], []).append(phrase)
    frozen = {k: tuple(sorted(v, key=lambda p: -len(p.key))) for k, v in index.items()}
    return PhraseTable(tuple(phrases), frozen, tuple(header))


# ---------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CleanReport:
    """A report split into its statement text and the artefacts around it."""

    text: str
    edit_note: str | None = None
    unconfirmed: bool = False
    program_version: str | None = None


def clean_report(report: str | None) -> CleanReport:
    """Normalise a PTB-XL report and split off its artefacts.

    Lower-cases (the metadata has upper-case umlauts in lower-case text), repairs the two
    code-page mix-ups of the corpus (``#`` for ``ü``, ``á`` for ``ß``), splits off the
    cardiologist's ``Edit:`` note (SCP codes and short German remarks) and the machine
    trailer ``4.46 unbestätigter bericht`` (program version, "unconfirmed report"), which
    the metadata sometimes truncates.

    Parameters
    ----------
    report
        The ``report`` column, possibly empty or ``None``.

    Returns
    -------
    CleanReport
        ``text`` is empty when the report has no statement text.
    """
    raw = unicodedata.normalize("NFC", report or "")
    edit_note = None
    m = _EDIT_RE.search(raw)
    if m:
        edit_note = " ".join(raw[m.end():].split()) or None
        raw = raw[: m.start()]
    text = raw.lower()
    text = re.sub(r"(?<=\w)#(?=\w)|(?<=\s)#(?=\w)", "ü", text)
    text = re.sub(r"(?<=\w)á(?=\w)", "ß", text)
    # Free-text reports break compounds after the hyphen ("st- hebung", "r- progression").
    text = re.sub(r"\b(st|t|r|p|q|qt|pq|u)- (?=[^\W\d])", r"\1-", text)
    unconfirmed = False
    version = None
    m = _TRAILER_RE.search(text)
    if m:
        tail = " ".join(m.group("tail").split())
        if _UNCONFIRMED.startswith(tail):
            version = m.group(0).split()[0]
            unconfirmed = bool(tail)
            text = text[: m.start()]
    return CleanReport(" ".join(text.split()), edit_note, unconfirmed, version)


def detect_language(text: str, table: PhraseTable | None = None) -> str:
    """Language of a cleaned report: ``"en"``, ``"de"``, ``"sv"`` or ``""`` when empty.

    Counts the tokens that only one language's phrases use against a list of English marker
    words; a report with no markers at all is taken as German, the corpus' main language.
    """
    table = table or load_phrase_table()
    tokens = [fold(t) for t in tokenize(text) if _is_word(t)]
    if not tokens:
        return ""
    scores = {
        "en": sum(t in _ENGLISH_MARKERS for t in tokens),
        "de": sum(t in _lang_words(table, "de") for t in tokens),
        "sv": sum(t in _lang_words(table, "sv") for t in tokens),
    }
    best = max(scores, key=lambda k: (scores[k], k == "de"))
    return best if scores[best] > 0 else "de"


@functools.lru_cache(maxsize=8)
def _lang_words(table: PhraseTable, lang: str) -> frozenset[str]:
    return table.words(lang)


@dataclass(frozen=True)
class Translation:
    """English text of one report, with what the phrase table did and did not cover."""

    language: str
    english: str
    clean: CleanReport
    n_words: int = 0
    n_table: int = 0
    n_neutral: int = 0
    unknown: tuple[str, ...] = field(default=())

    @property
    def coverage(self) -> float:
        """Share of word tokens translated by the table or language-neutral (1.0 if none)."""
        return (self.n_table + self.n_neutral) / self.n_words if self.n_words else 1.0


def translate_report(report: str | None, table: PhraseTable | None = None) -> Translation:
    """Translate one PTB-XL report into English.

    Parameters
    ----------
    report
        The original ``report`` text (German, Swedish or English).
    table
        Phrase table; defaults to ``data/de_en_phrases.tsv``.

    Returns
    -------
    Translation
        English reports are kept as they are (cleaned); German and Swedish ones are translated
        phrase by phrase, longest match first, with unknown words kept as ``[de:word]``.
    """
    table = table or load_phrase_table()
    clean = clean_report(report)
    lang = detect_language(clean.text, table)
    if lang in ("", "en"):
        return Translation(lang, clean.text, clean)
    tokens = tokenize(clean.text)
    out: list[str] = []
    unknown: list[str] = []
    n_words = n_table = n_neutral = 0
    i = 0
    while i < len(tokens):
        phrase = table.match(tokens, i, lang)
        if phrase is not None:
            width = len(phrase.key)
            n = sum(_is_word(t) for t in tokens[i:i + width])
            n_words += n
            n_table += n
            out.append(phrase.english)
            i += width
            continue
        token = tokens[i]
        neutral = _neutral(token)
        if _is_word(token):
            n_words += 1
            if neutral is not None:
                n_neutral += 1
            else:
                unknown.append(token)
        out.append(neutral if neutral is not None else f"[{lang}:{token}]")
        i += 1
    return Translation(lang, _detokenize(out), clean, n_words, n_table, n_neutral, tuple(unknown))


def _detokenize(parts: Iterable[str]) -> str:
    text = " ".join(parts)
    text = re.sub(r"\s+([,.;:)!?])", r"\1", text)
    text = re.sub(r"([(])\s+", r"\1", text)
    text = re.sub(r"\s*/\s*", "/", text)
    text = re.sub(r"\s+-\s+(?=\w)", " -", text)
    return text.strip()


@dataclass(frozen=True)
class Coverage:
    """How much of a report corpus the phrase table translates."""

    n_reports: int
    n_words: int
    n_table: int
    n_neutral: int
    unknown: Counter

    @property
    def coverage(self) -> float:
        """Share of word tokens translated by the table or language-neutral."""
        return (self.n_table + self.n_neutral) / self.n_words if self.n_words else 1.0

    @property
    def table_coverage(self) -> float:
        """Share of the words that need translation (not neutral) that the table translated."""
        need = self.n_words - self.n_neutral
        return self.n_table / need if need else 1.0


def phrase_coverage(reports: Iterable[str], table: PhraseTable | None = None) -> Coverage:
    """Coverage of the phrase table over the German and Swedish reports among ``reports``.

    Parameters
    ----------
    reports
        Report texts; English and empty ones are not counted.
    table
        Phrase table; defaults to ``data/de_en_phrases.tsv``.

    Returns
    -------
    Coverage
        Word-token counts (punctuation is not counted) and the untranslated words.
    """
    table = table or load_phrase_table()
    n = words = tab = neutral = 0
    unknown: Counter = Counter()
    for report in reports:
        tr = translate_report(report, table)
        if tr.language not in TRANSLATED_LANGUAGES:
            continue
        n += 1
        words += tr.n_words
        tab += tr.n_table
        neutral += tr.n_neutral
        unknown.update(f"{tr.language}:{w}" for w in tr.unknown)
    return Coverage(n, words, tab, neutral, unknown)


# ---------------------------------------------------------------------------------------------
# SCP statements
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScpStatement:
    """One SCP-ECG statement of ``scp_statements.csv``."""

    code: str
    description: str
    diagnostic: bool
    form: bool
    rhythm: bool
    diagnostic_class: str
    diagnostic_subclass: str


# English names of the 23 diagnostic subclasses that the ``merl_sub_class`` labels use
# (Wagner et al., Sci Data 2020, table of diagnostic subclasses; the label spelling drops the
# leading/trailing underscore of "ISC_", "NST_", "_AVB").
SUBCLASS_DESCRIPTIONS: Mapping[str, str] = {
    "NORM": "normal ECG",
    "IMI": "inferior myocardial infarction",
    "AMI": "anterior myocardial infarction",
    "LMI": "lateral myocardial infarction",
    "PMI": "posterior myocardial infarction",
    "STTC": "ST/T changes",
    "ISC": "non-specific ischemic changes",
    "ISCA": "ischemic in anterior leads",
    "ISCI": "ischemic in inferior leads",
    "NST": "non-specific ST changes",
    "LVH": "left ventricular hypertrophy",
    "RVH": "right ventricular hypertrophy",
    "SEHYP": "septal hypertrophy",
    "LAO/LAE": "left atrial overload/enlargement",
    "RAO/RAE": "right atrial overload/enlargement",
    "LAFB/LPFB": "left anterior or left posterior fascicular block",
    "IRBBB": "incomplete right bundle branch block",
    "CRBBB": "complete right bundle branch block",
    "CLBBB": "complete left bundle branch block",
    "ILBBB": "incomplete left bundle branch block",
    "IVCD": "non-specific intraventricular conduction disturbance (block)",
    "AVB": "AV block",
    "WPW": "Wolff-Parkinson-White syndrome",
}

# Corrections to the official descriptions (spelling only).
_DESCRIPTION_FIXES = {"WPW": "Wolff-Parkinson-White syndrome"}


def load_scp_statements(path: Path) -> dict[str, ScpStatement]:
    """Read ``scp_statements.csv`` (the 71 SCP-ECG statements of PTB-XL).

    Parameters
    ----------
    path
        The official ``scp_statements.csv``.

    Returns
    -------
    dict
        Statement code -> :class:`ScpStatement`.
    """
    out: dict[str, ScpStatement] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            code = row[""].strip()
            out[code] = ScpStatement(
                code=code,
                description=_DESCRIPTION_FIXES.get(code, row["description"].strip()),
                diagnostic=row["diagnostic"].strip() == "1.0",
                form=row["form"].strip() == "1.0",
                rhythm=row["rhythm"].strip() == "1.0",
                diagnostic_class=row["diagnostic_class"].strip(),
                diagnostic_subclass=row["diagnostic_subclass"].strip(),
            )
    return out


def resolve_code(label: str, statements: Mapping[str, ScpStatement]) -> str | None:
    """SCP code of a task label ("NST" -> "NST_", "AVB" -> subclass "_AVB"), if it is one."""
    for cand in (label, f"{label}_", f"_{label}"):
        if cand in statements:
            return cand
    return None


def likelihood_words(likelihood: float | None) -> str:
    """Qualifier for a PTB-XL statement likelihood.

    PTB-XL gives diagnostic statements a likelihood of 15, 35, 50, 80 or 100 (a few rows have
    10, 30 or 34), and 0 where no likelihood was recorded, which is the case for almost all
    rhythm and form statements. Decision: 100 and "unknown" (0 or None) are stated plainly,
    because the statement was assigned and no doubt was recorded; 80 -> "probable"; 35 and
    50 -> "possible"; 15 (and 10) -> "cannot be excluded", the German "nicht auszuschließen"
    the low values mostly stand for. Nothing is dropped: a case finder should show hedged
    statements hedged, not hide them.
    """
    if likelihood is None or likelihood <= 0 or likelihood >= 95:
        return ""
    if likelihood >= 65:
        return "probable"
    if likelihood >= 25:
        return "possible"
    return "cannot be excluded"


def _statement_phrase(description: str, likelihood: float | None) -> str:
    words = likelihood_words(likelihood)
    if words == "cannot be excluded":
        return f"{description} cannot be excluded"
    return f"{words} {description}" if words else description


def _statement_order(code: str, statements: Mapping[str, ScpStatement]) -> int:
    st = statements.get(code)
    if st is None:
        return 1
    return 0 if st.rhythm else (1 if st.diagnostic else 2)


def statements_text(
    codes: Mapping[str, float | None],
    statements: Mapping[str, ScpStatement],
    subclasses: Sequence[str] = (),
) -> str:
    """English sentence list of a record's SCP statements.

    Parameters
    ----------
    codes
        Statement code -> likelihood (percent; 0 or None = unknown).
    statements
        From :func:`load_scp_statements`.
    subclasses
        Diagnostic subclass labels (``merl_sub_class``) for records without ``scp_codes``.

    Returns
    -------
    str
        Rhythm first, then diagnoses (by likelihood), then form statements, separated by "; ";
        empty when there is nothing to say.

    Raises
    ------
    KeyError
        If a code or subclass is not a known SCP statement or diagnostic subclass.
    """
    parts: list[tuple[int, float, str]] = []
    for code, likelihood in codes.items():
        st = statements[code]
        parts.append((_statement_order(code, statements), -(likelihood or 100.0),
                      _statement_phrase(st.description, likelihood)))
    for label in subclasses:
        parts.append((1, -100.0, SUBCLASS_DESCRIPTIONS[label]))
    seen: set[str] = set()
    out = []
    for _, _, text in sorted(parts, key=lambda p: (p[0], p[1])):
        if text not in seen:
            seen.add(text)
            out.append(text)
    return "; ".join(out)


def parse_scp_codes(value: str) -> dict[str, float | None]:
    """Parse the ``scp_codes`` column (a Python dict literal); empty -> ``{}``."""
    value = (value or "").strip()
    if not value:
        return {}
    parsed = ast.literal_eval(value)
    return {str(k): (float(v) if v is not None else None) for k, v in parsed.items()}


def parse_label_list(value: str) -> list[str]:
    """Parse a ``merl_*`` label column (a Python list literal); empty -> ``[]``."""
    value = (value or "").strip()
    return [str(v) for v in ast.literal_eval(value)] if value else []


# ---------------------------------------------------------------------------------------------
# One record
# ---------------------------------------------------------------------------------------------
TEXT_SOURCES = ("report+statements", "statements", "statements-from-labels")


@dataclass(frozen=True)
class CaseText:
    """English text of one PTB-XL record and where it came from."""

    text: str
    text_source: str
    statements_en: str
    report_en: str
    report_language: str
    statements: tuple[dict, ...]
    report_clean: CleanReport


def case_text(
    row: Mapping[str, str],
    statements: Mapping[str, ScpStatement],
    table: PhraseTable | None = None,
) -> CaseText:
    """Build the English case text of one ``ptbxl_metadata.csv`` row.

    Parameters
    ----------
    row
        The metadata row as strings (``csv.DictReader``).
    statements
        From :func:`load_scp_statements`.
    table
        Phrase table; defaults to ``data/de_en_phrases.tsv``.

    Returns
    -------
    CaseText
        ``text_source`` is ``"report+statements"`` where the original report and
        ``scp_codes`` exist, ``"statements"`` where only ``scp_codes`` do, and
        ``"statements-from-labels"`` where both are missing and the text was built from the
        benchmark task labels (likelihood unknown).

    Raises
    ------
    KeyError
        If a code is not in ``scp_statements.csv``.
    """
    codes = parse_scp_codes(row.get("scp_codes", ""))
    listed: list[dict] = []
    subclasses: list[str] = []
    if codes:
        for code, lik in codes.items():
            listed.append({"code": code, "likelihood": lik, "level": "statement"})
    else:
        for col in ("merl_rhythm", "merl_form"):
            for label in parse_label_list(row.get(col, "")):
                code = resolve_code(label, statements)
                if code is None:
                    raise KeyError(f"label {label!r} of {col} is not an SCP statement")
                if code not in codes:
                    codes[code] = None
                    listed.append({"code": code, "likelihood": None, "level": "statement"})
        for label in parse_label_list(row.get("merl_sub_class", "")):
            code = resolve_code(label, statements)
            if code is not None and statements[code].diagnostic_subclass == code:
                # The subclass is itself a statement (NORM, IMI, LVH, ...): word it once.
                if code not in codes:
                    codes[code] = None
                    listed.append({"code": code, "likelihood": None, "level": "statement"})
            else:
                subclasses.append(label)
                listed.append({"code": label, "likelihood": None, "level": "subclass"})
    statements_en = statements_text(codes, statements, subclasses)
    tr = translate_report(row.get("report", ""), table)
    if tr.english and row.get("scp_codes", "").strip():
        source = "report+statements"
    elif row.get("scp_codes", "").strip():
        source = "statements"
    else:
        source = "statements-from-labels"
    pieces = [p for p in (statements_en, tr.english) if p]
    text = ". ".join(p.rstrip(".") for p in pieces)
    return CaseText(text + "." if text else "", source, statements_en, tr.english, tr.language,
                    tuple(listed), tr.clean)


def read_metadata(path: Path) -> list[dict[str, str]]:
    """Rows of ``ptbxl_metadata.csv`` as string dicts."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def main(argv: Sequence[str] | None = None) -> int:
    """Print (and with ``--write`` store) the phrase table's coverage of the report corpus."""
    parser = argparse.ArgumentParser(prog="python -m model_export._text", description=main.__doc__)
    parser.add_argument("--metadata", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data" / "ptbxl"
                        / "ptbxl_metadata.csv")
    parser.add_argument("--coverage", action="store_true", help="measure the coverage")
    parser.add_argument("--write", action="store_true", help="write it into the table header")
    parser.add_argument("--top", type=int, default=40, help="untranslated words to list")
    args = parser.parse_args(argv)
    rows = read_metadata(args.metadata)
    cov = phrase_coverage(r["report"] for r in rows)
    line = (f"# coverage: {cov.coverage:.4f} of {cov.n_words} word tokens in the "
            f"{cov.n_reports} German/Swedish reports of ptbxl_metadata.csv are translated by this "
            f"table or language-neutral (leads, wave symbols, numbers); the table alone "
            f"translates {cov.table_coverage:.4f} of the words that need translation")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger.info("%s", line)
    for word, count in cov.unknown.most_common(args.top):
        logger.info("%6d  %s", count, word)
    if args.write:
        text = PHRASE_TABLE_PATH.read_text(encoding="utf-8")
        text = re.sub(r"^# coverage: (?!filled).*$", line, text, count=1, flags=re.MULTILINE)
        PHRASE_TABLE_PATH.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
