"""The README's code examples run and give what the README says."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_engine_example_gives_the_numbers_in_its_comments():
    [block] = [b for b in _blocks() if "from circles import Graph" in b]
    scope: dict = {}
    exec(block, scope)  # noqa: S102 - our own README
    r = scope["r"]
    # Worked by hand: 10 + 150 + 100 = 260 m and 10 + 150 + 280 + 5 = 445 m.
    assert r.counts[0, 0].tolist() == [1, 2, 2]
    assert r.nearest_m[0, 0] == 260.0
    np.testing.assert_allclose(r.k_nearest_m[0, 0], [260.0, 445.0])
