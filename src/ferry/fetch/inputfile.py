"""Download lists for ``ferry fetch -i``, in aria2's input-file format.

People who fetch with aria2 already keep lists like this, so Ferry reads them as they are::

    # comment
    https://a/model.bin<TAB>https://mirror/model.bin     (URIs of one file: mirrors)
      out=model.bin
      dir=models
      checksum=sha-256=<hex>

Option lines start with white space and belong to the URI line above. ``out``, ``dir`` and
``checksum`` (sha-256, sha-512, sha-1) are understood; any other option is refused with its
line, since silently ignoring one (a header, a proxy) would fetch something else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ferry.errors import ManifestError
from ferry.store.cas import check_digest

__all__ = ["Entry", "parse_input_file"]

_CHECKSUM_ALGORITHMS = {"sha-256": "sha256", "sha-512": "sha512", "sha-1": "sha1"}
_KNOWN = ("out", "dir", "checksum")


@dataclass
class Entry:
    """One file to fetch: its URIs (the first, then mirrors) and where it goes."""

    uris: list[str]
    line: int
    out: str | None = None
    dir: str | None = None
    algorithm: str = "sha256"
    digest: str = ""
    options: dict[str, str] = field(default_factory=dict)


def parse_input_file(path: Path) -> list[Entry]:
    try:
        text = path.read_text("utf-8-sig")
    except OSError as exc:
        raise ManifestError(path, f"cannot read the input file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ManifestError(path, "not a text file (UTF-8 expected)") from exc
    entries: list[Entry] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if raw[0] in " \t":
            if not entries:
                raise ManifestError(path, "an option line before any URI", line=number)
            _option(path, number, entries[-1], stripped)
            continue
        uris = [u for u in raw.split("\t") if u.strip()]
        for uri in uris:
            if "://" not in uri and not Path(uri).is_absolute():
                raise ManifestError(
                    path, f"not a URL: {uri.strip()!r}", line=number, hint="Use http(s)://..."
                )
        entries.append(Entry([u.strip() for u in uris], number))
    return entries


def _option(path: Path, number: int, entry: Entry, text: str) -> None:
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not value:
        raise ManifestError(path, f"expected name=value, got {text!r}", line=number)
    if name not in _KNOWN:
        raise ManifestError(
            path,
            f"option {name!r} is not supported",
            line=number,
            hint=f"Supported options: {', '.join(_KNOWN)}.",
        )
    if name == "checksum":
        kind, _, digest = value.partition("=")
        algorithm = _CHECKSUM_ALGORITHMS.get(kind.lower())
        if algorithm is None:
            raise ManifestError(
                path,
                f"checksum type {kind!r} is not supported",
                line=number,
                hint="Use sha-256=<hex>, sha-512=<hex> or sha-1=<hex>.",
            )
        try:
            entry.digest = check_digest(digest.lower(), algorithm)
        except ValueError as exc:
            raise ManifestError(path, str(exc), line=number) from exc
        entry.algorithm = algorithm
    elif name == "out":
        entry.out = value
    else:
        entry.dir = value
    entry.options[name] = value
