"""Cold start: importing each handler vs importing only the libraries it cannot do without.

Each sample is a fresh Python process that imports one subject and prints how long the import took
(wall clock, and CPU time: on a shared machine the CPU time moves less with the load) and its peak
RSS (`ru_maxrss`, which includes the interpreter itself). One round takes one sample of every
subject, in an order rotated each round so that none always runs first; figures are medians over
the rounds.

The baseline is what any handler needs whatever apicall does: boto3, httpx, pydantic (with the
names the layer uses; pydantic resolves them lazily) and Powertools' Logger and Metrics. A handler's
sample imports the handler and then those libraries: what it leaves to its first invocation (boto3,
say) still counts, as that invocation would load it. Each handler is measured in three settings:

- `off`: in Lambda (LAMBDA_TASK_ROOT set) with POWERTOOLS_TRACE_DISABLED=true;
- `on`: in Lambda with tracing on, as template.yaml deploys the functions (`Tracing: Active`);
- `local`: outside Lambda (tests, `sam local`, the local stack), where Powertools never traces.

    python -m benchmarks.cold_start                          # 7 rounds, this interpreter
    python -m benchmarks.cold_start --python "$(python -m tests.support.layer_env)"
    python -m benchmarks.cold_start --before /tmp/before     # an earlier tree in the same run
    python -m benchmarks.cold_start --rounds 15 --settings off,on

`--python` picks the interpreter: the layer venv has exactly what Lambda has (the development
venv has more, e.g. rich, which httpx then imports for its command line). `--before` takes the
root of another checkout, e.g. `git worktree add --detach /tmp/before <commit>`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.environment import HANDLER_ENVIRONMENT

ROOT = Path(__file__).resolve().parent.parent

BASELINE = (
    "import boto3, httpx, pydantic\n"
    "from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError\n"
    "from pydantic import field_validator, model_validator\n"
    "from aws_lambda_powertools import Logger, Metrics\n"
    "Logger(); Metrics()\n"
)
HANDLERS = {
    "request": "import functions.request.app\n",
    "api": "import functions.request.api\n",
    "push": "import functions.push.app\n",
    "fetch": "import functions.fetch.app\n",
    # The handler's import and its first invocation: what import leaves to first use (pydantic
    # schemas, say) shows up here. The URL is refused before anything is sent, and the history
    # write goes to a port where nothing listens, once (ENVIRONMENT): no network, no AWS.
    "request + first call": (
        "import functions.request.app\n"
        "from local.stack import LocalContext\n"
        "functions.request.app.handler({'request': {'url': 'http://127.0.0.1:9/x'}},"
        " LocalContext('RequestFunction', 30))\n"
    ),
}
# What Powertools reads when the layer is imported, as template.yaml's Globals set it.
# The variables each handler checks when it loads, as template.yaml gives them; AWS at a port
# nowhere listens, asked once.
ENVIRONMENT = {
    **HANDLER_ENVIRONMENT,
    "POWERTOOLS_SERVICE_NAME": "apicall",
    "POWERTOOLS_METRICS_NAMESPACE": "apicall-bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_MAX_ATTEMPTS": "1",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
}
# LAMBDA_TASK_ROOT is how Powertools and the X-Ray SDK know they run in Lambda.
SETTINGS = {
    "off": {"LAMBDA_TASK_ROOT": str(ROOT), "POWERTOOLS_TRACE_DISABLED": "true"},
    "on": {"LAMBDA_TASK_ROOT": str(ROOT), "POWERTOOLS_TRACE_DISABLED": "false"},
    "local": {"POWERTOOLS_TRACE_DISABLED": "true"},
}
_NOT_INHERITED = ("POWERTOOLS_", "AWS_", "LAMBDA_", "_X_AMZN_", "PYTHON")
PROGRAM = (
    "import resource, time\n"
    "started, cpu = time.perf_counter(), time.process_time()\n"
    "{code}"
    "elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu\n"
    "print(elapsed, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
)


@dataclass
class Subject:
    name: str
    code: str
    tree: Path
    setting: str = "off"
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)

    def sample(self, python: str) -> None:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}
        env = {
            **inherited,
            **ENVIRONMENT,
            **SETTINGS[self.setting],
            "PYTHONPATH": f"{self.tree / 'shared'}{os.pathsep}{self.tree}",
        }
        out = subprocess.run(
            [python, "-c", PROGRAM.format(code=self.code)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            cwd=self.tree,
        )
        seconds, cpu, rss = out.stdout.strip().splitlines()[-1].split()
        self.seconds.append(float(seconds))
        self.cpu_seconds.append(float(cpu))
        self.rss_kib.append(int(rss))

    @property
    def ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def cpu_ms(self) -> float:
        return statistics.median(self.cpu_seconds) * 1000

    @property
    def mib(self) -> float:
        return statistics.median(self.rss_kib) / 1024


def subjects(before: Path | None, settings: list[str]) -> list[Subject]:
    found = [Subject("baseline", BASELINE, ROOT)]
    trees = ([("before", before)] if before else []) + [("after" if before else "", ROOT)]
    for setting in settings:
        for label, tree in trees:
            for name, code in HANDLERS.items():
                title = ", ".join(part for part in (name, setting, label) if part)
                found.append(Subject(title, f"{code}{BASELINE}", tree, setting))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--python", default=sys.executable, help="the interpreter to measure")
    parser.add_argument("--before", type=Path, help="another checkout to measure in the same run")
    parser.add_argument("--settings", default="off,on,local", help="of off, on, local")
    args = parser.parse_args()
    settings = args.settings.split(",")
    python = os.path.abspath(args.python)

    every = subjects(args.before, settings)
    for subject in every:  # bytecode caches written once, outside the figures
        subject.sample(python)
        subject.seconds.clear()
        subject.cpu_seconds.clear()
        subject.rss_kib.clear()
    for round_ in range(args.rounds):
        shift = round_ % len(every)
        for subject in every[shift:] + every[:shift]:
            subject.sample(python)

    base = every[0]
    print(f"interpreter: {python}")
    print(f"rounds: {args.rounds}, one fresh process per subject each (medians)")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| import of | time | x baseline | CPU time | x baseline | peak RSS | x baseline |")
    print("|---|---|---|---|---|---|---|")
    for subject in every:
        print(
            f"| {subject.name} | {subject.ms:.0f} ms | {subject.ms / base.ms:.2f} "
            f"| {subject.cpu_ms:.0f} ms | {subject.cpu_ms / base.cpu_ms:.2f} "
            f"| {subject.mib:.1f} MiB | {subject.mib / base.mib:.2f} |"
        )


if __name__ == "__main__":
    main()
