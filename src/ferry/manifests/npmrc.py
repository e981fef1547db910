"""A project's `.npmrc`: the install settings it decides, its registries, never its secrets.

npm reads a project's `.npmrc` above the user's and the machine's, so a project that
needs `legacy-peer-deps=true` to install says so there. Ferry reads the file the way
npm's `ini` parser does (``key = value``, ``;``/``#`` comments, quoted values, ``key[]``
lists) but keeps only what decides what gets installed:

* install settings from an allow-list (``INSTALL_SETTINGS``), used for resolution and
  handed to `npm ci` on the target;
* ``registry`` and ``@scope:registry`` lines, which are sources like a requirements
  file's ``--index-url`` (the service checks them against its egress policy);
* credentials (``_authToken``, ``_auth``, ``_password``, ``username``, ``email``,
  certificates, every ``//host/:key`` line) are never used, never expanded and never
  carried: the copy in a bundle has them cut out.

Every other key (``cafile``, ``script-shell``, ``prefix``, ``node-options``, …) could make
npm read or run something of the machine it runs on; it is ignored and reported. So are
``omit``/``include``: what a bundle holds is Ferry's choice (``--group dev``), and `npm ci`
on the target must not ask for packages the bundle left out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ferry.errors import ManifestError

NPMRC_NAMES = (".npmrc", "npmrc")  # "npmrc": the name a browser's file picker can show

# key -> the values npm accepts (None: a date, checked apart)
_BOOLEAN = ("true", "false")
INSTALL_SETTINGS: dict[str, tuple[str, ...] | None] = {
    "legacy-peer-deps": _BOOLEAN,
    "strict-peer-deps": _BOOLEAN,
    "engine-strict": _BOOLEAN,
    "force": _BOOLEAN,
    "prefer-dedupe": _BOOLEAN,
    "install-links": _BOOLEAN,
    "install-strategy": ("hoisted", "nested", "shallow", "linked"),
    "legacy-bundling": _BOOLEAN,
    "global-style": _BOOLEAN,
    "ignore-scripts": _BOOLEAN,
    "before": None,
}
# read by npm when it writes a lock or talks to people, never by an install: ignored quietly
_HARMLESS = re.compile(
    r"^(save(-\w+)*|fund|audit(-level)?|progress|loglevel|color|update-notifier|"
    r"package-lock(-only)?|lockfile-version|init-[\w-]+|sign-git-\w+|message|"
    r"git-tag-version|commit-hooks|tag-version-prefix|unicode|usage|heading|"
    r"prefer-(online|offline)|offline|fetch-[\w-]+|maxsockets|timing)$"
)
_CREDENTIAL = re.compile(
    r"(^//)|(^|:|_)(_?auth(token)?|_?password|username|email|otp|certfile|keyfile|"
    r"always-auth|cert|key)$",
    re.IGNORECASE,
)
_SCOPED_REGISTRY = re.compile(r"^(@[a-z0-9][\w.-]*):registry$", re.IGNORECASE)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ][\d:.]+Z?)?$")


@dataclass(frozen=True)
class NpmrcLine:
    line: int
    key: str
    value: str


@dataclass
class ProjectNpmrc:
    path: Path
    settings: dict[str, NpmrcLine] = field(default_factory=dict)  # install settings, by key
    registry: NpmrcLine | None = None
    scoped: dict[str, NpmrcLine] = field(default_factory=dict)  # @scope -> line
    credentials: list[int] = field(default_factory=list)  # line numbers, values never kept
    ignored: list[NpmrcLine] = field(default_factory=list)
    carried: str = ""  # the file as given, credential lines cut out
    dropped: list[NpmrcLine] = field(default_factory=list)  # registry lines left out

    def setting(self, key: str) -> str | None:
        found = self.settings.get(key)
        return found.value if found is not None else None

    def flag(self, key: str) -> bool:
        return self.setting(key) == "true"

    def config_lines(self) -> list[str]:
        """The install settings as npmrc lines for npm's resolution run. Not engine-strict:
        npm would check engines against this machine's Node, and Ferry checks them against
        the target's instead (errors under engine-strict)."""
        return [
            f"{key}={item.value}" for key, item in self.settings.items() if key != "engine-strict"
        ]

    def cli_flags(self) -> list[str]:
        """The install settings as `npm ci` flags (what install.sh passes on the target)."""
        return [f"--{key}={item.value}" for key, item in self.settings.items()]

    def drop_registries(self) -> None:
        """Leave the registry lines out (``--ignore-manifest-indexes``), noting each."""
        self.dropped += [*filter(None, [self.registry]), *self.scoped.values()]
        self.registry = None
        self.scoped = {}


def is_npmrc(name: str) -> bool:
    return name in NPMRC_NAMES


def _unquote(value: str) -> str:
    """As npm's ini parser: a double-quoted value is JSON, a single-quoted one literal."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return value[1:-1]
        return parsed if isinstance(parsed, str) else value
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    return value


def _check_value(path: Path, number: int, key: str, value: str) -> str:
    allowed = INSTALL_SETTINGS[key]
    if allowed is None:  # before: a date
        if not _DATE.match(value):
            raise ManifestError(
                path, f"{key} = {value!r} is not a date (YYYY-MM-DD[THH:MM:SSZ])", line=number
            )
        return value
    if value.lower() not in allowed:
        raise ManifestError(
            path, f"{key} = {value!r} is not one of {', '.join(allowed)}", line=number
        )
    return value.lower()


def parse_npmrc(path: Path) -> ProjectNpmrc:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ManifestError(path, "file not found") from None
    except UnicodeDecodeError as exc:
        raise ManifestError(path, f"is not UTF-8 text (byte {exc.start})") from None
    result = ProjectNpmrc(path)
    carried: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith((";", "#")):
            carried.append(raw)
            continue
        if line.startswith("[") and line.endswith("]"):
            raise ManifestError(
                path, f"section {line} is not something npm reads in an .npmrc", line=number
            )
        key, sep, value = line.partition("=")
        key, value = key.strip(), _unquote(value.strip()) if sep else "true"
        key = key.removesuffix("[]")
        if _CREDENTIAL.search(key):
            # never read further, never carried: the value may be a token
            result.credentials.append(number)
            carried.append(f"; line {number}: a credential, left out by Ferry")
            continue
        carried.append(raw)
        if not key:
            raise ManifestError(path, f"line {number} has no key before '='", line=number)
        item = NpmrcLine(number, key, value)
        if "${" in value:
            # npm would expand it from the environment of whoever runs it; a bundle must
            # mean the same everywhere, and the service's environment is not a stranger's
            result.ignored.append(item)
            continue
        if key == "registry":
            result.registry = item
        elif (scope := _SCOPED_REGISTRY.match(key)) is not None:
            result.scoped[scope[1].lower()] = item
        elif key in INSTALL_SETTINGS:
            result.settings[key] = NpmrcLine(number, key, _check_value(path, number, key, value))
        elif not _HARMLESS.match(key):
            result.ignored.append(item)
    result.carried = "\n".join(carried) + ("\n" if carried else "")
    return result
