"""A one- or two-page summary for the chart: the patient's ECG, the most similar cases, their
consensus and the disclaimer, written with QPdfWriter or sent to a printer.

The ECG page image comes from the shared renderer (:func:`desktop_app.render.render_image`),
drawn by a worker beforehand (:func:`render_summary_page`); painting the pages is quick and
happens on the GUI thread (QPainter on a printer belongs there). Patient identifiers (name, id,
file name) are left out unless the user asks for them.
"""

from __future__ import annotations

import datetime as _dt
import html
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QMarginsF, QRectF, QUrl
from PySide6.QtGui import (
    QFont, QImage, QPageLayout, QPageSize, QPagedPaintDevice, QPainter, QPdfWriter,
    QTextDocument,
)

from desktop_app import __version__
from desktop_app.ecg import EcgRecord
from desktop_app.gui._wording import (
    APP_TITLE, DISCLAIMER, PTBXL_CREDIT, RESULT_DISCLAIMER, sex_age,
)
from desktop_app.gui.consensus_panel import consensus_rows
from desktop_app.gui.results_panel import hit_title
from desktop_app.render import render_image
from desktop_app.service import SearchResult

#: Cases listed on the summary (the most similar first).
SUMMARY_MATCHES = 5
PDF_RESOLUTION_DPI = 300
# 6 px/mm is about 150 dpi: sharp 1 mm grid on paper, and about 0.1 s to draw.
_PAGE_PX_PER_MM = 6.0
_MARGIN_MM = 10.0


@dataclass(frozen=True)
class SummaryContent:
    """Everything the summary shows (built on the GUI thread from what is on screen).

    Attributes
    ----------
    record : the patient's ECG.
    page_image : the ECG page from :func:`render_summary_page`.
    result : the search shown, or None (the summary then says no search was made).
    heart_rate_bpm : as shown in the status bar, or None.
    include_identifiers : print the patient's name, id and file name.
    thumbnails : small pictures of the listed cases by case key.
    """

    record: EcgRecord
    page_image: Image.Image
    result: SearchResult | None
    heart_rate_bpm: float | None = None
    include_identifiers: bool = False
    thumbnails: dict[str, QImage] = field(default_factory=dict)


def render_summary_page(record: EcgRecord, *, layout: str, speed_mm_s: float,
                        gain_mm_mv: float, include_identifiers: bool) -> Image.Image:
    """The ECG page for the summary (runs on a worker; Qt-free).

    Without identifiers the record is drawn without its file name, which often holds the
    patient's name or id.
    """
    if not include_identifiers:
        record = record.replace(source_path=None)
    return render_image(record, layout=layout, speed_mm_s=speed_mm_s, gain_mm_mv=gain_mm_mv,
                        px_per_mm=_PAGE_PX_PER_MM)


def _qimage(img: Image.Image) -> QImage:
    rgb = img.convert("RGB")
    data = rgb.tobytes()
    return QImage(data, rgb.width, rgb.height, 3 * rgb.width,
                  QImage.Format.Format_RGB888).copy()


def _patient_lines(c: SummaryContent) -> list[str]:
    rec = c.record
    demo = rec.demographics
    lines = []
    if c.include_identifiers:
        ids = [f"Name: {demo.name}" if demo.name else "", f"ID: {demo.patient_id}"
               if demo.patient_id else "", f"File: {rec.source_path.name}"
               if rec.source_path else ""]
        lines.append("   ".join(i for i in ids if i) or "No identifiers in the file")
    else:
        lines.append("Patient identifiers not included")
    hr = "not measured" if c.heart_rate_bpm is None else f"{c.heart_rate_bpm:.0f} bpm"
    lines.append(f"{sex_age(demo.age_years, demo.sex)}   {rec.source_format.upper()}, "
                 f"{rec.fs_hz:g} Hz, {rec.duration_s:.1f} s   heart rate {hr}")
    return lines


def _results_html(c: SummaryContent) -> str:
    e = html.escape
    res = c.result
    parts = [f"<p style='background:#fff4d6'><b>{e(DISCLAIMER)}</b> {e(RESULT_DISCLAIMER)}</p>"]
    if res is None:
        parts.append("<p>No similar-case search was made for this ECG.</p>")
    else:
        rows = consensus_rows(res.consensus)
        parts.append(f"<h3>What the {res.consensus.k} most similar confirmed cases have in "
                     "common (decision support)</h3>")
        parts.append("<table border='1' cellspacing='0' cellpadding='3' width='100%'>"
                     "<tr><th align='left'>Statement in similar cases</th><th>Cases</th>"
                     "<th>Weighted share</th></tr>")
        for words, count, share in rows[:12]:
            parts.append(f"<tr><td>{e(words)}</td><td align='center'>{e(count)}</td>"
                         f"<td align='center'>{e(share)}</td></tr>")
        parts.append("</table>")
        parts.append(f"<h3>Most similar confirmed cases (top {min(SUMMARY_MATCHES, len(res.hits))}"
                     f" of {len(res.hits)})</h3>")
        parts.append("<table border='1' cellspacing='0' cellpadding='3' width='100%'>"
                     "<tr><th></th><th align='left'>Case</th><th>Similarity</th>"
                     "<th>Age, sex</th><th align='left'>Statements</th></tr>")
        for hit in res.hits[:SUMMARY_MATCHES]:
            img = (f"<img src='thumb:{e(hit.case_key)}' width='150'>"
                   if hit.case_key in c.thumbnails else "")
            words = hit.diagnosis or hit.statements_en or ""
            parts.append(f"<tr><td>{img}</td><td>{e(hit_title(hit))}</td>"
                         f"<td align='center'>{hit.similarity:.2f}</td>"
                         f"<td align='center'>{e(sex_age(hit.age, hit.sex))}</td>"
                         f"<td>{e(words)}</td></tr>")
        parts.append("</table>")
        parts.append(f"<p><small>Encoder {e(res.encoder_version)}.</small></p>")
    parts.append(f"<p><small>Library cases: {e(PTBXL_CREDIT)}. {e(APP_TITLE)} {__version__}."
                 "</small></p>")
    return "".join(parts)


def paint_summary(device: QPagedPaintDevice, content: SummaryContent) -> int:
    """Paint the summary onto a PDF writer or printer; returns the number of pages.

    Page 1: header, patient facts and the ECG on paper. Page 2: consensus, the most similar
    cases, the disclaimer and the credit.
    """
    device.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4),
                                     QPageLayout.Orientation.Landscape,
                                     QMarginsF(_MARGIN_MM, _MARGIN_MM, _MARGIN_MM, _MARGIN_MM),
                                     QPageLayout.Unit.Millimeter))
    painter = QPainter()
    if not painter.begin(device):
        raise OSError("could not start painting the summary (is the file writable?)")
    try:
        width, height = float(device.width()), float(device.height())
        mm = device.logicalDpiX() / 25.4
        title_font = QFont("DejaVu Sans")
        title_font.setPointSizeF(14)
        title_font.setBold(True)
        body = QFont("DejaVu Sans")
        body.setPointSizeF(9.5)
        y = 0.0
        painter.setFont(title_font)
        today = _dt.date.today().isoformat()
        painter.drawText(QRectF(0, y, width, 8 * mm), 0, f"{APP_TITLE} \u2014 ECG summary, {today}")
        y += 8 * mm
        painter.setFont(body)
        for line in [f"{DISCLAIMER} {RESULT_DISCLAIMER}", *_patient_lines(content)]:
            painter.drawText(QRectF(0, y, width, 5 * mm), 0, line)
            y += 5 * mm
        page = _qimage(content.page_image)
        footer_h = 6 * mm
        avail_w, avail_h = width, height - y - footer_h
        scale = min(avail_w / page.width(), avail_h / page.height())
        target = QRectF(0, y + 1 * mm, page.width() * scale, page.height() * scale)
        painter.drawImage(target, page)
        painter.drawText(QRectF(0, height - footer_h, width, footer_h), 0,
                         f"{RESULT_DISCLAIMER}   Library cases: {PTBXL_CREDIT}.   Page 1 of 2")

        device.newPage()
        doc = QTextDocument()
        doc.documentLayout().setPaintDevice(device)
        doc.setDefaultFont(body)
        for key, img in content.thumbnails.items():
            doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(f"thumb:{key}"), img)
        doc.setHtml(_results_html(content))
        avail_h = height - footer_h
        doc.setTextWidth(width)
        # Long statement lists would run off the page: shrink to fit rather than cut.
        scale = min(1.0, avail_h / max(1.0, doc.size().height()))
        if scale < 1.0:
            doc.setTextWidth(width / scale)
            scale = min(scale, avail_h / max(1.0, doc.size().height()))
        painter.save()
        painter.scale(scale, scale)
        doc.drawContents(painter, QRectF(0, 0, width / scale, avail_h / scale))
        painter.restore()
        painter.drawText(QRectF(0, height - footer_h, width, footer_h), 0,
                         f"{DISCLAIMER}   Library cases: {PTBXL_CREDIT}.   Page 2 of 2")
    finally:
        painter.end()
    return 2


def write_summary_pdf(path: str | Path, content: SummaryContent) -> Path:
    """Write the summary to ``path`` as a PDF and return the path.

    Raises
    ------
    OSError
        If the file cannot be written.
    """
    path = Path(path)
    writer = QPdfWriter(str(path))
    writer.setResolution(PDF_RESOLUTION_DPI)
    writer.setTitle(f"{APP_TITLE} ECG summary")
    writer.setCreator(f"{APP_TITLE} {__version__}")
    paint_summary(writer, content)
    del writer  # flushes and closes the file
    if not path.is_file() or path.stat().st_size == 0:
        raise OSError(f"{path}: the PDF was not written; check the folder is writable")
    return path


__all__ = ["SUMMARY_MATCHES", "SummaryContent", "paint_summary", "render_summary_page",
           "write_summary_pdf"]
