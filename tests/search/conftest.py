"""Fixtures of the search tests: a real, throw-away PostgreSQL server and a tiny search space.

The server is Debian's PostgreSQL 15 (``initdb`` / ``pg_ctl`` from /usr/lib/postgresql/15/bin,
package ``postgresql``, installed by scripts/setup.sh), in a temporary directory, listening on
127.0.0.1 only, on a free port, with trust authentication for the one user it creates. As root it
runs as the unprivileged ``postgres`` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def _reexport_root_helpers() -> None:
    """pytest imports every rootless conftest.py as the module ``conftest``; tests elsewhere do
    ``from conftest import run_edgekit`` — so the root conftest's plain helpers are importable from
    this one too (its fixtures are not copied: they stay defined once, in tests/conftest.py)."""
    import importlib.util

    root = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("_edgekit_tests_root_conftest", root)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name, value in vars(mod).items():
        if name.startswith("__") or name in globals() or "fixture" in type(value).__name__.lower() \
                or hasattr(value, "_pytestfixturefunction"):
            continue
        globals()[name] = value


_reexport_root_helpers()

PG_BIN = Path("/usr/lib/postgresql/15/bin")

TINY_SPACE = """
[settings]
validation = 0.2

# the tiny model (800 training images, near chance) has children that agree only 28-75 % with it on
# 160 validation images: the search mechanics are under test here, not the checks (tests/optimize)
[settings.checks]
min_agreement = 0.0
max_kl = 100.0

[[family]]
name = "pruned"
chain = [
  { pass = "prune", sparsity = [0.3, 0.9], epochs = 1 },
  { pass = "ptq-int8", calibration = 32 },
]

[[family]]
name = "quantised"
chain = [ { pass = "ptq-int8", calibration = { choices = [16, 32, 64] } } ]
"""


@pytest.fixture()
def tiny_space(tmp_path) -> Path:
    p = tmp_path / "space.toml"
    p.write_text(TINY_SPACE)
    return p


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user(argv: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *argv] if user else argv


@pytest.fixture()
def postgres_url():
    """postgresql://edgekit@127.0.0.1:PORT/edgekit of a server started for this test, stopped after it."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip("Debian's postgresql package is not installed (scripts/setup.sh installs it)")
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="edgekit-pg-"))
    data, sock, log = root / "data", root / "sock", root / "server.log"
    sock.mkdir()
    if user:
        shutil.chown(root, user)
        shutil.chown(sock, user)
        os.chmod(root, 0o755)
    port = _free_port()
    run = dict(check=True, capture_output=True, text=True, timeout=120)
    try:
        subprocess.run(_as_user([str(PG_BIN / "initdb"), "-D", str(data), "-U", "edgekit", "-A", "trust",
                                 "--no-sync", "-E", "UTF8"], user), **run)
        opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off -c max_connections=50"
        subprocess.run(_as_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(log), "-w", "-t", "60",
                                 "start"], user), **run)
        subprocess.run(_as_user([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "edgekit",
                                 "edgekit"], user), **run)
        yield f"postgresql://edgekit@127.0.0.1:{port}/edgekit"
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"could not start the test PostgreSQL: {exc.stderr or exc.stdout}"
                    + (log.read_text()[-2000:] if log.exists() else ""))
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(_as_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], user),
                           capture_output=True, timeout=60)
        for _ in range(20):
            if not (data / "postmaster.pid").exists():
                break
            time.sleep(0.25)
        shutil.rmtree(root, ignore_errors=True)
