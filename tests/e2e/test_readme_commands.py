"""The README's first screen works as written: every line of the ```bash block under "## Commands
in brief" (the `mnist-pipeline ...` lines, and the `python -c` line that makes the digits for
`predict`), run in order in a fresh home, as pasted into a shell with the project's virtualenv
on PATH, exits 0. How the lines are found: tests/unit/test_docs.py."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.cli import cli, environment
from tests.support.readme import SECTION, commands_in_brief

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


def test_the_readme_s_commands_in_brief_run_in_a_fresh_home(home, tmp_path):
    commands = commands_in_brief(README.read_text())
    assert any(line.startswith("mnist-pipeline ") for line in commands), \
        f"no `mnist-pipeline` line in README.md's '## {SECTION}' block"
    # As a reader's shell runs them: bash, the virtualenv's `mnist-pipeline` first on PATH, the
    # home in $MNIST_PIPELINE_HOME, a folder of their own to write into.
    env = environment(home, {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"})
    workdir = tmp_path / "work"
    workdir.mkdir()
    try:
        for number, line in enumerate(commands, 1):
            process = subprocess.run(["bash", "-c", f"set -o pipefail\n{line}"], cwd=workdir, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1800)
            print(f"$ {line}\n{process.stdout}")
            # A reader that stops early (`| head`) ends the command quietly with 141, as documented.
            ok = process.returncode == 0 or ("|" in line and process.returncode == 141)
            assert ok, f"README.md, {SECTION}, command {number}: `{line}` exited {process.returncode}\n" \
                       f"{process.stdout[-3000:]}"
    finally:
        if any(line.split()[:3] == ["mnist-pipeline", "airflow", "up"] for line in commands):
            cli(home, "airflow", "down", timeout=300)
