"""The course site (``make book``) in a real browser: every page, its math, its figures, its links.

The site is served over loopback (``http.server`` on 127.0.0.1) and every HTML page is opened in
headless Chromium (see ``conftest.py``). For each page:

- it loads (HTTP 200, no JavaScript error, nothing it asks for is missing);
- the math is typeset: every ``.math`` element holds a MathJax ``mjx-container``, MathJax reported
  no TeX error, and no raw ``$...$`` or ``\\(...\\)`` is left in the text outside code;
- every ``<img>`` loaded (``naturalWidth > 0``);
- every internal link points at a file of the site, and at an ``id`` in it when it has a ``#``;
- no request leaves 127.0.0.1: every other request is aborted and recorded, and the test fails;
  nor does the HTML name a script, style sheet, image or frame on another host (a CDN).

The site is ``$SPARSITY_BOOK`` (a built ``html`` folder) if set, else ``build/book/html``, built first
with ``tools/book.py`` (incremental: quick when ``make book`` just ran). Screenshots of the home page
and of notebook 00's page land in ``runs/browser/`` (``book_home.png``, ``book_notebook.png``).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_PAGE = "notebooks/00_masks_and_magnitude_pruning.html"
MATH_TIMEOUT_MS = 60_000

# Wait for MathJax (if the page loads it) to finish typesetting; then describe the page.
PAGE_REPORT_JS = r"""async () => {
    if (window.MathJax?.startup?.promise) { await window.MathJax.startup.promise; }
    const skip = 'script, style, pre, code, textarea, kbd, mjx-container, .highlight';
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const rawMath = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (node.parentElement?.closest(skip)) continue;
        const text = node.textContent;
        if (/\$[^$\s][^$]*\$|\\\(|\\\[|\\begin\{/.test(text)) rawMath.push(text.trim().slice(0, 80));
    }
    const maths = Array.from(document.querySelectorAll('.math'));
    return {
        title: document.title,
        mathjaxLoaded: !!window.MathJax?.startup,
        math: maths.length,
        untypeset: maths.filter(m => !m.querySelector('mjx-container')).map(
            m => m.textContent.trim().slice(0, 60)),
        texErrors: Array.from(window.MathJax?.startup?.document?.math ?? [])
            .filter(m => m.typesetRoot?.querySelector?.('mjx-merror'))
            .map(m => ({tex: m.math, error: m.typesetRoot.querySelector('mjx-merror')
                .getAttribute('data-mjx-error') || ''})),
        errorNodes: document.querySelectorAll('mjx-merror').length,
        rawMath: rawMath,
        links: Array.from(document.querySelectorAll('a[href]'), a => a.href),
    };
}"""

# Every image, made to load now (not lazily), then whether it did.
IMAGES_JS = """async () => {
    const images = Array.from(document.images);
    for (const img of images) { img.loading = 'eager'; }
    await Promise.all(images.map(img => img.complete ? null :
        new Promise(done => { img.onload = img.onerror = done; })));
    return images.map(img => ({src: img.getAttribute('src'), ok: img.naturalWidth > 0}));
}"""


def book_html() -> Path:
    """The built site: ``$SPARSITY_BOOK``, else ``build/book/html`` after an (incremental) build."""
    if os.environ.get("SPARSITY_BOOK"):
        html = Path(os.environ["SPARSITY_BOOK"])
        if not (html / "index.html").is_file():
            pytest.fail(f"$SPARSITY_BOOK={html} holds no index.html: run `make book` first")
        return html
    build = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "book.py")], capture_output=True, text=True
    )
    if build.returncode != 0:
        pytest.fail(f"tools/book.py failed:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}")
    return ROOT / "build" / "book" / "html"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without writing a log line per request."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[str, Path]]:
    """``(base URL, html folder)`` of the built site, served on a free port of 127.0.0.1."""
    html = book_html()
    handler = functools.partial(QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", html
    finally:
        server.shutdown()
        server.server_close()


def site_pages(html: Path) -> list[str]:
    """Every HTML page of the site, relative to it (the theme's templates in ``_static`` left out)."""
    return sorted(
        str(p.relative_to(html))
        for p in html.rglob("*.html")
        if not any(part.startswith("_") for part in p.relative_to(html).parts)
    )


@functools.cache
def ids_in(path: Path) -> frozenset[str]:
    """The ``id`` attributes of an HTML file: the targets a ``#fragment`` link may point at."""
    return frozenset(re.findall(r'\sid="([^"]+)"', path.read_text(errors="replace")))


def broken_links(links: list[str], base: str, html: Path) -> list[str]:
    """The links of a page that point into the site at a missing file or a missing ``#id``."""
    broken = []
    for url in links:
        if not url.startswith(base):
            continue  # outside the site: a link a reader may follow, never loaded by the test
        parts = urlsplit(url)
        target = html / unquote(parts.path[len(urlsplit(base).path) :])
        if url.endswith("/") or target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            broken.append(url)
        elif (
            parts.fragment
            and target.suffix == ".html"
            and unquote(parts.fragment) not in ids_in(target)
        ):
            broken.append(url)
    return broken


# A script, style sheet, image or frame the page would load from another host (a CDN, say).
OUTSIDE_RESOURCE = re.compile(
    r"<(?:script|link|img|iframe|source)\b[^>]*?\s(?:src|href)=[\"']((?:https?:)?//[^\"']+)", re.I
)


def outside_resources(path: Path) -> list[str]:
    """Resources a page's HTML asks for from another host, loaded or not (links to read are fine)."""
    return OUTSIDE_RESOURCE.findall(path.read_text(errors="replace"))


def content_problems(page: Page, name: str) -> list[str]:
    """What the syllabus and the tracks must show: the dependency graph, and 3 tracks of 5 weeks."""
    if name == "syllabus.html" and page.locator("img.dependency-graph").count() != 1:
        return ["the syllabus shows no dependency graph (img.dependency-graph)"]
    if name == "tracks.html":
        weeks = page.locator("section section h3").all_text_contents()
        if sum(w.startswith("Week") for w in weeks) != 15:
            return [f"the tracks page should show 3 tracks of 5 weeks, it shows: {weeks}"]
    return []


def open_offline(page: Page, base: str) -> tuple[list[str], list[str], list[str]]:
    """Abort and record every request not to ``base``; record failed requests and page errors."""
    outside: list[str] = []
    failed: list[str] = []
    errors: list[str] = []

    def route(route: Route) -> None:
        url = route.request.url
        if url.startswith(base) or url.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "response",
        lambda response: (
            failed.append(f"{response.status} {response.url}") if response.status >= 400 else None
        ),
    )
    page.on(
        "requestfailed",
        lambda request: (
            None if not request.url.startswith(base) else failed.append(f"failed {request.url}")
        ),
    )
    return outside, failed, errors


def test_every_page_of_the_book(
    browser: Browser, site: tuple[str, Path], screenshots: Path
) -> None:
    """Each page loads offline, its math is typeset, its images load and its links resolve."""
    base, html = site
    pages = site_pages(html)
    assert "index.html" in pages and NOTEBOOK_PAGE in pages, f"pages of the site: {pages}"
    assert any(p.startswith("parts/") for p in pages), "no part pages"
    for name in ("syllabus.html", "tracks.html", "gallery.html", "running.html"):
        assert name in pages, f"the site has no {name}"
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    problems: dict[str, list[str]] = {}
    math_pages = 0
    try:
        page = context.new_page()
        outside, failed, errors = open_offline(page, base)
        for name in pages:
            found: list[str] = []
            first_outside, first_failed, first_error = len(outside), len(failed), len(errors)
            response = page.goto(base + name, wait_until="load")
            if response is None or response.status != 200:
                found.append(f"HTTP {response.status if response else 'no response'}")
            report = page.evaluate(PAGE_REPORT_JS)
            images = page.evaluate(IMAGES_JS)
            if report["math"]:
                math_pages += 1
                if not report["mathjaxLoaded"]:
                    found.append(f"{report['math']} math elements but MathJax did not load")
            found += [f"math not typeset: {m!r}" for m in report["untypeset"][:5]]
            found += [f"TeX error in {e['tex']!r}: {e['error']}" for e in report["texErrors"][:5]]
            if report["errorNodes"] and not report["texErrors"]:
                found.append(f"{report['errorNodes']} MathJax error boxes on the page")
            found += [f"raw math in the text: {t!r}" for t in report["rawMath"][:5]]
            found += [f"image did not load: {i['src']}" for i in images if not i["ok"]]
            found += [f"broken link: {u}" for u in broken_links(report["links"], base, html)]
            found += [f"request left the machine: {u}" for u in outside[first_outside:]]
            found += [f"request failed: {u}" for u in failed[first_failed:]]
            found += [f"JavaScript error: {e}" for e in errors[first_error:]]
            found += content_problems(page, name)
            found += [f"refers to an outside resource: {u}" for u in outside_resources(html / name)]
            if name == "index.html":
                page.screenshot(path=screenshots / "book_home.png", full_page=True)
            if name == NOTEBOOK_PAGE:
                page.evaluate(
                    "document.getElementById('the-idea').scrollIntoView(); scrollBy(0, -80)"
                )
                page.screenshot(path=screenshots / "book_notebook.png")
            if found:
                problems[name] = found
    finally:
        context.close()
    assert not problems, "\n".join(
        f"{name}:\n  " + "\n  ".join(found) for name, found in problems.items()
    )
    assert math_pages > 0, "no page has math: the notebooks' formulas did not reach the site"
