"""The README's Python examples run as written (those that need a GPU are skipped here)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert BLOCKS


@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_readme_example_runs(i):
    code = BLOCKS[i]
    if "cupy" in code:
        pytest.skip("GPU example (needs cupy and a device)")
    exec(compile(code, f"README.md[python block {i}]", "exec"), {})
