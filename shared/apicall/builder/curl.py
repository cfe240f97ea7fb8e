"""Turn a curl command (as API docs and browsers' "Copy as cURL" give it) into a RequestSpec.

The text is read as bash reads it (quotes, `$'...'` ANSI-C strings, line continuations, `$VAR`,
here-documents) or, for Chrome's "Copy as cURL (cmd)", as cmd.exe does; its options are read with
curl's own option table, so no option's value is taken for the URL. Every option is accounted
for: it shapes the request, goes into the suggested `connection` (credentials, `-k`, proxy,
timeouts, retries), is `ignored` because it only changes what curl prints or saves, or is
`unsupported`; nothing is dropped silently.

One request per import: a text with two curl commands, or with other commands beside curl, is
refused (which one was meant?). Variable assignments before the curl command are applied, and the
pipeline after it (`| jq`) is ignored with a warning. What the shell would fill in (`$TOKEN`,
`$(...)`) and the `{id}` path templates of API docs become placeholders; every other brace stays
literal text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit, urlunsplit

from pydantic import ValidationError

from apicall.core.errors import ConfigError, InvalidRequest, config_error_from
from apicall.core.models import RequestSpec
from apicall.request import templating


def _names(table: str) -> frozenset[str]:
    return frozenset(table.split())


# Every long option that takes a value: curl 7.88's `curl --help all`, the options added up to
# 8.17, and the old spellings curl still accepts. Knowing them all is what keeps a value from
# being read as the URL. Every other known option is a switch.
_VALUE_OPTIONS = _names(
    """
    abstract-unix-socket alt-svc aws-sigv4 cacert capath cert cert-type ciphers config
    connect-timeout connect-to continue-at cookie cookie-jar create-file-mode crlfile curves data
    data-ascii data-binary data-raw data-urlencode delegation dns-interface dns-ipv4-addr
    dns-ipv6-addr dns-servers doh-url dump-header ech egd-file engine etag-compare etag-save
    expect100-timeout form form-string ftp-account ftp-alternative-to-user ftp-method ftp-port
    ftp-ssl-ccc-mode happy-eyeballs-timeout-ms haproxy-clientip header hostpubmd5 hostpubsha256
    hsts interface ip-tos ipfs-gateway json keepalive-cnt keepalive-time key key-type knownhosts
    krb krb4 libcurl limit-rate local-port login-options mail-auth mail-from mail-rcpt
    max-filesize max-redirs max-time netrc-file noproxy oauth2-bearer output output-dir
    parallel-max parallel-max-host pass pinnedpubkey preproxy proto proto-default proto-redir
    proxy proxy-cacert proxy-capath proxy-cert proxy-cert-type proxy-ciphers proxy-crlfile
    proxy-header proxy-key proxy-key-type proxy-pass proxy-pinnedpubkey proxy-service-name
    proxy-tls13-ciphers proxy-tlsauthtype proxy-tlspassword proxy-tlsuser proxy-user proxy1.0
    pubkey quote random-file range rate referer request request-target resolve retry retry-delay
    retry-max-time sasl-authzid service-name sigalgs socks4 socks4a socks5 socks5-gssapi-service
    socks5-hostname speed-limit speed-time ssl-sessions stderr telnet-option tftp-blksize
    time-cond tls-max tls13-ciphers tlsauthtype tlspassword tlsuser trace trace-ascii
    trace-config unix-socket upload-file upload-flags url url-query user user-agent variable
    vlan-priority write-out
    3p-quote 3p-url 3p-user http-request telnet-options
"""
)
_SWITCHES = _names(
    """
    alpn anyauth append basic buffer ca-native cert-status clobber compressed compressed-ssh
    create-dirs crlf digest disable disable-eprt disable-epsv disallow-username-in-url
    doh-cert-status doh-insecure dump-ca-embed eprt epsv fail fail-early fail-with-body
    false-start follow form-escape ftp-create-dirs ftp-pasv ftp-pret ftp-skip-pasv-ip ftp-ssl
    ftp-ssl-ccc ftp-ssl-control ftp-ssl-reqd get globoff haproxy-protocol head help http0.9
    http1.0 http1.1 http2 http2-prior-knowledge http3 http3-only ignore-content-length include
    insecure ipv4 ipv6 junk-session-cookies keepalive list-only location location-trusted
    mail-rcpt-allowfails manual metalink mptcp negotiate netrc netrc-optional next npn ntlm
    ntlm-wb out-null parallel parallel-immediate path-as-is post301 post302 post303 progress-bar
    progress-meter proxy-anyauth proxy-basic proxy-ca-native proxy-digest proxy-http2
    proxy-insecure proxy-negotiate proxy-ntlm proxy-ssl-allow-beast proxy-ssl-auto-client-cert
    proxy-tlsv1 proxytunnel raw remote-header-name remote-name remote-name-all remote-time
    remove-on-error retry-all-errors retry-connrefused sasl-ir sessionid show-error
    show-headers silent skip-existing socks5-basic socks5-gssapi socks5-gssapi-nec ssl
    ssl-allow-beast ssl-auto-client-cert ssl-no-revoke ssl-reqd ssl-revoke-best-effort sslv2
    sslv3 styled-output suppress-connect-headers tcp-fastopen tcp-nodelay test-event
    tftp-no-options tls-earlydata tlsv1 tlsv1.0 tlsv1.1 tlsv1.2 tlsv1.3 tr-encoding trace-ids
    trace-time use-ascii verbose version wdebug xattr
    ftp-ascii http2.0 environment
"""
)
_SHORT = {
    "0": "http1.0", "1": "tlsv1", "2": "sslv2", "3": "sslv3", "4": "ipv4", "6": "ipv6",
    "a": "append", "A": "user-agent", "b": "cookie", "B": "use-ascii", "c": "cookie-jar",
    "C": "continue-at", "d": "data", "D": "dump-header", "e": "referer", "E": "cert",
    "f": "fail", "F": "form", "g": "globoff", "G": "get", "h": "help", "H": "header",
    "i": "include", "I": "head", "j": "junk-session-cookies", "J": "remote-header-name",
    "k": "insecure", "K": "config", "l": "list-only", "L": "location", "m": "max-time",
    "M": "manual", "n": "netrc", "N": "buffer", "o": "output", "O": "remote-name",
    "p": "proxytunnel", "P": "ftp-port", "q": "disable", "Q": "quote", "r": "range",
    "R": "remote-time", "s": "silent", "S": "show-error", "t": "telnet-option",
    "T": "upload-file", "u": "user", "U": "proxy-user", "v": "verbose", "V": "version",
    "w": "write-out", "x": "proxy", "X": "request", "Y": "speed-limit", "y": "speed-time",
    "z": "time-cond", "Z": "parallel", "#": "progress-bar", ":": "next",
}  # fmt: skip
# Options that change only what curl prints, saves or reads from its own config: the request
# sent is the same without them.
_OUTPUT_ONLY = _names(
    """
    buffer clobber cookie-jar create-dirs create-file-mode disable dump-header etag-save fail
    fail-early fail-with-body help include junk-session-cookies libcurl manual out-null output
    output-dir parallel parallel-immediate parallel-max parallel-max-host progress-bar
    progress-meter remote-header-name remote-name remote-name-all remote-time remove-on-error
    show-error show-headers silent skip-existing stderr styled-output trace trace-ascii
    trace-config trace-ids trace-time verbose version write-out xattr
"""
)
# Options about the connection's transport that apicall chooses itself (HTTP/1.1 over the
# system's TCP; gzip and deflate are always asked for and decoded with a size cap).
_TRANSPORT_ONLY = _names(
    """
    alpn compressed http1.0 http1.1 http2 http2-prior-knowledge http3 http3-only ipv4 ipv6
    keepalive keepalive-cnt keepalive-time sessionid tcp-fastopen tcp-nodelay tr-encoding
    happy-eyeballs-timeout-ms mptcp npn
"""
)
_AUTH_METHODS = frozenset(("basic", "digest", "ntlm", "ntlm-wb", "negotiate", "anyauth"))
# Headers apicall's client sets itself; `-H "Name:"` (curl's "do not send") cannot remove them.
_CLIENT_HEADERS = ("accept", "accept-encoding", "user-agent", "host", "connection")
# Headers about the connection and the encoding of this one exchange, which browsers' exports
# carry: apicall's client sets its own (it decodes gzip and deflate only, so a `br` it asked for
# could not be read, and a Content-Length from another body would be wrong).
_TRANSPORT_HEADERS = frozenset(
    ("accept-encoding", "connection", "content-length", "keep-alive", "proxy-connection", "te",
     "trailer", "transfer-encoding", "upgrade")
)  # fmt: skip
# Private-use characters mark a placeholder (`\ue000name\ue001`) inside text while it is read.
_MARK, _END = "\ue000", "\ue001"
_MARKED = re.compile(f"{_MARK}([^{_END}]*){_END}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What templating reads as a placeholder (`{a.b[0]}`) and what API docs write in URLs (`{id}`).
_PLACEHOLDER_SHAPE = re.compile(r"\{[\w-]+(?:\.[\w-]+|\[\d+\])*\}")
_URL_TEMPLATE = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_-]*)\}\}|\{([A-Za-z_][A-Za-z0-9_-]*)\}")
_URL_GLOB = re.compile(r"\{[^{}]*,[^{}]*\}|\[(?:\d+-\d+|[a-z]-[a-z]|[A-Z]-[Z-Z])(?::\d+)?\]")
_LOST_LINE_BREAK = re.compile(r"\\[ \t]+(?:\n|$|(?=-|['\"]|https?://))")
# The types curl gives a -F file by its name's extension (libcurl's mime.c); others are sent as
# application/octet-stream.
_FILE_TYPES = {
    "gif": "image/gif", "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png",
    "svg": "image/svg+xml", "txt": "text/plain", "htm": "text/html", "html": "text/html",
    "pdf": "application/pdf", "xml": "application/xml",
}  # fmt: skip
_TO_FILL = re.compile(r"<[A-Za-z][^<>\s]{0,60}>")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@dataclass
class CurlImport:
    request: RequestSpec
    unsupported: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    auth: dict[str, Any] | None = None
    # Connection settings the command implies (credentials, TLS, proxy, timeout, retries), in the
    # Connection contract's own shape; None when it implies none.
    connection: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        request = self.request.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        return {
            "request": {"method": self.request.method, **request},
            "unsupported": self.unsupported,
            "ignored": self.ignored,
            "warnings": self.warnings,
            "auth": self.auth,
            "connection": self.connection,
        }


def parse_curl(command: str) -> CurlImport:
    """The RequestSpec a curl command describes; ConfigError(field="command") when it is not one."""
    if _MARK in command or _END in command:
        raise ConfigError("the command holds private-use characters U+E000/U+E001", field="command")
    shell = _read_shell(command)
    parsed = _Parsed(stdin=shell.stdin, warnings=shell.warnings)
    _parse_arguments(parsed, shell.words)
    spec = _build_spec(parsed)
    connection = _suggested_connection(parsed)
    return CurlImport(
        request=spec,
        unsupported=parsed.unsupported,
        ignored=parsed.ignored,
        warnings=parsed.warnings,
        auth=connection.get("auth"),
        connection=connection or None,
    )


# --- the shell ----------------------------------------------------------------------------------

# A word as the lexer reads it: literal text, `$NAME` / `${NAME...}`, or `$(...)` / backticks.
_Segment = tuple[str, str]


@dataclass
class _Word:
    segments: list[_Segment]
    raw: str  # as written, to tell `$ curl` prompts, assignments and option lines


@dataclass
class _Command:
    words: list[_Word] = field(default_factory=list)
    ends_with: str = ""  # "\n", ";", "&&", "||", "|", "&" or "" at the end of the text
    stdin: list[_Segment] | None = None  # a here-document or here-string
    stdin_file: str | None = None
    line: int = 1


@dataclass
class _Shell:
    words: list[str]
    stdin: str | None
    warnings: list[str]


class _BashLexer:
    """Commands, words and redirections as bash reads them; nothing is run or expanded here."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.heredocs: list[tuple[_Command, str, bool, bool]] = []
        self.warnings: list[str] = []

    def commands(self) -> list[_Command]:
        out: list[_Command] = []
        current = _Command(line=self.line)
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char in " \t":
                self.pos += 1
            elif text.startswith("\\\n", self.pos):
                self.pos += 2
                self.line += 1
            elif lost := _LOST_LINE_BREAK.match(text, self.pos):
                # `\` then blanks: bash escapes a blank, yet docs mean a line continuation (spaces
                # after it, or line breaks lost when the page was copied).
                self.warnings.append(
                    f"line {self.line}: a backslash before a blank is read as a line continuation"
                )
                self.line += lost.group(0).count("\n")
                self.pos = lost.end()
            elif char == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif char == "\n":
                self.pos += 1
                self.line += 1
                current.ends_with = "\n"
                out.append(current)
                current = _Command(line=self.line)
                self._read_heredocs()
            elif operator := re.match(r"&&|\|\||;;|\|&|[;&|]", text[self.pos :]):
                if text.startswith(("&>", "&>>"), self.pos):
                    self._redirection(current)
                    continue
                self.pos += len(operator.group(0))
                current.ends_with = operator.group(0)
                out.append(current)
                current = _Command(line=self.line)
            elif char in "()":
                raise ConfigError(
                    f"line {self.line}: subshells and groups ({char}) are not part of a curl "
                    "command",
                    field="command",
                )
            elif re.match(r"\d*[<>]", text[self.pos :]):
                self._redirection(current)
            else:
                current.words.append(self._word())
        out.append(current)
        if self.heredocs:
            self._read_heredocs()
        return [command for command in out if command.words or command.stdin is not None]

    # Words ------------------------------------------------------------------------------------

    def _word(self) -> _Word:
        start = self.pos
        segments: list[_Segment] = []
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char in " \t\n;&|()<>":
                break
            if char == "\\":
                if text.startswith("\\\n", self.pos):
                    self.line += 1
                else:
                    segments.append(("text", text[self.pos + 1 : self.pos + 2] or "\\"))
                self.pos += 2
            elif char == "'":
                end = text.find("'", self.pos + 1)
                if end < 0:
                    raise self._unterminated("'")
                segments.append(("text", text[self.pos + 1 : end]))
                self.line += text.count("\n", self.pos, end)
                self.pos = end + 1
            elif text.startswith("$'", self.pos):
                segments.append(("text", self._ansi_c()))
            elif text.startswith('$"', self.pos):
                self.pos += 1
                segments.extend(self._double_quoted())
            elif char == '"':
                segments.extend(self._double_quoted())
            elif char in "$`":
                segments.append(self._expansion())
            else:
                segments.append(("text", char))
                self.pos += 1
        return _Word(segments, text[start : self.pos])

    def _double_quoted(self) -> list[_Segment]:
        self.pos += 1
        segments = self._scan_expandable(closing='"')
        return segments

    def _scan_expandable(self, closing: str | None) -> list[_Segment]:
        """Text up to `closing` (or the end) with `$`, backticks and backslash as in "..."."""
        segments: list[_Segment] = []
        text = self.text
        while True:
            if self.pos >= len(text):
                if closing is None:
                    return segments
                raise self._unterminated(closing)
            char = text[self.pos]
            if char == closing:
                self.pos += 1
                return segments
            if char == "\\" and text[self.pos + 1 : self.pos + 2] in ("$", "`", '"', "\\", "\n"):
                escaped = text[self.pos + 1]
                if escaped == "\n":
                    self.line += 1
                else:
                    segments.append(("text", escaped))
                self.pos += 2
            elif char in "$`":
                segments.append(self._expansion())
            else:
                if char == "\n":
                    self.line += 1
                segments.append(("text", char))
                self.pos += 1

    def _expansion(self) -> _Segment:
        """`$NAME`, `${NAME}`, `${NAME:-default}`, `$(...)`, backticks; a lone `$` is text."""
        text = self.text
        if text[self.pos] == "`":
            end = self.pos + 1
            while end < len(text) and text[end] != "`":
                end += 2 if text[end] == "\\" else 1
            if end >= len(text):
                raise self._unterminated("`")
            inner = text[self.pos + 1 : end]
            self.pos = end + 1
            return ("command", inner)
        following = text[self.pos + 1 : self.pos + 2]
        if following == "(":
            end = self._matching_paren(self.pos + 1)
            inner = text[self.pos + 2 : end]
            self.pos = end + 1
            return ("command", inner)
        if following == "{":
            end = text.find("}", self.pos + 2)
            if end < 0:
                raise self._unterminated("${")
            inner = text[self.pos + 2 : end]
            self.pos = end + 1
            return ("braced", inner)
        name = _NAME.match(text, self.pos + 1)
        if name:
            self.pos = name.end()
            return ("var", name.group(0))
        if following.isdigit():
            self.pos += 2
            return ("var", following)
        self.pos += 1
        return ("text", "$")

    def _matching_paren(self, start: int) -> int:
        depth, position, text = 0, start, self.text
        quote: str | None = None
        while position < len(text):
            char = text[position]
            if quote:
                if char == "\\" and quote == '"':
                    position += 1
                elif char == quote:
                    quote = None
            elif char in "'\"":
                quote = char
            elif char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
                if depth == 0:
                    return position
            position += 1
        raise self._unterminated("$(")

    def _ansi_c(self) -> str:
        r"""bash's `$'...'`: \n \t \\ \' \" \xHH \uHHHH \UHHHHHHHH \NNN (octal) \cX and the rest."""
        text, position = self.text, self.pos + 2
        out = bytearray()
        simple = {
            "a": 7, "b": 8, "e": 27, "E": 27, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11,
            "\\": 92, "'": 39, '"': 34, "?": 63,
        }  # fmt: skip
        while True:
            if position >= len(text):
                raise self._unterminated("$'")
            char = text[position]
            if char == "'":
                break
            if char != "\\" or position + 1 >= len(text):
                out += char.encode("utf-8", "surrogatepass")
                position += 1
                continue
            escape = text[position + 1]
            position += 2
            if escape in simple:
                out.append(simple[escape])
            elif escape in "01234567":
                digits = re.match(r"[0-7]{0,2}", text[position:])
                assert digits is not None
                out.append(int(escape + digits.group(0), 8) & 0xFF)
                position += len(digits.group(0))
            elif escape in "xuU":
                width = {"x": 2, "u": 4, "U": 8}[escape]
                digits = re.match(f"[0-9A-Fa-f]{{1,{width}}}", text[position:])
                if digits is None:
                    out += ("\\" + escape).encode()
                    continue
                position += len(digits.group(0))
                value = int(digits.group(0), 16)
                if escape == "x":
                    out.append(value)
                    continue
                low = re.match(r"\\u([dD][c-fC-F][0-9A-Fa-f]{2})", text[position:])
                if 0xD800 <= value <= 0xDBFF and low:
                    # A browser writes a character beyond U+FFFF as two UTF-16 halves.
                    value = 0x10000 + ((value - 0xD800) << 10) + (int(low.group(1), 16) - 0xDC00)
                    position += len(low.group(0))
                if 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
                    value = 0xFFFD
                out += chr(value).encode("utf-8")
            elif escape == "c" and position < len(text):
                out.append(ord(text[position]) & 0x1F)
                position += 1
            else:
                out += ("\\" + escape).encode("utf-8", "surrogatepass")
        self.line += text.count("\n", self.pos, position)
        self.pos = position + 1
        return _text_of(bytes(out))

    # Redirections and here-documents ----------------------------------------------------------

    def _redirection(self, command: _Command) -> None:
        match = re.match(r"(\d*)(<<<|<<-|<<|<>|<&|>&|>>|>\||&>>|&>|<|>)", self.text[self.pos :])
        assert match is not None
        operator = match.group(2)
        self.pos += len(match.group(0))
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1
        target = self._word()
        if not target.segments:
            raise ConfigError(
                f"line {self.line}: the redirection {operator} has no target", field="command"
            )
        if operator == "<<<":
            command.stdin = [*target.segments, ("text", "\n")]
        elif operator in ("<<", "<<-"):
            delimiter = "".join(value for _kind, value in target.segments)
            quoted = any(mark in target.raw for mark in "'\"\\")
            self.heredocs.append((command, delimiter, operator == "<<-", not quoted))
        elif operator == "<":
            command.stdin_file = target.raw

    def _read_heredocs(self) -> None:
        for command, delimiter, strip_tabs, expand in self.heredocs:
            lines: list[str] = []
            while self.pos < len(self.text):
                end = self.text.find("\n", self.pos)
                end = len(self.text) if end < 0 else end
                line = self.text[self.pos : end]
                self.pos = end + 1
                self.line += 1
                if strip_tabs:
                    line = line.lstrip("\t")
                if line == delimiter:
                    break
                lines.append(line + "\n")
            body = "".join(lines)
            if expand:
                inner = _BashLexer(body)
                command.stdin = inner._scan_expandable(closing=None)
            else:
                command.stdin = [("text", body)]
        self.heredocs = []

    def _unterminated(self, what: str) -> ConfigError:
        return ConfigError(
            f"the command cannot be split: {what} opened on line {self.line} is never closed",
            field="command",
        )


def _text_of(data: bytes) -> str:
    """Bytes from `$'...'` as text; a byte that is not UTF-8 (Firefox writes é as `\\xe9`) is read
    as the Latin-1 character it was written for."""
    text = data.decode("utf-8", "surrogateescape")
    return re.sub(r"[\udc80-\udcff]", lambda m: chr(ord(m.group(0)) - 0xDC00), text)


def _cmd_commands(text: str) -> list[list[str]]:
    """cmd.exe's reading (Chrome's "Copy as cURL (cmd)"): `^` escapes the next character and
    joins lines, then each program splits its own line by the Microsoft C runtime's rules."""
    lines: list[str] = []
    current: list[str] = []
    quoted = False
    position = 0
    while position < len(text):
        char = text[position]
        if quoted:
            quoted = char != '"' and char != "\n"
            if char == "\n":
                lines.append("".join(current))
                current = []
            else:
                current.append(char)
            position += 1
        elif char == "^" and position + 1 < len(text):
            escaped = text[position + 1]
            position += 2
            if escaped == "\n":  # a line continuation: the first character of the next line
                escaped = text[position] if position < len(text) else ""  # is escaped too
                position += 1
            current.append(escaped)
        elif char in "\n&|":
            lines.append("".join(current))
            current = []
            position += 2 if text.startswith(("&&", "||"), position) else 1
        else:
            quoted = char == '"'
            current.append(char)
            position += 1
    lines.append("".join(current))
    commands = [_crt_split(line) for line in lines]
    return [words for words in commands if words]


def _crt_split(line: str) -> list[str]:
    r"""A command line split as the Microsoft C runtime does: `"` quotes, `\"` is a quote,
    backslashes double only before a quote."""
    words: list[str] = []
    current: list[str] = []
    started = quoted = False
    position = 0
    while position < len(line):
        char = line[position]
        if char == "\\":
            end = position
            while end < len(line) and line[end] == "\\":
                end += 1
            count = end - position
            if end < len(line) and line[end] == '"':
                current.append("\\" * (count // 2))
                if count % 2:
                    current.append('"')
                    end += 1
            else:
                current.append("\\" * count)
            started, position = True, end
        elif char == '"':
            if quoted and line.startswith('""', position):
                current.append('"')
                position += 2
                continue
            quoted, started = not quoted, True
            position += 1
        elif char in " \t" and not quoted:
            if started:
                words.append("".join(current))
            current, started = [], False
            position += 1
        else:
            current.append(char)
            started = True
            position += 1
    if started:
        words.append("".join(current))
    return words


def _looks_like_cmd(text: str) -> bool:
    return bool(re.search(r"\^\n|\^\"", text))


def _read_shell(command: str) -> _Shell:
    text = command.replace("\r\n", "\n").strip()
    if _looks_like_cmd(text):
        return _single_curl([_cmd_as_bash(words) for words in _cmd_commands(text)], {})
    lexer = _BashLexer(text)
    shell = _single_curl(lexer.commands(), {})
    shell.warnings[:0] = lexer.warnings
    return shell


def _cmd_as_bash(words: list[str]) -> _Command:
    return _Command(words=[_Word([("text", word)], word) for word in words], ends_with="\n")


def _is_curl(word: str) -> bool:
    return word.replace("\\", "/").rsplit("/", 1)[-1].lower() in ("curl", "curl.exe")


def _is_option_line(word: _Word) -> bool:
    """A line that goes on with options or the URL: docs often drop the trailing backslash."""
    raw = word.raw.lstrip("'\"")
    return raw.startswith("-") or bool(re.match(r"https?://", raw))


def _single_curl(commands: list[_Command], variables: dict[str, str]) -> _Shell:
    """The one curl command of the text, expanded; variable assignments before it are applied."""
    warnings: list[str] = []
    found: _Command | None = None
    words: list[str] = []
    previous: _Command | None = None
    placeholders: dict[str, str] = {}
    for command in commands:
        expand = _Expander(variables, placeholders)
        if found is not None and previous is not None and previous.ends_with == "|":
            warnings.append(
                f"curl's output goes to `{command.words[0].raw if command.words else '<<'}`, "
                "which does not change the request: ignored"
            )
        elif (
            found is not None
            and previous is found
            and previous.ends_with == "\n"
            and (command.words and _is_option_line(command.words[0]))
        ):
            warnings.append(
                f"line {command.line} has no line continuation (\\) before it, as in many docs: "
                "it is read as part of the curl command"
            )
            words += [expand.word(word) for word in command.words]
            found.ends_with = command.ends_with
            continue
        elif _assignments(command, expand, variables):
            pass
        elif (
            found is None
            and command.ends_with == "|"
            and not (command.words and _is_curl(expand.word(command.words[0])))
        ):
            pass  # a command whose output is curl's input (the warning comes with curl)
        else:
            head = [word for word in command.words]
            if head and head[0].raw == "$" and len(head) > 1:  # a shell prompt copied with it
                head = head[1:]
            name = expand.word(head[0]) if head else ""
            if not _is_curl(name):
                shown = head[0].raw if head else ""
                if found is None:
                    raise ConfigError(
                        f"the command must start with curl, not `{shown}` (line {command.line})",
                        field="command",
                    )
                raise ConfigError(
                    f"line {command.line}: `{shown}` is another command; paste the curl command "
                    "on its own (one request per import)",
                    field="command",
                )
            if found is not None:
                raise ConfigError(
                    f"the text holds more than one curl command (line {found.line} and line "
                    f"{command.line}, separated by {_separator(previous)}): paste one at a time",
                    field="command",
                )
            if previous is not None and previous.ends_with == "|":
                warnings.append("curl's input comes from another command, which cannot be run")
            found = command
            words = [expand.word(word) for word in head[1:]]
        previous = command
    if found is None:
        raise ConfigError("the command must start with curl", field="command")
    stdin = _Expander(variables, placeholders).segments(found.stdin) if found.stdin else None
    if found.stdin_file:
        warnings.append(
            f"curl's input comes from the file {found.stdin_file}, which cannot be read"
        )
    for name, written in placeholders.items():
        warnings.append(
            f"{written} is filled in by the shell: it became the placeholder {{{name}}}; give its "
            "value when the request runs"
        )
    return _Shell(words, stdin, warnings)


def _separator(command: _Command | None) -> str:
    ends = command.ends_with if command else "\n"
    return "a new line" if ends == "\n" else f"'{ends}'"


def _assignments(command: _Command, expand: _Expander, variables: dict[str, str]) -> bool:
    """Apply `NAME=value ...` (or `export NAME=value`) and say whether the command was only that."""
    words = command.words
    if words and words[0].raw == "set":  # shell options (set -e) change no request
        return True
    if words and words[0].raw in ("export", "declare", "readonly", "local"):
        words = [word for word in words[1:] if not word.raw.startswith("-")]
        if not words:
            return True
    if not words or not all(re.match(r"[A-Za-z_][A-Za-z0-9_]*=", word.raw) for word in words):
        return False
    for word in words:
        name, _, _ = word.raw.partition("=")
        value = expand.word(word)
        variables[name] = value.partition("=")[2]
    return True


@dataclass
class _Expander:
    """Words with the text's own variables filled in; the others become marked placeholders."""

    variables: dict[str, str]
    placeholders: dict[str, str]  # placeholder name -> how the text wrote it

    def word(self, word: _Word) -> str:
        return self.segments(word.segments)

    def segments(self, segments: list[_Segment]) -> str:
        out: list[str] = []
        for kind, value in segments:
            if kind == "text":
                out.append(value)
            elif kind == "var":
                out.append(self._variable(value, f"${value}"))
            elif kind == "braced":
                out.append(self._braced(value))
            else:
                name = f"command_{sum(n.startswith('command_') for n in self.placeholders) + 1}"
                self.placeholders[name] = f"$({value})"
                out.append(f"{_MARK}{name}{_END}")
        return "".join(out)

    def _variable(self, name: str, written: str) -> str:
        if name in self.variables:
            return self.variables[name]
        self.placeholders.setdefault(name, written)
        return f"{_MARK}{name}{_END}"

    def _braced(self, inner: str) -> str:
        match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*|\d+)(?:(:?[-=])(.*))?", inner, re.S)
        if match is None:
            raise ConfigError(
                f"${{{inner}}} is a shell expansion the importer cannot read", field="command"
            )
        name, operator, default = match.groups()
        if operator and name not in self.variables:
            return default  # bash uses the default when the variable is not set
        return self._variable(name, f"${{{inner}}}")


# --- curl's arguments ---------------------------------------------------------------------------


@dataclass
class _Piece:
    """One -d/--data-*/--json argument: its text, or None when it comes from a file."""

    text: str | None
    joiner: str  # "&" between -d pieces, "" between --json pieces


@dataclass
class _Parsed:
    stdin: str | None = None
    urls: list[str] = field(default_factory=list)
    method: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    cookies: list[str] = field(default_factory=list)
    data: list[_Piece] = field(default_factory=list)
    data_sources: list[str] = field(default_factory=list)  # files the body would be read from
    url_query: list[str] = field(default_factory=list)
    json: bool = False
    form: list[tuple[str, str]] = field(default_factory=list)  # (option as written, argument)
    body_options: dict[str, str] = field(default_factory=dict)  # kind -> option as written
    upload: str | None = None
    user: str | None = None
    # curl's auth methods, a set as curl keeps them: -u sends Basic up front only when Basic is
    # the one method (or none was named); with several, curl first asks without credentials.
    auth_methods: dict[str, str] = field(default_factory=dict)  # method -> option as written
    no_basic: str | None = None
    bearer: str | None = None
    get: bool = False
    head: bool = False
    follow: bool = False
    globoff: bool = False
    path_as_is: bool = False
    max_redirs: int | None = None
    max_time: float | None = None
    connect_timeout: float | None = None
    retry: int | None = None
    insecure: bool = False
    proxy: str | None = None
    proxy_user: str | None = None
    unsupported: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _parse_arguments(parsed: _Parsed, args: list[str]) -> None:
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            parsed.urls += args[index:]
            return
        if arg.startswith("--") and len(arg) > 2:
            name, negated, attached = _long_option(arg, parsed)
            if name in _VALUE_OPTIONS:
                if attached is None:
                    if index >= len(args):
                        raise ConfigError(f"{arg} needs a value", field="command")
                    attached = args[index]
                    index += 1
                _apply(parsed, name, arg, attached)
            else:
                if attached is not None:
                    raise ConfigError(f"{arg}: --{name} takes no value", field="command")
                _apply_switch(parsed, name, arg, not negated)
        elif arg.startswith("-") and len(arg) > 1:
            letters = arg[1:]
            for position, letter in enumerate(letters):
                short = _SHORT.get(letter)
                if short is None:
                    raise ConfigError(f"curl does not know the option -{letter}", field="command")
                if short in _VALUE_OPTIONS:
                    value = letters[position + 1 :]
                    if not value:
                        if index >= len(args):
                            raise ConfigError(f"-{letter} needs a value", field="command")
                        value = args[index]
                        index += 1
                    _apply(parsed, short, f"-{letter}", value)
                    break
                _apply_switch(parsed, short, f"-{letter}", True)
        else:
            parsed.urls.append(arg)


def _long_option(arg: str, parsed: _Parsed) -> tuple[str, bool, str | None]:
    """(option name, negated by --no-, value given as --name=value)."""
    name, equals, value = arg[2:].partition("=")
    attached: str | None = value if equals else None
    if equals and not _known(name):
        name, attached = arg[2:], None
    if _known(name):
        return name, False, attached
    if name.startswith("no-") and name[3:] in _SWITCHES:
        return name[3:], True, attached
    # curl takes an unambiguous prefix of a long option (`--data-r` is --data-raw).
    matches = sorted(
        option for option in _VALUE_OPTIONS | _SWITCHES if option.startswith(name) and name
    )
    if len(matches) == 1:
        parsed.warnings.append(f"{arg} is short for --{matches[0]}")
        return matches[0], False, attached
    if matches:
        raise ConfigError(
            f"the option {arg} is ambiguous: it could be --{', --'.join(matches[:4])}",
            field="command",
        )
    raise ConfigError(f"curl does not know the option {arg}", field="command")


def _known(name: str) -> bool:
    return name in _VALUE_OPTIONS or name in _SWITCHES


def _apply_switch(parsed: _Parsed, name: str, spelled: str, on: bool) -> None:
    if name in _OUTPUT_ONLY:
        parsed.ignored.append(spelled)
    elif name in _TRANSPORT_ONLY:
        if name != "compressed":  # apicall always asks for a compressed response
            parsed.ignored.append(spelled)
    elif name == "get":
        parsed.get = on
    elif name == "head":
        parsed.head = on
        parsed.body_options.setdefault("head", spelled)
    elif name in ("location", "location-trusted", "follow"):
        parsed.follow = on
    elif name == "globoff":
        parsed.globoff = on
    elif name == "path-as-is":
        parsed.path_as_is = on
        parsed.unsupported.append(spelled)
    elif name == "insecure":
        parsed.insecure = on
    elif name in _AUTH_METHODS:
        if on:
            parsed.auth_methods[name] = spelled
        else:
            parsed.auth_methods.pop(name, None)
            if name == "basic":
                parsed.no_basic = spelled
    elif name == "next":
        raise ConfigError(
            f"{spelled} starts a second request: paste one request at a time", field="command"
        )
    else:
        parsed.unsupported.append(spelled)


def _apply(parsed: _Parsed, name: str, spelled: str, value: str) -> None:
    if name in _OUTPUT_ONLY or name in _TRANSPORT_ONLY:
        parsed.ignored.append(spelled)
    elif name in ("request", "http-request"):
        parsed.method = value
    elif name == "header":
        _add_header(parsed, spelled, value)
    elif name in ("data", "data-ascii", "data-binary", "data-raw", "json"):
        _add_data(parsed, name, spelled, value)
    elif name == "data-urlencode":
        _add_urlencoded(parsed, spelled, value)
    elif name == "url-query":
        _add_url_query(parsed, spelled, value)
    elif name in ("form", "form-string"):
        parsed.form.append((spelled, value))
        parsed.body_options.setdefault("form", spelled)
    elif name == "upload-file":
        parsed.upload = value
        parsed.body_options.setdefault("upload", spelled)
    elif name == "user":
        parsed.user = value
    elif name == "oauth2-bearer":
        parsed.bearer = value
    elif name == "aws-sigv4":
        parsed.auth_methods[name] = spelled
    elif name in ("user-agent", "referer"):
        header = "User-Agent" if name == "user-agent" else "Referer"
        # An empty value is curl's "send no such header", as `-H "Name:"` is.
        _add_header(parsed, spelled, f"{header}: {value.removesuffix(';auto')}")
    elif name == "cookie":
        _add_cookie(parsed, spelled, value)
    elif name == "url":
        parsed.urls.append(value)
    elif name in ("max-time", "connect-timeout", "max-redirs", "retry"):
        _apply_number(parsed, name, spelled, value)
    elif name == "proxy":
        parsed.proxy = value
    elif name == "proxy-user":
        parsed.proxy_user = value
    elif name in ("cacert", "capath", "cert", "key", "pass", "cert-type", "key-type"):
        _note_tls_file(parsed, name, spelled, value)
    elif name == "config":
        parsed.unsupported.append(f"{spelled} {value} (options read from a file)")
    else:
        parsed.unsupported.append(spelled)


def _apply_number(parsed: _Parsed, name: str, spelled: str, value: str) -> None:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{spelled} needs a number, not {value!r}", field="command") from None
    if name == "max-time":
        parsed.max_time = number
    elif name == "connect-timeout":
        parsed.connect_timeout = number
    elif name == "max-redirs":
        parsed.max_redirs = int(number)
    else:
        parsed.retry = int(number)


def _note_tls_file(parsed: _Parsed, name: str, spelled: str, value: str) -> None:
    if name in ("cacert", "capath"):
        parsed.warnings.append(
            f"{spelled} {value}: put the PEM text of the CA certificates into the connection's "
            "ca_bundle"
        )
    elif name in ("cert", "key"):
        parsed.warnings.append(
            f"{spelled} {value}: put the PEM text of the client certificate and its key into "
            "the connection's client_cert (cert, key, password)"
        )
    elif name == "pass":
        parsed.warnings.append(f"{spelled}: the key's password goes into client_cert.password")


def _add_header(parsed: _Parsed, spelled: str, value: str) -> None:
    if value.startswith("@"):
        parsed.unsupported.append(f"{spelled} {value} (headers read from a file)")
        return
    if "\n" in value or "\r" in value:
        # A header written over several lines (a JSON filter, say) is one line when sent.
        value = re.sub(r"[ \t]*[\r\n]+[ \t]*", " ", value).strip()
        parsed.warnings.append(f"{spelled}: the header's line breaks are sent as spaces")
    name, colon, header_value = value.partition(":")
    name = name.strip()
    if not colon:
        # curl's `-H "Name;"` sends `Name:` with an empty value; a line without a colon is
        # not sent at all.
        if value.rstrip().endswith(";") and _HEADER_NAME.match(value.rstrip()[:-1].strip()):
            parsed.headers.append((value.rstrip()[:-1].strip(), ""))
        else:
            parsed.warnings.append(f"{spelled} {value!r} has no colon: curl does not send it")
        return
    if not name or not _HEADER_NAME.match(name):
        raise ConfigError(f"header {value!r}: {name!r} is not a header name", field="command")
    if not header_value.strip():
        # curl's `-H "Name:"` means: do not send curl's own Name header.
        if name.lower() in _CLIENT_HEADERS:
            parsed.warnings.append(
                f"{spelled} '{name}:' removes curl's own {name} header; apicall sends its own"
            )
        elif name.lower() == "content-type":
            parsed.warnings.append(
                f"{spelled} 'Content-Type:' sends the body without a type; apicall sends one"
            )
        parsed.headers.append((name, "\x00removed"))
        return
    parsed.headers.append((name, header_value.strip()))


def _add_cookie(parsed: _Parsed, spelled: str, value: str) -> None:
    if "=" in value:
        parsed.cookies.append(value)
    elif value not in ("", "-"):
        parsed.unsupported.append(f"{spelled} {value} (cookies read from a file)")


def _file_text(parsed: _Parsed, source: str, *, strip_newlines: bool) -> str | None:
    """The text of `@source`: stdin when the command gives it, else None (a file)."""
    if source == "-" and parsed.stdin is not None:
        text = parsed.stdin
        return text.replace("\r", "").replace("\n", "") if strip_newlines else text
    parsed.data_sources.append("standard input" if source == "-" else source)
    return None


def _add_data(parsed: _Parsed, name: str, spelled: str, value: str) -> None:
    parsed.body_options.setdefault("data", spelled)
    joiner = "&"
    if name == "json":
        parsed.json = True
        if parsed.data and parsed.body_options.get("last") == "json":
            joiner = ""  # curl appends one --json to the one before it as is
    parsed.body_options["last"] = "json" if name == "json" else "data"
    text: str | None = value
    if name != "data-raw" and value.startswith("@"):
        text = _file_text(parsed, value[1:], strip_newlines=name in ("data", "data-ascii"))
        if text is None:
            source = "standard input" if value == "@-" else "a file"
            parsed.unsupported.append(f"{spelled} {value} (the body is read from {source})")
    parsed.data.append(_Piece(text, joiner))


def _urlencoded(parsed: _Parsed, spelled: str, value: str) -> str | None:
    """curl's `content`, `=content`, `name=content`, `@file`, `name@file`, encoded."""
    name, equals, content = value.partition("=")
    if not equals and "@" in value:
        name, _, source = value.partition("@")
        text = _file_text(parsed, source, strip_newlines=False)
        if text is None:
            parsed.unsupported.append(f"{spelled} {value} (the value is read from a file)")
            return None
        return f"{name}={_quote_form(text)}" if name else _quote_form(text)
    if not equals:
        return _quote_form(value)
    return f"{name}={_quote_form(content)}" if name else _quote_form(content)


def _quote_form(text: str) -> str:
    # Placeholders stay whole: their values are encoded when the request is built.
    parts = _MARKED.split(text)
    return "".join(
        quote_plus(part) if index % 2 == 0 else f"{_MARK}{part}{_END}"
        for index, part in enumerate(parts)
    )


def _add_urlencoded(parsed: _Parsed, spelled: str, value: str) -> None:
    parsed.body_options.setdefault("data", spelled)
    parsed.body_options["last"] = "data"
    parsed.data.append(_Piece(_urlencoded(parsed, spelled, value), "&"))


def _add_url_query(parsed: _Parsed, spelled: str, value: str) -> None:
    # `+text` is added as it is; anything else is read like --data-urlencode.
    text = value[1:] if value.startswith("+") else _urlencoded(parsed, spelled, value)
    if text is not None:
        parsed.url_query.append(text)


# --- building the spec --------------------------------------------------------------------------


def _build_spec(parsed: _Parsed) -> RequestSpec:
    _refuse_two_bodies(parsed)
    url, query, userinfo = _split_url(parsed)
    if userinfo is not None and parsed.user is None:
        parsed.user = userinfo
    headers = _headers(parsed)
    content_type = _pop_header(headers, "Content-Type")
    body: dict[str, Any] = {"type": "none"}
    data = _joined(parsed.data)
    if parsed.get and parsed.data:
        if data is None:
            parsed.warnings.append("-G takes the query from a file that cannot be read")
        else:
            query += _query_pairs(data, parsed)
    elif parsed.form:
        body = _multipart(parsed)
    elif parsed.upload is not None:
        body = _upload(parsed, content_type)
    elif parsed.data:
        if parsed.json:
            content_type = content_type or "application/json"
            if not any(name.lower() == "accept" for name in headers):
                headers["Accept"] = "application/json"
        body = _data_body(parsed, data, content_type)
    if content_type and content_type != "\x00removed" and _keeps_content_type(body, content_type):
        headers["Content-Type"] = _template(content_type)
    if parsed.user is not None and _sends_basic(parsed):
        parsed.warnings.append("-u credentials belong in a connection: see `connection.auth`")
    if any(name.lower() in ("authorization", "x-api-key", "cookie") for name in headers):
        parsed.warnings.append("credential headers are better kept in a connection")
    spec: dict[str, Any] = {
        "method": _method(parsed, body),
        "url": url,
        "query": query,
        "headers": headers,
        "body": body,
        "follow_redirects": parsed.follow,
    }
    if parsed.max_time:
        spec["timeout_s"] = min(parsed.max_time, 900)
    if parsed.max_redirs is not None:
        spec["max_redirects"] = max(0, min(parsed.max_redirs, 20))
    try:
        return RequestSpec.model_validate(spec)
    except ValidationError as exc:
        raise config_error_from(exc, prefix="request", what="request from curl") from exc


def _refuse_two_bodies(parsed: _Parsed) -> None:
    """curl refuses to mix request kinds ("You can only select one HTTP request method")."""
    given = parsed.body_options
    kinds = [kind for kind in ("data", "form", "upload", "head") if kind in given]
    if len(kinds) > 1:
        first, second = (given[kind] for kind in kinds[:2])
        raise ConfigError(
            f"{first} and {second} cannot be used together: curl refuses them, since a request "
            "has one method and one body",
            field="command",
        )


def _joined(pieces: list[_Piece]) -> str | None:
    if any(piece.text is None for piece in pieces):
        return None
    return "".join(
        (piece.joiner if index else "") + (piece.text or "") for index, piece in enumerate(pieces)
    )


def _method(parsed: _Parsed, body: dict[str, Any]) -> str:
    if parsed.method:
        method = parsed.method.upper()
        if method != parsed.method:
            parsed.warnings.append(f"-X {parsed.method}: curl sends the method as written")
        return method
    if parsed.head:
        return "HEAD"
    if parsed.upload is not None:
        return "PUT"
    if parsed.form:  # -G moves -d data into the query; a -F form stays a POST
        return "POST"
    return "POST" if parsed.data and not parsed.get else "GET"


def _headers(parsed: _Parsed) -> dict[str, str]:
    headers: dict[str, str] = {}
    spelled: dict[str, str] = {}
    left = [name for name, _ in parsed.headers if name.lower() in _TRANSPORT_HEADERS]
    if left:
        parsed.warnings.append(
            f"{', '.join(dict.fromkeys(left))}: left to apicall's client, which sets its own"
        )
    for name, value in parsed.headers:
        key = name.lower()
        if key in _TRANSPORT_HEADERS:
            continue
        if value == "\x00removed":
            if key == "content-type":
                headers[spelled.get(key, name)] = value
            continue
        if key in spelled and headers[spelled[key]] != "\x00removed":
            joiner = "; " if key == "cookie" else ", "
            parsed.warnings.append(
                f"the header {name} is given more than once: its values are joined with {joiner!r}"
            )
            headers[spelled[key]] += joiner + value
        else:
            spelled[key] = name
            headers[name] = value
    if parsed.cookies and "cookie" not in spelled:  # curl leaves -b out when -H sets Cookie
        headers["Cookie"] = ";".join(parsed.cookies)
    for name, value in headers.items():
        _warn_to_fill(parsed, f"header {name}", value)
    return {
        name: value if value == "\x00removed" else _template(value)
        for name, value in headers.items()
    }


def _pop_header(headers: dict[str, str], name: str) -> str | None:
    for key in list(headers):
        if key.lower() == name.lower():
            value = headers.pop(key)
            return value if value == "\x00removed" else _rendered(value)
    return None


def _rendered(template: str) -> str:
    """A header value back as the text it was read from (its placeholders marked)."""
    parts = templating.parse_template(template, field="curl")
    return "".join(part if isinstance(part, str) else f"{_MARK}{part.name}{_END}" for part in parts)


def _warn_to_fill(parsed: _Parsed, where: str, text: str) -> None:
    found = _TO_FILL.search(text)
    if found:
        parsed.warnings.append(f"{where} holds {found.group(0)}, which looks like text to replace")


def _keeps_content_type(body: dict[str, Any], content_type: str) -> bool:
    """A raw body carries its own type and multipart needs its boundary; JSON and form bodies keep
    any other type than the one apicall sends for them (application/vnd.api+json, a charset)."""
    sent = {"json": "application/json", "form": "application/x-www-form-urlencoded"}
    if body["type"] in sent:
        return content_type.strip().lower() != sent[body["type"]]
    return body["type"] == "none"


# URLs ------------------------------------------------------------------------------------------


def _split_url(parsed: _Parsed) -> tuple[str, list[list[str]], str | None]:
    """(url without query or credentials, query pairs, `user:password` from the URL)."""
    if not parsed.urls:
        raise ConfigError("the command has no URL", field="command")
    for extra in parsed.urls[1:]:
        parsed.unsupported.append(f"extra URL {extra}")
        parsed.warnings.append(f"curl would also request {extra}: only the first URL is imported")
    written = parsed.urls[0]
    if written.startswith(_MARK):
        name = _MARKED.match(written)
        raise ConfigError(
            f"the URL starts with a shell variable ({name.group(1) if name else ''}) that the text "
            "does not set: paste the URL itself, or set the variable before the curl command",
            field="command",
        )
    if not parsed.globoff and _URL_GLOB.search(written):
        parsed.warnings.append(
            f"{written} is a curl URL pattern (one request per alternative): imported as written"
        )
    url = written if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", written) else f"http://{written}"
    # API docs write path templates as {id}: they become placeholders like the shell's $VARs.
    # API docs write path templates as {id}, Postman and Insomnia as {{id}}: they become
    # placeholders, like the shell's $VARs.
    url = _URL_TEMPLATE.sub(lambda m: f"{_MARK}{m.group(1) or m.group(2)}{_END}", url)
    for name in dict.fromkeys(_MARKED.findall(url)):
        if f"{{{name}}}" in written:
            parsed.warnings.append(
                f"the URL's {{{name}}} is a placeholder: give its value when the request runs"
            )
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # a bracketed host that is no IP address, say
        raise ConfigError(f"the URL {written!r} cannot be read: {exc}", field="command") from None
    userinfo = None
    netloc = parts.netloc
    if "@" in netloc:
        credentials, _, netloc = netloc.rpartition("@")
        user, colon, password = credentials.partition(":")
        userinfo = f"{unquote(user)}:{unquote(password)}" if colon else unquote(user)
    path = parts.path if parsed.path_as_is else _remove_dot_segments(parts.path)
    upload = parsed.upload
    if upload and upload not in ("-", ".") and (path.endswith("/") or not path):
        # curl puts an upload at its file name under a URL that ends with a slash.
        path = path.rstrip("/") + "/" + quote(upload.replace("\\", "/").rsplit("/", 1)[-1])
    raw_query = "&".join(q for q in (parts.query, *parsed.url_query) if q)
    _warn_to_fill(parsed, "the URL", url)
    base = urlunsplit((parts.scheme, netloc, path, "", ""))
    return _template(base), _query_pairs(raw_query, parsed), userinfo


def _remove_dot_segments(path: str) -> str:
    """RFC 3986's remove_dot_segments, as curl applies it unless --path-as-is."""
    segments = path.split("/")
    out: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment in (".", ".."):
            if segment == ".." and len(out) > 1:
                out.pop()
            if last:
                out.append("")
            continue
        out.append(segment)
    return "/".join(out)


def _query_pairs(raw: str, parsed: _Parsed) -> list[list[str]]:
    pairs = parse_qsl(raw, keep_blank_values=True)
    out = []
    for key, value in pairs:
        if _MARK in key:
            parsed.warnings.append(f"the query name {_unmarked(key)} holds a shell variable")
            key = _unmarked(key)
        out.append([key, _template(value)])
    return out


# Bodies ----------------------------------------------------------------------------------------


def _data_body(parsed: _Parsed, text: str | None, content_type: str | None) -> dict[str, Any]:
    if content_type == "\x00removed":
        content_type = None
    content_type = _unmarked(content_type) if content_type else None
    media = (content_type or "application/x-www-form-urlencoded").split(";")[0].strip().lower()
    if text is None:
        parsed.warnings.append(
            f"the body is read from {', '.join(parsed.data_sources)}, which the importer cannot "
            "read: fill in request.body"
        )
        return {
            "type": "raw",
            "content_type": content_type or "application/x-www-form-urlencoded",
            "content": "",
        }
    if media == "application/json" or media.endswith("+json"):
        return _json_or_raw(parsed, text, content_type or "application/json")
    if media == "application/x-www-form-urlencoded" and _is_form(text):
        pairs = parse_qsl(text, keep_blank_values=True)
        return {"type": "form", "fields": [[key, _template(value)] for key, value in pairs]}
    return {
        "type": "raw",
        "content_type": content_type or "application/x-www-form-urlencoded",
        "content": _template(text),
    }


def _is_form(text: str) -> bool:
    """Text that decodes to name=value pairs and back: names without placeholders, `%XX` valid."""
    if not text or re.search(r"%(?![0-9A-Fa-f]{2})", text):
        return False
    parts = text.split("&")
    return all("=" in part and part.split("=")[0] and _MARK not in part.split("=")[0]
               for part in parts)  # fmt: skip


def _json_or_raw(parsed: _Parsed, text: str, content_type: str) -> dict[str, Any]:
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except ValueError:
        if _MARK not in text:
            parsed.warnings.append("the JSON body does not parse; it is kept as raw text")
        return {"type": "raw", "content_type": content_type, "content": _template(text)}
    return {"type": "json", "value": _json_templates(value, parsed)}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_templates(value: Any, parsed: _Parsed) -> Any:
    if isinstance(value, str):
        return _template(value)
    if isinstance(value, list):
        return [_json_templates(item, parsed) for item in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if _MARK in key:  # keys are not templates: the shell's text stays as it was written
                parsed.warnings.append(f"the JSON key {_unmarked(key)} holds a shell variable")
                key = _unmarked(key)
            out[key] = _json_templates(item, parsed)
        return out
    return value


def _upload(parsed: _Parsed, content_type: str | None) -> dict[str, Any]:
    source = parsed.upload or ""
    text = parsed.stdin if source in ("-", ".") else None
    if text is None:
        parsed.unsupported.append(f"-T {source} (the body is read from a file)")
        parsed.warnings.append(
            f"the body is the file {source}, which the importer cannot read: fill in request.body"
        )
    media = content_type if content_type and content_type != "\x00removed" else None
    return {
        "type": "raw",
        "content_type": media or "application/octet-stream",
        "content": _template(text or ""),
    }


@dataclass
class _FormPart:
    name: str
    value: str
    kind: str  # "text", "file" (@), "file-content" (<)
    params: dict[str, str]


def _form_part(spelled: str, argument: str, *, literal: bool) -> _FormPart:
    """curl's -F grammar: `name=value`, `name=@file`, `name=<file`, a "quoted" value, and
    `;type=`, `;filename=`, `;headers=` after it."""
    name, equals, rest = argument.partition("=")
    if not equals or not name:
        raise ConfigError(f"form field {argument!r} is not 'name=value'", field="command")
    if literal:
        return _FormPart(name, rest, "text", {})
    kind = {"@": "file", "<": "file-content"}.get(rest[:1], "text")
    if kind != "text":
        rest = rest[1:]
    value, rest = _form_word(rest)
    params: dict[str, str] = {}
    while rest.startswith(";"):
        key, equals, after = rest[1:].lstrip().partition("=")
        if not equals:
            break
        param, rest = _form_word(after, until_semicolon=key.strip() != "type")
        params[key.strip().lower()] = param
    return _FormPart(name, value, kind, params)


def _form_word(text: str, *, until_semicolon: bool = True) -> tuple[str, str]:
    if text.startswith('"'):
        out, position = [], 1
        while position < len(text) and text[position] != '"':
            if text[position] == "\\" and position + 1 < len(text):
                position += 1
            out.append(text[position])
            position += 1
        return "".join(out), text[position + 1 :]
    end = len(text)
    if until_semicolon:
        found = text.find(";")
        end = end if found < 0 else found
    else:  # a type goes up to a `;` that starts another known parameter
        param = re.search(r";\s*(?:type|filename|headers|encoder)=", text)
        end = end if param is None else param.start()
    return text[:end].rstrip(), text[end:]


def _multipart(parsed: _Parsed) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    files: list[dict[str, Any]] = []
    for spelled, argument in parsed.form:
        part = _form_part(spelled, argument, literal=spelled == "--form-string")
        if part.kind == "file-content":
            parsed.unsupported.append(f"{spelled} {argument} (the value is read from a file)")
            parsed.warnings.append(f"form field {part.name} is read from {part.value}: fill it in")
        if part.kind == "file" or "filename" in part.params:
            filename = part.params.get("filename") or part.value.rsplit("/", 1)[-1] or "file"
            upload: dict[str, Any] = {"name": part.name, "filename": filename}
            extension = filename.rpartition(".")[2].lower() if "." in filename else ""
            guessed = _FILE_TYPES.get(extension)
            if "type" in part.params or guessed:
                upload["content_type"] = part.params.get("type") or guessed
            if part.kind == "file":
                upload["content_base64"] = ""
                parsed.unsupported.append(
                    f"{spelled} {argument} (file contents: upload the file instead)"
                )
            else:
                upload["text"] = part.value
            files.append(upload)
            continue
        if set(part.params) - {"filename"}:
            parsed.warnings.append(
                f"form field {part.name}: its {', '.join(sorted(part.params))} cannot be given "
                "to a multipart text field; it is sent without them"
            )
        if part.name in fields:
            parsed.warnings.append(
                f"form field {part.name} is given more than once: a multipart body holds one "
                "value per field name, the last one is kept"
            )
        fields[part.name] = _template(part.value if part.kind == "text" else "")
    return {"type": "multipart", "fields": fields, "files": files}


# --- the suggested connection -------------------------------------------------------------------


def _suggested_connection(parsed: _Parsed) -> dict[str, Any]:
    """Connection settings (the Connection contract, docs/contracts.md) that the command implies."""
    connection: dict[str, Any] = {}
    auth = _suggested_auth(parsed)
    if auth is not None:
        connection["auth"] = auth
    if parsed.insecure:
        connection["verify_ssl"] = False
        parsed.warnings.append("-k turns off certificate checks: see `connection.verify_ssl`")
    if parsed.proxy:
        proxy = _proxy_url(parsed)
        if proxy is not None:
            connection["proxy"] = proxy
    timeout = parsed.max_time or parsed.connect_timeout
    if timeout:
        connection["timeout_s"] = min(timeout, 900)
        if not parsed.max_time:
            parsed.warnings.append(
                "--connect-timeout bounds only connecting; a connection's timeout_s bounds the "
                "whole request: raise it if the API answers slowly"
            )
    if parsed.retry:
        connection["retry"] = {"attempts": max(1, min(parsed.retry + 1, 10))}
    return connection


def _suggested_auth(parsed: _Parsed) -> dict[str, Any] | None:
    if parsed.bearer is not None:
        return {"type": "bearer", "token": _unmarked(parsed.bearer)}
    others = [spelled for name, spelled in parsed.auth_methods.items() if name != "basic"]
    parsed.unsupported += others
    if parsed.user is None:
        return None
    if not _sends_basic(parsed):
        named = ", ".join(others) or parsed.no_basic
        parsed.warnings.append(
            f"{named}: a connection authenticates with basic, bearer, API key or OAuth 2.0 only; "
            "no auth is suggested for the -u credentials"
        )
        return None
    username, colon, password = _unmarked(parsed.user).partition(":")
    if not colon:
        parsed.warnings.append("-u gives no password: curl would ask for it; fill it in")
    return {"type": "basic", "username": username, "password": password}


def _sends_basic(parsed: _Parsed) -> bool:
    return parsed.no_basic is None and set(parsed.auth_methods) <= {"basic"}


def _proxy_url(parsed: _Parsed) -> str | None:
    proxy = _unmarked(parsed.proxy or "")
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", proxy):
        proxy = f"http://{proxy}"
    scheme = proxy.split("://", 1)[0].lower()
    if scheme not in ("http", "https"):
        parsed.unsupported.append(f"--proxy {proxy} (a {scheme} proxy)")
        return None
    if parsed.proxy_user:
        user, _, password = _unmarked(parsed.proxy_user).partition(":")
        host = proxy.split("://", 1)[1].rpartition("@")[2]
        proxy = f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    return proxy


# --- text as templates --------------------------------------------------------------------------


def _unmarked(text: str) -> str:
    """Text with its placeholder marks back as the shell wrote them (`$NAME`)."""
    return _MARKED.sub(lambda m: f"${m.group(1)}", text)


def _template(text: str) -> str:
    """A template that renders exactly `text`, its marked placeholders becoming `{name}`.

    A brace is escaped only where templating would read it otherwise (`{name}`-shaped text, `{{`,
    a `}}` it would take for an escape), so a pasted JSON or GraphQL text stays readable; the
    result is checked with templating's own parser, and every brace is doubled if it disagrees.
    """
    segments = _MARKED.split(text)
    out: list[str] = []
    opened: list[bool] = []  # as templating tracks them: True for a `{` written `{{`
    for index, segment in enumerate(segments):
        if index % 2:
            out.append(f"{{{segment}}}")
            continue
        out.append(_escaped(segment, opened, placeholder_next=index + 1 < len(segments)))
    template = "".join(out)
    if _renders_as(template, text):
        return template
    return "".join(
        f"{{{segment}}}" if index % 2 else segment.replace("{", "{{").replace("}", "}}")
        for index, segment in enumerate(segments)
    )


def _escaped(segment: str, opened: list[bool], *, placeholder_next: bool) -> str:
    out: list[str] = []
    for position, char in enumerate(segment):
        rest = segment[position:]
        if char == "{":
            last = position == len(segment) - 1
            if (
                rest.startswith("{{")
                or _PLACEHOLDER_SHAPE.match(rest)
                or (last and placeholder_next)
            ):
                out.append("{{")
                opened.append(True)
            else:
                out.append("{")
                opened.append(False)
        elif char == "}":
            # `}}` closes a `{{` (and is one brace); with nothing open, a `}` that a `}` follows
            # would be read with it as an escape; a `}` closing a single `{` is itself.
            double = opened[-1] if opened else rest.startswith("}}")
            out.append("}}" if double else "}")
            if opened:
                opened.pop()
        else:
            out.append(char)
    return "".join(out)


def _renders_as(template: str, text: str) -> bool:
    try:
        parts = templating.parse_template(template, field="curl")
    except InvalidRequest:
        return False
    rendered = "".join(
        part if isinstance(part, str) else f"{_MARK}{part.name}{_END}" for part in parts
    )
    return rendered == text
