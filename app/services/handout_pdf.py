"""Lay a programme revision out as a printable PDF handout (fpdf2: pure Python, Unicode TTF fonts, SVG).

Pure: a Handout in, PDF bytes out. Every page has the clinic and the patient at the top and the emergency
warning at the bottom (the page footer, so no page can be printed without it). Each exercise of the current
phase is one block (its name, dose, picture, summary, steps, cautions, stop signs and the physio's note)
that moves whole to the next page when it does not fit; only a block taller than a page is split.

Layout, then paint: text is wrapped here into lines (a word's width from the font, once), so a block's
height is known before anything is drawn, and the lines are painted as cells. fpdf2's own `multi_cell`
re-measures a paragraph for every character it adds (quadratic in its length): measuring blocks with it
took 7 times as long (docs/handouts-and-charts.md).

The font is Atkinson Hyperlegible (Braille Institute, SIL Open Font License), installed from PyPI by
``fontpkg-atkinson-hyperlegible``: made to be read by people with low vision, it covers Spanish and the
other Latin-script languages.
"""

import io
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
_PICTURE_HEIGHT = 60.0  # mm at most
_HEAD = 80.0  # mm: room for an exercise's name, dose lines and picture
_INDENT = 4.0  # mm: list items
Colour = tuple[int, int, int]
_RED: Colour = (176, 0, 32)
_GREY: Colour = (90, 90, 90)
_BLACK: Colour = (0, 0, 0)
_PAGE_NUMBER_ALIAS = "{nb}"
_BULLET = "•"


def add_fonts(pdf: FPDF) -> None:
    for style, name in _FONT_FILES.items():
        pdf.add_font(FAMILY, style, FONT_ROOT / "files" / f"AtkinsonHyperlegible-{name}.ttf")


@dataclass(frozen=True, slots=True)
class _Line:
    """One line of text, wrapped, with everything needed to paint it."""

    text: str
    style: str = ""
    size: float = _BODY
    height: float = _LINE
    indent: float = 0
    colour: Colour = _BLACK


@dataclass(frozen=True, slots=True)
class _Gap:
    height: float
    rule: bool = False  # a thin line across the page at the top of the gap


@dataclass(frozen=True, slots=True)
class _Picture:
    svg: bytes
    width: float
    height: float
    alt: str


_Piece = _Line | _Gap


def _picture_size(svg: bytes) -> tuple[float, float]:
    """The picture's printed width and height in mm: as wide as allowed, its proportions kept."""
    root = ET.fromstring(svg)
    view_box = (root.get("viewBox") or "").replace(",", " ").split()
    width, height = (
        (float(view_box[2]), float(view_box[3]))
        if len(view_box) == 4
        else (
            float(root.get("width", "4").removesuffix("px")),
            float(root.get("height", "3").removesuffix("px")),
        )
    )
    ratio = height / width if width > 0 and height > 0 else 0.75
    printed = min(_PICTURE_WIDTH, _PICTURE_HEIGHT / ratio)
    return printed, printed * ratio


class _HandoutPdf(FPDF):
    def __init__(self, handout: Handout, paper: Paper) -> None:
        super().__init__(orientation="portrait", unit="mm", format=paper)
        self.handout = handout
        self.locale = handout.view.locale
        self.widths: dict[tuple[str, float, str], float] = {}
        add_fonts(self)
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.alias_nb_pages(_PAGE_NUMBER_ALIAS)
        self.set_title(handout.view.title)
        self.set_lang(self.locale)
        self.set_creator("hep")
        lead, *signs, action = handout.view.safety.emergency_warning
        warning = [("B", lead), *(("", f"{_BULLET} {sign}") for sign in signs), ("B", action)]
        self.warning = [
            line
            for style, words in warning
            for line in self.lines(words, self.epw - 6, style, _WARNING_SIZE, _WARNING_LINE, colour=_RED)
        ]
        # The body stops above the warning box and the page number under it.
        self.footer_height = _MARGIN + 6 + self._warning_height()
        self.set_auto_page_break(True, margin=self.footer_height + 4)
        self.add_page()

    # --- layout ---------------------------------------------------------------------------------

    def lines(
        self,
        words: str,
        width: float,
        style: str = "",
        size: float = _BODY,
        height: float = _LINE,
        indent: float = 0,
        colour: Colour = _BLACK,
    ) -> list[_Line]:
        """``words`` wrapped to ``width`` (mm, the indent included) in the given style."""
        self.set_font(FAMILY, style, size)
        space, room = self._width(" "), width - indent
        wrapped: list[str] = []
        for paragraph in words.splitlines() or [""]:
            current: list[str] = []
            used = 0.0
            for word in paragraph.split():
                for piece in self._fitting(word, room):
                    needed = self._width(piece)
                    if current and used + space + needed > room:
                        wrapped.append(" ".join(current))
                        current, used = [], 0.0
                    used += needed + (space if current else 0)
                    current.append(piece)
            wrapped.append(" ".join(current))
        return [_Line(line, style, size, height, indent, colour) for line in wrapped]

    def _width(self, words: str) -> float:
        """The width of ``words`` in the current font, remembered: the same words recur all through a
        handout, and fpdf2 copies its text state for each measurement."""
        key = (self.font_style, self.font_size_pt, words)
        if key not in self.widths:
            self.widths[key] = self.get_string_width(words)
        return self.widths[key]

    def _fitting(self, word: str, room: float) -> list[str]:
        """A word wider than the line (a long web address in a note) cut into pieces that fit."""
        if self._width(word) <= room:
            return [word]
        pieces, current = [], ""
        for character in word:
            if current and self._width(current + character) > room:
                pieces.append(current)
                current = ""
            current += character
        return [*pieces, current]

    # --- painting -------------------------------------------------------------------------------

    def paint(self, pieces: Sequence[_Piece], width: float | None = None) -> None:
        for piece in pieces:
            if isinstance(piece, _Gap):
                if piece.rule:
                    self.set_draw_color(*_GREY)
                    self.cell(0, piece.height, "", border="T", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                else:
                    self.ln(piece.height)
                continue
            self.set_font(FAMILY, piece.style, piece.size)
            self.set_text_color(*piece.colour)
            self.set_x(self.l_margin + piece.indent)
            wide = (self.epw if width is None else width) - piece.indent
            self.cell(wide, piece.height, piece.text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(*_BLACK)

    def block(
        self,
        head: Sequence[_Piece],
        beside: Sequence[_Piece],
        picture: _Picture | None,
        rest: Sequence[_Piece],
    ) -> None:
        """An exercise's block; ``beside`` is painted at the picture's left. The block goes whole on this
        page, else whole at the top of the next; one taller than a page flows on over the next, starting
        here when there is room for its head."""
        height = sum(piece.height for piece in [*head, *rest])
        height += max(sum(piece.height for piece in beside), picture.height + 2 if picture else 0)
        room = self.page_break_trigger - self.y
        fits_a_page = self.content_top + height <= self.page_break_trigger
        if height > room and self.y > self.content_top and (fits_a_page or room < _HEAD):
            self.add_page()
        self.paint(head)
        if picture is None:
            self.paint(beside)
        else:
            top = self.y
            x = self.w - self.r_margin - picture.width
            self.image(io.BytesIO(picture.svg), x=x, y=top + 1, w=picture.width, alt_text=picture.alt)
            self.paint(beside, width=self.epw - picture.width - 4)
            self.set_y(max(self.y, top + picture.height + 2))
        self.paint(rest)

    # --- on every page --------------------------------------------------------------------------

    def _warning_height(self) -> float:
        return sum(line.height for line in self.warning) + 6

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

    def footer(self) -> None:
        top = self.h - self.footer_height
        self.set_draw_color(*_RED)
        self.set_line_width(0.8)
        self.rect(self.l_margin, top, self.epw, self._warning_height())
        self.set_line_width(0.2)
        self.set_xy(self.l_margin, top + 3)
        self.paint(
            [_Line(line.text, line.style, line.size, line.height, 3, line.colour) for line in self.warning]
        )
        self.set_font(FAMILY, "", 9)
        self.set_text_color(*_GREY)
        self.set_xy(self.l_margin, self.h - _MARGIN - 4)
        page = text(HANDOUT, "page", self.locale, page=self.page_no(), pages=_PAGE_NUMBER_ALIAS)
        self.cell(self.epw, 4, page, align="C")
        self.set_text_color(*_BLACK)


def render(handout: Handout, paper: Paper, picture: PictureSource) -> bytes:
    """The handout as PDF bytes, on A4 or US Letter paper."""
    pdf = _HandoutPdf(handout, paper)
    pdf.paint(_title(pdf, handout))
    view = handout.view
    items = view.phases[view.current_phase].items if view.phases else []
    if not items:
        pdf.paint(pdf.lines(text(HANDOUT, "no_items", view.locale), pdf.epw))
    for number, item in enumerate(items, start=1):
        svg = picture(item.exercise) if item.stopped is None else None
        _item(pdf, number, item, svg, view.locale)
    return bytes(pdf.output())


def _title(pdf: _HandoutPdf, handout: Handout) -> list[_Piece]:
    view, locale, width = handout.view, handout.view.locale, pdf.epw
    pieces: list[_Piece] = [
        *pdf.lines(view.title, width, "B", 20, 9),
        *pdf.lines(text(HANDOUT, "prepared_for", locale, name=handout.patient_name), width),
    ]
    dates = [text(HANDOUT, "starts", locale, date=long_date(view.start_date, locale))]
    if view.end_date is not None:
        dates.append(text(HANDOUT, "ends", locale, date=long_date(view.end_date, locale)))
    pieces += pdf.lines(" · ".join(dates), width)
    revision_date = long_date(handout.revision_date, locale)
    version = text(HANDOUT, "version", locale, number=view.revision, date=revision_date)
    printed = text(HANDOUT, "printed", locale, date=long_date(handout.printed_on, locale))
    pieces += pdf.lines(f"{version} · {printed}", width, colour=_GREY)
    if view.safety_hold is not None:
        pieces.append(_Gap(2))
        pieces += [
            line
            for words in view.safety_hold.instruction
            for line in pdf.lines(words, width, "B", colour=_RED)
        ]
    if view.phases:
        phase = view.phases[view.current_phase]
        pieces.append(_Gap(3))
        pieces += pdf.lines(text(HANDOUT, "phase", locale, name=phase.name), width, "B", 15, 7)
        if phase.goal:
            pieces += pdf.lines(text(HANDOUT, "goal", locale, goal=phase.goal), width)
    return [*pieces, _Gap(1), *pdf.lines(view.safety.stop_rules_intro, width), _Gap(1)]


def _dose_lines(item: ItemView, locale: str) -> list[str]:
    lines = [item.dose_text]
    if item.side != "both":
        lines.append(text(SIDES, item.side, locale))
    if item.rest_s:
        lines.append(text(HANDOUT, "rest", locale, rest=dose_words.seconds_words(item.rest_s, locale)))
    if item.load:
        lines.append(text(HANDOUT, "load", locale, load=item.load))
    return lines


def _section(pdf: _HandoutPdf, heading: str, entries: list[str], numbered: bool = False) -> list[_Piece]:
    if not entries:
        return []
    pieces: list[_Piece] = [_Gap(1), *pdf.lines(heading, pdf.epw, "B")]
    for index, entry in enumerate(entries, start=1):
        pieces += pdf.lines(
            f"{index}. {entry}" if numbered else f"{_BULLET} {entry}", pdf.epw, indent=_INDENT
        )
    return pieces


def _item(pdf: _HandoutPdf, number: int, item: ItemView, svg: bytes | None, locale: str) -> None:
    """One exercise: everything the patient needs to do it, or only that it is stopped."""
    exercise = item.exercise
    head: list[_Piece] = [
        _Gap(2),
        _Gap(2, rule=True),
        *pdf.lines(f"{number}. {exercise.name}", pdf.epw, "B", 15, 7),
    ]
    if item.stopped is not None:
        stopped = [
            line for words in item.stopped.message for line in pdf.lines(words, pdf.epw, "B", colour=_RED)
        ]
        pdf.block(head, stopped, None, [])
        return
    picture = None if svg is None else _Picture(svg, *_picture_size(svg), alt=exercise.name)
    width = pdf.epw if picture is None else pdf.epw - picture.width - 4
    beside = [line for words in _dose_lines(item, locale) for line in pdf.lines(words, width, "B")]
    beside += pdf.lines(exercise.summary, width)
    rest = [
        *_section(pdf, text(HANDOUT, "steps", locale), exercise.steps, numbered=True),
        *_section(pdf, text(HANDOUT, "cautions", locale), exercise.cautions),
        *_section(pdf, text(HANDOUT, "stop_rules", locale), [rule.text for rule in exercise.stop_rules]),
        *_section(pdf, text(HANDOUT, "notes", locale), [item.notes] if item.notes else []),
    ]
    pdf.block(head, beside, picture, rest)
