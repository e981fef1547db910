from __future__ import annotations

from pathlib import Path

import pytest

from ferry.errors import IncludeLoopError, ManifestError, UnsupportedRequirementError
from ferry.manifests import Selection, parse_manifest
from ferry.manifests.model import PythonInput

from .conftest import Write


def parse(path: Path, *groups: str, all_groups: bool = False) -> PythonInput:
    return parse_manifest(path, Selection(frozenset(groups), all_groups))


def reqs(result: PythonInput) -> list[tuple[str | None, str, int | None]]:
    return [(r.group, str(r.requirement), r.origin.line) for r in result.requirements]


PEP621 = """
[build-system]
requires = ["hatchling"]

[project]
name = "Demo_App"
requires-python = ">=3.10"
dependencies = [
    "requests>=2.31",
    "click; python_version < '3.12'",
]

[project.optional-dependencies]
fast = ["orjson>=3"]
Socks = ["pysocks"]
all = ["demo-app[fast,socks]; os_name == 'posix'"]
"""


def test_pep621_runtime_only_by_default(write: Write) -> None:
    path = write("pyproject.toml", PEP621)
    result = parse(path)
    assert reqs(result) == [
        (None, "requests>=2.31", 8),
        (None, 'click; python_version < "3.12"', 9),
    ]
    assert result.requires_python == ">=3.10"
    assert result.groups == ["fast", "socks", "all"]
    assert result.files == [path]


def test_pep621_selected_extras_carry_their_group(write: Write) -> None:
    result = parse(write("pyproject.toml", PEP621), "FAST", "socks")
    assert reqs(result)[2:] == [("fast", "orjson>=3", 13), ("socks", "pysocks", 14)]


def test_pep621_self_referencing_extra_is_expanded(write: Write) -> None:
    result = parse(write("pyproject.toml", PEP621), "all")
    assert reqs(result)[2:] == [
        ("all", 'orjson>=3; os_name == "posix"', 13),
        ("all", 'pysocks; os_name == "posix"', 14),
    ]


def test_dependency_groups_with_includes(write: Write) -> None:
    path = write(
        "pyproject.toml",
        """
        [dependency-groups]
        test = [
            "pytest>=8",
            {include-group = "Lint"},
        ]
        lint = ["ruff"]
        docs = ["sphinx"]
        """,
    )
    result = parse(path, "test")
    assert reqs(result) == [("test", "pytest>=8", 3), ("test", "ruff", 6)]
    assert result.groups == ["test", "lint", "docs"]
    assert parse(path).requirements == []


def test_dependency_group_include_loop(write: Write) -> None:
    path = write(
        "pyproject.toml",
        """
        [project]
        name = "x"
        dependencies = []

        [dependency-groups]
        a = ["one", {include-group = "b"}]
        b = [
            "two",
            {include-group = "c"},
        ]
        c = [{include-group = "a"}]
        """,
    )
    with pytest.raises(IncludeLoopError) as info:
        parse(path, "a")
    assert info.value.path == path
    assert info.value.line == 11
    assert info.value.reason == "dependency group include loop: a -> b -> c -> a"


def test_dependency_group_including_an_unknown_group(write: Write) -> None:
    path = write("pyproject.toml", '[dependency-groups]\ndev = [\n  {include-group = "nope"},\n]\n')
    with pytest.raises(ManifestError) as info:
        parse(path, "dev")
    assert type(info.value) is ManifestError
    assert info.value.line == 3
    assert "includes group 'nope', which is not in [dependency-groups]" in info.value.reason


def test_dependency_group_with_a_bad_table(write: Write) -> None:
    path = write("pyproject.toml", '[dependency-groups]\ndev = ["a", {group = "x"}]\n')
    with pytest.raises(ManifestError) as info:
        parse(path, "dev")
    assert info.value.line == 2
    assert "dependency-groups.dev[1] must be a requirement string" in info.value.reason


def test_duplicate_normalised_group_names(write: Write) -> None:
    path = write("pyproject.toml", '[dependency-groups]\nDev = []\n"dev" = ["a"]\n')
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert "same normalised name" in info.value.reason


POETRY = """
[tool.poetry]
name = "demo"

[tool.poetry.dependencies]
python = "^3.9"
requests = "^2.28"
"zope.interface" = "*"
uvicorn = {version = "~0.30", extras = ["standard"]}
win = {version = ">=1", markers = "os_name == 'nt'", platform = "win32"}
old = {version = "1.0.3", python = "<3.10"}
multi = [
    {version = "^1.0", python = "^3.8 || ^3.9"},
    {version = "^2.0", python = ">=3.12"},
]
direct = {url = "https://files.example/direct-1.0-py3-none-any.whl"}
mysqlclient = {version = "^2", optional = true}
psycopg = {version = "^3", optional = true}

[tool.poetry.extras]
mysql = ["mysqlclient"]
pg = ["psycopg[binary]"]

[tool.poetry.dev-dependencies]
pytest = "^8"

[tool.poetry.group.docs]
optional = true

[tool.poetry.group.docs.dependencies]
sphinx = ">=7 <8"
"""


def test_poetry_runtime(write: Write) -> None:
    result = parse(write("pyproject.toml", POETRY))
    assert result.requires_python == ">=3.9,<4.0"
    assert reqs(result) == [
        (None, "requests<3.0,>=2.28", 6),
        (None, "zope.interface", 7),
        (None, "uvicorn[standard]<0.31,>=0.30", 8),
        (None, 'win>=1; sys_platform == "win32" and os_name == "nt"', 9),
        (None, 'old==1.0.3; python_version < "3.10"', 10),
        (
            None,
            'multi<2.0,>=1.0; (python_version >= "3.8" and python_version < "4.0")'
            ' or (python_version >= "3.9" and python_version < "4.0")',
            12,
        ),
        (None, 'multi<3.0,>=2.0; python_version >= "3.12"', 13),
        (None, "direct @ https://files.example/direct-1.0-py3-none-any.whl", 15),
    ]
    assert result.groups == ["mysql", "pg", "dev", "docs"]


def test_poetry_extras_and_groups(write: Write) -> None:
    result = parse(write("pyproject.toml", POETRY), "pg", "dev", "docs")
    assert reqs(result)[8:] == [
        ("pg", "psycopg<4,>=3", 17),
        ("dev", "pytest<9,>=8", 24),
        ("docs", "sphinx<8,>=7", 30),
    ]
    everything = parse(write("pyproject.toml", POETRY), all_groups=True)
    assert [r for r in reqs(everything) if r[0] == "mysql"] == [("mysql", "mysqlclient<3,>=2", 16)]


def test_poetry_extra_naming_a_required_dependency(write: Write) -> None:
    path = write(
        "pyproject.toml",
        """
        [tool.poetry.dependencies]
        requests = "^2"

        [tool.poetry.extras]
        web = ["requests"]
        """,
    )
    with pytest.raises(ManifestError) as info:
        parse(path, "web")
    assert info.value.line == 5
    assert "not an optional dependency" in info.value.reason


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ('{git = "https://git.example/x.git", branch = "main"}', "git dependency"),
        ('{path = "../x", develop = true}', "local path dependency"),
        ('{url = "https://git.example/x"}', "neither a wheel nor an sdist"),
    ],
)
def test_poetry_uncarriable(write: Write, value: str, what: str) -> None:
    path = write("pyproject.toml", f'[tool.poetry.dependencies]\npython = "^3.9"\nx = {value}\n')
    with pytest.raises(UnsupportedRequirementError) as info:
        parse(path)
    assert (info.value.path, info.value.line) == (path, 3)
    assert what in info.value.reason


def test_poetry_uncarriable_entry_in_unselected_group_is_ignored(write: Write) -> None:
    path = write(
        "pyproject.toml",
        """
        [tool.poetry.dependencies]
        requests = "^2"

        [tool.poetry.group.dev.dependencies]
        mylib = {path = "../mylib", develop = true}
        """,
    )
    assert len(parse(path).requirements) == 1
    with pytest.raises(UnsupportedRequirementError) as info:
        parse(path, "dev")
    assert info.value.line == 5


def test_poetry_disjoint_or_is_an_error_with_a_line(write: Write) -> None:
    path = write("pyproject.toml", '[tool.poetry.dependencies]\n\nfoo = "^1.0 || ^3.0"\n')
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.line == 3
    assert "tool.poetry.dependencies.foo" in info.value.reason
    assert "`||` between disjoint ranges" in info.value.reason


def test_poetry_bad_value_type(write: Write) -> None:
    path = write("pyproject.toml", "[tool.poetry.dependencies]\nfoo = 3\n")
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.line == 2
    assert "tool.poetry.dependencies.foo must be a version string" in info.value.reason


def test_poetry2_project_dependencies_win(write: Write) -> None:
    path = write(
        "pyproject.toml",
        """
        [project]
        name = "x"
        requires-python = ">=3.11"
        dependencies = ["requests>=2"]

        [tool.poetry.dependencies]
        python = "^3.9"
        requests = {source = "internal"}

        [tool.poetry.group.dev.dependencies]
        pytest = "^8"
        """,
    )
    result = parse(path, "dev")
    assert reqs(result) == [(None, "requests>=2", 4), ("dev", "pytest<9,>=8", 11)]
    assert result.requires_python == ">=3.11"
    assert any("only enriches" in n for n in result.notes)


def test_poetry2_dynamic_dependencies_come_from_poetry(write: Write) -> None:
    path = write(
        "pyproject.toml",
        """
        [project]
        name = "x"
        dynamic = ["dependencies"]

        [tool.poetry.dependencies]
        requests = "^2"
        """,
    )
    assert reqs(parse(path)) == [(None, "requests<3,>=2", 6)]


def test_dynamic_dependencies_need_a_build(write: Write) -> None:
    path = write(
        "pyproject.toml",
        """
        [project]
        name = "x"
        dynamic = ["version", "dependencies"]
        """,
    )
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.line == 3
    assert "dynamic" in info.value.reason and "build" in info.value.reason
    assert info.value.hint is not None and "[project].dependencies" in info.value.hint


def test_declares_no_dependencies(write: Write) -> None:
    path = write("pyproject.toml", '[project]\nname = "x"\n\n[tool.ruff]\nline-length = 100\n')
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.reason == "declares no dependencies"
    assert info.value.line is None
    assert info.value.hint is not None and "[project].dependencies" in info.value.hint


def test_empty_dependency_list_is_fine(write: Write) -> None:
    assert parse(write("pyproject.toml", "[project]\ndependencies = []\n")).requirements == []


def test_toml_syntax_error(write: Write) -> None:
    path = write("pyproject.toml", '[project]\nname = "x"\ndependencies = [\n  "a"\n  "b",\n]\n')
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.path == path
    assert (info.value.line, info.value.column) == (5, 3)
    assert info.value.reason.startswith("invalid TOML: ")
    assert "(at line" not in info.value.reason


def test_toml_error_at_end_of_document(write: Write) -> None:
    path = write("pyproject.toml", '[project]\ndependencies = ["a",')
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.line == 2
    assert "end of document" in info.value.reason


def test_dependencies_not_a_list(write: Write) -> None:
    path = write("pyproject.toml", '[project]\nname = "x"\ndependencies = "requests"\n')
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.line == 3
    assert info.value.reason == "project.dependencies must be an array, got string"


def test_dependency_of_the_wrong_type(write: Write) -> None:
    path = write(
        "pyproject.toml",
        """
        [project]
        name = "x"
        dependencies = [
            "requests>=3",
            "idna",
            3,
        ]
        """,
    )
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.line == 6
    assert info.value.reason == "project.dependencies[2] must be a string, got integer 3"


def test_invalid_pep508_in_pyproject(write: Write) -> None:
    path = write("pyproject.toml", '[project]\ndependencies = [\n  "ok",\n  "bad ==",\n]\n')
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.line == 4
    assert info.value.reason.startswith("Expected")


def test_vcs_in_pyproject(write: Write) -> None:
    path = write(
        "pyproject.toml",
        '[project]\ndependencies = ["x @ git+https://git.example/x.git"]\n',
    )
    with pytest.raises(UnsupportedRequirementError) as info:
        parse(path)
    assert info.value.line == 2


def test_invalid_requires_python(write: Write) -> None:
    path = write("pyproject.toml", '[project]\nrequires-python = "3.10+"\ndependencies = []\n')
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.line == 2
    assert "requires-python '3.10+' is not a valid specifier" in info.value.reason


def test_optional_dependencies_not_a_table(write: Write) -> None:
    path = write("pyproject.toml", '[project]\ndependencies = []\noptional-dependencies = ["a"]\n')
    with pytest.raises(ManifestError) as info:
        parse(path)
    assert info.value.line == 3
    assert "project.optional-dependencies must be a table, got array" in info.value.reason


def test_self_reference_to_an_undeclared_extra(write: Write) -> None:
    path = write(
        "pyproject.toml",
        '[project]\nname = "x"\ndependencies = []\n[project.optional-dependencies]\n'
        'all = ["x[nope]"]\n',
    )
    with pytest.raises(ManifestError) as info:
        parse(path, "all")
    assert info.value.line == 5
    assert "extra 'nope'" in info.value.reason
