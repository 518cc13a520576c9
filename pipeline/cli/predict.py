"""`mnist-pipeline predict FILE...`: classify digit images with the pushed model or a model server."""
from __future__ import annotations

import argparse
import json
import sys

from pipeline.home import Home


def cmd_predict(args) -> int:
    from pipeline.serving import inference

    model = inference.load_model(Home.from_env(), server=args.server, model_name=args.model_name,
                                 version=args.version, form=args.request_form, label=args.label)
    predictions, errors = model.classify_files(args.files)
    if args.json:
        print(json.dumps({"model": model.where, "predictions": [p.to_dict() for p in predictions],
                          "errors": [e.to_dict() for e in errors]}, indent=2))
    else:
        print_table(model.where, predictions)
    for error in errors:
        print(f"mnist-pipeline predict: {error.error}", file=sys.stderr)
    if not predictions:
        print("mnist-pipeline predict: nothing could be classified", file=sys.stderr)
    # A file that could not be read is bad input, as for every command: exit 2, after every other
    # file was classified.
    return 2 if errors else 0


def print_table(where: str, predictions) -> None:
    print(f"model: {where}")
    if not predictions:
        return
    width = max(len("file"), *(len(p.source) for p in predictions))
    print(f"{'file':<{width}}  digit  confidence  runner-up   reliable")
    for p in predictions:
        second = sorted(range(len(p.probabilities)), key=p.probabilities.__getitem__)[-2]
        print(f"{p.source:<{width}}  {p.digit:>5}  {p.confidence:>10.4f}  "
              f"{second} ({p.probabilities[second]:.4f})  {'NO: ' + p.unreliable if p.unreliable else 'yes'}")


def add_commands(commands) -> None:
    predict = commands.add_parser(
        "predict", help="classify digits in PNG/JPEG images, .npy arrays or IDX files",
        description="Classify digits with the latest pushed model (or --server); in a home whose storage is "
                    "a bucket, the version is fetched from it to a local temporary folder first. PNG and JPEG images "
                    "of any size and colour are converted to 28x28 the way MNIST was made; .npy arrays "
                    "([28, 28], [N, 28, 28], [784] or [N, 784], values 0-255) and IDX image files are "
                    "taken as MNIST-format digits. A file that cannot be read gets one line on stderr and "
                    "the others are still classified; the exit code is then 2.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    predict.add_argument("files", nargs="+", metavar="FILE")
    predict.add_argument("--server", metavar="URL",
                         help="a TensorFlow Serving REST endpoint, e.g. http://127.0.0.1:8501 "
                              "(default: load the latest pushed model in this process)")
    predict.add_argument("--model-name",
                         help="the model's name in serving (default: the home's pipeline_name, "
                              "the folder the Pusher pushes to: mnist unless config.yaml says otherwise)")
    predict.add_argument("--version", type=int, help="a pushed version (default: the latest)")
    predict.add_argument("--label", choices=("stable", "canary"),
                         help="the version this serving label names (`serving status`): locally from the "
                              "models config, with --server through TF Serving's /labels/<label> route")
    predict.add_argument("--request-form", choices=("rows", "columns"), default="rows",
                         help="with --server: TF Serving's row ('instances') or columnar ('inputs') "
                              "request format (default: rows)")
    predict.add_argument("--json", action="store_true", help="machine-readable output")
    predict.set_defaults(func=cmd_predict)
