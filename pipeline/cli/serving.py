"""`mnist-pipeline serving status | promote | rollback | prune`: the served versions, their labels
`stable` and `canary` in TensorFlow Serving's models config, and every change recorded in MLMD."""
from __future__ import annotations

import argparse
import json

from pipeline.home import Home


def _served():
    from pipeline.config import load_config
    from pipeline.metadata.store import open_store
    from pipeline.serving.registry import Served

    home = Home.from_env()
    config = load_config(home=home)
    return Served(home, config), open_store(home, config)


def cmd_status(args) -> int:
    from pipeline.serving import registry

    served, store = _served()
    status = registry.status(served, store)
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(f"model {status['model']}: {served.folder}")
    missing = " (not written yet: nothing was pushed since serving labels came)"
    print(f"models config: {status['models_config']}" + ("" if status["models_config_exists"] else missing))
    if not status["versions"]:
        print("no version is pushed yet: `mnist-pipeline run` pushes a blessed model")
        return 0
    print(f"{'version':<12} {'labels':<14} {'accuracy':>8}  {'spans':<7} {'commit':<12} run / model card")
    for v in status["versions"]:
        accuracy = f"{v['accuracy']:.4f}" if v["accuracy"] is not None else "-"
        commit = (v["git_commit"] or "-")[:12]
        print(f"{v['version']:<12} {','.join(v['labels']) or '-':<14} {accuracy:>8}  {v['spans'] or '-':<7} "
              f"{commit:<12} {v['run_id'] or '(no record in MLMD)'}")
        if v["model_card"]:
            print(f"{'':<12} model card: {v['model_card']}")
    if status["history"]:
        print("label history (newest last):")
        for change in status["history"][-args.history:]:
            moved = f"{change['label']} -> {change['version']}" if change["label"] else f"removed {change['version']}"
            before = f" (was {change['previous']})" if change["previous"] else ""
            print(f"  {change['at']}  {change['action']:<8} {moved}{before}  by {change['user']}: {change['command']}")
    return 0


def cmd_promote(args) -> int:
    from pipeline.serving import registry

    served, store = _served()
    change = registry.promote(served, store, args.version, f"mnist-pipeline serving promote {args.version}")
    _refresh_cards(served, store)
    was = f" (was {change['previous']})" if change["previous"] else ""
    print(f"version {change['version']} is stable{was}; {served.config_file} rewritten, "
          f"recorded as MLMD execution {change['execution_id']}")
    return 0


def cmd_rollback(args) -> int:
    from pipeline.serving import registry

    served, store = _served()
    change = registry.rollback(served, store, "mnist-pipeline serving rollback")
    _refresh_cards(served, store)
    print(f"stable rolled back from version {change['previous']} to {change['version']}; {served.config_file} "
          f"rewritten, recorded as MLMD execution {change['execution_id']}")
    return 0


def cmd_prune(args) -> int:
    from pipeline.serving import registry

    served, store = _served()
    removed = registry.prune(served, store, args.keep, f"mnist-pipeline serving prune --keep {args.keep}")
    if not removed:
        print(f"nothing to prune: at most {args.keep} version(s) without a label in {served.folder}")
        return 0
    print(f"removed {len(removed)} version(s) without a label, oldest first: {', '.join(map(str, removed))}")
    return 0


def _refresh_cards(served, store) -> None:
    """The model cards show the labels: rewrite their label sections (no TensorFlow needed)."""
    from pipeline.reports import model_card

    model_card.refresh_labels(served, store)


def add_commands(commands) -> None:
    serving = commands.add_parser(
        "serving", help="served versions and their labels: status, promote, rollback, prune",
        description="The versions pushed to serving/<pipeline_name>/ and their labels stable and canary in "
                    "TensorFlow Serving's models config (<home>/serving/<pipeline_name>.models.config, or under the "
                    "home's storage when it is a bucket). Every change is recorded in MLMD; `lineage VERSION` "
                    "shows it.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = serving.add_subparsers(dest="action", required=True, metavar="ACTION")

    status = actions.add_parser("status", help="each version, its labels, run, commit, accuracy, spans")
    status.add_argument("--json", action="store_true", help="machine-readable output, with the whole label history")
    status.add_argument("--history", type=int, default=10, metavar="N",
                        help="label changes shown, newest last (default: 10)")
    status.set_defaults(func=cmd_status)

    promote = actions.add_parser("promote", help="make a pushed, blessed version stable")
    promote.add_argument("version", type=int, metavar="VERSION", help="a version in serving/<pipeline_name>/")
    promote.set_defaults(func=cmd_promote)

    rollback = actions.add_parser("rollback", help="stable goes back to the version stable before it")
    rollback.set_defaults(func=cmd_rollback)

    prune = actions.add_parser("prune", help="remove versions that carry no label, oldest first")
    prune.add_argument("--keep", type=int, required=True, metavar="N",
                       help="keep the newest N versions without a label (labelled ones are always kept)")
    prune.set_defaults(func=cmd_prune)
