"""Unit tests for pooling the rounds of several runs."""

import contextlib
import io
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import pool  # noqa: E402


def result(cells):
    """A latest.json with `cells`: {(server, scenario): [cpu per round]}."""
    return {"results": [{"server": server, "scenario": scenario,
                         "runs": [{"cpu_us_per_request": c} for c in cpus]}
                        for (server, scenario), cpus in cells.items()]}


class Pooling(unittest.TestCase):
    def test_rounds_pair_within_a_run_and_pool_across_runs(self):
        first = result({("a", "s"): [1.0, 2.0], ("b", "s"): [2.0, 2.0]})
        second = result({("a", "s"): [3.0], ("b", "s"): [2.0]})
        summary = pool.pool({"1": first, "2": second}, "a", "b", "s", target=0.9)
        self.assertEqual((summary["runs"], summary["rounds"]), (2, 3))
        self.assertEqual(summary["median"], 1.0)  # of 0.5, 1.0 and 1.5
        self.assertEqual(summary["run_medians"], {"1": 0.75, "2": 1.5})
        self.assertAlmostEqual(summary["meeting"], 1 / 3)

    def test_runs_without_both_servers_are_left_out(self):
        only_a = result({("a", "s"): [1.0]})
        both = result({("a", "s"): [1.0], ("b", "s"): [4.0]})
        summary = pool.pool({"x": only_a, "y": both}, "a", "b", "s")
        self.assertEqual((summary["runs"], summary["median"]), (1, 0.25))
        self.assertNotIn("meeting", summary)
        self.assertIsNone(pool.pool({"x": only_a}, "a", "b", "s"))

    def test_a_run_with_a_failed_round_is_left_out_not_misaligned(self):
        short = result({("a", "s"): [1.0, 2.0], ("b", "s"): [2.0]})
        self.assertIsNone(pool.pool({"x": short}, "a", "b", "s"))

    def test_the_interval_holds_the_median_and_is_repeatable(self):
        values = [0.8 + i / 100 for i in range(30)]
        low, high = pool.bootstrap_interval(values)
        self.assertLessEqual(low, 0.945)
        self.assertGreaterEqual(high, 0.945)
        self.assertEqual((low, high), pool.bootstrap_interval(values))

    def test_a_bad_target_is_one_plain_error(self):
        stderr = io.StringIO()
        with self.assertRaises(SystemExit) as exit_, contextlib.redirect_stderr(stderr):
            pool.main(["--peer", "b", "--target", "pipelined", "nowhere"])
        self.assertEqual(exit_.exception.code, 2)
        self.assertIn("expected SCENARIO=RATIO", stderr.getvalue())


if __name__ == "__main__":
    unittest.main()
