"""Figures, PIL images and image outputs as image content parts, downscaled to ``image_max_px``;
placeholders (never base64) in the dry run, the context item and the history views."""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib
import pytest
from PIL import Image

from lexilux_nb.client.messages import content_text
from lexilux_nb.context.images import placeholder, png_size, url_placeholder
from lexilux_nb.notebook.errors import ChatCellError

matplotlib.use("agg")
import matplotlib.pyplot as plt


def ok(ran: Any) -> Any:
    assert ran.error is None, f"{ran.error!r}\n{ran.stdout}\n{ran.stderr}"
    return ran


def parts(server: Any) -> list[dict[str, Any]]:
    assert server.requests, "no request was sent"
    content = server.requests[-1].messages[-1]["content"]
    assert isinstance(content, list), content
    return content


def png_in(part: dict[str, Any]) -> Image.Image:
    assert part["type"] == "image_url"
    header, payload = part["image_url"]["url"].split(",", 1)
    assert header == "data:image/png;base64"
    image = Image.open(io.BytesIO(base64.b64decode(payload)))
    assert image.format == "PNG"
    return image


@pytest.fixture
def fig(shell: Any) -> Any:
    figure, axes = plt.subplots()  # 6.4 × 4.8 in at 100 dpi: 640 × 480
    axes.plot([1, 3, 2])
    shell.user_ns["fig"] = figure
    yield figure
    plt.close(figure)


def test_a_figure_becomes_an_image_part_between_text_parts(server: Any, run: Any, fig: Any) -> None:
    ok(run("%%chat\nWhat does {fig} show? Be brief."))
    sent = parts(server)
    assert [p["type"] for p in sent] == ["text", "image_url", "text"]
    assert sent[0] == {"type": "text", "text": "What does "}
    assert sent[2] == {"type": "text", "text": " show? Be brief."}
    assert png_in(sent[1]).size == (640, 480)


def test_a_figure_is_rendered_within_image_max_px(server: Any, run: Any, fig: Any) -> None:
    ok(run("%chat_config image_max_px=200"))
    ok(run("%%chat\n{fig}"))
    (image,) = parts(server)
    assert png_in(image).size == (200, 150)
    assert fig.get_dpi() == 100  # the user's figure is left as it was


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "CMYK", "I;16"])
def test_a_pil_image_is_shrunk_to_the_cap(server: Any, run: Any, shell: Any, mode: str) -> None:
    shell.user_ns["img"] = Image.new(mode, (2000, 1000))
    ok(run("%%chat\n{img}"))
    (image,) = parts(server)
    assert png_in(image).size == (1024, 512)
    assert shell.user_ns["img"].size == (2000, 1000)  # not resized in place


def test_a_small_image_is_sent_at_its_size(server: Any, run: Any, shell: Any) -> None:
    shell.user_ns["img"] = Image.new("RGB", (30, 20), "red")
    ok(run("%%chat\nA {img} and text"))
    sent = parts(server)
    image = png_in(sent[1])
    assert image.size == (30, 20) and image.convert("RGB").getpixel((5, 5)) == (255, 0, 0)


def test_two_images_keep_their_order(server: Any, run: Any, shell: Any, fig: Any) -> None:
    shell.user_ns["img"] = Image.new("RGB", (10, 10))
    ok(run("%%chat\n{fig} versus {img}"))
    sent = parts(server)
    assert [p["type"] for p in sent] == ["image_url", "text", "image_url"]
    assert png_in(sent[0]).size == (640, 480) and png_in(sent[2]).size == (10, 10)
    assert sent[1]["text"] == " versus "


def test_an_image_output_referenced_with_out(server: Any, run: Any, shell: Any) -> None:
    shell.run_cell(
        "from PIL import Image\nfrom IPython.display import display\n"
        "display(Image.new('RGB', (1500, 300), 'blue'))",
        store_history=True,
    )
    ok(run("%chat_config image_max_px=600"))
    ok(run("%%chat\nDescribe {Out[1]}"))
    sent = parts(server)
    assert sent[0] == {"type": "text", "text": "Describe "}
    image = png_in(sent[1])
    assert image.size == (600, 120) and image.convert("RGB").getpixel((1, 1)) == (0, 0, 255)
    assert len(sent) == 2  # the display's text/plain is not sent beside its image


def test_a_figure_result_referenced_with_out(server: Any, run: Any, shell: Any, fig: Any) -> None:
    shell.run_cell("fig", store_history=True)
    ok(run("%%chat\n{Out[1]}"))
    (image,) = parts(server)
    assert png_in(image).size == (640, 480)


def test_a_broken_image_output_is_a_short_error(server: Any, run: Any, shell: Any) -> None:
    class Broken:
        def _repr_png_(self) -> bytes:
            return b"\x89PNG\r\n\x1a\nnot really"

    shell.user_ns["Broken"] = Broken
    shell.run_cell("from IPython.display import display\ndisplay(Broken())", store_history=True)
    ran = run("%%chat\n{Out[1]}")
    assert isinstance(ran.error, ChatCellError)
    assert "could not be read as PNG" in str(ran.error)
    assert server.requests == []


def test_the_dry_run_shows_placeholders_never_base64(
    server: Any, run: Any, shell: Any, fig: Any, kernel: Any
) -> None:
    ran = ok(run("%%chat --dry-run\nLook at {fig}"))
    assert server.requests == []
    preview = [b for b in ran.bundles if "Dry run" in b.get("text/plain", "")]
    assert len(preview) == 1
    text, html, body = (preview[0][k] for k in ("text/plain", "text/html", "application/json"))
    assert "Look at \n[image 640×480 PNG, " in text
    assert "[image 640×480 PNG, " in html
    url = body["body"]["messages"][-1]["content"][1]["image_url"]["url"]
    assert url.startswith("[image 640×480 PNG, ") and url.endswith(" KB]")
    assert "base64" not in ran.everything and "iVBOR" not in ran.everything


def test_the_context_item_shows_a_placeholder(server: Any, run: Any, fig: Any, kernel: Any) -> None:
    ran = ok(run("%%chat\n{fig}"))
    item = [b for b in ran.bundles if "lexilux-context" in b.get("text/html", "")]
    assert len(item) == 1
    assert "{fig}: [image 640×480 PNG, " in item[0]["text/plain"]
    assert "base64" not in ran.everything and "iVBOR" not in ran.everything


def test_the_history_keeps_the_image_and_its_views_show_a_placeholder(
    server: Any, run: Any, shell: Any, fig: Any
) -> None:
    ok(run("%%chat\n{fig} first"))
    ok(run("%%chat\nand now?"))
    history = shell.user_ns["chat_history"]
    first = history.get_messages()[0]["content"]
    assert first[0]["type"] == "image_url"  # kept whole: the next turn sends it again
    resent = server.requests[-1].messages[0]["content"]
    assert resent == first and png_in(resent[0]).size == (640, 480)
    for view in (history.to_markdown(), history.to_html(), history._repr_html_()):
        assert "[image 640×480 PNG, " in view
        assert "base64" not in view and "iVBOR" not in view


def test_placeholders() -> None:
    out = io.BytesIO()
    Image.new("RGB", (64, 32)).save(out, format="PNG")
    png = out.getvalue()
    assert png_size(png) == (64, 32) and png_size(b"GIF89a") is None
    assert placeholder(png) == "[image 64×32 PNG, 1 KB]"
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    assert url_placeholder(url) == "[image 64×32 PNG, 1 KB]"
    assert url_placeholder("data:image/jpeg;base64,/9j/4AAQ") == "[image JPEG, 1 KB]"
    assert url_placeholder("https://example.org/a.png") is None
    content = [{"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": url}}]
    assert content_text(content) == "see\n[image 64×32 PNG, 1 KB]"
    web = [{"type": "image_url", "image_url": {"url": "https://example.org/a.png"}}]
    assert content_text(web) == "[image: https://example.org/a.png]"
