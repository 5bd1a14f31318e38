"""Images in prompts: matplotlib figures, PIL images and PNG outputs as image content parts.

An image is sent as an OpenAI ``image_url`` part holding a PNG data URL, its longest side at most
``max_px`` (figures are rendered at a lower dpi, PNGs and PIL images are shrunk with Pillow).
Wherever a prompt is shown (``--dry-run``, history views) the payload is replaced by a
placeholder such as ``[image 640×480 PNG, 23 KB]`` (the client's content → text rule): base64
is never shown. matplotlib and
Pillow are imported only when an image is met.
"""

from __future__ import annotations

import base64
import binascii
import copy
import io
import struct
from collections.abc import Mapping
from typing import Any

from ..client.errors import ValidationError
from ..client.messages import data_url_placeholder

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DATA_URL = "data:image/png;base64,"


def is_figure(value: Any) -> bool:
    module = type(value).__module__.split(".")[0]
    return module == "matplotlib" and hasattr(value, "savefig") and hasattr(value, "get_dpi")


def is_pil_image(value: Any) -> bool:
    module = type(value).__module__.split(".")[0]
    return module == "PIL" and hasattr(value, "save") and hasattr(value, "mode")


def is_image(value: Any) -> bool:
    """A value sent as an image part rather than as text."""
    return is_figure(value) or is_pil_image(value)


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's header, or None when ``data`` is not a PNG."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ValidationError(
            "shrinking an image to image_max_px needs Pillow: pip install 'lexilux-nb[context]' "
            "(or pip install pillow), or raise the cap with %chat_config image_max_px=..."
        ) from None
    return Image


def _pil_png(image: Any, max_px: int) -> bytes:
    if max(image.size) > max_px:
        image = image.copy()
        image.thumbnail((max_px, max_px))
    if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.mode else "RGB")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def shrink_png(data: bytes, max_px: int) -> bytes:
    """``data`` (a PNG) with its longest side at most ``max_px``."""
    size = png_size(data)
    if size is not None and max(size) <= max_px:
        return data
    pillow = _pillow()
    try:
        image = pillow.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError, SyntaxError) as exc:  # what Pillow raises for a broken image
        raise ValidationError(f"an image could not be read as PNG ({exc})") from None
    return _pil_png(image, max_px)


def png_of(value: Any, max_px: int) -> bytes:
    """The PNG bytes of a figure, a PIL image, PNG bytes or a base64 PNG, at most ``max_px``."""
    if is_figure(value):
        width, height = value.get_size_inches()
        dpi = min(float(value.get_dpi()), max_px / max(width, height, 1e-9))
        out = io.BytesIO()
        value.savefig(out, format="png", dpi=dpi)
        return shrink_png(out.getvalue(), max_px)  # rounding can leave a pixel over the cap
    if is_pil_image(value):
        return _pil_png(value, max_px)
    if isinstance(value, str):
        try:
            value = base64.b64decode(value, validate=False)
        except (binascii.Error, ValueError):
            raise ValidationError("an image output held text that is not base64") from None
    if isinstance(value, bytes | bytearray):
        return shrink_png(bytes(value), max_px)
    raise ValidationError(f"a {type(value).__name__} is not an image")


def image_part(png: bytes) -> dict[str, Any]:
    """An OpenAI chat ``image_url`` content part."""
    return {"type": "image_url", "image_url": {"url": DATA_URL + base64.b64encode(png).decode()}}


def placeholder(png: bytes) -> str:
    """``[image 640×480 PNG, 23 KB]``"""
    size = png_size(png)
    shape = f"{size[0]}×{size[1]} " if size else ""
    return f"[image {shape}PNG, {max(1, round(len(png) / 1024))} KB]"


url_placeholder = data_url_placeholder  # one rule, in the client's content → text


def _url(part: Mapping[str, Any]) -> str:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, Mapping) else image
    return str(url or "")


def redacted(body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a request body with image data URLs replaced by their placeholders."""
    shown = copy.deepcopy(dict(body))
    for message in shown.get("messages", []):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image_url":
                    text = url_placeholder(_url(part))
                    if text is not None:
                        part["image_url"] = {**part.get("image_url", {}), "url": text}
    return shown
