"""A home's run lock held by another live process, as an in-process run holds it."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from pipeline.home import Home


def hold_run_lock(home: Home, run_id: str = "manual__1") -> subprocess.Popen:
    """A live process holding the home's run lock for `run_id`; kill it to let go."""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from pipeline.services import home_lock
        from pipeline.home import Home
        lock = home_lock.HomeLock(Home(Path({str(home.root)!r}))).acquire()
        lock.name_run({run_id!r})
        print("locked", flush=True)
        time.sleep(600)
        """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder
