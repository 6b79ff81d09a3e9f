"""Every number the book's text quotes is computed by the build, or is a known constant.

The book promises that every figure and number in it is computed by the build. This test
reads the built pages (``_build/html``, as ``tests/test_book.py`` builds them; skipped when the
book is not built) and lists every number in a page's text that is not

* glued from a computing cell (``{glue:text}`` renders as ``<span class="pasted-text">``),
* inside code or a cell (``<pre>``, ``<code>``, a cell's input or output),
* inside math (``$...$``, equations and their numbers),
* a section, figure or exercise number the theme adds (or an exercise's title), the title of
  a chapter in a link or the table of contents (``class="internal"``), an entry of the
  bibliography (``references.html``: volumes, pages, years), or inside a quotation of a report
  (``<blockquote>``: chapter 15 quotes the reports verbatim, whose figures it cannot compute),

and fails on any that is neither in ``ALLOWED`` (the chapter numbers and other small counts,
MNIST's constants, 100 as in "100 %", years) nor a literal of the code shown on the same page
(a setting the reader sees set, such as "batches of 64" next to ``batch_size=64``: when the
code changes, the sentence fails the test). A result typed into the text fails it: glue it
from the cell that computes it, or take it out.

With ``$BPCOURSE_REPORTS`` set to the folder of the five reports' plain texts, it also checks
that every quotation of chapters 14 and 15 appears word for word in one of them (math and
paragraph breaks split a quotation into fragments, each checked).
"""

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_book import HTML, PAGES

pytestmark = pytest.mark.serial  # reads the pages test_book.py builds, after it

# Numbers the text may type. Integers 0-12: the chapter numbers (and small counts such as
# "layer 2" or "one to 4 hidden layers" written as digits); MNIST's constants; years.
SMALL = {str(i) for i in range(13)}
MNIST = {"28", "784", "10,000", "50,000", "60,000", "70,000"}
YEARS = re.compile(r"(19|20)\d\d")
ALLOWED = SMALL | MNIST | {"100"}

# A number: digits with thousands commas or a decimal point, optionally an exponent
# ("1e-4"); not part of a word or an identifier ("ps3", "W1", "float32").
NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?(?![\w])")

GAP = "\x00"  # where a quotation's math was: its fragments are checked one by one

# Elements whose text is exempt, and classes of elements whose text is exempt.
SKIP_TAGS = {"script", "style", "pre", "code", "textarea", "math", "svg", "blockquote"}
SKIP_CLASSES = {"pasted-text", "cell_output", "cell_input", "math", "section-number",
                "caption-number", "eqno", "headerlink", "admonition-title", "toctree-wrapper",
                "internal"}


class _Text(HTMLParser):
    """A page's article: its checked text, the text of its code, and its quotations."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []          # (tag, skipped, inside a cell output) of open elements
        self.in_article = 0
        self.text, self.code, self.quotes, self._quote = [], [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        if tag == "article" and "bd-article" in classes:
            self.in_article += 1
        if tag in ("br", "img", "hr", "input", "meta", "link", "wbr"):
            return  # void elements never close
        output = "cell_output" in classes or bool(self.stack and self.stack[-1][2])
        self.stack.append((tag, tag in SKIP_TAGS or bool(classes & SKIP_CLASSES), output))
        if tag == "blockquote" and self._quote is None:
            self._quote = []
        elif tag in ("p", "li") and self._quote is not None:
            self._quote.append(GAP)  # a paragraph or list item (its number is markup) apart

    def handle_endtag(self, tag):
        if all(e[0] != tag for e in self.stack):
            return  # a stray end tag closes nothing
        while self.stack:
            t = self.stack.pop()[0]
            if t == "article" and self.in_article:
                self.in_article -= 1
            if t == "blockquote" and self._quote is not None and \
                    not any(e[0] == "blockquote" for e in self.stack):
                self.quotes.append("".join(self._quote))
                self._quote = None
            if t == tag:
                break

    def handle_data(self, data):
        if not self.in_article:
            return
        tags = {e[0] for e in self.stack}
        if tags & {"pre", "code"} and not (self.stack and self.stack[-1][2]):
            self.code.append(data)
        if self._quote is not None:
            # Text inside math (or other skipped markup) breaks the quotation into fragments.
            skipped = any(e[1] for e in self.stack if e[0] != "blockquote")
            self._quote.append(GAP if skipped else data)
        if not any(e[1] for e in self.stack):
            self.text.append(data)


def page_text(page):
    parser = _Text()
    parser.feed((HTML / f"{page}.html").read_text(encoding="utf-8"))
    return parser


def typed_numbers(page):
    """(number, context) of every number in the page's checked text that is not allowed."""
    parsed = page_text(page)
    text = re.sub(r"\s+", " ", "".join(parsed.text))
    shown = set(NUMBER.findall(" ".join(parsed.code)))
    found = []
    for mt in NUMBER.finditer(text):
        n = mt.group(0)
        if n in ALLOWED or YEARS.fullmatch(n) or n in shown or n.replace(",", "") in shown:
            continue
        found.append((n, text[max(0, mt.start() - 50):mt.end() + 30]))
    return found


def _built():
    missing = [p for p in PAGES if not (HTML / f"{p}.html").is_file()]
    if missing:
        pytest.skip(f"the book is not built ({len(missing)} pages missing, e.g. "
                    f"{missing[0]}.html): run `make book` first")


# The pages that quote the reports (every blockquote on them is a quotation of one).
QUOTING = ["book/14-hyperparameters", "book/15-reproducing-reports"]
# The bibliography's entries are publication data (volumes, pages), not numbers of the book.
CHECKED = [p for p in PAGES if p != "book/references"]


@pytest.mark.parametrize("page", CHECKED)
def test_no_typed_number(page):
    """Every number in the text is glued, in code or an output, or a known constant."""
    _built()
    found = typed_numbers(page)
    assert not found, (
        f"{page}.html types {len(found)} number(s) that the build does not compute; glue each "
        "from the cell that computes it, or remove it:\n  "
        + "\n  ".join(f"{n!r} in ...{ctx}..." for n, ctx in found))


def _norm(s):
    s = s.replace("*", "").replace("−", "-")
    s = re.sub(r"\$+", "", s)
    return re.sub(r"\s+", " ", s).strip()


@pytest.mark.skipif(not os.environ.get("BPCOURSE_REPORTS"),
                    reason="set BPCOURSE_REPORTS to the folder of the reports' texts")
def test_report_quotations_are_verbatim():
    """Each quotation block of chapters 14 and 15 is found word for word in a report."""
    _built()
    folder = Path(os.environ["BPCOURSE_REPORTS"])
    reports = " ".join(_norm(p.read_text(encoding="utf-8")) for p in folder.glob("*.txt"))
    quotes = [q for page in QUOTING for q in page_text(page).quotes]
    assert quotes, "no quotation found in chapters 14 and 15"
    bad = [frag for q in quotes for frag in q.split(GAP)
           if len(_norm(frag).split()) >= 3 and _norm(frag) not in reports]
    assert not bad, "quoted but not in any report:\n  " + "\n  ".join(bad)


def test_checker_finds_typed_numbers(tmp_path, monkeypatch):
    """A typed number is found; glued, code, output, math and quoted ones are not."""
    import test_book_numbers as me

    (tmp_path / "p.html").write_text(
        '<html><body><nav>Chapter 99</nav><article class="bd-article">'
        '<h1><span class="section-number">11.3. </span>Title</h1>'
        '<p>About 92 % of 784 images, <span class="pasted-text">97.31</span>, '
        '<code>lr=0.37</code>, <span class="math">\\(10^{-4}\\)</span>, in 2015, ps3, '
        'a rate of 1e-3, a rate of 0.37, 12345 of them.</p>'
        '<blockquote><p>we got 75.08%</p></blockquote>'
        '<div class="cell_output"><pre>0.5</pre><table><td>12345</td></table></div>'
        '</article></body></html>', encoding="utf-8")
    monkeypatch.setattr(me, "HTML", tmp_path)
    # 0.37 is set by the code shown; 12345 appears only in an output, so it counts.
    assert [n for n, _ in me.typed_numbers("p")] == ["92", "1e-3", "12345"]
    assert [q.strip(me.GAP) for q in me.page_text("p").quotes] == ["we got 75.08%"]
