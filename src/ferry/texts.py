"""Every text Ferry writes for a person, by stable code, with its parameters.

A problem (its ``kind``), an error (its ``code``, and its hint's) and a task event (its
``code``) carry, besides the English ``message`` the CLI and API clients read, the
parameters that message was made of. The web UI keeps the same templates in English and Chinese
(``web/src/serverText.ts``) and fills them in the reader's language; what it cannot fill
(an unknown code, a parameter missing) it shows as the server's message. So the texts are
declared here once, the English message is always made from them, and
``web/src/serverCodes.json`` (written by ``scripts/server_codes.py``, checked by a test)
tells the web which codes and parameters there are.

A code has one or more templates, told apart by their parameters: ``{name}`` is a value
shown verbatim (a package name, a URL, the resolver's own words); ``{name=value}`` shows
nothing and selects the template when the parameter has that value, for variants whose
wording differs but whose values do not. The template whose names are exactly the given
parameters (and whose conditions hold) is the one; a parameter given as None is left out,
which is how an optional part picks the shorter template. The first template that fits
is the one, so a conditional template comes before the plain one it narrows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "ERRORS",
    "EVENTS",
    "HINTS",
    "PROBLEMS",
    "Params",
    "clean",
    "error_text",
    "event_text",
    "hint_text",
    "names",
    "problem_text",
    "render",
]

Params = dict[str, str]

_TOKEN = re.compile(r"\{(\w+)(?:=([\w.-]+))?\}")

# Ferry's own words for the part of a message that is not modelled: every error code can
# be shown as a translated frame around it
_DETAIL = "{detail}"

# what manifests' errors say: where (file, line, column), then why
_MANIFEST = (
    "{file}: {reason}",
    "{file}:{line}: {reason}",
    "{file}:{line}:{column}: {reason}",
    _DETAIL,
)

# the resolver's own explanation (uv's or npm's), shown as it wrote it
_RESOLVER = ("{output}",)
_BUILD_REQUIREMENTS = (
    "the build requirements of {sdist} ({requirements}) cannot be resolved for Python "
    "{python} ({implementation}) on {platform}: {output}",
    "the build requirements of the project ({requirements}) cannot be resolved for Python "
    "{python} ({implementation}) on {platform}: {output}",
)
_NODE_TARGET = ("Node {node} on {os}-{cpu} ({libc})", "Node {node} on {os}-{cpu}")

PROBLEMS: dict[str, tuple[str, ...]] = {
    # Python
    "index-unreachable": (
        "the index {index} (from {origin}) cannot be reached: {cause}. Check the URL and "
        "this machine's network or proxy; an index written in a manifest can be left out "
        "with --ignore-manifest-indexes",
    ),
    "not-found": _RESOLVER,
    "unsatisfiable": _RESOLVER,
    "resolver-error": _RESOLVER,
    "build-requirements-not-found": _BUILD_REQUIREMENTS,
    "build-requirements-unsatisfiable": _BUILD_REQUIREMENTS,
    "build-requirements-resolver-error": _BUILD_REQUIREMENTS,
    "hash-not-pinned": (
        "{file} (sha256 {sha256}) matches none of the hashes pinned for {package}",
    ),
    "yanked": ("{package} {version} is yanked: {reason}", "{package} {version} is yanked"),
    "no-file-for-target": (
        "{refused=sdist}{package} {version} has no wheel for the target and sdists are "
        "refused (--only-binary)",
        "{refused=wheel}{package} {version} has no sdist and wheels are refused (--no-binary)",
        "{package} {version} has neither a wheel for {platform} nor an sdist",
    ),
    "prefer-binary": (
        "{package} {version} (a wheel for {platform}) chosen over {previous}, which has only "
        "an sdist (--prefer-binary)",
    ),
    "no-wheel-for-target": tuple(
        "{package} {version} has no wheel for Python {python} ({implementation}) on "
        f"{{platform}}; its sdist is bundled and will be built on the target (build "
        f"requirements: {build}){needs}"
        for build in ("{build_requires}", "none")
        for needs in ("; the target will likely need {needs}", "")
    ),
    # npm
    "no-package-json": ("no package.json and no lock to resolve",),
    "conflict": _RESOLVER,
    "registry-unreadable": ("could not read {url}: {cause}", "{url} answered HTTP {status}"),
    "deprecated": ("{package}@{version} is deprecated: {reason}",),
    "no-tarball": ("{package}@{version}: the registry gives no tarball URL or integrity",),
    "weak-integrity": ("{package}@{version} is only verified by sha1 (an old lock entry)",),
    "engines-mismatch": (
        "{package}@{version} wants node {wanted}; the target runs Node {node}",
        "{engine_strict=true}{package}@{version} wants node {wanted}; the target runs Node "
        "{node} (engine-strict: npm ci will refuse it)",
    ),
    "npmrc-ignored": (
        "{file}:{line}: {key} = {value} left out (--ignore-manifest-indexes)",
        "{why=variable}{file}:{line}: {key} names an environment variable, which Ferry does "
        "not expand; left out",
        "{why=setting}{file}:{line}: {key} is not an install setting Ferry carries; left out",
    ),
    "npmrc-credentials": (
        "{file} lines {lines} hold credentials: Ferry never uses them and leaves them out of "
        "the bundle",
    ),
    "peer-missing": (
        "{package}@{version} needs peer {peer}@{spec}, which nothing installs "
        "(legacy-peer-deps leaves peers to the project); add it to package.json's "
        "dependencies",
    ),
    "peer-conflict": ("{package}@{version} needs peer {peer}@{spec}; the tree has {peer}@{found}",),
    "platform-mismatch": tuple(
        "{package}@{version} requires os {wants_os}, cpu {wants_cpu}, libc {wants_libc}; the "
        f"target is {target}"
        for target in _NODE_TARGET
    ),
    "optional-platform-excluded": (
        "{count} optional package(s) for other platforms left out: {names}",
    ),
    "install-script": (
        "{package}@{version} has an install script; it does not run in the offline install "
        "unless the target allows scripts (FERRY_NPM_SCRIPTS=1)",
    ),
    "needs-compiling": tuple(
        f"{{package}}@{{version}} is a native addon ({{tool}}) and {why}: it will be compiled "
        "on the target, which needs {needs}; install scripts run only with "
        "FERRY_NPM_SCRIPTS=1"
        for why in (
            "{reason}",
            "its prebuilt binary for {target} could not be fetched from {url} ({cause})",
            "its prebuilt binary from {url} is unusable: {error}",
        )
    ),
    "prebuilt-binary": (
        "{package}@{version} carries its binary for {target} in its own tarball ({tool}): "
        "nothing to build or fetch",
        "{package}@{version}: the {tool} binary for {target} is in the bundle (from {url}); "
        "the offline install places it in {dest}",
        "{package}@{version}: the {tool} binary for {target} is in the bundle (from {url}); "
        "the offline install places it in the package folder",
    ),
}

ERRORS: dict[str, tuple[str, ...]] = {
    # the base class: a task's own limits, and the catch-all for a bug
    "ferry-error": (
        "the task failed unexpectedly; the server's log has the details",
        "{limit=time}the task ran past its time limit",
        "the bundle needs {size} bytes, over the task's {limit}-byte limit",
        "the archive is {archive_size} bytes, over the task's {limit}-byte limit",
        _DETAIL,
    ),
    "usage-invalid": (
        "torch_backend: this service has no PyTorch index (`torch_index` setting)",
        _DETAIL,
    ),
    "target-invalid": (_DETAIL,),
    "upload-invalid": (
        "no files uploaded",
        "{uploaded=twice}{name} uploaded twice",
        "file name {name}… is {size} bytes; at most {limit}",
        "file name {name} is not a plain file name",
        "options.{field}: {reason}",
        "{known=none}options.registry: {registry} is not a profile (none are configured)",
        "options.registry: {registry} is not a profile ({known})",
        _DETAIL,
    ),
    "upload-too-large": (
        "{name}: {size} bytes is over the {limit}-byte limit",
        "the request body is over the {limit}-byte limit",
        _DETAIL,
    ),
    "upload-unsupported": (
        "{name}: not a manifest Ferry knows",
        "{content=binary}{name}: binary content, not a text manifest",
        "{name}: not UTF-8 text (byte {byte})",
        _DETAIL,
    ),
    "config-invalid": (_DETAIL,),
    "queue-unavailable": ("the task queue cannot be reached: {reason}", _DETAIL),
    "auth-failed": (_DETAIL,),
    "auth-required": (
        "this needs a token",
        "{token=refused}the token is unknown, revoked or expired",
        _DETAIL,
    ),
    "role-insufficient": ("this needs the {role} role; the token has {has}", _DETAIL),
    "quota-exceeded": (
        "this token has {active} task(s) queued or at work; its limit is {limit}",
        "this token's archives take {disk} bytes; its limit is {limit}",
        "this token created {made} tasks in the last hour; its limit is {limit}",
        _DETAIL,
    ),
    "manifest-invalid": _MANIFEST,
    "manifest-unknown": _MANIFEST,
    "manifest-include-loop": _MANIFEST,
    "requirement-unsupported": _MANIFEST,
    "resolution-failed": ("the manifests cannot be resolved for the target", _DETAIL),
    "index-unreachable": (_DETAIL,),
    "resolver-unavailable": (_DETAIL,),
    "fetch-failed": ("could not read {url}: {cause}", "{url} answered HTTP {status}", _DETAIL),
    "egress-refused": (_DETAIL,),
    "integrity-mismatch": (_DETAIL,),
    "bundle-failed": (_DETAIL,),
    "task-not-found": ("no task {task_id}", _DETAIL),
    "task-invalid-transition": (
        "task {task_id} is {current}: it cannot become {requested}",
        _DETAIL,
    ),
    "task-not-resolved": ("task {task_id} is {current}: no dependency tree yet", _DETAIL),
    "task-not-completed": ("task {task_id} is {current}: no archive yet", _DETAIL),
    "token-not-found": ("no token {token}", _DETAIL),
    # the package store (seed 003)
    "package-invalid": (
        "{problem=form}the request is not a multipart/form-data form",
        "{problem=missing}{field} is missing",
        "{problem=twice}{field} is given twice",
        "{problem=unsafe}{field} must be 1-{limit} letters, digits or . _ + ~ - starting "
        "with a letter or digit, without ..",
        "{problem=long}{field} is over {limit} bytes",
        "{problem=empty}{field} is empty: a package needs at least one byte",
        "{problem=text}{field} is not UTF-8 text",
        "{problem=ticket}the upload ticket is not one this service gave you",
        "{problem=ticket-expired}the upload ticket has expired: start the upload again",
        _DETAIL,
    ),
    "package-upload-missing": (
        "the store holds no bytes with sha256 {sha256} and size {size} that it checked: "
        "PUT the file to the URL of the upload's plan first",
        _DETAIL,
    ),
    "package-too-large": ("{name} is over the {limit}-byte limit for a package", _DETAIL),
    "package-exists": (
        "{name} {version} for {platform}/{arch} is stored already, as package {package_id}",
        _DETAIL,
    ),
    "package-not-found": ("no package {package_id}", _DETAIL),
    "package-not-owned": (
        "package {package_id} was uploaded by {owner}: only they or an admin may delete it",
        _DETAIL,
    ),
    "range-not-satisfiable": ("the range {range} is outside the {size}-byte file", _DETAIL),
    # the model catalog: its messages name the model, version or path themselves
    "model-name-invalid": (_DETAIL,),
    "model-not-found": (_DETAIL,),
    "model-conflict": (_DETAIL,),
    "model-not-available": (_DETAIL,),
    # bundles brought in on the far side
    "import-rejected": ("{bundle} was not imported: {reason}", _DETAIL),
    "registry-not-found": ("the registries hold nothing at {path}", _DETAIL),
    "import-dir-off": (
        "importing from the server's disk is not enabled: the operator has not set import_dir",
        _DETAIL,
    ),
    "import-dir-unreadable": ("the import directory cannot be read: {reason}", _DETAIL),
    "import-name-invalid": (
        "{name} is not a bundle's plain file name (letters, digits and . _ + -, starting "
        "with a letter or digit, ending in {formats})",
        _DETAIL,
    ),
    "import-file-not-found": ("no bundle {name} in the import directory", _DETAIL),
    # problem documents the web server writes itself, not from a FerryError
    "request-invalid": ("{where}: {reason}",),
    "not-found": ("nothing at {path}",),
    "method-not-allowed": ("{method} is not allowed here (allowed: {allow})",),
    "internal-error": ("the server failed; the error is in its log",),
    # the task events socket's own errors
    "socket-unauthenticated": ("authentication failed",),
    "socket-lookup-failed": ("the task could not be looked up",),
    "socket-behind": (
        "this watcher fell more than {limit} events behind and was disconnected; reconnect "
        "for a fresh snapshot",
    ),
}

# A task event's code; an error event (and a failed status event) carries its error's code
# instead, so these are kept apart from ERRORS' codes.
EVENTS: dict[str, tuple[str, ...]] = {
    # phases of the download step
    "phase-resolving": ("resolving",),
    "phase-fetching": ("fetching {ecosystem}",),
    "phase-packing": ("packing",),
    # one line per file
    "file-cached": ("cached {name}",),
    "file-fetched": ("fetched {name}",),
    "file-failed": ("failed {name}: {reason}",),
    # why a task's status changed
    "analysis-started": ("analysis started",),
    "analysis-finished": ("analysis finished",),
    "resolution-has-errors": ("resolution has errors",),
    "download-requested": ("download requested",),
    "paused-by-user": ("paused by the user",),
    "resumed-by-user": ("resumed by the user",),
    "retry-requested": ("retry requested",),
    "cancelled-by-user": ("cancelled by the user",),
    "restarted-packing": ("server restarted: packing again",),
    "files-fetched": ("files fetched",),
    "archive-written": ("archive written", "archive written ({size} bytes)"),
}


# What the user can do next, beside an error (its ``hint``): by a code of its own, so the
# same advice given by several errors is worded once. Hints only the CLI or the service's
# start gives (``ferry fetch``, ``ferry token``, the settings file, the sandbox) are
# written out in English where they are raised: no web page shows them.
_EGRESS = (
    "The operator decides where the service fetches from: the configured indexes and "
    "registries, and the allowed_hosts setting."
)
_TLS = "If your network uses its own certificate authority, point Ferry at its CA bundle"

HINTS: dict[str, tuple[str, ...]] = {
    # the blob store (S3)
    "s3-credentials": (
        "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or write "
        "~/.aws/credentials.",
    ),
    "s3-endpoint": ("Check the s3_endpoint_url setting and that the server is up.",),
    "s3-bucket": ("Create it, or correct the blob_store setting (s3://bucket/prefix).",),
    "s3-region": ("Set s3_region to the bucket's region.",),
    "s3-access": (
        "Check the AWS credentials Ferry runs with (AWS_ACCESS_KEY_ID, AWS_PROFILE, "
        "~/.aws/credentials) and the bucket's policy.",
    ),
    "s3-part-size": ("Raise the s3_part_size setting.",),
    # tokens, roles and quotas
    "send-token": ("Send `Authorization: Bearer <token>`; `ferry token create` makes one.",),
    "new-token": ("Ask an admin for a new one (`ferry token create`).",),
    "token-expiry": ("Write a number and a unit: 45s, 90m, 12h, 30d or 2w.",),
    "token-name": (
        "{what=name}A name is 1-100 letters, digits, spaces or . _ @ + - and starts with a "
        "letter or digit.",
        "{what=owner}An owner is 1-100 letters, digits, spaces or . _ @ + - and starts with "
        "a letter or digit.",
    ),
    "token-list": ("`ferry token list` shows ids and names.",),
    "package-list": ("`GET /api/v1/packages` lists the packages there are.",),
    "package-exists": ("Upload it as another version, or delete the stored one first.",),
    "import-whole": (
        "Nothing of the bundle was kept. Bring an intact copy (check it with its own "
        "SHA256SUMS) and import it again.",
    ),
    "import-dir": (
        "Upload the bundle instead, or ask the operator to set import_dir (FERRY_IMPORT_DIR) "
        "to the directory that holds bundles.",
    ),
    "import-available": ("GET /api/imports/available lists the bundles there are.",),
    "token-revoke-by-id": ("Revoke one by id.",),
    "quota-active": ("Wait for one to finish, or cancel one.",),
    "quota-disk": ("Delete tasks whose archives you have taken.",),
    "quota-hourly": ("Try again later.",),
    # uploads and tasks
    "upload-short-name": ("Upload manifests by their own names, e.g. requirements.txt.",),
    "upload-plain-name": (
        "Upload manifests by their own names, e.g. requirements.txt or package.json.",
    ),
    "upload-accepted": (
        "Accepted: requirements*.txt, *.in, pyproject.toml, Pipfile, Pipfile.lock, "
        "package.json, package-lock.json, npm-shrinkwrap.json, .npmrc.",
    ),
    "upload-files": ("Send one or more manifests as 'files'.",),
    "task-not-found": (
        "It may have expired or been deleted; list tasks to see the ones there are.",
    ),
    "task-retry": ("Retry it; if it fails again, report the log to the operator.",),
    "queue-retry": ("Try again in a moment; if it goes on, the operator should check Redis.",),
    "task-disk": ("Raise task_disk_bytes, or split the manifests into several tasks.",),
    "torch-index": ("Ask the operator to configure one, or leave torch_backend unset.",),
    "registry-profiles": ("Profiles are the `registries` setting; `ferry config` lists them.",),
    # targets
    "platform-tag": ("Use a wheel platform tag such as {examples}.",),
    "choose-one": ("Choose one of {choices}.",),
    "pass-python": ("Pass --python, e.g. --python 3.12.",),
    "pass-platform": ("Pass --platform, e.g. --platform win_amd64.",),
    "libc": ("Use glibc or musl.",),
    # manifests
    "name-manifests": ("Name requirements.txt, package.json, …",),
    "name-files-in-directory": ("Name the manifest files in it.",),
    "accepted-names": ("accepted file names: {names}",),
    "declared-groups": ("ask only for groups the manifests declare",),
    "carry": (
        "Ferry carries files from a package index; a VCS checkout, an editable install or a "
        "local path cannot be carried to another machine. Build a wheel first (`uv build` or "
        "`pip wheel`), put it on an index or web server and list it by version or as "
        "`name @ https://host/name-1.0-py3-none-any.whl`.",
    ),
    "uploaded-local-path": (
        "Put the wheel on an index or web server the operator allows and list it by "
        "version or URL; or bundle with the ferry CLI on your own machine.",
    ),
    "name-at-url": ("write it as `name @ URL`",),
    "remote-include": ("download the file and include it by a local path",),
    "upload-included": ("Upload the included file together with this one.",),
    "no-dependencies": (
        "list the dependencies in [project].dependencies (PEP 621), [dependency-groups] "
        "(PEP 735) or [tool.poetry.dependencies]",
    ),
    "dynamic-dependencies": (
        "Ferry reads dependencies without running the build backend: list them statically "
        "in [project].dependencies, or hand Ferry a requirements file exported from the "
        "build (for example `uv pip compile pyproject.toml -o requirements.txt`)",
    ),
    "npm-workspaces": (
        "Bundle each workspace package's own package.json and lock, or the workspace "
        "root's package-lock.json together with its package.json.",
    ),
    "npm-lock-v1": (
        "Upgrade it with npm 7 or newer: `npm install --package-lock-only "
        "--lockfile-version 3`, then bundle the new lock.",
    ),
    "npm-links": ("Bundle a project without workspaces or file: links.",),
    "npm-names": ("Use package.json, package-lock.json, npm-shrinkwrap.json or .npmrc.",),
    "npmrc-alone": ("Bundle the .npmrc together with package.json (and its lock).",),
    # resolvers and their settings
    "resolve-cli": ("Run `ferry resolve` with the same arguments to see the tree.",),
    "reinstall-uv": ("Reinstall Ferry; uv is one of its dependencies.",),
    "install-npm": (
        "Install Node.js with npm (Debian: apt-get install nodejs npm), or set npm_binary.",
    ),
    "pip-cert": ("Fix `cert` in Ferry's settings or pip's configuration.",),
    "npm-cafile": ("Fix `cafile` in npm's configuration or `cert` in Ferry's.",),
    # where the service may fetch from
    "egress": (_EGRESS,),
    "egress-manifest": (_EGRESS + " Ask them, or bundle with the ferry CLI.",),
    "egress-aria2": ("Use fetch_backend = native for hosts on the allowed_hosts list.",),
    # downloads
    "retry": (
        "Check the network connection and proxy settings, then run again: files already "
        "fetched are kept, and unfinished ones resume where they stopped.",
    ),
    "integrity": (
        "The bytes served differ from what the index promised; do not install them. A "
        "proxy rewriting downloads or a mirror out of sync with its index are the usual "
        "causes.",
    ),
    "tls": (
        _TLS + " (the cert setting) or set SSL_CERT_FILE.",
        "{env=no}" + _TLS + " (the cert setting).",
    ),
    "http-denied": (
        "The server wants credentials or denies access: check the index URL, its "
        "credentials (netrc, keyring) and the proxy settings.",
    ),
    "http-gone": (
        "The file is no longer at this URL (deleted, or an index out of date); resolve "
        "again to pick a file that exists.",
    ),
    "http-other": ("Check the URL and that the server serves files directly.",),
    "url-schemes": ("Only http(s)://, file:// URLs and absolute paths can be fetched.",),
    "url-malformed": ("The URL of this file is malformed.",),
    "index-entry-malformed": (
        "The index entry for this file is malformed; report it to the index.",
    ),
    "url-redirects": ("Check the URL; it redirects in circles.",),
    "url-network": ("Check the URL and the network settings.",),
    "file-changing": ("Try again once the file on the server is no longer being replaced.",),
    "disk": ("Check free space and permissions of the destination.",),
    "file-share": ("Mount the share and use a local path instead.",),
    "file-readable": ("Check that the file exists and is readable.",),
    # the aria2 download backend
    "aria2-log": ("aria2c runs as a child of Ferry; see its log in the aria2 state directory.",),
    "aria2-removed": ("Run again; it resumes where it stopped.",),
    "aria2-file-gone": ("Something removed aria2's file before Ferry could check it; run again.",),
    "aria2-binary": ("Point {setting} at an executable aria2c, or unset it to use PATH.",),
    "aria2-install": (
        "Install aria2 (Debian: apt-get install aria2), set {setting} to its path, or use "
        "the native backend (fetch_backend = native).",
    ),
    "aria2-ca-file": ("Point the cert setting at a PEM bundle, or use the native backend.",),
    "aria2-not-running": ("Start the daemon first.",),
    "aria2-stopped": ("Start it again first.",),
    "aria2-restarts": ("See {log}, or use the native backend (fetch_backend = native).",),
    "aria2-start": ("Check {setting} and that {directory} is writable.",),
    "aria2-see-log": ("See {log}.", "See {log} and {config}."),
    # the archive
    "archive-paths": ("archive paths must be relative POSIX paths inside the bundle",),
    "archive-format": ("name the output *.zip, *.tar.gz (*.tgz) or *.tar.zst (*.tzst)",),
    "archive-output": ("check that the output directory exists and is writable",),
}


def names(template: str) -> frozenset[str]:
    """The parameters a template takes (values and conditions alike)."""
    return frozenset(m[1] for m in _TOKEN.finditer(template))


def _matches(template: str, params: Params) -> bool:
    if names(template) != params.keys():
        return False
    return all(m[2] is None or params[m[1]] == m[2] for m in _TOKEN.finditer(template))


def clean(params: Mapping[str, object | None]) -> Params:
    """Parameters as they are sent: strings, the ones given as None left out."""
    return {k: str(v) for k, v in params.items() if v is not None}


def render(code: str, templates: tuple[str, ...], params: Params) -> str:
    for template in templates:
        if _matches(template, params):
            return _TOKEN.sub(lambda m: "" if m[2] is not None else params[m[1]], template)
    raise ValueError(f"no text of {code!r} takes the parameters {sorted(params)}")


def problem_text(kind: str, params: Params) -> str:
    return render(kind, PROBLEMS[kind], params)


def error_text(code: str, params: Params) -> str:
    return render(code, ERRORS[code], params)


def event_text(code: str, params: Params) -> str:
    return render(code, EVENTS.get(code) or ERRORS[code], params)


def hint_text(code: str, params: Params) -> str:
    return render(code, HINTS[code], params)
