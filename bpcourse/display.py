"""Display helpers of the book's chapters: small HTML tables and the figures' style.

Each chapter imports them in its first (hidden) cell instead of defining its own copy:

    from bpcourse.display import html_table, use_style
    use_style()                       # dpi 110 and a light grid
    html_table(["width", "test (%)"], [[50, "97.1"], [150, "97.8"]])

IPython and matplotlib are imported on first use, so the package does not need them.
"""

__all__ = ["ACTIVATION_COLORS", "html_table", "use_style"]

# One colour per hidden activation, the same in every chapter that compares them.
ACTIVATION_COLORS = {"sigmoid": "C0", "tanh": "C2", "relu": "C3"}


def html_table(header, rows):
    """A small HTML table (the book renders it; a notebook shows it too).

    Parameters
    ----------
    header : sequence
        Column titles.
    rows : iterable of sequences
        One sequence of cells per row. Cells are written with ``str`` and not escaped, so
        a cell may hold markup such as ``<b>97.8</b>``.

    Returns
    -------
    IPython.display.HTML
        Shown when it is the last value of a cell, or passed to ``display``.
    """
    from IPython.display import HTML

    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>"
                   for r in rows)
    return HTML(f'<table class="table"><thead><tr>{head}</tr></thead>'
                f'<tbody>{body}</tbody></table>')


def use_style(dpi=110, grid=True, figsize=None):
    """Set matplotlib's defaults for a chapter's figures.

    ``dpi`` is the resolution of the figures, ``grid`` a light grid on every axes
    (alpha 0.3), ``figsize`` the default (width, height) in inches, None to keep
    matplotlib's.
    """
    import matplotlib.pyplot as plt

    style = {"figure.dpi": dpi}
    if figsize is not None:
        style["figure.figsize"] = figsize
    if grid:
        style.update({"axes.grid": True, "grid.alpha": 0.3})
    plt.rcParams.update(style)
