"""A real Postgres for the server tests: Debian's, installed with apt-get when running as
root (like Chromium), and a throwaway cluster on 127.0.0.1 that lives for one test run.

`ensure_postgres()` finds the server programs (initdb, pg_ctl) or installs them;
`TestCluster` initialises a cluster in .cache/, starts it, gives its URL and stops it.
Elsewhere (not root, no apt-get) it says why, and the Postgres tests skip."""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from blazen_build import apt
from blazen_build.common import BuildError, log, run
from blazen_build.paths import CACHE, ROOT

URL_VARIABLE = "BLAZEN_POSTGRES_URL"
SERVICE_USER = "postgres"  # Debian's package makes it; initdb refuses to run as root


def find_postgres() -> Path | None:
    """The bin directory of the newest Postgres installed Debian's way, or $BLAZEN_PG_BIN."""
    configured = os.environ.get("BLAZEN_PG_BIN")
    if configured:
        return Path(configured) if (Path(configured) / "pg_ctl").is_file() else None
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def ensure_postgres() -> Path | None:
    """The Postgres bin directory, installing Debian's postgresql as root if needed; None
    (with a logged reason) when there is none and it cannot be installed."""
    found = find_postgres()
    if found is not None:
        return found
    if not apt.can_install():
        log("no Postgres server found and not root with apt-get: the Postgres server tests skip")
        return None
    log("no Postgres server: installing Debian's postgresql with apt-get")
    apt.install("postgresql")
    found = find_postgres()
    if found is None:
        raise BuildError("apt-get installed postgresql but no pg_ctl is in /usr/lib/postgresql/*/bin")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cluster_folder() -> Path:
    """Where the throwaway cluster lives: .cache/postgres, or, as root (the cluster then runs
    as the service user, who must reach its folder, and a checkout under a private directory
    such as `mktemp -d`'s 0700 one is out of its reach), a folder named for this checkout in
    the system's temporary directory."""
    if os.geteuid() != 0:
        return CACHE / "postgres"
    tag = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"blazen-postgres-{tag}"


class TestCluster:
    """A Postgres cluster (in _cluster_folder()), on 127.0.0.1 and a free port, for one run."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.folder = _cluster_folder()
        self.port = _free_port()
        self.password = "blazen-test"
        self.started = False

    @property
    def url(self) -> str:
        """The URL of its `postgres` database (tests create their own databases in it)."""
        return f"postgresql://{SERVICE_USER}:{self.password}@127.0.0.1:{self.port}/postgres"

    def _as_owner(self, *cmd: str | Path) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", SERVICE_USER, "--", *map(str, cmd)]
        return [str(c) for c in cmd]

    def start(self) -> str:
        """Initialise a fresh cluster (the last one is thrown away) and start it; its URL."""
        if self.folder.exists():
            self.stop_leftover()
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        data = self.folder / "data"
        secret = self.folder / "pwfile"
        secret.write_text(self.password + "\n")
        if os.geteuid() == 0:
            shutil.chown(self.folder, SERVICE_USER)
            shutil.chown(secret, SERVICE_USER)
        started = time.monotonic()
        run(
            self._as_owner(
                self.bin_dir / "initdb",
                *("-D", data, "-U", SERVICE_USER, f"--pwfile={secret}", "-A", "scram-sha-256"),
            ),
            quiet=True,
        )
        # fsync off: a throwaway cluster; the tests kill workers, never the database
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
        options += " -c fsync=off"
        pg_ctl = self.bin_dir / "pg_ctl"
        logfile = self.folder / "log"
        run(self._as_owner(pg_ctl, "-D", data, "-o", options, "-l", logfile, "-w", "start"), quiet=True)
        self.started = True
        log(f"Postgres test cluster on 127.0.0.1:{self.port} ({time.monotonic() - started:.1f} s)")
        return self.url

    def stop_leftover(self) -> None:
        """Stop a cluster a previous, interrupted run left running in the folder."""
        data = self.folder / "data"
        if (data / "postmaster.pid").is_file():
            subprocess.run(
                self._as_owner(self.bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"),
                capture_output=True,
                check=False,
            )

    def stop(self) -> None:
        """Stop the cluster (fast shutdown); its files stay until the next start."""
        if self.started:
            subprocess.run(
                self._as_owner(self.bin_dir / "pg_ctl", "-D", self.folder / "data", "-m", "fast", "stop"),
                capture_output=True,
                check=False,
            )
            self.started = False
