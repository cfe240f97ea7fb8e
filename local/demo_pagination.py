"""Demo API routes serving orders in every pagination style the fetch function follows.

The orders are generated from their number (nothing is stored), so the demo can serve 500,000 of
them without holding them. Order n (1-based) was last updated n minutes after ORDERS_EPOCH; with
`updated_since` a route serves only the orders updated after it, oldest first.

    GET  /paged/orders/all                               every order, one page
    GET  /paged/orders/offset?offset=&limit=             {"data", "total"}
    GET  /paged/orders/page?page=&size=                  {"data", "page", "total_pages"}
    GET  /paged/orders/cursor?cursor=&limit=             {"data", "next_cursor"}
    GET  /paged/orders/next_url?after=&limit=            {"data", "links": {"next"}}
    GET  /paged/orders/link?page=&per_page=              {"data"} + Link: <...>; rel="next"
    POST /paged/orders/search  {"offset", "limit", "updated_since"?}   {"data", "total"}

Knobs for tests, on `app.orders` (an OrderSource): `total`, `max_limit` (the server caps page
sizes, as many APIs do), `outage_at` (requests for that offset answer 503 until cleared),
`repeat_cursor_at` (from that offset on, the cursor route answers the cursor it was sent), and
`served` (the offset of every page served, per route).
"""

from __future__ import annotations

import base64
import json
import math
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from local.demo_api import DemoAPI

ORDERS_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
STATUSES = ("created", "paid", "shipped", "delivered")
DEFAULT_LIMIT = 50


def order(number: int) -> dict[str, Any]:
    """Order `number` (1-based), the same every time it is served."""
    updated = ORDERS_EPOCH + timedelta(minutes=number)
    return {
        "id": f"ord_{number:07d}",
        "number": number,
        "status": STATUSES[number % len(STATUSES)],
        "total": round(5 + (number * 37) % 500 + (number % 100) / 100, 2),
        "currency": "EUR",
        "customer": {"id": f"cus_{number % 97:03d}", "email": f"buyer{number % 97}@example.com"},
        "items": [{"sku": f"SKU-{number % 13}", "qty": 1 + number % 3}],
        "updated_at": updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


@dataclass
class OrderSource:
    total: int = 250
    max_limit: int = 1000
    outage_at: int | None = None
    repeat_cursor_at: int | None = None
    served: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def first_number(self, updated_since: str | None) -> int:
        """The first order updated after `updated_since` (orders are numbered by update time)."""
        if not updated_since:
            return 1
        since = datetime.fromisoformat(updated_since.replace("Z", "+00:00"))
        minutes = (since - ORDERS_EPOCH).total_seconds() / 60
        return max(1, math.floor(minutes) + 1)

    def window(self, offset: int, limit: int, updated_since: str | None) -> tuple[list[dict], int]:
        """Orders [offset, offset + limit) of the view after `updated_since`, and its size."""
        first = self.first_number(updated_since)
        size = max(0, self.total - first + 1)
        start = first + max(0, offset)
        stop = min(self.total + 1, start + max(0, min(limit, self.max_limit)))
        return [order(n) for n in range(start, stop)], size

    def serve(self, route: str, offset: int) -> Response | None:
        """Note a served page; the outage answer if one is on at this offset."""
        with self.lock:
            self.served.setdefault(route, []).append(offset)
        if self.outage_at is not None and offset == self.outage_at:
            return _json({"error": "service_unavailable"}, 503)
        return None

    def served_twice(self, route: str) -> list[int]:
        seen = self.served.get(route, [])
        return sorted({offset for offset in seen if seen.count(offset) > 1})


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload), status=status, headers=headers, mimetype="application/json"
    )


def _int(request: Request, name: str, default: int) -> int:
    try:
        return int(request.args.get(name, default))
    except ValueError:
        return default


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    padded = cursor + "=" * (-len(cursor) % 4)
    return int(base64.urlsafe_b64decode(padded).decode().split(":", 1)[1])


def register(app: DemoAPI) -> OrderSource:
    """Add the /paged/orders routes to `app`; returns their OrderSource."""
    source = OrderSource()
    since = "updated_since"

    def all_orders(request: Request) -> Response:
        failed = source.serve("all", 0)
        data, size = source.window(0, source.total, request.args.get(since))
        return failed or _json({"data": data, "total": size})

    def by_offset(request: Request) -> Response:
        offset, limit = _int(request, "offset", 0), _int(request, "limit", DEFAULT_LIMIT)
        failed = source.serve("offset", offset)
        data, size = source.window(offset, limit, request.args.get(since))
        return failed or _json({"data": data, "total": size})

    def by_page(request: Request) -> Response:
        page, size = max(1, _int(request, "page", 1)), _int(request, "size", DEFAULT_LIMIT)
        offset = (page - 1) * size
        failed = source.serve("page", offset)
        data, count = source.window(offset, size, request.args.get(since))
        body = {"data": data, "page": page, "total_pages": math.ceil(count / size) if size else 0}
        return failed or _json(body)

    def by_cursor(request: Request) -> Response:
        cursor, limit = request.args.get("cursor"), _int(request, "limit", DEFAULT_LIMIT)
        try:
            offset = decode_cursor(cursor) if cursor else 0
        except (ValueError, IndexError):
            return _json({"error": "invalid_cursor"}, 400)
        failed = source.serve("cursor", offset)
        data, size = source.window(offset, limit, request.args.get(since))
        following = offset + len(data)
        next_cursor = encode_cursor(following) if data and following < size else None
        if source.repeat_cursor_at is not None and offset >= source.repeat_cursor_at:
            next_cursor = cursor
        return failed or _json({"data": data, "next_cursor": next_cursor})

    def by_next_url(request: Request) -> Response:
        offset, limit = _int(request, "after", 0), _int(request, "limit", DEFAULT_LIMIT)
        failed = source.serve("next_url", offset)
        data, size = source.window(offset, limit, request.args.get(since))
        following = offset + len(data)
        link = None
        if data and following < size:
            query: dict[str, int | str] = {"after": following, "limit": limit}
            if request.args.get(since):
                query[since] = request.args[since]
            link = f"/paged/orders/next_url?{urlencode(query)}"
        return failed or _json({"data": data, "links": {"next": link}})

    def by_link_header(request: Request) -> Response:
        page, per_page = max(1, _int(request, "page", 1)), _int(request, "per_page", DEFAULT_LIMIT)
        offset = (page - 1) * per_page
        failed = source.serve("link", offset)
        data, size = source.window(offset, per_page, request.args.get(since))
        last = max(1, math.ceil(size / per_page)) if per_page else 1
        base = request.host_url.rstrip("/") + "/paged/orders/link"

        def link(number: int) -> str:
            query: dict[str, Any] = {"page": number, "per_page": per_page}
            if request.args.get(since):
                query[since] = request.args[since]
            return f"{base}?{urlencode(query)}"

        links = [f'<{link(1)}>; rel="first"', f'<{link(last)}>; rel="last"']
        if page < last:
            links.insert(0, f'<{link(page + 1)}>; rel="next"')
        return failed or _json({"data": data}, headers={"Link": ", ".join(links)})

    def search(request: Request) -> Response:
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return _json({"error": "invalid_json"}, 400)
        offset, limit = int(payload.get("offset", 0)), int(payload.get("limit", DEFAULT_LIMIT))
        failed = source.serve("search", offset)
        data, size = source.window(offset, limit, payload.get(since))
        return failed or _json({"data": data, "total": size})

    guarded = app._guarded
    app.route("/paged/orders/all", "orders_all", guarded(all_orders), ["GET"])
    app.route("/paged/orders/offset", "orders_offset", guarded(by_offset), ["GET"])
    app.route("/paged/orders/page", "orders_page", guarded(by_page), ["GET"])
    app.route("/paged/orders/cursor", "orders_cursor", guarded(by_cursor), ["GET"])
    app.route("/paged/orders/next_url", "orders_next_url", guarded(by_next_url), ["GET"])
    app.route("/paged/orders/link", "orders_link", guarded(by_link_header), ["GET"])
    app.route("/paged/orders/search", "orders_search", guarded(search), ["POST"])
    return source
