"""draw in a real browser: headless Chromium renders the reference pictures, and the page itself
says that every volume is labelled, no two labels overlap, the red volume is the right one and the
screenshot is not blank. One PNG per case is kept under docs/draw/ for a reviewer
(``pytest --update-golden`` rewrites them; they are looked at, not compared pixel by pixel)."""

from __future__ import annotations

import struct
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from cnninspect.draw import DrawFormat, draw
from cnninspect.draw.items import build_items
from cnninspect.draw.source import groups_of, parts_of
from cnninspect.engines import Engine, trace_with
from cnninspect.rules import find_problems
from cnninspect.spec.overrides import Overrides, apply_overrides
from tests.conftest import CONFIGS, ROOT, builtin, load

CHROMEDRIVER = Path("/usr/bin/chromedriver")
PICTURES = ROOT / "docs" / "draw"
OPTIONS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
CASES = {
    "tutorial_k3": (None, None),
    "tutorial_k5": (None, 5),
    "resnet18": (CONFIGS / "resnet18.yaml", None),
    "unet": (CONFIGS / "unet.yaml", None),
    "yolov3-tiny": (CONFIGS / "darknet" / "yolov3-tiny.cfg", None),
}
LABELS_JS = """
return Array.from(document.querySelectorAll('text.label')).map(function (t) {
  const b = t.getBBox();
  return [t.textContent, t.getAttribute('class'), b.x, b.y, b.width, b.height];
});
"""
ITEMS_JS = """
return Array.from(document.querySelectorAll('g.item')).map(function (g) {
  const shape = g.querySelector('text.shape');
  const r = g.getBoundingClientRect();
  return [g.getAttribute('class'), g.querySelector('title').textContent, shape ? shape.textContent : null,
          r.width, r.height];
});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not CHROMEDRIVER.exists():
        pytest.skip("chromium-driver is not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    for option in OPTIONS:
        options.add_argument(option)
    with tempfile.TemporaryDirectory() as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def traced(name: str):
    path, kernel = CASES[name]
    spec = builtin() if path is None else load(path)
    if kernel is not None:
        spec = apply_overrides(spec, Overrides(None, None, kernel, None, None, ()))
    trace = trace_with(spec, Engine.ANALYTIC)
    return trace, find_problems(trace)


def overlap(a: list[float], b: list[float]) -> bool:
    """Two (x, y, width, height) boxes share more than a sliver."""
    tolerance = 0.5
    return (
        a[0] + a[2] - tolerance > b[0]
        and b[0] + b[2] - tolerance > a[0]
        and a[1] + a[3] - tolerance > b[1]
        and b[1] + b[3] - tolerance > a[1]
    )


def distinct_bytes(png: bytes) -> int:
    """How many distinct byte values the PNG's pixel rows hold: a blank page has a handful."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    data, offset = b"", 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        if kind == b"IDAT":
            data += png[offset + 8 : offset + 8 + length]
        offset += 12 + length
    return len(set(zlib.decompress(data)))


@pytest.mark.parametrize("name", list(CASES))
def test_the_picture_in_a_browser(browser, name: str, tmp_path: Path, request: pytest.FixtureRequest):
    trace, findings = traced(name)
    svg = tmp_path / f"{name}.svg"
    svg.write_text(draw(trace, findings, DrawFormat.SVG), encoding="utf-8")
    expected = [item.label for item in build_items(parts_of(trace, findings), groups_of(trace), None)]
    browser.get(svg.as_uri())
    width, height = browser.execute_script(
        "const r = document.documentElement.getBoundingClientRect(); return [r.width, r.height];"
    )
    browser.set_window_size(int(width) + 40, int(height) + 180)

    items = browser.execute_script(ITEMS_JS)
    assert [shape for _, _, shape, _, _ in items] == expected  # every volume labelled, in order
    assert all(w > 0 and h > 0 for *_, w, h in items)
    red = [title.split(" · ")[0] for classes, title, *_ in items if "error" in classes.split()]
    assert red == (["fc"] if name == "tutorial_k5" else [])

    labels = browser.execute_script(LABELS_JS)
    assert len(labels) >= 2 * len(expected)
    for i, a in enumerate(labels):
        assert a[4] > 0, a
        for b in labels[i + 1 :]:
            assert not overlap(a[2:], b[2:]), (a, b)

    png = browser.get_screenshot_as_png()
    assert distinct_bytes(png) > 40
    if request.config.getoption("--update-golden"):
        PICTURES.mkdir(parents=True, exist_ok=True)
        (PICTURES / f"{name}.png").write_bytes(png)


def test_the_html_page_shows_a_row_on_focus_and_unfolds(browser, tmp_path: Path):
    trace, findings = traced("tutorial_k5")
    page = tmp_path / "k5.html"
    page.write_text(draw(trace, findings, DrawFormat.HTML), encoding="utf-8")
    browser.get(page.as_uri())
    assert browser.execute_script("return document.querySelectorAll('.picture:not([hidden])').length") == 1
    browser.execute_script("document.querySelector('.picture:not([hidden]) g.item.error').focus()")
    detail = browser.execute_script("return document.getElementById('detail').textContent")
    assert "fc · Linear · 10 × 2048" in detail
    assert "CNN201 fc: in_features is 2048 but it receives 1568" in detail
    assert browser.execute_script("return document.querySelectorAll('tbody tr').length") == 6

    trace, findings = traced("resnet18")
    page = tmp_path / "r18.html"
    page.write_text(draw(trace, findings, DrawFormat.HTML), encoding="utf-8")
    browser.get(page.as_uri())
    count = "return document.querySelectorAll('.picture:not([hidden]) g.item').length"
    unfolded = browser.execute_script(count)
    browser.execute_script("document.getElementById('fold-more').click()")
    folded = browser.execute_script(count)
    assert folded < unfolded
    browser.execute_script(
        "document.querySelector('.picture:not([hidden]) g.item.group')"
        ".dispatchEvent(new MouseEvent('click', {bubbles: true}))"
    )
    assert browser.execute_script(count) > folded
    hidden = "return document.querySelectorAll('tbody tr[hidden]').length"
    assert browser.execute_script(hidden) == 0
    browser.execute_script("document.querySelector('tr.group[data-name=\"layer1\"] button').click()")
    assert browser.execute_script(hidden) > 0  # layer1's rows collapsed
