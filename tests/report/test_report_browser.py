"""The reports rendered by headless Chromium (Debian's ``chromium``, driven by Playwright): every expected plot is
drawn (a non-empty SVG with its marks laid out), and the page requests nothing beyond its own file. Skipped with the
reason where no Chromium or Playwright is installed, except under ``NETSLIM_REQUIRE_CHROMIUM=1`` (CI), where that
is a failure."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from netslim.report import REPORT

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# the marks each plot must have at least (the demo fixture: 5+ runtime candidates, 3+ model forms, 9 layers x 2,
# 4 quantized layers; the search fixture: 1+ trials and 4 layers)
DEMO_PLOTS = {"candidates": 5, "size": 3, "layer-latency": 18, "sensitivity": 4}
SEARCH_PLOTS = {"candidates": 1, "size": 1, "sensitivity": 4}

DRAWN = """
() => Array.from(document.querySelectorAll("figure[data-plot]")).map(figure => {
  const svg = figure.querySelector("svg");
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const marks = svg ? Array.from(svg.querySelectorAll(".mark")).filter(m => {
    const b = m.getBBox(), style = getComputedStyle(m);
    return b.width > 0 && b.height > 0 && style.visibility !== "hidden" && style.display !== "none";
  }).length : 0;
  return {name: figure.dataset.plot, width: box.width, height: box.height, marks: marks};
})
"""


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("NETSLIM_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"NETSLIM_REQUIRE_CHROMIUM=1 but {reason}")
    pytest.skip(reason)


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    _unavailable("no chromium binary found (Debian: apt-get install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install 'netslim[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS, headless=True)
        yield browser
        browser.close()


def render(browser: Any, page_file: Path, screenshot: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Open ``page_file``; return what each figure drew and every URL the page requested."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(page_file.resolve().as_uri(), wait_until="load")
    drawn = page.evaluate(DRAWN)
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return drawn, requests


def check(drawn: list[dict[str, Any]], expected: dict[str, int], where: Path) -> None:
    found = {figure["name"]: figure for figure in drawn}
    for name, marks in expected.items():
        assert name in found, f"plot {name!r} is missing from {where}"
        figure = found[name]
        assert figure["width"] > 0 and figure["height"] > 0, f"plot {name!r} in {where} has an empty drawing area"
        assert figure["marks"] >= marks, (
            f"plot {name!r} in {where} drew {figure['marks']} marks, expected at least {marks}"
        )


@pytest.mark.parametrize("run", ["demo", "artifact", "search"])
def test_each_plot_is_drawn_in_chromium(run: str, browser, demo_dir, search_dir, tmp_path) -> None:
    directory = {"demo": demo_dir, "artifact": demo_dir / "artifact", "search": search_dir}[run]
    expected = {"demo": DEMO_PLOTS, "search": SEARCH_PLOTS}.get(run, {k: DEMO_PLOTS[k] for k in SEARCH_PLOTS})
    drawn, requests = render(browser, directory / REPORT, tmp_path / f"{run}.png")
    check(drawn, expected, directory / REPORT)
    assert [url for url in requests if not url.startswith("file://")] == [], "the report loads something"
    assert (tmp_path / f"{run}.png").stat().st_size > 10_000  # a real picture of the page
