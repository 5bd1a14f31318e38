"""Every default in one place, so the client, the magics and the panel cannot disagree."""

from __future__ import annotations

TIMEOUT_S = 120.0
"""Seconds to wait for a connection or for the next bytes (a thinking model may be slow)."""
CONNECT_TIMEOUT_S = 10.0
"""Seconds to wait for a connection in notebooks: a wrong URL fails fast."""
MAX_RETRIES = 2
"""Retries after a connection error, a timeout, 408, 409, 429 or 5xx."""
MAX_CONTINUES = 5
"""Continuation rounds for an answer cut at the token limit."""
HISTORY = "chat_history"
"""The notebook variable holding the conversation."""
RESULT_VARIABLE = "_chat"
"""The notebook variable holding the last answer."""
UPDATE_INTERVAL_S = 0.05
"""Seconds between live view updates (20 a second at most)."""
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
"""Cap on a whole (decompressed) JSON or error body: a compression bomb stops here."""
