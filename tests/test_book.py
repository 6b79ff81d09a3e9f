"""The book builds with warnings as errors, and every chapter renders in a real browser.

``test_book_builds`` rebuilds every page (``--all``: ``-W`` on an unchanged ``_build``
re-reads nothing and so reports nothing) with the notebook execution cache kept, so only
chapters whose code changed are re-executed. The browser tests then open each page of
``_toc.yml`` in one headless Chromium (Playwright, ``support.offline_browser``: the network
cut, every request off the machine refused), wait until MathJax has typeset the page and the
saved widget views have been drawn, and check in the DOM that

* MathJax typeset the math (``mjx-container`` elements) and no raw TeX is left in the text,
* every ``<img>`` points at a non-empty image (a data URI or a file in ``_build/html``),
* the saved ipywidgets views rendered (``.jupyter-widgets`` elements) on pages that have some,
* every local link (``href``/``src``) resolves to a file, and its ``#fragment`` to an id,
* no script or stylesheet is loaded from the network,
* each chapter that is a notebook offers its executed notebook (.ipynb) for download.

A full-page screenshot of each page is saved under
``_build/screenshots/`` for a human to look at. Without Chromium (or Playwright) the browser
tests are skipped.
``test_checker_catches_broken_page`` makes sure the checks can fail.
"""

import base64
import io
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from support import PlaywrightTimeout, needs_browser, offline_browser

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
BIN = Path(sys.executable).parent
needs_chromium = needs_browser("browser checks skipped")

# Pages that must carry interactive widgets (their saved views must render).
WIDGET_PAGES = {"book/02-sigmoid-neuron", "book/08-toy-problems"}
# Raw TeX that must not survive typesetting (in text outside code, scripts and math output).
RAW_TEX = re.compile(r"\\frac|\$\$|\\begin\{|\\\(|\\\)|\\\[|\\\]|\\sigma|\\partial")
# A saved ipywidgets view, as the build writes it into the page.
WIDGET_VIEW = re.compile(r'type="application/vnd\.jupyter\.widget-view\+json"')
# How long a page may take to draw its saved widget views (ms); past it, check_page says
# which are missing.
WIDGET_WAIT = 30_000


def toc_pages():
    """Document names of the book, in _toc.yml order (root first)."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for e in entries or []:
            if "file" in e:
                pages.append(e["file"])
            walk(e.get("sections"))

    for part in toc.get("parts", [toc]):
        walk(part.get("chapters"))
    return [str(Path(p).with_suffix("")) for p in pages]


PAGES = toc_pages()


def is_notebook(page):
    """Whether a page is a notebook (a MyST markdown file with a kernel), not plain text.

    The root page and the references page are plain markdown: nothing is executed, so they
    have no .ipynb to offer.
    """
    source = ROOT / f"{page}.md"
    return source.is_file() and "kernelspec:" in source.read_text(encoding="utf-8")[:500]


# -- building: the session fixture `built_book` is in conftest.py (several files share it)

@pytest.mark.slow
@pytest.mark.serial  # it trains networks on both cores and its chapters assert timings
def test_book_builds(built_book):
    """jupyter-book build -W -n --keep-going succeeds: no warning, no cell error."""
    proc, seconds = built_book
    log = proc.stdout + proc.stderr
    warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    warnings = [w for w in warnings if "[IPKernelApp]" not in w]
    # The kernels' messaging layer now and then logs an uncaught exception in a ZMQ stream
    # callback (jupyter_client issues 771 and 950, intermittent, seen once here in ~10
    # builds). It is no cell error (those fail the build: raise_on_error) and no Sphinx
    # warning, so it is shown, not failed on.
    plumbing = [w for w in warnings if w.startswith("ERROR:tornado.general:")]
    warnings = [w for w in warnings if w not in plumbing]
    for w in plumbing:
        print(f"note, not a book problem: {w}")
    assert proc.returncode == 0, (
        f"the book failed to build ({seconds:.0f} s); warnings and errors:\n"
        + "\n".join(warnings[:40]) + f"\n--- end of log ---\n{log[-3000:]}")
    assert not warnings, "the build succeeded but logged:\n" + "\n".join(warnings)
    for page in PAGES:
        assert (HTML / f"{page}.html").is_file(), f"{page}.html was not built"
    print(f"book built in {seconds:.1f} s")


# -- reading pages -----------------------------------------------------------------------
class _Page(HTMLParser):
    """Collects ids, links, images, scripts and the visible text of an HTML page."""

    SKIP = {"script", "style", "pre", "code", "textarea", "mjx-container", "svg", "math"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.links, self.imgs, self.scripts, self.styles = set(), [], [], [], []
        self.text, self.classes, self._skip = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if a.get("name") and tag == "a":
            self.ids.add(a["name"])
        if a.get("class"):
            self.classes.append(a["class"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "img":
            self.imgs.append(a.get("src") or "")
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        if tag == "link" and a.get("href"):
            self.styles.append(a["href"])
        if tag in self.SKIP:
            self._skip.append(tag)

    def handle_endtag(self, tag):
        if self._skip and self._skip[-1] == tag:
            self._skip.pop()

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def parse(html):
    page = _Page()
    page.feed(html)
    return page


@pytest.fixture(scope="module")
def browser():
    """One headless chromium for every page (a page factory, see support.offline_browser)."""
    with offline_browser() as new_page:
        yield new_page


def render(browser, path, shot=None, widget_wait=WIDGET_WAIT):
    """The DOM of a local HTML file after its scripts ran (MathJax, widgets).

    Waits for as many ``.jupyter-widgets`` elements as the file has saved widget views (at
    most ``widget_wait`` ms, without failing: check_page counts them), then for MathJax 3's
    first typesetting (``MathJax.startup.promise``) where MathJax loaded. A full-page
    screenshot is saved to ``shot`` if given.
    """
    n_views = len(WIDGET_VIEW.findall(path.read_text(encoding="utf-8")))
    page = browser(path.as_uri())
    try:
        if n_views:
            try:
                page.wait_for_function(
                    "n => document.querySelectorAll('.jupyter-widgets').length >= n",
                    arg=n_views, timeout=widget_wait)
            except PlaywrightTimeout:
                pass
        # Until its script runs, window.MathJax is the page's configuration, with no startup:
        # then MathJax never loaded, and check_page finds no <mjx-container>. A typesetting
        # that fails or hangs is waited for no longer than the widgets.
        page.evaluate("""ms => window.MathJax && MathJax.startup && MathJax.startup.promise
            && Promise.race([MathJax.startup.promise.catch(() => null),
                             new Promise(done => setTimeout(done, ms))]).then(() => null)""",
                      widget_wait)
        dom = page.content()
        if shot:
            screenshot(page, shot)
    finally:
        page.close()
    return dom


def screenshot(page, out):
    """A full-page screenshot, long blank stretches cut out."""
    out.parent.mkdir(parents=True, exist_ok=True)
    png = page.screenshot(full_page=True)
    out.write_bytes(png)
    try:
        import numpy as np
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        return
    img = Image.open(io.BytesIO(png)).convert("RGB")
    ink = np.asarray(img.convert("L"))[:, 250:].min(axis=1) < 245
    rows, last, blank = [], 0, 0
    for y, has_ink in enumerate(ink):
        blank = 0 if has_ink else blank + 1
        if blank < 200:  # keep at most 200 blank rows in a row
            rows.append(y)
            last = y if has_ink else last
    rows = [y for y in rows if y <= last + 40]
    if len(rows) < img.height:  # re-encoding a tall page takes a second: only if cut
        Image.fromarray(np.asarray(img)[rows]).save(out)


def _image_ok(src, page_path, site):
    """Why the image `src` of page `page_path` would not load, or None."""
    if src.startswith("data:"):
        head, _, data = src.partition(",")
        raw = base64.b64decode(data) if head.endswith(";base64") else unquote(data).encode()
        return None if len(raw) > 100 else f"empty data URI image ({len(raw)} bytes)"
    parts = urlsplit(src)
    if parts.scheme or parts.netloc:
        return f"image loaded from the network: {src}"
    target = (page_path.parent / unquote(parts.path)).resolve()
    if not target.is_relative_to(site.resolve()):
        return f"image outside the site: {src}"
    if not target.is_file() or target.stat().st_size == 0:
        return f"missing or empty image: {src}"
    return None


def check_page(page_path, dom, site, widgets_required=False):
    """Every problem of one rendered page, as a list of messages (empty when fine)."""
    problems = []
    static = parse(page_path.read_text(encoding="utf-8"))
    rendered = parse(dom)
    # Math: the page source has math, so the DOM must have typeset it and left no raw TeX.
    has_math = any("math" in c.split() for c in static.classes)
    n_mjx = dom.count("<mjx-container")
    if has_math and n_mjx == 0:
        problems.append("math on the page but no <mjx-container>: MathJax did not typeset it")
    raw = sorted({m.group(0) for m in RAW_TEX.finditer(" ".join(rendered.text))})
    if raw:
        problems.append(f"raw TeX left in the text: {raw}")
    # Images.
    for src in rendered.imgs:
        why = _image_ok(src, page_path, site)
        if why:
            problems.append(why)
    # Widgets: every saved view must have rendered.
    n_views = len(WIDGET_VIEW.findall(page_path.read_text(encoding="utf-8")))
    n_rendered = sum("jupyter-widgets" in c.split() for c in rendered.classes)
    if widgets_required and n_views == 0:
        problems.append("no saved widget view on a page that must have one")
    if n_views and n_rendered < n_views:
        problems.append(f"{n_views} widget views saved but {n_rendered} rendered")
    # Nothing from the network.
    for url in static.scripts + [s for s in static.styles if s.endswith(".css")]:
        if urlsplit(url).scheme in ("http", "https") or url.startswith("//"):
            problems.append(f"loads {url} from the network")
    # Local links and their fragments.
    for href in static.links + static.scripts + static.styles:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or href.startswith("#") and not href[1:]:
            continue
        target = page_path if not parts.path else (page_path.parent / unquote(parts.path))
        if not target.exists():
            problems.append(f"broken link: {href}")
            continue
        if parts.fragment and target.suffix == ".html":
            ids = static.ids if target == page_path else parse(target.read_text("utf-8")).ids
            if unquote(parts.fragment) not in ids:
                problems.append(f"broken anchor: {href}")
    return problems


# -- the browser checks ------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.browser
@needs_chromium
@pytest.mark.parametrize("page", PAGES)
def test_page_renders_offline(built_book, browser, page):
    """The page's math, images, widgets and links all work with no network."""
    proc, _ = built_book
    if proc.returncode:
        pytest.fail("the book did not build (see test_book_builds)")
    path = HTML / f"{page}.html"
    dom = render(browser, path, shot=SHOTS / f"{page.replace('/', '_')}.png")
    problems = check_page(path, dom, HTML, widgets_required=page in WIDGET_PAGES)
    if is_notebook(page) and "download-notebook-button" not in path.read_text("utf-8"):
        problems.append("no .ipynb in the download menu")
    assert not problems, f"{page}.html:\n  " + "\n  ".join(problems)


@pytest.mark.browser
@needs_chromium
def test_checker_catches_broken_page(browser, tmp_path):
    """A page with raw TeX, a missing image, a dead link and an unrendered widget fails."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<html><body><div class="math notranslate nohighlight">$$\\frac{1}{2}$$</div>'
        '<p>\\(\\sigma(a)\\)</p><img src="_images/missing.png">'
        '<a href="nowhere.html">dead</a><a href="#no-such-id">dead anchor</a>'
        '<script type="application/vnd.jupyter.widget-view+json">{"model_id": "x"}</script>'
        '</body></html>', encoding="utf-8")
    # Nothing on this page can draw its widget view: a short wait shows the same.
    dom = render(browser, page, widget_wait=2_000)
    problems = "\n".join(check_page(page, dom, tmp_path, widgets_required=True))
    for expected in ["no <mjx-container>", "raw TeX", "missing or empty image",
                     "broken link: nowhere.html", "broken anchor: #no-such-id",
                     "1 widget views saved but 0 rendered"]:
        assert expected in problems, f"the checker missed '{expected}':\n{problems}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v", *sys.argv[1:]]))
