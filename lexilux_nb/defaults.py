"""Every default in one place, so the client, the magics and the panel cannot disagree.

The size caps are read when a request starts: set ``lexilux_nb.defaults.MAX_ANSWER_CHARS = ...``
(or another cap) to raise one for the rest of the session.
"""

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
MAX_ANSWER_CHARS = 64 * 2**20
"""Cap on one streamed answer (text, reasoning, refusals and tool arguments of every choice, in
characters): an endless stream of tiny events stops here."""
MAX_LINE_BYTES = 8 * 2**20
"""Cap on one line of an event stream: a stream that never sends a newline stops here."""
MAX_EVENT_BYTES = 16 * 2**20
"""Cap on one event of an event stream."""
