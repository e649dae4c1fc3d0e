# Placeholder: the plug-in example examples/plugins/residual_mlp.py is written in another branch.
