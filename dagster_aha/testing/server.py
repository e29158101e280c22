""":class:`AhaSandbox`: a threaded werkzeug server speaking Aha! API v1.

Lifecycle, inspection (request log, stats), snapshots and clients. How one request is
answered (latency, faults, rate limits, authentication, dispatch) is the mixin
:class:`~dagster_aha.testing.pipeline.RequestPipeline`; every request is logged
(:class:`RequestRecord`)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import threading
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from werkzeug.serving import BaseWSGIServer, make_server

from dagster_aha.testing.connection import KeepAliveHandler
from dagster_aha.testing.faults import (
    Fault,
    FaultPlan,
)
from dagster_aha.testing.pipeline import RequestPipeline, RequestRecord
from dagster_aha.testing.ratelimit import RateLimiter
from dagster_aha.testing.state import SandboxState

if TYPE_CHECKING:
    from dagster_aha.client import AhaClient
    from dagster_aha.resource import AhaResource


@dataclass(frozen=True)
class SandboxStats:
    """Counters since start (or the last :meth:`AhaSandbox.clear_requests`)."""

    total: int
    by_status: dict[int, int]
    rate_limited: int
    faults_injected: dict[str, int]
    connections_dropped: int = 0


# ---------------------------------------------------------------------------------- sandbox
class AhaSandbox(RequestPipeline):
    """A stateful local Aha! API v1 simulator (threaded HTTP server on 127.0.0.1).

    See ARCHITECTURE.md ("Sandbox"). ``time_scale`` divides the rate-limit window lengths
    (``time_scale=10``: a 0.1 s "second" and a 6 s "minute"); ``data`` is a snapshot
    (a path written by :meth:`dump` or the dict it contains) to start from instead of the
    seeded data. ``request_log_limit`` bounds :attr:`requests` (oldest entries are dropped;
    :attr:`stats` still counts every request); ``None`` keeps everything.
    """

    def __init__(
        self,
        *,
        api_key: str = "sandbox-key",
        seed: int = 0,
        products: int = 2,
        releases_per_product: int = 3,
        features_per_release: int = 40,
        latency: float = 0.0,
        latency_jitter: float = 0.0,
        requests_per_second: int = 20,
        requests_per_minute: int = 300,
        enforce_rate_limits: bool = True,
        faults: list[Fault] | None = None,
        time_scale: float = 1.0,
        port: int = 0,
        data: str | os.PathLike[str] | dict[str, Any] | None = None,
        request_log_limit: int | None = 100_000,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        snapshot: dict[str, Any] | None = (
            json.loads(Path(data).read_text("utf-8"))
            if isinstance(data, (str, os.PathLike))
            else data
        )
        self._api_key = api_key
        self.seed = seed
        self.latency = float(latency)
        self.latency_jitter = float(latency_jitter)
        self.requests_per_second = requests_per_second
        self.requests_per_minute = requests_per_minute
        self.enforce_rate_limits = enforce_rate_limits
        self.time_scale = float(time_scale)
        self.port = port
        self.state = SandboxState(
            seed=seed,
            products=products,
            releases_per_product=releases_per_product,
            features_per_release=features_per_release,
            data=snapshot,
        )
        self.limiter = RateLimiter(
            requests_per_second,
            requests_per_minute,
            time_scale=time_scale,
            enforce=enforce_rate_limits,
        )
        self._faults = FaultPlan(list(faults or []), seed)
        self._jitter_rng = random.Random(f"latency:{seed}")
        self._log_lock = threading.Lock()
        self._log: deque[RequestRecord] = deque(maxlen=request_log_limit)
        self._total = 0
        self._by_status: Counter[int] = Counter()
        self._faults_injected: Counter[str] = Counter()
        self._dropped = 0
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._auth_header = f"Bearer {api_key}".encode()

    # -- lifecycle ---------------------------------------------------------------------------
    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"AhaSandbox({where})"

    def start(self) -> AhaSandbox:
        if self._server is not None:
            return self
        server = make_server(
            "127.0.0.1", self.port, self._wsgi, threaded=True, request_handler=KeepAliveHandler
        )
        server.daemon_threads = True  # type: ignore[attr-defined]
        server.aha_connections = set()  # type: ignore[attr-defined]
        self._server = server
        self.port = server.port
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"aha-sandbox-{server.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        if thread is not None:
            thread.join(timeout=5)
        server.server_close()
        # close idle keep-alive connections so no request is served after stop()
        for conn in list(getattr(server, "aha_connections", ())):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server = None
        self._thread = None

    def __enter__(self) -> AhaSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the account root; the API is under ``/api/v1/``)."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running; call start() or use `with`")
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v1"

    @property
    def api_key(self) -> str:
        return self._api_key

    # -- inspection --------------------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        with self._log_lock:
            return list(self._log)

    @property
    def stats(self) -> SandboxStats:
        with self._log_lock:
            return SandboxStats(
                total=self._total,
                by_status=dict(self._by_status),
                rate_limited=self._by_status.get(429, 0),
                faults_injected=dict(self._faults_injected),
                connections_dropped=self._dropped,
            )

    def clear_requests(self) -> None:
        """Empty the request log and the counters of :attr:`stats`."""
        with self._log_lock:
            self._log.clear()
            self._total = 0
            self._by_status.clear()
            self._faults_injected.clear()
            self._dropped = 0

    def set_faults(self, faults: list[Fault] | None) -> None:
        """Replace the fault plan (counters and RNG restart from the seed)."""
        self._faults = FaultPlan(list(faults or []), self.seed)

    # -- snapshots ---------------------------------------------------------------------------
    def dump(self, path: str | os.PathLike[str]) -> None:
        """Write a JSON snapshot of the state (records + id/reference counters)."""
        Path(path).write_text(json.dumps(self.state.to_data(), indent=1), "utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str], **kwargs: Any) -> AhaSandbox:
        """A (not yet started) sandbox whose state is the snapshot at ``path``."""
        return cls(data=path, **kwargs)

    # -- clients -----------------------------------------------------------------------------
    def _rate_limit_kwargs(self) -> dict[str, float]:
        """Client limits matching the sandbox: its windows (and time scale), or none."""
        if not self.enforce_rate_limits:
            return {"requests_per_second": 1_000_000, "requests_per_minute": 60_000_000}
        return {
            "requests_per_second": self.requests_per_second,
            "requests_per_minute": self.requests_per_minute,
            "time_scale": self.time_scale,
        }

    def client(self, **overrides: Any) -> AhaClient:
        """An :class:`~dagster_aha.client.AhaClient` pointed at this sandbox with fast,
        test-friendly defaults (short timeout and backoff; limits matching the sandbox's, with
        the client's windows compressed by the same ``time_scale``)."""
        from dagster_aha.client import AhaClient

        kwargs: dict[str, Any] = {
            "base_url": self.url,
            "api_key": self.api_key,
            "timeout": 10.0,
            "backoff_base": 0.01,
            "backoff_max": 0.2,
            **self._rate_limit_kwargs(),
        }
        kwargs.update(overrides)
        return AhaClient(**kwargs)

    def resource(self, **overrides: Any) -> AhaResource:
        """An :class:`~dagster_aha.resource.AhaResource` pointed at this sandbox."""
        from dagster_aha.resource import AhaResource

        kwargs: dict[str, Any] = {
            "base_url": self.url,
            "api_key": self.api_key,
            "timeout": 10.0,
            "backoff_base": 0.01,
            "backoff_max": 0.2,
            **self._rate_limit_kwargs(),
        }
        kwargs.update(overrides)
        return AhaResource(**kwargs)


__all__ = ["AhaSandbox", "RequestRecord", "SandboxStats"]
