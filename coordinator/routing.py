"""Path templates to handlers: ``/v1/jobs/{job_id}/outputs`` matched whole, one route a path.

What Starlette's router did for the coordinator, and no more: a ``{name}`` segment matches one
non-empty path segment (no ``/``); a path no template matches is a 404, a path that matches with
a method the route does not take is a 405 whose ``Allow`` lists every method of that path
(``HEAD`` wherever ``GET`` is, RFC 9110 section 9.3.2). Unlike Starlette there is no redirect
between ``/a`` and ``/a/``: a trailing slash is a 404, never a 307 that echoes the path back.

References: RFC 9110 section 15.5.6 (405 and Allow)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Match", "Route", "Router"]

_PARAM = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True, slots=True)
class Route:
    """One path template and the handler of each method it takes."""

    template: str
    handlers: Mapping[str, Callable[..., Any]]
    # The methods whose handler calls the object store (blocking): the serve adapter runs
    # those in its thread pool and the rest inline.
    blocking: frozenset[str] = frozenset()
    takes_body: frozenset[str] = frozenset()  # methods whose handler reads a JSON body
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)
    allow: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = _PARAM.split(self.template)
        # Odd parts are parameter names, even parts literal text.
        regex = "".join(
            f"(?P<{part}>[^/]+)" if index % 2 else re.escape(part)
            for index, part in enumerate(parts)
        )
        object.__setattr__(self, "pattern", re.compile(regex))
        methods = set(self.handlers) | ({"HEAD"} if "GET" in self.handlers else set())
        object.__setattr__(self, "allow", ", ".join(sorted(methods)))

    def handler(self, method: str) -> Callable[..., Any] | None:
        return self.handlers.get("GET" if method == "HEAD" else method)


@dataclass(frozen=True, slots=True)
class Match:
    """What routing found: the route (None: no path matched), its handler for the method (None:
    405) and the path's parameters."""

    route: Route | None
    handler: Callable[..., Any] | None = None
    params: Mapping[str, str] = field(default_factory=dict)


_NO_ROUTE = Match(route=None)


class Router:
    """Routes tried in order; the first whose template matches the whole path decides."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = tuple(routes)
        self._exact = {r.template: r for r in routes if "{" not in r.template}
        self._templated = tuple(r for r in routes if "{" in r.template)

    def match(self, method: str, path: str) -> Match:
        route = self._exact.get(path)
        if route is not None:
            return Match(route, route.handler(method))
        for route in self._templated:
            found = route.pattern.fullmatch(path)
            if found is not None:
                return Match(route, route.handler(method), found.groupdict())
        return _NO_ROUTE
