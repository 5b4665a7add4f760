"""The tables as people see them in the report: each table's small HTML page (title, note, rounded
numbers, compact intervals) beside its unchanged CSV, and the report of the tiny run rendered by a
real browser (headless Chromium): the landing page, a table page and every figure."""

from __future__ import annotations

import html as htmllib
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import snakemake

from softlabels.analysis import tables as T
from softlabels.pipeline.tables import write_table

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def _table() -> T.Table:
    df = pd.DataFrame({"method": ["hard", "kd <τ>"], "width": [2, 8], "ce_bias": [0.512345678, np.nan],
                       "ce_bias_lo": [0.4012345, np.nan], "ce_bias_hi": [0.6098765, np.nan],
                       "bias_shift_vs_direct": [0.1, 0.2], "bias_shift_lo": [0.05, 0.1], "bias_shift_hi": [0.2, 0.3],
                       "acc": [97.123456, 12345678.9]})
    return T.Table(df, "Bias & variance", "Intervals: 95% over resampled test points.")


def test_table_html_is_a_readable_page():
    page = T.html(_table())
    assert "<th>bias_<wbr>shift_<wbr>vs_<wbr>direct [lo, hi]</th>" in page  # a header may wrap at an underscore
    page = page.replace("<wbr>", "")
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page and "<table>" in page
    assert "<h1>Bias &amp; variance</h1>" in page and "Intervals: 95% over resampled test points." in page
    assert "kd &lt;τ&gt;" in page  # escaped
    assert "<th>ce_bias [lo, hi]</th>" in page and "ce_bias_lo" not in page  # one column per interval
    assert "0.5123 [0.401, 0.61]" in page  # 4 significant digits, the interval's ends 3
    assert "<th>bias_shift_vs_direct [lo, hi]</th>" in page and "0.1 [0.05, 0.2]" in page
    assert ">97.12<" in page and ">12345679<" in page and ">–<" in page  # missing: an en dash
    long = T.Table(pd.DataFrame({"epoch": range(30)}), "long")
    assert "The first 10 of 30 rows" in T.html(long, max_rows=10)


def test_table_html_groups_rows_and_puts_columns_first(tmp_path):
    """group_by: the group's value once, as a heading row (rows of a group together, groups in order of first
    appearance); first: those columns lead. The CSV keeps every column in the frame's order."""
    df = pd.DataFrame({"claim": ["c1", "c2", "c1"], "setting": ["s1", "s2", "s3"], "note": ["", "", ""],
                       "verdict": ["supported", "inconclusive", "contradicted"]})
    t = T.Table(df, "claims", group_by="claim", first=("setting", "verdict"))
    page = T.html(t).replace("<wbr>", "")
    assert "<thead><tr><th>setting</th><th>verdict</th><th>note</th></tr></thead>" in page  # no claim column
    body = page.split("<tbody>")[1]
    assert body.count('<tr class="group">') == 2 and body.index(">c1<") < body.index(">s3<") < body.index(">c2<")
    assert body.index(">s1<") < body.index(">s3<") < body.index(">s2<")
    write_table(t, tmp_path / "t.csv")
    assert list(pd.read_csv(tmp_path / "t.csv").columns) == list(df.columns)
    # the claims table's bare lo, hi: one column "estimate [lo, hi]"
    page = T.html(T.Table(pd.DataFrame({"estimate": [1.0], "lo": [0.5], "hi": [1.5]})))
    assert "<th>estimate [lo, hi]</th>" in page and "1 [0.5, 1.5]" in page and "<th>lo</th>" not in page


def test_write_table_keeps_the_csv_and_adds_the_html(tmp_path):
    t = _table()
    write_table(t, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_bytes() == t.frame.to_csv(index=False).encode()  # the CSV is unchanged
    assert (tmp_path / "t.html").read_text() == T.html(t)
    assert (tmp_path / "t.md").read_text().startswith("# Bias & variance")


#: the window the report is read in (and screenshot at)
WINDOW = (1400, 900)


def _measure(page: Path, expression: str, tmp: Path) -> str:
    """The value of a JavaScript ``expression`` in ``page`` as headless Chromium lays it out in WINDOW, a second
    after it loads (read back from the dumped DOM)."""
    probe = tmp / f"probe-{page.name}"
    html = page.read_text()
    script = (f"<script>setTimeout(function () {{ document.body.setAttribute('data-probe', String({expression})); }},"
              f" 1000);</script>")
    probe.write_text(html[:html.rindex("</body>")] + script + html[html.rindex("</body>"):])
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={tempfile.mkdtemp()}",
           "--virtual-time-budget=5000", f"--window-size={WINDOW[0]},{WINDOW[1]}", "--dump-dom", probe.as_uri()]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180).stdout
    m = re.search(r'data-probe="([^"]*)"', out)
    assert m, out[-2000:]
    return m.group(1)


def _screenshot(page: Path, png: Path) -> None:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", "--disable-sync", f"--user-data-dir={tempfile.mkdtemp()}",
           "--virtual-time-budget=5000", f"--screenshot={png}", f"--window-size={WINDOW[0]},{WINDOW[1]}", page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and png.exists(), proc.stderr[-2000:]


def _with_view(report: Path, content: str, path: str, out: Path) -> Path:
    """A copy of ``report`` that opens the result ``path`` as a click on it does (``content``: "img" for a
    figure, "html" for a table's page)."""
    html = report.read_text()
    show = (f'<script>setTimeout(function () {{ app.setView({{navbarMode: "resultinfo", content: "{content}", '
            f'contentPath: results["{path}"].data_uri, resultPath: "{path}"}}); }}, 300);</script>')
    out.write_text(html[:html.rindex("</body>")] + show + html[html.rindex("</body>"):])
    return out


def _figure_views(report: Path, paths: list[str], tmp: Path) -> list[dict]:
    """Each figure of ``paths`` opened in the report in turn as a click opens it, as headless Chromium lays it
    out in WINDOW: its image's top (px from the window's top), displayed height and width."""
    html = report.read_text()
    script = ("<script>(function () { var paths = " + json.dumps(paths) + """, out = [], i = 0;
      function measure() {
        var p = paths[i], uri = results[p].data_uri;
        var img = [...document.querySelectorAll('img')].find(function (m) { return m.getAttribute('src') === uri; });
        if (!img || !img.complete) { setTimeout(measure, 100); return; }
        var r = img.getBoundingClientRect();
        out.push({path: p, top: r.top, height: r.height, width: r.width});
        i += 1;
        next();
      }
      function next() {
        if (i >= paths.length) { document.body.setAttribute('data-probe', JSON.stringify(out)); return; }
        app.setView({navbarMode: "resultinfo", content: "img", contentPath: results[paths[i]].data_uri,
                     resultPath: paths[i]});
        setTimeout(measure, 300);
      }
      setTimeout(next, 500);
    })();</script>""")
    probe = tmp / "probe-figures.html"
    probe.write_text(html[:html.rindex("</body>")] + script + html[html.rindex("</body>"):])
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={tempfile.mkdtemp()}",
           f"--virtual-time-budget={3000 + 1000 * len(paths)}", f"--window-size={WINDOW[0]},{WINDOW[1]}", "--dump-dom",
           probe.as_uri()]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300).stdout
    m = re.search(r'data-probe="([^"]*)"', out)
    assert m, out[-2000:]
    return json.loads(htmllib.unescape(m.group(1)))


def _non_trivial_png(png: Path) -> None:
    from matplotlib.image import imread

    img = imread(png)
    assert img.shape[:2] == (WINDOW[1], WINDOW[0]), img.shape
    assert len(np.unique(img.reshape(-1, img.shape[-1])[::97], axis=0)) > 20, f"{png}: a blank page"


# The report is read at 1400 px: a neurons-needed figure (the one with the most panels) may be at most
# 1800 px wide, shown at >= 78% so that its 7.5 pt text stays >= 12 px (tests/test_figures.py checks the
# panels per row and the font sizes of the drawn figure), and no taller than three rows of panels.
NEEDED_MAX_PX = (1800, 1700)


@pytest.mark.slow
def test_neurons_needed_figures_fit_the_reports_width(tiny_run):
    from matplotlib.image import imread

    pngs = sorted((tiny_run / "results" / "figures").glob("neurons_needed_*.png"))
    assert pngs, "no neurons-needed figure in the tiny run"
    for png in pngs:
        h, w = imread(png).shape[:2]
        assert w <= NEEDED_MAX_PX[0] and h <= NEEDED_MAX_PX[1], (png.name, w, h)
        assert w >= 1000, (png.name, w)  # not a sliver either: the panels get their room


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_report_shows_the_tables_and_figures_in_a_browser(tiny_copy, tmp_path):
    snakemake(tiny_copy, "--configfile", str(tiny_copy / "config.yaml"), "--report", "report.html")
    report = tiny_copy / "report.html"
    html = report.read_text()
    for name in ("neurons", "biasvar", "regularization_epochs", "wsl"):
        page = (tiny_copy / "results" / "tables" / f"{name}.html").read_text()
        assert "<table>" in page and "<h1>" in page
        assert f"filename={name}.html" in html  # embedded in the report, shown inline
    biasvar = (tiny_copy / "results" / "tables" / "biasvar.html").read_text().replace("<wbr>", "")
    assert "Bias-variance decomposition" in biasvar and "ce_bias [lo, hi]" in biasvar
    assert re.search(r"<td class=\"num\">0\.\d{1,4} \[0\.\d{1,3}, 0\.\d{1,3}\]</td>", biasvar), biasvar[:3000]

    _screenshot(report, tmp_path / "landing.png")
    _non_trivial_png(tmp_path / "landing.png")
    # the landing text starts on screen, its first line at the top (the content box used to centre it, so
    # that its top sat above the window, where it could not be scrolled to)
    first = ("[...document.querySelectorAll('p')].find(function (p) { return p.textContent.indexOf("
             "'reproduces two papers') >= 0; }).getBoundingClientRect().top")
    assert 0 <= float(_measure(report, first, tmp_path)) < 100
    # the claims summary fits the window's width (its text columns wrap)
    summary = tiny_copy / "results" / "tables" / "claims_summary.html"
    assert int(_measure(summary, "document.documentElement.scrollWidth", tmp_path)) <= WINDOW[0]
    # every figure, opened as a click on it opens it, starts at the window's top (a tall one scrolls down from its
    # first line) and is at most 2.5 screens tall as shown; its file is too
    from PIL import Image

    figures = sorted(f"results/figures/{png.name}" for png in (tiny_copy / "results" / "figures").glob("*.png"))
    assert any("claims_forest_" in f for f in figures), figures
    views = _figure_views(report, figures, tmp_path)
    assert [v["path"] for v in views] == figures
    for v in views:
        assert 0 <= v["top"] < 100 and 0 < v["height"] <= 2.5 * WINDOW[1] and v["width"] <= WINDOW[0], v
        assert Image.open(tiny_copy / v["path"]).size[1] <= 2.5 * WINDOW[1], v["path"]
    tallest = max(views, key=lambda v: v["height"])["path"]
    _screenshot(_with_view(report, "img", tallest, tiny_copy / "report_figure.html"), tmp_path / "figure.png")
    _non_trivial_png(tmp_path / "figure.png")
    # the page a click on a table opens: the report's own view of that result
    _screenshot(_with_view(report, "html", "results/tables/biasvar.html", tiny_copy / "report_table.html"),
                tmp_path / "table.png")
    _non_trivial_png(tmp_path / "table.png")
    keep = Path(tempfile.gettempdir()) / "softlabels-report-screenshots"  # for people to look at
    keep.mkdir(exist_ok=True)
    for f in ("landing.png", "table.png", "figure.png"):
        shutil.copy(tmp_path / f, keep / f)
