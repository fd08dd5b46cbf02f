"""BicycleGAN's networks: a U-Net generator with a latent code, a ResNet encoder with VAE heads, multi-D.

Zhu et al., "Toward Multimodal Image-to-Image Translation" (NeurIPS 2017); structure and parameter counts follow
junyanz/BicycleGAN ``models/networks.py`` (``G_Unet_add_all`` / ``G_Unet_add_input``, ``E_ResNet``,
``D_NLayersMulti``). Reference counts (edges2shoes: 1-channel input, nz 8, ngf = nef = ndf = 64, instance norm):
G ``where_add="all"`` 54,792,579, ``"input"`` 54,415,747; E (5 blocks) 2,590,032; D (``basic_256_multi``, 2
scales, 3 input channels) 3,458,978 each.

Reuse: ``where_add="input"`` is the pix2pix :class:`~lit_translate.nets.generators.UnetGenerator` fed the image and
the tiled code; each scale of the discriminator is a :class:`~lit_translate.nets.discriminators.PatchDiscriminator`
on the pyramid of :func:`~lit_translate.nets.multiscale.downsample`. New here: the U-Net level that adds the code
at its input (:class:`UnetBlockWithZ`, the reference's ``UnetBlock_with_z``: skip after the upsampled features, as
the reference; its ``submodule`` is ``inner`` here, so a reference state dict loads after renaming that key part)
and the encoder.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from lit_translate.choices import check_choice
from lit_translate.nets.blocks import Norm, get_norm_layer
from lit_translate.nets.discriminators import PatchDiscriminator
from lit_translate.nets.generators import UnetGenerator, _check_size
from lit_translate.nets.init import InitType, init_weights
from lit_translate.nets.multiscale import downsample

WhereAdd = Literal["all", "input"]
"""Where the generator adds the latent code: at the input of every U-Net level, or at the image input only."""


def tile_code(x: Tensor, z: Tensor) -> Tensor:
    """Return ``cat([x, z tiled over x's height and width], dim=1)`` (``z``: ``(N, nz)``)."""
    return torch.cat([x, z[:, :, None, None].expand(-1, -1, *x.shape[-2:])], dim=1)


class UnetBlockWithZ(nn.Module):
    """One U-Net level whose downsampling conv sees its input and the tiled code (``UnetBlock_with_z``).

    Non-outermost levels return ``cat([up(submodule(down(x, z), z)), x])`` (the reference's order); the outermost
    returns the upsampled output through ``tanh``. Dropout 0.5 follows the up-norm when ``use_dropout``.

    Args:
        input_nc: Channels of the level's input (without the code).
        outer_nc: Channels of the level's upsampled output.
        inner_nc: Channels of the downsampling conv.
        nz: Code size (0: no code).
        submodule: The next inner level; None for the innermost. Default None.
        outermost: The image level (no norm, ``tanh``). Default False.
        norm: ``"instance"``, ``"batch"`` or ``"none"``. Default ``"instance"``.
        use_dropout: Dropout after the up-norm. Default False.
    """

    def __init__(
        self,
        input_nc: int,
        outer_nc: int,
        inner_nc: int,
        nz: int,
        submodule: UnetBlockWithZ | None = None,
        outermost: bool = False,
        norm: Norm = "instance",
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        norm_layer = get_norm_layer(norm)
        self.outermost, self.innermost, self.nz = outermost, submodule is None, nz
        downconv = nn.Conv2d(input_nc + nz, inner_nc, kernel_size=4, stride=2, padding=1)
        up_in = inner_nc if self.innermost else inner_nc * 2
        upconv = nn.ConvTranspose2d(up_in, outer_nc, kernel_size=4, stride=2, padding=1)
        if outermost:
            down, up = [downconv], [nn.ReLU(True), upconv, nn.Tanh()]
        else:
            down = [nn.LeakyReLU(0.2, True), downconv] + ([] if self.innermost else [norm_layer(inner_nc)])
            up = [nn.ReLU(True), upconv, norm_layer(outer_nc)]
            up += [nn.Dropout(0.5)] if use_dropout and not self.innermost else []
        self.down = nn.Sequential(*down)
        self.inner = submodule
        self.up = nn.Sequential(*up)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        """Apply the level to ``x`` ``(N, input_nc, H, W)`` with the code ``z`` ``(N, nz)``."""
        inner = self.down(tile_code(x, z) if self.nz else x)
        if self.inner is not None:
            inner = self.inner(inner, z)
        out = self.up(inner)
        return out if self.outermost else torch.cat([out, x], dim=1)


class BicycleGenerator(nn.Module):
    """The BicycleGAN U-Net generator ``G(x, z)`` (``unet_256``: ``num_downs`` 8).

    Args:
        in_channels: Input image channels (edges: 1). Default ``3``.
        out_channels: Output image channels. Default ``3``.
        nz: Latent code size. Default ``8``.
        num_downs: Stride-2 downsamplings (>= 5; 8 for 256 px, 7 for 128 px). Default ``8``.
        ngf: Filters of the outermost level. Default ``64``.
        norm: ``"instance"`` (reference), ``"batch"`` or ``"none"``. Default ``"instance"``.
        use_dropout: Dropout 0.5 in the ``num_downs - 5`` inner ``ngf * 8`` levels (the reference's
            ``--use_dropout``, on in every script). Default ``True``.
        where_add: ``"all"`` (the code at every level's input, reference default) or ``"input"``. Default ``"all"``.
        init_type: See ``init_weights``. Default ``"xavier"`` (reference).
        init_gain: Default ``0.02``.

    Attributes:
        size_divisor: ``2 ** num_downs``.
        latent_dim: ``nz``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        nz: int = 8,
        num_downs: int = 8,
        ngf: int = 64,
        norm: Norm = "instance",
        use_dropout: bool = True,
        where_add: WhereAdd = "all",
        init_type: InitType = "xavier",
        init_gain: float = 0.02,
    ) -> None:
        super().__init__()
        check_choice("where_add", where_add, ("all", "input"))
        if num_downs < 5 or nz < 0:
            raise ValueError(f"BicycleGenerator needs num_downs >= 5 and nz >= 0; got {num_downs}, {nz}")
        self.size_divisor: int = 2**num_downs
        self.latent_dim, self.where_add = nz, where_add
        if where_add == "input":
            unet = UnetGenerator(
                in_channels + nz, out_channels, num_downs, ngf, norm, use_dropout, init_type, init_gain
            )
            self.model: nn.Module = unet.model
            return
        wide = ngf * 8
        block = UnetBlockWithZ(wide, wide, wide, nz, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetBlockWithZ(wide, wide, wide, nz, block, norm=norm, use_dropout=use_dropout)
        for mult in (4, 2, 1):
            block = UnetBlockWithZ(ngf * mult, ngf * mult, ngf * mult * 2, nz, block, norm=norm)
        self.model = UnetBlockWithZ(in_channels, out_channels, ngf, nz, block, outermost=True, norm=norm)
        init_weights(self, init_type, init_gain)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        """Translate ``x`` ``(N, in_channels, H, W)`` (sides multiples of ``size_divisor``) with ``z`` ``(N, nz)``.

        Returns:
            ``(N, out_channels, H, W)`` in [-1, 1].
        """
        _check_size(x, self.size_divisor, type(self).__name__)
        if self.where_add == "input":
            return self.model(tile_code(x, z) if self.latent_dim else x)
        return self.model(x, z)


class EncoderBlock(nn.Module):
    """The encoder's residual block (the reference's ``BasicBlock``), halving the resolution.

    ``conv``: norm, lrelu, 3x3 conv, norm, lrelu, 3x3 conv + 2x2 mean pool; ``shortcut``: 2x2 mean pool + 1x1 conv.
    """

    def __init__(self, inplanes: int, outplanes: int, norm: Norm = "instance") -> None:
        super().__init__()
        norm_layer = get_norm_layer(norm)
        self.conv = nn.Sequential(
            norm_layer(inplanes),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(inplanes, inplanes, 3, padding=1),
            norm_layer(inplanes),
            nn.LeakyReLU(0.2, True),
            nn.Sequential(nn.Conv2d(inplanes, outplanes, 3, padding=1), nn.AvgPool2d(2, 2)),
        )
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(inplanes, outplanes, 1))

    def forward(self, x: Tensor) -> Tensor:
        """Return ``conv(x) + shortcut(x)`` at half the resolution."""
        return self.conv(x) + self.shortcut(x)


class BicycleEncoder(nn.Module):
    """The ResNet encoder ``E(B) -> (mu, logvar)`` (``resnet_256``: 5 blocks; ``resnet_128``: 4).

    A stride-2 4x4 conv to ``nef``, ``n_blocks - 1`` :class:`EncoderBlock` (``nef * min(4, n)`` channels, each
    halving), LeakyReLU, a global average pool (the reference's ``AvgPool2d(8)``, which is global at 256 px and
    needs exactly that size; global at any size here), then two linear heads.

    Args:
        in_channels: Channels of the encoded image (the target B). Default ``3``.
        nz: Code size. Default ``8``.
        nef: Filters of the first conv. Default ``64``.
        n_blocks: Default ``5``.
        norm: Default ``"instance"``.
        init_type: Default ``"xavier"``.
        init_gain: Default ``0.02``.

    Attributes:
        latent_dim: ``nz``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        nz: int = 8,
        nef: int = 64,
        n_blocks: int = 5,
        norm: Norm = "instance",
        init_type: InitType = "xavier",
        init_gain: float = 0.02,
    ) -> None:
        super().__init__()
        if n_blocks < 2 or nz < 1:
            raise ValueError(f"BicycleEncoder needs n_blocks >= 2 and nz >= 1; got {n_blocks}, {nz}")
        self.latent_dim = nz
        layers: list[nn.Module] = [nn.Conv2d(in_channels, nef, 4, stride=2, padding=1)]
        for n in range(1, n_blocks):
            layers.append(EncoderBlock(nef * min(4, n), nef * min(4, n + 1), norm))
        layers += [nn.LeakyReLU(0.2, True), nn.AdaptiveAvgPool2d(1)]
        self.conv = nn.Sequential(*layers)
        features = nef * min(4, n_blocks)
        self.fc = nn.Sequential(nn.Linear(features, nz))
        self.fcVar = nn.Sequential(nn.Linear(features, nz))  # noqa: N815 - the reference's name (state dict keys)
        init_weights(self, init_type, init_gain)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Encode ``x`` ``(N, in_channels, H, W)`` into ``(mu, logvar)``, each ``(N, nz)``."""
        flat = self.conv(x).flatten(1)
        return self.fc(flat), self.fcVar(flat)


class BicycleDiscriminator(nn.Module):
    """``num_D`` PatchGANs on an image pyramid (``D_NLayersMulti``; ``basic_256_multi``: ``n_layers`` 3).

    Scale ``i`` is a :class:`PatchDiscriminator` with ``round(ndf / 2 ** i)`` filters (padding 1, every conv with
    a bias) seeing the input downsampled ``i`` times (:func:`downsample`).

    Args:
        in_channels: 3 (unconditional D: the image), or input + output channels (``conditional_D``).
        ndf: Filters of the first scale. Default ``64``.
        n_layers: Stride-2 convs per scale (``basic_256``: 3, ``basic_128``: 2). Default ``3``.
        num_D: Scales. Default ``2``.
        norm: Default ``"instance"``.
        init_type: Default ``"xavier"``.
        init_gain: Default ``0.02``.

    Shape:
        Input ``(N, in_channels, H, W)``; output the list of each scale's logits ``(N, 1, h_i, w_i)``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        ndf: int = 64,
        n_layers: int = 3,
        num_D: int = 2,  # noqa: N803 - the reference's option name
        norm: Norm = "instance",
        init_type: InitType = "xavier",
        init_gain: float = 0.02,
    ) -> None:
        super().__init__()
        if num_D < 1:
            raise ValueError(f"BicycleDiscriminator needs num_D >= 1; got num_D={num_D}")
        self.discriminators = nn.ModuleList(
            PatchDiscriminator(in_channels, round(ndf / 2**i), n_layers, norm, False, init_type, init_gain, 1, True)
            for i in range(num_D)
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        """Return the logits of every scale, full resolution first."""
        outputs = []
        for index, discriminator in enumerate(self.discriminators):
            if index:
                x = downsample(x)
            outputs.append(discriminator(x))
        return outputs


__all__ = ["BicycleDiscriminator", "BicycleEncoder", "BicycleGenerator", "EncoderBlock", "UnetBlockWithZ", "tile_code"]
