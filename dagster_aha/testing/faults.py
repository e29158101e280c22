"""Fault injection rules for :class:`~dagster_aha.testing.AhaSandbox`."""

from __future__ import annotations

import random
import re
import threading
from dataclasses import KW_ONLY, dataclass, field

FAULT_KINDS: frozenset[str] = frozenset(
    {
        "429",
        "500",
        "502",
        "503",
        "504",
        "html",
        "malformed_json",
        "reset_before",
        "reset_after",
        "slow",
        "commit_then_500",
        "commit_then_502",
        "commit_late",
        "commit_late_reset",
        "deep_json",
        "bad_encoding",
    }
)

#: The write is applied, then answered with this error status instead of its result.
COMMIT_THEN_STATUS: dict[str, int] = {"commit_then_500": 500, "commit_then_502": 502}
#: Answered at once (504 from a "gateway", or a dropped connection: None) while the backend
#: applies the write ``delay`` seconds later (default 0.5): a look-up right after the error
#: finds nothing, one after the delay finds the record.
LATE_COMMIT_STATUS: dict[str, int | None] = {"commit_late": 504, "commit_late_reset": None}
#: The write is applied and answered 200 with a body no JSON parser can read.
UNPARSEABLE_2XX = frozenset({"deep_json", "bad_encoding"})
DEFAULT_LATE_COMMIT_DELAY = 0.5


def unparseable_body(kind: str) -> bytes:
    """A 2xx body that cannot be parsed: nested 100,000 deep, or bytes that are not UTF-8."""
    if kind == "deep_json":
        return b"[" * 100_000 + b"]" * 100_000
    return b'{"feature": {"id": "1", "name": "' + b"\xff\xfe\xc3\x28" + b'"}}'


@dataclass(frozen=True)
class Fault:
    """One fault-injection rule.

    * ``kind``: ``"429" "500" "502" "503" "504" "html" "malformed_json" "reset_before"
      "reset_after" "slow"``, and for writes whose outcome the client cannot know:
      ``"commit_then_500" "commit_then_502"`` (applied, then answered 500/502),
      ``"commit_late"`` (answered 504 at once, applied ``delay`` seconds later, default 0.5),
      ``"commit_late_reset"`` (connection dropped at once, applied ``delay`` seconds later),
      ``"deep_json" "bad_encoding"`` (applied, answered 200 with an unparseable body).
    * ``method``: HTTP method to match (``"*"`` for all), case-insensitive.
    * ``path``: a regular expression that must match the **whole** path below ``/api/v1/``
      (``re.fullmatch``), e.g. ``r"features"`` (the list only) or ``r"features/.*"``.
    * ``probability``: fire with this probability, drawn from the sandbox's seeded RNG. For
      ``kind="504"`` the probability is multiplied by ``per_page / 100`` when the request asks
      for more than 100 records per page (large pages time out more often, as on Aha!).
    * ``times``: fire on at most the next N matching requests (after skipping ``after``).
      Without ``probability`` and ``times`` the rule fires on every matching request.
    * ``after``: skip the first N matching requests.
    * ``delay``: seconds to sleep before answering (required meaning for ``"slow"``, default
      1.0 there; for the ``commit_late*`` kinds the delay before the write is applied; for
      other kinds it is an extra delay before the fault).

    Rules are evaluated in order; the first rule that fires wins and the rules after it do not
    see that request.
    """

    kind: str
    _: KW_ONLY
    method: str = "*"
    path: str = r".*"
    probability: float | None = None
    times: int | None = None
    after: int = 0
    delay: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}"
            )
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if self.times is not None and self.times < 0:
            raise ValueError("times must be >= 0")
        if self.after < 0:
            raise ValueError("after must be >= 0")
        re.compile(self.path)

    @property
    def sleep_seconds(self) -> float:
        """Seconds to wait before answering."""
        if self.kind in LATE_COMMIT_STATUS:
            return 0.0
        if self.delay is not None:
            return float(self.delay)
        return 1.0 if self.kind == "slow" else 0.0

    @property
    def commit_delay(self) -> float:
        """Seconds after which a ``commit_late*`` write is applied."""
        return float(self.delay) if self.delay is not None else DEFAULT_LATE_COMMIT_DELAY


@dataclass
class _RuleState:
    fault: Fault
    pattern: re.Pattern[str]
    seen: int = 0
    fired: int = 0


@dataclass
class FaultPlan:
    """Thread-safe, seeded evaluation of a list of :class:`Fault` rules."""

    faults: list[Fault]
    seed: int = 0
    _rules: list[_RuleState] = field(init=False)
    _rng: random.Random = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rules = [_RuleState(f, re.compile(f.path)) for f in self.faults]
        self._rng = random.Random(f"faults:{self.seed}")

    def pick(self, method: str, path: str, per_page: int | None) -> Fault | None:
        """Return the fault to inject for this request, or None."""
        if not self._rules:
            return None
        method = method.upper()
        with self._lock:
            for rule in self._rules:
                f = rule.fault
                if f.method != "*" and f.method.upper() != method:
                    continue
                if rule.pattern.fullmatch(path) is None:
                    continue
                rule.seen += 1
                if rule.seen <= f.after:
                    continue
                if f.times is not None and rule.fired >= f.times:
                    continue
                if f.probability is not None:
                    p = f.probability
                    if f.kind == "504" and per_page is not None and per_page > 100:
                        p = min(1.0, p * per_page / 100.0)
                    if self._rng.random() >= p:
                        continue
                rule.fired += 1
                return f
        return None
