"""A page as a PDF (the committee's monthly report): WeasyPrint lays out the page's own
HTML with its print stylesheet (media ``print``), so the PDF is what the browser prints,
Chinese set in the Noto CJK fonts through Debian's pango. Scripts do not run: the charts
are left out, and the tables beside them carry every figure.

``static/pdf.css`` is added for what WeasyPrint lays out differently from a browser.
Only the app's own stylesheets are read (``/static/<file>``, from the package); nothing
else is fetched, so a page can never make the server request another address.
"""

from __future__ import annotations

import logging
import mimetypes
from typing import Any, Final
from urllib.parse import urlsplit

from api.web.app import STATIC_DIR

__all__ = ["pdf_of"]

# Where the page's links resolve: a name that is never looked up (RFC 2606 ".invalid").
_BASE: Final = "http://estatewatch.invalid/"


def _fetcher() -> Any:
    # WeasyPrint is imported when a PDF is asked for, not when the API starts (it loads
    # pango and the fonts).
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StaticOnly(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: object = None) -> Any:
            parts = urlsplit(url)
            name = parts.path.removeprefix("/static/")
            path = STATIC_DIR / name
            if not (
                url.startswith(_BASE)
                and parts.path.startswith("/static/")
                and "/" not in name
                and path.is_file()
            ):
                raise ValueError(f"a PDF reads only the app's stylesheets, not {url}")
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": kind})

    return StaticOnly()


def pdf_of(html: str) -> bytes:
    """The PDF of a rendered page (blocking: call it in a thread)."""
    from PIL import ImageFile
    from weasyprint import CSS, HTML

    # Importing WeasyPrint turns on Pillow's process-wide LOAD_TRUNCATED_IMAGES; the photo
    # uploads this process also takes must still refuse a damaged JPEG (maintenance.images).
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    # Its warnings name screen CSS it skips (media queries by width, overflow): known,
    # and no news on every PDF.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    page = HTML(string=html, base_url=_BASE, url_fetcher=_fetcher())
    pdf: bytes = page.write_pdf(stylesheets=[CSS(filename=STATIC_DIR / "pdf.css")])
    return pdf
