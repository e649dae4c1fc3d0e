"""Native kernels for XLA:CPU (oneDNN convolutions), with XLA fallbacks.

`conv_general_dilated` / `conv_transpose` compute what their `lax` namesakes
do; on CPU, where the oneDNN extension is built, through oneDNN.
"""

from gan_jax.kernels.conv import conv_general_dilated
from gan_jax.kernels.conv import conv_transpose
from gan_jax.kernels.conv import custom_call_flops
from gan_jax.kernels.conv import onednn_available
from gan_jax.kernels.conv import onednn_supports
from gan_jax.kernels.conv import onednn_version

__all__ = ["conv_general_dilated", "conv_transpose", "custom_call_flops",
           "onednn_available", "onednn_supports", "onednn_version"]
