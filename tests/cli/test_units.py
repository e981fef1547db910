"""One size unit everywhere: decimal, as pip, npm and the progress bars print sizes."""

from __future__ import annotations

import pytest

from ferry.units import human_bytes


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, "?"),
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (13_200_000, "13.2 MB"),
        (999_949_999, "999.9 MB"),
        (2_500_000_000, "2.5 GB"),
        (7 * 10**15, "7000.0 TB"),
    ],
)
def test_sizes_are_decimal(n: int | None, text: str) -> None:
    assert human_bytes(n) == text
