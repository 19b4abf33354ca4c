"""The public surface of the package root is what we mean, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import callisto


def test_root_exports() -> None:
    assert callisto.__all__ == ["Settings", "__version__", "create_app"]
    assert callisto.create_app.__name__ == "create_app"
    assert callisto.Settings.__name__ == "Settings"


def test_importing_the_root_loads_no_server_dependency() -> None:
    code = (
        "import sys, callisto; "
        "heavy = [m for m in ('fastapi', 'sqlalchemy', 'uvicorn', 'starlette') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
