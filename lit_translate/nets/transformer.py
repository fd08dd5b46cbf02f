"""Image transformation networks of Johnson, Alahi & Fei-Fei (ECCV 2016), trained with perceptual losses.

* :class:`TransformerNet`: the style-transfer network exactly as pytorch/examples
  ``fast_neural_style/neural_style/transformer_net.py`` (same layers, same ``state_dict`` keys), wrapped so that it
  takes and returns images in [-1, 1].
* :class:`PerceptualSRNet`: the x4 / x8 super-resolution network of the paper's supplementary material (Table 2).

Blocks keep the reference's attribute names (``conv2d``, ``in1``, ...), so parameter counts and keys match it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal

import torch
from torch import Tensor, nn

from lit_translate.choices import check_choice, resolve_choice

_PADDING: dict[str, Callable[[int], nn.Module]] = {"reflect": nn.ReflectionPad2d, "zero": nn.ZeroPad2d}
_UPSAMPLE = ("nearest", "deconv")


class ConvLayer(nn.Module):
    """Pad by ``kernel_size // 2``, then convolve (pytorch/examples ``ConvLayer``; keys ``conv2d.weight/bias``).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Square kernel size (odd).
        stride: Convolution stride. Default 1.
        padding: ``"reflect"`` (the reference) or ``"zero"``. Default ``"reflect"``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: Literal["reflect", "zero"] = "reflect",
    ) -> None:
        super().__init__()
        self.pad = resolve_choice("padding", padding, _PADDING)(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(N, C_in, H, W)`` to ``(N, C_out, ceil(H / stride), ceil(W / stride))``."""
        return self.conv2d(self.pad(x))


class ResidualBlock(nn.Module):
    """``x + norm(conv(relu(norm(conv(x)))))``, no ReLU after the sum (Gross & Wilber's block, as in the paper).

    Args:
        channels: Channels in and out.
        norm: Factory of the normalisation layer (``in1``/``in2``, the reference's names whatever the norm).
        padding: ``"reflect"`` or ``"zero"``. Default ``"reflect"``.
    """

    def __init__(
        self, channels: int, norm: Callable[[int], nn.Module], padding: Literal["reflect", "zero"] = "reflect"
    ) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, padding=padding)
        self.in1 = norm(channels)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, padding=padding)
        self.in2 = norm(channels)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(N, C, H, W)`` to the same shape."""
        return x + self.in2(self.conv2(self.relu(self.in1(self.conv1(x)))))


class UpsampleConvLayer(nn.Module):
    """A x2 upsampling convolution.

    ``"nearest"``: nearest-neighbour x2, pad, convolve (pytorch/examples ``UpsampleConvLayer``, which avoids the
    checkerboard artefacts of transposed convolutions; keys ``conv2d.*``). ``"deconv"``: the paper's
    "fractionally strided convolution, stride 1/2", a ``ConvTranspose2d(kernel_size, stride=2,
    padding=kernel_size // 2, output_padding=1)`` (keys ``conv_transpose.*``; same parameter count). Both map
    ``(N, C_in, H, W)`` to ``(N, C_out, 2H, 2W)``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Square kernel size (odd). Default 3.
        mode: ``"nearest"`` or ``"deconv"``. Default ``"nearest"``.
        padding: Padding of the ``"nearest"`` convolution, ``"reflect"`` or ``"zero"`` (a transposed convolution
            always zero-pads). Default ``"reflect"``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        mode: Literal["nearest", "deconv"] = "nearest",
        padding: Literal["reflect", "zero"] = "reflect",
    ) -> None:
        super().__init__()
        self.mode = check_choice("upsample", mode, _UPSAMPLE)
        if mode == "nearest":
            self.upsample_layer = nn.Upsample(scale_factor=2, mode="nearest")
            self.pad = resolve_choice("padding", padding, _PADDING)(kernel_size // 2)
            self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size)
        else:
            self.conv_transpose = nn.ConvTranspose2d(
                in_channels, out_channels, kernel_size, stride=2, padding=kernel_size // 2, output_padding=1
            )

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(N, C_in, H, W)`` to ``(N, C_out, 2H, 2W)``."""
        if self.mode == "nearest":
            return self.conv2d(self.pad(self.upsample_layer(x)))
        return self.conv_transpose(x)


class TransformerNet(nn.Module):
    """Johnson et al.'s style-transfer network, exactly pytorch/examples' ``TransformerNet``, on [-1, 1] images.

    Layers (reference names): ``conv1`` 9x9 -> 32, ``conv2`` 3x3 stride 2 -> 64, ``conv3`` 3x3 stride 2 -> 128
    (each followed by ``in1``..``in3`` and ReLU), residual blocks ``res1``..``res5`` (128), ``deconv1`` (-> 64) and
    ``deconv2`` (-> 32), each a x2 upsampling followed by ``in4``/``in5`` and ReLU, then ``deconv3`` 9x9 -> 3.
    Every norm is ``InstanceNorm2d(affine=True)`` without running statistics, every convolution reflection-pads,
    and there is **no output activation**. 1,679,235 parameters with either ``upsample`` mode (a transposed
    convolution has as many weights as the convolution it replaces). The ``state_dict`` keys are the reference's,
    so its checkpoints load once their obsolete ``in*.running_mean/var`` keys are dropped (as its ``stylize``
    does).

    Value range (the mapping). The reference network works on pixel values in 0-255 (``ToTensor().mul(255)``)
    and outputs unbounded values meant as 0-255 pixels (clamped when saved). Ours takes ``x`` in [-1, 1] and
    computes ``forward(x) = R(127.5 * (x + 1)) / 127.5 - 1``, with ``R`` the reference layers
    (:meth:`forward_pixels`). So for an image whose 0-255 tensor is ``p = 127.5 * (x + 1)``, the reference output
    is ``R(p) = 127.5 * (forward(x) + 1)``: with the same weights, the same function. Since
    :class:`~lit_translate.nets.vgg.VGGFeatures` maps [-1, 1] to [0, 1] before the ImageNet normalisation, exactly
    as the reference's ``normalize_batch`` maps 0-255 to [0, 1], the VGG features of ``forward(x)`` are those of
    ``R(p)``: the content and style losses, the reference weights (content 1e5, style 1e10), the gradients and
    Adam's lr 1e-3 all mean the same as in the reference. The output is unbounded like the reference's: clamp it
    to [-1, 1] to display, save or score it.

    Total variation: differences of ``forward(x)`` are those of ``R(p)`` divided by 127.5. A TV term on squared
    differences is therefore ``1 / 127.5**2`` (1 / 16256.25) of the same term on 0-255 outputs, one on absolute
    differences ``1 / 127.5``: a TV weight tuned on 0-255 outputs becomes ``weight * 127.5**2`` (squared) or
    ``weight * 127.5`` (absolute) here, besides any sum-versus-mean difference of the two TV formulas (see
    :func:`lit_translate.losses.total_variation`).

    Args:
        in_channels: Input channels. Default 3.
        out_channels: Output channels. Default 3.
        upsample: ``"nearest"`` (the reference: nearest x2 + 3x3 conv) or ``"deconv"`` (the paper's 3x3
            fractionally strided convolutions, stride 1/2). Default ``"nearest"``.

    Attributes:
        size_divisor: 4; H and W must be multiples of it (two stride-2 convolutions, two x2 upsamplings).
        scale: 1 (output size = input size).
    """

    size_divisor = 4
    scale = 1

    def __init__(
        self, in_channels: int = 3, out_channels: int = 3, upsample: Literal["nearest", "deconv"] = "nearest"
    ) -> None:
        super().__init__()
        check_choice("upsample", upsample, _UPSAMPLE)
        norm = partial(nn.InstanceNorm2d, affine=True)
        self.conv1 = ConvLayer(in_channels, 32, kernel_size=9)
        self.in1 = norm(32)
        self.conv2 = ConvLayer(32, 64, kernel_size=3, stride=2)
        self.in2 = norm(64)
        self.conv3 = ConvLayer(64, 128, kernel_size=3, stride=2)
        self.in3 = norm(128)
        self.res1 = ResidualBlock(128, norm)
        self.res2 = ResidualBlock(128, norm)
        self.res3 = ResidualBlock(128, norm)
        self.res4 = ResidualBlock(128, norm)
        self.res5 = ResidualBlock(128, norm)
        self.deconv1 = UpsampleConvLayer(128, 64, kernel_size=3, mode=upsample)
        self.in4 = norm(64)
        self.deconv2 = UpsampleConvLayer(64, 32, kernel_size=3, mode=upsample)
        self.in5 = norm(32)
        self.deconv3 = ConvLayer(32, out_channels, kernel_size=9)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        """Stylise images.

        Args:
            x: ``(N, C_in, H, W)`` in [-1, 1], H and W multiples of 4.

        Returns:
            ``(N, C_out, H, W)``, nominally in [-1, 1] but unbounded (no output activation).

        Raises:
            ValueError: H or W is not a multiple of 4 (the output would not have the input's size).
        """
        height, width = x.shape[-2:]
        if height % self.size_divisor or width % self.size_divisor:
            raise ValueError(
                f"TransformerNet needs H and W divisible by {self.size_divisor}; got {height}x{width}. "
                f"Crop or resize the images to a multiple of {self.size_divisor}."
            )
        return self.forward_pixels((x + 1.0) * 127.5) / 127.5 - 1.0

    def forward_pixels(self, pixels: Tensor) -> Tensor:
        """Compute the reference function: 0-255 pixel values in, unbounded 0-255-scale values out (same shapes)."""
        y = self.relu(self.in1(self.conv1(pixels)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        y = self.res5(self.res4(self.res3(self.res2(self.res1(y)))))
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


def _identity(num_features: int) -> nn.Module:
    return nn.Identity()


_SR_NORMS: dict[str, Callable[[int], nn.Module]] = {"batch": nn.BatchNorm2d, "none": _identity}
_SR_STAGES = {4: 2, 8: 3}  # upsampling factor -> number of x2 stages (log2 of it)


class PerceptualSRNet(nn.Module):
    """Johnson et al.'s super-resolution network for x4 and x8 (supplementary material, Table 2).

    Layers, with ``channels`` = 64: 9x9 conv -> 64; ``num_blocks`` = 4 residual blocks of two 3x3 convs (64) at the
    low resolution; log2(scale) stages of a 3x3 "fractionally strided convolution, stride 1/2" (64), i.e. 2 for x4
    and 3 for x8; a final 9x9 conv -> 3. As in the paper, every convolution except the last is followed by spatial
    batch normalisation and ReLU (inside the residual blocks: conv-BN-ReLU-conv-BN, added to the input, no ReLU
    after the sum), and the output goes through a scaled tanh. Parameters: 401,859 (x4) and 438,915 (x8).

    Choices where the paper leaves room (code for the SR networks was not released):

    * Padding: zero ("same") padding everywhere. Table 2 keeps every activation at the input size (72x72 for x4)
      and the paper only removes padding for style transfer, so the SR network pads; the padding type is not
      stated.
    * Residual blocks: 4, as in Table 2 (the main text says "several residual blocks"; its "five residual blocks"
      is the style-transfer body).
    * Output: the paper's tanh scaled to [0, 255] is, in our [-1, 1] convention, a plain ``tanh``.
    * Input range: the net takes [-1, 1] directly, with no conversion to 0-255. The first convolution is followed
      by batch normalisation, which absorbs a rescaling of the input exactly (up to BN's eps) and an offset
      except within the 4-pixel zero-padded border, so the two ranges give practically the same network.
    * ``norm="none"`` (no BN; the convolutions keep their biases) and ``upsample="nearest"`` (nearest x2 + 3x3
      conv instead of the transposed convolution) are our additions; the defaults are the paper's.

    Args:
        scale: Upsampling factor, 4 or 8. Default 4.
        in_channels: Input channels. Default 3.
        out_channels: Output channels. Default 3.
        channels: Width of every hidden layer. Default 64.
        num_blocks: Residual blocks. Default 4.
        norm: ``"batch"`` (the paper) or ``"none"``. Default ``"batch"``.
        upsample: ``"deconv"`` (the paper) or ``"nearest"``. Default ``"deconv"``.

    Attributes:
        scale: The upsampling factor.
        size_divisor: 1 (any input size).

    Raises:
        ValueError: ``scale``, ``norm`` or ``upsample`` is not one of the allowed values (the message names the key).
    """

    size_divisor = 1

    def __init__(
        self,
        scale: Literal[4, 8] = 4,
        in_channels: int = 3,
        out_channels: int = 3,
        channels: int = 64,
        num_blocks: int = 4,
        norm: Literal["batch", "none"] = "batch",
        upsample: Literal["deconv", "nearest"] = "deconv",
    ) -> None:
        super().__init__()
        if type(scale) is not int or scale not in _SR_STAGES:  # check_choice takes string options only
            raise ValueError(f"scale must be one of 4, 8; got {scale!r}. Replace scale={scale!r} with 4 or 8")
        stages = _SR_STAGES[scale]
        norm_layer = resolve_choice("norm", norm, _SR_NORMS)
        check_choice("upsample", upsample, _UPSAMPLE)
        self.scale = scale
        self.head = nn.Sequential(
            ConvLayer(in_channels, channels, kernel_size=9, padding="zero"), norm_layer(channels), nn.ReLU()
        )
        self.body = nn.Sequential(*(ResidualBlock(channels, norm_layer, padding="zero") for _ in range(num_blocks)))
        self.upsampler = nn.Sequential(
            *(
                nn.Sequential(
                    UpsampleConvLayer(channels, channels, kernel_size=3, mode=upsample, padding="zero"),
                    norm_layer(channels),
                    nn.ReLU(),
                )
                for _ in range(stages)
            )
        )
        self.tail = ConvLayer(channels, out_channels, kernel_size=9, padding="zero")

    def forward(self, x: Tensor) -> Tensor:
        """Super-resolve images.

        Args:
            x: ``(N, C_in, H, W)`` low-resolution images in [-1, 1].

        Returns:
            ``(N, C_out, H * scale, W * scale)`` in (-1, 1).
        """
        return torch.tanh(self.tail(self.upsampler(self.body(self.head(x)))))


__all__ = ["ConvLayer", "PerceptualSRNet", "ResidualBlock", "TransformerNet", "UpsampleConvLayer"]
