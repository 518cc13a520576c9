"""`mnist-pipeline runs | show | lineage | compare | report | schema-diff`: what the metadata store
recorded, for people (tables) and scripts (--json)."""
from __future__ import annotations

import json
from pathlib import Path

from components import features, nodes, tf_env
from pipeline.cli.options import RUN_HELP, print_json
from pipeline.home import Home
from pipeline.metadata import approvals
from pipeline.metadata.lineage import describe_artifact, downstream_models, model_origin
from pipeline.metadata.runs import (
    component_runs,
    iso_time,
    list_runs,
    resolve_run_id,
    summarize_run,
)
from pipeline.metadata.spans import span_of
from pipeline.metadata.store import open_store
from pipeline.reports import schema_diff
from pipeline.reports.anomalies import found_in_run
from pipeline.reports.text import evaluation_lines
from pipeline.storage import files as stored
from schema import SCHEMA_FILE


def cmd_schema_diff(args) -> int:
    home = Home.from_env()
    store = open_store(home)
    run_id = resolve_run_id(store, args.run)
    runs = component_runs(store, run_id)
    inferred = runs.get(nodes.SCHEMA_GEN) and runs[nodes.SCHEMA_GEN].outputs.get("schema")
    if not inferred:
        raise LookupError(f"run {run_id} has no schema from SchemaGen")
    inferred_file = stored.path(inferred[0].uri) / "schema.pbtxt"
    lines = schema_diff.differences(schema_diff.load_schema(SCHEMA_FILE), schema_diff.load_schema(inferred_file))
    if args.json:
        print_json({"run_id": run_id, "curated": str(SCHEMA_FILE), "inferred": str(inferred_file),
                    "differences": lines})
        return 0
    print(f"curated: {SCHEMA_FILE}\ninferred (run {run_id}): {inferred_file}")
    print("\n".join(f"  {line}" for line in lines) if lines else "  no differences")
    return 0


def _states_short(summary) -> str:
    letters = {"COMPLETE": "ok", "CACHED": "cached", "FAILED": "FAILED", "RUNNING": "running",
               "CANCELED": "interrupted"}
    return " ".join(f"{node}:{letters.get(c.state, c.state)}" for node, c in summary.components.items())


def cmd_runs(args) -> int:
    home = Home.from_env()
    runs = list_runs(home)
    decided = approvals.decisions(open_store(home)) if runs else {}
    if args.json:
        print_json([{**r.to_json(), "approval": decided.get(r.run_id)} for r in runs])
        return 0
    if not runs:
        print("no runs yet")
        return 0
    print(f"{'run id':<42} {'started (UTC)':<20} {'secs':>6}  {'state':<11} {'span':>4}  {'trained on':<10}  "
          f"{'accuracy':>8}  {'blessed':<7} pushed")
    for r in runs:
        started = (iso_time(r.started_ms) or "")[:19].replace("T", " ")
        accuracy = f"{r.accuracy:.4f}" if r.accuracy is not None else "-"
        blessed = {True: "yes", False: "no", None: "-"}[r.blessed]
        seconds = f"{r.seconds:>6.0f}" if r.time_known else f"{'?':>6}"
        span = r.ingested["span"] if r.ingested and r.ingested["span"] is not None else "-"
        print(f"{r.run_id:<42} {started:<20} {seconds}  {r.state:<11} {span:>4}  {r.trained_spans or '-':<10}  "
              f"{accuracy:>8}  {blessed:<7} {r.pushed_version or '-'}")
        print(f"{'':<4}{_states_short(r)}")
        if r.run_id in decided:
            print(f"{'':<4}approval: {approvals.describe(decided[r.run_id])}")
    return 0


def cmd_show(args) -> int:
    """A run as a report: components with state and time, anomalies, metrics, the verdict with
    its baseline named by version and run. `--verbose` adds every artifact with all its
    properties; `--json` holds everything."""

    home = Home.from_env()
    store = open_store(home)
    run_id = resolve_run_id(store, args.run)
    summary = summarize_run(home, run_id, store)
    validated, anomalies = found_in_run(summary.components)
    baseline = model_origin(store, summary.baseline_model_id) if summary.baseline_model_id else None
    report_file = home.report_file(run_id)
    if args.json:
        data = summary.to_json(describe=lambda artifact: describe_artifact(store, artifact))
        data["anomalies"] = [dict(zip(("found_by", "split", "feature", "kind", "description"), row))
                             for row in anomalies]
        data["baseline"] = baseline
        data["report"] = str(report_file) if report_file.exists() else None
        data["approval"] = approvals.decision_of(store, run_id)
        print_json(data)
        return 0
    started = (iso_time(summary.started_ms) or "?")[:19].replace("T", " ")
    took = f"{summary.seconds:.0f} s from {started} UTC" if summary.time_known else \
        f"started {started} UTC, its end unknown (a step's process died)"
    state = summary.state + (f" (stopped after {summary.stopped_after})" if summary.stopped_after else "")
    print(f"run {run_id}\n  {state}, {took}, commit "
          f"{summary.git_commit or 'unknown'}")
    print(f"  config: {' '.join(f'{k}={v}' for k, v in summary.config.items()) or '(not recorded)'}")
    print("\ncomponents:")
    for c in summary.components.values():
        print(f"  {c.node_id:<30} {c.state:<9} " + ("      ? s  (its process died; when is not known)"
                                                    if c.orphaned else f"{c.seconds:7.1f} s"))
        if args.verbose:
            _print_artifacts(store, c)
    print("\ndata:")
    for line in _data_lines(summary):
        print(f"  {line}")
    _print_tuning(summary)
    print("\ndata validation:")
    if anomalies:
        for found_by, split, feature, kind, description in anomalies:
            print(f"  {found_by}: {split} {feature} {kind}: {description}")
    else:
        print("  no anomalies" if validated else "  not run")
    print("\nevaluation:")
    for line in evaluation_lines(summary, baseline) or ["not run"]:
        print("  " + line)
    if decision := approvals.decision_of(store, run_id):
        print(f"\napproval: {approvals.describe(decision)}")
    if summary.pushed_path:
        print(f"\npushed: version {summary.pushed_version} at {summary.pushed_path}")
    print(f"report: {report_file if report_file.exists() else '(none yet: mnist-pipeline report ' + run_id + ')'}")
    if not args.verbose:
        print("(every artifact and its properties: --verbose, or --json)")
    return 0


def _span_words(span: dict) -> str:
    number = "a folder without spans" if span["span"] is None else f"span {span['span']}"
    return f"{number} (examples {span['examples_id']}: {span['source']})"


def _data_lines(summary) -> list[str]:
    """Which span the run ingested, and which spans its model learnt from."""
    if summary.ingested is None:
        return ["nothing ingested"]
    lines = [f"ingested {_span_words(summary.ingested)}; the Evaluator judges on its eval split"]
    if [s["examples_id"] for s in summary.trained_on] == [summary.ingested["examples_id"]]:
        lines.append("trained on this span alone")
    elif summary.trained_on:
        lines.append(f"trained on spans {summary.trained_spans or '-'}:")
        lines += [f"  {_span_words(span)}" for span in summary.trained_on]
    return lines


def _print_tuning(summary) -> None:
    """The settings the Trainer used and, when the Tuner searched, its trials and the winner."""
    tuning = summary.tuning
    if tuning is not None:
        trials = tuning["trials"]
        if not trials:
            print("\ntuning: off (tune_trials 0): the Trainer took the config's recipe")
        else:
            best = next((t for t in trials if t["trial"] == tuning["best_trial"]), None)
            took = sum(t["seconds"] for t in trials)
            print(f"\ntuning: {len(trials)} trials in {took:.0f} s, scored by accuracy on a holdout of the "
                  f"training split; the winner, trial {tuning['best_trial']}"
                  + (f", holdout accuracy {best['score']:.4f}:" if best else ":"))
            header, rows = summary.trial_table()
            widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
            for line in (header, *rows):
                print("  " + "  ".join(f"{cell:<{w}}" for cell, w in zip(line, widths)).rstrip())
    if summary.trained_with:
        print("trained with: " + " ".join(f"{k}={v}" for k, v in summary.trained_with.items()))
    if summary.confidence_calibration:
        c = summary.confidence_calibration
        print(f"confidence calibrated: temperature {c['temperature']:.3f} on {c['examples']} held-out examples, "
              f"mean confidence {c['mean_confidence_before']:.3f} -> {c['mean_confidence_after']:.3f}")


def _print_artifacts(store, component) -> None:
    for side, artifacts in (("in ", component.inputs), ("out", component.outputs)):
        for key, items in artifacts.items():
            for artifact in items:
                described = describe_artifact(store, artifact)
                print(f"      {side} {key:<22} {described['type']:<18} id {artifact.id:<5} {artifact.uri}")
                for name, value in sorted(described["properties"].items()):
                    print(f"          {name} = {value}")


def cmd_lineage(args) -> int:
    from pipeline.metadata.lineage import (
        describe_artifact,
        downstream_models,
        find_pushed_model,
        upstream,
    )

    if sum(map(bool, (args.model, args.examples, args.span is not None))) != 1:
        raise ValueError("give a pushed model (version or path), --examples ARTIFACT_ID or --span N")
    store = open_store(Home.from_env())
    if args.span is not None:
        return _lineage_of_span(store, args.span, args.json)
    if args.examples:
        [artifact] = store.get_artifacts_by_id([args.examples]) or [None]
        if artifact is None:
            raise LookupError(f"no artifact with id {args.examples}")
        models = downstream_models(store, artifact.id)
        if args.json:
            print_json({"examples": describe_artifact(store, artifact), "models": models})
            return 0
        print(f"artifact {artifact.id} ({artifact.uri}) was used to train {len(models)} model(s):")
        for model in models:
            print(f"  model {model['id']}: {model['uri']}")
        return 0
    from pipeline.metadata.serving_changes import changes_of

    pushed = find_pushed_model(store, args.model)
    steps = upstream(store, pushed.id)
    changes = [c.to_dict() for c in changes_of(store, pushed.id)]
    run_id = next((s["run_id"] for s in steps if s["run_id"]), None)
    summary = summarize_run(Home.from_env(), run_id, store) if run_id else None
    if args.json:
        print_json({"pushed_model": describe_artifact(store, pushed), "run_id": run_id,
                     "git_commit": summary.git_commit if summary else None,
                     "config": summary.config if summary else None,
                     "trained_on_spans": summary.trained_on if summary else [], "steps": steps,
                     "serving_changes": changes})
        return 0
    described = describe_artifact(store, pushed)
    if Path(args.model).name == Path(features.FEATURE_EXTRACTOR_FILE).name:
        print(f"feature extractor {Path(args.model).expanduser().resolve()}, of")
    print(f"pushed model {described['properties'].get('pushed_version')} at "
          f"{described['properties'].get('pushed_destination')}")
    if summary:
        print(f"made by run {run_id}, commit {summary.git_commit}")
        print(f"config: {' '.join(f'{k}={v}' for k, v in summary.config.items())}")
        print(f"trained on spans {summary.trained_spans or '-'}:")
        for span in summary.trained_on:
            print(f"  {_span_words(span)}")
    for step in steps:
        print(f"\n<- {step['component']} (execution {step['execution_id']}, {step['state']}, run {step['run_id']})")
        for key, artifacts in step["inputs"].items():
            for artifact in artifacts:
                print(f"     {key:<22} {artifact['type']:<18} id {artifact['id']:<5} {artifact['uri']}")
    if changes:
        print("\nserving label changes (mnist.ServingLabelChange executions):")
    for c in changes:
        moved = f"{c['label']} -> {c['version']}" if c["label"] else f"pruned {c['version']}"
        print(f"  {c['at']}  execution {c['execution_id']}: {c['action']} {moved} by {c['user']}: {c['command']}")
    return 0


def _lineage_of_span(store, span: int, as_json: bool) -> int:
    """Every model trained on a span: for each Examples artifact of that span (one per data set,
    or more when it was ingested again), the models made from it, with their runs and versions."""

    found = [a for a in store.get_artifacts_by_type("Examples") if span_of(a)["span"] == span]
    if not found:
        raise LookupError(f"no span {span} was ingested yet; `mnist-pipeline runs` lists the spans runs ingested")
    result = []
    for artifact in sorted(found, key=lambda a: a.id):
        models = [{**model_origin(store, m["id"]), "uri": m["uri"]}
                  for m in downstream_models(store, artifact.id)]
        result.append({**span_of(artifact), "models": models})
    if as_json:
        print_json({"span": span, "examples": result})
        return 0
    for entry in result:
        print(f"{_span_words(entry)} was used to train {len(entry['models'])} model(s):")
        for model in entry["models"]:
            pushed = f"pushed as version {model['pushed_version']}" if model["pushed_version"] else "not pushed"
            print(f"  model {model['model_id']}, run {model['run_id']}, {pushed}")
    return 0


def cmd_compare(args) -> int:
    home = Home.from_env()
    store = open_store(home)
    a, b = (summarize_run(home, resolve_run_id(store, r), store) for r in (args.run_a, args.run_b))
    keys = sorted(set(a.config) | set(b.config))
    config_rows = [(k, a.config.get(k), b.config.get(k)) for k in keys if a.config.get(k) != b.config.get(k)]
    # What the models were trained with: the config's recipe, with the Tuner's winner applied.
    settings_rows = [(k, a.trained_with.get(k), b.trained_with.get(k))
                     for k in sorted(set(a.trained_with) | set(b.trained_with))
                     if a.trained_with.get(k) != b.trained_with.get(k)]
    metric_rows = [("accuracy", a.accuracy, b.accuracy)] + [
        (f"digit {d}", a.accuracy_per_digit.get(d), b.accuracy_per_digit.get(d))
        for d in sorted(set(a.accuracy_per_digit) | set(b.accuracy_per_digit))]
    other_rows = [("state", a.state, b.state), ("seconds", round(a.seconds), round(b.seconds)),
                  ("blessed", a.blessed, b.blessed), ("pushed version", a.pushed_version, b.pushed_version),
                  ("git commit", a.git_commit, b.git_commit)]
    if args.json:
        print_json({"runs": [a.run_id, b.run_id],
                     "config": {k: [x, y] for k, x, y in config_rows},
                     "model_settings": {k: [x, y] for k, x, y in settings_rows},
                     "metrics": {k: [x, y] for k, x, y in metric_rows}, "other": {k: [x, y] for k, x, y in other_rows}})
        return 0
    width = max(len(a.run_id), len(b.run_id), 12)
    print(f"{'':<16} {a.run_id:<{width}} {b.run_id:<{width}}")
    print("config (differences only):" if config_rows else "config: identical")
    for key, x, y in config_rows:
        print(f"  {key:<14} {str(x):<{width}} {str(y):<{width}}")
    if not (a.trained_with and b.trained_with):
        print("model settings: not recorded (a run without a trained model, or from before they were)")
    else:
        print("model settings (what the Trainer used, differences only):" if settings_rows
              else "model settings: identical")
    for key, x, y in settings_rows:
        print(f"  {key:<14} {str(x):<{width}} {str(y):<{width}}")
    print("metrics:")
    for key, x, y in metric_rows:
        change = f"{y - x:+.4f}" if x is not None and y is not None else ""
        fx, fy = (f"{v:.4f}" if v is not None else "-" for v in (x, y))
        print(f"  {key:<14} {fx:<{width}} {fy:<{width}} {change}")
    for key, x, y in other_rows:
        print(f"  {key:<14} {str(x):<{width}} {str(y):<{width}}")
    return 0


def cmd_report(args) -> int:
    from pipeline.reports import report  # numpy and PIL: only when a report is written

    tf_env.quiet_tensorflow()
    home = Home.from_env()
    run_id = resolve_run_id(open_store(home), args.run)
    path = report.write_report(home, run_id, Path(args.output) if args.output else None)
    print(json.dumps({"run_id": run_id, "report": str(path)}) if args.json else path)
    return 0


def add_commands(commands) -> None:
    diff = commands.add_parser("schema-diff",
                               help="how the schema SchemaGen inferred differs from the curated one")
    diff.add_argument("run", nargs="?", help=RUN_HELP)
    diff.set_defaults(func=cmd_schema_diff)

    runs = commands.add_parser("runs", help="one row per pipeline run, from the metadata store")
    runs.set_defaults(func=cmd_runs)

    show = commands.add_parser("show", help="a run's components, anomalies, metrics and verdict")
    show.add_argument("run", nargs="?", help=RUN_HELP)
    show.add_argument("--verbose", "-v", action="store_true",
                      help="also every component's input and output artifacts with all their properties")
    show.set_defaults(func=cmd_show)

    lineage = commands.add_parser("lineage", help="from a pushed model back to its data, code and config")
    lineage.add_argument("model", nargs="?",
                         help="a pushed model: its version number, its serving path (or a file in it, such as its "
                              "feature extractor), or -1 for the latest pushed, -2 the one before, ...")
    lineage.add_argument("--examples", type=int, metavar="ARTIFACT_ID",
                         help="the other way: every model trained from this artifact (e.g. an Examples id)")
    lineage.add_argument("--span", type=int, metavar="N", help="the other way: every model trained on span N")
    lineage.set_defaults(func=cmd_lineage)

    compare = commands.add_parser("compare", help="config and metric differences of two runs")
    compare.add_argument("run_a", help=RUN_HELP)
    compare.add_argument("run_b", help=RUN_HELP)
    compare.set_defaults(func=cmd_compare)

    report = commands.add_parser("report", help="(re)write a run's HTML report and print its path")
    report.add_argument("run", nargs="?", help=RUN_HELP)
    report.add_argument("--output", "-o", metavar="PATH",
                        help="write it here (a file, or a folder for index.html) instead of reports/<run id>/")
    report.set_defaults(func=cmd_report)

    for command in (runs, show, lineage, compare, report, diff):
        command.add_argument("--json", action="store_true", help="machine-readable output")
