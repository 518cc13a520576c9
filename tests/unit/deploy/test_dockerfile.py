"""The Dockerfile, read: what it copies into the image (its install steps run for real in
tests/e2e/test_deploy_image.py)."""
import shlex
from pathlib import Path

from tests.support.deploy import REPO, dockerfile_instructions


def test_the_dockerfile_copies_every_package_the_project_installs():
    """The image installs from the copied source: a package pyproject.toml includes but the
    Dockerfile does not copy would be missing from the image only."""
    import tomllib

    included = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {Path(source).name for keyword, arguments in dockerfile_instructions() if keyword == "COPY"
              for source in shlex.split(arguments)[:-1]}
    for pattern in included:
        assert pattern.rstrip("*") in copied, f"the Dockerfile does not COPY {pattern.rstrip('*')}/"

