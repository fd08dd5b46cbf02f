"""Super-resolution nets: BasicSR's MSRResNet and RRDBNet (ESRGAN), the SRGAN paper's SRResNet, VGG-style D.

Value range. The package's images are in [-1, 1]; BasicSR works in [0, 1]. ``MSRResNet``, ``RRDBNet`` and
``VGGStyleDiscriminator`` map their input to [0, 1] (``u = (x + 1) / 2``), run BasicSR's computation unchanged and
map an image output back (``2 * v - 1``). So BasicSR's initialisation sees the data range it was tuned for, the
bilinear skip of MSRResNet adds the [0, 1] input as in BasicSR, and BasicSR checkpoints (``params`` /
``params_ema``) load with ``strict=True``: the submodule names are BasicSR's (``conv_first``, ``body.0.conv1``, ...).
The paper's ``SRResNet`` takes the LR image in [0, 1] and predicts the HR image in [-1, 1], as Ledig et al. scale
their data, so only its input is mapped. Outputs are not clamped (BasicSR clamps only when it saves or scores an
image; see ``lit_translate.evaluation.sr``).

Parameter counts (3 channels, 64 features, 16 blocks): MSRResNet x2 1,369,859, x3 1,554,499 (its single x3 stage
has a 576-channel conv), x4 1,517,571; RRDBNet (23 RRDB, growth 32) x4 16,697,987 (x2 16,703,171, x1 16,723,907);
SRResNet x2 1,400,771, x4 1,548,547; VGGStyleDiscriminator 14,499,401 (128 px) and 21,055,049 (256 px).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lit_translate.choices import resolve_choice
from lit_translate.nets.blocks import spectral_normalize


def _to_unit(x: Tensor) -> Tensor:
    return (x + 1.0) / 2.0


def _to_signed(x: Tensor) -> Tensor:
    return x * 2.0 - 1.0


@torch.no_grad()
def default_init_weights(modules: nn.Module | Iterable[nn.Module], scale: float = 1.0) -> None:
    """BasicSR's ``default_init_weights``: Kaiming-normal conv/linear weights times ``scale``, zero biases.

    Kaiming normal uses fan-in and gain sqrt(2) (torch's defaults, as BasicSR calls it without arguments). Scaling
    the residual branches by 0.1 keeps the deep residual stacks close to identity at the start (EDSR/ESRGAN). Batch
    norm weights are set to 1 and biases to 0.

    Args:
        modules: A module or modules; all their submodules are visited.
        scale: Factor applied to the drawn weights. Default ``1.0``.
    """
    for module in [modules] if isinstance(modules, nn.Module) else modules:
        for layer in module.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(layer.weight)
                layer.weight.mul_(scale)
                if layer.bias is not None:
                    layer.bias.zero_()
            elif isinstance(layer, nn.modules.batchnorm._BatchNorm) and layer.affine:
                nn.init.ones_(layer.weight)
                nn.init.zeros_(layer.bias)


def _check_scale(name: str, scale: int, allowed: tuple[int, ...]) -> None:
    if scale not in allowed:
        listed = ", ".join(str(s) for s in allowed)
        raise ValueError(f"{name} supports scale {listed}; got scale={scale}. Set scale to one of {listed}.")


class ResidualBlockNoBN(nn.Module):
    """EDSR-style residual block without batch norm: ``x + res_scale * conv(relu(conv(x)))`` (BasicSR).

    Args:
        num_feat: Channels. Default ``64``.
        res_scale: Scale of the residual branch. Default ``1.0``.
    """

    def __init__(self, num_feat: int = 64, res_scale: float = 1.0) -> None:
        super().__init__()
        self.res_scale = res_scale
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)
        default_init_weights([self.conv1, self.conv2], 0.1)

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x`` plus the scaled residual, same shape ``(N, num_feat, H, W)``."""
        return x + self.conv2(self.relu(self.conv1(x))) * self.res_scale


class MSRResNet(nn.Module):
    """BasicSR's modified SRResNet (``srresnet_arch.py``): SRResNet without batch norm, bilinear global skip.

    ``conv_first`` + LeakyReLU(0.1), ``num_block`` ``ResidualBlockNoBN``, pixel-shuffle upsampling (one x2/x3
    stage, or two x2 stages for x4, each conv + shuffle + LeakyReLU), ``conv_hr`` + LeakyReLU, ``conv_last``; the
    bilinearly upsampled input is added to the output. Every conv is initialised by ``default_init_weights(...,
    0.1)`` as in BasicSR. Input and output are mapped between [-1, 1] and BasicSR's [0, 1] (module docstring).

    Args:
        in_channels: Input channels. Default ``3``.
        out_channels: Output channels; must equal ``in_channels`` for the skip. Default ``3``.
        num_feat: Feature channels. Default ``64``.
        num_block: Residual blocks. Default ``16``.
        scale: Upsampling factor, 2, 3 or 4. Default ``4``.
        spectral_norm: Spectral norm on every convolution and linear layer (``spectral_normalize``, after the
            init). Default ``False``.

    Shape:
        Input LR ``(N, in_channels, H, W)`` in [-1, 1]; output SR ``(N, out_channels, scale * H, scale * W)`` in
        [-1, 1] (not clamped).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_feat: int = 64,
        num_block: int = 16,
        scale: int = 4,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        _check_scale("MSRResNet", scale, (2, 3, 4))
        if in_channels != out_channels:
            raise ValueError(
                f"MSRResNet adds the upsampled input: in_channels ({in_channels}) must equal "
                f"out_channels ({out_channels})."
            )
        self.scale, self.size_divisor = scale, 1
        self.conv_first = nn.Conv2d(in_channels, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(ResidualBlockNoBN(num_feat) for _ in range(num_block)))
        shuffle = 2 if scale == 4 else scale
        self.upconv1 = nn.Conv2d(num_feat, num_feat * shuffle**2, 3, 1, 1)
        self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1) if scale == 4 else None
        self.pixel_shuffle = nn.PixelShuffle(shuffle)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, out_channels, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)
        default_init_weights([self.conv_first, self.upconv1, self.conv_hr, self.conv_last], 0.1)
        if self.upconv2 is not None:
            default_init_weights(self.upconv2, 0.1)
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, x: Tensor) -> Tensor:
        """Upsample ``x`` (``(N, C, H, W)`` in [-1, 1]) to ``(N, C, scale * H, scale * W)`` in [-1, 1]."""
        lr = _to_unit(x)
        out = self.body(self.lrelu(self.conv_first(lr)))
        out = self.lrelu(self.pixel_shuffle(self.upconv1(out)))
        if self.upconv2 is not None:
            out = self.lrelu(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        base = F.interpolate(lr, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return _to_signed(out + base)


class ResidualDenseBlock(nn.Module):
    """ESRGAN's residual dense block: five densely connected 3x3 convs, output ``x + 0.2 * conv5(...)``.

    Args:
        num_feat: Channels in and out. Default ``64``.
        num_grow_ch: Channels added by each of the first four convs (growth). Default ``32``.
    """

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        for i in range(1, 5):
            setattr(self, f"conv{i}", nn.Conv2d(num_feat + (i - 1) * num_grow_ch, num_grow_ch, 3, 1, 1))
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        default_init_weights([getattr(self, f"conv{i}") for i in range(1, 6)], 0.1)

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x + 0.2 * residual``, same shape ``(N, num_feat, H, W)``."""
        features = [x]
        for i in range(1, 5):
            features.append(self.lrelu(getattr(self, f"conv{i}")(torch.cat(features, 1))))
        return x + self.conv5(torch.cat(features, 1)) * 0.2  # ESRGAN's residual scaling by 0.2


class RRDB(nn.Module):
    """Residual-in-residual dense block: three ``ResidualDenseBlock`` and an outer residual scaled by 0.2.

    Args:
        num_feat: Channels. Default ``64``.
        num_grow_ch: Growth channels of each dense block. Default ``32``.
    """

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x + 0.2 * rdb3(rdb2(rdb1(x)))``."""
        return x + self.rdb3(self.rdb2(self.rdb1(x))) * 0.2


class RRDBNet(nn.Module):
    """ESRGAN's generator as BasicSR's ``rrdbnet_arch.py``: RRDB trunk, two nearest-upsample + conv x2 stages.

    ``conv_first``, ``num_block`` RRDB, ``conv_body`` with a trunk skip, then twice nearest x2 + conv + LeakyReLU
    (0.2), ``conv_hr`` + LeakyReLU, ``conv_last``. For scale 2 (1) the input is pixel-unshuffled by 2 (4) first, as
    BasicSR (Real-ESRGAN) does, so H and W must be multiples of ``size_divisor`` (2, resp. 4). Only the dense-block
    convs get ``default_init_weights(..., 0.1)``; the other convs keep torch's default init, as in BasicSR. Input and
    output are mapped between [-1, 1] and BasicSR's [0, 1] (module docstring).

    Args:
        in_channels: Input channels. Default ``3``.
        out_channels: Output channels. Default ``3``.
        scale: 1, 2 or 4. Default ``4``.
        num_feat: Feature channels. Default ``64``.
        num_block: RRDB blocks. Default ``23``.
        num_grow_ch: Growth channels. Default ``32``.
        spectral_norm: Spectral norm on every convolution and linear layer (``spectral_normalize``, after the
            init). Default ``False``.

    Shape:
        Input ``(N, in_channels, H, W)`` in [-1, 1]; output ``(N, out_channels, scale * H, scale * W)`` in [-1, 1].
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        scale: int = 4,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        _check_scale("RRDBNet", scale, (1, 2, 4))
        self.scale, self.size_divisor = scale, 4 // scale
        self.conv_first = nn.Conv2d(in_channels * self.size_divisor**2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, out_channels, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, x: Tensor) -> Tensor:
        """Upsample ``x`` (``(N, C, H, W)`` in [-1, 1], H and W multiples of ``size_divisor``) by ``scale``."""
        if x.shape[-2] % self.size_divisor or x.shape[-1] % self.size_divisor:
            raise ValueError(
                f"RRDBNet(scale={self.scale}) needs H and W divisible by {self.size_divisor}; got "
                f"{tuple(x.shape[-2:])}. Crop or pad the input (tiled_forward pads by reflection)."
            )
        feat = _to_unit(x)
        if self.size_divisor > 1:
            feat = F.pixel_unshuffle(feat, self.size_divisor)  # same channel order as BasicSR's pixel_unshuffle
        feat = self.conv_first(feat)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return _to_signed(self.conv_last(self.lrelu(self.conv_hr(feat))))


class SRResNetBlock(nn.Module):
    """The SRGAN paper's residual block (Fig. 4): conv-BN-PReLU-conv-BN plus the identity.

    Args:
        num_feat: Channels. Default ``64``.
    """

    def __init__(self, num_feat: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False)  # bias is redundant before batch norm
        self.bn1 = nn.BatchNorm2d(num_feat)
        self.prelu = nn.PReLU(num_feat)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(num_feat)

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x + bn2(conv2(prelu(bn1(conv1(x)))))``."""
        return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))


class SRResNet(nn.Module):
    """The original SRResNet of Ledig et al. (CVPR 2017, Fig. 4): the SRGAN generator with batch norm and PReLU.

    9x9 conv (64) + PReLU; ``num_block`` ``SRResNetBlock``; 3x3 conv + BN and an elementwise sum with the features
    before the blocks (the global skip); ``log2(scale)`` stages of 3x3 conv (256) + pixel shuffle x2 + PReLU; a 9x9
    conv to the output. PReLU slopes are per channel (the paper does not say; many PyTorch ports share one slope).
    torch's default init (the paper gives none). Unlike MSRResNet there is no bilinear skip.

    Args:
        in_channels: Input channels. Default ``3``.
        out_channels: Output channels. Default ``3``.
        num_feat: Feature channels. Default ``64``.
        num_block: Residual blocks (the paper's B). Default ``16``.
        scale: 2, 4 or 8 (x2 stages). Default ``4``.
        final_activation: ``"none"`` (Fig. 4 shows none) or ``"tanh"`` (common in ports; bounds the output to
            [-1, 1]). Default ``"none"``.
        spectral_norm: Spectral norm on every convolution and linear layer (``spectral_normalize``, after the
            init). Default ``False``.

    Shape:
        Input LR ``(N, in_channels, H, W)`` in [-1, 1] (mapped to the paper's [0, 1] inside); output
        ``(N, out_channels, scale * H, scale * W)`` in [-1, 1], the paper's HR range.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_feat: int = 64,
        num_block: int = 16,
        scale: int = 4,
        final_activation: Literal["none", "tanh"] = "none",
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        _check_scale("SRResNet", scale, (2, 4, 8))
        final = resolve_choice("final_activation", final_activation, {"none": nn.Identity, "tanh": nn.Tanh})
        self.scale, self.size_divisor = scale, 1
        self.head = nn.Sequential(nn.Conv2d(in_channels, num_feat, 9, 1, 4), nn.PReLU(num_feat))
        self.body = nn.Sequential(*(SRResNetBlock(num_feat) for _ in range(num_block)))
        self.body_tail = nn.Sequential(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False), nn.BatchNorm2d(num_feat))
        stages: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            stages += [nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU(num_feat)]
        self.upsample = nn.Sequential(*stages)
        self.tail = nn.Sequential(nn.Conv2d(num_feat, out_channels, 9, 1, 4), final())
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, x: Tensor) -> Tensor:
        """Upsample ``x`` (``(N, C, H, W)`` in [-1, 1]) to ``(N, C_out, scale * H, scale * W)`` in [-1, 1]."""
        feat = self.head(_to_unit(x))
        feat = feat + self.body_tail(self.body(feat))  # the skip around all residual blocks (Fig. 4)
        return self.tail(self.upsample(feat))


class VGGStyleDiscriminator(nn.Module):
    """BasicSR's ``VGGStyleDiscriminator`` (SRGAN/ESRGAN D) for 128 x 128 or 256 x 256 HR patches.

    Five (six for 256) stages of 3x3 conv + BN + LeakyReLU(0.2) and 4x4 stride-2 conv + BN + LeakyReLU (the first
    3x3 conv has a bias and no BN), channels ``num_feat * (1, 2, 4, 8, 8[, 8])``, down to 4 x 4; then
    ``Linear(num_feat * 8 * 16, 100)`` + LeakyReLU and ``Linear(100, 1)``. torch's default init, as in BasicSR.
    The input is mapped from [-1, 1] to BasicSR's [0, 1] first.

    Args:
        in_channels: Input channels. Default ``3``.
        num_feat: Base channels. Default ``64``.
        input_size: Spatial size of the HR patches, 128 or 256; must equal the training ``gt_size``. Default
            ``128``.
        spectral_norm: Spectral norm on every convolution and linear layer (``spectral_normalize``, after the
            init). Default ``False``.

    Shape:
        Input ``(N, in_channels, input_size, input_size)`` in [-1, 1]; output logits ``(N, 1)`` (no sigmoid).
    """

    def __init__(
        self, in_channels: int = 3, num_feat: int = 64, input_size: int = 128, spectral_norm: bool = False
    ) -> None:
        super().__init__()
        if input_size not in (128, 256):
            raise ValueError(
                f"input_size must be 128 or 256; got input_size={input_size}. The HR patch size "
                "(gt_size) and the discriminator's input_size must match: crop 128 or 256 px patches."
            )
        self.input_size = input_size
        widths = [num_feat * m for m in (1, 2, 4, 8, 8, 8)][: 5 if input_size == 128 else 6]
        in_ch = in_channels
        for i, width in enumerate(widths):
            # Names as BasicSR (conv{i}_0, bn{i}_0, conv{i}_1, bn{i}_1) so that its checkpoints load.
            setattr(self, f"conv{i}_0", nn.Conv2d(in_ch, width, 3, 1, 1, bias=i == 0))
            if i > 0:
                setattr(self, f"bn{i}_0", nn.BatchNorm2d(width))
            setattr(self, f"conv{i}_1", nn.Conv2d(width, width, 4, 2, 1, bias=False))
            setattr(self, f"bn{i}_1", nn.BatchNorm2d(width))
            in_ch = width
        self.num_stages = len(widths)
        self.linear1 = nn.Linear(num_feat * 8 * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, x: Tensor) -> Tensor:
        """Return real/fake logits ``(N, 1)`` for HR patches ``(N, C, input_size, input_size)`` in [-1, 1]."""
        if tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            raise ValueError(
                f"VGGStyleDiscriminator(input_size={self.input_size}) got a {x.shape[-2]}x"
                f"{x.shape[-1]} input: the HR patch size (gt_size) and input_size must match."
            )
        feat = self.lrelu(self.conv0_0(_to_unit(x)))
        feat = self.lrelu(self.bn0_1(self.conv0_1(feat)))
        for i in range(1, self.num_stages):  # each stage halves H and W; 4 x 4 after the last
            feat = self.lrelu(getattr(self, f"bn{i}_0")(getattr(self, f"conv{i}_0")(feat)))
            feat = self.lrelu(getattr(self, f"bn{i}_1")(getattr(self, f"conv{i}_1")(feat)))
        return self.linear2(self.lrelu(self.linear1(feat.flatten(1))))
