"""Before and after in the same run: a benchmark of this tree and of an earlier checkout, taken in
turns, so both see the same machine (a shared, noisy one) and the same server processes' costs.

Each round runs every chosen benchmark once in each tree, the earlier tree first in even rounds
and second in odd ones, each in a fresh interpreter of this venv with that tree's `shared/` and
root on its path. Figures are the medians over the rounds, and every round's figures are printed.

    git worktree add --detach /tmp/before <commit>
    python -m benchmarks.before_after --before /tmp/before               # 5 rounds, all
    python -m benchmarks.before_after --before /tmp/before --only warm --rounds 7

Cold start has its own `--before` (benchmarks/cold_start.py), which samples at a finer grain.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _warm(output: str) -> dict[str, float]:
    found = re.search(r"^p50: .*? ratio ([0-9.]+) \|", output, re.MULTILINE)
    if found is None:
        raise ValueError(f"no p50 ratio in:\n{output}")
    return {"warm p50 ratio to bare httpx": float(found.group(1))}


def _fetch(output: str) -> dict[str, float]:
    # The figures are the last thing printed, indented JSON; log lines (JSON too) may come first.
    lines = output.splitlines()
    start = max(i for i, line in enumerate(lines) if line == "{")
    results: dict[str, Any] = json.loads("\n".join(lines[start:]))
    return {
        "fetch records/s ratio to bare loop": results["ratio_to_bare_loop"],
        "fetch peak RSS MiB, 100,000 records": results["peak_rss_mb_100000"],
        "fetch peak RSS MiB, 500,000 records": results["peak_rss_mb_500000"],
    }


@dataclass(frozen=True)
class Benchmark:
    module: str
    args: tuple[str, ...]
    read: Callable[[str], dict[str, float]]


BENCHMARKS = {
    "warm": Benchmark("benchmarks.request_warm_overhead", ("2000",), _warm),
    "fetch": Benchmark("benchmarks.fetch_throughput", (), _fetch),
}


def run(benchmark: Benchmark, tree: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(tree / "shared"), str(tree)))}
    done = subprocess.run(
        [sys.executable, "-m", benchmark.module, *benchmark.args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{benchmark.module} in {tree} failed:\n{done.stderr[-3000:]}")
    return benchmark.read(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", type=Path, required=True, help="the earlier checkout's root")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="warm,fetch")
    args = parser.parse_args()
    chosen = [BENCHMARKS[name] for name in args.only.split(",")]
    figures: dict[tuple[str, str], list[float]] = {}
    for number in range(args.rounds):
        trees = [("before", args.before), ("after", ROOT)]
        for label, tree in trees if number % 2 == 0 else trees[::-1]:
            for benchmark in chosen:
                print(
                    f"round {number + 1}/{args.rounds}: {benchmark.module} {label}", file=sys.stderr
                )
                for name, value in run(benchmark, tree).items():
                    figures.setdefault((name, label), []).append(value)
    names = dict.fromkeys(name for name, _ in figures)
    print(f"| figure (median of {args.rounds} rounds) | before | after | rounds before / after |")
    print("|---|---|---|---|")
    for name in names:
        before, after = figures[(name, "before")], figures[(name, "after")]
        print(
            f"| {name} | {statistics.median(before):.2f} | {statistics.median(after):.2f} "
            f"| {' '.join(f'{v:.2f}' for v in before)} / {' '.join(f'{v:.2f}' for v in after)} |"
        )


if __name__ == "__main__":
    main()
