"""Airflow's logins for one home: the admin (for people, in the web UI) and the API user (for
`mnist-pipeline run` and `resume` on the scheduler).

Users live in the FAB auth manager's tables in Airflow's database. The admin's password is
generated and shown once by `airflow up`; the API user's is kept in
<home>/airflow/services/api-user.json, readable by its owner only. A password never appears on
a command line (where `ps` shows it) or in a log: FAB's `airflow users create` reads it from its
standard input when it has no terminal (getpass's fallback).
"""
from __future__ import annotations

import json
import os
import secrets
import threading
from pathlib import Path

from pipeline.home import Home
from pipeline.services.processes import ServiceError, run_once

ADMIN_USER = "admin"
API_USER = "mnist-pipeline-api"


def api_credentials(home: Home) -> tuple[str, str]:
    path = home.api_credentials
    if not path.is_file():
        raise ServiceError(f"no API credentials in {path}: start Airflow with `mnist-pipeline airflow up`")
    data = json.loads(path.read_text())
    return data["username"], data["password"]


def write_secret(path: Path, data: dict[str, str]) -> None:
    """A file only its owner can read, written without a moment of wider permissions."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)


def _user_exists(output: str) -> bool:
    return "already exist" in output


def create_user(home: Home, env: dict[str, str], username: str, password: str, role: str) -> bool:
    """Create a user with this role; False when it existed already (then nothing changes)."""
    output = run_once(home, f"user-{username}", [
        "users", "create", "--username", username, "--role", role, "--firstname", username,
        "--lastname", "mnist-pipeline", "--email", f"{username}@localhost"], env, stdin=f"{password}\n{password}\n")
    return not _user_exists(output)


class Users:
    """The admin and the API user, created in a thread while the services start (each Airflow
    command takes seconds)."""

    def __init__(self, home: Home, env: dict[str, str]):
        self.home, self.env = home, env
        path = home.api_credentials
        known = json.loads(path.read_text()) if path.is_file() else {}
        self.api_password = known.get("password") or secrets.token_urlsafe(24)
        self.new_api_password = not known
        write_secret(path, {"username": API_USER, "password": self.api_password})
        self.admin_password = secrets.token_urlsafe(12)
        self.admin_created = False
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._create, daemon=True)
        self.thread.start()

    def _create(self) -> None:
        try:
            self.admin_created = create_user(self.home, self.env, ADMIN_USER, self.admin_password, "Admin")
            # The API user triggers and reads runs: FAB's User role, not Admin.
            created = create_user(self.home, self.env, API_USER, self.api_password, "User")
            if not created and self.new_api_password:
                # It exists with a password that was lost with its file: make it anew.
                run_once(self.home, f"user-{API_USER}", ["users", "delete", "--username", API_USER], self.env)
                create_user(self.home, self.env, API_USER, self.api_password, "User")
        except BaseException as err:  # handed to wait()
            self.error = err

    def wait(self) -> str | None:
        """The admin's new password, or None when the admin existed already."""
        self.thread.join(timeout=900)
        if self.error or self.thread.is_alive():
            raise self.error or ServiceError("creating Airflow's users did not finish in 15 minutes")
        return self.admin_password if self.admin_created else None
