"""The pipeline's settings (pipeline/config.py): defaults, the home's config.yaml, --set, and
every value checked with its reason."""
import pytest

from pipeline.config import PipelineConfig, load_config, parse_assignments
from pipeline.errors import ConfigError


def test_defaults_come_from_the_dataclass(home):
    config = load_config(home=home)
    assert config == PipelineConfig()
    assert config.train_examples == 0 and config.eval_examples == 0


def test_yaml_overrides_then_command_line_overrides(home, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 7\nbatch_size: 256\n")
    config = load_config(path, parse_assignments(["epochs=2", "min_accuracy=0.5"]), home=home)
    assert (config.epochs, config.batch_size, config.min_accuracy) == (2, 256, 0.5)
    assert config.overrides() == {"epochs": 2, "batch_size": 256, "min_accuracy": 0.5}


def test_home_config_file_is_read_by_default(home):
    home.root.mkdir(parents=True)
    home.config_file.write_text("train_examples: 100\n")
    assert load_config(home=home).train_examples == 100


@pytest.mark.parametrize("assignment, message", [
    ("epochs=0", "epochs must be at least 1"),
    ("epochs=two", "epochs must be a whole number, got 'two'"),
    ("epochs=101", "epochs must be at least 1 and at most 100, got 101"),
    ("batch_size=100000", "batch_size must be at least 1 and at most 8,192"),
    ("seed=-3", "seed must be a whole number from 0 to 4,294,967,295, got -3"),
    ("seed=4294967296", "seed must be a whole number from 0 to 4,294,967,295"),
    ("learning_rate=nan", "learning_rate must be positive and at most 1"),
    ("learning_rate=5", "learning_rate must be positive and at most 1"),
    ("min_accuracy=high", "min_accuracy must be a number, got 'high'"),
    ("max_digit_drop=nan", "max_digit_drop must lie in [0, 1]"),
    ("train_examples=-5", "train_examples must be 0"),
    ("min_accuracy=1.5", "min_accuracy must lie in [0, 1]"),
    ("learning_rate=0", "learning_rate must be positive"),
    ("colour=red", "unknown config key 'colour'"),
    ("max_shift=9", "max_shift must lie in [0, 8] pixels"),
    ("precision=half", "precision must be one of auto, float32, bfloat16"),
    ("beam_args=direct_num_workers=2", "beam_args holds 'direct_num_workers=2', which is not an --option"),
    ("beam_args=--runner='Flink", "beam_args cannot be split into options"),
    ("conv_filters=0", "conv_filters must be at least 1 and at most 256, got 0"),
    ("dropout=1", "dropout must lie in [0, 1\\), got 1.0"),
    ("stages=5", "stages must be at least 1 and at most 4 .28x28 halved to 1x1., got 5"),
    ("convs_per_stage=0", "convs_per_stage must be at least 1 and at most 4, got 0"),
    ("max_rotation=181", "max_rotation must lie in [0, 180] degrees, got 181.0"),
    ("max_scale=1", "max_scale must lie in [0, 1\\), got 1.0"),
    ("label_smoothing=-0.1", "label_smoothing must lie in [0, 1\\), got -0.1"),
    ("preset=turbo", "preset must be empty .the default recipe. or one of fast, got 'turbo'"),
    ("tune_trials=-1", "tune_trials must be 0 .no search. or a count up to 100, got -1"),
    ("tune_trials=2.5", "tune_trials must be a whole number"),
    ("tune_minutes=0", "tune_minutes must be above 0 and at most 1,440, got 0.0"),
    ("schedule=every day", "schedule must be empty .a run per new span. or a cron expression"),
    ("require_approval=perhaps", "require_approval must be true or false, got 'perhaps'"),
    ("approval_timeout_minutes=0", "approval_timeout_minutes must lie in .0, 43200] .30 days., got 0.0"),
])
def test_bad_values_are_refused_with_the_reason(home, assignment, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(overrides=parse_assignments([assignment]), home=home)


def test_set_needs_key_equals_value():
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignments(["epochs"])


def test_bad_yaml_and_missing_file(home, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml", home=home)
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path, home=home)


def test_the_trainer_gets_the_whole_recipe_and_nothing_else_decides_it(home):
    from components.recipe import Recipe

    config = load_config(overrides=parse_assignments(["epochs=5", "max_shift=0"]), home=home)
    recipe = config.recipe()
    assert (recipe.epochs, recipe.max_shift, recipe.batch_size) == (5, 0.0, PipelineConfig().batch_size)
    assert Recipe.from_custom_config({**recipe.to_custom_config(), "code_version": "x"}) == recipe
    # No fallback defaults in the Trainer: a recipe key missing from its custom_config is an error.
    partial = {k: v for k, v in recipe.to_custom_config().items() if k != "batch_size"}
    with pytest.raises(ValueError, match="lacks the recipe's batch_size"):
        Recipe.from_custom_config(partial)


def test_beam_args_default_to_beams_own_defaults_and_pass_through_as_split(home):
    assert PipelineConfig().beam_pipeline_args() == []
    config = load_config(overrides=parse_assignments(
        ["beam_args=--runner=FlinkRunner --flink_master=flink:8081 --job_name='mnist nightly'"]), home=home)
    assert config.beam_pipeline_args() == ["--runner=FlinkRunner", "--flink_master=flink:8081",
                                           "--job_name=mnist nightly"]


def test_every_accepted_seed_is_one_the_trainer_can_use():
    """The Trainer seeds TensorFlow (and NumPy) with the config's seed: the extremes the config
    accepts must be accepted there too, so that no run fails late on it."""
    import tensorflow as tf

    from components.recipe import MAX_SEED

    for seed in (0, MAX_SEED):
        PipelineConfig(seed=seed)
        tf.keras.utils.set_random_seed(seed)


def test_a_cron_schedule_and_approval_are_read_from_the_command_line(home):
    config = load_config(overrides=parse_assignments(["schedule=0 3 * * *", "require_approval=yes",
                                                       "approval_timeout_minutes=0.5"]), home=home)
    assert (config.schedule, config.require_approval, config.approval_timeout_minutes) == ("0 3 * * *", True, 0.5)
    assert load_config(home=home).require_approval is False  # off by default


def test_a_preset_sets_its_recipe_values_beneath_the_file_and_the_command_line(home, tmp_path):
    from components.recipe import PRESETS

    fast = load_config(overrides={"preset": "fast"}, home=home)
    assert fast.recipe() == PipelineConfig(**PRESETS["fast"]).recipe() != PipelineConfig().recipe()
    path = tmp_path / "c.yaml"
    path.write_text("preset: fast\nepochs: 2\n")
    assert load_config(path, home=home).epochs == 2
    assert load_config(path, parse_assignments(["epochs=6"]), home=home).epochs == 6
    # What a run records (its overrides) loads back to the same config.
    assert load_config(overrides=fast.overrides(), home=home) == fast
