"""Workspaces: one deployment serving many teams, none seeing another's connections or data.

Everything a builder creates or a workflow runs belongs to a workspace; `default` needs nothing
new. Stored keys of the default workspace stay as they were before workspaces existed, so data
already stored stays where it is; another workspace's keys carry its name in front.
"""

from __future__ import annotations

import re

from apicall.core.errors import InvalidRequest

DEFAULT_WORKSPACE = "default"

WORKSPACE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
WORKSPACE_NAME = re.compile(WORKSPACE_PATTERN)


def check_workspace(name: object, field: str = "workspace") -> str:
    """`name` if it is a workspace name (letters, digits, `_-`, up to 64), else InvalidRequest."""
    if not isinstance(name, str) or not WORKSPACE_NAME.match(name):
        raise InvalidRequest(
            f"invalid workspace {str(name)[:80]!r}: use 1-64 letters, digits, '_' or '-', "
            "starting with a letter or digit",
            field=field,
        )
    return name


def scoped(workspace: str, name: str) -> str:
    """A connection or job `name` within `workspace`: unchanged in the default workspace.

    This one string is what the layer keys a connection's client, token, rate limit, history and
    records by. `#` never occurs in a connection, job or workspace name, so no two workspaces
    share one.
    """
    return name if workspace == DEFAULT_WORKSPACE else f"{workspace}#{name}"


def unscoped(name: str) -> tuple[str, str]:
    """(workspace, name) of what `scoped` made."""
    workspace, sep, plain = name.partition("#")
    return (workspace, plain) if sep else (DEFAULT_WORKSPACE, name)


def family_key(family: str, workspace: str, key: str) -> str:
    """A stored key for a free-form `key` (a push id may hold `#`): `<family>#<key>` in the
    default workspace, `<family>@<workspace>#<key>` in another, so none can pose as another's."""
    if workspace == DEFAULT_WORKSPACE:
        return f"{family}#{key}"
    return f"{family}@{workspace}#{key}"
