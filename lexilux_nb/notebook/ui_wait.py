"""Wait for a click on a widget while the cell that showed it is still running.

A running cell holds the kernel's main thread, and the messages a click sends (``comm_msg``) are
read on that thread, so by default they wait until the cell ends. Two ways through:

- kernels with ``do_one_iteration`` (ipykernel 6 and early 7): ``jupyter_ui_poll`` runs the
  kernel's message loop a step at a time while we wait, holding back other cells' requests;
- ipykernel 7.x without it (measured on 7.4, where ``jupyter_ui_poll`` silently processes
  nothing): kernel subshells. The shell-channel thread routes a comm's messages to the subshell
  its last message came from (``Comm._reply_subshell_for``), so the prompt's widgets are routed
  to one subshell of ours, whose own thread runs the click handlers while the cell waits here.

Ctrl-C (the stop button) interrupts the wait in both. A kernel with neither (or without
``jupyter_ui_poll`` installed where it is needed) is asked with ``input()``, which Jupyter shows
as a text box under the cell (:func:`can_wait` says which).
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Iterable
from typing import Any

_SUBSHELLS: dict[int, str] = {}  # id(kernel) -> the subshell our prompts are routed to


def _kernel() -> Any:
    from IPython.core.getipython import get_ipython

    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        raise RuntimeError("a widget can wait for a click only in a Jupyter kernel")
    return kernel


def _poller() -> Callable[..., Any]:
    try:
        from jupyter_ui_poll import run_ui_poll_loop
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "approve='ask' in a notebook needs jupyter-ui-poll to wait for your click while the "
            "cell runs: pip install 'lexilux_nb[tools]' (or jupyter-ui-poll), or use "
            "--approve always / never"
        ) from None
    return run_ui_poll_loop  # type: ignore[no-any-return]


def _subshell(kernel: Any) -> str | None:
    """Our subshell's id (made once per kernel), or None when the kernel has no subshells."""
    known = _SUBSHELLS.get(id(kernel))
    if known is not None:
        return known
    channel: Any = getattr(kernel, "shell_channel_thread", None)
    manager = getattr(channel, "manager", None)
    create = getattr(manager, "_create_subshell", None)
    if create is None or not getattr(kernel, "_supports_kernel_subshells", False):
        return None
    made: concurrent.futures.Future[str] = concurrent.futures.Future()

    def on_channel_thread() -> None:  # the manager creates subshells only on that thread
        try:
            made.set_result(create())
        except Exception as exc:  # pragma: no cover - kernel internals
            made.set_exception(exc)

    channel.io_loop.add_callback(on_channel_thread)
    subshell = made.result(timeout=10)
    _SUBSHELLS[id(kernel)] = subshell
    return subshell


def can_wait() -> bool:
    """Whether this kernel can handle a click while a cell runs (else ask with ``input()``)."""
    try:
        kernel = _kernel()
    except RuntimeError:
        return False
    if hasattr(kernel, "do_one_iteration"):
        try:
            _poller()
        except ImportError:
            return False
        return True
    return getattr(kernel, "_supports_kernel_subshells", False) is True and hasattr(
        getattr(getattr(kernel, "shell_channel_thread", None), "manager", None), "_create_subshell"
    )


def wait_for_click(ready: Callable[[], Any], widgets: Iterable[Any], *, sleep: float = 0.05) -> Any:
    """Return ``ready()``'s first non-None value, with the widgets' clicks handled meanwhile."""
    kernel = _kernel()
    if hasattr(kernel, "do_one_iteration"):
        return _poller()(ready, sleep=sleep, n=4)
    subshell = _subshell(kernel)
    if subshell is None:
        raise RuntimeError(
            "this kernel cannot handle a click while a cell runs (ipykernel without "
            "do_one_iteration or subshells); use --approve always / never"
        )
    for widget in widgets:
        comm = getattr(widget, "comm", None)
        if comm is not None:
            comm._reply_subshell_id = subshell  # its frontend messages go to our subshell
    while True:
        value = ready()
        if value is not None:
            return value
        time.sleep(sleep)
