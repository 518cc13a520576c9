"""`mnist-pipeline storage status/down` (pipeline/cli/storage.py) where no object store runs, and
`up` refusing a taken port before it starts anything. A real server: tests/e2e/test_object_store.py."""
import socket

from tests.support.cli import run_main


def test_status_without_a_server_is_exit_1_and_says_how_to_start_it(home, capsys):
    status = run_main(capsys, "storage", "status")
    assert status.returncode == 1
    assert status.stdout.strip() == f"no object store runs for {home.root / 'object-store'}: start it with " \
                                    "`mnist-pipeline storage up`"


def test_down_without_a_server_is_a_no_op(home, capsys, tmp_path):
    down = run_main(capsys, "storage", "down", "--dir", str(tmp_path / "store"))
    assert down.returncode == 0 and down.stdout.strip() == f"no object store runs for {tmp_path / 'store'}"


def test_up_on_a_taken_port_says_so(home, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = run_main(capsys, "storage", "up", "--port", str(port))
    assert up.returncode == 2 and up.stdout == ""
    assert up.stderr.strip() == f"mnist-pipeline storage: port {port} on 127.0.0.1 is taken: pick another S3 port"
