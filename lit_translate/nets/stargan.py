"""StarGAN (Choi et al., CVPR 2018) generator and discriminator, as in yunjey/stargan ``model.py``.

Module structure and attribute names (``main``, ``conv1``, ``conv2``, residual blocks' ``main``) follow the
reference, so its ``state_dict`` keys match and its checkpoints load. Weights keep PyTorch's default
initialisation, as the reference does (it never calls a custom init).

Code (paper): ``StarGANGenerator`` (G), ``StarGANDiscriminator`` (D, with ``D_src`` = ``conv1`` and
``D_cls`` = ``conv2``), ``c`` (the target domain label c).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lit_translate.nets.blocks import spectral_normalize

STARGAN_G_PARAMS = 8_430_528
"""Parameters of ``StarGANGenerator(c_dim=5)`` (the reference's CelebA G)."""
STARGAN_D_PARAMS = 44_762_048
"""Parameters of ``StarGANDiscriminator(image_size=128, c_dim=5)`` (the reference's CelebA D)."""


def _instance_norm(channels: int) -> nn.InstanceNorm2d:
    """Return the reference's norm layer: affine, with running statistics (see ``StarGANGenerator``)."""
    return nn.InstanceNorm2d(channels, affine=True, track_running_stats=True)


class StarGANResidualBlock(nn.Module):
    """Residual block: 3x3 conv, IN, ReLU, 3x3 conv, IN, plus the identity (reference ``ResidualBlock``).

    The convolutions pad with zeros and have no bias (the affine norm supplies the shift).

    Args:
        channels: Input and output channels.

    Shape:
        Input and output ``(N, channels, H, W)``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1, bias=False),
            _instance_norm(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1, bias=False),
            _instance_norm(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x + F(x)``, shape ``(N, channels, H, W)``."""
        return x + self.main(x)


def _check_positive(**values: int) -> None:
    """Raise a ValueError naming the first key whose value is not a positive integer."""
    for key, value in values.items():
        if value < 1:
            raise ValueError(f"{key} must be >= 1, got {key}={value}")


class StarGANGenerator(nn.Module):
    """The StarGAN generator G(x, c): the target label is tiled over the image and concatenated to it.

    Layers (reference ``Generator``): 7x7 conv to ``conv_dim``, IN, ReLU; two stride-2 4x4 convs doubling
    the channels (IN, ReLU); ``repeat_num`` ``StarGANResidualBlock`` of ``4 * conv_dim`` channels; two stride-2
    4x4 transposed convs halving them (IN, ReLU); 7x7 conv to 3 channels, tanh. No conv has a bias. With
    ``c_dim=5`` it has exactly ``STARGAN_G_PARAMS`` = 8,430,528 parameters.

    Why zero padding: the label enters as constant channels. With reflection padding a constant channel
    stays constant after padding, so its contribution to the first conv is a per-channel constant, which the
    following InstanceNorm subtracts exactly: G cannot see the label at all (the reference notes that label
    conditioning "does not work at all" with reflection padding; a test here checks this). With zero padding
    the label's contribution varies near the borders and survives the norm.

    ``InstanceNorm2d(affine=True, track_running_stats=True)``: in ``train()`` mode every forward normalises
    with the image's own statistics and also updates running averages (even under ``torch.no_grad``); after
    ``eval()`` it normalises with those running averages instead, which changes the outputs. The reference
    never calls ``eval()``: its samples and test images are made in train mode.

    Args:
        c_dim: Label length (5 CelebA attributes, 8 RaFD expressions, 5 + 8 + 2 with the mask vector).
            Default ``5``.
        conv_dim: Channels of the first conv. Default ``64``.
        repeat_num: Residual blocks. Default ``6``.
        spectral_norm: Spectral norm on every convolution and linear layer (``spectral_normalize``, after the
            init). Default ``False``.

    Attributes:
        size_divisor: ``4``; input height and width must be multiples of it.
        scale: ``1``; the output has the input's size.

    Shape:
        ``x``: ``(N, 3, H, W)`` in ``[-1, 1]``; ``c``: ``(N, c_dim)`` float; output ``(N, 3, H, W)`` in
        ``[-1, 1]``.

    Raises:
        ValueError: A size argument is below 1.
    """

    def __init__(self, c_dim: int = 5, conv_dim: int = 64, repeat_num: int = 6, spectral_norm: bool = False) -> None:
        super().__init__()
        _check_positive(c_dim=c_dim, conv_dim=conv_dim, repeat_num=repeat_num)
        self.c_dim, self.size_divisor, self.scale = c_dim, 4, 1
        layers: list[nn.Module] = [nn.Conv2d(3 + c_dim, conv_dim, kernel_size=7, stride=1, padding=3, bias=False)]
        layers += [_instance_norm(conv_dim), nn.ReLU(inplace=True)]
        dim = conv_dim
        for _ in range(2):  # down-sampling
            layers += [nn.Conv2d(dim, dim * 2, kernel_size=4, stride=2, padding=1, bias=False)]
            layers += [_instance_norm(dim * 2), nn.ReLU(inplace=True)]
            dim *= 2
        layers += [StarGANResidualBlock(dim) for _ in range(repeat_num)]  # bottleneck
        for _ in range(2):  # up-sampling
            layers += [nn.ConvTranspose2d(dim, dim // 2, kernel_size=4, stride=2, padding=1, bias=False)]
            layers += [_instance_norm(dim // 2), nn.ReLU(inplace=True)]
            dim //= 2
        layers += [nn.Conv2d(dim, 3, kernel_size=7, stride=1, padding=3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """Translate images ``x`` to the domain(s) given by the labels ``c``.

        Args:
            x: Images ``(N, 3, H, W)`` in ``[-1, 1]``; ``H`` and ``W`` multiples of 4.
            c: Target labels ``(N, c_dim)`` (one-hot domains, 0/1 attributes, or the joint layout with the mask
                vector), float.

        Returns:
            Translated images ``(N, 3, H, W)`` in ``[-1, 1]``.

        Raises:
            ValueError: ``x`` or ``c`` has the wrong shape, or ``H``/``W`` is not a multiple of 4.
        """
        name = type(self).__name__
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"{name} needs images (N, 3, H, W); got {tuple(x.shape)}")
        if c.shape != (x.shape[0], self.c_dim):
            raise ValueError(f"{name} needs labels (N, c_dim) = ({x.shape[0]}, {self.c_dim}); got {tuple(c.shape)}")
        height, width = x.shape[-2:]
        if height % self.size_divisor or width % self.size_divisor:
            raise ValueError(f"{name} needs height and width divisible by {self.size_divisor}; got {height}x{width}")
        tiled = c.to(x.dtype)[:, :, None, None].expand(-1, -1, height, width)  # (N, c_dim, H, W)
        return self.main(torch.cat([x, tiled], dim=1))  # (N, 3 + c_dim, H, W)


class StarGANDiscriminator(nn.Module):
    """The StarGAN discriminator: a PatchGAN real/fake map D_src and a domain classifier D_cls.

    Layers (reference ``Discriminator``): ``repeat_num`` stride-2 4x4 convs (with bias) from ``conv_dim``
    channels, doubling each time, each followed by LeakyReLU(0.01), no normalisation; then two bias-free heads
    on the ``image_size / 2**repeat_num`` feature map: ``conv1`` (3x3, stride 1, padding 1) gives the real/fake
    map and ``conv2`` (kernel ``image_size / 2**repeat_num``, no padding) gives one logit per domain. At 128 px
    with ``c_dim=5`` it has exactly ``STARGAN_D_PARAMS`` = 44,762,048 parameters.

    The class head's kernel ties D to ``image_size``: at another input size the reference would fail with a
    shape error or return a spatial map of class logits, so ``forward`` rejects any other size.

    Args:
        image_size: Input height and width; a multiple of ``2**repeat_num``. Default ``128``.
        c_dim: Number of class logits (5 CelebA attributes, 8 RaFD expressions, 5 + 8 with two datasets:
            the mask vector is not classified). Default ``5``.
        conv_dim: Channels of the first conv. Default ``64``.
        repeat_num: Stride-2 convolutions. Default ``6``.
        spectral_norm: Spectral norm on every convolution and linear layer (``spectral_normalize``, after the
            init). Default ``False``.

    Shape:
        Input ``(N, 3, image_size, image_size)`` in ``[-1, 1]``; outputs ``src`` ``(N, 1, image_size /
        2**repeat_num, image_size / 2**repeat_num)`` (unbounded WGAN critic scores) and ``cls`` ``(N, c_dim)``
        (logits).

    Raises:
        ValueError: ``image_size`` is not a positive multiple of ``2**repeat_num``, or a size argument is below 1.
    """

    def __init__(
        self,
        image_size: int = 128,
        c_dim: int = 5,
        conv_dim: int = 64,
        repeat_num: int = 6,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        _check_positive(image_size=image_size, c_dim=c_dim, conv_dim=conv_dim, repeat_num=repeat_num)
        divisor = 2**repeat_num
        if image_size % divisor:
            near = " or ".join(
                str(size)
                for size in sorted({image_size // divisor * divisor or divisor, (image_size // divisor + 1) * divisor})
            )
            raise ValueError(
                f"image_size must be a multiple of 2**repeat_num = {divisor} (the class head's kernel is "
                f"image_size / 2**repeat_num); got image_size={image_size}: use image_size={near}, or change "
                f"repeat_num"
            )
        self.image_size, self.c_dim = image_size, c_dim
        layers: list[nn.Module] = [nn.Conv2d(3, conv_dim, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.01)]
        dim = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(dim, dim * 2, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.01)]
            dim *= 2
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(dim, 1, kernel_size=3, stride=1, padding=1, bias=False)
        self.conv2 = nn.Conv2d(dim, c_dim, kernel_size=image_size // divisor, bias=False)
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Score images as real/fake and classify their domain.

        Args:
            x: Images ``(N, 3, image_size, image_size)`` in ``[-1, 1]``.

        Returns:
            ``(src, cls)``: ``src`` ``(N, 1, image_size / 2**repeat_num, image_size / 2**repeat_num)``,
            ``cls`` ``(N, c_dim)`` logits.

        Raises:
            ValueError: ``x`` is not ``(N, 3, image_size, image_size)``.
        """
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, self.image_size, self.image_size):
            raise ValueError(
                f"{type(self).__name__} was built for (N, 3, {self.image_size}, {self.image_size}) images "
                f"(image_size={self.image_size}); got {tuple(x.shape)}: resize the images or build it with "
                f"image_size equal to their size"
            )
        h = self.main(x)
        out_cls = self.conv2(h)  # (N, c_dim, 1, 1)
        return self.conv1(h), out_cls.view(out_cls.shape[0], out_cls.shape[1])
