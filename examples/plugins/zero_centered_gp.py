# Placeholder: the plug-in example examples/plugins/zero_centered_gp.py is written in another branch.
