"""The book's interactive figures move in the built pages, with no kernel and no network.

Three chapters hold a plotly figure (``book/_scripts/interactive.py``), drawn by the copy of
plotly.js that ``book/_ext/bpbook.py`` puts into the site and adds to those pages only.
Playwright for Python drives Debian's chromium on the pages of the session's build (the
``built_book`` fixture of conftest.py), opened by ``file://``, with the network cut twice:
every host name unresolvable and a dead proxy in chromium, and every request that is not
``file://`` (or ``data:``) aborted and recorded. The tests

* move the weight and then the bias slider of chapter 2's neuron (a click on the rail, a
  drag of the handle) and check the curve drawn is sigma(w x + b) for the values the sliders
  show, and the losses written are those of the six points (computed here, with bpcourse);
* move chapter 8's epoch slider and check that the map and the marker changed, to the
  snapshot of the epoch the slider shows;
* hover every cell of chapter 14's heat map and check the hover label's numbers against
  the sweep's rows in the run cache (the cells name their runs' cache keys);
* check on each page that ``window.Plotly`` came from the site's own ``_static/``, before
  require.js, with no page error (no "Mismatched anonymous define()"), and that exactly
  the pages with a figure load plotly.js.

``test_checker_catches_page_without_plotly`` makes sure the figure check can fail: the
same page without its plotly script shows no figure. Skipped, with a message, where
Chromium or Playwright is missing.
"""

import math
import re
import statistics
from pathlib import Path

import numpy as np
import pytest
from support import browser_marks, offline_browser

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
pytestmark = browser_marks("the interactive figures are not checked")

# The pages with plotly figures, and the div ids of their figures (interactive.show).
FIGURES = {"book/02-sigmoid-neuron": ["bp-ch02-neuron"],
           "book/08-toy-problems": ["bp-ch08-learning"],
           "book/14-hyperparameters": ["bp-ch14-grid"]}
PLOTLY_SRC = "_static/plotly/plotly.min.js"
# Errors these pages raise with or without the figures (see the report of the issue that
# added this test), each matched in full; any other error fails the test.
KNOWN_ERRORS = [
    # jupyter-book 1.0.4 writes sphinx-thebe's configuration script twice on every page.
    r"page error: Identifier 'THEBE_JS_URL' has already been declared",
    # The widget manager (html-manager 1.0.15) typesets widget labels with MathJax 2's
    # MathJax.Hub.Queue; the site serves MathJax 3.
    r"page error: Cannot read properties of undefined \(reading 'Queue'\)",
    # ... and looks for its icon fonts beside the page, not beside embed-amd.js.
    r"console: Failed to load resource: net::ERR_FILE_NOT_FOUND "
    r"\(file://.*/@jupyter-widgets/html-manager/dist/[0-9a-f]+\.(woff2?|ttf|eot|svg)\)",
    # pydata-sphinx-theme, opened by file:// with no theme stored yet.
    r"console: Got invalid theme mode: \. Resetting to auto\. \(.*/pydata-sphinx-theme\.js.*\)",
]


@pytest.fixture(scope="module")
def site(built_book):
    """The built site's folder, once the pages with figures exist."""
    proc, _ = built_book
    missing = [p for p in FIGURES if not (HTML / f"{p}.html").is_file()]
    if missing:
        pytest.fail(f"the book build did not write {missing} (see test_book_builds):\n"
                    + (proc.stdout + proc.stderr)[-3000:])
    return HTML


# -- the browser (support.offline_browser) ----------------------------------------------
@pytest.fixture(scope="module")
def browser():
    with offline_browser() as new_page:
        yield new_page


def figure_problems(page, figure_ids):
    """Why the page's plotly figures would not work offline, as a list (empty when fine)."""
    problems = []
    info = page.evaluate("""() => ({
        plotly: typeof window.Plotly === "object" && typeof window.Plotly.newPlot,
        scripts: Array.from(document.scripts).map(s => s.src).filter(s => s),
        loaded: performance.getEntriesByType("resource").map(r => r.name)
                .filter(n => n.includes("plotly"))})""")
    if info["plotly"] != "function":
        problems.append("window.Plotly is not defined: plotly.js did not load")
    plotly = [s for s in info["scripts"] if "plotly" in s]
    if len(plotly) != 1 or not plotly[0].split("?")[0].startswith(HTML.as_uri()) \
            or not plotly[0].split("?")[0].endswith(PLOTLY_SRC):
        problems.append(f"plotly.js not loaded once from the site's {PLOTLY_SRC}: {plotly}")
    requirejs = [i for i, s in enumerate(info["scripts"]) if s.split("?")[0].endswith(
        "require.js")]
    if plotly and requirejs and info["scripts"].index(plotly[0]) > requirejs[0]:
        problems.append("plotly.js loads after require.js")
    for fid in figure_ids:
        drawn = page.evaluate("""id => { const gd = document.getElementById(id);
            return !!gd && !!gd._fullLayout && !!gd.querySelector(".main-svg"); }""", fid)
        if not drawn:
            problems.append(f"figure {fid} was not drawn")
            continue
        # Controls drawn below the figure's box overlap the text after it, and JupyterLab's
        # output area cuts them off: each must lie inside the figure.
        outside = page.evaluate("""id => { const gd = document.getElementById(id);
            const bottom = gd.getBoundingClientRect().bottom;
            return Array.from(gd.querySelectorAll(".slider-group, .updatemenu-container"))
                .map(e => e.getBoundingClientRect().bottom - bottom).filter(d => d > 1); }""",
                                fid)
        if outside:
            problems.append(f"figure {fid}: a slider or button reaches {max(outside):.0f} px "
                            "below the figure's box")
    problems += [e for e in page.errors
                 if not any(re.fullmatch(known, e) for known in KNOWN_ERRORS)]
    problems += [f"request off the machine refused: {u}" for u in page.refused]
    return problems


def open_page(browser, site, page_name):
    page = browser((site / f"{page_name}.html").as_uri())
    for fid in FIGURES[page_name]:
        page.wait_for_function("""id => { const gd = document.getElementById(id);
            return gd && gd._fullLayout && gd.querySelector(".main-svg"); }""", arg=fid)
    return page


def slider(page, fid, k):
    """Slider ``k`` of figure ``fid`` (plotly draws one ``g.slider-group`` per slider)."""
    group = page.locator(f"#{fid} .slider-group").nth(k)
    group.scroll_into_view_if_needed()
    return group


def rail(page, fid, k):
    """The bounding box of slider ``k``'s rail, in the viewport's pixels."""
    box = slider(page, fid, k).locator(".slider-rail-rect").bounding_box()
    assert box, f"slider {k} of {fid} has no rail on the page"
    return box


def click_rail(page, fid, k, fraction):
    """Click slider ``k``'s rail at ``fraction`` of its length: the nearest step."""
    box = rail(page, fid, k)
    page.mouse.click(box["x"] + fraction * box["width"], box["y"] + box["height"] / 2)
    page.wait_for_timeout(300)


def drag_handle(page, fid, k, fraction):
    """Drag slider ``k``'s handle to ``fraction`` of its rail."""
    box = rail(page, fid, k)
    grip = slider(page, fid, k).locator(".slider-grip-rect").bounding_box()
    page.mouse.move(grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + fraction * box["width"], box["y"] + box["height"] / 2,
                    steps=8)
    page.mouse.up()
    page.wait_for_timeout(300)


# -- every page --------------------------------------------------------------------------
@pytest.mark.parametrize("page_name", list(FIGURES))
def test_plotly_from_the_site(site, browser, page_name):
    """window.Plotly from the site's _static/, before require.js; figures drawn; no error."""
    page = open_page(browser, site, page_name)
    problems = figure_problems(page, FIGURES[page_name])
    page.close()
    assert not problems, f"{page_name}.html:\n  " + "\n  ".join(problems)


def test_plotly_only_where_needed(site):
    """Exactly the pages with a plotly figure load plotly.js (4.8 MB), and it is the wheel's."""
    import plotly

    shipped = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert (site / PLOTLY_SRC).read_bytes() == shipped.read_bytes()
    with_figure, with_script = set(), set()
    for path in site.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(site).with_suffix(""))
        if 'class="plotly-graph-div"' in text:
            with_figure.add(name)
        if "plotly.min.js" in text:
            with_script.add(name)
    assert with_figure >= set(FIGURES), f"pages without their figure: {set(FIGURES) - with_figure}"
    assert with_script == with_figure, (
        f"plotly.js on pages without a figure: {sorted(with_script - with_figure)}; "
        f"figures without plotly.js: {sorted(with_figure - with_script)}")


def test_checker_catches_page_without_plotly(site, browser):
    """The same page with its plotly script removed shows no figure, and the check says so."""
    page_path = site / "book/02-sigmoid-neuron.html"
    broken = page_path.with_name("_no-plotly-check.html")  # beside it: relative paths hold
    text = page_path.read_text(encoding="utf-8")
    stripped = re.sub(r'<script src="[^"]*plotly\.min\.js[^"]*"></script>', "", text)
    assert stripped != text, "no plotly script tag found in the page"
    broken.write_text(stripped, encoding="utf-8")
    try:
        page = browser(broken.as_uri())
        page.wait_for_timeout(1000)
        problems = "\n".join(figure_problems(page, FIGURES["book/02-sigmoid-neuron"]))
        page.close()
    finally:
        broken.unlink()
    for expected in ["window.Plotly is not defined", "not loaded once from the site",
                     "figure bp-ch02-neuron was not drawn", "Plotly is not defined"]:
        assert expected in problems, f"the check missed '{expected}':\n{problems}"


# -- chapter 2: the neuron's two sliders -------------------------------------------------
NEURON = "bp-ch02-neuron"


def neuron_state(page):
    """The sliders' values and what the figure draws: the curve, its SVG path, the losses."""
    return page.evaluate("""id => {
        const gd = document.getElementById(id);
        const shown = gd._fullData.filter(t => t.visible === true);
        const curve = shown.filter(t => t.name.startsWith("ŷ"));
        const label = shown.filter(t => t.mode === "text");
        const steps = gd.layout.sliders.map(s => s.steps[s.active].label);
        const path = Array.from(gd.querySelectorAll(".scatterlayer path.js-line"))
            .map(p => p.getAttribute("d"));
        const data = gd._fullData[0];
        return {n_curves: curve.length, x: Array.from(curve[0].x), y: Array.from(curve[0].y),
                label: label.map(t => t.text[0]), w: steps[0], b: steps[1], paths: path,
                x_pts: Array.from(data.x), y_pts: Array.from(data.y)};
    }""", NEURON)


def check_neuron(state):
    """The curve drawn is sigma(w x + b) and the losses are the six points'."""
    from bpcourse import losses
    from bpcourse.activations import sigmoid

    w, b = float(state["w"]), float(state["b"])
    assert state["n_curves"] == 1, f"{state['n_curves']} curves shown at once"
    x = np.asarray(state["x"], dtype=float)
    np.testing.assert_allclose(state["y"], sigmoid(w * x + b), atol=6e-4,
                               err_msg=f"the curve is not sigma({w} x + {b})")
    a = w * np.asarray(state["x_pts"]) + b
    y = np.asarray(state["y_pts"], dtype=float)[:, None]
    bce = losses.bce_with_logits(a[:, None], y)
    mse = losses.mse(sigmoid(a)[:, None], y)
    assert state["label"] == [f"BCE = {bce:.3f}   MSE = {mse:.3f}"], (state["label"], w, b)


def test_neuron_sliders_move_the_curve(site, browser):
    page = open_page(browser, site, "book/02-sigmoid-neuron")
    start = neuron_state(page)
    check_neuron(start)
    click_rail(page, NEURON, 0, 0.97)          # the weight, to its largest steps
    steep = neuron_state(page)
    assert float(steep["w"]) > float(start["w"]) and steep["b"] == start["b"], steep["w"]
    assert steep["y"] != start["y"] and steep["paths"] != start["paths"], \
        "the weight slider moved but the drawn curve did not change"
    check_neuron(steep)
    drag_handle(page, NEURON, 1, 0.2)           # the bias, dragged to the left
    shifted = neuron_state(page)
    assert float(shifted["b"]) < float(start["b"]), shifted["b"]
    assert shifted["w"] == steep["w"], "moving the bias reset the weight"
    assert shifted["y"] != steep["y"] and shifted["paths"] != steep["paths"]
    check_neuron(shifted)                       # both sliders' values, composed
    problems = figure_problems(page, [NEURON])
    page.close()
    assert not problems, "\n".join(problems)


# -- chapter 8: the epoch slider -----------------------------------------------------------
LEARNING = "bp-ch08-learning"


def learning_state(page):
    return page.evaluate("""id => {
        const gd = document.getElementById(id);
        const s = gd.layout.sliders[0];
        const contour = gd._fullData.find(t => t.type === "contour");
        const marker = gd._fullData[1];
        return {epoch: s.steps[s.active].label, title: gd._fullLayout.title.text,
                marker_x: Array.from(marker.x), marker_y: Array.from(marker.y),
                curve_x: Array.from(gd._fullData[0].x), curve_y: Array.from(gd._fullData[0].y),
                z: contour.z.map(row => Array.from(row)),
                paths: Array.from(gd.querySelectorAll(".contourlayer path"))
                    .map(p => p.getAttribute("d")).join(" ")};
    }""", LEARNING)


def test_xor_epoch_slider_replays_training(site, browser):
    page = open_page(browser, site, "book/08-toy-problems")
    start = learning_state(page)
    assert start["epoch"] == "0" and start["marker_x"] == [0], start["epoch"]
    click_rail(page, LEARNING, 0, 0.6)
    later = learning_state(page)
    epoch = int(later["epoch"])
    assert epoch > 0, "the slider did not move"
    assert later["marker_x"] == [epoch], (later["marker_x"], epoch)
    assert later["title"].startswith(f"epoch {epoch}:"), later["title"]
    assert later["z"] != start["z"], "the map did not change"
    assert later["paths"] != start["paths"], "the drawn map (SVG paths) did not change"
    # The marker sits on the loss curve: the loss of the network after `epoch` steps is the
    # loss recorded for the next epoch (computed before that epoch's step).
    recorded = later["curve_y"][later["curve_x"].index(epoch + 1)]
    assert math.isclose(later["marker_y"][0], recorded, rel_tol=2e-3), (later, recorded)
    assert later["marker_y"][0] < start["marker_y"][0], "the loss did not fall"
    problems = figure_problems(page, [LEARNING])
    page.close()
    assert not problems, "\n".join(problems)


# -- chapter 14: the heat map's hover labels ---------------------------------------------
GRID = "bp-ch14-grid"
NUMBER = r"([0-9]+(?:\.[0-9]+)?)"


def hover_label(page, i, j, first_line):
    """Hover cell (row i, column j) of the heat map; its label's lines, once ``first_line``
    shows (plotly redraws the label a moment after the mouse moves)."""
    page.locator(f"#{GRID}").scroll_into_view_if_needed()
    x, y = page.evaluate("""([id, i, j]) => {
        const gd = document.getElementById(id), L = gd._fullLayout;
        const r = gd.getBoundingClientRect();
        return [r.left + L.xaxis._offset + L.xaxis.l2p(j),
                r.top + L.yaxis._offset + L.yaxis.l2p(i)]; }""", [GRID, i, j])
    page.mouse.move(x, y)
    lines = """id => Array.from(document.querySelectorAll(
        `#${id} .hoverlayer .hovertext tspan.line`)).map(t => t.textContent)"""
    try:
        page.wait_for_function(f"([id, first]) => ({lines})(id)[0] === first",
                               arg=[GRID, first_line], timeout=10_000)
    except Exception:  # the assertion below says what the label showed instead
        pass
    return page.evaluate(lines, GRID)


def test_heat_map_hover_shows_the_sweep(site, browser):
    from bpcourse import experiments as ex

    cache = ex.RunCache("run", "experiments")
    page = open_page(browser, site, "book/14-hyperparameters")
    grid = page.evaluate("""id => { const gd = document.getElementById(id);
        return {x: gd._fullData[0].x, y: gd._fullData[0].y, keys: gd.layout.meta.run_keys}; }""",
                         GRID)
    checked = 0
    for i, batch in enumerate(grid["y"]):
        for j, lr in enumerate(grid["x"]):
            lines = hover_label(page, i, j, f"learning rate {lr}, batch size {batch}")
            text = "\n".join(lines)
            rows = [cache.get(k) for k in grid["keys"][i][j]]
            assert all(rows), f"cell ({lr}, {batch}): a run is missing from the cache"
            assert {r["lr"] for r in rows} == {float(lr)}
            assert {r["batch_size"] for r in rows} == {int(batch)}
            assert lines[0] == f"learning rate {lr}, batch size {batch}", lines[0]
            val = re.search(rf"validation accuracy {NUMBER} % ± {NUMBER} \(seeds ([0-9, ]+): "
                            rf"([0-9., ]+)\)", text)
            test = re.search(rf"test accuracy {NUMBER} %", text)
            speed = re.search(rf"{NUMBER} ms per epoch of training, {NUMBER} steps per epoch",
                              text)
            assert val and test and speed, f"unexpected hover label:\n{text}"
            vals = [100 * r["val_acc"] for r in rows]
            expected = {
                "validation accuracy": (float(val[1]), statistics.fmean(vals), 0.005),
                "its spread": (float(val[2]), statistics.stdev(vals), 0.005),
                "test accuracy": (float(test[1]),
                                  statistics.fmean(100 * r["test_acc"] for r in rows), 0.005),
                "steps per epoch": (float(speed[2]), math.ceil(rows[0]["train_size"]
                                                               / int(batch)), 0)}
            seeds = [int(s) for s in val[3].split(",")]
            per_seed = [float(v) for v in val[4].split(",")]
            by_seed = {r["seed"]: 100 * r["val_acc"] for r in rows}
            for s, v in zip(seeds, per_seed, strict=True):
                expected[f"seed {s}"] = (v, by_seed[s], 0.005)
            for what, (shown, truth, tol) in expected.items():
                assert abs(shown - truth) <= tol + 1e-9, (
                    f"cell lr={lr}, batch={batch}: {what} shown {shown}, sweep {truth}")
            # A cached run keeps its key when it is trained again (same configuration, same
            # code) and so its accuracies, not its clock: the page may be older than the entry.
            ms = 1000 * statistics.fmean(r["seconds_per_epoch"] for r in rows)
            assert ms / 1.5 <= float(speed[1]) <= 1.5 * ms, (
                f"cell lr={lr}, batch={batch}: {speed[1]} ms per epoch shown, sweep {ms:.2f}")
            checked += 1
    problems = figure_problems(page, [GRID])
    page.close()
    assert checked == len(grid["x"]) * len(grid["y"]) >= 12, checked
    assert not problems, "\n".join(problems)
