"""The ``aha`` resource of the example: a real Aha! account, or the local sandbox.

* ``AHA_SUBDOMAIN`` and ``AHA_API_KEY`` set: ``AhaResource(subdomain=EnvVar(...),
  api_key=EnvVar(...))``, i.e. your account (the key is read at run time, never stored).
* otherwise: :class:`SandboxAhaResource`. Each run (or sensor tick) that uses it starts an
  in-process :class:`~dagster_aha.testing.AhaSandbox` on 127.0.0.1, loaded from
  ``.data/sandbox_state.json`` (seeded on the very first use), and saves the state back when the
  run ends, so later runs see earlier writes. ``dg dev`` runs every run in its own process; a
  lock file makes those processes take turns on the state file (a run waits, and logs that it
  waits, while another run holds the sandbox).

Definitions never start anything: the sandbox starts when a run first needs the resource.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import dagster as dg
from pydantic import Field

from aha_example import settings
from dagster_aha.resource import AhaResource
from dagster_aha.testing import AhaSandbox

__all__ = ["SandboxAhaResource", "build_aha_resource", "sandbox_session"]

_TUNING_FIELDS = (
    "user_agent",
    "timeout",
    "max_retries",
    "per_page",
    "requests_per_second",
    "requests_per_minute",
    "max_concurrency",
    "disable_mailers",
)


@contextlib.contextmanager
def _exclusive_lock(path: Path, *, wait_s: float, log: Any) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (POSIX ``flock``; ``msvcrt`` on Windows)."""
    handle: IO[str] = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        deadline = time.monotonic() + wait_s
        announced = False
        while True:
            if _try_lock(handle):
                break
            if not announced:
                log.info(f"Aha! sandbox: another run is using {path.parent}; waiting for it")
                announced = True
            if time.monotonic() > deadline:
                raise dg.Failure(
                    f"The Aha! sandbox state in {path.parent} stayed locked for {wait_s:.0f}s "
                    "by another run; try again when it has finished."
                )
            time.sleep(0.2)
        try:
            yield
        finally:
            _unlock(handle)
    finally:
        handle.close()


def _try_lock(handle: IO[str]) -> bool:
    try:
        import fcntl

        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True


def _unlock(handle: IO[str]) -> None:
    try:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]


@contextlib.contextmanager
def sandbox_session(
    state_path: Path,
    lock_path: Path,
    *,
    log: Any,
    seed: int = 0,
    lock_wait_s: float = 600.0,
    **sandbox_kwargs: Any,
) -> Iterator[AhaSandbox]:
    """A running sandbox holding the state of ``state_path``, saved back on exit."""
    with _exclusive_lock(lock_path, wait_s=lock_wait_s, log=log):
        if state_path.exists():
            sandbox = AhaSandbox.load(state_path, **sandbox_kwargs)
            origin = f"state loaded from {state_path}"
        else:
            sandbox = AhaSandbox(seed=seed, **sandbox_kwargs)
            origin = f"freshly seeded (seed={seed}); state will be saved to {state_path}"
        with sandbox:
            log.info(
                f"Aha! sandbox in use (AHA_SUBDOMAIN/AHA_API_KEY not set): serving {sandbox.url}, "
                f"{origin}"
            )
            try:
                yield sandbox
            finally:
                tmp = state_path.with_suffix(".tmp")
                sandbox.dump(tmp)
                os.replace(tmp, state_path)
                log.info(f"Aha! sandbox state saved to {state_path}")


class SandboxAhaResource(AhaResource):
    """`AhaResource` served by a local, persistent `AhaSandbox` (no account needed).

    At execution time it yields a plain `AhaResource` pointed at a sandbox started for this
    process on 127.0.0.1; the sandbox's records live in `state_path` between runs.
    """

    api_key: str = Field(default="sandbox-key", repr=False, description="Sandbox API key.")
    state_path: str = Field(description="JSON file holding the sandbox's records between runs.")
    lock_path: str = Field(description="Lock file serialising processes that use the sandbox.")
    seed: int = Field(default=0, description="Seed of the initial data (first run only).")
    lock_wait_s: float = Field(default=600.0, description="How long a run waits for the lock.")

    @contextlib.contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[AhaResource]:  # type: ignore[override]
        log = context.log if context.log is not None else _NullLog()
        with sandbox_session(
            Path(self.state_path),
            Path(self.lock_path),
            log=log,
            seed=self.seed,
            lock_wait_s=self.lock_wait_s,
            api_key=self.api_key,
        ) as sandbox:
            tuning = {name: getattr(self, name) for name in _TUNING_FIELDS}
            resource = AhaResource(base_url=sandbox.url, api_key=sandbox.api_key, **tuning)
            try:
                yield resource
            finally:
                client = resource._client
                if client is not None:
                    client.close()


class _NullLog:
    def info(self, msg: str) -> None:
        pass


def build_aha_resource() -> AhaResource:
    """The example's ``aha`` resource: the real account when both env vars are set."""
    if settings.uses_real_account():
        return AhaResource(
            subdomain=dg.EnvVar(settings.SUBDOMAIN_ENV),
            api_key=dg.EnvVar(settings.API_KEY_ENV),
            user_agent="dagster-aha example project",
        )
    return SandboxAhaResource(
        state_path=str(settings.sandbox_state_path()),
        lock_path=str(settings.sandbox_lock_path()),
        user_agent="dagster-aha example project (sandbox)",
    )
