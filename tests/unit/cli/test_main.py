"""The parser and the way out of every command (pipeline/cli/main.py): help, a bad command line,
and a reader that goes away."""
import subprocess

from pipeline.cli.main import build_parser
from tests.support.cli import command, environment, run_main
from tests.support.commands import subcommands


def test_every_command_has_help(home, capsys):
    for name in ("data", "run", "resume", "runs", "show", "lineage", "compare", "report", "config",
                 "schema-diff"):
        result = run_main(capsys, name, "--help")
        assert result.returncode == 0 and "usage: mnist-pipeline" in result.stdout


def test_every_group_and_subcommand_the_parser_has_prints_its_help(home, capsys):
    """Walked from the parser, so that a new command or group (airflow up, predict) has help too."""
    walked = subcommands(build_parser())
    assert {"data", "run", "predict", "airflow", "airflow up", "airflow down", "airflow status"} <= set(walked)
    for path in walked:
        result = run_main(capsys, *path.split(), "--help")
        assert result.returncode == 0, path
        assert result.stdout.startswith(f"usage: mnist-pipeline {path}"), (path, result.stdout[:200])
    top = run_main(capsys, "--help")
    assert top.returncode == 0 and all(name in top.stdout for name in walked if " " not in name)
    assert not home.root.exists()


def test_a_bad_command_line_is_argparse_s_exit_2_with_usage(home, capsys):
    for args, message in ((["no-such-command"], "invalid choice: 'no-such-command'"),
                          ([], "the following arguments are required: COMMAND"),
                          (["data", "--limit", "many"], "argument --limit: invalid int value: 'many'"),
                          (["airflow", "up", "--executor", "kubernetes"], "argument --executor: invalid choice"),
                          (["compare", "-1"], "the following arguments are required: run_b")):
        refused = run_main(capsys, *args)
        assert refused.returncode == 2, args
        assert "usage: mnist-pipeline" in refused.stderr and message in refused.stderr, (args, refused.stderr)


def test_output_to_a_closed_pipe_ends_quietly(home):
    """`mnist-pipeline ... | head`: when the reader goes away, no BrokenPipeError traceback.
    A process of its own: the pipe's reader must really be gone."""
    process = subprocess.Popen(command("config"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=environment(home))
    process.stdout.close()  # the reader is gone before the first line is written
    assert process.wait(timeout=120) == 141
    assert process.stderr.read() == b""
