"""nbval runs the example notebooks in a real kernel against a scripted fake server."""

from __future__ import annotations

from tests import notebook_server

_server = notebook_server.start()  # before nbval starts the kernels, which inherit the env


def pytest_sessionfinish() -> None:
    _server.stop()
