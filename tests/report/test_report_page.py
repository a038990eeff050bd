"""The page itself, from hand-written report data: escaping, sections without data, self-containment, axes."""

from __future__ import annotations

import re

import pytest

from netslim.report import build_report, sections, svg, write_report
from netslim.report.fields import field, settings
from netslim.report.units import byte_unit, ms, size, tick

PLOTS = ("candidates", "size", "layer-latency", "sensitivity")
TABLES = ("frozen", "transforms", "environment")
EVIL = '<script>alert("x")</script>" onload="alert(1)'


def full_data(name: str = "conv1") -> dict:
    """Every section filled, with ``name`` as the layer / candidate name everywhere."""
    return {
        "title": f"model {name}",
        "subtitle": name,
        "facts": [("chosen", name)],
        "candidates": {
            "batch": 32,
            "accuracy_of": "validation",
            "front": True,
            "reference": [0.3, "original"],
            "note": "2 trials on the Pareto front",
            "rows": [
                {
                    "name": name,
                    "accuracy": 0.97,
                    "latency_ms": 0.11,
                    "bytes": 30000,
                    "status": "chosen",
                    "pareto": True,
                },
                {
                    "name": "b",
                    "accuracy": 0.96,
                    "latency_ms": 0.09,
                    "bytes": 9000,
                    "status": "within budget",
                    "pareto": True,
                },
                {"name": "c", "accuracy": 0.90, "latency_ms": 0.2, "bytes": 8000, "status": "misses budget"},
            ],
        },
        "sizes": {"of": "file sizes", "rows": [{"name": name, "bytes": 30000, "chosen": True}]},
        "layers": {
            "before": "trained",
            "after": "pruned",
            "batch": 1,
            "threads": 2,
            "rows": [
                {"name": name, "before_ms": 0.02, "after_ms": 0.01},
                {"name": "fc", "before_ms": 0.01, "after_ms": None, "missing": "removed"},
            ],
        },
        "sensitivity": {
            "of": "int8 SQNR",
            "unit": "dB",
            "flag": "kept fp32",
            "rows": [{"name": name, "value": 12.5, "flag": True}, {"name": "fc", "value": 40.0}],
        },
        "frozen": [{"layer": name, "what": "10 of 10 channels frozen", "why": "model output"}],
        "transforms": [
            {
                "candidate": name,
                "verb": "prune_",
                "settings": "PruneConfig(ratio=0.5)",
                "layers": 2,
                "params": [100, 50],
                "macs": [1000, 400],
                "bytes": [400, 200],
            }
        ],
        "environment": [("CPU", name), ("cores", "2")],
    }


def test_every_section_is_drawn_from_full_data() -> None:
    page = build_report(full_data())
    for plot in PLOTS:
        figure = re.search(rf'<figure data-plot="{plot}">(.*?)</figure>', page, re.S)
        assert figure, f"plot {plot!r} is missing"
        assert "<svg" in figure.group(1) and 'class="mark' in figure.group(1), f"plot {plot!r} draws no mark"
        assert "<figcaption>" in figure.group(1), f"plot {plot!r} has no caption"
    for table in TABLES:
        assert f'data-table="{table}"' in page, f"table {table!r} is missing"
    assert "data-absent" not in page
    # axes are labelled with their units
    for label in ("median latency at batch 32 (ms)", "validation accuracy (%)", "size (kB)", "int8 output SQNR (dB)"):
        assert label in page
    assert "median latency per layer (ms, batch 1, 2 threads)" in page
    assert "fc, after" not in page and "after: removed" in page  # a removed layer says so instead of a bar


def test_layer_and_candidate_names_are_escaped_everywhere() -> None:
    page = build_report(full_data(EVIL))
    assert "<script" not in page and 'onload="alert' not in page
    assert page.count("&lt;script&gt;") >= 8  # title, facts, scatter tooltip, table cells, bar labels, ...
    assert "&quot; onload=&quot;alert(1)" in page


def test_sections_without_data_say_why_and_the_page_is_still_whole() -> None:
    page = build_report({"absent": {"candidates": "no search ran", "layers": "the pipeline times whole models"}})
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<figure" not in page
    for name in (*PLOTS, *TABLES):
        assert re.search(rf'<p class="absent" data-absent="{name}">Not shown: [^<]+\.</p>', page), name
    assert 'data-absent="candidates">Not shown: no search ran.</p>' in page
    assert 'data-absent="layer-latency">Not shown: the pipeline times whole models.</p>' in page


def test_a_record_that_cannot_be_drawn_is_named_in_its_section(monkeypatch) -> None:
    def broken(data):  # type: ignore[no-untyped-def]
        raise ValueError("a field of an unknown kind")

    monkeypatch.setattr(sections, "SECTIONS", (("size", broken), *sections.SECTIONS[2:]))
    page = build_report(full_data())
    assert re.search(r'data-absent="size">Not shown: this record could not be drawn \(ValueError: a field', page)
    assert 'data-plot="layer-latency"' in page  # the other sections are still drawn


def test_malformed_values_are_skipped_not_raised() -> None:
    data = full_data()
    data["candidates"]["rows"].append({"name": "x", "accuracy": "nan", "latency_ms": None})
    data["sizes"]["rows"].append({"name": "y", "bytes": True})
    data["frozen"].append("not a row")
    data["environment"].append(("only one",))
    page = build_report(data)
    assert page.count('class="mark k-') == 3 + 1 + 3 + 2  # candidates, size, layer bars, sensitivity bars
    assert build_report({"candidates": {"rows": "garbage"}, "facts": "x"}).count("data-absent") == 7


def test_the_page_loads_nothing_and_runs_nothing(tmp_path) -> None:
    path = write_report(tmp_path / "r" / "report.html", full_data())
    page = path.read_text()
    assert path.name == "report.html" and not list(path.parent.glob(".report.html.*"))  # atomic: no temp left
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    for needle in ("<script", " src=", "href=", "url(", "@import", "<link", "<img", "<iframe"):
        assert needle not in page, needle


def test_axes_have_round_ticks_and_units() -> None:
    assert svg.nice_axis(0.11, 0.33, zero=True) == svg.Axis(0.0, 0.4, 0.1)
    assert svg.nice_axis(95.93, 97.41).ticks[0] <= 95.93 and svg.nice_axis(95.93, 97.41).ticks[-1] >= 97.41
    assert svg.nice_axis(5.0, 5.0).hi > svg.nice_axis(5.0, 5.0).lo  # one value still has an axis
    assert [tick(v, 0.25) for v in (0.0, 0.25, 0.5)] == ["0", "0.25", "0.50"]
    assert (ms(0.11234), ms(None), size(31610), size(999), byte_unit(31610)) == (
        "0.112 ms",
        "–",
        "31.6 kB",
        "999 B",
        (1000.0, "kB"),
    )
    one = svg.scatter([svg.Point(0.1, 97.0)], x_label="x (ms)", y_label="y (%)")
    assert one.count('class="mark') == 1 and "nan" not in one


def test_record_helpers_read_partial_json() -> None:
    assert field({"a": [{"b": 1}]}, "a", 0, "b") == 1
    assert field({"a": [1]}, "a", 5) is None and field(None, "a") is None and field({"a": 1}, "a", "b") is None
    assert settings({"type": "QuantConfig", "data": {"weights": "int8", "skip": [], "observer": None}}) == (
        "QuantConfig(weights=int8)"
    )


@pytest.mark.parametrize("name", PLOTS)
def test_each_plot_alone_is_drawn_and_the_others_absent(name: str) -> None:
    key = {"size": "sizes", "layer-latency": "layers"}.get(name, name)
    page = build_report({key: full_data()[key]})
    assert f'<figure data-plot="{name}">' in page
    assert page.count("<figure") == 1


def test_the_package_is_a_leaf_any_layer_may_import() -> None:
    import ast
    from pathlib import Path

    import netslim.report

    allowed = ("netslim.report", "netslim.atomic", "netslim.errors")
    for path in Path(netslim.report.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "netslim":
                assert {a.name for a in node.names} <= {"atomic", "errors"}, path
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("netslim"):
                assert (node.module or "").startswith(allowed), f"{path.name} imports {node.module}"
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("netslim") and not a.name.startswith(allowed) for a in node.names)
