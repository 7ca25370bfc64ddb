"""Input checks shared by the component args and the stack settings.

Component args collect every problem before raising, so a stack with three mistakes hears about
all three at once; ``infra.settings`` then names the config key that fixes each one.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import functools
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pulumi

__all__ = [
    "ArgsError",
    "Problems",
    "check_later",
    "check_now",
    "check_types",
    "cloudflare_id_problem",
    "expected_type",
    "in_zone",
    "is_hostname",
    "is_known",
    "is_origin",
    "is_r2_bucket_name",
    "is_s3_bucket_name",
    "names_missing_fields",
]

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# R2: 3-63 characters, lowercase letters, digits and hyphens, starting and ending alphanumeric.
_R2_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
# S3 allows dots too, but a dotted name breaks TLS on virtual-hosted URLs; we refuse it.
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
# Reserved by S3 for access points, Object Lambda, directory and table buckets.
_S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_S3_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", "--table-s3")


class ArgsError(ValueError):
    """Invalid component args; ``problems`` maps each offending field to what is wrong."""

    def __init__(self, owner: str, problems: list[tuple[str, str]]) -> None:
        self.owner = owner
        self.problems = problems
        lines = "\n".join(f"  - {name}: {message}" for name, message in problems)
        super().__init__(f"invalid {owner}:\n{lines}")


@dataclass
class Problems:
    """Collects (field, message) pairs; ``raise_if_any`` raises them together."""

    owner: str
    found: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, message: str) -> None:
        self.found.append((name, message))

    def check(self, ok: bool, name: str, message: str) -> None:
        if not ok:
            self.add(name, message)

    def raise_if_any(self) -> None:
        if self.found:
            raise ArgsError(self.owner, self.found)


_Args = typing.TypeVar("_Args", bound=type)


def names_missing_fields(owner: str, fixes: Mapping[str, str]) -> Callable[[_Args], _Args]:
    """A class decorator for a keyword-only args dataclass: a call that leaves out required
    fields raises one ArgsError naming each with its fix (``fixes[name]``), instead of Python's
    TypeError, which names only the first-declared missing fields and says nothing of a fix."""

    def decorate(cls: _Args) -> _Args:
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        unexplained = sorted(set(required) - set(fixes))
        if unexplained:  # a new required field must come with its fix
            raise TypeError(f"{cls.__name__}: no fix given for {', '.join(unexplained)}")
        init = cls.__init__

        @functools.wraps(init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            missing = [name for name in required if name not in kwargs]
            if missing and not args:
                raise ArgsError(owner, [(name, f"is required: {fixes[name]}") for name in missing])
            init(self, *args, **kwargs)

        cls.__init__ = __init__  # type: ignore[misc]
        return cls

    return decorate


def is_known(value: Any) -> bool:
    """True for a plain value; False for an Output or awaitable (known only when it resolves)."""
    return not isinstance(value, pulumi.Output) and not inspect.isawaitable(value)


def check_now(
    problems: Problems, name: str, value: Any, problem: Callable[[Any], str | None]
) -> None:
    """Check a plain ``value`` with ``problem`` (the message, or None when it is right) now;
    an Output is left to ``check_later``, with the same rule and so the same text."""
    if is_known(value):
        message = problem(value)
        if message is not None:
            problems.add(name, message)


def check_later(
    owner: str, name: str, value: Any, problem: Callable[[Any], str | None]
) -> pulumi.Input[Any]:
    """What a component passes to the resource that needs ``value``: the plain value (checked by
    ``check_now`` already), or an Output that raises ArgsError with ``problem``'s text when the
    value resolves, so that resource is never registered with a wrong one."""
    if is_known(value):
        return value

    def check(resolved: Any) -> Any:
        message = problem(resolved)
        if message is not None:
            raise ArgsError(owner, [(name, message)])
        return resolved

    return pulumi.Output.from_input(value).apply(check)


def cloudflare_id_problem(value: Any) -> str | None:
    """The rule for a Cloudflare account, zone or ruleset id (known now or resolved later)."""
    from coordinator.endpoints import is_account_id

    if isinstance(value, str) and is_account_id(value):
        return None
    return "must be 32 lowercase hex characters"


def is_hostname(value: str) -> bool:
    """A lowercase DNS hostname of two or more labels (no scheme, port, path or final dot)."""
    labels = value.split(".")
    return (
        len(value) <= 253
        and len(labels) >= 2
        and all(_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )


def in_zone(hostname: str, zone: str) -> bool:
    """True when ``hostname`` is the zone apex or a name under it."""
    return hostname == zone or hostname.endswith("." + zone)


def is_origin(value: str, *, allow_http: bool) -> bool:
    """A CORS origin exactly as browsers send it: ``scheme://host[:port]``, nothing more."""
    parts = urlsplit(value)
    if parts.scheme not in (("https", "http") if allow_http else ("https",)):
        return False
    try:
        port = parts.port
    except ValueError:
        return False
    host = parts.hostname or ""
    rebuilt = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
    return rebuilt == value and (is_hostname(host) or host == "localhost")


def is_r2_bucket_name(value: str) -> bool:
    return _R2_BUCKET.fullmatch(value) is not None


def is_s3_bucket_name(value: str) -> bool:
    return (
        _S3_BUCKET.fullmatch(value) is not None
        and not value.startswith(_S3_RESERVED_PREFIXES)
        and not value.endswith(_S3_RESERVED_SUFFIXES)
    )


def expected_type(hint: Any) -> str:
    """A type annotation as a user reads it, with an example where one helps."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        # pulumi.Input[T] is Union[T, Awaitable[T], Output[T]]: say "T or an Output of it".
        plain = [a for a in args if typing.get_origin(a) not in (collections.abc.Awaitable,)]
        outputs = [a for a in plain if getattr(typing.get_origin(a), "__name__", "") == "Output"]
        shown = [expected_type(a) for a in plain if a not in outputs]
        text = " or ".join(shown) + (" (or an Output of it)" if outputs else "")
        return text + (" or None" if type(None) in typing.get_args(hint) else "")
    if origin is tuple:
        return f"a tuple of {expected_type(typing.get_args(hint)[0])}"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (collections.abc.Mapping, dict):
        return "a mapping of str to str"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        first = next(iter(hint))
        name = hint.__name__
        return f"a {name} (e.g. {name}.{first.name} or {name}({first.value!r}))"
    if isinstance(hint, type):
        return {"str": "a str", "int": "an int", "bool": "a bool"}.get(
            hint.__name__, f"a {hint.__name__}"
        )
    return str(hint)


def _matches(value: Any, hint: Any) -> bool:
    if hint is Any or isinstance(hint, typing.TypeVar):
        return True
    if hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        return len(args) == len(value) and all(map(_matches, value, args))
    if origin in (collections.abc.Mapping, dict):
        return isinstance(value, collections.abc.Mapping) and all(
            _matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items()
        )
    if origin is collections.abc.Awaitable:
        return inspect.isawaitable(value)
    if origin is not None:  # a generic class such as pulumi.Output[str]
        return isinstance(value, origin)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def check_types(args: Any, problems: Problems) -> bool:
    """Add a problem for each field of the dataclass ``args`` whose value is not of its declared
    type (a nested args object is checked as a whole: it checks its own fields); True when every
    field has its type. A frozen dataclass does not check types itself, and a wrong one would
    otherwise surface as an AttributeError deep inside a component."""
    # pulumi.Input[T] names "Output[T]" as a forward reference, resolved in pulumi's module.
    hints = typing.get_type_hints(type(args), localns={"Output": pulumi.Output, "T": Any})
    ok = True
    for f in dataclasses.fields(args):
        value = getattr(args, f.name)
        if not _matches(value, hints[f.name]):
            ok = False
            problems.add(
                f.name,
                f"expected {expected_type(hints[f.name])}, got {type(value).__name__} {value!r}",
            )
    return ok
