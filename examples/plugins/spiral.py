# Placeholder: the plug-in example examples/plugins/spiral.py is written in another branch.
