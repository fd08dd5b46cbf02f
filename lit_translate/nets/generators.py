"""Image-to-image generators: the pix2pix U-Net and the CycleGAN ResNet."""

from __future__ import annotations

from torch import Tensor, nn

from lit_translate.nets.attention import SelfAttention, check_attention_at
from lit_translate.nets.blocks import (
    Norm,
    PaddingType,
    ResnetBlock,
    UnetSkipConnectionBlock,
    conv_bias_for_norm,
    get_norm_layer,
    get_padding_layer,
    spectral_normalize,
)
from lit_translate.nets.init import InitType, init_weights


def _check_size(x: Tensor, size_divisor: int, name: str) -> None:
    height, width = x.shape[-2:]
    if height % size_divisor or width % size_divisor:
        raise ValueError(f"{name} needs input height and width divisible by {size_divisor}; got {height}x{width}.")


class UnetGenerator(nn.Module):
    """The pix2pix U-Net generator built from nested ``UnetSkipConnectionBlock`` levels.

    From the outside in: ``ngf``, ``ngf * 2``, ``ngf * 4`` and then ``num_downs - 4`` levels of
    ``ngf * 8`` channels; the ``num_downs - 5`` intermediate ``ngf * 8`` levels get ``Dropout(0.5)`` when
    ``use_dropout``. Weights are initialised by ``init_weights`` at construction.

    Args:
        in_channels: Input image channels. Default ``3``.
        out_channels: Output image channels. Default ``3``.
        num_downs: Number of stride-2 downsamplings (``>= 5``); 8 gives a 1x1 bottleneck at 256 px.
            Default ``8``.
        ngf: Filters of the outermost level. Default ``64``.
        norm: ``"batch"``, ``"instance"`` or ``"none"``. Default ``"batch"``.
        use_dropout: Dropout 0.5 in the intermediate ``ngf * 8`` levels. Default ``True``.
        init_type: See ``init_weights``. Default ``"normal"``.
        init_gain: See ``init_weights``. Default ``0.02``.
        spectral_norm: Spectral norm on every convolution (``spectral_normalize``, after the init). Default
            ``False``.
        attention_at: Self-attention (``SelfAttention``, SAGAN) after these up-sampling layers, counted from the
            innermost: ``i`` (``1 <= i < num_downs``) puts a block after the ``i``-th transposed convolution (and its
            norm and dropout), at ``H / 2 ** (num_downs - i)``. E.g. ``[num_downs - 2]`` attends at ``H / 4``. Default
            None (none).

    Attributes:
        size_divisor: ``2 ** num_downs``; input height and width must be multiples of it.

    Shape:
        Input ``(N, in_channels, H, W)``, output ``(N, out_channels, H, W)`` in ``[-1, 1]``.

    Raises:
        ValueError: If ``num_downs < 5`` or ``norm`` / ``init_type`` is unknown.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_downs: int = 8,
        ngf: int = 64,
        norm: Norm = "batch",
        use_dropout: bool = True,
        init_type: InitType = "normal",
        init_gain: float = 0.02,
        spectral_norm: bool = False,
        attention_at: list[int] | None = None,
    ) -> None:
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"UnetGenerator needs num_downs >= 5; got num_downs={num_downs}.")
        attend = check_attention_at(type(self).__name__, attention_at, num_downs - 1)
        self.size_divisor: int = 2**num_downs
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, innermost=True, norm=norm, attention=1 in attend)
        for level in range(2, num_downs - 3):
            block = UnetSkipConnectionBlock(
                ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout, attention=level in attend
            )
        for level, mult in zip(range(num_downs - 3, num_downs), (4, 2, 1), strict=True):
            block = UnetSkipConnectionBlock(
                ngf * mult, ngf * mult * 2, submodule=block, norm=norm, attention=level in attend
            )
        self.model = UnetSkipConnectionBlock(
            out_channels, ngf, input_nc=in_channels, submodule=block, outermost=True, norm=norm
        )
        init_weights(self, init_type, init_gain)
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, x: Tensor) -> Tensor:
        """Translate an image batch.

        Args:
            x: Images ``(N, in_channels, H, W)``, usually in ``[-1, 1]``, ``H`` and ``W`` multiples of
                ``size_divisor``.

        Returns:
            Images ``(N, out_channels, H, W)`` in ``[-1, 1]``.

        Raises:
            ValueError: If ``H`` or ``W`` is not a multiple of ``size_divisor``.
        """
        _check_size(x, self.size_divisor, type(self).__name__)
        return self.model(x)


class ResnetGenerator(nn.Module):
    """The CycleGAN ResNet generator (Johnson et al.): c7s1, 2 downs, residual blocks, 2 ups, c7s1.

    Layers: reflection pad 3, 7x7 conv to ``ngf``, norm, ReLU; ``n_downsampling`` (2) stride-2 3x3 convs
    doubling the channels (norm, ReLU); ``n_blocks`` ``ResnetBlock`` of ``ngf * 2 ** n_downsampling``
    channels; as many stride-2 3x3 transposed convs (``output_padding=1``) halving them (norm, ReLU);
    reflection pad 3, 7x7 conv to ``out_channels``, ``tanh``. Weights are initialised by ``init_weights`` at
    construction.

    Args:
        in_channels: Input image channels. Default ``3``.
        out_channels: Output image channels. Default ``3``.
        ngf: Filters of the first convolution. Default ``64``.
        n_blocks: Number of residual blocks (9 for 256 px, 6 for 128 px in the paper). Default ``9``.
        norm: ``"batch"``, ``"instance"`` or ``"none"``. Default ``"instance"``.
        use_dropout: Dropout 0.5 inside the residual blocks. Default ``False``.
        padding_type: Padding inside the residual blocks, ``"reflect"``, ``"replicate"`` or ``"zero"``.
            Default ``"reflect"``.
        init_type: See ``init_weights``. Default ``"normal"``.
        init_gain: See ``init_weights``. Default ``0.02``.
        n_downsampling: Stride-2 downsamplings (and upsamplings); pix2pixHD's global generator uses 4.
            Default ``2``.
        spectral_norm: Spectral norm on every convolution (``spectral_normalize``, after the init). Default
            ``False``.
        attention_at: Self-attention (``SelfAttention``, SAGAN) after these resolution-changing layers, counted
            from the input: ``i <= n_downsampling`` puts a block after the ``i``-th stride-2 convolution (and its
            norm and ReLU), at ``H / 2 ** i``; ``n_downsampling < i <= 2 * n_downsampling`` after the
            ``(i - n_downsampling)``-th transposed convolution, at ``H / 2 ** (2 * n_downsampling - i)``. E.g. ``[2]``
            attends at ``H / 4`` before the residual blocks, ``[3]`` at ``H / 2``. Default None (none).

    Attributes:
        size_divisor: ``2 ** n_downsampling`` (``4``); input height and width must be multiples of it.

    Shape:
        Input ``(N, in_channels, H, W)``, output ``(N, out_channels, H, W)`` in ``[-1, 1]``.

    Raises:
        ValueError: If ``n_blocks < 0`` or ``norm`` / ``padding_type`` / ``init_type`` is unknown.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: Norm = "instance",
        use_dropout: bool = False,
        padding_type: PaddingType = "reflect",
        init_type: InitType = "normal",
        init_gain: float = 0.02,
        n_downsampling: int = 2,
        spectral_norm: bool = False,
        attention_at: list[int] | None = None,
    ) -> None:
        super().__init__()
        if n_blocks < 0 or n_downsampling < 0:
            raise ValueError(
                f"ResnetGenerator needs n_blocks >= 0 and n_downsampling >= 0; got n_blocks={n_blocks}, "
                f"n_downsampling={n_downsampling}."
            )
        get_padding_layer(padding_type)
        attend = check_attention_at(type(self).__name__, attention_at, 2 * n_downsampling)
        self.size_divisor: int = 2**n_downsampling
        norm_layer = get_norm_layer(norm)
        bias = conv_bias_for_norm(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias)]
        layers += [norm_layer(ngf), nn.ReLU(True)]
        for i, mult in enumerate((2**i for i in range(n_downsampling)), start=1):
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias)]
            layers += [norm_layer(ngf * mult * 2), nn.ReLU(True)]
            layers += [SelfAttention(ngf * mult * 2)] if i in attend else []
        inner = ngf * 2**n_downsampling
        layers += [ResnetBlock(inner, norm, use_dropout, padding_type) for _ in range(n_blocks)]
        for i, mult in enumerate((2**i for i in range(n_downsampling, 0, -1)), start=n_downsampling + 1):
            up = nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, padding=1, output_padding=1, bias=bias)
            layers += [up, norm_layer(ngf * mult // 2), nn.ReLU(True)]
            layers += [SelfAttention(ngf * mult // 2)] if i in attend else []
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self, init_type, init_gain)
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, x: Tensor) -> Tensor:
        """Translate an image batch.

        Args:
            x: Images ``(N, in_channels, H, W)``, usually in ``[-1, 1]``, ``H`` and ``W`` multiples of
                ``size_divisor``.

        Returns:
            Images ``(N, out_channels, H, W)`` in ``[-1, 1]``.

        Raises:
            ValueError: If ``H`` or ``W`` is not a multiple of ``size_divisor``.
        """
        _check_size(x, self.size_divisor, type(self).__name__)
        return self.model(x)
