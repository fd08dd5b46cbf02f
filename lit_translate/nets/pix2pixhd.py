"""pix2pixHD networks: the global generator, the local enhancer and the instance-wise feature encoder.

Wang, Liu, Zhu, Tao, Kautz & Catanzaro 2018, "High-Resolution Image Synthesis and Semantic Manipulation with
Conditional GANs" (CVPR), Sec. 3.2 and 3.4. Follows NVIDIA/pix2pixHD ``models/networks.py`` (``GlobalGenerator``,
``LocalEnhancer``, ``Encoder``); the layer order and the ``model`` / ``model1_1`` / ``model1_2`` names match it, so
the parameter counts do (GlobalGenerator, 36 input channels: 182,546,755; Encoder, nef 16: 788,803). The
multi-scale discriminator is :class:`~lit_translate.nets.multiscale.MultiscaleDiscriminator`.

The global generator is the CycleGAN ResNet generator with four downsamplings
(:class:`~lit_translate.nets.generators.ResnetGenerator`, one implementation); the encoder is the same net
without residual blocks. Weights are drawn from ``N(0, 0.02)`` as in the reference's ``weights_init`` (which,
unlike :func:`~lit_translate.nets.init.init_weights`, keeps PyTorch's default biases; biases start at 0 here).
With ``norm="batch"`` the convs before a norm have no bias here (the reference keeps them); the reference's
setting, instance norm, is the same in both.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lit_translate.nets.blocks import (
    Norm,
    PaddingType,
    ResnetBlock,
    conv_bias_for_norm,
    get_norm_layer,
    spectral_normalize,
)
from lit_translate.nets.generators import ResnetGenerator
from lit_translate.nets.init import InitType, init_weights
from lit_translate.nets.multiscale import downsample


class GlobalGenerator(ResnetGenerator):
    """pix2pixHD's global generator G1: ``ResnetGenerator`` with four downsamplings and 36 input channels.

    Follows NVIDIA/pix2pixHD ``models/networks.py GlobalGenerator``: c7s1-64, d128, d256, d512, d1024, nine
    residual blocks of 1024 channels, u512, u256, u128, u64, c7s1-3, ``tanh`` (instance norm, reflection pads).

    Args:
        in_channels: Semantic channels: ``label_nc`` + 1 instance edge (+ ``feat_num`` with instance features).
            Default ``36`` (Cityscapes).
        out_channels: Default ``3``.
        ngf: Default ``64``.
        n_downsampling: The reference's ``n_downsample_global``. Default ``4``.
        n_blocks: The reference's ``n_blocks_global``. Default ``9``.
        norm: Default ``"instance"``.
        padding_type: Padding inside the residual blocks. Default ``"reflect"``.
        init_type: See :func:`~lit_translate.nets.init.init_weights`. Default ``"normal"``.
        init_gain: Default ``0.02``.
        spectral_norm: Spectral norm on every convolution (``spectral_normalize``, after the init). Default
            ``False``.

    Shape:
        Input ``(N, in_channels, H, W)`` with ``H``, ``W`` multiples of ``2 ** n_downsampling``; output
        ``(N, out_channels, H, W)`` in ``[-1, 1]``.
    """

    def __init__(
        self,
        in_channels: int = 36,
        out_channels: int = 3,
        ngf: int = 64,
        n_downsampling: int = 4,
        n_blocks: int = 9,
        norm: Norm = "instance",
        padding_type: PaddingType = "reflect",
        init_type: InitType = "normal",
        init_gain: float = 0.02,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            ngf,
            n_blocks,
            norm,
            padding_type=padding_type,
            init_type=init_type,
            init_gain=init_gain,
            n_downsampling=n_downsampling,
            spectral_norm=spectral_norm,
        )


class LocalEnhancer(nn.Module):
    """pix2pixHD's coarse-to-fine generator: a global generator at half resolution and local enhancers G2.

    Follows NVIDIA/pix2pixHD ``models/networks.py LocalEnhancer`` (``--netG local``, for 2048x1024): the global
    generator (width ``ngf * 2 ** n_local_enhancers``) without its last three layers runs on the input
    downsampled ``n_local_enhancers`` times (3x3 average pool); each enhancer ``n`` (``model{n}_1``: c7s1 and one
    stride-2 conv; ``model{n}_2``: ``n_blocks_local`` residual blocks, one transposed conv, and for the last
    enhancer c7s1-3 and ``tanh``) adds its downsampled features to the coarser output.

    Args:
        in_channels: Semantic channels. Default ``36``.
        out_channels: Default ``3``.
        ngf: Width of the finest enhancer (the reference's ``ngf`` for ``local``, 32). Default ``32``.
        n_downsample_global: Default ``4``.
        n_blocks_global: Default ``9``.
        n_local_enhancers: Default ``1``.
        n_blocks_local: Default ``3``.
        norm: Default ``"instance"``.
        padding_type: Default ``"reflect"``.
        init_type: Default ``"normal"``.
        init_gain: Default ``0.02``.
        spectral_norm: Spectral norm on every convolution (``spectral_normalize``, after the init). Default
            ``False``.

    Attributes:
        size_divisor: ``2 ** (n_downsample_global + n_local_enhancers)``.

    Shape:
        Input ``(N, in_channels, H, W)``, ``H`` and ``W`` multiples of ``size_divisor``; output
        ``(N, out_channels, H, W)`` in ``[-1, 1]``.
    """

    def __init__(
        self,
        in_channels: int = 36,
        out_channels: int = 3,
        ngf: int = 32,
        n_downsample_global: int = 4,
        n_blocks_global: int = 9,
        n_local_enhancers: int = 1,
        n_blocks_local: int = 3,
        norm: Norm = "instance",
        padding_type: PaddingType = "reflect",
        init_type: InitType = "normal",
        init_gain: float = 0.02,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        if n_local_enhancers < 1:
            raise ValueError(f"LocalEnhancer needs n_local_enhancers >= 1; got {n_local_enhancers}")
        self.n_local_enhancers = n_local_enhancers
        self.size_divisor = 2 ** (n_downsample_global + n_local_enhancers)
        global_ngf = ngf * 2**n_local_enhancers
        glob = GlobalGenerator(in_channels, out_channels, global_ngf, n_downsample_global, n_blocks_global, norm)
        self.model = nn.Sequential(*list(glob.model)[:-3])  # without the final pad, conv and tanh
        norm_layer, bias = get_norm_layer(norm), conv_bias_for_norm(norm)
        for n in range(1, n_local_enhancers + 1):
            width = ngf * 2 ** (n_local_enhancers - n)
            down = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7, bias=bias), norm_layer(width)]
            down += [nn.ReLU(True), nn.Conv2d(width, width * 2, 3, stride=2, padding=1, bias=bias)]
            down += [norm_layer(width * 2), nn.ReLU(True)]
            up: list[nn.Module] = [ResnetBlock(width * 2, norm, False, padding_type) for _ in range(n_blocks_local)]
            up += [nn.ConvTranspose2d(width * 2, width, 3, stride=2, padding=1, output_padding=1, bias=bias)]
            up += [norm_layer(width), nn.ReLU(True)]
            if n == n_local_enhancers:
                up += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
            setattr(self, f"model{n}_1", nn.Sequential(*down))
            setattr(self, f"model{n}_2", nn.Sequential(*up))
        init_weights(self, init_type, init_gain)
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, x: Tensor) -> Tensor:
        """Synthesise at full resolution.

        Args:
            x: ``(N, in_channels, H, W)``.

        Returns:
            ``(N, out_channels, H, W)`` in ``[-1, 1]``.
        """
        height, width = x.shape[-2:]
        if height % self.size_divisor or width % self.size_divisor:
            raise ValueError(f"LocalEnhancer needs H and W divisible by {self.size_divisor}; got {height}x{width}")
        pyramid = [x]
        for _ in range(self.n_local_enhancers):
            pyramid.append(downsample(pyramid[-1]))
        output = self.model(pyramid[-1])
        for n in range(1, self.n_local_enhancers + 1):
            level = pyramid[self.n_local_enhancers - n]
            output = getattr(self, f"model{n}_2")(getattr(self, f"model{n}_1")(level) + output)
        return output


class FeatureEncoder(nn.Module):
    """pix2pixHD's instance-wise feature encoder E (paper Sec. 3.4): image to per-instance mean features.

    Follows NVIDIA/pix2pixHD ``models/networks.py Encoder`` (``--netG encoder``, nef 16, 4 downsamplings,
    ``feat_num`` 3): the :class:`GlobalGenerator` layout without residual blocks, then every channel averaged over
    the pixels of each instance (:func:`instance_average`). Its output is concatenated to G's input.

    Args:
        in_channels: Default ``3``.
        out_channels: The reference's ``feat_num``. Default ``3``.
        nef: Default ``16``.
        n_downsampling: Default ``4``.
        norm: Default ``"instance"``.
        init_type: Default ``"normal"``.
        init_gain: Default ``0.02``.

    Shape:
        ``x`` ``(N, in_channels, H, W)`` (``H``, ``W`` multiples of ``2 ** n_downsampling``) and ``instances``
        ``(N, 1, H, W)``; output ``(N, out_channels, H, W)``, constant over each instance.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        nef: int = 16,
        n_downsampling: int = 4,
        norm: Norm = "instance",
        init_type: InitType = "normal",
        init_gain: float = 0.02,
    ) -> None:
        super().__init__()
        net = ResnetGenerator(
            in_channels,
            out_channels,
            nef,
            0,
            norm,
            init_type=init_type,
            init_gain=init_gain,
            n_downsampling=n_downsampling,
        )
        self.model = net.model
        self.size_divisor = net.size_divisor

    def forward(self, x: Tensor, instances: Tensor) -> Tensor:
        """Encode ``x`` and average the features per instance.

        Args:
            x: Images ``(N, in_channels, H, W)`` in ``[-1, 1]``.
            instances: Instance ids ``(N, 1, H, W)`` (any integer or integral float dtype).

        Returns:
            ``(N, out_channels, H, W)``.
        """
        return instance_average(self.model(x), instances)


def instance_average(features: Tensor, instances: Tensor) -> Tensor:
    """Replace every feature by its mean over the pixels of its instance, per sample and channel.

    The reference's per-instance, per-sample, per-channel Python loop, vectorised (one ``unique`` and one
    ``index_add_``); differentiable in ``features``.

    Args:
        features: ``(N, C, H, W)``.
        instances: ``(N, 1, H, W)`` or ``(N, H, W)`` instance ids.

    Returns:
        ``(N, C, H, W)``, constant over each (sample, instance).

    Raises:
        ValueError: ``instances`` does not match ``features`` in ``N``, ``H`` and ``W``.
    """
    n, c, h, w = features.shape
    if instances.numel() != n * h * w or instances.shape[-2:] != (h, w):
        raise ValueError(f"instance_average: instances {tuple(instances.shape)} do not fit {tuple(features.shape)}")
    ids = instances.reshape(n, h * w).long()
    ids = ids - ids.min() + (ids.max() - ids.min() + 1) * torch.arange(n, device=ids.device).unsqueeze(1)
    _, inverse = torch.unique(ids.flatten(), return_inverse=True)
    groups = int(inverse.max()) + 1
    flat = features.permute(1, 0, 2, 3).reshape(c, n * h * w)
    sums = flat.new_zeros(c, groups).index_add_(1, inverse, flat)
    counts = torch.bincount(inverse, minlength=groups).to(flat.dtype)
    return (sums / counts)[:, inverse].reshape(c, n, h, w).permute(1, 0, 2, 3)


__all__ = ["FeatureEncoder", "GlobalGenerator", "LocalEnhancer", "instance_average"]
