"""What a run stores to start it again: a typed, validated request, never a command line.

A run started by ``delegate run``, ``recommend`` or ``examples`` stores a :data:`Request`
(through ``Journal.start(request=...)``): the command, the objective or query, and the options
that change what the run does, each a typed and bounded field. ``runs resume`` validates the
stored request again (``extra="forbid"``: an unknown field is refused, not ignored) and
rebuilds the run from it. What the request never holds:

- the store URL, API keys or the working directory;
- where outputs go (``--out``, ``--report``): a resume writes where *its* command line says,
  so an edited store cannot choose a file to overwrite;
- secrets inside URLs: a URL's ``user:password@`` part and token-like query values
  (``token=``, ``key=``, ``sig=``...) are replaced by ``***``. A request in which something was
  redacted is marked ``redacted`` and cannot be resumed (the run would not be the same run).

Files the run read (``--input``, ``--catalog``, ``--brand-voice``, ``--prices``) are stored as
an absolute path with the sha256 of the content read; a resume reads the file again and goes
on only if it is the same content.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from .errors import UsageError

__all__ = [
    "ExamplesRequest",
    "FileRef",
    "RecommendRequest",
    "Request",
    "RunRequest",
    "build_request",
    "parse_request",
    "redact_urls",
]

_Text = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
_Spec = Annotated[str, StringConstraints(min_length=1, max_length=300,
                                         pattern=r"^[A-Za-z0-9_.-]+:[^\x00-\x1f]*$")]
_Path = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^/[^\x00]*$")]
_Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class FileRef(_Strict):
    """A file a run read: its absolute path and the sha256 of the bytes read."""

    path: _Path
    sha256: _Hex


class _Common(_Strict):
    version: Literal[1] = 1
    model: _Spec | None = None
    budget_tokens: Annotated[int, Field(ge=1, le=10**12)] | None = None
    budget_usd: Annotated[float, Field(gt=0, le=1e9)] | None = None
    budget_seconds: Annotated[float, Field(gt=0, le=1e8)] | None = None
    on_budget: Literal["finish", "cancel"] = "finish"
    rate_limit: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    prices: FileRef | None = None
    redacted: bool = False


class RunRequest(_Common):
    """``delegate run``."""

    command: Literal["run"]
    objective: _Text
    workflow: Literal["general", "blog", "report", "analysis", "project"]
    max_concurrency: Annotated[int, Field(ge=1, le=10_000)] = 4
    timeout: Annotated[float, Field(gt=0, le=1e7)] | None = None
    fail_fast: bool = False
    strategy: Literal["static", "dynamic", "hybrid"] = "static"
    inputs: Annotated[list[FileRef], Field(max_length=100)] = []
    approve_plan: bool = False


class RecommendRequest(_Common):
    """``delegate recommend``."""

    command: Literal["recommend"]
    query: _Text
    catalog: FileRef | None = None
    brand_voice: FileRef | None = None
    top_k: Annotated[int, Field(ge=1, le=20)] = 3
    max_price: Annotated[float, Field(gt=0, le=1e9)] | None = None
    approve_plan: bool = False


class ExamplesRequest(_Common):
    """One example of ``delegate examples`` (each example is a run of its own)."""

    command: Literal["examples"]
    example: Literal["blog", "report", "analysis", "project"]


Request = Annotated[RunRequest | RecommendRequest | ExamplesRequest,
                    Field(discriminator="command")]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Request)


def parse_request(data: Any, *, run_id: str = "") -> RunRequest | RecommendRequest | \
        ExamplesRequest:
    """Validate a stored (or about to be stored) request.

    Raises:
        UsageError: one line naming the first problem (an older run stored as a command
            line is refused too: it cannot be rebuilt safely).
    """
    of = f"run {run_id}'s" if run_id else "the run's"
    if isinstance(data, dict) and "argv" in data and "command" not in data:
        raise UsageError(f"{of} request is a stored command line from an older delegate; it "
                         "cannot be resumed safely; start the run again")
    if not data or (isinstance(data, dict) and "command" not in data):
        raise UsageError(f"{of} request names no command: it was not started from the "
                         "command line; resume it with delegate.Journal.resume in Python")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in (
            "run", "recommend", "examples"))
        raise UsageError(f"{of} stored request is not valid ({where or 'request'}: "
                         f"{first.get('msg', 'invalid')}); it was not resumed") from None


def build_request(cls: type[_Common], **fields: Any) -> Any:
    """The request to store for a run about to start: URLs in its free text redacted, every
    field checked with the bounds a resume will check.

    Raises:
        UsageError: a value is out of the stored request's bounds (one line).
    """
    redacted = False
    for name in ("objective", "query", "model", "rate_limit"):
        value = fields.get(name)
        if isinstance(value, str):
            fields[name], changed = redact_urls(value)
            redacted = redacted or changed
    try:
        return cls.model_validate({**fields, "redacted": redacted})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise UsageError(f"{where.replace('_', '-')}: {first.get('msg', 'invalid')}") from None


# --- redaction --------------------------------------------------------------------------------

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s<>\"'`]+")
_TOKEN_NAME = re.compile(
    r"(token|key|secret|passw|pwd|auth|sig|signature|session|credential|code|jwt|bearer)",
    re.I)


def redact_urls(text: str) -> tuple[str, bool]:
    """``text`` with every URL's userinfo and token-like query values replaced by ``***``;
    and whether anything was replaced."""
    changed = False

    def one(match: re.Match[str]) -> str:
        nonlocal changed
        url = match.group(0)
        try:
            parts = urlsplit(url)
        except ValueError:
            return url
        netloc = parts.netloc
        if "@" in netloc:
            host = netloc.rpartition("@")[2]
            netloc = f"***@{host}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            hidden = [(k, "***" if v and _TOKEN_NAME.search(k) else v) for k, v in pairs]
            if hidden != pairs:
                query = urlencode(hidden, safe="*")
        if netloc == parts.netloc and query == parts.query:
            return url
        changed = True
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))

    return _URL.sub(one, text), changed
