"""The commands and options of `mnist-pipeline`, walked from its argparse parser
(`pipeline.cli.main.build_parser`) through argparse's `_subparsers` and `_actions`."""
from __future__ import annotations

import argparse


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...]):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield path + (name,), sub
                yield from _walk(sub, path + (name,))


def subcommands(parser: argparse.ArgumentParser) -> list[str]:
    """Every command and subcommand, as typed after `mnist-pipeline` ("data", "airflow up")."""
    return [" ".join(path) for path, _ in _walk(parser, ())]


def long_options(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """Each command's --options (not --help), by command as `subcommands` names them."""
    found = {}
    for path, sub in _walk(parser, ()):
        found[" ".join(path)] = [option for action in sub._actions if not isinstance(action, argparse._HelpAction)
                                 for option in action.option_strings if option.startswith("--")]
    return found
