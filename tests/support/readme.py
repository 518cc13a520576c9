"""The README's "## Commands in brief" block, as a reader would paste it into a shell."""
from __future__ import annotations

import re

SECTION = "Commands in brief"


def commands_in_brief(text: str) -> list[str]:
    """The command lines of the first ```bash block under `## Commands in brief`, in order:
    continuation lines joined, blank lines and comment lines left out. Mostly `mnist-pipeline ...`;
    a line of another program (the README makes digits.npy for `predict` with `python -c`) is
    kept, since the lines after it need what it does."""
    section = re.search(rf"^## {re.escape(SECTION)}[ \t]*\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    if not section:
        raise LookupError(f"README.md has no '## {SECTION}' section")
    block = re.search(r"^```bash[ \t]*\n(.*?)^```", section.group(1), re.MULTILINE | re.DOTALL)
    if not block:
        raise LookupError(f"README.md's '## {SECTION}' has no ```bash block")
    joined = re.sub(r"\\\n", " ", block.group(1))
    lines = [line.strip() for line in joined.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]
