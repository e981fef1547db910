from __future__ import annotations

import json
from pathlib import Path

import pytest

from ferry.errors import ManifestError, UnsupportedRequirementError
from ferry.manifests import Selection, parse_manifest
from ferry.manifests.model import LockedPackage, Origin, PythonInput

from .conftest import Write


def parse(path: Path, *groups: str) -> PythonInput:
    return parse_manifest(path, Selection(frozenset(groups)))


def reqs(result: PythonInput) -> list[tuple[str | None, str, int | None]]:
    return [(r.group, str(r.requirement), r.origin.line) for r in result.requirements]


PIPFILE = """
[[source]]
url = "https://index.example/simple"
verify_ssl = true
name = "main"

[[source]]
url = "https://mirror.example/simple"
verify_ssl = false
name = "mirror"

[packages]
requests = "*"
django = "==5.0.1"
celery = {version = ">=5", extras = ["redis"], markers = "python_version >= '3.9'"}
pywinusb = {version = "*", sys_platform = "== 'win32'"}
uvloop = {version = "*", os_name = "posix"}
internal = {version = "~=1.2", index = "mirror"}
pinned = "1.4"

[dev-packages]
pytest = ">=8"

[docs]
sphinx = "*"

[requires]
python_version = "3.11"

[pipenv]
allow_prereleases = true

[scripts]
serve = "python -m http.server"
"""


def test_pipfile_packages_sources_and_python(write: Write) -> None:
    path = write("Pipfile", PIPFILE)
    result = parse(path)
    assert reqs(result) == [
        (None, "requests", 12),
        (None, "django==5.0.1", 13),
        (None, 'celery[redis]>=5; python_version >= "3.9"', 14),
        (None, 'pywinusb; sys_platform == "win32"', 15),
        (None, 'uvloop; os_name == "posix"', 16),
        (None, "internal~=1.2", 17),
        (None, "pinned==1.4", 18),
    ]
    assert result.index_url == "https://index.example/simple"
    assert result.extra_index_urls == ["https://mirror.example/simple"]
    assert result.requires_python == "==3.11.*"
    assert result.allow_prereleases is True
    assert result.groups == ["dev", "docs"]
    assert any("index 'mirror'" in n for n in result.notes)
    assert result.files == [path]


def test_pipfile_categories_are_groups(write: Write) -> None:
    result = parse(write("Pipfile", PIPFILE), "dev", "DOCS")
    assert reqs(result)[7:] == [("dev", "pytest>=8", 21), ("docs", "sphinx", 24)]


def test_pipfile_full_python_version(write: Write) -> None:
    path = write("Pipfile", '[requires]\npython_full_version = "3.11.4"\n[packages]\na = "*"\n')
    assert parse(path).requires_python == "==3.11.4"


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ('{git = "https://git.example/x.git", ref = "main"}', "git dependency"),
        ('{path = ".", editable = true}', "path dependency"),
        ('{editable = true, file = "https://files.example/x-1.0.tar.gz"}', "editable"),
    ],
)
def test_pipfile_uncarriable(write: Write, value: str, what: str) -> None:
    path = write("Pipfile", f'[packages]\nok = "*"\nx = {value}\n')
    with pytest.raises(UnsupportedRequirementError) as info:
        parse(path)
    assert (info.value.path, info.value.line) == (path, 3)
    assert what in info.value.reason


def test_pipfile_file_url_is_a_direct_reference(write: Write) -> None:
    path = write("Pipfile", '[packages]\nx = {file = "https://files.example/x-1.0.tar.gz"}\n')
    assert reqs(parse(path)) == [(None, "x @ https://files.example/x-1.0.tar.gz", 2)]


def test_pipfile_editable_self_in_unselected_dev_is_ignored(write: Write) -> None:
    path = write(
        "Pipfile", '[packages]\na = "*"\n[dev-packages]\nme = {path = ".", editable = true}\n'
    )
    assert reqs(parse(path)) == [(None, "a", 2)]


def test_pipfile_unknown_index(write: Write) -> None:
    path = write("Pipfile", '[packages]\n\nx = {version = "*", index = "nope"}\n')
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.line == 3
    assert "index 'nope'" in info.value.reason


def test_pipfile_bad_version(write: Write) -> None:
    path = write("Pipfile", '[packages]\nx = ">>1"\n')
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.line == 2
    assert "packages.x: '>>1' is not a valid version specifier" in info.value.reason


def test_pipfile_bad_value_type(write: Write) -> None:
    path = write("Pipfile", "[packages]\na = '*'\nx = 1\n")
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.line == 3
    assert "packages.x must be a version string or a table, got integer" in info.value.reason


def test_pipfile_toml_error(write: Write) -> None:
    path = write("Pipfile", "[packages]\nrequests = *\n")
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert (info.value.path, info.value.line, info.value.column) == (path, 2, 12)
    assert info.value.reason.startswith("invalid TOML: ")


def test_pipfile_source_without_url(write: Write) -> None:
    path = write("Pipfile", '[[source]]\nname = "x"\n\n[packages]\n')
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.reason == "source[0].url must be a string, got nothing"


SHA_A = "sha256:" + "a" * 64
SHA_B = "sha256:" + "b" * 64


def lock_data() -> dict[str, object]:
    return {
        "_meta": {
            "hash": {"sha256": "f" * 64},
            "pipfile-spec": 6,
            "requires": {"python_version": "3.12"},
            "sources": [
                {"name": "pypi", "url": "https://index.example/simple", "verify_ssl": True},
                {"name": "internal", "url": "https://internal.example/simple"},
            ],
        },
        "default": {
            "Requests": {
                "hashes": [SHA_A, SHA_B],
                "index": "pypi",
                "markers": "python_version >= '3.8'",
                "version": "==2.31.0",
            },
            "corp_lib": {"hashes": [SHA_A], "index": "internal", "version": "==1.0"},
        },
        "develop": {
            "pytest": {"hashes": [SHA_B], "version": "==8.0.0", "extras": ["testing"]},
        },
    }


def write_lock(write: Write, data: object) -> Path:
    return write("Pipfile.lock", json.dumps(data, indent=4))


def test_lock_is_used_as_is(write: Write) -> None:
    path = write_lock(write, lock_data())
    result = parse(path)
    assert result.requirements == []
    assert result.locked == [
        LockedPackage(
            name="requests",
            version="2.31.0",
            marker="python_version >= '3.8'",
            hashes=(SHA_A, SHA_B),
            origin=Origin(path, 23),
            index="https://index.example/simple",
        ),
        LockedPackage(
            name="corp-lib",
            version="1.0",
            marker=None,
            hashes=(SHA_A,),
            origin=Origin(path, 32),
            index="https://internal.example/simple",
        ),
    ]
    assert result.index_url == "https://index.example/simple"
    assert result.extra_index_urls == ["https://internal.example/simple"]
    assert result.requires_python == "==3.12.*"
    assert result.groups == ["dev"]


def test_lock_develop_when_dev_is_selected(write: Write) -> None:
    path = write_lock(write, lock_data())
    locked = parse(path, "dev").locked
    assert [(p.name, p.version, p.group, p.origin.line) for p in locked][2:] == [
        ("pytest", "8.0.0", "dev", 41)
    ]


@pytest.mark.parametrize(
    ("entry", "what"),
    [
        ({"git": "https://git.example/x.git", "ref": "abc"}, "git entry"),
        ({"path": ".", "editable": True}, "path entry"),
        ({"editable": True, "version": "==1.0"}, "editable entry"),
    ],
)
def test_lock_uncarriable_entries(write: Write, entry: dict[str, object], what: str) -> None:
    data = lock_data()
    data["default"] = {"ok": {"version": "==1", "hashes": []}, "x": entry}
    path = write_lock(write, data)
    with pytest.raises(UnsupportedRequirementError) as info:
        parse(path)
    assert info.value.line == 27
    assert f"default.x: {what}" in info.value.reason


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"version": ">=1.0"}, "version must be an exact pin"),
        ({"hashes": []}, "version must be an exact pin"),
        ({"version": "==1", "hashes": ["md5:abc"]}, "hashes must be a list"),
        ({"version": "==1", "markers": "python_version >>> '3'"}, "invalid markers"),
        ({"version": "==1", "index": "elsewhere"}, "index 'elsewhere' is not in _meta.sources"),
    ],
)
def test_lock_bad_entries(write: Write, entry: dict[str, object], reason: str) -> None:
    data = lock_data()
    data["default"] = {"x": entry}
    path = write_lock(write, data)
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert type(info.value) is ManifestError
    assert info.value.line == 23
    assert reason in info.value.reason


def test_lock_broken_json(write: Write) -> None:
    path = write("Pipfile.lock", '{\n  "default": {\n    "x": {"version": "==1",}\n  }\n}\n')
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.path == path
    assert (info.value.line, info.value.column) == (3, 28)
    assert info.value.reason.startswith("invalid JSON: ")


def test_lock_not_an_object(write: Write) -> None:
    path = write("Pipfile.lock", "[]")
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert "must be a JSON object" in info.value.reason


def test_lock_section_not_an_object(write: Write) -> None:
    path = write("Pipfile.lock", '{\n"_meta": {},\n"default": []\n}')
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.line == 3
    assert info.value.reason == "default must be a JSON object, got list"


def test_pipfile_local_archive_must_exist(write: Write) -> None:
    from ferry.errors import ManifestError

    path = write("Pipfile", '[packages]\nok = "*"\nx = {file = "./x-1.0-py3-none-any.whl"}\n')
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.line == 3 and "does not exist" in info.value.reason
    write("x-1.0-py3-none-any.whl", "bytes")
    assert reqs(parse(path))[-1][1].startswith("x @ file:///")
