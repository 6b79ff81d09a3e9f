"""Interactive figures of the book, with plotly: live in Jupyter and in the static site.

A chapter builds a ``plotly.graph_objects.Figure`` whose sliders, buttons and hover labels
are plotly's own (slider steps that restyle traces or jump to precomputed frames, hover
templates), so that the figure needs no Python kernel to move, then shows it with ``show``:

    sys.path.insert(0, str(Path("_scripts").resolve()))
    from interactive import show, style
    fig = go.Figure(...)
    style(fig, height=420)
    show(fig, "ch02-neuron")

``show`` displays one output with two representations of the same figure:

* ``application/vnd.plotly.v1+json``: JupyterLab, Notebook 7 and VS Code draw it with
  plotly's bundled renderer (the ``jupyterlab-plotly`` extension that comes with the plotly
  package);
* ``text/html``: the figure's ``<div>`` and a script that calls ``Plotly.newPlot``, with
  no copy of plotly.js and no network address in it. myst-nb does not know the plotly mime
  type and picks ``text/html`` for the book's pages; the book's Sphinx extension
  (``book/_ext/bpbook.py``) then adds the site's own copy of plotly.js to every page that
  holds a figure (a ``div.plotly-graph-div``), before require.js.

Div ids are ``bp-<name>``, so a rebuild writes the same page (plotly's default is a random
UUID); a page must not use a name twice.
"""

import html
import json

import plotly.io as pio
from IPython.display import display

__all__ = ["CONFIG", "PLOTLY_MIME", "show", "style"]

PLOTLY_MIME = "application/vnd.plotly.v1+json"
# No "produced with plotly" link (the site stays off the network), no image-export button.
CONFIG = {"displaylogo": False, "responsive": True,
          "modeBarButtonsToRemove": ["toImage", "select2d", "lasso2d"]}
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


def style(fig, height=420, **layout):
    """The book's look on a plotly figure: white, a light grid, the page's font.

    ``template="none"`` keeps plotly's default theme (some 10 KB of JSON) out of every
    figure. ``height`` is in pixels; the width follows the page. Returns ``fig``.
    """
    base = {"template": "none", "height": height, "font": {"family": FONT, "size": 13},
            "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
            "paper_bgcolor": "white", "plot_bgcolor": "white"}
    fig.update_layout({**base, **layout})
    fig.update_xaxes(showgrid=True, gridcolor="rgba(0,0,0,0.1)", zeroline=False,
                     linecolor="#444", ticks="outside")
    fig.update_yaxes(showgrid=True, gridcolor="rgba(0,0,0,0.1)", zeroline=False,
                     linecolor="#444", ticks="outside")
    return fig


def bundle(fig, name):
    """The two representations ``show`` displays: ``{mime type: data}``."""
    config = dict(CONFIG)
    height = fig.layout.height or 450
    page = fig.to_html(include_plotlyjs=False, full_html=False, div_id=f"bp-{name}",
                       config=config, default_height=f"{height}px", auto_play=False)
    fig_json = json.loads(pio.to_json(fig, validate=False, remove_uids=True))
    fig_json["config"] = config
    # A wrapper with the figure's name, for the page's CSS and the browser test.
    page = f'<div class="bp-plotly" data-figure="{html.escape(name)}">{page}</div>'
    return {PLOTLY_MIME: fig_json, "text/html": page}


def show(fig, name):
    """Display ``fig``: live in Jupyter (plotly's renderer), live in the built site.

    ``name`` makes the figure's div id, ``bp-<name>``, unique on its page and the same on
    every build.
    """
    display(bundle(fig, name), raw=True)
