"""Running a validated snippet under the database's own guarantees, independent of the validator.

`guarded(work, alias=..., timeout_ms=...)`, on the assistant's database alias
(`ADMIN_ASSISTANT_DATABASE_ALIAS`; with `ADMIN_ASSISTANT_DATABASE_URL` a restricted role, see
`manage.py adminassistant_role`):

1. opens a transaction on that alias (its own connection: never the request's transaction);
2. PostgreSQL: `SET LOCAL transaction_read_only = on`, `SET LOCAL statement_timeout`,
   `SET LOCAL idle_in_transaction_session_timeout`, then `SELECT 1`, which takes the snapshot:
   from here the transaction can no longer be made read-write. SQLite: `PRAGMA query_only`
   (on top of a connection opened `mode=ro`);
3. runs the work in a savepoint (a subtransaction can never be made read-write either);
4. a wall-clock watchdog cancels the running statement if the work overruns (the backend's
   cancel request, as `pg_cancel_backend` does), whatever the server-side timeout says;
5. always rolls back (savepoint, then the transaction), success or failure, then closes the
   connection (no session state survives a run; no idle connection is kept per thread).

Database errors are classified into the assistant's error codes (read-only violation,
permission denied, timeout, other); the caller writes the query log afterwards, on the
default database, so the log survives every failure.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import FieldError
from django.db import DatabaseError, connections, transaction

from adminassistant.errors import ErrorCode
from adminassistant.executor.interpreter import EvaluationError, Interpreter
from adminassistant.executor.results import serialize
from adminassistant.executor.validator import Refused, validate
from adminassistant.manifest import Manifest

logger = logging.getLogger(__name__)

T = TypeVar("T")

# SQLSTATEs: read_only_sql_transaction, insufficient_privilege, query_canceled,
# idle_in_transaction_session_timeout; active_sql_transaction family (25xxx).
_READ_ONLY_STATES = {"25006", "25001"}
_PERMISSION_STATES = {"42501"}
_TIMEOUT_STATES = {"57014", "25P03"}


@dataclass
class Execution:
    """How running one snippet ended. `result` is set on success; else an error code and message."""

    result: dict[str, Any] | None = None
    error_code: str = ""
    error_message: str = ""
    refusal_rule: str = ""
    duration_ms: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result is not None

    @property
    def correctable(self) -> bool:
        """Worth one more try by the model: refused, or the database/ORM rejected the query (not a timeout)."""
        return self.error_code in (
            ErrorCode.REFUSED,
            ErrorCode.QUERY_FAILED,
            ErrorCode.CODE_TOO_LONG,
            ErrorCode.NO_CODE,
            ErrorCode.READ_ONLY,
            ErrorCode.PERMISSION,
        )


class GuardError(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _sqlstate(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    return str(getattr(cause, "sqlstate", "") or getattr(cause, "pgcode", "") or "")


def classify(exc: DatabaseError) -> GuardError:
    state = _sqlstate(exc)
    first_line = (str(exc).strip().splitlines() or [""])[0][:300]
    lowered = first_line.lower()
    if state in _READ_ONLY_STATES or "read-only transaction" in lowered or "readonly database" in lowered:
        return GuardError(ErrorCode.READ_ONLY, first_line or "The database refused a write.")
    if state in _PERMISSION_STATES or "permission denied" in lowered:
        return GuardError(ErrorCode.PERMISSION, first_line or "The database refused access.")
    if state in _TIMEOUT_STATES or "canceling statement" in lowered or "interrupted" in lowered:
        return GuardError(ErrorCode.TIMEOUT, "The query took too long and was cancelled.")
    return GuardError(ErrorCode.QUERY_FAILED, first_line or "The database refused the query.")


def _cancel(alias: str, raw: Any) -> None:
    logger.warning("adminassistant: watchdog cancels an overrunning query on %s", alias)
    try:
        if hasattr(raw, "cancel_safe"):
            raw.cancel_safe(timeout=2.0)
        elif hasattr(raw, "cancel"):
            raw.cancel()
        elif hasattr(raw, "interrupt"):  # sqlite3
            raw.interrupt()
    except Exception:
        logger.warning("adminassistant: the watchdog could not cancel the query", exc_info=True)


def guarded(work: Callable[[], T], *, alias: str | None = None, timeout_ms: int | None = None) -> T:
    """Run `work` read-only on the assistant's alias and roll everything back; raises GuardError."""
    alias = alias or settings.ADMIN_ASSISTANT_DATABASE_ALIAS
    timeout_ms = int(timeout_ms if timeout_ms is not None else settings.ADMIN_ASSISTANT_STATEMENT_TIMEOUT_MS)
    connection = connections[alias]
    postgres = connection.vendor == "postgresql"
    try:
        with transaction.atomic(using=alias):
            with connection.cursor() as cursor:
                if postgres:
                    cursor.execute("SET LOCAL transaction_read_only = on")
                    cursor.execute(f"SET LOCAL statement_timeout = {timeout_ms:d}")
                    cursor.execute(f"SET LOCAL idle_in_transaction_session_timeout = {max(timeout_ms * 2, 1000):d}")
                    cursor.execute("SELECT 1")  # the first snapshot: read-write can no longer be restored
                elif connection.vendor == "sqlite":
                    cursor.execute("PRAGMA query_only = ON")
            watchdog = threading.Timer(timeout_ms / 1000 + 1.0, _cancel, args=(alias, connection.connection))
            watchdog.daemon = True
            savepoint = transaction.savepoint(using=alias)
            watchdog.start()
            failed = True
            try:
                value = work()
                failed = False
                return value
            finally:
                watchdog.cancel()
                try:
                    transaction.savepoint_rollback(savepoint, using=alias)
                except DatabaseError:
                    if not failed:  # the work ended the transaction itself (a raw COMMIT): refuse its result
                        raise
                    # else the work's own error is the telling one; the transaction is rolled back below
                transaction.set_rollback(True, using=alias)
    except DatabaseError as exc:
        raise classify(exc) from exc
    finally:
        if not connection.in_atomic_block:
            # A fresh session for every run: nothing a run did to its session (settings, locks, a
            # broken connection) reaches the next, and no idle connection stays open per thread.
            connection.close()


def execute(
    code: str,
    *,
    manifest: Manifest,
    alias: str | None = None,
    max_rows: int | None = None,
    timeout_ms: int | None = None,
) -> Execution:
    """Validate `code`, interpret it in the guarded transaction, return its capped result or its error."""
    started = time.perf_counter()
    max_rows = max_rows or settings.ADMIN_ASSISTANT_MAX_ROWS
    max_chars = settings.ADMIN_ASSISTANT_MAX_FIELD_CHARS

    def elapsed() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        tree = validate(code, model_names=set(manifest.models))
        interpreter = Interpreter(manifest=manifest, alias=alias or settings.ADMIN_ASSISTANT_DATABASE_ALIAS)
        result = guarded(
            lambda: serialize(interpreter.run(tree), interpreter=interpreter, max_rows=max_rows, max_chars=max_chars),
            alias=alias,
            timeout_ms=timeout_ms,
        )
    except Refused as refusal:
        code_ = ErrorCode.CODE_TOO_LONG if refusal.rule == "code_too_long" else ErrorCode.REFUSED
        return Execution(error_code=code_, error_message=str(refusal), refusal_rule=refusal.rule, duration_ms=elapsed())
    except GuardError as error:
        return Execution(error_code=error.code, error_message=error.message, duration_ms=elapsed())
    except (EvaluationError, FieldError, ValueError, TypeError, KeyError, ArithmeticError) as exc:
        return Execution(
            error_code=ErrorCode.QUERY_FAILED, error_message=str(exc)[:300] or type(exc).__name__, duration_ms=elapsed()
        )
    except RecursionError:
        return Execution(error_code=ErrorCode.REFUSED, error_message="too_deep", refusal_rule="too_deep")
    return Execution(result=result, duration_ms=elapsed())
