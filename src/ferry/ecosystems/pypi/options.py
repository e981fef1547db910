"""What a user may say about *how* Python packages are chosen, beyond what to install:
wheels or sources (pip's format control), a date to resolve as of, a PyTorch backend.

The same options come from requirements files (``--only-binary`` lines), the command line
and a service task's options; they are validated here, once, so every surface refuses the
same bad value with the same message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from packaging.utils import canonicalize_name

ALL = ":all:"
NONE = ":none:"

# uv's own list (`uv pip compile --help`), less "auto": that detects *this* machine's GPU,
# and the target is another machine.
_TORCH_BACKEND = re.compile(r"^(cpu|xpu|cu\d{3}|rocm\d+(\.\d+)*)$")
TORCH_PACKAGES = (
    # the packages uv routes to the PyTorch index (crates/uv-torch): the rest of that index
    # (jinja2, numpy, ...) must keep coming from the normal indexes
    "torch",
    "torchvision",
    "torchaudio",
    "torchtext",
    "torchdata",
    "torchserve",
    "torch-model-archiver",
    "torch-tb-profiler",
    "torcharrow",
    "torchcsprng",
    "torchdistx",
    "pytorch-triton",
    "pytorch-triton-rocm",
    "pytorch-triton-xpu",
    "triton",
)


class OptionError(ValueError):
    """A bad option value; ``field`` is the option's name as the user wrote it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


@dataclass(frozen=True)
class FormatControl:
    """pip's ``--no-binary`` / ``--only-binary``: names (canonical), ``:all:``, applied in
    order with pip's rules (a name moves from one set to the other; ``:all:`` clears both;
    ``:none:`` clears the set it is given to)."""

    no_binary: frozenset[str] = frozenset()
    only_binary: frozenset[str] = frozenset()

    def apply(self, option: str, value: str) -> FormatControl:
        if option not in ("--no-binary", "--only-binary"):
            raise OptionError(option, "not a format option")
        if not value or value.startswith("-"):
            raise OptionError(option, "needs a value: :all:, :none: or package names")
        target, other = (
            (set(self.no_binary), set(self.only_binary))
            if option == "--no-binary"
            else (set(self.only_binary), set(self.no_binary))
        )
        for item in (v.strip() for v in value.split(",")):
            if not item:
                continue
            if item == ALL:
                target.clear()
                other.clear()
                target.add(ALL)
            elif item == NONE:
                target.clear()
            elif not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", item):
                raise OptionError(option, f"{item!r} is not a package name")
            else:
                name = canonicalize_name(item)
                other.discard(name)
                target.add(name)
        if option == "--no-binary":
            return FormatControl(frozenset(target), frozenset(other))
        return FormatControl(frozenset(other), frozenset(target))

    def allows_wheel(self, name: str) -> bool:
        name = canonicalize_name(name)
        if name in self.only_binary:
            return True
        return name not in self.no_binary and ALL not in self.no_binary

    def allows_sdist(self, name: str) -> bool:
        name = canonicalize_name(name)
        if name in self.only_binary:
            return False
        if name in self.no_binary:
            return True
        return ALL not in self.only_binary

    def uv_args(self) -> list[str]:
        """uv spells them as pip does; ``:all:`` first, so a name given to the other option
        is the exception, as in pip."""
        args: list[str] = []
        for option, names in (("--no-binary", self.no_binary), ("--only-binary", self.only_binary)):
            for name in sorted(names, key=lambda n: n != ALL):
                args += [option, name]
        return args

    def __bool__(self) -> bool:
        return bool(self.no_binary or self.only_binary)


def parse_exclude_newer(value: str, field: str = "--exclude-newer") -> str:
    """An RFC 3339 timestamp or a date (midnight UTC at its start), as uv takes it; the
    normalised form is what uv gets and what the task records."""
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                raise OptionError(field, f"{value!r} has no time zone (add Z for UTC)")
    except ValueError as exc:
        if isinstance(exc, OptionError):
            raise
        raise OptionError(
            field, f"{value!r} is not a date (2024-03-01) or an RFC 3339 time"
        ) from None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_torch_backend(value: str, field: str = "--torch-backend") -> str:
    text = value.strip().lower()
    if text == "auto":
        raise OptionError(
            field,
            "'auto' would detect this machine's GPU, not the target's: name the target's "
            "backend (cpu, cu126, rocm6.3, xpu)",
        )
    if not _TORCH_BACKEND.fullmatch(text):
        raise OptionError(field, f"{value!r} is not a PyTorch backend (cpu, cu126, rocm6.3, xpu)")
    return text


@dataclass(frozen=True)
class PythonOptions:
    """How to choose, on top of what to install. Empty by default: pip's and uv's own
    behaviour (newest release, a wheel for the target when there is one)."""

    formats: FormatControl = field(default_factory=FormatControl)
    prefer_binary: bool = False
    exclude_newer: str | None = None
    torch_backend: str | None = None

    @classmethod
    def build(
        cls,
        *,
        only_binary: Iterable[str] = (),
        no_binary: Iterable[str] = (),
        prefer_binary: bool = False,
        exclude_newer: str | None = None,
        torch_backend: str | None = None,
    ) -> PythonOptions:
        formats = FormatControl()
        for value in no_binary:
            formats = formats.apply("--no-binary", value)
        for value in only_binary:
            formats = formats.apply("--only-binary", value)
        return cls(
            formats=formats,
            prefer_binary=prefer_binary,
            exclude_newer=parse_exclude_newer(exclude_newer) if exclude_newer else None,
            torch_backend=parse_torch_backend(torch_backend) if torch_backend else None,
        )

    def over(self, files: FileOptions) -> PythonOptions:
        """These options (the command line's, a task's) applied after the manifests' own
        lines, as pip applies its command line and then each requirements file: for a name
        both mention, the later word wins, and here that is the user's explicit one."""
        formats = FormatControl()
        for option, value in files.format_lines:
            formats = formats.apply(option, value)
        for option, names in (
            ("--no-binary", self.formats.no_binary),
            ("--only-binary", self.formats.only_binary),
        ):
            if names:
                formats = formats.apply(option, ",".join(sorted(names, key=lambda n: n != ALL)))
        return replace(
            self, formats=formats, prefer_binary=self.prefer_binary or files.prefer_binary
        )

    def with_only_binary(self, names: Iterable[str]) -> PythonOptions:
        """These options, with wheels required for ``names`` too (``--prefer-binary``'s
        second try)."""
        names = sorted(names)
        if not names:
            return self
        return replace(self, formats=self.formats.apply("--only-binary", ",".join(names)))

    def to_dict(self) -> dict[str, object]:
        return {
            "only_binary": sorted(self.formats.only_binary),
            "no_binary": sorted(self.formats.no_binary),
            "prefer_binary": self.prefer_binary,
            "exclude_newer": self.exclude_newer,
            "torch_backend": self.torch_backend,
        }


@dataclass
class FileOptions:
    """The format options requirements files wrote, in the order they wrote them."""

    format_lines: list[tuple[str, str]] = field(default_factory=list)
    prefer_binary: bool = False

    def merge(self, other: FileOptions) -> None:
        self.format_lines.extend(other.format_lines)
        self.prefer_binary = self.prefer_binary or other.prefer_binary
