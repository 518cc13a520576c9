"""Which spans the Trainer learns from (components/spans.py), on real TFX artifacts."""
from tfx.types import standard_artifacts

from components import features, spans


def _examples(artifact_id: int, span: int, data_set: str = "A"):
    artifact = standard_artifacts.Examples()
    artifact.id = artifact_id
    artifact.set_int_custom_property(features.SPAN_PROPERTY, span)
    artifact.set_string_custom_property(features.DATA_SET_PROPERTY, data_set)
    return artifact


def _spans(chosen) -> list[tuple[int, int]]:
    return [(a.id, spans.span_of(a)) for a in chosen]


def test_the_latest_good_spans_of_the_data_set_up_to_this_runs_span():
    history = [_examples(1, 1), _examples(2, 2), _examples(3, 3), _examples(4, 4), _examples(9, 2, "B"),
               _examples(7, 2)]  # span 2 ingested again (its files changed): the later one counts
    anchor = _examples(8, 5)
    failed = {4}  # span 4 failed the data gate

    def passed(artifact_id):
        return artifact_id not in failed

    assert _spans(spans.select(anchor, history + [anchor], 0, passed)) == [(1, 1), (7, 2), (3, 3), (8, 5)]
    assert _spans(spans.select(anchor, history, 3, passed)) == [(7, 2), (3, 3), (8, 5)]
    assert _spans(spans.select(anchor, history, 1, passed)) == [(8, 5)]


def test_a_rerun_of_an_older_span_never_takes_later_spans():
    history = [_examples(1, 1), _examples(2, 2), _examples(3, 3)]
    assert _spans(spans.select(history[1], history, 0, lambda _: True)) == [(1, 1), (2, 2)]
    # A fresh data set's span 1 takes nothing of the old data set.
    assert _spans(spans.select(_examples(4, 1, "C"), history, 0, lambda _: True)) == [(4, 1)]
