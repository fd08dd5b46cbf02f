"""Conditional discriminators: the N-layer PatchGAN and the 1x1 PixelGAN."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as apply_spectral_norm

from lit_translate.choices import check_choice
from lit_translate.nets.attention import SelfAttention, check_attention_at
from lit_translate.nets.blocks import Norm, conv_bias_for_norm, get_norm_layer, spectral_normalize
from lit_translate.nets.init import InitType, init_weights


class PatchDiscriminator(nn.Module):
    """The N-layer PatchGAN discriminator; ``n_layers=3`` is the 70x70 PatchGAN of pix2pix.

    Layers (4x4 kernels, padding 1, LeakyReLU 0.2): a stride-2 conv to ``ndf`` without norm;
    ``n_layers - 1`` stride-2 convs to ``ndf * min(2 ** n, 8)`` with norm; a stride-1 conv to
    ``ndf * min(2 ** n_layers, 8)`` with norm; a stride-1 conv to a 1-channel logit map (no sigmoid).
    Weights are initialised by ``init_weights`` at construction, before any spectral norm is applied.

    Args:
        in_channels: Input channels, e.g. input and target images concatenated for a conditional
            discriminator. Default ``6``.
        ndf: Filters of the first convolution. Default ``64``.
        n_layers: Number of stride-2 convolutions (``>= 1``). Default ``3``.
        norm: ``"batch"``, ``"instance"`` or ``"none"``. Default ``"batch"``.
        spectral_norm: Wrap every convolution with
            ``torch.nn.utils.parametrizations.spectral_norm`` (usually with ``norm="none"``).
            Default ``False``.
        init_type: See ``init_weights``. Default ``"normal"``.
        init_gain: See ``init_weights``. Default ``0.02``.
        padding: Padding of every 4x4 convolution. Default ``1`` (pix2pix); pix2pixHD and SPADE use ``2``.
        conv_bias: Bias on the convolutions followed by the norm layer; None decides by ``norm`` (no bias
            before batch norm, see ``conv_bias_for_norm``). SPADE drops it before any norm (``False``),
            pix2pixHD keeps it (``True``). Default None.
        spectral_norm_layers: Which convolutions ``spectral_norm`` wraps: ``"all"`` or only those followed
            by the norm layer, ``"normed"`` (SPADE's ``spectral<norm>`` ``norm_D``). Default ``"all"``. With
            ``"all"`` the attention blocks' convolutions are normalised too.
        attention_at: Self-attention (``SelfAttention``, SAGAN) after these convolution stages, counted from the
            input: ``i <= n_layers`` puts a block after the ``i``-th stride-2 convolution (and its norm and
            LeakyReLU), at ``H / 2 ** i``; ``i = n_layers + 1`` after the stride-1 convolution before the logit
            layer. Default None (none).

    Shape:
        Input ``(N, in_channels, H, W)``, output logits ``(N, 1, h, w)`` with, per spatial side,
        ``n_layers`` halvings (``s -> s // 2``) followed by two ``s -> s - 1`` steps
        (``256 -> 30``, ``64 -> 6`` for ``n_layers=3``).

    Raises:
        ValueError: If ``n_layers < 1`` or ``norm`` / ``init_type`` is unknown.
    """

    def __init__(
        self,
        in_channels: int = 6,
        ndf: int = 64,
        n_layers: int = 3,
        norm: Norm = "batch",
        spectral_norm: bool = False,
        init_type: InitType = "normal",
        init_gain: float = 0.02,
        padding: int = 1,
        conv_bias: bool | None = None,
        spectral_norm_layers: Literal["all", "normed"] = "all",
        attention_at: list[int] | None = None,
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"PatchDiscriminator needs n_layers >= 1; got n_layers={n_layers}.")
        attend = check_attention_at(type(self).__name__, attention_at, n_layers + 1)
        norm_layer = get_norm_layer(norm)
        bias = conv_bias_for_norm(norm) if conv_bias is None else conv_bias
        check_choice("spectral_norm_layers", spectral_norm_layers, ("all", "normed"))
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=padding)]
        layers += [nn.LeakyReLU(0.2, True)]
        layers += [SelfAttention(ndf)] if 1 in attend else []
        mult = 1
        for n in range(1, n_layers + 1):
            prev_mult, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev_mult, ndf * mult, 4, stride=stride, padding=padding, bias=bias)]
            layers += [norm_layer(ndf * mult), nn.LeakyReLU(0.2, True)]
            layers += [SelfAttention(ndf * mult)] if n + 1 in attend else []
        layers += [nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=padding)]
        self.model = nn.Sequential(*layers)
        init_weights(self, init_type, init_gain)
        if spectral_norm:
            convs = [m for m in self.model if isinstance(m, nn.Conv2d)]
            for conv in convs if spectral_norm_layers == "all" else convs[1:-1]:
                apply_spectral_norm(conv)
            if spectral_norm_layers == "all":
                spectral_normalize(self)  # the attention blocks' convolutions

    def forward(self, x: Tensor) -> Tensor:
        """Score overlapping patches of ``x``.

        Args:
            x: Images ``(N, in_channels, H, W)``, usually in ``[-1, 1]``.

        Returns:
            Real/fake logits ``(N, 1, h, w)``, unbounded.
        """
        return self.model(x)

    def features(self, x: Tensor) -> list[Tensor]:
        """Score ``x`` and return every stage's output (for GAN feature matching, pix2pixHD / SPADE).

        Args:
            x: Images ``(N, in_channels, H, W)``.

        Returns:
            ``n_layers + 2`` tensors: the activation after each LeakyReLU (after the attention block where a
            stage has one), then the logits of :meth:`forward` (the same values).
        """
        outputs: list[Tensor] = []
        for layer in self.model:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                outputs.append(x)
            elif isinstance(layer, SelfAttention):
                outputs[-1] = x
        return outputs + [x]


class PixelDiscriminator(nn.Module):
    """The 1x1 PixelGAN discriminator: classifies every pixel independently.

    Layers: 1x1 conv to ``ndf``, LeakyReLU 0.2, 1x1 conv to ``ndf * 2``, norm, LeakyReLU 0.2, 1x1 conv
    to 1 channel (no sigmoid). As in the reference, the last conv has a bias only when ``norm`` is not
    ``"batch"``. Weights are initialised by ``init_weights`` at construction.

    Args:
        in_channels: Input channels, e.g. input and target images concatenated. Default ``6``.
        ndf: Filters of the first convolution. Default ``64``.
        norm: ``"batch"``, ``"instance"`` or ``"none"``. Default ``"batch"``.
        init_type: See ``init_weights``. Default ``"normal"``.
        init_gain: See ``init_weights``. Default ``0.02``.
        spectral_norm: Spectral norm on every convolution (``spectral_normalize``, after the init). Default
            ``False``.

    Shape:
        Input ``(N, in_channels, H, W)``, output logits ``(N, 1, H, W)``.

    Raises:
        ValueError: If ``norm`` / ``init_type`` is unknown.
    """

    def __init__(
        self,
        in_channels: int = 6,
        ndf: int = 64,
        norm: Norm = "batch",
        init_type: InitType = "normal",
        init_gain: float = 0.02,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        norm_layer = get_norm_layer(norm)
        bias = conv_bias_for_norm(norm)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, ndf, kernel_size=1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, kernel_size=1, bias=bias),
            norm_layer(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, kernel_size=1, bias=bias),
        )
        init_weights(self, init_type, init_gain)
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, x: Tensor) -> Tensor:
        """Score every pixel of ``x``.

        Args:
            x: Images ``(N, in_channels, H, W)``, usually in ``[-1, 1]``.

        Returns:
            Real/fake logits ``(N, 1, H, W)``, unbounded.
        """
        return self.net(x)
