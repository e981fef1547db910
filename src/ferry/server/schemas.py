"""The documents the service sends, as pydantic models: the OpenAPI schema publishes them
and the web UI's TypeScript types are generated from it (`npm run gen:api`).

They describe the JSON exactly as it always was. A field that is always sent is required
(nullable where it can be null); a field that is sometimes left out has a default and is
optional. Routes serialize with ``exclude_unset``, so a left-out field stays left out
rather than turning into ``null``.

Documents assembled from stored JSON (dependency trees, errors) are validated on the way
out; extra keys there are ignored, except in error documents, whose own fields vary by
error and are all kept.

The WebSocket's messages (``/ws/tasks/{task_id}``) are not covered by OpenAPI; their
model, :class:`TaskEventMessage`, is added to ``components.schemas`` all the same
(:func:`ferry.server.app.create_app` does this) so the UI's socket types are generated too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ferry.states import TaskStatus
from ferry.tasks.options import TaskOptions

__all__ = [
    "SOCKET_MODELS",
    "AuditEntry",
    "AuditPage",
    "AvailableBundle",
    "AvailableBundles",
    "DependenciesDocument",
    "EcosystemProgress",
    "FailedPackage",
    "Health",
    "ImportDocument",
    "ImportFromServer",
    "ImportList",
    "NpmDependencies",
    "NpmExcludedPackage",
    "NpmPackage",
    "NpmRoot",
    "NpmTarget",
    "NpmTreeNode",
    "PackageDocument",
    "PackageList",
    "Problem",
    "ProblemDocument",
    "PythonDependencies",
    "PythonEdge",
    "PythonPackage",
    "PythonTarget",
    "PythonTargetDependencies",
    "RegistryFile",
    "RegistryInstall",
    "RegistryPackage",
    "RegistryPackageDetail",
    "RegistryPackageList",
    "RegistryVersion",
    "TaskCreated",
    "TaskDetail",
    "TaskDocument",
    "TaskError",
    "TaskEventMessage",
    "TaskList",
    "TaskOptions",
    "TokenCreate",
    "TokenCreated",
    "TokenInfo",
    "TokenList",
    "TokenSelf",
    "Transition",
]

_DATETIME: dict[str, Any] = {"format": "date-time"}


class _Document(BaseModel):
    model_config = ConfigDict(extra="ignore")


# ---- problems and errors ----------------------------------------------------------------


_PARAMS = (
    "What the message was made of, by name (ferry.texts): with the code, a client can "
    "word it in another language; a value is shown as it is."
)


class Problem(_Document):
    """Something found while resolving: shown, never hidden. ``kind`` is a stable code;
    ``chain`` is who asked for the package, outermost first."""

    severity: Literal["error", "warning", "info"]
    kind: str
    message: str
    package: str | None
    target: str | None
    chain: list[str]
    params: dict[str, str] = Field(
        default_factory=dict,
        description=_PARAMS + " Left out in problems stored before Ferry sent them.",
    )


class _ErrorFields(BaseModel):
    # an error's own fields vary by error: every one is kept
    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Stable error code, e.g. 'manifest-invalid'.")
    message: str
    params: dict[str, str] | None = Field(
        None, description=_PARAMS + " Left out in errors stored before Ferry sent them."
    )
    context: str | None = Field(None, description="What Ferry was doing.")
    hint: str | None = Field(None, description="What the user can do next.")
    hint_code: str | None = Field(
        None,
        description="The hint's stable code (ferry.texts.HINTS), when it has one; left out "
        "in errors stored before Ferry sent it.",
    )
    hint_params: dict[str, str] | None = Field(
        None, description="What the hint was made of, by name, as ``params`` is the message's."
    )
    file: str | None = Field(None, description="The uploaded manifest at fault.")
    line: int | None = None
    column: int | None = None
    reason: str | None = None
    task_id: str | None = None
    requested: str | None = Field(None, description="The status a refused transition asked for.")
    problems: list[Problem] | None = Field(None, description="What made resolution fail.")


class TaskError(_ErrorFields):
    """Why a task failed (its ``error`` field)."""


class ProblemDocument(_ErrorFields):
    """Every error answer: an RFC 9457 problem document (``application/problem+json``)
    with Ferry's stable ``code``. An error's own field that clashes with a standard member
    (a task's status) is sent as ``task_<name>``."""

    type: str = Field(description="urn:ferry:<code>")
    title: str
    status: int = Field(description="The HTTP status.")
    params: dict[str, str] = Field(description=_PARAMS)
    task_status: TaskStatus | None = None


# ---- tasks --------------------------------------------------------------------------------


class FailedPackage(_Document):
    """A file the download gave up on, and why."""

    name: str
    error: str = Field(description="Why, in English (the error's message).")
    code: str | None = Field(
        None,
        description="The error's stable code; left out in tasks stored before Ferry sent it.",
    )
    params: dict[str, str] | None = Field(
        None, description=_PARAMS + " Left out in tasks stored before Ferry sent them."
    )


class EcosystemProgress(_Document):
    """Download counts of one ecosystem. Every ecosystem the analysis found is there from
    the start of the download, ``waiting`` with the analysis's totals until the engine
    starts on it; files already in the store count as completed and as ``cached``, and
    their bytes as done."""

    # stored before these fields existed: a finished download
    state: Literal["waiting", "fetching", "done"] = "done"
    total: int
    completed: int
    cached: int = 0
    failed: int
    failed_packages: list[FailedPackage]
    bytes_done: int
    bytes_total: int


class TaskCreated(_Document):
    """The answer to an upload: the task is analysed next (watch it, or poll it)."""

    task_id: str
    status: TaskStatus
    files: list[str]
    created_at: str = Field(json_schema_extra=_DATETIME)


class TaskDocument(_Document):
    """A task as lists and actions show it."""

    task_id: str
    status: TaskStatus
    files: list[str] = Field(description="The uploaded manifests' names.")
    options: TaskOptions
    progress: dict[str, EcosystemProgress] = Field(
        description="Download counts by ecosystem ('pypi', 'npm'); live while it runs."
    )
    error: TaskError | None
    archive_url: str | None = Field(
        description="Set once the task is completed: a link signed for this archive, "
        "valid for a few minutes (fetch the task again for a fresh one)."
    )
    archive_size: int | None
    archive_name: str | None = Field(
        None, description="Set once completed: the file name the archive downloads as."
    )
    archive_sha256: str | None = Field(
        None,
        description="Set once completed: the archive's SHA-256, to check the transfer from "
        "outside the archive.",
    )
    expires_at: str | None = Field(
        None,
        description="When the task and its archive are deleted.",
        json_schema_extra=_DATETIME,
    )
    owner: str | None = Field(description="The owner of the token that created it.")
    project_name: str | None = Field(
        None,
        description="The project's name as the uploaded package.json or pyproject.toml "
        "declares it (one line, at most 100 characters); null when none does, or before "
        "analysis read them.",
    )
    package_count: int | None = Field(
        None,
        description="Packages analysis found (distinct name and version per ecosystem, "
        "summed); null before analysis finished.",
    )
    created_at: str = Field(json_schema_extra=_DATETIME)
    updated_at: str | None = Field(json_schema_extra=_DATETIME)
    started_at: str | None = Field(json_schema_extra=_DATETIME)
    completed_at: str | None = Field(json_schema_extra=_DATETIME)


class Transition(_Document):
    model_config = ConfigDict(populate_by_name=True)

    from_: TaskStatus | None = Field(alias="from")
    to: TaskStatus
    reason: str | None
    at: str = Field(json_schema_extra=_DATETIME)


class TaskDetail(TaskDocument):
    """One task, with every status change it went through."""

    transitions: list[Transition]


class TaskList(_Document):
    """One page of tasks, newest first."""

    tasks: list[TaskDocument]
    total: int
    page: int
    size: int


class DeclaredGroup(_Document):
    name: str = Field(description="As the analysis accepts it in ``groups`` (normalised).")
    ecosystem: Literal["pypi", "npm"]
    files: list[str] = Field(description="The uploaded files that declare it.")


class DeclaredDocument(_Document):
    """The extras and dependency groups the uploaded manifests declare (what the upload
    form offers), and the files that could not be read, each with file and line."""

    groups: list[DeclaredGroup]
    errors: list[TaskError]


class Health(_Document):
    status: Literal["ok"]
    version: str


class RegistryEntry(_Document):
    name: str
    description: str


class RegistryList(_Document):
    """The source profiles a task may pick (option ``registry``); ``default`` is the one
    in force when a task picks none (null: the service's own sources)."""

    registries: list[RegistryEntry]
    default: str | None


# ---- dependency trees ---------------------------------------------------------------------


class PythonTarget(_Document):
    key: str
    python: str
    platform: str
    implementation: str


class PythonPackage(_Document):
    name: str
    version: str
    filename: str
    url: str
    sha256: str
    size: int | None
    kind: Literal["wheel", "sdist"]
    yanked: str | None = Field(description="The reason ('' for none given); null: not yanked.")
    build_only: bool = Field(description="Only there to build an sdist on the target.")
    build_for: list[str] = Field(
        default_factory=list,
        description="A build-only package: the sdists it builds ('name version', or "
        "'the project' for the project's own [build-system]).",
    )
    needs: list[str] = Field(
        default_factory=list,
        description="An sdist: what the target is likely to need to build it.",
    )


class PythonEdge(_Document):
    """``parent`` asked for ``child`` (parent null: a manifest did)."""

    parent: str | None
    child: str
    specifier: str
    extras: list[str]
    origin: str | None = Field(description="The manifest line that asked, for a root.")


class PythonTargetDependencies(_Document):
    target: PythonTarget
    count: int
    total_bytes: int
    packages: list[PythonPackage]
    edges: list[PythonEdge]
    problems: list[Problem]


class PythonDependencies(_Document):
    ecosystem: Literal["pypi"]
    targets: list[PythonTargetDependencies]
    file_count: int = Field(description="Distinct files over all targets.")
    total_bytes: int
    problems: list[Problem] = Field(description="All of them, the targets' included.")


class NpmTarget(_Document):
    key: str
    node: str
    os: str
    cpu: str
    libc: str | None


class NpmRoot(_Document):
    name: str
    version: str


class NpmPackage(_Document):
    """One installed copy of a package (an entry of the lock's ``packages``)."""

    path: str
    name: str
    version: str
    resolved: str | None
    integrity: str | None
    filename: str
    size: int | None
    dev: bool
    optional: bool
    peer: bool
    os: list[str] | None
    cpu: list[str] | None
    libc: list[str] | None
    engines: dict[str, str]
    has_install_script: bool
    deprecated: str | None


class NpmExcludedPackage(_Document):
    name: str
    version: str
    os: list[str] | None
    cpu: list[str] | None
    libc: list[str] | None
    reason: Literal["dev", "platform"]


class NpmTreeNode(_Document):
    """`npm ls`-shaped: a package and what it pulls in."""

    name: str
    version: str
    spec: str = Field(description="The range the parent asked for.")
    deduped: bool = Field(False, description="Shown in full higher up; sent only when true.")
    problems: list[str] = Field(default_factory=list, description="Sent only when any.")
    children: list[NpmTreeNode]


class NpmDependencies(_Document):
    ecosystem: Literal["npm"]
    target: NpmTarget
    root: NpmRoot
    lock_generated: bool
    install_settings: dict[str, str] = Field(
        default_factory=dict,
        description="The project .npmrc's install settings (legacy-peer-deps, …), which "
        "resolution used and the offline npm ci applies.",
    )
    count: int
    total_bytes: int
    packages: list[NpmPackage]
    excluded: list[NpmExcludedPackage]
    tree: list[NpmTreeNode]
    problems: list[Problem]


class DependenciesDocument(_Document):
    """What analysis found, per ecosystem (each only when the task has its manifests)."""

    task_id: str
    python: PythonDependencies | None = None
    npm: NpmDependencies | None = None


# ---- tokens and the audit log ---------------------------------------------------------------


class TokenCreate(BaseModel):
    """What ``POST /api/tokens`` takes (as ``ferry token create`` does)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: Literal["read", "write", "admin"]
    owner: str | None = Field(
        None, max_length=100, description="Whose tasks it sees; default: the name."
    )
    expires: str | None = Field(None, max_length=16, description="e.g. '30d', '12h'.")
    max_active_tasks: int | None = Field(None, ge=1, le=1_000_000)
    max_tasks_per_hour: int | None = Field(None, ge=1, le=1_000_000)
    max_disk_bytes: int | None = Field(None, ge=1, le=2**62)


class TokenInfo(_Document):
    """A token as lists show it: never the token itself."""

    id: str
    name: str
    owner: str
    role: Literal["read", "write", "admin"]
    created_at: str = Field(json_schema_extra=_DATETIME)
    created_by: str
    last_used_at: str | None = Field(json_schema_extra=_DATETIME)
    expires_at: str | None = Field(json_schema_extra=_DATETIME)
    revoked_at: str | None = Field(json_schema_extra=_DATETIME)
    max_active_tasks: int | None
    max_tasks_per_hour: int | None
    max_disk_bytes: int | None


class TokenCreated(TokenInfo):
    """The new token, shown this once: only its hash is kept."""

    token: str


class TokenList(_Document):
    tokens: list[TokenInfo]


class TokenSelf(_Document):
    """The token a request came with (``GET /api/tokens/me``): a client offers only what
    its role allows, and knows which packages are its owner's to delete."""

    id: str | None = Field(description="None when the service runs with --no-auth.")
    name: str
    owner: str = Field(description="Whose tasks it sees; the packages it uploads carry it.")
    role: Literal["read", "write", "admin"]


class PackageDocument(_Document):
    """A stored package (seed 003): the file is at ``download_url``."""

    id: str = Field(description="32 lowercase hex digits.")
    name: str
    version: str
    platform: str
    arch: str
    description: str
    filename: str = Field(description="The name the file downloads as.")
    size: int = Field(description="Bytes.")
    sha256: str = Field(description="Lowercase hex; also the download's ETag.")
    owner: str = Field(description="The owner of the token that uploaded it.")
    created_at: str = Field(json_schema_extra=_DATETIME)
    download_url: str = Field(description="Needs a token, as every route.")
    link_url: str = Field(
        description="The same file without a token, for a few minutes (archive_link_ttl): "
        "signed for this package, for a browser to follow as a plain link."
    )


class ImportDocument(_Document):
    """A bundle imported into the registries (``ferry import``, ``POST /api/imports``)."""

    id: str = Field(description="32 lowercase hex digits.")
    filename: str
    archive_sha256: str = Field(description="The bundle archive's own sha256.")
    archive_size: int = Field(description="Bytes.")
    file_count: int = Field(description="Files the bundle holds for the registries.")
    new_count: int = Field(description="Of those, the ones the registries did not hold.")
    repeated: bool = Field(description="True: this bundle was imported before; nothing added.")
    owner: str = Field(description="The owner of the token that imported it.")
    created_at: str = Field(json_schema_extra=_DATETIME)


class ImportList(_Document):
    imports: list[ImportDocument]


class ImportFromServer(BaseModel):
    """``POST /api/imports`` as JSON (admin): a bundle already on the server's disk."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        min_length=1,
        max_length=200,
        description="A bundle's plain file name in the import_dir the operator set (no "
        "directory part, no '..', no leading dot), as GET /api/imports/available lists it.",
    )


class AvailableBundle(_Document):
    name: str = Field(description="The plain file name to import it by.")
    size: int = Field(description="Bytes.")
    modified_at: str = Field(json_schema_extra=_DATETIME)


class AvailableBundles(_Document):
    """The bundles in the server's import_dir, newest first."""

    enabled: bool = Field(
        description="False: the operator has not set import_dir; only uploads are imported."
    )
    bundles: list[AvailableBundle]


# ---- what the registries hold (/api/registry) ------------------------------------------


class RegistryPackage(_Document):
    """A package the far side's registries hold (``/simple/`` or ``/npm/``)."""

    ecosystem: Literal["pypi", "npm"]
    name: str = Field(description="PyPI: the normalized name; npm: the name, scope included.")
    version_count: int
    latest_version: str | None = Field(
        description="The highest release (the highest version when there is no release)."
    )
    file_count: int
    total_size: int = Field(description="Bytes, every file of every version.")


class RegistryPackageList(_Document):
    packages: list[RegistryPackage]
    total: int
    page: int
    per_page: int


class RegistryFile(_Document):
    filename: str
    size: int = Field(description="Bytes.")
    sha256: str
    yanked: str | None = Field(
        description="None: not yanked; the reason, or an empty string, when it is."
    )
    upload_time: str | None = Field(
        description="When its source index first published it, as that index said."
    )
    requires_python: str | None
    url: str = Field(description="Where the registry serves it, relative to the server.")
    import_id: str = Field(description="The import that brought it.")
    import_filename: str = Field(description="That import's bundle.")
    imported_at: str = Field(json_schema_extra=_DATETIME)


class RegistryVersion(_Document):
    version: str
    files: list[RegistryFile]


class RegistryInstall(_Document):
    """Where pip, uv or npm find the package, relative to the server."""

    index_url: str = Field(
        description="The registry's root, for pip's --index-url or npm's --registry."
    )
    package_url: str = Field(description="The package's own page or packument.")


class RegistryPackageDetail(RegistryPackage):
    versions: list[RegistryVersion] = Field(description="Newest first.")
    install: RegistryInstall


class UploadTerms(_Document):
    """What an uploader may want to know before sending a file."""

    max_bytes: int = Field(description="The largest file the store takes (413 past it).")
    sha256_first: bool = Field(
        description="True if a sha256 field sent before the file spares the store a copy "
        "of every byte (an S3 store): worth hashing the file first. Otherwise send it after "
        "the file, hashing while sending, or not at all."
    )


class PackageUploadStart(BaseModel):
    """What ``POST /api/v1/packages/uploads`` takes: the package's fields and the file's
    size and sha256, before any of its bytes."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=1000)
    version: str = Field(max_length=1000)
    platform: str = Field(max_length=1000)
    arch: str = Field(max_length=1000)
    description: str = Field("", max_length=20_000, description="At most 10 KiB of UTF-8.")
    filename: str = Field("", max_length=1000, description="The file's own name.")
    size: int = Field(ge=0, le=2**63 - 1, description="The file's length in bytes.")
    sha256: str = Field(pattern="^[0-9a-f]{64}$", description="The file's SHA-256.")


class DirectUpload(_Document):
    method: Literal["PUT"]
    url: str = Field(description="Where the file goes, straight to the store.")
    headers: dict[str, str] = Field(
        description="Send exactly these (they are signed: the store refuses another "
        "length, or bytes with another sha256), and nothing else: no Authorization."
    )
    expires_at: str = Field(
        json_schema_extra=_DATETIME, description="The PUT must start before this."
    )


class PackageUploadPlan(_Document):
    """How to send the file: straight to the store, or through the service."""

    direct: DirectUpload | None = Field(
        description="Send the file here, then POST the ticket to /uploads/complete."
    )
    ticket: str | None = Field(description="Completes the direct upload; null without one.")
    reason: str | None = Field(
        description="Why there is no direct upload: then POST the file as a form to "
        "/api/v1/packages, as always."
    )


class PackageUploadDone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ticket: str = Field(max_length=40_000, description="From the plan.")


class PackageList(_Document):
    packages: list[PackageDocument]
    total: int
    page: int
    size: int
    upload: UploadTerms


class AuditEntry(_Document):
    id: int
    at: str = Field(json_schema_extra=_DATETIME)
    actor: str = Field(description="The owner of the token that did it.")
    token_id: str | None
    action: str = Field(description="e.g. task.create, task.delete, token.revoke.")
    target: str | None = Field(description="The task or token acted on.")
    address: str | None
    detail: dict[str, Any]


class AuditPage(_Document):
    entries: list[AuditEntry]
    total: int
    page: int
    size: int


# ---- the WebSocket ------------------------------------------------------------------------


class TaskEventMessage(BaseModel):
    """One text frame of ``/ws/tasks/{task_id}``: a task's live event.

    A watcher first gets a snapshot (latest status, latest analysis and progress per
    ecosystem, recent log lines, the final error or completion), then every event as it
    happens. Every field is always present, null when it does not apply.

    ``analysis`` events report the analysis per ecosystem: ``phase`` is ``resolving``,
    ``metadata`` (``current`` of ``total`` packages read), ``build-environments`` (Python:
    what sdists need to build), ``checks`` (npm: engines and peers) or ``done``.
    ``progress`` events report the download; ``phase`` ``waiting`` is a row the engine has
    not reached yet, with the analysis's totals.

    Close codes: 4404 unknown task (after an error event), 1013 the watcher fell behind
    (after an error event: reconnect), 1000 the task was deleted, 1001 server shutdown,
    1011 server error.
    """

    type: Literal["progress", "analysis", "log", "status", "error", "complete"]
    phase: str | None = Field(
        description="'resolving', 'fetching <ecosystem>', 'packing', 'waiting'; an analysis "
        "event's: 'resolving', 'metadata', 'build-environments', 'checks', 'done'."
    )
    current: int | None = Field(description="Files done (fetched or failed).")
    total: int | None
    bytes_done: int | None
    bytes_total: int | None
    speed: float | None = Field(description="Bytes per second.")
    eta: float | None = Field(description="Seconds.")
    message: str | None
    package_name: str | None
    timestamp: str = Field(json_schema_extra=_DATETIME)
    ecosystem: str | None
    status: TaskStatus | None
    code: str | None = Field(
        description="What the message says, as a stable code: an error event's (and a failed "
        "status event's) is its error's code, another event's one of Ferry's event codes."
    )
    params: dict[str, str] | None = Field(description=_PARAMS)


# what OpenAPI cannot reach by a route but the schema publishes
SOCKET_MODELS: tuple[type[BaseModel], ...] = (TaskEventMessage,)
