"""Crash-safe storage of the battery manager state: SQLite in WAL mode, one transaction per step.

Why SQLite: a commit is atomic and durable (``synchronous=FULL``), a process killed mid-write leaves the previous
step intact (a torn WAL frame fails its checksum and is ignored on the next open), and keeping one row per step lets a
case-level resume pick the last step that *every* federate completed, not only this federate's last one.

Three tables: ``steps`` holds the whole state of each step (optionally only of the last ``keep_steps`` steps: at a
1-minute control period the state carries a day of loads and schedule and would otherwise grow by tens of kB per
step), ``commands`` the command published at every step since the start and ``outbox`` the market bid sent at a step
(both what a resumed federation replays: the market federate restarts at t = 0 too and must see the same bids). A
file written before ``outbox`` existed reads as one without bids.

Each row holds the manager's whole state as JSON plus its SHA-256, so a damaged row is detected even when SQLite
itself still reads the page. Anything unexpected on load (not a database, malformed pages, wrong schema version,
another battery configuration, a checksum mismatch, no state at all) raises :class:`~vppfed.errors.UserError` with the
file name: a resume never silently becomes a fresh start.
"""
from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

from vppfed.errors import UserError

LOG = logging.getLogger(__name__)

SCHEMA_VERSION = 2
_MAGIC = b"SQLite format 3\x00"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_OUTBOX_TABLE = ("CREATE TABLE outbox (step INTEGER PRIMARY KEY, t_s REAL NOT NULL, message TEXT NOT NULL, "
                 "sha256 TEXT NOT NULL)")


def _command_text(step: int, t_s: float, command_w: float | None) -> str:
    """What a command row's checksum covers (``repr`` keeps every bit of the floats)."""
    return f"{int(step)}|{float(t_s)!r}|{command_w!r}"


class StateStore:
    """One SQLite file holding the per-step state of one battery manager.

    Use :meth:`create` for a fresh run (an existing file is replaced) and :meth:`open_existing` to resume.
    ``keep_steps`` (None = all) bounds how many full states are kept; commands are always kept.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, keep_steps: int | None = None) -> None:
        if keep_steps is not None and keep_steps < 2:
            raise ValueError(f"keep_steps must be >= 2 (a resume may go one step back), got {keep_steps}")
        self.path = path
        self._conn = conn
        self.keep_steps = keep_steps
        self._outbox: bool | None = None  # whether the file has the outbox table (older files do not)

    # ------------------------------------------------------------------ opening
    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(str(path), isolation_level=None)  # explicit BEGIN/COMMIT below
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    @classmethod
    def create(cls, path: str | Path, fingerprint: str, keep_steps: int | None = None) -> "StateStore":
        """Start a new state file at ``path`` (replacing any old one, with its WAL) for a config ``fingerprint``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            old = Path(str(path) + suffix)
            if old.exists():
                LOG.warning("replacing old battery state %s (run without --resume)", old)
                old.unlink()
        conn = cls._connect(path)
        with conn:
            conn.execute("BEGIN")
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute("CREATE TABLE steps (step INTEGER PRIMARY KEY, t_s REAL NOT NULL, "
                         "state TEXT NOT NULL, sha256 TEXT NOT NULL)")
            conn.execute("CREATE TABLE commands (step INTEGER PRIMARY KEY, t_s REAL NOT NULL, command_w REAL, "
                         "sha256 TEXT NOT NULL)")
            conn.execute(_OUTBOX_TABLE)
            conn.executemany("INSERT INTO meta VALUES (?, ?)",
                             [("schema_version", str(SCHEMA_VERSION)), ("config_fingerprint", fingerprint)])
            conn.execute("COMMIT")
        return cls(path, conn, keep_steps)

    @classmethod
    def open_existing(cls, path: str | Path, fingerprint: str | None = None,
                      keep_steps: int | None = None) -> "StateStore":
        """Open a state file for resuming, checking integrity, schema version and (optionally) the config.

        Raises
        ------
        UserError
            Missing file, not an SQLite database, malformed database, wrong schema version or another config.
        """
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: no battery state to resume from (file not found); run without --resume")
        with path.open("rb") as fh:
            head = fh.read(len(_MAGIC))
        if head != _MAGIC:
            raise UserError(f"{path}: not a battery state database (corrupt or half-written header); "
                            "delete it and run without --resume")
        try:
            conn = cls._connect(path)
            check = conn.execute("PRAGMA quick_check").fetchall()
            if check != [("ok",)]:
                # SQLite lists every damaged page (one file gave 109 lines): the first problem and a count is the
                # cause a user can act on
                problems = [line.strip() for row in check for line in str(row[0]).splitlines()
                            if line.strip() and not line.startswith("*** in database")]
                first = problems[0] if problems else "no detail"
                more = f" and {len(problems) - 1} more problems" if len(problems) > 1 else ""
                conn.close()
                raise UserError(f"{path}: battery state database is damaged ({first[:120]}{more}); "
                                "delete it and run without --resume")
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            conn.execute("SELECT step, t_s, state, sha256 FROM steps LIMIT 0")
            if meta.get("schema_version") == str(SCHEMA_VERSION):
                conn.execute("SELECT step, t_s, command_w, sha256 FROM commands LIMIT 0")
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{path}: battery state database is unreadable ({exc}); "
                            "delete it and run without --resume") from None
        version = meta.get("schema_version")
        if version != str(SCHEMA_VERSION):
            conn.close()
            raise UserError(f"{path}: battery state schema version {version!r}, this vppfed reads {SCHEMA_VERSION}; "
                            "finish the run with the vppfed that started it or start afresh")
        if fingerprint is not None and meta.get("config_fingerprint") != fingerprint:
            conn.close()
            raise UserError(f"{path}: battery state was written with another battery configuration "
                            f"({meta.get('config_fingerprint')} != {fingerprint}); resume with the original config")
        return cls(path, conn, keep_steps)

    # ------------------------------------------------------------------ writing / reading
    def save(self, step: int, t_s: float, state: dict[str, Any], outbox: dict[str, Any] | None = None) -> None:
        """Write the whole state of ``step`` (at ``t_s`` seconds) in one durable transaction.

        A row for the same step replaces the old one, so re-running a step after a resume is idempotent. The
        command row comes from ``state["last_command_w"]`` (NULL when the state has none); ``outbox`` is the message
        (a market bid) sent at this step, if any.
        """
        text = json.dumps(state, sort_keys=True, allow_nan=True)
        command = state.get("last_command_w")
        # + 0.0 turns -0.0 into 0.0: SQLite stores an integral REAL as an integer and gives -0.0 back as 0.0, which
        # would break the row's checksum (the same power either way)
        command = None if command is None else float(command) + 0.0
        t_s = float(t_s) + 0.0
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM steps WHERE step >= ?", (step,))  # a resumed run rewrites the future
            conn.execute("DELETE FROM commands WHERE step >= ?", (step,))
            conn.execute("INSERT INTO steps VALUES (?, ?, ?, ?)", (step, t_s, text, _digest(text)))
            conn.execute("INSERT INTO commands VALUES (?, ?, ?, ?)",
                         (step, t_s, command, _digest(_command_text(step, t_s, command))))
            if self._has_outbox():
                conn.execute("DELETE FROM outbox WHERE step >= ?", (step,))
                if outbox is not None:
                    message = json.dumps(outbox, sort_keys=True)
                    conn.execute("INSERT INTO outbox VALUES (?, ?, ?, ?)",
                                 (step, t_s, message, _digest(f"{int(step)}|{t_s!r}|{message}")))
            if self.keep_steps is not None:
                conn.execute("DELETE FROM steps WHERE step <= ?", (step - self.keep_steps,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def load(self, at_or_before_s: float | None = None) -> tuple[int, float, dict[str, Any]]:
        """The last saved ``(step, t_s, state)``, or the last one at or before ``at_or_before_s`` seconds.

        Raises
        ------
        UserError
            No saved step (in range), or a row whose checksum or JSON does not match.
        """
        query = "SELECT step, t_s, state, sha256 FROM steps"
        args: tuple[Any, ...] = ()
        if at_or_before_s is not None:
            query += " WHERE t_s <= ?"
            args = (at_or_before_s,)
        try:
            row = self._conn.execute(query + " ORDER BY step DESC LIMIT 1", args).fetchone()
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{self.path}: battery state database is unreadable ({exc})") from None
        if row is None:
            when = "" if at_or_before_s is None else f" at or before t = {at_or_before_s:g} s"
            raise UserError(f"{self.path}: no saved battery step{when} to resume from; run without --resume")
        step, t_s, text, digest = row
        if _digest(text) != digest:
            raise UserError(f"{self.path}: battery state of step {step} fails its checksum (corrupt); "
                            "delete the file and run without --resume")
        try:
            state = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{self.path}: battery state of step {step} is not valid JSON ({exc.msg})") from None
        return int(step), float(t_s), state

    def commands(self) -> dict[float, float]:
        """``{t_s: command_w}`` of every saved step: what was published, for replaying up to a resume point."""
        out: dict[float, float] = {}
        try:
            rows = self._conn.execute("SELECT step, t_s, command_w, sha256 FROM commands ORDER BY step").fetchall()
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{self.path}: battery state database is unreadable ({exc})") from None
        for step, t_s, command, digest in rows:
            if _digest(_command_text(step, t_s, command)) != digest:
                raise UserError(f"{self.path}: saved command of step {step} fails its checksum (corrupt)")
            if command is None:
                raise UserError(f"{self.path}: step {step} saved no command (not a battery manager state)")
            out[float(t_s)] = float(command)
        return out

    def _has_outbox(self) -> bool:
        if self._outbox is None:
            row = self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'outbox'")
            self._outbox = row.fetchone() is not None
        return self._outbox

    def outbox(self) -> dict[float, dict[str, Any]]:
        """``{t_s: message}`` of every saved step that sent one (market bids), for replaying up to a resume point."""
        if not self._has_outbox():
            return {}
        try:
            rows = self._conn.execute("SELECT step, t_s, message, sha256 FROM outbox ORDER BY step").fetchall()
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{self.path}: battery state database is unreadable ({exc})") from None
        out: dict[float, dict[str, Any]] = {}
        for step, t_s, message, digest in rows:
            if _digest(f"{int(step)}|{float(t_s)!r}|{message}") != digest:
                raise UserError(f"{self.path}: saved message of step {step} fails its checksum (corrupt)")
            out[float(t_s)] = json.loads(message)
        return out

    def close(self) -> None:
        """Checkpoint the WAL into the main file and close."""
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._conn.close()

    def __enter__(self) -> "StateStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
