"""The URL guard against ssrfcheck's SSRF payload lists (npm `ssrfcheck` 1.4.0, tests/data/).

Every entry of `should-not-pass.js` must be refused by `check_url(allow_private=False)`: blocked
(BlockedURL) or not a URL apicall can send (InvalidRequest). An entry with no scheme is refused for
that alone, so it is judged a second time as `http://<entry>`, the URL a lenient caller would make
of it. ssrfcheck also refuses a few URLs for a reason that is not their address (credentials in
the URL); those are listed in PUBLIC_ENTRIES with why their host is public, and shown to be allowed
once their name resolves to its public address.

No DNS: the resolver here knows `localhost` (as /etc/hosts does) and fails every other name, so a
name that needs DNS must be refused before lookup or fail resolution, never be allowed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest

from apicall.core.errors import BlockedURL, InvalidRequest, UpstreamConnectionError
from apicall.http.guard import check_url
from tests.realworld.corpora import corpus_dir

LOCAL_NAMES = {"localhost": ["127.0.0.1", "::1"]}

# example.com is IANA's documentation domain (RFC 2606), served from public addresses; the
# address its DNS gave when this list was written stands in for DNS here.
EXAMPLE_COM = "93.184.215.14"
WHY_CREDENTIALS = (
    "ssrfcheck refuses credentials in a URL; the host httpx connects to, example.com, is public, "
    "and the guard judges that very host (one parser), so userinfo cannot hide another"
)
PUBLIC_ENTRIES = {
    "http://userid:password@example.com:8080": WHY_CREDENTIALS,
    "http://userid:password@example.com:8080/": WHY_CREDENTIALS,
    "http://userid@example.com": WHY_CREDENTIALS,
    "http://userid@example.com/": WHY_CREDENTIALS,
    "http://userid@example.com:8080": WHY_CREDENTIALS,
    "http://userid@example.com:8080/": WHY_CREDENTIALS,
    "http://userid:password@example.com": WHY_CREDENTIALS,
    "http://userid:password@example.com/": WHY_CREDENTIALS,
    "http://-.~_!$&'()*+,;=:%40:80%2f::::::@example.com": WHY_CREDENTIALS,
}

# should-pass.js entries on a literal address that apicall refuses, and why.
REFUSED_THOUGH_PUBLIC_FOR_SSRFCHECK = {
    "http://[::ffff:0:808:808]/": "IPv4-translated ::ffff:0:0:0/96 (SIIT): reserved, no route",
    "http://[64:ff9b:1::8.8.8.8]/": "64:ff9b:1::/48 is the local-use NAT64 prefix (RFC 8215): "
    "a site's own translator, so private",
    "http://[64:ff9b:1::808:808]/": "the same local-use NAT64 prefix",
}


def offline_resolver(host: str, port: int) -> list[str]:
    if host in LOCAL_NAMES:
        return LOCAL_NAMES[host]
    raise OSError(f"{host} is not resolved: this test uses no DNS")


def public_resolver(host: str, port: int) -> list[str]:
    if host == "example.com":
        return [EXAMPLE_COM]
    return offline_resolver(host, port)


# --- reading the corpus -------------------------------------------------------------------------

_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def js_string_array(source: str) -> list[str]:
    """The strings of a `module.exports = [ "...", '...', ];` file, with JS escape semantics.

    Only string literals, commas, whitespace and comments may stand in the array: anything else
    is an error, so a payload can never be skipped silently.
    """
    start = source.index("[", source.index("module.exports")) + 1
    strings: list[str] = []
    index = _skip_blank(source, start)
    while source[index] != "]":
        text, index = _js_string(source, index)
        strings.append(text)
        index = _skip_blank(source, index)
        if source[index] == ",":
            index = _skip_blank(source, index + 1)
        elif source[index] != "]":
            raise ValueError(f"unexpected {source[index]!r} at {index}")
    return strings


def _skip_blank(source: str, index: int) -> int:
    while True:
        while source[index].isspace():
            index += 1
        if source.startswith("//", index):
            index = source.index("\n", index)
        elif source.startswith("/*", index):
            index = source.index("*/", index) + 2
        else:
            return index


def _js_string(source: str, index: int) -> tuple[str, int]:
    quote = source[index]
    if quote not in "\"'":
        raise ValueError(f"expected a string literal at {index}, found {quote!r}")
    out: list[str] = []
    index += 1
    while source[index] != quote:
        char = source[index]
        if char == "\n":
            raise ValueError(f"unterminated string literal at {index}")
        if char != "\\":
            out.append(char)
            index += 1
            continue
        escaped = source[index + 1]
        index += 2
        if escaped in _SIMPLE_ESCAPES and not (escaped == "0" and source[index].isdigit()):
            out.append(_SIMPLE_ESCAPES[escaped])
        elif escaped == "x":
            out.append(chr(int(source[index : index + 2], 16)))
            index += 2
        elif escaped == "u" and source[index] == "{":
            end = source.index("}", index)
            out.append(chr(int(source[index + 1 : end], 16)))
            index = end + 1
        elif escaped == "u":
            out.append(chr(int(source[index : index + 4], 16)))
            index += 4
        elif escaped == "\n":  # a line continuation adds nothing
            pass
        else:  # JS keeps the character of any other escape: "\@" is "@", "\ " is " "
            out.append(escaped)
    return "".join(out), index + 1


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (r'module.exports = ["a\@b", "a\\@b", "a\ b", "a\\\ b", "a\\\\ b"];', [
            "a@b", "a\\@b", "a b", "a\\ b", "a\\\\ b"
        ]),
        ("module.exports = [\n  'x\\'y',  // a comment\n  \"\\x41\\u0042\\u{43}\",\n];", [
            "x'y", "ABC"
        ]),
        ('module.exports = [ /* none */ ];', []),
    ],
)  # fmt: skip
def test_the_js_reader_keeps_javascripts_escapes(source: str, expected: list[str]) -> None:
    assert js_string_array(source) == expected


@pytest.fixture(scope="module")
def data() -> Path:
    return corpus_dir("ssrf-payloads") / "tests/data"


@pytest.fixture(scope="module")
def should_not_pass(data: Path) -> list[str]:
    return js_string_array((data / "should-not-pass.js").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def should_pass(data: Path) -> list[str]:
    return js_string_array((data / "should-pass.js").read_text(encoding="utf-8"))


def test_the_corpus_is_read_whole(data: Path, should_not_pass: list[str]) -> None:
    source = (data / "should-not-pass.js").read_text(encoding="utf-8")
    assert len(should_not_pass) == len(re.findall(r"^\s*\"", source, re.MULTILINE)) == 217
    assert "http://localhoste@localhost" in should_not_pass  # "\@"
    assert "http://localhoste\\ @localhost" in should_not_pass  # "\\\ "
    assert "file://\\/\\/etc/passwd" in should_not_pass


# --- judging it ---------------------------------------------------------------------------------


def _with_scheme(entry: str) -> Iterable[str]:
    yield entry
    if "://" not in entry:
        yield f"http://{entry}"


def _verdict(url: str) -> str:
    try:
        check_url(url, allow_private=False, resolver=offline_resolver)
    except BlockedURL:
        return "blocked"
    except InvalidRequest:
        return "invalid"
    except UpstreamConnectionError:
        return "unresolved"
    return "allowed"


def test_every_should_not_pass_entry_is_refused_or_listed_public(
    should_not_pass: list[str],
) -> None:
    verdicts: Counter[str] = Counter()
    wrong = []
    for entry in should_not_pass:
        for url in _with_scheme(entry):
            verdict = _verdict(url)
            if verdict in ("unresolved", "allowed") and url in PUBLIC_ENTRIES:
                verdict = "public"
            verdicts[verdict] += 1
            if verdict not in ("blocked", "invalid", "public"):
                wrong.append((url, verdict))

    print(f"ssrfcheck should-not-pass: {len(should_not_pass)} entries, verdicts {dict(verdicts)}")
    assert wrong == []
    assert verdicts["public"] == len(PUBLIC_ENTRIES)


@pytest.mark.parametrize(("url", "why"), PUBLIC_ENTRIES.items())
def test_entries_listed_public_are_allowed_once_their_name_resolves(url: str, why: str) -> None:
    check_url(url, allow_private=False, resolver=public_resolver)


def test_every_should_not_pass_entry_is_refused_before_any_lookup(
    should_not_pass: list[str],
) -> None:
    # The client's own pre-request check: literal addresses, localhost and metadata names are
    # judged from the URL alone; only a real DNS name is left to the connect-time check.
    def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError(f"{host} was looked up")

    looked_up = []
    for entry in should_not_pass:
        for url in _with_scheme(entry):
            if url in PUBLIC_ENTRIES:
                continue
            try:
                check_url(url, allow_private=False, resolver=no_dns)
            except (BlockedURL, InvalidRequest):
                continue
            except AssertionError as exc:
                looked_up.append((url, str(exc)))
                continue
            looked_up.append((url, "allowed"))
    assert looked_up == []


def test_public_literal_addresses_of_should_pass_are_allowed(should_pass: list[str]) -> None:
    judged, refused = 0, []
    for entry in should_pass:
        for url in _with_scheme(entry):
            host = re.match(r"https?://\[?([0-9a-fA-F:.]+)\]?(?::\d+)?(?:/|$)", url)
            if host is None or not re.search(r"\d", host.group(1)):
                continue  # a name: it needs DNS, which this test does not use
            judged += 1
            if _verdict(url) != "allowed" and url not in REFUSED_THOUGH_PUBLIC_FOR_SSRFCHECK:
                refused.append((url, _verdict(url)))

    print(f"ssrfcheck should-pass: {judged} URLs on a literal address judged")
    assert refused == []
    assert judged >= 15


@pytest.mark.parametrize(("url", "why"), REFUSED_THOUGH_PUBLIC_FOR_SSRFCHECK.items())
def test_should_pass_entries_apicall_refuses_are_refused_for_their_reason(
    url: str, why: str
) -> None:
    with pytest.raises(BlockedURL, match=r"reserved|private"):
        check_url(url, allow_private=False, resolver=offline_resolver)
