# Placeholder: the plug-in example examples/plugins/sliced_wasserstein.py is written in another branch.
