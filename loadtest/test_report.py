"""Unit tests for the report: ratio columns with their per-round range, partial runs kept apart
from the committed results, and charts whose text fits."""

import re
import sys
import unittest
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).parent))
import run  # noqa: E402


def cell(server, scenario, cpus):
    runs = [mock.Mock(cpu_us_per_request=c, rps=1000 / c) for c in cpus]
    return run.Cell(server, scenario, runs)


class RatioText(unittest.TestCase):
    def test_median_of_rounds_with_the_range(self):
        base = cell("pollserve", "keepalive", [2.0, 4.0, 1.0])
        other = cell("peer", "keepalive", [3.0, 4.0, 2.5])
        self.assertEqual(run.ratio_text(other, base, "cpu_us_per_request"), "1.50× [1.00–2.50]")
        self.assertEqual(run.ratio_text(base, base, "cpu_us_per_request"), "1.00×")

    def test_unpaired_runs_give_the_ratio_of_medians_without_a_range(self):
        base = cell("pollserve", "keepalive", [2.0, 2.0])
        other = cell("peer", "keepalive", [3.0])
        self.assertEqual(run.ratio_text(other, base, "cpu_us_per_request"), "1.50×")

    def test_a_round_without_a_value_gives_the_ratio_of_medians_without_a_range(self):
        # The range is of the same paired rounds the median came from, or there is none.
        base = cell("pollserve", "keepalive", [2.0, 2.0, 2.0])
        other = run.Cell("peer", "keepalive", [mock.Mock(cpu_us_per_request=c) for c in (3.0, 0.0, 3.0)])
        self.assertEqual(run.ratio_text(other, base, "cpu_us_per_request"), "1.50×")


class Chart(unittest.TestCase):
    def test_shared_scales_and_legend_fit(self):
        scenarios = [s for s in run.SCENARIOS if s.name in ("hot_alone", "hot_with_slow_queries", "keepalive")]
        names = ["pollserve", "actix-web", "axum", "fastapi", "python-http.server", "may-minihttp", "fastapi-sqlite"]
        cells = {}
        for name in names:
            for s in scenarios:
                cells[(name, s.name)] = run.Cell(name, s.name, [mock.Mock(rps=100_000.0, cpu_us_per_request=5.0)])
        cells[("pollserve", "hot_with_slow_queries")].runs[0].rps = 50_000.0
        svg = run.svg_chart(cells, scenarios, names)
        width = int(re.search(r'width="(\d+)"', svg).group(1))
        # Legend items start inside the picture, with room for their names.
        for x, name in re.findall(r'<text x="(\d+)" y="\d+">([a-z.-]+)</text>', svg):
            if name in names:
                self.assertLess(int(x) + 7 * len(name), width, name)
        # The slow-query scenario's bar is half the other's: one scale for the two.
        heights = {t: float(h) for h, t in re.findall(r'height="([\d.]+)" fill="#2b6cb0"><title>pollserve: ([\d.,k]+)', svg)}
        self.assertAlmostEqual(heights["50k"] * 2, heights["100k"], places=0)


if __name__ == "__main__":
    unittest.main()
