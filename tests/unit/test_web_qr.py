"""The QR sheet's codes: each SVG, drawn back into pixels, decodes to its place's link."""

from __future__ import annotations

import re

import numpy as np
import zxingcpp

from api.web.qr import qr_svg, report_url

SEGMENT = re.compile(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?")


def decode_svg(svg: str) -> list[str]:
    """Rasterise segno's one-path SVG (moves and horizontal runs) and read it with zxing."""
    size = int(re.search(r'viewBox="0 0 (\d+) (\d+)"', svg)[1])  # type: ignore[index]
    path = re.search(r' d="([^"]+)"', svg)[1]  # type: ignore[index]
    dark = np.zeros((size, size), dtype=bool)
    x = y = 0.0
    for command, first, second in SEGMENT.findall(path):
        if command == "M":
            x, y = float(first), float(second)
        elif command == "m":
            x, y = x + float(first), y + float(second)
        else:  # a run of dark modules on the row whose middle is y
            run = float(first)
            dark[int(y), int(x) : int(x + run)] = True
            x += run
    pixels = np.where(np.kron(dark, np.ones((4, 4), dtype=bool)), 0, 255).astype(np.uint8)
    return [result.text for result in zxingcpp.read_barcodes(pixels)]


def test_a_car_code_opens_the_report_form_with_the_place_filled_in() -> None:
    url = report_url("https://estate.example/", "demo", "B1", "elev-01")
    assert url == "https://estate.example/report?site=demo&building=B1&asset=elev-01"
    assert decode_svg(str(qr_svg(url))) == [url]


def test_a_building_code_names_no_car_and_survives_chinese_names() -> None:
    url = report_url("http://127.0.0.1:8000", "demo", "1号楼")
    assert url == "http://127.0.0.1:8000/report?site=demo&building=1%E5%8F%B7%E6%A5%BC"
    assert decode_svg(str(qr_svg(url))) == [url]


def test_the_svg_scales_to_its_box_and_carries_no_text_of_the_link() -> None:
    svg = str(qr_svg("https://estate.example/report?site=demo&building=<b>"))
    assert svg.startswith('<svg viewBox="0 0 ')
    assert "width=" not in svg  # the print stylesheet sizes it
    assert "height=" not in svg
    assert "<b>" not in svg
    assert "estate.example" not in svg
