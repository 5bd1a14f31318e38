"""The chat client: sans-IO protocol code plus thin httpx drivers. Nothing here imports IPython."""
