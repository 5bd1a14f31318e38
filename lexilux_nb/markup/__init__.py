"""Model output made presentable and inert: one job per module.

* :mod:`.syntax`    the one markdown-it configuration both renderers parse with, and fence facts;
* :mod:`.html`      untrusted markdown → inert HTML that survives every sanitiser;
* :mod:`.escape`    untrusted markdown → inert markdown (the ``text/markdown`` part of outputs);
* :mod:`.highlight` code blocks coloured with the notebook theme's own code palette;
* :mod:`.style`     inline styles built from JupyterLab's CSS variables (no ``<style>`` element).

Nothing is imported here, so ``import lexilux_nb.markup.style`` stays free of markdown-it and
Pygments.
"""
