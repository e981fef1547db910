"""Every error Ferry shows a person, in one tree.

    FerryError                      code            exit  http
    ├── UsageError                  usage-invalid      2   400
    │   ├── TargetError             target-invalid     2   400
    │   └── UploadError             upload-invalid     2   400
    │       ├── UploadTooLargeError upload-too-large       413
    │       └── UploadUnsupportedError upload-unsupported  415
    ├── ConfigError                 config-invalid     8   500
    ├── AuthError                   auth-failed        2   401
    │   ├── NotAuthenticated        auth-required          401
    │   ├── NotAllowed              role-insufficient      403
    │   └── QuotaExceeded           quota-exceeded         429
    ├── ManifestError               manifest-invalid   4   422
    │   ├── UnknownManifestError    manifest-unknown   4   422
    │   ├── IncludeLoopError        manifest-include-loop
    │   └── UnsupportedRequirementError requirement-unsupported
    ├── ResolutionError             resolution-failed  5   422
    │   └── ResolverUnavailableError resolver-unavailable
    ├── FetchError                  fetch-failed       6   502
    ├── IntegrityError              integrity-mismatch 7   502
    └── BundleError                 bundle-failed      9   500

Exit code 3 is not an error: it means the work finished and problems were reported
as warnings (an sdist in place of a wheel, a yanked release). One place turns these into
exit codes (`ExitCode`) and, later, HTTP statuses; nothing else invents numbers.

Third-party exceptions are converted where they enter (``raise ... from exc``) so the CLI
never prints a traceback for something the user can fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from pathlib import Path
from typing import ClassVar

from ferry.texts import Params, clean, error_text, hint_text


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    WARNINGS = 3
    INPUT = 4
    RESOLUTION = 5
    NETWORK = 6
    INTEGRITY = 7
    CONFIG = 8
    BUNDLE = 9


class Hint(str):
    """What the user can do next, said by a stable code (:data:`ferry.texts.HINTS`).

    The string itself is the English text, so the CLI, ``to_dict()``'s ``hint`` and every
    reader of ``FerryError.hint`` see the same words as before; ``code`` and ``params``
    travel with it (an error's ``hint_code`` and ``hint_params``), so that a reader in
    another language can be told the same. Being a string, it is handed on as it is when
    one error is remade into another (``hint=error.hint``).
    """

    code: str
    params: Params

    def __new__(cls, code: str, **params: object | None) -> Hint:
        sent = clean(params)
        self = super().__new__(cls, hint_text(code, sent))
        self.code = code
        self.params = sent
        return self

    def __getnewargs_ex__(self) -> tuple[tuple[str], dict[str, str]]:
        # copied or pickled from its code, not from its English
        return (self.code,), dict(self.params)


class FerryError(Exception):
    """Base of every error Ferry raises on purpose.

    ``code`` is stable (scripts and the API match on it); ``message`` says what went wrong,
    ``context`` what Ferry was doing, ``hint`` what the user can do next: a :class:`Hint`
    wherever the service can raise the error (its code and params are sent beside it),
    plain English only where no web page shows it (the CLI's own checks).

    ``params`` are what the message was made of, so that a reader in another language can
    be told the same (:mod:`ferry.texts`): given, the message is made from the code's
    template; left out, the message is the one parameter, ``detail``, shown verbatim
    inside the code's translated frame.
    """

    code: ClassVar[str] = "ferry-error"
    exit_code: ClassVar[ExitCode] = ExitCode.INTERNAL
    http_status: ClassVar[int] = 500

    def __init__(
        self,
        message: str | None = None,
        *,
        hint: str | None = None,
        context: str | None = None,
        params: Mapping[str, object | None] | None = None,
    ) -> None:
        if (message is None) == (params is None):
            raise TypeError("give a FerryError either its message or its params")
        self.params: Params = {"detail": message} if message is not None else clean(params or {})
        if message is None:
            message = error_text(self.code, self.params)
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.context = context

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "code": self.code,
            "message": self.message,
            "params": dict(self.params),
        }
        if self.context:
            out["context"] = self.context
        if self.hint:
            out["hint"] = str(self.hint)
            if isinstance(self.hint, Hint):
                out["hint_code"] = self.hint.code
                out["hint_params"] = dict(self.hint.params)
        return out


class UsageError(FerryError):
    code = "usage-invalid"
    exit_code = ExitCode.USAGE
    http_status = 400


class TargetError(UsageError):
    code = "target-invalid"


class UploadError(UsageError):
    """An uploaded file refused before anything is written: it names the file and why."""

    code = "upload-invalid"


class UploadTooLargeError(UploadError):
    code = "upload-too-large"
    http_status = 413


class UploadUnsupportedError(UploadError):
    code = "upload-unsupported"
    http_status = 415


class ConfigError(FerryError):
    code = "config-invalid"
    exit_code = ExitCode.CONFIG


class QueueUnavailable(FerryError):
    """The job queue (``task_queue``) did not take a task's step: nothing was queued."""

    code = "queue-unavailable"
    exit_code = ExitCode.NETWORK
    http_status = 503


class AuthError(FerryError):
    """A request the service will not serve for who is asking."""

    code = "auth-failed"
    exit_code = ExitCode.USAGE
    http_status = 401
    headers: dict[str, str] | None = None


class NotAuthenticated(AuthError):
    code = "auth-required"
    headers = {"WWW-Authenticate": 'Bearer realm="ferry"'}  # noqa: RUF012 - read only


class NotAllowed(AuthError):
    code = "role-insufficient"
    http_status = 403


class QuotaExceeded(AuthError):
    code = "quota-exceeded"
    http_status = 429


class ManifestError(FerryError):
    """A manifest could not be read. Always names the file, and the line when there is one."""

    code = "manifest-invalid"
    exit_code = ExitCode.INPUT
    http_status = 422

    def __init__(
        self,
        path: Path | str,
        reason: str,
        *,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.column = column
        self.reason = reason
        super().__init__(
            hint=hint,
            params={
                "file": str(path),
                "line": line,
                "column": column if line is not None else None,
                "reason": reason,
            },
        )

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out.update(file=str(self.path), line=self.line, reason=self.reason)
        if self.column is not None:
            out["column"] = self.column
        return out


class UnknownManifestError(ManifestError):
    code = "manifest-unknown"


class IncludeLoopError(ManifestError):
    code = "manifest-include-loop"


class UnsupportedRequirementError(ManifestError):
    """Editable, VCS or local-path requirements that cannot be carried to another machine."""

    code = "requirement-unsupported"


class ResolutionError(FerryError):
    code = "resolution-failed"
    exit_code = ExitCode.RESOLUTION
    http_status = 422


class ResolverUnavailableError(ResolutionError):
    code = "resolver-unavailable"
    exit_code = ExitCode.INTERNAL
    http_status = 500


class FetchError(FerryError):
    code = "fetch-failed"
    exit_code = ExitCode.NETWORK
    http_status = 502


class LocalWriteError(FetchError):
    """The bytes arrived but could not be kept here (a full disk, a read-only directory):
    fetching them again would not help."""


class IntegrityError(FerryError):
    """Downloaded bytes do not match the hash the index promised. Never retried into silence.

    ``found`` is what arrived instead (its size or digest): shown by the CLI to the user who
    fetched it, never put in ``message`` or ``to_dict``, so a service task's error says
    nothing about bytes from a place it did not ask for.
    """

    code = "integrity-mismatch"
    exit_code = ExitCode.INTEGRITY
    http_status = 502

    def __init__(
        self,
        message: str | None = None,
        *,
        found: str | None = None,
        hint: str | None = None,
        context: str | None = None,
        params: Mapping[str, object | None] | None = None,
    ) -> None:
        super().__init__(message, hint=hint, context=context, params=params)
        self.found = found


class BundleError(FerryError):
    code = "bundle-failed"
    exit_code = ExitCode.BUNDLE
