"""The IPython layer: magics, views, rendering and the chat panel."""
