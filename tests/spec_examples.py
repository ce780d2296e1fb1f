"""Run the API document's own code examples in tests (e.g. its `verify_webhook`), unmodified."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).resolve().parents[1].parent / "shared/spec/tabular-api.md"

_PYTHON_BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def read_spec(path: Path = SPEC_PATH) -> str | None:
    """The document's text, or None when it is not next to the checkout."""
    return path.read_text(encoding="utf-8") if path.is_file() else None


def spec_or_skip(path: Path = SPEC_PATH) -> str:
    """The document's text, or skip the calling test with the reason."""
    import pytest

    text = read_spec(path)
    if text is None:
        pytest.skip(f"API document not found at {path}: its examples cannot be checked")
    return text


def spec_code_block(doc: str, defines: str) -> str:
    """The first ```python block of `doc` that defines `def <defines>` or `class <defines>`."""
    pattern = re.compile(rf"^\s*(?:async\s+)?(?:def|class)\s+{re.escape(defines)}\b", re.MULTILINE)
    for match in _PYTHON_BLOCK.finditer(doc):
        if pattern.search(match.group(1)):
            return match.group(1)
    raise LookupError(f"no ```python block in the document defines {defines!r}")


def load_spec_function(doc: str, name: str) -> Any:
    """Exec the block defining `name` in a fresh namespace and return that object, as written."""
    namespace: dict[str, Any] = {"__name__": f"spec_example_{name}"}
    exec(compile(spec_code_block(doc, name), f"<tabular-api.md: {name}>", "exec"), namespace)
    return namespace[name]
