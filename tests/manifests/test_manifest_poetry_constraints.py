from __future__ import annotations

import pytest
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet

from ferry.manifests.poetry import (
    ConstraintError,
    poetry_constraint_to_specifier,
    poetry_python_to_marker,
    poetry_python_to_requires_python,
)


@pytest.mark.parametrize(
    ("poetry", "pep440"),
    [
        ("^1.2.3", ">=1.2.3,<2.0.0"),
        ("^0.2.3", ">=0.2.3,<0.3.0"),
        ("^0.0.3", ">=0.0.3,<0.0.4"),
        ("^0.0", ">=0.0,<0.1"),
        ("^0", ">=0,<1"),
        ("^1", ">=1,<2"),
        ("^1.2", ">=1.2,<2.0"),
        ("^1.2.3.4", ">=1.2.3.4,<2.0.0.0"),
        ("^1.0.0a1", ">=1.0.0a1,<2.0.0"),
        ("^0.2.0rc1", ">=0.2.0rc1,<0.3.0"),
        ("~1.2.3", ">=1.2.3,<1.3.0"),
        ("~1.2", ">=1.2,<1.3"),
        ("~1", ">=1,<2"),
        ("~=1.2", "~=1.2"),
        ("~=1.2.3", "~=1.2.3"),
        ("*", ""),
        ("", ""),
        ("  ", ""),
        ("1.2.*", "==1.2.*"),
        ("1.*", "==1.*"),
        ("1.2.x", "==1.2.*"),
        ("1.2.3", "==1.2.3"),
        ("=1.2.3", "==1.2.3"),
        ("==1.2.3", "==1.2.3"),
        ("!=1.2.3", "!=1.2.3"),
        (">=1.2", ">=1.2"),
        ("<=1.2", "<=1.2"),
        (">1.2", ">1.2"),
        ("<1.2", "<1.2"),
        ("===1.0+local", "===1.0+local"),
        (">=1.2,<2.0", ">=1.2,<2.0"),
        (">= 1.2, < 2.0", ">=1.2,<2.0"),
        (">=1.2 <2.0", ">=1.2,<2.0"),
        ("^1.2,!=1.4.0", ">=1.2,<2.0,!=1.4.0"),
        (">=1.0,*", ">=1.0"),
        ("^1.0 || ^2.0", ">=1.0,<3.0"),
        ("^1.0 | ^2.0", ">=1.0,<3.0"),
        ("~1.2 || ~1.3 || ~1.4", ">=1.2,<1.5"),
        (">=1.0,<2.0 || >=1.5", ">=1.0"),
        ("1.0 || 1.0", "==1.0"),
        ("^1.0 || *", ""),
        ("<1.0 || >=1.0", ""),
    ],
)
def test_constraint_translation(poetry: str, pep440: str) -> None:
    assert poetry_constraint_to_specifier(poetry) == pep440
    SpecifierSet(pep440)


@pytest.mark.parametrize(
    ("poetry", "fragment"),
    [
        ("^1.0 || ^3.0", "disjoint"),
        ("1.0 || 2.0", "disjoint"),
        ("<1.0 || >1.0", "disjoint"),
        ("1.2.* || 1.4.*", "plain ranges"),
        ("!=1.0 || >=2", "plain ranges"),
        ("^abc", "not a valid version constraint"),
        ("~x.y", "not a valid version constraint"),
        (">=1.0a-b-c", "not a valid version constraint"),
        ("1.2.3-", "not a valid version constraint"),
    ],
)
def test_untranslatable_constraints(poetry: str, fragment: str) -> None:
    with pytest.raises(ConstraintError, match=fragment.replace("(", r"\(")):
        poetry_constraint_to_specifier(poetry)


@pytest.mark.parametrize(
    ("python", "marker"),
    [
        (
            "^3.8 || ^3.9",
            '(python_version >= "3.8" and python_version < "4.0")'
            ' or (python_version >= "3.9" and python_version < "4.0")',
        ),
        ("^3.8", 'python_version >= "3.8" and python_version < "4.0"'),
        (">=3.8.1", 'python_full_version >= "3.8.1"'),
        ("~3.10.2", 'python_full_version >= "3.10.2" and python_full_version < "3.11.0"'),
        ("3.11.*", 'python_version == "3.11.*"'),
        ("<3.9", 'python_version < "3.9"'),
        (
            "~2.7 || >=3.6",
            '(python_version >= "2.7" and python_version < "2.8") or (python_version >= "3.6")',
        ),
        ("*", None),
    ],
)
def test_python_constraint_to_marker(python: str, marker: str | None) -> None:
    assert poetry_python_to_marker(python) == marker
    if marker is not None:
        Marker(marker)


@pytest.mark.parametrize(
    ("python", "requires", "widened"),
    [
        ("^3.8", ">=3.8,<4.0", False),
        (">=3.9,<3.13", ">=3.9,<3.13", False),
        ("^3.8 || ^3.9", ">=3.8,<4.0", False),
        ("~2.7 || ^3.6", ">=2.7,<4.0", True),
        ("*", "", False),
    ],
)
def test_python_constraint_to_requires_python(python: str, requires: str, widened: bool) -> None:
    assert poetry_python_to_requires_python(python) == (requires, widened)
