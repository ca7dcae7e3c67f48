"""Pools the per-round ratios of several committed load-test runs: one run's median moves with
the machine's phases and the peers' own variability, the rounds of many runs together say where
the ratio really lies.

    python3 loadtest/pool.py --peer may-minihttp loadtest/results/parse-probe loadtest/results/...

For each scenario: every round's CPU per request of SERVER ÷ PEER's in the same round (the
ratio the report's last column takes the median of), pooled over the runs that measured both;
their median, a 95% bootstrap interval for that median, the runs' own medians, and the share of
rounds at or under --target. Standard library only, like run.py.
"""

import argparse
import json
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import run  # noqa: E402  (the report's own pairing of rounds)

# Resamples for the bootstrap interval; seeded, so the same runs always give the same interval.
RESAMPLES = 5000


def round_ratios(result, server, peer, scenario, field="cpu_us_per_request"):
    """Round i of `server` ÷ round i of `peer`, from one run's latest.json, paired as the report
    pairs them (`run.paired_ratios`); [] when either is missing or the rounds do not pair."""
    runs = {(r["server"], r["scenario"]): r["runs"] for r in result["results"]}
    mine, theirs = runs.get((server, scenario), []), runs.get((peer, scenario), [])
    return run.paired_ratios([r[field] for r in mine], [r[field] for r in theirs]) or []


def bootstrap_interval(values, resamples=RESAMPLES, seed=1):
    """The 2.5th and 97.5th percentiles of the medians of `resamples` resamples of `values`."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def pool(results, server, peer, scenario, target=None):
    """The pooled summary of one scenario over `results` (name → latest.json), or None."""
    per_run = {name: round_ratios(result, server, peer, scenario) for name, result in results.items()}
    per_run = {name: ratios for name, ratios in per_run.items() if ratios}
    rounds = [r for ratios in per_run.values() for r in ratios]
    if not rounds:
        return None
    summary = {
        "scenario": scenario,
        "runs": len(per_run),
        "rounds": len(rounds),
        "median": statistics.median(rounds),
        "interval": bootstrap_interval(rounds),
        "run_medians": {name: statistics.median(ratios) for name, ratios in per_run.items()},
    }
    if target is not None:
        summary["meeting"] = sum(r <= target for r in rounds) / len(rounds)
    return summary


def describe(summary, server, peer, target):
    low, high = summary["interval"]
    lines = [f"{summary['scenario']}: {server} ÷ {peer}, {summary['rounds']} rounds of {summary['runs']} runs: "
             f"median {summary['median']:.3f} (95% interval {low:.3f}–{high:.3f})"]
    medians = sorted(summary["run_medians"].values())
    lines.append(f"  the runs' own medians: {', '.join(f'{m:.3f}' for m in medians)}")
    if target is not None:
        lines.append(f"  rounds at or under {target}: {summary['meeting']:.0%}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="result directories (each with latest.json)")
    parser.add_argument("--server", default="pollserve")
    parser.add_argument("--peer", required=True, help="the server to divide by, e.g. may-minihttp")
    parser.add_argument("--scenarios", default="keepalive,pipelined")
    parser.add_argument("--target", action="append", default=[], metavar="SCENARIO=RATIO",
                        help="count the rounds at or under RATIO, e.g. pipelined=0.9 (repeatable)")
    args = parser.parse_args(argv)
    targets = {}
    for item in args.target:
        scenario, _, ratio = item.partition("=")
        try:
            targets[scenario] = float(ratio)
        except ValueError:
            parser.error(f"--target {item}: expected SCENARIO=RATIO, e.g. pipelined=0.9")
    results = {}
    for directory in args.runs:
        path = directory / "latest.json" if directory.is_dir() else directory
        try:
            results[str(directory)] = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            parser.error(f"{path}: {e}")
    for scenario in args.scenarios.split(","):
        summary = pool(results, args.server, args.peer, scenario, targets.get(scenario))
        if summary is None:
            print(f"{scenario}: no run measured both {args.server} and {args.peer}")
            continue
        print(describe(summary, args.server, args.peer, targets.get(scenario)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
