# Placeholder: the plug-in example examples/plugins/relativistic_average.py is written in another branch.
