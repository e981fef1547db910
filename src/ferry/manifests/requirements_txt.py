"""pip's requirements file format, plus the PEP 508 helpers every other format shares."""

from __future__ import annotations

import codecs
import os
import re
import shlex
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)

from ferry.ecosystems.pypi.options import FormatControl, OptionError
from ferry.errors import Hint, IncludeLoopError, ManifestError, UnsupportedRequirementError
from ferry.manifests.model import (
    TRUSTED,
    InputRules,
    Origin,
    PyRequirement,
    PythonInput,
    Selection,
)

CARRY_HINT = Hint("carry")
_ARCHIVES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tar")
_VCS_SCHEMES = ("git", "hg", "svn", "bzr")
_VCS_RE = re.compile(r"^(git|hg|svn|bzr)\+", re.IGNORECASE)
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")
_DIRECT_RE = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?)\s*@\s*(?P<target>.+)$"
)
_PATH_RE = re.compile(r"^(\.|/|~|\\|[A-Za-z]:[\\/])")
# pip's own patterns: a comment starts a line or follows whitespace; only ${UPPER_CASE}.
_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
_ENV_RE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)\}")
_HASH_RE = re.compile(r"^(sha256|sha384|sha512):[0-9a-fA-F]+$")


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(path, "file not found") from None
    except IsADirectoryError:
        raise ManifestError(path, "is a directory, not a manifest file") from None
    except OSError as exc:
        raise ManifestError(path, f"cannot be read: {exc.strerror or exc}") from exc


def and_markers(*markers: str | None) -> str | None:
    parts = [m.strip() for m in markers if m and m.strip()]
    if len(parts) <= 1:
        return parts[0] if parts else None
    return " and ".join(f"({p})" for p in parts)


def assemble(
    name: str,
    *,
    extras: Sequence[str] = (),
    specifier: str = "",
    url: str | None = None,
    marker: str | None = None,
) -> str:
    text = name + (f"[{','.join(extras)}]" if extras else "")
    # A space must separate a URL from the marker's semicolon.
    text += f" @ {url} " if url else specifier
    return (text + (f"; {marker}" if marker else "")).strip()


def build_requirement(
    text: str, path: Path, line: int | None, *, local_paths: bool = True
) -> Requirement:
    """A PEP 508 string as a Requirement, refusing what cannot be carried to another machine
    (and, with ``local_paths=False``, any local path, unlooked at)."""
    text = text.strip()
    if _VCS_RE.match(text):
        raise _unsupported(path, line, f"VCS requirement {text!r} cannot be carried")
    head, semi, marker = text.partition(";")
    direct = _DIRECT_RE.match(head)
    name, target = (direct["name"], direct["target"]) if direct else ("", head)
    if not local_paths and _is_local(target.strip()):
        raise _no_local(path, line, target.strip())
    local = _local_archive(target.strip(), path, line)
    if local is not None:
        name = name.strip() or _name_from_url(local, path, line)
        return Requirement(f"{name} @ {local}" + (f" ; {marker.strip()}" if semi else ""))
    if _URL_RE.match(text):
        check_url(text, path, line)
        text = f"{_name_from_url(text, path, line)} @ {text}"
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise ManifestError(path, str(exc), line=line) from exc
    if req.url:
        if not local_paths and _is_local(req.url):
            raise _no_local(path, line, req.url)
        local = _local_archive(req.url, path, line)
        if local is not None:
            return Requirement(str(req).replace(req.url, local, 1))
        check_url(req.url, path, line)
    return req


def _is_local(target: str) -> bool:
    return (
        target.lower().startswith("file:")
        or bool(_PATH_RE.match(target))
        or (target.lower().endswith(_ARCHIVES) and "://" not in target)
    )


def _no_local(path: Path, line: int | None, target: str) -> UnsupportedRequirementError:
    return UnsupportedRequirementError(
        path,
        f"local path {target[:200]!r}: a manifest uploaded to the service cannot name files "
        "on the server",
        line=line,
        hint=Hint("uploaded-local-path"),
    )


def _local_archive(target: str, path: Path, line: int | None) -> str | None:
    """A local wheel or sdist the user listed, as an absolute file URL; None if ``target``
    is not a local path. A built archive can be carried (it is bundled like any other
    file); a project directory cannot without a build on this machine."""
    if target.lower().startswith("file:"):
        local = Path(unquote(urlsplit(target).path))
    elif _PATH_RE.match(target) or (target.lower().endswith(_ARCHIVES) and "://" not in target):
        local = Path(target).expanduser()
    else:
        return None
    if not local.name.lower().endswith(_ARCHIVES):
        raise _unsupported(path, line, f"local path {target!r} cannot be carried")
    if not local.is_absolute():
        local = path.parent / local
    if not local.is_file():
        raise ManifestError(path, f"local file {target!r} does not exist", line=line)
    return local.resolve().as_uri()


def check_url(url: str, path: Path, line: int | None) -> None:
    scheme = urlsplit(url).scheme.lower()
    if "+" in scheme or scheme in _VCS_SCHEMES:
        raise _unsupported(path, line, f"VCS requirement {url!r} cannot be carried")
    if scheme in ("", "file") or len(scheme) == 1:
        raise _unsupported(path, line, f"local path {url!r} cannot be carried")
    if scheme not in ("http", "https"):
        raise _unsupported(path, line, f"URL scheme {scheme!r} in {url!r} is not http(s)")
    if not urlsplit(url).path.lower().endswith(_ARCHIVES):
        raise _unsupported(path, line, f"URL {url!r} points at neither a wheel nor an sdist")


def _unsupported(path: Path, line: int | None, reason: str) -> UnsupportedRequirementError:
    return UnsupportedRequirementError(path, reason, line=line, hint=CARRY_HINT)


def _name_from_url(url: str, path: Path, line: int | None) -> str:
    parts = urlsplit(url)
    egg = re.search(r"(?:^|&)egg=([A-Za-z0-9._-]+)", parts.fragment)
    if egg:
        return egg.group(1)
    filename = unquote(parts.path.rsplit("/", 1)[-1])
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[0])
        return str(parse_sdist_filename(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename):
        raise ManifestError(
            path,
            f"cannot tell the project name from URL {url!r}",
            line=line,
            hint=Hint("name-at-url"),
        ) from None


def decode_text(data: bytes, path: Path, what: str) -> str:
    # pip honours a byte-order mark; anything else must be UTF-8.
    boms = (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    )
    encoding = next((enc for bom, enc in boms if data.startswith(bom)), "utf-8")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ManifestError(path, f"is not a text {what} (not UTF-8)", line=line) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ManifestError(path, f"is not a text {what} (binary data)", line=line)
    return text


def logical_lines(text: str, *, expand_env: bool = True) -> Iterator[tuple[int, str]]:
    """(first physical line number, content) with continuations joined and comments gone;
    ``${VAR}`` expanded from the environment as pip does, unless ``expand_env`` is False."""
    joined: list[str] = []
    first = 0
    for number, raw in enumerate(text.splitlines(), 1):
        is_comment = _COMMENT_RE.match(raw) is not None
        if raw.endswith("\\") and not is_comment:
            if not joined:
                first = number
            joined.append(raw.strip("\\"))
            continue
        if joined:
            joined.append(" " + raw if is_comment else raw)
            yield first, _clean("".join(joined), expand_env)
            joined = []
        else:
            yield number, _clean(raw, expand_env)
    if joined:
        yield first, _clean("".join(joined), expand_env)


def _clean(line: str, expand_env: bool) -> str:
    line = _COMMENT_RE.sub("", line).strip()
    if not expand_env:
        return line  # a stranger's file: the server's environment is not theirs to read
    return _ENV_RE.sub(lambda m: os.environ.get(m.group("name"), m.group(0)), line)


Handler = Callable[["_Reader", Path, int, str], None]


@dataclass(frozen=True)
class _Option:
    takes_value: bool
    handler: Handler


@dataclass
class _Reader:
    out: PythonInput
    rules: InputRules = TRUSTED
    stack: list[Path] = field(default_factory=list)
    done: set[tuple[Path, bool]] = field(default_factory=set)

    def read(self, path: Path, *, constraint: bool) -> None:
        key = (path.resolve(), constraint)
        if key in self.done:
            return
        self.done.add(key)
        text = decode_text(read_bytes(path), path, "requirements file")
        self.out.files.append(path)
        self.stack.append(path.resolve())
        for number, line in logical_lines(text, expand_env=not self.rules.confined):
            if line.startswith("-"):
                for name, value in _split_options(line, _OPTIONS, path, number):
                    _OPTIONS[name].handler(self, path, number, value)
            elif line:
                self._requirement(path, number, line, constraint)
        self.stack.pop()

    def include(self, path: Path, line: int, value: str, *, constraint: bool) -> None:
        if _URL_RE.match(value):
            raise ManifestError(
                path,
                f"remote include {value!r} is not supported",
                line=line,
                hint=Hint("remote-include"),
            )
        if self.rules.confined_to is not None:
            target = self._uploaded(path, line, value, self.rules.confined_to)
        else:
            target = path.parent / value
        resolved = target.resolve()
        if resolved in self.stack:
            chain = [p.name for p in self.stack[self.stack.index(resolved) :]]
            raise IncludeLoopError(
                path,
                f"including {value!r} forms a loop: {' -> '.join([*chain, resolved.name])}",
                line=line,
            )
        if not target.is_file():
            raise ManifestError(path, f"included file {value!r} not found ({target})", line=line)
        self.read(target, constraint=constraint)

    @staticmethod
    def _uploaded(path: Path, line: int, value: str, uploads: Path) -> Path:
        """The uploaded file ``value`` names; anything else is refused without looking at
        it (and without quoting anything but the manifest's own words)."""
        name = value.removeprefix("./")
        target = uploads / name
        if "/" in name or "\\" in name or name in ("", ".", "..") or not target.is_file():
            raise ManifestError(
                path,
                f"{value[:200]!r} is not one of the files uploaded with this task",
                line=line,
                hint=Hint("upload-included"),
            )
        return target

    def _requirement(self, path: Path, line: int, text: str, constraint: bool) -> None:
        spec, rest = _break_args_options(text)
        hashes: list[str] = []
        for name, value in _split_options(rest, _REQ_OPTIONS, path, line):
            if name == "--hash":
                if not _HASH_RE.match(value):
                    raise ManifestError(
                        path,
                        f"--hash={value} is not `sha256:<hex>` (or sha384 / sha512)",
                        line=line,
                    )
                hashes.append(value.lower())
            else:
                _REQ_OPTIONS[name].handler(self, path, line, value)
        req = build_requirement(spec, path, line, local_paths=not self.rules.confined)
        item = PyRequirement(req, Origin(path, line), tuple(hashes))
        (self.out.constraints if constraint else self.out.requirements).append(item)


def _break_args_options(line: str) -> tuple[str, str]:
    """pip's split: the requirement runs up to the first space-separated token starting '-'."""
    tokens = line.split(" ")
    for i, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(tokens[:i]), " ".join(tokens[i:])
    return line, ""


def _split_options(
    text: str, known: dict[str, _Option], path: Path, line: int
) -> Iterator[tuple[str, str]]:
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise ManifestError(path, f"cannot split options: {exc}", line=line) from None
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if not token.startswith("-"):
            raise ManifestError(path, f"unexpected argument {token!r}", line=line)
        if token.startswith("--"):
            name, eq, value = token.partition("=")
            name = _expand_long(name, known, path, line)
            has_value = bool(eq)
        else:
            name, value = token[:2], token[2:]
            has_value = bool(value)
        option = known.get(name)
        if option is None:
            raise ManifestError(path, f"unknown option {name}", line=line)
        if option.takes_value and not has_value:
            if i >= len(tokens):
                raise ManifestError(path, f"option {name} needs a value", line=line)
            value, i = tokens[i], i + 1
        elif not option.takes_value and has_value:
            raise ManifestError(path, f"option {name} takes no value", line=line)
        yield name, value


def _expand_long(name: str, known: dict[str, _Option], path: Path, line: int) -> str:
    # optparse, which pip uses, accepts any unambiguous prefix of a long option.
    if name in known:
        return name
    matches = [k for k in known if k.startswith("--") and k.startswith(name)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ManifestError(
            path, f"ambiguous option {name} (could be {', '.join(matches)})", line=line
        )
    raise ManifestError(path, f"unknown option {name}", line=line)


def _requirement_opt(r: _Reader, path: Path, line: int, value: str) -> None:
    r.include(path, line, value, constraint=False)


def _constraint_opt(r: _Reader, path: Path, line: int, value: str) -> None:
    r.include(path, line, value, constraint=True)


def _editable_opt(r: _Reader, path: Path, line: int, value: str) -> None:
    raise _unsupported(path, line, f"editable requirement '-e {value}' cannot be carried")


def _index_opt(r: _Reader, path: Path, line: int, value: str) -> None:
    r.out.index_url = value
    r.out.url_origins.setdefault(value, Origin(path, line))


def _extra_index_opt(r: _Reader, path: Path, line: int, value: str) -> None:
    if value not in r.out.extra_index_urls:
        r.out.extra_index_urls.append(value)
    r.out.url_origins.setdefault(value, Origin(path, line))


def _find_links_opt(r: _Reader, path: Path, line: int, value: str) -> None:
    if r.rules.confined and not _URL_RE.match(value):
        raise _no_local(path, line, value)
    local = path.parent / value
    if not _URL_RE.match(value) and local.exists():
        value = str(local)
    if value not in r.out.find_links:
        r.out.find_links.append(value)
    r.out.url_origins.setdefault(value, Origin(path, line))


def _format_opt(option: str) -> Handler:
    def handler(r: _Reader, path: Path, line: int, value: str) -> None:
        try:
            FormatControl().apply(option, value)  # refuse a bad value here, naming the line
        except OptionError as exc:
            raise ManifestError(path, str(exc), line=line) from None
        r.out.file_options.format_lines.append((option, value))

    return handler


def _prefer_binary_opt(r: _Reader, path: Path, line: int, value: str) -> None:
    r.out.file_options.prefer_binary = True


def _pre_opt(r: _Reader, path: Path, line: int, value: str) -> None:
    r.out.allow_prereleases = True


def _note(name: str) -> Handler:
    def handler(r: _Reader, path: Path, line: int, value: str) -> None:
        r.out.notes.append(f"{path}:{line}: {' '.join(filter(None, (name, value)))} is not applied")

    return handler


def _options_table() -> dict[str, _Option]:
    with_value = {
        ("-r", "--requirement"): _requirement_opt,
        ("-c", "--constraint"): _constraint_opt,
        ("-e", "--editable"): _editable_opt,
        ("-i", "--index-url"): _index_opt,
        ("--extra-index-url",): _extra_index_opt,
        ("-f", "--find-links"): _find_links_opt,
    }
    table: dict[str, _Option] = {}
    for names, handler in with_value.items():
        table.update((n, _Option(True, handler)) for n in names)
    for n in ("--only-binary", "--no-binary"):
        table[n] = _Option(True, _format_opt(n))
    for n in ("--trusted-host", "--use-feature"):
        table[n] = _Option(True, _note(n))
    for n in ("--no-index", "--require-hashes"):
        table[n] = _Option(False, _note(n))
    table["--prefer-binary"] = _Option(False, _prefer_binary_opt)
    table["--pre"] = _Option(False, _pre_opt)
    return table


_OPTIONS = _options_table()
# --hash is read by _Reader._requirement itself; the others only leave a note.
_REQ_OPTIONS = {
    n: _Option(True, _note(n)) for n in ("--hash", "--config-settings", "--global-option")
}


def parse(path: Path, selection: Selection, rules: InputRules = TRUSTED) -> PythonInput:
    out = PythonInput()
    _Reader(out, rules).read(path, constraint=False)
    return out


def parse_constraints(path: Path, selection: Selection, rules: InputRules = TRUSTED) -> PythonInput:
    out = PythonInput()
    _Reader(out, rules).read(path, constraint=True)
    return out


def with_marker(req: Requirement, marker: str | None, path: Path, line: int | None) -> Requirement:
    """The same requirement, narrowed by another marker (AND)."""
    if not marker:
        return req
    combined = and_markers(str(req.marker) if req.marker else None, marker)
    text = assemble(
        req.name,
        extras=sorted(req.extras),
        specifier=str(req.specifier),
        url=req.url,
        marker=combined,
    )
    return build_requirement(text, path, line)
