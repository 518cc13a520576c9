"""Beam's runner, chosen explicitly for the Beam components (StatisticsGen, Transform, the Evaluator,
ImportExampleGen's fallback).

With no Beam options, Beam 2.72's DirectRunner first tries the Prism runner: it spends about 3 s
setting it up, tries to download its binary from GitHub (a URL in every Beam task's log, and a
request no machine without internet answers), then falls back to the FnApiRunner, in this
process. This operator starts on the FnApiRunner directly. Giving TFX any Beam option instead
would make each Beam executor build TFX as an sdist for remote workers, about 3 s each time
(pipeline/config.py: DEFAULT_BEAM_ARGS). With `beam_args` set, Beam runs as they say.
"""
from __future__ import annotations

from tfx.orchestration.portable import beam_executor_operator


class ExplicitRunnerOperator(beam_executor_operator.BeamExecutorOperator):
    """TFX's Beam executor operator; with no Beam options, its pipelines run on the FnApiRunner."""

    def run_executor(self, execution_info, make_beam_pipeline_fn=None):
        if make_beam_pipeline_fn is None and not self.beam_pipeline_args:
            make_beam_pipeline_fn = in_process_pipeline
        return super().run_executor(execution_info, make_beam_pipeline_fn)


def in_process_pipeline():
    """A Beam pipeline on the FnApiRunner in this process: what the DirectRunner ends up using."""
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    return beam.Pipeline(runner=fn_runner.FnApiRunner(), options=beam.options.pipeline_options.PipelineOptions([]))
