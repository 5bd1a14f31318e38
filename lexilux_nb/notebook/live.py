"""The live view of a streaming answer: finished blocks are sent once, the tail is resent.

With ``anywidget`` installed (the ``live`` extra), a small widget receives each update as one
custom message holding only what changed (``render.Update``) and appends it in the browser, so
a 100 KB answer costs a few times its size in kernel traffic instead of the square of it
(``benchmarks/bench_live.py``). Without it, an ipywidgets ``HTML`` shows the whole HTML at each
update, updated less often as it grows (a bandwidth budget). Either way, the view is replaced by an
ordinary output when the answer ends; nothing here is saved in the notebook.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from .render import LIVE_BYTES_PER_SECOND, LiveRenderer, Update

CLASSES = "lexilux-answer lexilux-live jp-RenderedHTMLCommon"
# Its width never comes from its content: a long code line scrolls in its block instead of
# widening the output (widget containers are flex items that grow to their content).
FIT = "display:block;max-width:100%;min-width:0;contain:inline-size"

# Each section ("reasoning", "answer") keeps the number of commits it has applied; a commit whose
# number is not the next one follows one this view missed (its code was still loading), so it is
# skipped until the next reset brings everything.
ESM = """
const SECTIONS = ["reasoning", "answer"];

function build(el, boxStyle) {
  el.className = "__CLASSES__";
  if (boxStyle) el.setAttribute("style", boxStyle);
  const parts = {};
  const details = document.createElement("details");
  details.className = "lexilux-reasoning";
  details.hidden = true;
  const summary = document.createElement("summary");
  summary.textContent = "Reasoning";
  details.append(summary);
  el.append(details);
  for (const name of SECTIONS) {
    const done = document.createElement("div");
    const tail = document.createElement("div");
    (name === "reasoning" ? details : el).append(done, tail);
    parts[name] = { done, tail, count: 0 };
  }
  return { parts, details };
}

function apply(view, msg) {
  for (const name of SECTIONS) {
    const section = msg[name];
    if (!section) continue;
    const part = view.parts[name];
    if (msg.reset) {
      part.done.innerHTML = section.commit;
      part.count = section.n;
    } else if (section.commit && section.n === part.count + 1) {
      part.done.insertAdjacentHTML("beforeend", section.commit);
      part.count = section.n;
    }
    part.tail.innerHTML = section.tail;
    if (name === "reasoning") view.details.hidden = false;
  }
}

export default {
  render({ model, el }) {
    const view = build(el, model.get("box_style"));
    const onMessage = (msg) => {
      const started = performance.now();
      apply(view, msg);
      const log = (window.__lexiluxLive = window.__lexiluxLive || []);
      log.push({ ms: performance.now() - started, chars: el.innerHTML.length });
    };
    model.on("msg:custom", onMessage);
    return () => model.off("msg:custom", onMessage);
  },
};
""".replace("__CLASSES__", CLASSES)


def anywidget_available() -> bool:
    return importlib.util.find_spec("anywidget") is not None


_widget_class: Any = None


def _appending_widget() -> Any:
    """The anywidget class, defined on first use (the extra is imported lazily)."""
    global _widget_class
    if _widget_class is None:
        import anywidget
        import traitlets

        class LiveAnswerWidget(anywidget.AnyWidget):
            _esm = ESM
            box_style = traitlets.Unicode("").tag(sync=True)

        _widget_class = LiveAnswerWidget
    return _widget_class


class LiveAnswer:
    """Feed deltas; the widget (``.widget``) follows at most ``1 / interval`` times a second."""

    def __init__(
        self,
        *,
        interval: float = 0.05,
        box_style: str = "",
        appending: bool | None = None,
        clock: Any = None,
    ) -> None:
        import ipywidgets as widgets

        kwargs = {"interval": interval} if clock is None else {"interval": interval, "clock": clock}
        self.renderer = LiveRenderer(**kwargs)
        self.appending = anywidget_available() if appending is None else appending
        self._interval = interval
        self._box_style = f"{FIT};{box_style}" if box_style else FIT
        self.sent: list[dict[str, Any]] = []  # the messages sent (tests read them)
        self._shown: dict[str, str] = {}  # each section's whole HTML as of the last update
        if self.appending:
            self.widget = _appending_widget()(box_style=self._box_style)
        else:
            self.widget = widgets.HTML(value=self._whole({}))

    def feed(self, delta: str, section: str = "answer") -> None:
        update = self.renderer.feed(delta, section)
        if update is not None:
            self._send(update)

    def flush(self) -> None:
        """Send what the throttle held back (at the end of a stream)."""
        if self.renderer.pending:
            self._send(self.renderer.update())

    @property
    def html(self) -> str:
        """What the page shows now (whichever widget shows it)."""
        return self._whole(self._shown)

    def _send(self, update: Update) -> None:
        self._shown = {**self._shown, **self.renderer.whole(update)}
        if self.appending:
            message = update.message()
            self.sent.append(message)
            self.widget.send(message)
            return
        html = self._whole(self._shown)
        self.widget.value = html
        # Whole-HTML updates: past ~50 KB, update less often (about 1 MB/s of traffic at most).
        throttle = self.renderer.throttle
        if self._interval > 0:
            throttle.interval = max(self._interval, len(html) / LIVE_BYTES_PER_SECOND)

    def _whole(self, sections: dict[str, str]) -> str:
        body = ""
        if sections.get("reasoning"):
            body += (
                "<details class='lexilux-reasoning'><summary>Reasoning</summary>"
                f"{sections['reasoning']}</details>"
            )
        body += sections.get("answer") or "<span style='opacity:.6'>…</span>"
        style = f" style='{self._box_style}'" if self._box_style else ""
        return f"<div class='{CLASSES}'{style}>{body}</div>"

    def close(self) -> None:
        self.widget.close()
