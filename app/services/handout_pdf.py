"""Lay a programme revision out as a printable PDF handout (fpdf2: pure Python, Unicode TTF fonts, SVG).

Pure: a Handout in, PDF bytes out. Every page has the clinic and the patient at the top and the emergency
warning at the bottom (the page footer, so no page can be printed without it). Each exercise of the current
phase is one block (its name, picture, dose, steps, cautions, stop signs and the physio's note) that
moves whole to the next page when it does not fit; only a block taller than a page is split.

The font is Atkinson Hyperlegible (Braille Institute, SIL Open Font License), installed from PyPI by
``fontpkg-atkinson-hyperlegible``: made to be read by people with low vision, it covers Spanish and the
other Latin-script languages.
"""

import io
from collections.abc import Callable
from functools import partial

from fontpkg_atkinson_hyperlegible import ROOT as FONT_ROOT
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from app.models import dose_words
from app.models.handout import Handout, Paper
from app.models.print_text import HANDOUT, SIDES, long_date, text
from app.models.programme_view import ExerciseView, ItemView

# An exercise's picture as SVG bytes, or None: app.services.handouts.exercise_picture chooses it.
PictureSource = Callable[[ExerciseView], bytes | None]

FAMILY = "Atkinson Hyperlegible"  # the name SVG text asks for (app.services.chart_svg)
_FONT_FILES = {"": "Regular", "B": "Bold", "I": "Italic"}
_MARGIN = 16.0  # mm, left, right and top
_BODY = 11.5  # pt: patient leaflets are set at 11–12 pt or larger
_LINE = 5.4  # mm per body line
_WARNING_SIZE = 9.5
_WARNING_LINE = 4.4
_PICTURE_WIDTH = 56.0  # mm
_HEAD = 80.0  # mm: room for an exercise's name, dose lines and picture
_RED = (176, 0, 32)
_GREY = (90, 90, 90)
_BLACK = (0, 0, 0)
_PAGE_NUMBER_ALIAS = "{nb}"
_BULLET = "•"


def add_fonts(pdf: FPDF) -> None:
    for style, name in _FONT_FILES.items():
        pdf.add_font(FAMILY, style, FONT_ROOT / "files" / f"AtkinsonHyperlegible-{name}.ttf")


class _HandoutPdf(FPDF):
    def __init__(self, handout: Handout, paper: Paper) -> None:
        super().__init__(orientation="portrait", unit="mm", format=paper)
        self.handout = handout
        self.locale = handout.view.locale
        self.paper: Paper = paper
        self.scratch: FPDF | None = None
        add_fonts(self)
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.alias_nb_pages(_PAGE_NUMBER_ALIAS)
        self.set_title(handout.view.title)
        self.set_lang(self.locale)
        self.set_creator("hep")
        self.warning = handout.view.safety.emergency_warning
        self.add_page()
        # Measured on a page (fpdf2 wraps text only there): the body stops above the warning.
        self.set_auto_page_break(True, margin=self._footer_height() + 4)

    def block(self, draw: Callable[[FPDF], None]) -> None:
        """Draw a block whole on this page, else whole at the top of the next. A block taller than a page
        flows on over the next, starting here when there is room for its head (name, dose, picture)."""
        height = self._measure(draw)
        room = self.page_break_trigger - self.y
        fits_a_page = self.content_top + height <= self.page_break_trigger
        if height > room and self.y > self.content_top and (fits_a_page or room < _HEAD):
            self.add_page()
        draw(self)

    def _measure(self, draw: Callable[[FPDF], None]) -> float:
        """The block's height, drawn on a scratch page with no page breaks (fpdf2's own offset_rendering
        copies the whole document for each block: half the time of a handout)."""
        if self.scratch is None:
            self.scratch = FPDF(orientation="portrait", unit="mm", format=self.paper)
            add_fonts(self.scratch)
            self.scratch.set_margins(_MARGIN, _MARGIN, _MARGIN)
            self.scratch.set_auto_page_break(False)
            self.scratch.add_page()
            self.scratch.set_font(FAMILY, "", _BODY)
        self.scratch.set_y(self.content_top)
        draw(self.scratch)
        return self.scratch.y - self.content_top

    # --- on every page ------------------------------------------------------------------------

    def header(self) -> None:
        self.set_font(FAMILY, "B", 10)
        self.set_text_color(*_GREY)
        half = self.epw / 2
        self.cell(half, 5, self.handout.clinic_name, new_x=XPos.RIGHT, new_y=YPos.TOP)
        self.cell(half, 5, self.handout.patient_name, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(*_GREY)
        self.line(self.l_margin, self.y + 1, self.w - self.r_margin, self.y + 1)
        self.ln(5)
        self.set_text_color(*_BLACK)
        self.content_top = self.y

    def _warning_lines(self) -> list[tuple[str, str]]:
        """The warning as (style, text): the lead line and what to do in bold, the signs as bullets."""
        lead, *signs, action = self.warning
        return [("B", lead), *(("", f"{_BULLET} {sign}") for sign in signs), ("B", action)]

    def _warning_height(self) -> float:
        lines = 0
        for style, line in self._warning_lines():
            self.set_font(FAMILY, style, _WARNING_SIZE)
            wrapped = self.multi_cell(
                self.epw - 6, _WARNING_LINE, line, align="L", dry_run=True, output="LINES"
            )
            assert isinstance(wrapped, list)  # output="LINES": the lines the text wraps to
            lines += len(wrapped)
        return lines * _WARNING_LINE + 6

    def _footer_height(self) -> float:
        """The warning box and the page number under it, from the bottom margin up."""
        return _MARGIN + 6 + self._warning_height()

    def footer(self) -> None:
        height = self._warning_height()
        top = self.h - self._footer_height()
        self.set_draw_color(*_RED)
        self.set_line_width(0.8)
        self.rect(self.l_margin, top, self.epw, height)
        self.set_line_width(0.2)
        self.set_xy(self.l_margin + 3, top + 3)
        self.set_text_color(*_RED)
        for style, line in self._warning_lines():
            self.set_font(FAMILY, style, _WARNING_SIZE)
            self.multi_cell(self.epw - 6, _WARNING_LINE, line, align="L", new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.set_text_color(*_GREY)
        self.set_font(FAMILY, "", 9)
        self.set_xy(self.l_margin, self.h - _MARGIN - 4)
        page = text(HANDOUT, "page", self.locale, page=self.page_no(), pages=_PAGE_NUMBER_ALIAS)
        self.cell(self.epw, 4, page, align="C")
        self.set_text_color(*_BLACK)


def render(handout: Handout, paper: Paper, picture: PictureSource) -> bytes:
    """The handout as PDF bytes, on A4 or US Letter paper."""
    pdf = _HandoutPdf(handout, paper)
    _title(pdf, handout)
    view = handout.view
    items = view.phases[view.current_phase].items if view.phases else []
    if not items:
        _paragraph(pdf, text(HANDOUT, "no_items", view.locale))
    for number, item in enumerate(items, start=1):
        svg = picture(item.exercise) if item.stopped is None else None
        pdf.block(partial(_item, number=number, item=item, svg=svg, locale=view.locale))
    return bytes(pdf.output())


def _title(pdf: FPDF, handout: Handout) -> None:
    view, locale = handout.view, handout.view.locale
    pdf.set_font(FAMILY, "B", 20)
    pdf.multi_cell(0, 9, view.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "", _BODY)
    _paragraph(pdf, text(HANDOUT, "prepared_for", locale, name=handout.patient_name))
    dates = [text(HANDOUT, "starts", locale, date=long_date(view.start_date, locale))]
    if view.end_date is not None:
        dates.append(text(HANDOUT, "ends", locale, date=long_date(view.end_date, locale)))
    _paragraph(pdf, " · ".join(dates))
    pdf.set_text_color(*_GREY)
    version = text(
        HANDOUT, "version", locale, number=view.revision, date=long_date(handout.revision_date, locale)
    )
    printed = text(HANDOUT, "printed", locale, date=long_date(handout.printed_on, locale))
    _paragraph(pdf, f"{version} · {printed}")
    pdf.set_text_color(*_BLACK)
    if view.safety_hold is not None:
        pdf.ln(2)
        _boxed(pdf, view.safety_hold.instruction)
    if view.phases:
        phase = view.phases[view.current_phase]
        pdf.ln(3)
        pdf.set_font(FAMILY, "B", 15)
        pdf.multi_cell(
            0, 7, text(HANDOUT, "phase", locale, name=phase.name), new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
        if phase.goal:
            _paragraph(pdf, text(HANDOUT, "goal", locale, goal=phase.goal))
    pdf.ln(1)
    _paragraph(pdf, view.safety.stop_rules_intro)
    pdf.ln(1)


def _paragraph(doc: FPDF, line: str, style: str = "", indent: float = 0, width: float | None = None) -> None:
    doc.set_font(FAMILY, style, _BODY)
    doc.set_x(doc.l_margin + indent)
    wide = (doc.epw if width is None else width) - indent
    doc.multi_cell(wide, _LINE, line, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _boxed(doc: FPDF, lines: list[str]) -> None:
    """Lines in bold red: a notice the patient must not miss (a safety hold, a stopped exercise)."""
    doc.set_text_color(*_RED)
    for line in lines:
        _paragraph(doc, line, "B")
    doc.set_text_color(*_BLACK)


def _section(doc: FPDF, heading: str, lines: list[str], numbered: bool = False) -> None:
    if not lines:
        return
    doc.ln(1)
    _paragraph(doc, heading, "B")
    for index, line in enumerate(lines, start=1):
        _paragraph(doc, f"{index}. {line}" if numbered else f"{_BULLET} {line}", indent=4)


def _dose_lines(item: ItemView, locale: str) -> list[str]:
    lines = [item.dose_text]
    if item.side != "both":
        lines.append(text(SIDES, item.side, locale))
    if item.rest_s:
        lines.append(text(HANDOUT, "rest", locale, rest=dose_words.seconds_words(item.rest_s, locale)))
    if item.load:
        lines.append(text(HANDOUT, "load", locale, load=item.load))
    return lines


def _item(doc: FPDF, number: int, item: ItemView, svg: bytes | None, locale: str) -> None:
    """One exercise: everything the patient needs to do it, or only that it is stopped."""
    exercise = item.exercise
    doc.ln(2)
    doc.set_draw_color(*_GREY)
    doc.cell(0, 2, "", border="T", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.set_font(FAMILY, "B", 15)
    doc.multi_cell(0, 7, f"{number}. {exercise.name}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if item.stopped is not None:
        _boxed(doc, item.stopped.message)
        return
    # The picture at the right, beside the dose and the summary.
    top, width, bottom = doc.y, doc.epw, doc.y
    if svg is not None:
        x = doc.w - doc.r_margin - _PICTURE_WIDTH
        shown = doc.image(io.BytesIO(svg), x=x, y=top + 1, w=_PICTURE_WIDTH, alt_text=exercise.name)
        width, bottom = doc.epw - _PICTURE_WIDTH - 4, top + 1 + shown.rendered_height
    for line in _dose_lines(item, locale):
        _paragraph(doc, line, "B", width=width)
    _paragraph(doc, exercise.summary, width=width)
    doc.set_y(max(doc.y, bottom))
    _section(doc, text(HANDOUT, "steps", locale), exercise.steps, numbered=True)
    _section(doc, text(HANDOUT, "cautions", locale), exercise.cautions)
    _section(doc, text(HANDOUT, "stop_rules", locale), [rule.text for rule in exercise.stop_rules])
    if item.notes:
        _section(doc, text(HANDOUT, "notes", locale), [item.notes])
