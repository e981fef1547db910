"""Ferry's one typed settings object.

Built once at the edge (the CLI root, later ``create_app(settings)``) and passed down; there
is no module-level instance. Sources, highest first: explicit arguments, ``FERRY_*``
environment variables, the TOML settings file (``--config``, ``FERRY_CONFIG``, or
``<user config dir>/ferry/ferry.toml``), defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ferry.errors import ConfigError, Hint


def default_config_file() -> Path:
    return Path(platformdirs.user_config_dir("ferry")) / "ferry.toml"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("ferry"))


class RegistryProfile(BaseModel):
    """One named set of sources (seed 000's phase 4: a team's Nexus, a public index, a
    regional mirror). Picked, it is the whole Python index set and the npm registry."""

    model_config = ConfigDict(extra="forbid")

    index_url: str | None = Field(None, description="Primary Python index.")
    extra_index_urls: list[str] = Field(default_factory=list)
    find_links: list[str] = Field(default_factory=list)
    npm_registry: str | None = Field(None, description="npm registry.")
    description: str = Field("", description="What it is, for people choosing it.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FERRY_", extra="forbid")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the content cache, uv's cache, the database and bundles live.",
    )

    # Registry overrides. Unset means: take what the machine's pip / uv configuration says.
    index_url: str | None = Field(None, description="Primary Python index (PEP 503/691).")
    extra_index_urls: list[str] = Field(default_factory=list)
    find_links: list[str] = Field(default_factory=list)
    cert: Path | None = Field(None, description="CA bundle for HTTPS to the index.")
    proxy: str | None = None
    use_machine_config: bool = Field(
        True, description="Read index URLs, cert and proxy from pip's and uv's configuration."
    )

    # Fetch engine.
    # Measured (bench/RESULTS.md): past ~8 connections the HTTP client's pool bookkeeping
    # costs more CPU than the extra parallelism saves on a fast link; slow, high-latency
    # links may want more.
    concurrency: int = Field(8, ge=1, le=256)
    retries: int = Field(4, ge=0, le=20)
    timeout: float = Field(60.0, gt=0)
    metadata_range_min_bytes: int = Field(
        4 * 1024 * 1024,
        ge=0,
        description="Wheels this big without PEP 658 metadata are read by Range, not downloaded.",
    )
    http2: bool = Field(
        False,
        description="HTTP/2 where servers offer it, for index requests and downloads (off: "
        "HTTP/1.1 streams faster here, and httpx's HTTP/2 failed under many streams).",
    )
    segments: int = Field(
        8, ge=1, le=64, description="Connections one large file is fetched over at once."
    )
    segment_min_size: int = Field(
        16 * 1024 * 1024,
        ge=64 * 1024,
        description="A file is split only so far that each connection gets at least this.",
    )
    split_below_rate: int = Field(
        128 * 1024 * 1024,
        ge=0,
        description="A large file starts on one connection, and the others join only while "
        "it brings fewer bytes/s than this: where one connection is as fast as the machine "
        "takes bytes, more only cost CPU. 0 splits every large file at once.",
    )
    stall_timeout: float = Field(
        15.0,
        gt=0,
        description="Seconds a connection may deliver nothing mid-body before its range is "
        "resumed on a fresh connection (curl's --speed-time, aria2's --timeout).",
    )
    max_connections: int = Field(16, ge=1, le=512, description="Connections, all hosts.")
    max_connections_per_host: int = Field(16, ge=1, le=512)
    limit_rate: int = Field(
        0, ge=0, description="Bytes per second for all downloads together (0: no limit)."
    )
    mirrors: dict[str, list[str]] = Field(
        default_factory=dict,
        description="URL prefix -> mirror prefixes tried in order when a download fails.",
    )
    fetch_backend: Literal["native", "aria2"] = Field(
        "native",
        description="What downloads every file (bundles, the service, ferry fetch): "
        "Ferry's own engine, or aria2c driven over JSON-RPC.",
    )
    aria2_binary: Path | None = Field(None, description="aria2c to run; default: on PATH.")

    # Blob store (docs/decisions.md, "The blob store"). Credentials are not settings: they
    # come from the AWS variables and files, through the S3 client's own chain.
    blob_store: str = Field(
        "",
        description="Where blobs are kept: empty for the data directory, or "
        "s3://bucket/prefix for an S3-compatible bucket.",
    )
    s3_endpoint_url: str | None = Field(
        None, description="The S3 server (MinIO, SeaweedFS, Ceph, ...); default: AWS S3."
    )
    s3_region: str | None = Field(None, description="The bucket's region; default: AWS's.")
    s3_part_size: int = Field(
        16 * 1024**2,
        ge=5 * 1024**2,
        le=5 * 1024**3,
        description="Bytes per multipart-upload part: each writer holds about one in "
        "memory, and a streamed blob may have at most 10,000 of them.",
    )
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto",
        description="Bucket in the path or in the host name; auto: path with "
        "s3_endpoint_url, else the client's choice.",
    )

    registries: dict[str, RegistryProfile] = Field(
        default_factory=dict,
        description="Named source profiles a bundle or task may pick (--registry NAME).",
    )
    registry: str | None = Field(
        None, description="The profile in force (a name from `registries`); none: the above."
    )
    ignore_manifest_indexes: bool = Field(
        False,
        description="Leave out the manifests' own index lines (requirements -i/--extra-index-url"
        "/--find-links, Pipfile [[source]]).",
    )
    torch_index: str | None = Field(
        None,
        description="PyTorch's wheel index for --torch-backend (a mirror), with {backend} "
        "where cpu, cu126, ... goes; default: uv's own.",
    )
    npm_registry: str | None = Field(None, description="npm registry; default: npm's config.")
    npm_binary: Path | None = Field(None, description="npm to run; default: the one on PATH.")
    uv_binary: Path | None = Field(
        None, description="uv to run; default: the one installed with Ferry."
    )

    # Service (`ferry serve`).
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    database_url: str | None = Field(None, description="Default: SQLite in the data directory.")
    ui_dir: Path | None = Field(
        None, description="Built web UI; default: web/dist of the checkout."
    )
    max_concurrent_tasks: int = Field(5, ge=1, le=100, description="Others queue, in order.")
    task_timeout: float = Field(1800.0, gt=0, description="Seconds a task may run.")
    task_disk_bytes: int = Field(2 * 1024**3, gt=0, description="Largest archive per task.")
    upload_max_bytes: int = Field(1024 * 1024, gt=0, description="Largest uploaded file.")
    package_max_bytes: int = Field(
        8 * 1024**3, gt=0, description="Largest file uploaded to the package store."
    )
    package_direct_upload: bool = Field(
        True,
        description="With blob_store in a bucket that checks digests: clients PUT package "
        "files straight into it (a presigned URL), not through the service. Turn off when "
        "clients cannot reach s3_endpoint_url.",
    )
    task_expiry: float = Field(86400.0, gt=0, description="Seconds before a task is removed.")
    cleanup_interval: float = Field(600.0, gt=0, description="Seconds between cleanups.")
    cache_max_bytes: int = Field(
        20 * 1000**3,
        ge=0,
        description='Bytes the cache of fetched files may hold ("20G" works too); the least '
        "recently used go first, after every bundle and at every cleanup. 0: no limit.",
    )
    import_upload_max_bytes: int = Field(
        100 * 1000**3,
        gt=0,
        description='Largest bundle POST /api/imports takes ("100G" works too).',
    )
    registry_anonymous_read: bool = Field(
        False,
        description="Let anyone read the registries (/simple/, /npm/) without a token, as "
        "an index inside a closed network often is; writing always needs one.",
    )
    import_max_bytes: int = Field(
        200 * 1000**3,
        gt=0,
        description='Bytes a bundle given to `ferry import` may unpack to ("200G" works '
        "too): a bundle that claims to be small but inflates past this is refused.",
    )
    import_dir: Path | None = Field(
        None,
        description="A directory on the server's own disk whose bundles an admin may import "
        'by name (POST /api/imports with {"path": NAME}; GET /api/imports/available lists '
        "them), imported in place, without an upload: for bundles carried in on a disk. "
        "Only plain file names directly in it are taken, never a link leading out of it. "
        "Unset (the default): importing from the server's disk is off, only uploads are.",
    )
    shared_cache: bool = Field(
        True,
        description="With blob_store in a bucket: fetched files are also kept under its "
        "cache/ prefix and looked for there before any registry, so machines sharing the "
        "bucket fetch each file once.",
    )
    cache_min_age: float = Field(
        3600.0,
        ge=0,
        description="Seconds a cached file is kept after its last use whatever the cap, so "
        "that a bundle under way keeps its files; keep it above task_timeout.",
    )
    blob_staging_max_age: float = Field(
        3600.0,
        ge=0,
        description="Seconds after which what an interrupted upload left in the blob store "
        "(staging files, unfinished S3 uploads) is removed, at start and at every cleanup.",
    )
    hf_endpoint: str | None = Field(
        None,
        description="A Hugging Face-compatible endpoint `ferry models pull` fetches from "
        "(HF_ENDPOINT overrides it); none by default.",
    )
    model_upload_max_age: float = Field(
        7 * 24 * 3600.0,
        gt=0,
        description="Seconds a file uploaded for a model version that is never published "
        "is kept (sending tens of gigabytes may take a while); then it is released.",
    )
    torrent_min_size: int = Field(
        8 << 20,
        ge=0,
        description="Bytes from which a model file gets a torrent (peer-to-peer); smaller "
        "ones come faster over one HTTP request.",
    )
    tracker_interval: int = Field(
        300,
        ge=1,
        le=3600,
        description="Seconds the tracker asks peers to wait between announces (libtorrent "
        "waits at least 300 whatever it is told); a peer silent for three intervals leaves "
        "its swarm.",
    )

    # Scale-out (docs/decisions.md, "The job engine"): tasks on workers, not in the API.
    task_queue: str = Field(
        "",
        description="Empty (the default): tasks run inside `ferry serve`. A redis:// URL: "
        "tasks go to `ferry worker` processes through that Redis (Dramatiq), and task "
        "events reach every API replica through its pub/sub. Every replica and worker then "
        "needs the same database_url, blob_store (a bucket) and secret_key.",
    )
    task_queue_prefix: str = Field(
        "ferry",
        pattern=r"^[A-Za-z0-9_.-]{1,40}$",
        description="What Ferry's queue, channels and keys in that Redis are named after: "
        "two Ferry services can share one Redis under different prefixes.",
    )
    worker_heartbeat_timeout: float = Field(
        20.0,
        ge=5,
        description="Seconds without a heartbeat after which a worker is taken for dead and "
        "its tasks are given to another.",
    )
    task_lease_seconds: float = Field(
        30.0,
        ge=5,
        description="A worker holds each task it runs for this long and renews it every "
        "third of it; a task whose holder stopped renewing may be taken by another worker.",
    )

    # Who may use the service (docs/decisions.md, "Trust").
    no_auth: bool = Field(
        False,
        description="Serve without tokens (everyone is admin). Refused unless the service "
        "listens on a loopback address.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Web origins (scheme://host[:port]) whose pages may call the API; "
        "none by default.",
    )
    secret_key: str | None = Field(
        None,
        description="Signs archive links; replicas must share it. Default: a random key "
        "kept in the data directory.",
    )
    archive_link_ttl: float = Field(
        900.0, gt=0, le=86400, description="Seconds a signed archive link stays valid."
    )
    token_max_active_tasks: int | None = Field(
        5, ge=1, description="Tasks one token may have queued or at work (None: no limit)."
    )
    token_max_tasks_per_hour: int | None = Field(
        60, ge=1, description="Tasks one token may create per hour (None: no limit)."
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts (host, host:port or *.domain) a service task's manifests may "
        "fetch from, besides the configured indexes and registries.",
    )
    allowed_networks: list[str] = Field(
        default_factory=list,
        description="Non-public address ranges (CIDR) an allowed host may resolve to.",
    )
    resolve_builds: Literal["sandbox", "never"] = Field(
        "sandbox",
        description="Whether a service task's uv may build sdists to read their metadata "
        "(in the sandbox), or never (such packages are reported instead).",
    )
    resolver_sandbox: Literal["bwrap", "none"] = Field(
        "bwrap",
        description="What a service task's uv and npm run in: bubblewrap, or nothing "
        "(only for a service that takes no stranger's files).",
    )
    sandbox_dir: Path | None = Field(
        None,
        description="The sandbox's caches and scratch directories; default: one per data "
        "directory in the system's temporary directory.",
    )
    sandbox_python: Path | None = Field(
        None,
        description="The Python the sandbox runs (its bridge, uv's builds); default: Ferry's "
        "own, else the system's python3.",
    )
    token_max_disk_bytes: int | None = Field(
        20 * 1024**3, ge=1, description="Archive bytes one token may keep (None: no limit)."
    )

    @field_validator("registries")
    @classmethod
    def _profile_names(cls, value: dict[str, RegistryProfile]) -> dict[str, RegistryProfile]:
        for name in value:
            if not name or not all(c.isalnum() or c in "-_." for c in name):
                raise ValueError(f"registry name {name!r}: letters, digits, '-', '_', '.' only")
        return value

    def with_registry(self, name: str | None) -> Settings:
        """These settings with the profile ``name`` in force: its indexes and registry
        replace the others (the machine's configuration included)."""
        if name is None:
            return self
        profile = self.registries.get(name)
        if profile is None:
            known = ", ".join(sorted(self.registries)) or "none are configured"
            raise ConfigError(
                f"registry {name!r} is not a configured profile ({known})",
                hint=Hint("registry-profiles"),
            )
        return self.model_copy(
            update={
                "registry": name,
                "index_url": profile.index_url or self.index_url,
                "extra_index_urls": list(profile.extra_index_urls),
                "find_links": list(profile.find_links),
                "npm_registry": profile.npm_registry or self.npm_registry,
            }
        )

    @field_validator("blob_store")
    @classmethod
    def _blob_store(cls, value: str) -> str:
        if value:
            from ferry.store.blob.location import S3Location

            S3Location.parse(value)
        return value

    @field_validator("task_queue")
    @classmethod
    def _task_queue(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ("redis", "rediss"):
            raise ValueError("task_queue: a redis:// or rediss:// URL, or empty")
        return value

    @field_validator("s3_endpoint_url")
    @classmethod
    def _s3_endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s):// URL: {value!r}")
        if parts.username is not None or parts.password is not None:
            # credentials in a setting end up in logs and messages
            raise ValueError(
                "credentials do not belong in the endpoint URL: use the AWS variables or files"
            )
        return value

    @field_validator(
        "cache_max_bytes", "import_max_bytes", "import_upload_max_bytes", mode="before"
    )
    @classmethod
    def _size(cls, value: object) -> object:
        if isinstance(value, str):
            from ferry.units import parse_size

            return parse_size(value)
        return value

    @field_validator("limit_rate", mode="before")
    @classmethod
    def _rate(cls, value: object) -> object:
        # "10M" like aria2's and curl's --limit-rate, or a plain number of bytes.
        if isinstance(value, str):
            from ferry.fetch.ratelimit import parse_rate

            return parse_rate(value)
        return value

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def blob_dir(self) -> Path:
        return self.cache_dir / "blobs"

    @property
    def store_dir(self) -> Path:
        """The local blob store of what Ferry keeps (packages, task archives): apart from
        the cache, so that evicting cached files never reaches them."""
        return self.data_dir / "store"

    @property
    def npm_cache_dir(self) -> Path:
        return self.cache_dir / "npm"

    @property
    def uv_cache_dir(self) -> Path:
        return self.cache_dir / "uv"

    @property
    def aria2_dir(self) -> Path:
        return self.data_dir / "aria2"

    @property
    def tasks_dir(self) -> Path:
        return self.data_dir / "tasks"

    @property
    def effective_sandbox_dir(self) -> Path:
        if self.sandbox_dir is not None:
            return self.sandbox_dir
        import hashlib
        import tempfile

        key = hashlib.sha256(str(self.data_dir.resolve()).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"ferry-sandbox-{key}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'ferry.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def config_file_in_use(config_file: Path | None) -> Path | None:
    if config_file is None and os.environ.get("FERRY_CONFIG"):
        config_file = Path(os.environ["FERRY_CONFIG"])
    if config_file is None:
        default = default_config_file()
        return default if default.is_file() else None
    if not config_file.is_file():
        raise ConfigError(
            f"settings file {config_file} does not exist",
            hint="Pass an existing TOML file with --config or FERRY_CONFIG.",
        )
    return config_file


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build Settings, turning every validation problem into a ConfigError naming the field."""
    chosen = config_file_in_use(config_file)
    # The TOML source reads its path from model_config, so the file is bound per load
    # instead of through a global.
    cls: type[Settings] = Settings
    if chosen is not None:
        cls = type(
            "Settings",
            (Settings,),
            {"model_config": {**Settings.model_config, "toml_file": chosen}},
        )
    try:
        settings = cls(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(settings)"
        source = f" (settings file {chosen})" if chosen else ""
        raise ConfigError(
            f"setting '{field}'{source}: {first['msg']}",
            hint="Check the FERRY_* environment variables and the settings file.",
        ) from exc
    except ValueError as exc:  # a TOML syntax error surfaces as a ValueError subclass
        raise ConfigError(f"settings file {chosen}: {exc}") from exc
    # a default profile named in the settings is in force from the start
    return settings.with_registry(settings.registry)
