from tfx.types import standard_artifacts

from components.baseline import (
    BLESSING_KEY,
    CANDIDATE_KEY,
    MODEL_KEY,
    LatestBlessedOtherModelStrategy,
)


def _model(artifact_id):
    model = standard_artifacts.Model()
    model.id = artifact_id
    return model


def _blessing(model_id, blessed, artifact_id):
    blessing = standard_artifacts.ModelBlessing()
    blessing.id = artifact_id
    blessing.set_int_custom_property("current_model_id", model_id)
    blessing.set_int_custom_property("blessed", int(blessed))
    return blessing


def _resolve(models, blessings, candidate):
    return LatestBlessedOtherModelStrategy().resolve_artifacts(
        None, {MODEL_KEY: models, BLESSING_KEY: blessings, CANDIDATE_KEY: candidate})


def test_latest_blessed_model_is_the_baseline():
    models = [_model(1), _model(2), _model(3), _model(4)]
    blessings = [_blessing(1, True, 11), _blessing(2, True, 12), _blessing(3, False, 13)]
    result = _resolve(models, blessings, [models[3]])
    assert [m.id for m in result[MODEL_KEY]] == [2]
    assert [b.id for b in result[BLESSING_KEY]] == [12]
    assert [m.id for m in result[CANDIDATE_KEY]] == [4]


def test_the_candidate_is_never_its_own_baseline():
    # An unchanged re-run: the cached Trainer returns model 2, which is the latest blessed one.
    models = [_model(1), _model(2)]
    blessings = [_blessing(1, True, 11), _blessing(2, True, 12)]
    assert [m.id for m in _resolve(models, blessings, [models[1]])[MODEL_KEY]] == [1]
    # The first blessed model re-run: no other blessed model, so no baseline, as in its first run.
    assert _resolve([models[0]], [blessings[0]], [models[0]])[MODEL_KEY] == []


def test_no_blessed_model_means_no_baseline():
    result = _resolve([_model(1)], [_blessing(1, False, 11)], [_model(2)])
    assert result[MODEL_KEY] == [] and result[BLESSING_KEY] == []


def test_a_model_a_person_refused_is_no_baseline():
    models = [_model(1), _model(2), _model(3)]
    refused = _blessing(2, True, 12)
    refused.set_string_custom_property("refused_before_push", "rejected")
    result = _resolve(models, [_blessing(1, True, 11), refused], [models[2]])
    assert [m.id for m in result[MODEL_KEY]] == [1]
