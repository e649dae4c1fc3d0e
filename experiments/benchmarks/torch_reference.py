"""PyTorch reference of gan_jax's GANs and update step, for the benchmarks.

Imports torch and numpy only (no JAX), so that a process running it measures
PyTorch alone. The models are gan_jax's (`gan_jax.models`) layer for layer:

  MLP G    z [n, latent] -> Dense(w) [-> BatchNorm] -> act ... -> Dense(prod
           data_shape) -> tanh for images (linear for toy data) -> [n, *shape]
           (no bias on a Dense followed by BatchNorm, as in gan_jax).
  MLP D    flatten -> Dense(w) -> act ... -> Dense(1) -> logits [n].
  DCGAN G  (32x32) Linear(latent, 4*4*4b, no bias) -> [n, 4b, 4, 4] -> BN
           -> ReLU -> ConvT(4, s2, p1, no bias) 8x8x2b -> BN -> ReLU ->
           ConvT 16x16xb -> BN -> ReLU -> ConvT 32x32xC (bias) -> tanh.
  DCGAN D  Conv(4, s2, p1, bias) 16x16xb -> LReLU -> Conv(no bias) 8x8x2b ->
           BN -> LReLU -> Conv 4x4x4b -> BN -> LReLU -> flatten -> Linear(1).

Flax's `padding='SAME'` with a 4x4 kernel and stride 2 is PyTorch's
`padding=1` for both the convolution and the transposed convolution (the
latter with the kernel flipped spatially, see `load_flax_params`). Layouts
differ: torch is NCHW and flattens (C, H, W), gan_jax NHWC flattening
(H, W, C); `load_flax_params` permutes the weights so that the same
parameters give the same function (tests/test_benchmarks.py checks it).

Two update orders (`TorchGAN(order=...)`), both with the non-saturating G
loss, losses on logits (softplus), Adam, D's parameters frozen
(`requires_grad=False`) during G's backward pass so that no D weight
gradient is computed (XLA drops it from gan_jax's step too):

  'algorithm1'   Goodfellow et al. 2014, Algorithm 1, what gan_jax's step
                 does: k times {fresh real x, fresh z, fake = G(z) (train
                 mode, no grad), D step on L_D = E softplus(-D(x)) +
                 E softplus(D(fake)) [+ gamma/2 E|grad_x D(x)|^2]}; then
                 fresh z, G step on -E log sigma(D(G(z))); then the EMA of G.
                 Cost: G forward twice (D step, G step).
  'pytorch_gan'  eriklindernoren/PyTorch-GAN's loop (implementations/gan,
                 dcgan): fresh z and real x, gen = G(z); G step first; then
                 the D step on real x and gen.detach() (the same generated
                 batch, made by G *before* its update), L_D halved as there.
                 Saves one G forward per iteration against 'algorithm1';
                 k = 1 only. That code uses BatchNorm eps 0.8 (its second
                 positional argument is eps, not momentum); the benchmark
                 builds the models with eps 0.8 for this order.

R1 (ring): the penalty reuses the D(x_real) forward of the loss
(autograd.grad with create_graph); gan_jax runs one more D forward for it.
EMA: `torch._foreach_lerp_` (ema += (1 - decay) (p - ema)) after G's update.
Real data: images are a uint8 tensor [N, C, H, W] in memory, a batch is
`data[randint(N, (m,))]` mapped to [-1, 1] by (x - 127.5) / 127.5 (gan_jax's
in-step sampler); toy data are sampled on the fly from the mixture's means
and stds, as gan_jax samples them inside its step.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

ORDERS = ("algorithm1", "pytorch_gan")
# BatchNorm eps of PyTorch-GAN's models (`nn.BatchNorm1d(n, 0.8)`).
PYTORCH_GAN_BN_EPS = 0.8


def _activation(name: str, slope: float) -> nn.Module:
  if name == "relu":
    return nn.ReLU()
  if name == "leaky_relu":
    return nn.LeakyReLU(slope)
  if name == "tanh":
    return nn.Tanh()
  if name == "elu":
    return nn.ELU()
  if name == "gelu":
    return nn.GELU()
  raise NotImplementedError(f"torch reference: activation {name!r} not "
                            f"supported")


def _bn_momentum(model: Mapping[str, Any]) -> float:
  # gan_jax's momentum is the decay of the running average (0.9); torch's is
  # the weight of the new batch (0.1).
  return 1.0 - float(model.get("batch_norm_momentum", 0.9))


class MLPGenerator(nn.Module):
  """z [n, latent_dim] -> x [n, *data_shape] (torch layout: [n, C, H, W])."""

  def __init__(self, model: Mapping[str, Any], data_shape: Sequence[int],
               eps: float):
    super().__init__()
    self.out_shape = _torch_shape(data_shape)
    self.images = len(data_shape) == 3
    slope = float(model["leaky_relu_slope"])
    layers = []
    width_in = int(model["latent_dim"])
    for i, width in enumerate(model["generator_widths"]):
      bn = bool(model["generator_batch_norm"]) and (
          i > 0 or bool(model["generator_batch_norm_first_layer"]))
      layers.append(nn.Linear(width_in, width, bias=not bn))
      if bn:
        layers.append(nn.BatchNorm1d(width, eps=eps,
                                     momentum=_bn_momentum(model)))
      layers.append(_activation(model["generator_activation"], slope))
      width_in = width
    layers.append(nn.Linear(width_in, math.prod(data_shape)))
    if self.images:
      layers.append(nn.Tanh())
    self.net = nn.Sequential(*layers)

  def forward(self, z):
    x = self.net(z)
    return x.view(x.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
  """x [n, ...] -> logits [n] (flattened input; no dropout, no BN)."""

  def __init__(self, model: Mapping[str, Any], data_shape: Sequence[int]):
    super().__init__()
    if (model.get("discriminator_batch_norm") or
        model.get("discriminator_dropout") or
        model.get("discriminator_input_dropout")):
      raise NotImplementedError("torch reference: MLP D without BatchNorm "
                                "and dropout only")
    slope = float(model["leaky_relu_slope"])
    layers = []
    width_in = math.prod(data_shape)
    for width in model["discriminator_widths"]:
      layers += [nn.Linear(width_in, width),
                 _activation(model["discriminator_activation"], slope)]
      width_in = width
    layers.append(nn.Linear(width_in, 1))
    self.net = nn.Sequential(*layers)

  def forward(self, x):
    return self.net(x.flatten(1))[:, 0]


class DCGANGenerator(nn.Module):
  """z [n, latent_dim] -> x [n, C, H, W] in [-1, 1] (28x28 or 32x32)."""

  def __init__(self, model: Mapping[str, Any], data_shape: Sequence[int],
               eps: float):
    super().__init__()
    height, _, channels = data_shape
    num_up = 3 if height == 32 else 2
    self.start = height // 2**num_up
    features = int(model["generator_base_features"]) * 2**(num_up - 1)
    self.features = features
    momentum = _bn_momentum(model)
    self.dense = nn.Linear(int(model["latent_dim"]),
                           self.start * self.start * features, bias=False)
    self.bn0 = nn.BatchNorm2d(features, eps=eps, momentum=momentum)
    ups = []
    for _ in range(num_up - 1):
      ups += [nn.ConvTranspose2d(features, features // 2, 4, 2, 1,
                                 bias=False),
              nn.BatchNorm2d(features // 2, eps=eps, momentum=momentum),
              nn.ReLU()]
      features //= 2
    ups += [nn.ConvTranspose2d(features, channels, 4, 2, 1), nn.Tanh()]
    self.ups = nn.Sequential(*ups)

  def forward(self, z):
    x = self.dense(z).view(z.shape[0], self.features, self.start, self.start)
    return self.ups(F.relu(self.bn0(x)))


class DCGANDiscriminator(nn.Module):
  """x [n, C, H, W] -> logits [n]."""

  def __init__(self, model: Mapping[str, Any], data_shape: Sequence[int],
               eps: float):
    super().__init__()
    height, _, channels = data_shape
    num_down = 3 if height == 32 else 2
    base = int(model["discriminator_base_features"])
    slope = float(model["leaky_relu_slope"])
    layers = []
    features_in = channels
    for i in range(num_down):
      features = base * 2**i
      layers.append(nn.Conv2d(features_in, features, 4, 2, 1, bias=i == 0))
      if i > 0:
        layers.append(nn.BatchNorm2d(features, eps=eps,
                                     momentum=_bn_momentum(model)))
      layers.append(nn.LeakyReLU(slope))
      features_in = features
    self.convs = nn.Sequential(*layers)
    side = height // 2**num_down
    self.out = nn.Linear(features_in * side * side, 1)

  def forward(self, x):
    return self.out(self.convs(x).flatten(1))[:, 0]


def _torch_shape(data_shape: Sequence[int]) -> tuple[int, ...]:
  """gan_jax's [H, W, C] -> torch's [C, H, W]; toy (d,) unchanged."""
  if len(data_shape) == 3:
    height, width, channels = data_shape
    return (channels, height, width)
  return tuple(data_shape)


def build_models(model: Mapping[str, Any], data_shape: Sequence[int], *,
                 batch_norm_eps: float | None = None
                 ) -> tuple[nn.Module, nn.Module]:
  """(G, D) for a gan_jax model config (`config.model.to_dict()`).

  Args:
    model: the fields of `gan_jax.models.default_model_config`.
    data_shape: gan_jax's example shape ((d,) or (H, W, C)).
    batch_norm_eps: BatchNorm eps; None = the config's.
  """
  eps = float(model.get("batch_norm_epsilon", 1e-5)
              if batch_norm_eps is None else batch_norm_eps)
  if model["name"] == "mlp":
    return (MLPGenerator(model, data_shape, eps),
            MLPDiscriminator(model, data_shape))
  if model["name"] == "dcgan":
    return (DCGANGenerator(model, data_shape, eps),
            DCGANDiscriminator(model, data_shape, eps))
  raise NotImplementedError(f"torch reference: model {model['name']!r}")


# ----------------------------------------------------------------------------
# Flax parameters -> torch modules (for the same-model test).
# ----------------------------------------------------------------------------


def _set(param: torch.Tensor, value) -> None:
  value = torch.from_numpy(np.array(value, np.float32))  # a writable copy
  if tuple(value.shape) != tuple(param.shape):
    raise ValueError(f"shape {tuple(value.shape)} for a torch parameter of "
                     f"shape {tuple(param.shape)}")
  with torch.no_grad():
    param.copy_(value)


def _dense(linear: nn.Linear, params) -> None:
  _set(linear.weight, np.asarray(params["kernel"]).T)  # [in, out] -> [out, in]
  if linear.bias is not None:
    _set(linear.bias, params["bias"])


def _bn(bn: nn.Module, params) -> None:
  _set(bn.weight, params["scale"])
  _set(bn.bias, params["bias"])


def _conv(conv: nn.Conv2d, params) -> None:
  # Flax [kh, kw, in, out] -> torch [out, in, kh, kw]; both correlate.
  _set(conv.weight, np.transpose(np.asarray(params["kernel"]), (3, 2, 0, 1)))
  if conv.bias is not None:
    _set(conv.bias, params["bias"])


def _conv_transpose(conv: nn.ConvTranspose2d, params) -> None:
  # Flax ConvTranspose (transpose_kernel=False) correlates the stride-dilated
  # input with its kernel [kh, kw, in, out]; torch convolves (correlates with
  # the kernel rotated by 180 degrees) with weight [in, out, kh, kw].
  kernel = np.asarray(params["kernel"])[::-1, ::-1]
  _set(conv.weight, np.transpose(kernel, (2, 3, 0, 1)))
  if conv.bias is not None:
    _set(conv.bias, params["bias"])


def _hwc_rows_to_chw(kernel: np.ndarray, side: int, channels: int,
                     axis: int) -> np.ndarray:
  """Reorders a Dense kernel's axis indexed (h, w, c) to (c, h, w)."""
  kernel = np.moveaxis(np.asarray(kernel), axis, 0)
  rest = kernel.shape[1:]
  kernel = kernel.reshape(side, side, channels, *rest)
  kernel = np.transpose(kernel, (2, 0, 1) + tuple(range(3, kernel.ndim)))
  return np.moveaxis(kernel.reshape(side * side * channels, *rest), 0, axis)


def load_flax_params(generator: nn.Module, discriminator: nn.Module,
                     g_params, d_params) -> None:
  """Copies gan_jax (Flax) parameters into the torch models of `build_models`.

  Same parameters, same function: G(z) agrees up to the NHWC -> NCHW
  transpose, D's logits exactly up to float rounding.
  """
  if isinstance(generator, MLPGenerator):
    linears = [m for m in generator.net if isinstance(m, nn.Linear)]
    bns = [m for m in generator.net if isinstance(m, nn.BatchNorm1d)]
    hidden = len(linears) - 1
    bn_layers = [i for i in range(hidden) if f"hidden_{i}" in g_params
                 and "bn" in g_params[f"hidden_{i}"]]
    for i in range(hidden):
      _dense(linears[i], g_params[f"hidden_{i}"]["dense"])
    for bn, i in zip(bns, bn_layers, strict=True):
      _bn(bn, g_params[f"hidden_{i}"]["bn"])
    _dense(linears[-1], g_params["out"])
    d_linears = [m for m in discriminator.net if isinstance(m, nn.Linear)]
    for i, linear in enumerate(d_linears[:-1]):
      _dense(linear, d_params[f"hidden_{i}"]["dense"])
    _dense(d_linears[-1], d_params["out"])
    return

  # DCGAN. G's Dense output is reshaped to [n, 4, 4, F] (NHWC) in Flax and
  # to [n, F, 4, 4] here: permute the kernel's output axis.
  side, features = generator.start, generator.features
  _set(generator.dense.weight,
       _hwc_rows_to_chw(g_params["Dense_0"]["kernel"], side, features,
                        axis=1).T)
  _bn(generator.bn0, g_params["BatchNorm_0"])
  convs = [m for m in generator.ups if isinstance(m, nn.ConvTranspose2d)]
  bns = [m for m in generator.ups if isinstance(m, nn.BatchNorm2d)]
  for i, conv in enumerate(convs):
    _conv_transpose(conv, g_params[f"ConvTranspose_{i}"])
  for i, bn in enumerate(bns):
    _bn(bn, g_params[f"BatchNorm_{i + 1}"])
  d_convs = [m for m in discriminator.convs if isinstance(m, nn.Conv2d)]
  d_bns = [m for m in discriminator.convs if isinstance(m, nn.BatchNorm2d)]
  for i, conv in enumerate(d_convs):
    _conv(conv, d_params[f"Conv_{i}"])
  for i, bn in enumerate(d_bns):
    _bn(bn, d_params[f"BatchNorm_{i}"])
  channels = d_convs[-1].out_channels
  side = int(round(math.sqrt(discriminator.out.in_features // channels)))
  _set(discriminator.out.weight,
       _hwc_rows_to_chw(d_params["Dense_0"]["kernel"], side, channels,
                        axis=0).T)
  _set(discriminator.out.bias, d_params["Dense_0"]["bias"])


# ----------------------------------------------------------------------------
# The update step.
# ----------------------------------------------------------------------------


class TorchGAN:
  """Models, optimisers, data and one training iteration, in PyTorch.

  `spec` (a JSON-able dict, made from a gan_jax config by
  `experiments.benchmarks.common.torch_spec`):
    model: config.model fields; data_shape: gan_jax example shape;
    batch_size; discriminator_steps (k); r1_gamma; ema_decay;
    g_adam, d_adam: {learning_rate, b1, b2};
    toy_means, toy_stds: [K, d] mixture (toy data) or None.
  `images`: uint8 numpy [N, H, W, C] for image data, else None.
  """

  def __init__(self, spec: Mapping[str, Any], images: np.ndarray | None, *,
               order: str = "algorithm1", device: str = "cpu",
               adam: str = "default", seed: int = 0):
    if order not in ORDERS:
      raise ValueError(f"unknown order {order!r}; valid: {', '.join(ORDERS)}")
    torch.manual_seed(seed)
    self.order = order
    self.device = torch.device(device)
    self.batch = int(spec["batch_size"])
    self.k = int(spec["discriminator_steps"])
    if order == "pytorch_gan" and self.k != 1:
      raise ValueError("order 'pytorch_gan' has one D step per iteration")
    self.r1_gamma = float(spec["r1_gamma"])
    self.ema_decay = float(spec["ema_decay"])
    self.latent_dim = int(spec["model"]["latent_dim"])
    eps = PYTORCH_GAN_BN_EPS if order == "pytorch_gan" else None
    generator, discriminator = build_models(spec["model"],
                                            spec["data_shape"],
                                            batch_norm_eps=eps)
    self.generator = generator.to(self.device).train()
    self.discriminator = discriminator.to(self.device).train()
    self.g_params = list(self.generator.parameters())
    self.d_params = list(self.discriminator.parameters())
    self.g_opt = _adam(self.g_params, spec["g_adam"], adam)
    self.d_opt = _adam(self.d_params, spec["d_adam"], adam)
    self.ema = ([p.detach().clone() for p in self.g_params]
                if self.ema_decay > 0 else None)
    if images is not None:
      # [N, H, W, C] -> [N, C, H, W], kept as uint8 like gan_jax's data set.
      self.images = torch.from_numpy(np.array(
          np.transpose(images, (0, 3, 1, 2)), order="C")).to(self.device)
      self.toy_means = self.toy_stds = None
    else:
      self.images = None
      self.toy_means = torch.tensor(spec["toy_means"], dtype=torch.float32,
                                    device=self.device)
      self.toy_stds = torch.tensor(spec["toy_stds"], dtype=torch.float32,
                                   device=self.device).expand_as(
                                       self.toy_means)

  def sample_real(self) -> torch.Tensor:
    if self.images is not None:
      index = torch.randint(self.images.shape[0], (self.batch,),
                            device=self.device)
      return (self.images[index].float() - 127.5) / 127.5
    modes = torch.randint(self.toy_means.shape[0], (self.batch,),
                          device=self.device)
    noise = torch.randn(self.batch, self.toy_means.shape[1],
                        device=self.device)
    return self.toy_means[modes] + self.toy_stds[modes] * noise

  def sample_noise(self) -> torch.Tensor:
    return torch.randn(self.batch, self.latent_dim, device=self.device)

  def _d_step(self, real: torch.Tensor, fake: torch.Tensor,
              scale: float) -> None:
    if self.r1_gamma > 0:
      real.requires_grad_(True)
    real_logits = self.discriminator(real)
    fake_logits = self.discriminator(fake)
    loss = scale * (F.softplus(-real_logits).mean() +
                    F.softplus(fake_logits).mean())
    if self.r1_gamma > 0:
      (grad,) = torch.autograd.grad(real_logits.sum(), real,
                                    create_graph=True)
      loss = loss + 0.5 * self.r1_gamma * grad.square().flatten(1).sum(
          1).mean()
    self.d_opt.zero_grad(set_to_none=True)
    loss.backward()
    self.d_opt.step()

  def _g_step(self, fake: torch.Tensor) -> None:
    for p in self.d_params:
      p.requires_grad_(False)
    loss = F.softplus(-self.discriminator(fake)).mean()
    self.g_opt.zero_grad(set_to_none=True)
    loss.backward()
    self.g_opt.step()
    for p in self.d_params:
      p.requires_grad_(True)
    if self.ema is not None:
      with torch.no_grad():
        torch._foreach_lerp_(self.ema, self.g_params, 1.0 - self.ema_decay)  # pylint: disable=protected-access

  def step(self) -> None:
    """One training iteration in this object's order."""
    if self.order == "algorithm1":
      for _ in range(self.k):
        real = self.sample_real()
        with torch.no_grad():
          fake = self.generator(self.sample_noise())
        self._d_step(real, fake, 1.0)
      self._g_step(self.generator(self.sample_noise()))
    else:
      real = self.sample_real()
      generated = self.generator(self.sample_noise())
      self._g_step(generated)
      self._d_step(real, generated.detach(), 0.5)

  def run(self, num_steps: int) -> None:
    """`num_steps` iterations, then waits for the device."""
    for _ in range(int(num_steps)):
      self.step()
    if self.device.type == "cuda":
      torch.cuda.synchronize(self.device)


def _adam(params, settings: Mapping[str, Any], implementation: str):
  kwargs = dict(lr=float(settings["learning_rate"]),
                betas=(float(settings["b1"]), float(settings["b2"])),
                eps=1e-8)
  if implementation == "foreach":
    kwargs["foreach"] = True
  elif implementation == "fused":
    kwargs["fused"] = True
  elif implementation != "default":
    raise ValueError(f"unknown Adam implementation {implementation!r}; "
                     f"valid: default, foreach, fused")
  return torch.optim.Adam(params, **kwargs)
