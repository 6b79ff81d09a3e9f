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
  (4.8 MB). Each figure's other representation, plotly's own mime type (for JupyterLab),
  is left out of the page without the warning myst-nb gives an unknown mime type.
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
PLOTLY_MIME = "application/vnd.plotly.v1+json"


class PlotlyMimeSkipped:
    """A myst-nb mime render plugin: plotly's JSON becomes no node, silently.

    myst-nb finds such plugins through entry points (group ``myst_nb.mime_renderers``) and
    warns "skipping unknown output mime type" for any type none of them handles, which
    ``-W`` makes an error. The text/html beside the JSON is what the page shows.
    """

    mime_priority_overrides = ()

    @staticmethod
    def handle_mime(renderer, data, inline):
        return [] if data.mime_type == PLOTLY_MIME else None


def _register_plotly_mime():
    from myst_nb.core import render

    plugins = render.load_mime_renders()  # the cached list of the entry points' plugins
    if PlotlyMimeSkipped not in plugins:
        plugins.append(PlotlyMimeSkipped)


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
    _register_plotly_mime()
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "0.1"}
