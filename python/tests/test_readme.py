"""The README's examples run: every ```python block of python/README.md, in order, in one
namespace."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


def test_the_readme_examples_run(capsys: object) -> None:
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert blocks, "python/README.md has no ```python block"
    namespace: dict[str, object] = {"__name__": "readme"}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
