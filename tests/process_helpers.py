"""The servers the tests start as child processes (clamd, SeaweedFS, nginx) end the same way."""

from __future__ import annotations

import subprocess


def terminate(process: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it lingers past ``timeout``; nothing if it has ended already."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
