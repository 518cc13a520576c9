"""The README's "## Commands in brief" block, as a reader would paste it into a shell."""
from __future__ import annotations

import re

SECTION = "Commands in brief"


def commands_in_brief(text: str) -> list[str]:
    """The `mnist-pipeline` lines of the first ```bash block under `## Commands in brief`, in
    order: continuation lines joined, blank lines, comment lines and other programs left out."""
    section = re.search(rf"^## {re.escape(SECTION)}[ \t]*\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    if not section:
        raise LookupError(f"README.md has no '## {SECTION}' section")
    block = re.search(r"^```bash[ \t]*\n(.*?)^```", section.group(1), re.MULTILINE | re.DOTALL)
    if not block:
        raise LookupError(f"README.md's '## {SECTION}' has no ```bash block")
    joined = re.sub(r"\\\n", " ", block.group(1))
    lines = [line.strip() for line in joined.splitlines()]
    return [line for line in lines if line and not line.startswith("#") and line.split()[0] == "mnist-pipeline"]
