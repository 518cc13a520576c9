"""The pipeline's node ids: the one home of the names the DAG's tasks, MLMD's node contexts and
every reader of a run share. `pipeline/definition/pipeline.py` declares one builder per id
(tests/unit/definition/test_pipeline.py holds the two in step); components/ reads them too, so
they live below pipeline/."""

EXAMPLE_GEN = "ImportExampleGen"
CURATED_SCHEMA = "ImportSchemaGen"
STATISTICS_GEN = "StatisticsGen"
EXAMPLE_VALIDATOR = "ExampleValidator"
SCHEMA_GEN = "SchemaGen"
DATA_GATE = "DataValidationGate"
SPANS_RESOLVER = "latest_spans_resolver"
TRANSFORM = "Transform"
TUNER = "Tuner"
TRAINER = "Trainer"
BASELINE_RESOLVER = "latest_blessed_model_resolver"
EVALUATOR = "Evaluator"
PUSHER = "Pusher"

ALL = (EXAMPLE_GEN, CURATED_SCHEMA, STATISTICS_GEN, EXAMPLE_VALIDATOR, SCHEMA_GEN, DATA_GATE, SPANS_RESOLVER,
       TRANSFORM, TUNER, TRAINER, BASELINE_RESOLVER, EVALUATOR, PUSHER)

# Set on the ModelBlessing of a model a person refused before its push (pipeline/metadata/approvals.py):
# components/baseline.py then takes it as no baseline.
REFUSED_PROPERTY = "refused_before_push"
