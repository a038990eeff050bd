"""Copy the markdown tables the benchmark scripts wrote (benchmarks/results/*.md) into README.md, between
``<!-- results:NAME -->`` and ``<!-- /results:NAME -->`` markers, so every number in the README comes from a script.

Usage: python benchmarks/update_readme.py
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    for name in re.findall(r"<!-- results:([\w-]+) -->", text):
        table = ROOT / "benchmarks" / "results" / f"{name}.md"
        body = table.read_text().strip() if table.is_file() else f"_not measured yet: run benchmarks/{name}.py_"
        text = re.sub(
            rf"(<!-- results:{name} -->)\n.*?(<!-- /results:{name} -->)",
            lambda m, body=body: m.group(1) + "\n" + body + "\n" + m.group(2),
            text,
            flags=re.S,
        )
    readme.write_text(text)


if __name__ == "__main__":
    main()
