"""Small Sphinx extension of the bpcourse book.

* **Every chapter as an executed .ipynb.** sphinx-book-theme only copies a MyST-markdown
  notebook's .ipynb into ``_sources/`` when a launch button (Binder, JupyterHub, ...) is
  configured. This does the copy for every page that myst-nb executed and sets
  ``ipynb_source``, so the theme's download menu offers the notebook, outputs included, next
  to the ``.md`` source.
* **plotly.js from the site itself.** The chapters' interactive figures
  (``book/_scripts/interactive.py``) are written without plotly.js. Every page whose body
  holds a plotly figure (a ``div.plotly-graph-div``) gets ``_static/plotly/plotly.min.js``,
  copied from the installed plotly package (the wheel carries it: no download), loaded
  before require.js (the widget manager's loader, on pages with ipywidgets) and before the
  figures' inline scripts call ``Plotly.newPlot``. Pages without a figure do not load it
  (4.8 MB).
"""

import filecmp
import shutil
from pathlib import Path

# Where plotly.js lands under the built site's _static/, and its place among the page's
# scripts: myst-nb adds require.js and the widget manager with Sphinx's default priority
# (500); a smaller number comes first in <head>.
PLOTLY_JS = "plotly/plotly.min.js"
PLOTLY_PRIORITY = 400
PLOTLY_DIV = 'class="plotly-graph-div"'


def _offer_ipynb(app, pagename, templatename, context, doctree):
    if app.builder.format != "html" or doctree is None:
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def _plotly_source():
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _add_plotly(app, pagename, templatename, context, doctree):
    if app.builder.format != "html" or PLOTLY_DIV not in context.get("body", ""):
        return
    target = Path(app.outdir) / "_static" / PLOTLY_JS
    if not getattr(app, "_bpbook_plotly_copied", False):  # once per build
        source = _plotly_source()
        if not (target.is_file() and filecmp.cmp(source, target, shallow=False)):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        app._bpbook_plotly_copied = True
    app.add_js_file(PLOTLY_JS, priority=PLOTLY_PRIORITY)  # this page only


def setup(app):
    # Before sphinx-book-theme's header buttons (priority 501) read ``ipynb_source``.
    app.connect("html-page-context", _offer_ipynb, priority=500)
    app.connect("html-page-context", _add_plotly)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "0.1"}
