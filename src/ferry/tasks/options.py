"""What a task is asked to build: the seed's option fields plus the CLI's target options.

Validated strictly (unknown fields are refused by name) and turned into a BundlePlan.
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ferry.ecosystems.pypi.options import (
    FormatControl,
    OptionError,
    PythonOptions,
    parse_exclude_newer,
    parse_torch_backend,
)
from ferry.manifests.model import Selection


class TaskOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    npm: bool = True
    pypi: bool = True
    node_version: str | None = Field(None, description="Node major version, e.g. '20'.")
    python_version: str | None = Field(None, description="One Python version, e.g. '3.12'.")
    python_versions: list[str] = Field(default_factory=list, description="Several versions.")
    platforms: list[str] = Field(default_factory=list, description="Python platform tags.")
    os: str | None = Field(None, description="npm target os: linux, win32, darwin.")
    cpu: str | None = Field(None, description="npm target cpu: x64, arm64.")
    libc: str | None = Field(None, description="npm target libc on linux: glibc, musl.")
    format: Literal["zip", "tar.gz", "tar.zst"] = "zip"
    groups: list[str] = Field(default_factory=list, description="Extras / dependency groups.")
    all_groups: bool = False
    all_platforms: bool = Field(False, description="Keep npm optional packages for all.")
    auto_download: bool = Field(False, description="Start downloading once resolved.")
    limit_rate: int | None = Field(
        None, ge=1, description="This task's bandwidth in bytes/s (or e.g. '10M'); none if unset."
    )

    only_binary: list[str] = Field(
        default_factory=list,
        description="Wheels only: ':all:' or package names (pip's --only-binary).",
    )
    no_binary: list[str] = Field(
        default_factory=list, description="sdists only: ':all:' or package names."
    )
    prefer_binary: bool = Field(
        False, description="An older release with a wheel over a newer sdist-only one."
    )
    exclude_newer: str | None = Field(
        None, description="Resolve as of this date (2024-03-01) or RFC 3339 time."
    )
    torch_backend: str | None = Field(
        None, description="PyTorch build for the target: cpu, cu126, rocm6.3, xpu."
    )
    registry: str | None = Field(
        None,
        max_length=100,
        description="A source profile the operator configured (GET /api/registries).",
    )
    ignore_manifest_indexes: bool = Field(
        False, description="Leave out the manifests' own index lines and Pipfile sources."
    )

    @field_validator("only_binary", "no_binary")
    @classmethod
    def _formats(cls, values: list[str], info: ValidationInfo) -> list[str]:
        option = "--only-binary" if info.field_name == "only_binary" else "--no-binary"
        for value in values:
            try:
                FormatControl().apply(option, value)
            except OptionError as exc:
                raise ValueError(exc.reason) from None
        return values

    @field_validator("exclude_newer")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return parse_exclude_newer(value)
        except OptionError as exc:
            raise ValueError(exc.reason) from None

    @field_validator("torch_backend")
    @classmethod
    def _torch(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return parse_torch_backend(value)
        except OptionError as exc:
            raise ValueError(exc.reason) from None

    @property
    def python_options(self) -> PythonOptions:
        return PythonOptions.build(
            only_binary=self.only_binary,
            no_binary=self.no_binary,
            prefer_binary=self.prefer_binary,
            exclude_newer=self.exclude_newer,
            torch_backend=self.torch_backend,
        )

    @field_validator("limit_rate", mode="before")
    @classmethod
    def _rate(cls, value: object) -> object:
        if isinstance(value, str):
            from ferry.fetch.ratelimit import parse_rate

            return parse_rate(value) or None
        return value

    @model_validator(mode="after")
    def _some_ecosystem(self) -> TaskOptions:
        if not (self.npm or self.pypi):
            raise ValueError("at least one of 'npm' and 'pypi' must be true")
        return self

    @property
    def pythons(self) -> list[str]:
        versions = list(self.python_versions)
        if self.python_version and self.python_version not in versions:
            versions.insert(0, self.python_version)
        return versions

    @property
    def selection(self) -> Selection:
        return Selection(frozenset(self.groups), self.all_groups)
