"""The inspection commands (pipeline/cli/inspect.py: runs, show, lineage, compare, report,
schema-diff) on a home where nothing has run yet: one line, exit 2, nothing written. What they
show of real runs is tested on real runs, in tests/e2e/test_end_to_end.py."""
import pytest

from tests.support.cli import run_main

NO_RUNS = "no pipeline has run in this home yet"


@pytest.mark.parametrize("args", [["runs"], ["runs", "--json"], ["show"], ["show", "-1", "--verbose"],
                                  ["show", "manual__x", "--json"], ["compare", "-1", "-2"], ["report"],
                                  ["schema-diff"], ["lineage", "-1"], ["lineage", "--span", "1"],
                                  ["lineage", "--examples", "3"]])
def test_every_inspection_of_an_empty_home_says_nothing_has_run_yet(home, capsys, args):
    refused = run_main(capsys, *args)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip() == f"mnist-pipeline {args[0]}: no metadata store at {home.metadata_db}: {NO_RUNS}"
    assert not home.root.exists()


def test_lineage_needs_a_model_examples_or_a_span(home, capsys):
    refused = run_main(capsys, "lineage")
    assert refused.returncode == 2
    assert refused.stderr.strip() == "mnist-pipeline lineage: give a pushed model (version or path), " \
        "--examples ARTIFACT_ID or --span N"
