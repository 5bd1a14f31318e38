"""Headless runs (``make demo``) read answers from an echo file, never from kernel output."""

from __future__ import annotations

from lexilux_nb.testing import Reply


def test_echo_file_gets_the_plain_text_and_the_notebook_gets_no_stream(
    server, shell, kernel, run, tmp_path, monkeypatch
) -> None:
    echo = tmp_path / "echo.txt"
    monkeypatch.setenv("LEXILUX_NB_ECHO", str(echo))
    shell.run_line_magic("unload_ext", "lexilux_nb")  # the trait default is read on load
    shell.run_line_magic("load_ext", "lexilux_nb")
    server.queue(Reply(text="Hello **echo**."))
    ran = run("%%chat\nSay hello.")
    assert ran.error is None
    assert echo.read_text().startswith("Hello **echo**.\n— ")
    assert ran.stdout == "" and ran.stderr == ""  # nothing leaks into the notebook's streams
    assert ran.answer["text/plain"] == "Hello **echo**."


def test_without_echo_file_nothing_is_written(server, shell, kernel, run, tmp_path) -> None:
    server.queue(Reply(text="quiet"))
    ran = run("%%chat\nSay it.")
    assert ran.error is None and ran.stdout == ""
    assert shell.configurables[-1].echo_file is None
