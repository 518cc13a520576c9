"""deploy/init-airflow.sh, read: the admin's password never reaches a program's command line (the
script runs for real, watched, in tests/e2e/test_deploy_image.py)."""
import re
import shlex

from tests.support.deploy import REPO


def test_the_init_script_expands_the_admin_password_only_in_shell_builtins():
    """What the watched run (tests/e2e/test_deploy_image.py) cannot rule out for processes shorter
    than its polling: every line of deploy/init-airflow.sh that expands the password runs no
    program with it. It reaches Airflow through a pipe from printf (a bash builtin) into
    `airflow users create`'s prompt."""
    script = (REPO / "deploy" / "init-airflow.sh").read_text()
    lines = [line.strip() for line in script.replace("\\\n", " ").splitlines()
             if not line.strip().startswith("#")]
    uses = [line for line in lines if re.search(r"admin_password|AIRFLOW_ADMIN_PASSWORD", line)]
    builtins = (":", "admin_password=$AIRFLOW_ADMIN_PASSWORD", "unset", "printf")
    assert uses and all(line.split()[0] in builtins for line in uses), uses
    [pipe] = [line for line in uses if line.startswith("printf")]
    printed, _, receiver = pipe.partition("|")
    # Twice: getpass asks for the password, then for its confirmation.
    assert printed.split()[1:] == ["'%s\\n%s\\n'", '"$admin_password"', '"$admin_password"'], printed
    receiver = shlex.split(receiver)
    assert receiver[receiver.index("airflow"):][:3] == ["airflow", "users", "create"], receiver
    # No terminal, so that getpass reads stdin; no password option on the command line.
    assert receiver[receiver.index("airflow") - 2:receiver.index("airflow")] == ["setsid", "--wait"], receiver
    assert not {"-p", "--password", "--use-random-password"} & set(receiver), receiver

