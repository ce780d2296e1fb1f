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


# --- more documents, sections and languages -----------------------------------------------------------------

SPEC_DIR = SPEC_PATH.parent
SYNTHGEN_PATH = SPEC_DIR / "synthgen-api.md"

# what the documents' examples point at, replaced by the test server's URL and key (nothing else is changed)
DOC_BASE_URLS = ("https://api.inferloop.com", "http://localhost:8888", "http://localhost:8000")
DOC_KEYS = ("YOUR_API_KEY", "your-api-key")

_BASH_BLOCK = re.compile(r"^```bash[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def section(doc: str, heading: str) -> str:
    """The text of a markdown section: from its heading to the next heading of the same or a higher level
    (lines inside ``` fences, such as bash comments, are not headings)."""
    lines = doc.splitlines(keepends=True)
    fenced, start, level = False, None, 0
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else re.match(r"^(#+)\s+(.*?)\s*$", line)
        if match is None:
            continue
        if start is None and match.group(2) == heading:
            start, level = i + 1, len(match.group(1))
        elif start is not None and len(match.group(1)) <= level:
            return "".join(lines[start:i])
    if start is None:
        raise LookupError(f"no section {heading!r} in the document")
    return "".join(lines[start:])


def python_blocks(text: str) -> list[str]:
    """Every ```python block of `text`, in order."""
    return [m.group(1) for m in _PYTHON_BLOCK.finditer(text)]


def bash_commands(text: str) -> list[tuple[str, str]]:
    """(comment, command) for every command of the ```bash blocks of `text`; continuation lines joined.

    A command's comment is the `# ...` line above it (e.g. "Basic generation").
    """
    out: list[tuple[str, str]] = []
    for block in _BASH_BLOCK.finditer(text):
        comment, current = "", ""
        for line in block.group(1).splitlines():
            stripped = line.strip()
            if not current and (not stripped or stripped.startswith("#")):
                comment = stripped.lstrip("#").strip() or comment
                continue
            current += (" " if current else "") + stripped.rstrip("\\").strip()
            if not stripped.endswith("\\"):
                out.append((comment, current))
                current = ""
        if current:
            out.append((comment, current))
    return out


def plain_text_block(doc: str, heading: str, start: str, end_line: str) -> str:
    """Code laid out as plain text (synthgen-api.md is not fenced): from the first line after the line
    `heading` that starts with `start`, up to (not including) the line `end_line`; surrounding blanks trimmed."""
    lines = doc.splitlines()
    try:
        h = next(i for i, line in enumerate(lines) if line.strip() == heading)
        first = next(i for i in range(h + 1, len(lines)) if lines[i].startswith(start))
        last = next(i for i in range(first, len(lines)) if lines[i].strip() == end_line)
    except StopIteration:
        raise LookupError(f"no code block after {heading!r} starting with {start!r} and ending before {end_line!r}")
    code = "\n".join(lines[first:last]).strip("\n") + "\n"
    compile(code, f"<{heading}>", "exec")  # the boundaries must give a whole program
    return code


def synthgen_workflow(doc: str) -> str:
    """The SynthGen document's "Full Workflow Example" program."""
    return plain_text_block(doc, "Full Workflow Example", "import ", "See also")


def localize(code: str, base_url: str, api_key: str) -> str:
    """The example with only its base URL and key replaced by the test server's."""
    for url in DOC_BASE_URLS:
        code = code.replace(url, base_url)
    for key in DOC_KEYS:
        code = code.replace(key, api_key)
    return code
