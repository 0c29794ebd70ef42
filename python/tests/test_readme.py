"""The READMEs' Python examples run: every ```python block of python/README.md, in
order, in one namespace; then those of the repository's README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent.parent
READMES = [HERE / "README.md", HERE.parent / "README.md"]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


@pytest.mark.parametrize("readme", READMES, ids=["python/README.md", "README.md"])
def test_the_readme_examples_run(readme: Path) -> None:
    blocks = python_blocks(readme.read_text(encoding="utf-8"))
    assert blocks, f"{readme} has no ```python block"
    namespace: dict[str, object] = {"__name__": "readme"}
    for block in blocks:
        exec(compile(block, str(readme), "exec"), namespace)
