"""Which model the Evaluator compares the new one against.

TFX's LatestBlessedModelStrategy returns the latest blessed model, full stop. When the Trainer
comes back cached, the candidate *is* that model: the Evaluator then compares a model with itself
(under the legacy launcher MLMD even rejects the duplicate input event), blesses it again, and the
Pusher pushes the same model as a new serving version. The baseline must be the latest blessed
model *other than the candidate*: then an unchanged re-run resolves the same baseline as the run
it repeats, and Evaluator and Pusher are cached like everything else.

A model that a person refused before its push (`require_approval`: rejected, or not answered in
time) stays blessed by the Evaluator but is no baseline either: the approval step marks its
ModelBlessing (`REFUSED_PROPERTY`, pipeline/metadata/approvals.py).
"""
from __future__ import annotations

from tfx import types
from tfx.dsl.components.common import resolver
from tfx.types import standard_artifacts

from components.nodes import REFUSED_PROPERTY

MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"
CANDIDATE_KEY = "candidate"


class LatestBlessedOtherModelStrategy(resolver.ResolverStrategy):
    """The latest blessed Model that is not the candidate, nor refused by a person, with its
    ModelBlessing.

    Inputs: `model` (all models), `model_blessing` (all blessings), `candidate` (the model under
    evaluation). Output: the same keys; `model` and `model_blessing` hold the baseline or
    nothing, `candidate` is passed through.
    """

    def resolve_artifacts(
        self, store, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        candidate_ids = {a.id for a in input_dict.get(CANDIDATE_KEY, [])}
        blessed = {
            b.get_int_custom_property("current_model_id"): b
            for b in input_dict.get(BLESSING_KEY, [])
            if isinstance(b, standard_artifacts.ModelBlessing) and b.get_int_custom_property("blessed") == 1
            and not b.get_string_custom_property(REFUSED_PROPERTY)
        }
        result = {MODEL_KEY: [], BLESSING_KEY: [], CANDIDATE_KEY: list(input_dict.get(CANDIDATE_KEY, []))}
        for model in sorted(input_dict.get(MODEL_KEY, []), key=lambda a: a.id, reverse=True):
            if model.id in blessed and model.id not in candidate_ids:
                result[MODEL_KEY] = [model]
                result[BLESSING_KEY] = [blessed[model.id]]
                break
        return result
