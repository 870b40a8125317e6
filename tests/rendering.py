"""Rasterising what the service draws, with pip-installed tools only: fpdf2 lays an SVG on a PDF page of
its size and pypdfium2 (PDFium) renders PDF pages to pictures."""

import io
import xml.etree.ElementTree as ET

import pypdfium2
from fpdf import FPDF
from PIL.Image import Image

from app.services.handout_pdf import FAMILY, add_fonts


def pdf_page_png(pdf: bytes, index: int = 0, scale: float = 1.0) -> Image:
    return pypdfium2.PdfDocument(pdf)[index].render(scale=scale).to_pil().convert("RGB")


def svg_to_png(svg: bytes, scale: float = 1.0) -> Image:
    """The SVG at its own size (1 user unit = 1 point at scale 1), its text in the handout's font."""
    root = ET.fromstring(svg)
    width, height = float(root.get("width", 0)), float(root.get("height", 0))
    pdf = FPDF(unit="pt", format=(width, height))
    add_fonts(pdf)
    pdf.set_font(FAMILY)
    pdf.add_page()
    pdf.image(io.BytesIO(svg), x=0, y=0, w=width, h=height)
    return pdf_page_png(bytes(pdf.output()), scale=scale)
