"""SPADE (GauGAN) networks: the SPADE norm, its residual block, the generator and the VAE image encoder.

Park, Liu, Wang & Zhu 2019, "Semantic Image Synthesis with Spatially-Adaptive Normalization" (CVPR). The layer
layout, widths and defaults follow the authors' NVlabs/SPADE ``models/networks/`` (``normalization.py``,
``architecture.py``, ``generator.py``, ``encoder.py``), so the parameter counts match the reference (Cityscapes,
36 semantic channels, ``more``: G 93,048,003; with the VAE G 101,136,579 and E 10,463,424). Attribute names
(``fc``, ``head_0``, ``G_middle_0``, ``up_0``, ``conv_img``, ``mlp_shared`` ...) follow the reference too.

Spectral norm is ``torch.nn.utils.parametrizations.spectral_norm`` (the reference uses the older
``torch.nn.utils.spectral_norm``: same trainable parameters, one power iteration per training forward; the stored
names differ, ``weight_orig`` / ``weight_u`` / ``weight_v`` here ``parametrizations.weight.original`` / ``.0._u`` /
``.0._v``). With the reference's weights and ``u``, ``v`` loaded, eval-mode outputs are identical; a training
forward differs slightly, since the old API updates ``v`` then ``u`` and the parametrization ``u`` then ``v``.
Weights are initialised as the reference's default ``--init_type xavier --init_variance 0.02``.

Sync batch norm: ``"syncbatch"`` builds the same ``BatchNorm2d(affine=False)`` as ``"batch"``. ``torch.nn.
SyncBatchNorm`` itself only runs on GPUs once a process group exists (on CPU under gloo it raises), so the sync
is left to the trainer: Lightning's ``Trainer(sync_batchnorm=True)`` converts every ``BatchNorm2d`` with
``SyncBatchNorm.convert_sync_batchnorm``. :attr:`SPADEGenerator.wants_sync_batchnorm` tells a method to ask for it.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from lit_translate.choices import check_choice
from lit_translate.nets.init import InitType, init_weights

ParamFreeNorm = Literal["instance", "batch", "syncbatch"]
"""The parameter-free normalisation inside :class:`SPADE` (the ``(norm)`` of the reference's ``spade(norm)3x3``)."""

SpadeNormG = Literal[
    "spectralspadesyncbatch3x3",
    "spectralspadebatch3x3",
    "spectralspadeinstance3x3",
    "spadesyncbatch3x3",
    "spadebatch3x3",
    "spadeinstance3x3",
]
"""The reference's ``norm_G`` strings: ``spectral`` (spectral norm on the block convs) + ``spade(norm)3x3``."""

UpsamplingLayers = Literal["normal", "more", "most"]
"""``num_upsampling_layers``: 5, 6 or 7 doublings from the latent map to the output."""

_UPSAMPLINGS: dict[str, int] = {"normal": 5, "more": 6, "most": 7}
_PARAM_FREE: dict[str, type[nn.Module]] = {
    "instance": nn.InstanceNorm2d,
    "batch": nn.BatchNorm2d,
    "syncbatch": nn.BatchNorm2d,  # converted to SyncBatchNorm by the trainer (module docstring)
}
SPADE_HIDDEN = 128
"""Channels of SPADE's shared embedding of the label map (hard-coded in the reference)."""


def parse_norm_g(norm_g: SpadeNormG) -> tuple[bool, ParamFreeNorm]:
    """Split a reference ``norm_G`` string into (spectral norm on the block convs, parameter-free norm).

    Args:
        norm_g: One of :data:`SpadeNormG`, e.g. ``"spectralspadesyncbatch3x3"``.

    Returns:
        ``(True, "syncbatch")`` for that example.

    Raises:
        ValueError: ``norm_g`` is not one of :data:`SpadeNormG`.
    """
    check_choice("norm_G", norm_g, get_args(SpadeNormG))
    spectral = norm_g.startswith("spectral")
    param_free = norm_g.removeprefix("spectral").removeprefix("spade").removesuffix("3x3")
    return spectral, param_free  # type: ignore[return-value]


class SPADE(nn.Module):
    """Spatially-adaptive denormalisation: ``norm(x) * (1 + gamma(seg)) + beta(seg)`` (paper Sec. 3.1).

    Follows NVlabs/SPADE ``models/networks/normalization.py SPADE``: a parameter-free norm of ``x``; the label map,
    resized (nearest) to ``x``'s size, goes through a shared ``kernel_size`` conv to 128 channels and ReLU, then
    two convs to ``gamma`` and ``beta`` with ``norm_nc`` channels each.

    Args:
        norm_nc: Channels of the normalised activations (and of gamma / beta).
        label_nc: Channels of the semantic map (one-hot classes, plus the instance edge channel if used).
        param_free_norm: ``"instance"``, ``"batch"`` or ``"syncbatch"`` (a ``BatchNorm2d``, see the module
            docstring), all without affine parameters. Default ``"syncbatch"`` (the reference's default norm_G).
        kernel_size: Kernel of the three convs (odd). Default ``3``.

    Shape:
        ``x`` ``(N, norm_nc, H, W)`` and ``segmap`` ``(N, label_nc, H', W')``; output ``(N, norm_nc, H, W)``.
    """

    def __init__(
        self, norm_nc: int, label_nc: int, param_free_norm: ParamFreeNorm = "syncbatch", kernel_size: int = 3
    ) -> None:
        super().__init__()
        norm_class = _PARAM_FREE[check_choice("param_free_norm", param_free_norm, _PARAM_FREE)]
        self.param_free_norm = norm_class(norm_nc, affine=False)
        padding = kernel_size // 2
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, SPADE_HIDDEN, kernel_size, padding=padding), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(SPADE_HIDDEN, norm_nc, kernel_size, padding=padding)
        self.mlp_beta = nn.Conv2d(SPADE_HIDDEN, norm_nc, kernel_size, padding=padding)

    def forward(self, x: Tensor, segmap: Tensor) -> Tensor:
        """Normalise ``x`` and modulate it by the label map.

        Args:
            x: Activations ``(N, norm_nc, H, W)``.
            segmap: Semantic map ``(N, label_nc, H', W')``, resized nearest to ``(H, W)``.

        Returns:
            ``(N, norm_nc, H, W)``.
        """
        normalized = self.param_free_norm(x)
        segmap = F.interpolate(segmap, size=x.shape[2:], mode="nearest")
        hidden = self.mlp_shared(segmap)
        return normalized * (1 + self.mlp_gamma(hidden)) + self.mlp_beta(hidden)


class SPADEResnetBlock(nn.Module):
    """Residual block with SPADE norms: ``shortcut(x) + conv_1(act(norm_1(conv_0(act(norm_0(x))))))``.

    Follows NVlabs/SPADE ``models/networks/architecture.py SPADEResnetBlock``: 3x3 convs ``fin -> min(fin, fout)
    -> fout`` (with bias), LeakyReLU 0.2, and when ``fin != fout`` a learned shortcut ``conv_s(norm_s(x))`` (1x1,
    no bias). With ``spectral`` every conv is spectrally normalised.

    Args:
        fin: Input channels.
        fout: Output channels.
        semantic_nc: Channels of the semantic map.
        spectral: Spectral norm on the convs. Default ``True``.
        param_free_norm: See :class:`SPADE`. Default ``"syncbatch"``.

    Shape:
        ``x`` ``(N, fin, H, W)``, ``seg`` ``(N, semantic_nc, H', W')``; output ``(N, fout, H, W)``.
    """

    def __init__(
        self, fin: int, fout: int, semantic_nc: int, spectral: bool = True, param_free_norm: ParamFreeNorm = "syncbatch"
    ) -> None:
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        wrap = spectral_norm if spectral else _no_wrap
        self.conv_0 = wrap(nn.Conv2d(fin, fmiddle, kernel_size=3, padding=1))
        self.conv_1 = wrap(nn.Conv2d(fmiddle, fout, kernel_size=3, padding=1))
        self.norm_0 = SPADE(fin, semantic_nc, param_free_norm)
        self.norm_1 = SPADE(fmiddle, semantic_nc, param_free_norm)
        if self.learned_shortcut:
            self.conv_s = wrap(nn.Conv2d(fin, fout, kernel_size=1, bias=False))
            self.norm_s = SPADE(fin, semantic_nc, param_free_norm)

    def forward(self, x: Tensor, seg: Tensor) -> Tensor:
        """Apply the block.

        Args:
            x: Activations ``(N, fin, H, W)``.
            seg: Semantic map ``(N, semantic_nc, H', W')``.

        Returns:
            ``(N, fout, H, W)``.
        """
        shortcut = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return shortcut + dx


def _no_wrap(module: nn.Module) -> nn.Module:
    return module


class SPADEGenerator(nn.Module):
    """The SPADE generator: a latent map upsampled through SPADE residual blocks to a ``tanh`` image.

    Follows NVlabs/SPADE ``models/networks/generator.py SPADEGenerator``. The latent map is ``(16 ngf, sh, sw)``
    with ``sw = crop_size // 2 ** k`` (``k`` = 5, 6, 7 for ``normal``, ``more``, ``most``) and ``sh = round(sw /
    aspect_ratio)``: without the VAE a 3x3 conv of the label map resized (nearest) to ``(sh, sw)``, with it a
    linear layer of ``z``. Then ``head_0``, upsample, ``G_middle_0``, [upsample for ``more`` / ``most``],
    ``G_middle_1`` (all ``16 ngf``), and four upsample + block steps to ``8, 4, 2, 1 x ngf`` (``up_0`` ... ``up_3``),
    [``most``: one more to ``ngf // 2``], LeakyReLU 0.2, 3x3 ``conv_img`` to 3 channels, ``tanh``.

    Args:
        semantic_nc: Channels of the semantic map: ``label_nc`` (+1 with a dontcare label, +1 with the instance
            edge map). Default ``36`` (Cityscapes: 35 labels + instance edge).
        ngf: Base width. Default ``64``.
        num_upsampling_layers: ``"normal"``, ``"more"`` or ``"most"``. Default ``"normal"``.
        crop_size: Output width (the reference's ``crop_size``). Default ``256``.
        aspect_ratio: Output width / height. Default ``1.0``.
        norm_G: See :data:`SpadeNormG`. Default ``"spectralspadesyncbatch3x3"`` (the reference's).
        use_vae: Start from ``z`` (``z_dim``) instead of the label map. Default ``False``.
        z_dim: Latent size with the VAE. Default ``256``.
        init_type: See :func:`~lit_translate.nets.init.init_weights`. Default ``"xavier"``.
        init_gain: Default ``0.02``.

    Attributes:
        latent_size: ``(sh, sw)``.
        wants_sync_batchnorm: ``norm_G`` asks for a synchronised batch norm (convert with the trainer).

    Shape:
        ``seg`` ``(N, semantic_nc, H, W)``, output ``(N, 3, sh * 2 ** k, sw * 2 ** k)`` in ``[-1, 1]`` (the training
        size ``(H, W)`` when ``H / W = 1 / aspect_ratio`` and ``W = crop_size`` is a multiple of ``2 ** k``).

    Raises:
        ValueError: Unknown choice, or ``crop_size`` too small for the upsamplings (``sw`` or ``sh`` would be 0).
    """

    def __init__(
        self,
        semantic_nc: int = 36,
        ngf: int = 64,
        num_upsampling_layers: UpsamplingLayers = "normal",
        crop_size: int = 256,
        aspect_ratio: float = 1.0,
        norm_G: SpadeNormG = "spectralspadesyncbatch3x3",  # noqa: N803 - the reference's option name
        use_vae: bool = False,
        z_dim: int = 256,
        init_type: InitType = "xavier",
        init_gain: float = 0.02,
    ) -> None:
        super().__init__()
        self.num_up = _UPSAMPLINGS[check_choice("num_upsampling_layers", num_upsampling_layers, _UPSAMPLINGS)]
        self.num_upsampling_layers = num_upsampling_layers
        spectral, param_free = parse_norm_g(norm_G)
        self.wants_sync_batchnorm = param_free == "syncbatch"
        sw = crop_size // 2**self.num_up
        sh = round(sw / aspect_ratio)
        if sw < 1 or sh < 1:
            raise ValueError(
                f"SPADEGenerator: crop_size={crop_size} with aspect_ratio={aspect_ratio} is too small for "
                f"num_upsampling_layers={num_upsampling_layers!r} ({2**self.num_up}x upsampling); use crop_size >= "
                f"{2**self.num_up * max(1, math.ceil(aspect_ratio))} or fewer upsampling layers"
            )
        self.latent_size = (sh, sw)
        self.use_vae, self.z_dim, self.ngf = use_vae, z_dim, ngf
        nf = ngf
        if use_vae:
            self.fc: nn.Module = nn.Linear(z_dim, 16 * nf * sh * sw)
        else:
            self.fc = nn.Conv2d(semantic_nc, 16 * nf, 3, padding=1)

        def block(fin: int, fout: int) -> SPADEResnetBlock:
            return SPADEResnetBlock(fin, fout, semantic_nc, spectral, param_free)

        self.head_0 = block(16 * nf, 16 * nf)
        self.G_middle_0 = block(16 * nf, 16 * nf)
        self.G_middle_1 = block(16 * nf, 16 * nf)
        self.up_0 = block(16 * nf, 8 * nf)
        self.up_1 = block(8 * nf, 4 * nf)
        self.up_2 = block(4 * nf, 2 * nf)
        self.up_3 = block(2 * nf, nf)
        final_nc = nf
        if num_upsampling_layers == "most":
            self.up_4 = block(nf, nf // 2)
            final_nc = nf // 2
        self.conv_img = nn.Conv2d(final_nc, 3, 3, padding=1)
        init_weights(self, init_type, init_gain)

    def forward(self, seg: Tensor, z: Tensor | None = None) -> Tensor:
        """Synthesise images from semantic maps.

        Args:
            seg: Semantic map ``(N, semantic_nc, H, W)`` (one-hot classes and edge channel, float).
            z: With the VAE, latent codes ``(N, z_dim)`` (the encoder's sample, or ``N(0, I)`` noise); None draws
                ``torch.randn`` from the global generator. Ignored without the VAE. Default None.

        Returns:
            Images ``(N, 3, sh * 2 ** k, sw * 2 ** k)`` in ``[-1, 1]``.
        """
        sh, sw = self.latent_size
        if self.use_vae:
            if z is None:
                z = torch.randn(seg.shape[0], self.z_dim, dtype=seg.dtype, device=seg.device)
            x = self.fc(z).view(-1, 16 * self.ngf, sh, sw)
        else:
            x = self.fc(F.interpolate(seg, size=(sh, sw), mode="nearest"))
        x = self.head_0(x, seg)
        x = self.G_middle_0(_up(x), seg)
        if self.num_up >= 6:
            x = _up(x)
        x = self.G_middle_1(x, seg)
        for name in ("up_0", "up_1", "up_2", "up_3") + (("up_4",) if self.num_up == 7 else ()):
            x = getattr(self, name)(_up(x), seg)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))


def _up(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


class ConvEncoder(nn.Module):
    """The SPADE VAE image encoder: style image to ``(mu, logvar)`` of a ``z_dim`` Gaussian.

    Follows NVlabs/SPADE ``models/networks/encoder.py ConvEncoder`` (``norm_E`` spectralinstance): the image is
    resized (bilinear) to ``input_size`` square, then 3x3 stride-2 convs (spectral norm, no bias, instance norm,
    LeakyReLU 0.2) to ``ngf * min(2 ** i, 8)`` channels until the map is 4x4 (six convs at the reference's 256:
    64, 128, 256, 512, 512, 512), and two linear layers ``ngf * 8 * 16 -> z_dim`` for ``mu`` and ``logvar``.
    Sample ``z = mu + exp(0.5 logvar) * eps`` and train with :func:`lit_translate.losses.kl_divergence`.

    Args:
        ngf: Base width (the reference uses ``ngf``, not ``nef``). Default ``64``.
        z_dim: Latent size (hard-coded 256 in the reference). Default ``256``.
        input_size: Side the image is resized to, a power of two >= 8. Default ``256`` (the reference's, whose
            five-conv variant for ``crop_size < 256`` does not fit its own linear layers).
        init_type: See :func:`~lit_translate.nets.init.init_weights`. Default ``"xavier"``.
        init_gain: Default ``0.02``.

    Shape:
        Input ``(N, 3, H, W)`` in ``[-1, 1]``; outputs ``mu`` and ``logvar`` ``(N, z_dim)``.

    Raises:
        ValueError: ``input_size`` is not a power of two >= 8.
    """

    def __init__(
        self,
        ngf: int = 64,
        z_dim: int = 256,
        input_size: int = 256,
        init_type: InitType = "xavier",
        init_gain: float = 0.02,
    ) -> None:
        super().__init__()
        if input_size < 8 or input_size & (input_size - 1):
            raise ValueError(f"ConvEncoder input_size must be a power of two >= 8; got input_size={input_size}")
        self.input_size = input_size
        layers: list[nn.Module] = []
        channels = 3
        for i in range(int(math.log2(input_size // 4))):
            width = ngf * min(2**i, 8)
            conv = spectral_norm(nn.Conv2d(channels, width, 3, stride=2, padding=1, bias=False))
            layers += [conv, nn.InstanceNorm2d(width, affine=False), nn.LeakyReLU(0.2)]
            channels = width
        self.layers = nn.Sequential(*layers)
        self.fc_mu = nn.Linear(channels * 16, z_dim)
        self.fc_var = nn.Linear(channels * 16, z_dim)
        init_weights(self, init_type, init_gain)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Encode style images.

        Args:
            x: Images ``(N, 3, H, W)`` in ``[-1, 1]``; resized (bilinear) to ``input_size`` square unless they are.

        Returns:
            ``(mu, logvar)``, each ``(N, z_dim)``.
        """
        if x.shape[2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear")
        h = self.layers(x).flatten(1)
        return self.fc_mu(h), self.fc_var(h)


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Sample ``z = mu + exp(0.5 * logvar) * eps``, ``eps ~ N(0, I)`` (the reference's ``reparameterize``).

    Args:
        mu: ``(N, z_dim)``.
        logvar: ``(N, z_dim)``.
        generator: RNG for ``eps`` on ``mu``'s device (per-rank seeding); None uses the global one. Default None.

    Returns:
        ``(N, z_dim)``, differentiable in ``mu`` and ``logvar``.
    """
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
    return eps * torch.exp(0.5 * logvar) + mu


__all__ = [
    "SPADE",
    "ConvEncoder",
    "ParamFreeNorm",
    "SPADEGenerator",
    "SPADEResnetBlock",
    "SpadeNormG",
    "UpsamplingLayers",
    "parse_norm_g",
    "reparameterize",
]
