"""Time to render citations: each style's first parse, and each record of records.json
rendered uncached, in milliseconds (median and slowest), per style.

    python benchmarks/citations/render_time.py
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from digest.citations import rendering
from digest.citations.styles import parsed_style

RECORDS = json.loads((Path(__file__).parent / "records.json").read_text(encoding="utf-8"))
STYLES = ("harvard-cite-them-right", "apa", "vancouver")


def main() -> None:
    """Print the timings."""
    for style in STYLES:
        start = time.perf_counter()
        parsed_style(style)
        parse_ms = (time.perf_counter() - start) * 1000
        times = []
        for _ in range(3):
            for record in RECORDS:
                rendering._render.cache_clear()
                start = time.perf_counter()
                rendering.render(record, style)
                times.append((time.perf_counter() - start) * 1000)
        print(
            f"{style}: style parsed in {parse_ms:.0f} ms; a citation in "
            f"{statistics.median(times):.1f} ms (median), {max(times):.1f} ms (slowest)"
        )


if __name__ == "__main__":
    main()
