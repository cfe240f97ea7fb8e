"""Run every benchmark of this folder, each in a process of its own, and sum up how each went.

A benchmark is a module of benchmarks/ with a top-level `main()` (found by reading the source, not
by importing it). Each runs as `python -m benchmarks.<name> [args]` in its own interpreter, so no
benchmark inherits another's imports, caches, moto state or threads. Progress goes to stderr, each
benchmark's own output to stdout as it comes, then a summary: name, status and seconds.

    python -m benchmarks.run_all                  # every benchmark except the long ones
    python -m benchmarks.run_all --all            # the long ones too (LONG below)
    python -m benchmarks.run_all --quick          # each at a small size (QUICK below): a smoke run
    python -m benchmarks.run_all --only fetch_throughput push_delivery
    python -m benchmarks.run_all --list

The figures in benchmarks/README.md come from full runs on a quiet machine; a `--quick` run shows
that every benchmark still works, not what it measures.
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# Left out unless --all (or --only names them): what each costs.
LONG = {
    "local_push_load": "the whole local stack draining 10,000 pushes, several minutes",
}
# Not run from here: they need arguments only a person can give.
NEEDS_ARGUMENTS = {
    "before_after": "python -m benchmarks.before_after --before <an earlier checkout>",
}
# Arguments for --quick: the smallest run that still goes through every phase of the benchmark.
# A benchmark missing here runs with no arguments.
QUICK = {
    "cold_start": ["--rounds", "1"],
    "discover_corpus": ["--only", "stripe.com.json"],
    "fetch_switch_interval": ["--pages", "5", "--rounds", "1"],
    "fetch_throughput": ["--quick"],
    "local_push_load": ["--messages", "200"],
    "push_delivery": ["--quick"],
    "ratelimit_cost": ["--quick"],
    "request_warm_overhead": ["200"],
}


def benchmarks() -> list[str]:
    """The modules of benchmarks/ that define `main()` at top level, by name."""
    found = []
    for path in sorted(HERE.glob("*.py")):
        if path.stem in ("__init__", "run_all"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        if any(
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "main"
            for node in tree.body
        ):
            found.append(path.stem)
    return found


@dataclass
class Result:
    name: str
    status: str  # "ok", "failed (exit N)", "skipped: ..."
    seconds: float = 0.0


def say(message: str) -> None:
    print(f"[run_all] {message}", file=sys.stderr, flush=True)


def run(name: str, args: list[str], timeout_s: float | None) -> Result:
    """One benchmark in its own interpreter; its stdout copied to ours line by line."""
    command = [sys.executable, "-m", f"benchmarks.{name}", *args]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "shared"), str(ROOT)]),
        "PYTHONUNBUFFERED": "1",
    }
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    timer = threading.Timer(timeout_s, _stop, (process,)) if timeout_s else None
    if timer:
        timer.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
        process.wait()
    except BaseException:  # Ctrl-C: the benchmark and what it started go too
        _stop(process)
        raise
    finally:
        if timer:
            timer.cancel()
    seconds = time.monotonic() - started
    if process.returncode == 0:
        status = "ok"
    elif timer and timeout_s and seconds >= timeout_s:
        status = f"failed (stopped after {timeout_s:g} s)"
    else:
        status = f"failed (exit {process.returncode})"
    return Result(name, status, seconds)


def _stop(process: subprocess.Popen[str]) -> None:
    """Terminate the benchmark's process group (its servers and workers with it)."""
    import signal

    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def summary(results: list[Result]) -> str:
    width = max(len(r.name) for r in results)
    lines = ["", "benchmark".ljust(width) + "  seconds  status"]
    for r in results:
        seconds = f"{r.seconds:7.1f}" if r.seconds else "      -"
        lines.append(f"{r.name.ljust(width)}  {seconds}  {r.status}")
    failed = sum(1 for r in results if r.status.startswith("failed"))
    ran = sum(1 for r in results if not r.status.startswith("skipped"))
    lines.append(f"{ran} run, {failed} failed, {len(results) - ran} skipped")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--all", action="store_true", help=f"also the long ones: {sorted(LONG)}")
    parser.add_argument("--quick", action="store_true", help="each at a small size (a smoke run)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these benchmarks alone")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and stop")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per benchmark")
    args = parser.parse_args(argv)

    names = benchmarks()
    if args.list:
        for name in names:
            note = f"  (long: {LONG[name]}; runs with --all)" if name in LONG else ""
            if name in NEEDS_ARGUMENTS:
                note = f"  (run it yourself: {NEEDS_ARGUMENTS[name]})"
            print(f"{name}{note}")
        return 0
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            parser.error(f"no such benchmark: {', '.join(unknown)} (there are: {', '.join(names)})")
        names = [name for name in names if name in args.only]

    results: list[Result] = []
    chosen = []
    for name in names:
        if name in NEEDS_ARGUMENTS:
            say(f"skipping {name}: run it yourself, {NEEDS_ARGUMENTS[name]}")
            results.append(Result(name, f"skipped: {NEEDS_ARGUMENTS[name]}"))
        elif name in LONG and not (args.all or args.only):
            say(f"skipping {name} ({LONG[name]}); --all runs it")
            results.append(Result(name, "skipped: long, --all runs it"))
        else:
            chosen.append(name)
    for number, name in enumerate(chosen, 1):
        extra = QUICK.get(name, []) if args.quick else []
        say(f"{number}/{len(chosen)} {' '.join(['benchmarks.' + name, *extra])}")
        print(f"\n=== benchmarks.{name} {' '.join(extra)}".rstrip(), flush=True)
        result = run(name, extra, args.timeout)
        say(f"{number}/{len(chosen)} {name}: {result.status} in {result.seconds:.1f} s")
        results.append(result)

    results.sort(key=lambda r: names.index(r.name))
    print(summary(results), flush=True)
    return 1 if any(r.status.startswith("failed") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
