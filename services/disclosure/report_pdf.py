"""A draft version's consolidated report as a PDF, set with fpdf2 in DejaVu Serif and Sans from
Debian's fonts-dejavu-core (embedded, subset): every Vietnamese letter with its tone mark, as one
precomposed glyph (the texts are NFC). Page numbers, the draft's title on every page, and the
document's title and language in its metadata, so that readers and screen readers read it as
Vietnamese."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Final

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from contracts.disclosure_api import DraftReport, ReportPoint
from contracts.vocabulary import TEXT_CHANGE, VIETNAM, label_of

DEFAULT_FONT_DIR: Final = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES: Final = {
    ("serif", ""): "DejaVuSerif.ttf",
    ("serif", "B"): "DejaVuSerif-Bold.ttf",
    ("serif", "I"): "DejaVuSerif-Italic.ttf",
    ("sans", ""): "DejaVuSans.ttf",
    ("sans", "B"): "DejaVuSans-Bold.ttf",
}
TITLE: Final = "BÁO CÁO TIẾP THU, GIẢI TRÌNH Ý KIẾN PHẢN BIỆN XÃ HỘI"
SUBTITLE: Final = "Report on the social criticism taken in, and why the rest was not"


class FontsMissing(FileNotFoundError):
    """The fonts the report is set in are not installed (Debian: fonts-dejavu-core)."""


def fonts_present(font_dir: Path = DEFAULT_FONT_DIR) -> bool:
    return all((font_dir / name).is_file() for name in FONT_FILES.values())


def _day(value: date | datetime) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(VIETNAM).date()
    return f"{value:%d/%m/%Y}"


class _Report(FPDF):
    def __init__(self, report: DraftReport) -> None:
        super().__init__(format="A4")
        self.report = report

    def header(self) -> None:
        self.set_font("sans", "", 8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, self.report.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L")
        self.ln(2)
        self.set_text_color(0, 0, 0)

    def paragraph(
        self, size: float, body: str, style: str = "", family: str = "serif", gap: float = 1
    ) -> None:
        """A paragraph, wrapped to the page's width, and ``gap`` mm after it."""
        self.set_font(family, style, size)
        self.multi_cell(0, size * 0.5, body, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(gap)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("sans", "", 8)
        self.cell(0, 5, f"Trang {self.page_no()}/{{nb}} / Page {self.page_no()}/{{nb}}", align="C")


def render(report: DraftReport, font_dir: Path = DEFAULT_FONT_DIR) -> bytes:
    """The report as PDF bytes; :class:`FontsMissing` if its fonts are not installed."""
    if not fonts_present(font_dir):
        raise FontsMissing(
            f"the report's fonts are not in {font_dir}: install Debian's fonts-dejavu-core"
        )
    pdf = _Report(report)
    for (family, style), name in FONT_FILES.items():
        pdf.add_font(family, style, str(font_dir / name))
    pdf.set_title(f"{TITLE}: {report.title}, phiên bản {report.version}")
    pdf.set_lang("vi")
    pdf.set_author(report.agency.name or report.agency.id)
    pdf.set_creator("supervision disclosure")
    # Fixed, so that the same report gives the same bytes.
    pdf.set_creation_date(report.received_at)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    text = pdf.paragraph

    text(14, TITLE, "B", "sans", 0)
    text(10, SUBTITLE, "I", gap=3)
    text(12, report.title, "B")
    window = report.window
    facts = [
        f"Loại văn bản / Type: {report.draft_type_label}",
        f"Cơ quan chủ trì soạn thảo / Drafting agency: {report.agency.name or report.agency.id}",
        f"Cơ quan ban hành / Issuing authority: {report.issuing_authority}",
        f"Phiên bản / Version: {report.version}, Mặt trận nhận ngày / received by the Front on"
        f" {_day(report.received_at)}",
        f"Thời gian phản biện / Time to criticise: {window.explanation}",
    ]
    if window.sent_late:
        facts.append("GỬI MẶT TRẬN MUỘN / SENT TO THE FRONT LATE")
    if report.sent_to_authority is not None:
        sent = report.sent_to_authority
        facts.append(
            f"Đã trình ngày / Submitted on {_day(sent.sent_on)}"
            + (
                ": văn bản trình khác phiên bản này / the text submitted differs from this version"
                if sent.changed_without_new_version
                else ""
            )
        )
    for fact in facts:
        text(10, fact, gap=0.5)
    pdf.ln(3)

    t = report.totals
    text(11, "Tổng hợp / Summary", "B", "sans")
    text(
        10,
        f"{t.critiques} văn bản phản biện, {t.points} ý kiến: {t.accepted} tiếp thu,"
        f" {t.partly_accepted} tiếp thu một phần, {t.not_accepted} không tiếp thu,"
        f" {t.unanswered} chưa trả lời; {t.answered_late} trả lời quá hạn. / {t.critiques}"
        f" critiques, {t.points} points: {t.accepted} accepted, {t.partly_accepted} partly"
        f" accepted, {t.not_accepted} not accepted, {t.unanswered} unanswered;"
        f" {t.answered_late} answered late.",
        gap=3,
    )

    text(11, "Ý kiến theo từng điều, khoản / Points, part by part", "B", "sans")
    if not report.parts:
        text(10, "Chưa có ý kiến nào được công bố. / No critique is disclosed yet.")
    for part in report.parts:
        text(11, part.citation, "B", gap=0.5)
        if part.text:
            text(9.5, part.text, "I", gap=0.5)
        if part.next_change:
            label = label_of(TEXT_CHANGE, part.next_change)
            text(9, f"{label} ở phiên bản {report.next_version} / in version {report.next_version}")
        for point in part.points:
            _point(pdf, point)
        pdf.ln(2)

    if report.next_version is not None:
        text(
            11,
            f"Tiếp thu ở phiên bản {report.next_version} / Taken in by version"
            f" {report.next_version}",
            "B",
            "sans",
        )
        changes = ", ".join(
            f"{c.part_id} ({label_of(TEXT_CHANGE, c.change.value)})" for c in report.changes
        )
        text(10, f"Thay đổi / Changes: {changes or 'không có / none'}")
        unchanged = "; ".join(
            f"{a.organisation}, điểm {a.point_number} / point {a.point_number}"
            for a in report.accepted_unchanged
        )
        text(10, f"Đã tiếp thu nhưng không sửa / Accepted, yet unchanged: {unchanged or '—'}")
        unasked = ", ".join(report.changed_unasked)
        text(10, f"Sửa đổi không có ý kiến đề nghị / Changed, unasked: {unasked or '—'}")
    return bytes(pdf.output())


def _point(pdf: _Report, point: ReportPoint) -> None:
    text = pdf.paragraph
    late = " (trả lời quá hạn / answered late)" if point.answered_late else ""
    taken = " — đã sửa ở phiên bản sau / changed in the next version" if point.taken_in else ""
    text(
        10,
        f"{point.organisation}, điểm {point.point_number} / point {point.point_number}:"
        f" {point.text}",
        gap=0.3,
    )
    text(10, f"{point.disposition_label}{late}{taken}", "B", gap=0.3)
    if point.explanation:
        text(10, f"Giải trình / Explanation: {point.explanation}", gap=0.3)
    pdf.ln(1)
