"""``python -m lexilux_nb.testing``: serve a fake OpenAI-compatible API until Ctrl-C."""

from __future__ import annotations

import sys

from .server import main

sys.exit(main())
