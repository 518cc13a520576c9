"""The user documentation against the code: every command and every --option of the parser
(pipeline/cli/main.py) is in docs/commands.md, each option in its command's section; and how
the README's command block is read (tests/e2e/test_readme_commands.py runs it for real)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.cli.main import build_parser
from tests.support.commands import long_options, subcommands
from tests.support.readme import commands_in_brief

REPO = Path(__file__).resolve().parents[2]
COMMANDS_DOC = REPO / "docs" / "commands.md"
README = REPO / "README.md"
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$", re.MULTILINE)


def _has_option(text: str, option: str) -> bool:
    """`option` as a whole word: `--limit` is not found in `--eval-limit`, nor `--set` in `--settings`."""
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def _has_command(text: str, command: str) -> bool:
    """`command` as a command, not as a word of the prose: after `mnist-pipeline `, in backticks,
    or as a heading."""
    return re.search(rf"(?:mnist-pipeline +|`|^#+ +){re.escape(command)}(?![\w-])", text, re.MULTILINE) is not None


def sections(text: str) -> dict[str, str]:
    """Heading text (backticks dropped) -> the text under it, down to the next heading of its level or above."""
    headings = list(HEADING.finditer(text))
    found = {}
    for i, heading in enumerate(headings):
        level = len(heading.group(1))
        end = next((h.start() for h in headings[i + 1:] if len(h.group(1)) <= level), len(text))
        title = heading.group(2).replace("`", "").strip()
        found[title] = found.get(title, "") + text[heading.end():end]  # a heading twice: both parts
    return found


def missing_from(text: str, parser) -> list[str]:
    """The commands and `command --option`s of `parser` that `text` does not name."""
    missing = [f"command {command}" for command in subcommands(parser) if not _has_command(text, command)]
    for command, options in long_options(parser).items():
        missing += [f"{command} {option}" for option in options if not _has_option(text, option)]
    return missing


def missing_from_sections(text: str, parser) -> list[str]:
    """The `command --option`s not in the section of their command: the heading named after the
    command's first word (`## data`, `## airflow` for `airflow up`)."""
    by_heading = sections(text)
    missing = []
    for command, options in long_options(parser).items():
        group = command.split()[0]
        section = by_heading.get(group)
        if section is None:
            missing.append(f"{command}: no section headed `{group}`")
            continue
        if " " in command and not _has_command(section, command):
            missing.append(f"command {command} (in the `{group}` section)")
        missing += [f"{command} {option}" for option in options if not _has_option(section, option)]
    return missing


def test_every_subcommand_and_option_is_in_the_commands_doc():
    assert COMMANDS_DOC.is_file(), "docs/commands.md is missing: every command and option is documented there"
    missing = missing_from(COMMANDS_DOC.read_text(), build_parser())
    assert missing == [], f"docs/commands.md does not name: {missing}"


def test_each_command_s_options_are_in_its_own_section_of_the_commands_doc():
    assert COMMANDS_DOC.is_file(), "docs/commands.md is missing: every command and option is documented there"
    missing = missing_from_sections(COMMANDS_DOC.read_text(), build_parser())
    assert missing == [], f"docs/commands.md, by section, does not name: {missing}"


def _complete_doc(parser) -> str:
    """A doc that names everything the parser has, each command in its group's section."""
    groups: dict[str, list[str]] = {}
    for command, options in long_options(parser).items():
        groups.setdefault(command.split()[0], []).append(f"`mnist-pipeline {command}` " + " ".join(options))
    return "\n".join(f"## {group}\n\n" + "\n".join(lines) + "\n" for group, lines in groups.items())


def test_the_check_finds_an_option_or_a_command_that_is_missing():
    """The walk finds the nested commands and every option, and the checks fail when one is gone."""
    parser = build_parser()
    options = long_options(parser)
    assert {"data", "airflow", "airflow up", "predict"} <= set(subcommands(parser))
    assert "--eval-limit" in options["data"] and "--limit" in options["data"] and "--help" not in options["data"]
    assert "--executor" in options["airflow up"] and "--json" in options["airflow status"]
    complete = _complete_doc(parser)
    assert missing_from(complete, parser) == [] and missing_from_sections(complete, parser) == []

    without = complete.replace("--eval-limit", "")
    assert missing_from(without, parser) == ["data --eval-limit"]  # --limit alone does not count for it
    assert missing_from_sections(without, parser) == ["data --eval-limit"]
    no_executor = complete.replace("--executor", "")
    assert missing_from(no_executor, parser) == ["airflow up --executor"]
    no_status = complete.replace("mnist-pipeline airflow status", "mnist-pipeline airflow")
    assert "command airflow status" in missing_from(no_status, parser)
    # An option named in another command's section only is not in its own.
    moved = complete.replace(" --server", "") + "\n## runs\n\n--server\n"
    assert missing_from(moved, parser) == [] and missing_from_sections(moved, parser) == ["predict --server"]


def test_the_readme_s_commands_in_brief_are_read_in_order_without_blank_or_comment_lines():
    text = ("# x\n\n## Commands in brief\n\nSome words.\n\n```bash\n# a comment\nmnist-pipeline data --limit 100\n\n"
            "python -c \"print(1)\"\nmnist-pipeline run \\\n  --set epochs=1   # one epoch\n"
            "mnist-pipeline runs | head -3\n"
            "```\n\n```bash\nmnist-pipeline not-this-block\n```\n\n## Next\n\n```bash\nmnist-pipeline nor-this\n```\n")
    assert commands_in_brief(text) == ["mnist-pipeline data --limit 100", 'python -c "print(1)"',
                                       "mnist-pipeline run    --set epochs=1   # one epoch",
                                       "mnist-pipeline runs | head -3"]
    with pytest.raises(LookupError, match="no '## Commands in brief' section"):
        commands_in_brief("## Commands\n\n```bash\nmnist-pipeline runs\n```\n")
    with pytest.raises(LookupError, match="has no ```bash block"):
        commands_in_brief("## Commands in brief\n\n    mnist-pipeline runs\n\n"
                          "## Next\n\n```bash\nmnist-pipeline x\n```\n")
    readme = commands_in_brief(README.read_text())
    assert readme and all(line.split()[0] in ("mnist-pipeline", "python") for line in readme), readme
