"""A private, throwaway PostgreSQL cluster for tests and benchmarks.

``PostgresCluster`` runs ``initdb`` into a temporary directory, starts ``postgres`` on a free
loopback port (TCP on 127.0.0.1 only, no Unix socket outside the directory), creates a database
and stops and removes everything on exit. It uses the server binaries of the machine (Debian's
``postgresql-NN`` packages put them in ``/usr/lib/postgresql/NN/bin``; ``PG_BIN`` overrides).
``initdb`` refuses to run as root, so as root the cluster runs as the ``postgres`` user.

    with PostgresCluster() as pg:
        engine = sqlalchemy.create_engine(pg.url)   # postgresql+psycopg2://...

``find_pg_bin()`` returns ``None`` where the binaries are absent: callers skip with that reason.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PostgresCluster", "PostgresUnavailable", "find_pg_bin"]

_START_DEADLINE_S = 60.0


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed on this machine."""


def find_pg_bin() -> Path | None:
    """The directory holding ``initdb``/``pg_ctl``/``postgres``, or ``None``."""
    override = os.environ.get("PG_BIN")
    candidates = [override] if override else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for cand in candidates:
        if cand and all((Path(cand) / b).is_file() for b in ("initdb", "pg_ctl", "postgres")):
            return Path(cand)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresCluster:
    """Start a private PostgreSQL cluster on 127.0.0.1; ``url`` is a SQLAlchemy URL."""

    def __init__(self, *, database: str = "aha", user: str = "aha") -> None:
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise PostgresUnavailable(
                "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; "
                "install Debian's postgresql-15 or set PG_BIN"
            )
        self.bin_dir = bin_dir
        self.database = database
        self.user = user
        self.port = 0
        self._dir: Path | None = None
        self._as_root = hasattr(os, "geteuid") and os.geteuid() == 0

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{self.database}"

    @property
    def dsn(self) -> str:
        """A libpq URL (``postgresql://...``) for tools that are not SQLAlchemy."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str, timeout: float = _START_DEADLINE_S) -> None:
        cmd = list(args)
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)  # noqa: S603

    def start(self) -> None:
        base = Path(tempfile.mkdtemp(prefix="aha-pg-"))
        self._dir = base
        data = base / "data"
        sock = base / "sock"
        sock.mkdir()
        if self._as_root:
            shutil.chown(base, "postgres", "postgres")
            shutil.chown(sock, "postgres", "postgres")
        try:
            self._run(
                str(self.bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                self.user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            )
            self.port = _free_port()
            opts = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} "
                f"-c unix_socket_directories={sock} -c fsync=off -c max_connections=200 "
                "-c synchronous_commit=off -c full_page_writes=off"
            )
            self._run(
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(base / "server.log"),
                "-w",
                "-t",
                str(int(_START_DEADLINE_S)),
                "start",
            )
            self._wait_ready()
            self._run(
                str(self.bin_dir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                self.database,
            )
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_DEADLINE_S
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1.0),
            ):
                return
            time.sleep(0.05)
        raise TimeoutError(f"PostgreSQL did not listen on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        base, self._dir = self._dir, None
        if base is None:
            return
        data = base / "data"
        if (data / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                self._run(str(self.bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)
