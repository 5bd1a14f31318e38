"""The notebook as context: bounded, model-friendly descriptions of values (issue 14, started)."""

from .describe import describe, register_describer

__all__ = ["describe", "register_describer"]
