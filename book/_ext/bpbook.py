"""Small Sphinx extension of the bpcourse book: offer every chapter as an executed .ipynb.

sphinx-book-theme only copies a MyST-markdown notebook's .ipynb into ``_sources/`` when a
launch button (Binder, JupyterHub, ...) is configured. This does the copy for every page
that myst-nb executed and sets ``ipynb_source``, so the theme's download menu offers the
notebook, outputs included, next to the ``.md`` source.
"""

import shutil
from pathlib import Path


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


def setup(app):
    # Before sphinx-book-theme's header buttons (priority 501) read ``ipynb_source``.
    app.connect("html-page-context", _offer_ipynb, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "0.1"}
