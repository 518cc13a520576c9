"""`mnist-pipeline` for the tests: in a separate process on a home (`cli`, `cli_json`), or in
this process (`run_main`) for commands that need no pipeline run.

Every test that runs the command line goes through these: `command` and `environment` build the
argv and environment for the few tests that need a `Popen` of their own (signals, kills, pipes).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipeline.home import HOME_ENV, Home

MODULE = "pipeline.cli.main"


def command(*args: str, script: str | None = None) -> list[str]:
    """The argv of `mnist-pipeline ARGS` (or `python SCRIPT ARGS`) with this test's Python."""
    return [sys.executable, script, *args] if script else [sys.executable, "-m", MODULE, *args]


def environment(home: Home | Path | None, env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's environment) with $MNIST_PIPELINE_HOME pointing at `home`.
    `env` is the whole environment, as subprocess takes it: leave a variable out to unset it."""
    full = dict(os.environ if env is None else env)
    if home is not None:
        full[HOME_ENV] = str(home.root if isinstance(home, Home) else home)
    return full


def cli(home: Home | Path | None, *args: str, env: dict[str, str] | None = None, timeout: float = 1800,
        check: bool = False, merge_stderr: bool = True, script: str | None = None) -> subprocess.CompletedProcess:
    """`mnist-pipeline ARGS` on `home` in a process of its own; `merge_stderr` puts its errors into
    `stdout` (one log, in order, as a terminal shows it); `check` fails the test on a non-zero exit.
    The output is printed, so that pytest shows it with a failure."""
    process = subprocess.run(command(*args, script=script), env=environment(home, env), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                             timeout=timeout)
    print(process.stdout)
    if process.stderr:
        print(process.stderr, file=sys.stderr)
    if check:
        assert process.returncode == 0, f"mnist-pipeline {' '.join(args)}: exit {process.returncode}\n" \
                                        f"{process.stdout[-3000:]}{(process.stderr or '')[-3000:]}"
    return process


def cli_json(home: Home | Path | None, *args: str, env: dict[str, str] | None = None, timeout: float = 600):
    """`mnist-pipeline ARGS --json` on `home`, which must succeed: its output, parsed."""
    process = cli(home, *args, "--json", env=env, timeout=timeout, check=True, merge_stderr=False)
    return json.loads(process.stdout)


def run_main(capsys, *args: str) -> subprocess.CompletedProcess:
    """`mnist-pipeline ARGS` in this process (`pipeline.cli.main.main`), on the home the
    environment names (the `home` fixture sets it): its exit code and what it printed.
    argparse's own exits (`--help`, a bad command line) are exit codes too."""
    from pipeline.cli.main import main

    capsys.readouterr()  # only what this command prints
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["mnist-pipeline", *args], code, out, err)
