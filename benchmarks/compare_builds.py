"""Two builds of tapegrad timed against each other: bench_kernels.py run by each build's Python
in turn, round after round, so that both see the same machine load, then each case's median
per build and the change.

    python benchmarks/compare_builds.py --old OLD_VENV/bin/python --new NEW_VENV/bin/python \
        [--rounds 3] [--repeat N] [--threads N] [--quick] [--only TEXT ...]

Each interpreter must import the build it stands for (a virtual environment with that build
installed). Only tapegrad is timed (bench_kernels.py --no-peers). "change" is new time / old time
- 1 for every case (times derived from the GFLOP/s and GB/s figures where the table gives a
rate): negative is faster, and cases more than 3% slower are marked.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("bench_kernels.py")
SLOWER_MARK = 0.03


def run_once(python: str, extra: list[str]) -> dict[str, float]:
    """One bench_kernels.py run: {case: time per call, in arbitrary but consistent units}."""
    out = subprocess.run([python, str(SCRIPT), "--no-peers", *extra], check=True,
                         capture_output=True, text=True).stdout
    times = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0] in ("case", "---") or not line.startswith("|"):
            continue
        name, unit, value = cells[0], cells[1], cells[2]
        try:
            v = float(value)
        except ValueError:
            continue
        times[name] = v if unit == "us" else 1.0 / v  # a rate's inverse is proportional to time
    if not times:
        raise SystemExit(f"compare_builds: no results parsed from {python}:\n{out}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", required=True, help="Python interpreter of the old build")
    parser.add_argument("--new", required=True, help="Python interpreter of the new build")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each build, alternating")
    parser.add_argument("--repeat", type=int, default=None, help="bench_kernels.py --repeat")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+", default=None, help="bench_kernels.py --only")
    args = parser.parse_args()
    extra = ((["--threads", str(args.threads)] if args.threads else [])
             + (["--repeat", str(args.repeat)] if args.repeat else []) + (["--quick"] if args.quick else [])
             + (["--only", *args.only] if args.only else []))
    runs = {"old": [], "new": []}
    for r in range(args.rounds):
        for which in ("old", "new") if r % 2 == 0 else ("new", "old"):
            runs[which].append(run_once(getattr(args, which), extra))
            print(f"round {r + 1}: {which} done", file=sys.stderr)
    print(f"| case | old | new | change |  (median of {args.rounds} alternating runs; "
          "us, or 1/rate for GFLOP/s and GB/s cases)")
    print("|---|---|---|---|")
    slower = []
    for case in runs["old"][0]:
        old = statistics.median(t[case] for t in runs["old"])
        new = statistics.median(t[case] for t in runs["new"] if case in t)
        change = new / old - 1
        mark = " SLOWER" if change > SLOWER_MARK else ""
        if mark:
            slower.append(case)
        print(f"| {case} | {old:.4g} | {new:.4g} | {change:+.1%}{mark} |")
    print(f"\ncases more than {SLOWER_MARK:.0%} slower: {len(slower)}" + (f" ({'; '.join(slower)})" if slower else ""))


if __name__ == "__main__":
    main()
