"""What TensorFlow Serving reads: the layout and signatures of a model pushed by a real pipeline
run (the session's `served_home`), checked with TensorFlow's saved_model_cli."""
import re
import subprocess
import sys
from pathlib import Path

from pipeline.config import load_config


def test_pushed_model_has_the_layout_and_signatures_tensorflow_serving_needs(served_home):
    from components.features import IMAGES_SIGNATURE, SERVING_SIGNATURE

    base = served_home.serving_dir(load_config(home=served_home))
    versions = [child for child in base.iterdir() if child.is_dir()]
    assert versions, f"nothing pushed under {base}"
    for version in versions:
        # TF Serving takes only folders named by a (64-bit) number as versions.
        assert version.name.isdigit() and int(version.name) < 2**63, version
        assert (version / "saved_model.pb").is_file()
        assert (version / "variables" / "variables.index").is_file()
        assert list((version / "variables").glob("variables.data-*"))

    latest = max(versions, key=lambda v: int(v.name))
    show = subprocess.run([str(Path(sys.executable).parent / "saved_model_cli"), "show", "--dir", str(latest), "--all"],
                          capture_output=True, text=True, timeout=300)
    assert show.returncode == 0, show.stderr
    assert "MetaGraphDef with tag-set: 'serve'" in show.stdout
    blocks = {match.group(1): block for block in show.stdout.split("signature_def[")[1:]
              if (match := re.match(r"'(\w+)'", block))}
    assert SERVING_SIGNATURE in blocks and IMAGES_SIGNATURE in blocks, sorted(blocks)

    def inputs_outputs(block: str) -> tuple[str, str]:
        inputs, _, rest = block.partition("The given SavedModel SignatureDef contains the following output(s):")
        return inputs, rest.split("Method name is:")[0]

    inputs, outputs = inputs_outputs(blocks[SERVING_SIGNATURE])
    assert "dtype: DT_STRING" in inputs and "shape: (-1)" in inputs
    inputs_images, outputs_images = inputs_outputs(blocks[IMAGES_SIGNATURE])
    assert "dtype: DT_FLOAT" in inputs_images and "shape: (-1, 28, 28)" in inputs_images
    for name in (SERVING_SIGNATURE, IMAGES_SIGNATURE):
        # TF Serving's Predict API takes predict, classify or regress signatures only.
        method = re.search(r"Method name is: (\S+)", blocks[name]).group(1)
        assert method in ("tensorflow/serving/predict", "tensorflow/serving/classify",
                          "tensorflow/serving/regress"), (name, method)
    for block in (outputs, outputs_images):
        assert re.search(r"outputs\['probabilities'\] tensor_info:\s+dtype: DT_FLOAT\s+shape: \(-1, 10\)", block), block
        assert re.search(r"outputs\['digit'\] tensor_info:\s+dtype: DT_INT64\s+shape: \(-1\)", block), block

