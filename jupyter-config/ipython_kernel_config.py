# Load lexilux_nb in every IPython kernel, so %%chat works without %load_ext.
#
# Install: copy (or append) this file into your IPython profile, e.g.
#   cp jupyter-config/ipython_kernel_config.py "$(ipython locate profile)/"
# Settings of the magics can follow, for example:
#   c.ChatMagics.model = "gpt-4o-mini"
#   c.ChatMagics.api_key_env = "MY_PROVIDER_KEY"
c = get_config()  # noqa: F821
c.InteractiveShellApp.extensions.append("lexilux_nb")
