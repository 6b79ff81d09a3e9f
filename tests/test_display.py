import matplotlib
import pytest

from bpcourse.display import ACTIVATION_COLORS, html_table, use_style

pytest.importorskip("IPython")


def test_html_table():
    table = html_table(["width", "test (%)"], [[50, "97.1"], [150, "<b>97.8</b>"]])
    assert table.data == (
        '<table class="table"><thead><tr><th>width</th><th>test (%)</th></tr></thead>'
        "<tbody><tr><td>50</td><td>97.1</td></tr><tr><td>150</td><td><b>97.8</b></td></tr>"
        "</tbody></table>")
    assert "<tbody></tbody>" in html_table(["a"], []).data


def test_use_style():
    with matplotlib.rc_context():
        use_style()
        rc = matplotlib.rcParams
        assert rc["figure.dpi"] == 110 and rc["axes.grid"] and rc["grid.alpha"] == 0.3
    with matplotlib.rc_context():
        size = list(matplotlib.rcParams["figure.figsize"])
        use_style(dpi=100, grid=False)
        rc = matplotlib.rcParams
        assert rc["figure.dpi"] == 100 and not rc["axes.grid"] and rc["figure.figsize"] == size
        use_style(figsize=(6, 3.5))
        assert list(rc["figure.figsize"]) == [6, 3.5]


def test_activation_colors_differ():
    assert len(set(ACTIVATION_COLORS.values())) == len(ACTIVATION_COLORS) == 3
