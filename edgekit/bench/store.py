"""The results store: every Measurement, the moment it exists, in ``OUT/bench.sqlite``.

API (agreed with report/gate)::

    store = Store(path)          # creates the file/schema if needed; WAL journal
    store.add(m)                 # insert-or-replace by measurement key; committed immediately
    store.on_measurement(dev, m) # the same, as a bench listener (edgekit.bench.listeners)
    store.all() -> [Measurement] # in insertion order
    store.has(key), store.keys(), store.get(key), store.count()
    measurement_key(m) / key_for(sha256, serial, runner, threads, config, variant)

The measurement key is ``sha256 | device serial | runner | threads | config hash | variant name``
(the name too, because report and gate match measurements to variants by name and two variants
may hold byte-identical models), where the config
hash is sha256 of the canonical JSON of ``Measurement.config`` (runs, warm-up, accuracy mode,
runner flags, eval set hash ...). The table's primary key is that key, so the database holds each
measurement at most once; ``edgekit bench --resume`` skips keys already stored with status ok or
incompatible (a ``failed`` one is measured again and replaced).

Safe to use from several threads (one connection, a lock); every ``add`` is its own transaction,
so a crash, Ctrl-C or a lost device never loses a stored measurement.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from edgekit.atomic import json_default
from edgekit.bench.listeners import Listener
from edgekit.digest import sha256_json
from edgekit.errors import EdgekitError
from edgekit.measurement import Measurement

SCHEMA_VERSION = 1
DB_FILE = "bench.sqlite"
DONE_STATUSES = ("ok", "incompatible")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS measurements (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    key            TEXT NOT NULL UNIQUE,
    variant        TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    device_serial  TEXT NOT NULL,
    runner         TEXT NOT NULL,
    threads        INTEGER NOT NULL,
    config_hash    TEXT NOT NULL,
    status         TEXT NOT NULL,
    started        TEXT,
    finished       TEXT,
    edgekit_version TEXT,
    data           TEXT NOT NULL          -- Measurement.to_dict() as JSON
);
CREATE INDEX IF NOT EXISTS measurements_variant ON measurements (variant);
"""


def config_hash(config: dict[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, compact), first 16 hex digits."""
    return sha256_json(config)[:16]


def key_for(sha256: str, device: str, runner: str, threads: int, config: dict[str, Any], variant: str) -> str:
    """``device`` is the device's stable identity (:func:`edgekit.bench.device.identity`), not its adb
    address: an emulator restarted on another port or a phone re-attached over wireless adb is the same device."""
    return "|".join([sha256, device, runner, str(int(threads)), config_hash(config), variant])


def measurement_key(m: Measurement) -> str:
    return key_for(m.sha256, m.identity, m.runner, m.threads, m.config, m.variant)


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection. A WAL database in a read-only folder has no -shm file and cannot make
    one; SQLite then opens it only as ``immutable`` (safe: nobody can write in such a folder)."""
    from urllib.parse import quote

    if not path.is_file():
        raise sqlite3.DatabaseError("no such file")
    uri = "file:" + quote(str(path.resolve()))
    try:
        db = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=30, check_same_thread=False, isolation_level=None)
        db.execute("SELECT COUNT(*) FROM measurements").fetchone()
        return db
    except sqlite3.OperationalError:
        if os.access(path.parent, os.W_OK) and os.access(path, os.W_OK):
            raise
    db = sqlite3.connect(uri + "?immutable=1", uri=True, timeout=30, check_same_thread=False, isolation_level=None)
    db.execute("SELECT COUNT(*) FROM measurements").fetchone()
    return db


class Store(Listener):
    """The results database; as a bench listener it stores every measurement when it exists."""

    def __init__(self, path: str | Path, readonly: bool = False):
        """Open (and create, unless ``readonly``) the database. ``readonly`` never writes a byte, so
        report and gate can read results from a read-only folder (a CI artifact)."""
        self.path = Path(path)
        if self.path.is_dir():
            self.path = self.path / DB_FILE
        self.readonly = readonly
        self._lock = threading.Lock()
        try:
            if readonly:
                self._db = _connect_readonly(self.path)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(_SCHEMA)
                self._db.execute("INSERT OR IGNORE INTO meta (k, v) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as exc:
            raise EdgekitError(f"{self.path} is not a usable results database ({exc})", "move it away or choose another --out")

    # -- writing -----------------------------------------------------------------------------
    def add(self, m: Measurement) -> str:
        """Store ``m`` (replacing an earlier measurement with the same key); committed on return."""
        key = measurement_key(m)
        data = json.dumps(m.to_dict(), default=json_default)
        row = (key, m.variant, m.sha256, m.device_serial, m.runner, int(m.threads), config_hash(m.config),
               m.status, m.started, m.finished, m.edgekit_version, data)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.execute("DELETE FROM measurements WHERE key = ?", (key,))
                    self._db.execute(
                        "INSERT INTO measurements (key, variant, sha256, device_serial, runner, threads, config_hash,"
                        " status, started, finished, edgekit_version, data) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                        row,
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                if "full" in str(exc) or "I/O" in str(exc):   # SQLITE_FULL / SQLITE_IOERR: the disk
                    raise EdgekitError(f"no space left on device writing {self.path} ({exc}): the measurement of "
                                       f"{m.variant} is lost, those stored before it are kept",
                                       "free disk space, then re-run with --resume") from None
                raise
        return key

    def on_measurement(self, device: Any, measurement: Measurement) -> None:
        self.add(measurement)

    # -- reading -----------------------------------------------------------------------------
    def all(self) -> list[Measurement]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM measurements ORDER BY seq").fetchall()
        return [Measurement.from_dict(json.loads(r[0])) for r in rows]

    def get(self, key: str) -> Measurement | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM measurements WHERE key = ?", (key,)).fetchone()
        return Measurement.from_dict(json.loads(row[0])) if row else None

    def keys(self, statuses: tuple[str, ...] | None = None) -> set[str]:
        with self._lock:
            if statuses:
                q = "SELECT key FROM measurements WHERE status IN (%s)" % ",".join("?" * len(statuses))
                rows = self._db.execute(q, statuses).fetchall()
            else:
                rows = self._db.execute("SELECT key FROM measurements").fetchall()
        return {r[0] for r in rows}

    def done_keys(self) -> set[str]:
        """Keys that ``--resume`` skips."""
        return self.keys(DONE_STATUSES)

    def has(self, key: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM measurements WHERE key = ?", (key,)).fetchone() is not None

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_measurements(db: Path) -> list[Any]:
    """Measurements from a bench.sqlite, old rows included (the bench store: sqlite3, nothing of [bench])."""
    try:
        with Store(db, readonly=True) as store:
            return list(store.all())
    except EdgekitError:
        raise
    except Exception as exc:
        raise EdgekitError(f"cannot read measurements from {db}: {exc}", "re-run `edgekit bench` or delete the damaged file")
