"""Turn a curl command (as API docs and browsers' "Copy as cURL" give it) into a RequestSpec.

Every flag is accounted for: it shapes the request, is `ignored` because it only changes what curl
prints, or is `unsupported` because a request spec cannot express it (files, TLS switches);
nothing is dropped silently. Credentials from `-u` come back as a suggested connection `auth`.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlsplit, urlunsplit

from pydantic import ValidationError

from apicall.errors import ConfigError, config_error_from
from apicall.models import RequestSpec

# Flags that take a value, by every spelling curl accepts.
_VALUE_FLAGS = {
    "-X": "method",
    "--request": "method",
    "-H": "header",
    "--header": "header",
    "-d": "data",
    "--data": "data",
    "--data-ascii": "data",
    "--data-binary": "data",
    "--data-raw": "data_raw",
    "--data-urlencode": "data_urlencode",
    "--json": "json",
    "-F": "form",
    "--form": "form",
    "--form-string": "form_string",
    "-u": "user",
    "--user": "user",
    "-A": "user_agent",
    "--user-agent": "user_agent",
    "-e": "referer",
    "--referer": "referer",
    "-b": "cookie",
    "--cookie": "cookie",
    "-m": "max_time",
    "--max-time": "max_time",
    "--max-redirs": "max_redirs",
    "--url": "url",
}
_SWITCHES = {
    "-G": "get",
    "--get": "get",
    "-I": "head",
    "--head": "head",
    "-L": "location",
    "--location": "location",
    "--compressed": "compressed",
}
# Flags that change only curl's own output or progress, never the request sent.
_OUTPUT_SWITCHES = {
    "-s", "--silent", "-S", "--show-error", "-v", "--verbose", "-i", "--include",
    "-f", "--fail", "--fail-with-body", "-#", "--progress-bar", "-N", "--no-buffer",
}  # fmt: skip
_OUTPUT_VALUE_FLAGS = {"-o", "--output", "-w", "--write-out", "--trace", "--trace-ascii"}
# Flags a request spec cannot express that take a value (so the value is not taken for the URL).
_UNSUPPORTED_VALUE_FLAGS = {
    "-c", "--cookie-jar", "-E", "--cert", "--key", "--cacert", "--capath", "-x", "--proxy",
    "-U", "--proxy-user", "--connect-timeout", "--retry", "--retry-delay", "--retry-max-time",
    "-T", "--upload-file", "--resolve", "--connect-to", "--interface", "--limit-rate",
    "-r", "--range", "-K", "--config", "--oauth2-bearer", "--aws-sigv4", "--cert-type",
    "--key-type", "--pass",
}  # fmt: skip


@dataclass
class CurlImport:
    request: RequestSpec
    unsupported: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    auth: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        request = self.request.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        return {
            "request": {"method": self.request.method, **request},
            "unsupported": self.unsupported,
            "ignored": self.ignored,
            "warnings": self.warnings,
            "auth": self.auth,
        }


@dataclass
class _Parsed:
    url: str | None = None
    method: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    data: list[str] = field(default_factory=list)
    json_data: list[str] = field(default_factory=list)
    form: list[tuple[str, str, bool]] = field(default_factory=list)  # (name, value, is_string)
    user: str | None = None
    get: bool = False
    head: bool = False
    follow: bool = False
    max_redirs: int | None = None
    max_time: float | None = None
    unsupported: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_curl(command: str) -> CurlImport:
    """The RequestSpec a curl command describes; ConfigError(field="command") when it is not one."""
    parsed = _parse_arguments(_tokens(command))
    spec = _build_spec(parsed)
    return CurlImport(
        request=spec,
        unsupported=parsed.unsupported,
        ignored=parsed.ignored,
        warnings=parsed.warnings,
        auth=_suggested_auth(parsed.user),
    )


def _tokens(command: str) -> list[str]:
    # Line continuations of POSIX shells and of Windows' cmd ("Copy as cURL (cmd)").
    text = re.sub(r"[\\^]\r?\n", " ", command.strip())
    try:
        tokens = shlex.split(text, posix=True)
    except ValueError as exc:
        raise ConfigError(f"the command cannot be split: {exc}", field="command") from None
    if not tokens or tokens[0].rsplit("/", 1)[-1] not in ("curl", "curl.exe"):
        raise ConfigError("the command must start with curl", field="command")
    return tokens[1:]


def _parse_arguments(args: list[str]) -> _Parsed:
    parsed = _Parsed()
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            parsed.url = parsed.url or (args[index] if index < len(args) else None)
            break
        if not arg.startswith("-") or arg == "-":
            _set_url(parsed, arg)
            continue
        for flag, attached in _split_flag(arg):
            if (
                flag in _VALUE_FLAGS
                or flag in _OUTPUT_VALUE_FLAGS
                or flag in _UNSUPPORTED_VALUE_FLAGS
            ):
                if attached is None:
                    if index >= len(args):
                        raise ConfigError(f"{flag} needs a value", field="command")
                    attached = args[index]
                    index += 1
                _apply_value(parsed, flag, attached)
            elif flag in _SWITCHES:
                _apply_switch(parsed, _SWITCHES[flag])
            elif flag in _OUTPUT_SWITCHES:
                parsed.ignored.append(flag)
            else:
                parsed.unsupported.append(flag)
    return parsed


def _split_flag(arg: str) -> list[tuple[str, str | None]]:
    """`-sSL` -> three switches; `-XPOST` -> ("-X", "POST"); long flags stay whole."""
    if arg.startswith("--"):
        return [(arg, None)]
    out: list[tuple[str, str | None]] = []
    letters = arg[1:]
    for position, letter in enumerate(letters):
        flag = f"-{letter}"
        rest = letters[position + 1 :]
        if (
            flag in _VALUE_FLAGS or flag in _OUTPUT_VALUE_FLAGS or flag in _UNSUPPORTED_VALUE_FLAGS
        ) and rest:
            out.append((flag, rest))
            return out
        out.append((flag, None))
    return out


def _set_url(parsed: _Parsed, value: str) -> None:
    if parsed.url is None:
        parsed.url = value
    else:
        parsed.unsupported.append(f"extra URL {value}")


def _apply_switch(parsed: _Parsed, name: str) -> None:
    if name == "get":
        parsed.get = True
    elif name == "head":
        parsed.head = True
    elif name == "location":
        parsed.follow = True
    # --compressed: apicall always asks for gzip/deflate and decodes with a size cap.


def _apply_value(parsed: _Parsed, flag: str, value: str) -> None:
    kind = _VALUE_FLAGS.get(flag)
    if kind is None:
        if flag in _OUTPUT_VALUE_FLAGS:
            parsed.ignored.append(flag)
        else:
            parsed.unsupported.append(flag)
        return
    if kind == "method":
        parsed.method = value.upper()
    elif kind == "header":
        name, sep, header_value = value.partition(":")
        if not sep or not name.strip():
            raise ConfigError(f"header {value!r} is not 'Name: value'", field="command")
        parsed.headers.append((name.strip(), header_value.strip()))
    elif kind in ("data", "data_raw"):
        if kind == "data" and value.startswith("@"):
            parsed.unsupported.append(f"{flag} {value} (file contents)")
        else:
            parsed.data.append(value)
    elif kind == "data_urlencode":
        _add_urlencoded(parsed, flag, value)
    elif kind == "json":
        if value.startswith("@"):
            parsed.unsupported.append(f"{flag} {value} (file contents)")
        else:
            parsed.json_data.append(value)
    elif kind in ("form", "form_string"):
        name, sep, form_value = value.partition("=")
        if not sep or not name:
            raise ConfigError(f"form field {value!r} is not 'name=value'", field="command")
        parsed.form.append((name, form_value, kind == "form_string"))
    elif kind == "user":
        parsed.user = value
    elif kind == "user_agent":
        parsed.headers.append(("User-Agent", value))
    elif kind == "referer":
        parsed.headers.append(("Referer", value))
    elif kind == "cookie":
        if "=" in value:
            parsed.headers.append(("Cookie", value))
        else:
            parsed.unsupported.append(f"{flag} {value} (cookie file)")
    elif kind in ("max_time", "max_redirs"):
        _apply_number(parsed, flag, kind, value)
    elif kind == "url":
        _set_url(parsed, value)


def _apply_number(parsed: _Parsed, flag: str, kind: str, value: str) -> None:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{flag} needs a number, not {value!r}", field="command") from None
    if kind == "max_time":
        parsed.max_time = number
    else:
        parsed.max_redirs = int(number)


def _add_urlencoded(parsed: _Parsed, flag: str, value: str) -> None:
    """curl's forms: `content`, `=content`, `name=content`, `@file`, `name@file`."""
    name, sep, content = value.partition("=")
    if sep:
        parsed.data.append(f"{name}={quote_plus(content)}" if name else quote_plus(content))
    elif "@" in value:
        parsed.unsupported.append(f"{flag} {value} (file contents)")
    else:
        parsed.data.append(quote_plus(value))


def _suggested_auth(user: str | None) -> dict[str, Any] | None:
    if user is None:
        return None
    username, _, password = user.partition(":")
    return {"type": "basic", "username": username, "password": password}


# --- building the spec ----------------------------------------------------------------------


def _build_spec(parsed: _Parsed) -> RequestSpec:
    if not parsed.url:
        raise ConfigError("the command has no URL", field="command")
    url, query = _split_query(_with_scheme(parsed.url))
    headers = dict(parsed.headers)
    content_type = _pop_header(headers, "Content-Type")
    body: dict[str, Any] = {"type": "none"}
    if parsed.get:
        query += parse_qsl("&".join(parsed.data), keep_blank_values=True)
    elif parsed.form:
        body = _multipart(parsed)
    elif parsed.json_data:
        headers.setdefault("Accept", "application/json")
        body = _json_or_raw(parsed, "".join(parsed.json_data), "application/json")
    elif parsed.data:
        body = _data_body(parsed, "&".join(parsed.data), content_type)
    if content_type and _keeps_content_type_header(body, content_type):
        headers["Content-Type"] = content_type
    if parsed.user is not None:
        parsed.warnings.append("-u credentials belong in a connection: see `auth`")
    if any(name.lower() in ("authorization", "x-api-key", "cookie") for name in headers):
        parsed.warnings.append("credential headers are better kept in a connection")
    spec: dict[str, Any] = {
        "method": _method(parsed, body),
        "url": url,
        "query": [list(pair) for pair in query],
        "headers": headers,
        "body": body,
        "follow_redirects": parsed.follow,
    }
    if parsed.max_time is not None:
        spec["timeout_s"] = parsed.max_time
    if parsed.max_redirs is not None:
        spec["max_redirects"] = parsed.max_redirs
    try:
        return RequestSpec.model_validate(spec)
    except ValidationError as exc:
        raise config_error_from(exc, prefix="request", what="request from curl") from exc


def _keeps_content_type_header(body: dict[str, Any], content_type: str) -> bool:
    """Raw bodies carry their own type and multipart needs its boundary; a JSON body keeps a
    vendor type such as application/vnd.api+json."""
    if body["type"] == "json":
        return content_type.split(";")[0].strip().lower() != "application/json"
    return body["type"] == "none"


def _with_scheme(url: str) -> str:
    # curl assumes http:// when the scheme is left out.
    return url if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", url) else f"http://{url}"


def _split_query(url: str) -> tuple[str, list[tuple[str, str]]]:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), query


def _pop_header(headers: dict[str, str], name: str) -> str | None:
    for key in list(headers):
        if key.lower() == name.lower():
            return headers.pop(key)
    return None


def _method(parsed: _Parsed, body: dict[str, Any]) -> str:
    if parsed.method:
        return parsed.method
    if parsed.head:
        return "HEAD"
    return "GET" if parsed.get or body["type"] == "none" else "POST"


def _escape_braces(text: str) -> str:
    """Literal text from curl must not be read as apicall placeholders."""
    return text.replace("{", "{{").replace("}", "}}")


def _escape_value(value: Any) -> Any:
    if isinstance(value, str):
        return _escape_braces(value)
    if isinstance(value, list):
        return [_escape_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _escape_value(item) for key, item in value.items()}
    return value


def _json_or_raw(parsed: _Parsed, text: str, content_type: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        parsed.warnings.append("the JSON body does not parse; it is kept as raw text")
        return {"type": "raw", "content_type": content_type, "content": _escape_braces(text)}
    return {"type": "json", "value": _escape_value(value)}


def _data_body(parsed: _Parsed, text: str, content_type: str | None) -> dict[str, Any]:
    media = (content_type or "application/x-www-form-urlencoded").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return _json_or_raw(parsed, text, content_type or "application/json")
    if media == "application/x-www-form-urlencoded" and _is_form(text):
        pairs = parse_qsl(text, keep_blank_values=True)
        return {"type": "form", "fields": [[k, _escape_braces(v)] for k, v in pairs]}
    return {
        "type": "raw",
        "content_type": content_type or "application/x-www-form-urlencoded",
        "content": _escape_braces(text),
    }


def _is_form(text: str) -> bool:
    return bool(text) and all("=" in part and part.split("=")[0] for part in text.split("&"))


def _multipart(parsed: _Parsed) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    files: list[dict[str, Any]] = []
    for name, value, is_string in parsed.form:
        if is_string or not value.startswith(("@", "<")):
            fields[name] = _escape_braces(value)
            continue
        path, _, options = value[1:].partition(";")
        filename = path.rsplit("/", 1)[-1] or "file"
        type_match = re.search(r"type=([^;]+)", options)
        files.append(
            {
                "name": name,
                "filename": filename,
                "content_type": type_match.group(1) if type_match else "application/octet-stream",
                "content_base64": base64.b64encode(b"").decode(),
            }
        )
        parsed.unsupported.append(f"-F {name}={value} (file contents: upload the file instead)")
    return {"type": "multipart", "fields": fields, "files": files}
