from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from ferry.errors import (
    IncludeLoopError,
    ManifestError,
    UnknownManifestError,
    UnsupportedRequirementError,
)
from ferry.manifests import Selection, parse_manifest
from ferry.manifests.model import PythonInput

from .conftest import Write

SHA_A = "sha256:" + "a" * 64
SHA_B = "sha256:" + "b" * 64


def parse(path: Path) -> PythonInput:
    return parse_manifest(path, Selection())


def names(result: PythonInput) -> list[str]:
    return [str(r.requirement) for r in result.requirements]


def test_comments_blank_lines_markers_and_extras(write: Write) -> None:
    path = write(
        "requirements.txt",
        """
        # a comment
        requests[socks,security]>=2.31  # trailing comment

           # indented comment
        click==8.1.7 ; python_version < "3.12"
        foo @ https://files.example/foo-1.0-py3-none-any.whl#sha256=abc
        """,
    )
    result = parse(path)
    assert names(result) == [
        "requests[security,socks]>=2.31",
        'click==8.1.7; python_version < "3.12"',
        "foo @ https://files.example/foo-1.0-py3-none-any.whl#sha256=abc",
    ]
    assert [r.origin.line for r in result.requirements] == [2, 5, 6]
    assert all(r.origin.path == path and r.group is None for r in result.requirements)
    assert result.requirements[2].requirement.url == (
        "https://files.example/foo-1.0-py3-none-any.whl#sha256=abc"
    )
    assert result.files == [path]


def test_continuation_lines_report_the_first_physical_line(write: Write) -> None:
    path = write(
        "requirements.txt",
        f"""
        alpha==1.0 \\
            --hash={SHA_A} \\
            --hash {SHA_B.upper().replace("SHA256", "sha256")}
        # comment ending in a backslash does not continue \\
        beta
        """,
    )
    result = parse(path)
    assert names(result) == ["alpha==1.0", "beta"]
    assert result.requirements[0].origin.line == 1
    assert result.requirements[0].hashes == (SHA_A, SHA_B)
    assert result.requirements[1].origin.line == 5


def test_error_in_continued_line_points_at_its_first_line(write: Write) -> None:
    path = write("requirements.txt", "ok\nbroken \\\n  ==1.0 !!\n")
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert type(info.value) is ManifestError
    assert info.value.path == path
    assert info.value.line == 2
    assert "Expected" in info.value.reason


def test_unparseable_line_reports_packaging_reason(write: Write) -> None:
    path = write("requirements.txt", "requests\nnot a requirement\n")
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.line == 2
    assert info.value.reason.startswith("Expected")
    assert "not a requirement" in info.value.reason
    assert str(path) in info.value.message


@pytest.mark.parametrize(
    "line",
    [
        "--hash=md5:abcdef",
        "--hash=sha256:not-hex",
        "--hash=sha256",
    ],
)
def test_bad_hash(write: Write, line: str) -> None:
    path = write("requirements.txt", f"# header\nfoo==1.0 {line}\n")
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.line == 2
    assert "--hash" in info.value.reason


def test_includes_resolve_relative_to_the_including_file(write: Write) -> None:
    top = write("requirements.txt", "-r reqs/base.txt\n--requirement=reqs/extra.txt\ntop\n")
    write("reqs/base.txt", "-rnested/deep.txt\nbase\n")
    write("reqs/nested/deep.txt", "deep\n")
    write("reqs/extra.txt", "extra\n")
    result = parse(top)
    assert names(result) == ["deep", "base", "extra", "top"]
    origins = {str(r.requirement): r.origin for r in result.requirements}
    assert origins["deep"].path == top.parent / "reqs" / "nested" / "deep.txt"
    assert origins["base"].line == 2
    assert [p.name for p in result.files] == [
        "requirements.txt",
        "base.txt",
        "deep.txt",
        "extra.txt",
    ]


def test_constraints_go_to_constraints(write: Write) -> None:
    top = write("requirements.txt", "-c constraints/pins.txt\nrequests\n")
    write("constraints/pins.txt", "urllib3<2\n--constraint more.txt\n")
    write("constraints/more.txt", "idna==3.6\n")
    result = parse(top)
    assert names(result) == ["requests"]
    assert [str(c.requirement) for c in result.constraints] == ["urllib3<2", "idna==3.6"]
    assert result.constraints[1].origin.path.name == "more.txt"


def test_requirement_include_inside_constraints_file_is_requirements_like_pip(
    write: Write,
) -> None:
    top = write("requirements.txt", "-c c.txt\n")
    write("c.txt", "-r r.txt\n")
    write("r.txt", "real\n")
    result = parse(top)
    assert names(result) == ["real"]
    assert result.constraints == []


def test_constraints_file_given_directly(write: Write) -> None:
    result = parse(write("constraints-py311.txt", "six==1.16\n"))
    assert result.requirements == []
    assert [str(c.requirement) for c in result.constraints] == ["six==1.16"]


def test_diamond_include_is_read_once(write: Write) -> None:
    top = write("requirements.txt", "-r a.txt\n-r b.txt\n")
    write("a.txt", "-r common.txt\na\n")
    write("b.txt", "-r common.txt\nb\n")
    write("common.txt", "common\n")
    assert names(parse(top)) == ["common", "a", "b"]


def test_include_loop(write: Write) -> None:
    top = write("requirements.txt", "first\n-r sub/b.txt\n")
    b = write("sub/b.txt", "# b\n\n-r ../requirements.txt\n")
    with pytest.raises(IncludeLoopError) as info:
        parse(top)
    assert info.value.path == b
    assert info.value.line == 3
    assert "requirements.txt -> b.txt -> requirements.txt" in info.value.reason
    assert info.value.code == "manifest-include-loop"


def test_self_include_is_a_loop(write: Write) -> None:
    top = write("requirements.txt", "-r requirements.txt\n")
    with pytest.raises(IncludeLoopError) as info:
        parse(top)
    assert (info.value.path, info.value.line) == (top, 1)


def test_missing_include_names_the_include_line(write: Write) -> None:
    top = write("requirements.txt", "a\n\n-r missing.txt\n")
    with pytest.raises(ManifestError) as info:
        parse(top)
    assert info.value.path == top
    assert info.value.line == 3
    assert "'missing.txt' not found" in info.value.reason


def test_remote_include_is_refused(write: Write) -> None:
    top = write("requirements.txt", "-r https://files.example/requirements.txt\n")
    with pytest.raises(ManifestError) as info:
        parse(top)
    assert info.value.line == 1
    assert "remote include" in info.value.reason


def test_index_and_find_links_options(write: Write, tmp_path: Path) -> None:
    (tmp_path / "sub" / "wheels").mkdir(parents=True)
    path = write(
        "sub/requirements.txt",
        """
        -i https://index.example/simple
        --extra-index-url https://extra.example/simple
        --extra-index=https://second.example/simple
        --extra-index-url https://extra.example/simple
        -f https://links.example/wheels/
        --find-links wheels
        --pre
        foo
        """,
    )
    result = parse(path)
    assert result.index_url == "https://index.example/simple"
    assert result.extra_index_urls == [
        "https://extra.example/simple",
        "https://second.example/simple",
    ]
    assert result.find_links == [
        "https://links.example/wheels/",
        str(tmp_path / "sub" / "wheels"),
    ]
    assert result.allow_prereleases is True
    assert names(result) == ["foo"]


def test_format_options_apply_and_the_rest_are_notes(write: Write) -> None:
    path = write(
        "requirements.txt",
        """
        --only-binary :all:
        --no-binary=lxml
        --prefer-binary
        --trusted-host files.example
        --no-index
        --require-hashes
        foo
        """,
    )
    result = parse(path)
    assert names(result) == ["foo"]
    # wheels or sources are a choice Ferry makes for the target (tests/pypi/test_choices.py)
    assert result.file_options.format_lines == [("--only-binary", ":all:"), ("--no-binary", "lxml")]
    assert result.file_options.prefer_binary
    assert len(result.notes) == 3
    assert result.notes[0] == f"{path}:4: --trusted-host files.example is not applied"
    assert any("--no-index" in n for n in result.notes)


def test_env_vars_are_expanded_like_pip(write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERRY_TEST_INDEX", "https://index.example")
    monkeypatch.setenv("FERRY_TEST_VERSION", "2.0")
    monkeypatch.delenv("FERRY_TEST_UNSET", raising=False)
    path = write(
        "requirements.txt",
        """
        --index-url ${FERRY_TEST_INDEX}/simple
        --extra-index-url ${FERRY_TEST_UNSET}/simple
        pkg==${FERRY_TEST_VERSION}
        """,
    )
    result = parse(path)
    assert result.index_url == "https://index.example/simple"
    assert result.extra_index_urls == ["${FERRY_TEST_UNSET}/simple"]
    assert names(result) == ["pkg==2.0"]


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("-e .", "editable"),
        ("--editable git+https://git.example/repo.git#egg=x", "editable"),
        ("git+https://git.example/repo.git#egg=x", "VCS"),
        ("pkg @ git+https://git.example/repo.git@v1", "VCS"),
        ("hg+https://hg.example/repo#egg=x", "VCS"),
        ("./pkg", "local path"),
        ("../pkg", "local path"),
        ("pkg @ file:///abs/pkg", "local path"),
        ("pkg @ ./pkg", "local path"),
        ("pkg @ https://files.example/download/pkg", "neither a wheel nor an sdist"),
        ("pkg @ ftp://files.example/pkg-1.0.tar.gz", "not http(s)"),
    ],
)
def test_uncarriable_requirements(write: Write, line: str, what: str) -> None:
    path = write("requirements.txt", f"ok\n{line}\n")
    with pytest.raises(UnsupportedRequirementError) as info:
        parse(path)
    assert info.value.path == path
    assert info.value.line == 2
    assert what in info.value.reason
    assert info.value.hint is not None and "wheel" in info.value.hint


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("https://files.example/p/Foo_Bar-1.0-py3-none-any.whl", "foo-bar"),
        ("https://files.example/p/foo-bar-1.0.tar.gz", "foo-bar"),
        ("https://files.example/download.zip#egg=thing", "thing"),
    ],
)
def test_bare_archive_urls_get_a_name(write: Write, line: str, name: str) -> None:
    req = parse(write("requirements.txt", line + "\n")).requirements[0].requirement
    assert req.name.lower() == name.lower()
    assert req.url == line


def test_bare_url_without_a_name(write: Write) -> None:
    path = write("requirements.txt", "https://files.example/archive.zip\n")
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.line == 1
    assert "cannot tell the project name" in info.value.reason
    assert info.value.hint == "write it as `name @ URL`"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("--foo", "unknown option --foo"),
        ("--foo=bar", "unknown option --foo"),
        ("-x thing", "unknown option -x"),
        ("-r", "option -r needs a value"),
        ("--index-url", "option --index-url needs a value"),
        ("--pre=yes", "option --pre takes no value"),
        ("pkg --foo", "unknown option --foo"),
        ('--index-url "https://unclosed', "cannot split options"),
    ],
)
def test_bad_options(write: Write, line: str, reason: str) -> None:
    path = write("requirements.txt", f"a\nb\n{line}\n")
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert type(info.value) is ManifestError
    assert info.value.line == 3
    assert reason in info.value.reason


def test_per_requirement_install_options_are_noted(write: Write) -> None:
    path = write("requirements.txt", "pkg --config-settings=--build-option=--x\n")
    result = parse(path)
    assert names(result) == ["pkg"]
    assert result.notes == [f"{path}:1: --config-settings --build-option=--x is not applied"]


def test_binary_file_is_not_a_requirements_file(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.path == path
    assert "not a text requirements file" in info.value.reason


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_bytes(b"ok\ncaf\xe9\n")
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.line == 2
    assert "not a text requirements file (not UTF-8)" in info.value.reason


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF8 + b"requests\n",
        codecs.BOM_UTF16_LE + "requests\n".encode("utf-16-le"),
        codecs.BOM_UTF16_BE + "requests\n".encode("utf-16-be"),
    ],
)
def test_byte_order_marks_are_honoured(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "requirements.txt"
    path.write_bytes(data)
    assert names(parse(path)) == ["requests"]


def test_in_files_and_prefixed_names(write: Write) -> None:
    assert names(parse(write("requirements.in", "a\n"))) == ["a"]
    assert names(parse(write("dev-requirements.txt", "b\n"))) == ["b"]
    assert names(parse(write("requirements-test.txt", "c\n"))) == ["c"]


def test_unknown_manifest_name(write: Write) -> None:
    path = write("setup.py", "")
    with pytest.raises(UnknownManifestError) as info:
        parse(path)
    assert info.value.path == path
    assert info.value.hint is not None
    for accepted in ("*requirements*.txt", "pyproject.toml", "Pipfile", "Pipfile.lock"):
        assert accepted in info.value.hint


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as info:
        parse(tmp_path / "requirements.txt")
    assert info.value.reason == "file not found"
    assert info.value.line is None


@pytest.mark.parametrize(
    "line",
    ["/abs/x-1.0-py3-none-any.whl", "x-1.0-py3-none-any.whl", "file:///abs/x-1.0.tar.gz"],
)
def test_missing_local_archive_is_named(write: Write, line: str) -> None:
    path = write("requirements.txt", f"ok\n{line}\n")
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.line == 2 and "does not exist" in info.value.reason


def test_local_archives_are_carried(write: Write) -> None:
    wheel = write("dist/x-1.0-py3-none-any.whl", "not really a wheel")
    sdist = write("dist/y-2.0.tar.gz", "not really an sdist")
    path = write(
        "requirements.txt",
        f"./dist/x-1.0-py3-none-any.whl ; sys_platform == 'linux'\ny @ {sdist.as_uri()}\n",
    )
    reqs = [r.requirement for r in parse(path).requirements]
    assert [(r.name, r.url) for r in reqs] == [
        ("x", wheel.resolve().as_uri()),
        ("y", sdist.as_uri()),
    ]
    assert str(reqs[0].marker) == 'sys_platform == "linux"'


def test_url_with_credentials_is_not_a_local_path(write: Write) -> None:
    path = write("requirements.txt", "https://user:pw@files.example/x-1.0-py3-none-any.whl\n")
    (req,) = parse(path).requirements
    assert req.requirement.name == "x" and req.requirement.url is not None
    assert req.requirement.url.startswith("https://user:pw@")
