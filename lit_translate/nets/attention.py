"""Self-attention (Zhang et al. 2019, SAGAN, Sec. 3): the one attention block of every net that takes ``attention_at``.

For a feature map ``x`` with ``C`` channels and ``N = H * W`` positions, 1x1 convolutions give the query ``f(x)`` and
key ``g(x)`` (``C // 8`` channels each) and the value ``h(x)`` (``C`` channels). The attention map is
``beta = softmax(f(x)^T g(x))`` over the keys (no ``1 / sqrt(d)`` scaling, as in the paper), the attended features are
``o_j = sum_i beta_{j,i} h(x_i)``, and the block returns ``gamma * o + x`` with a learned scalar ``gamma`` that starts
at 0: a freshly built block is the identity, and the net learns how much non-local evidence to use.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SelfAttention(nn.Module):
    """SAGAN's self-attention block: ``gamma * attention(x) + x``, ``gamma`` initialised to 0.

    Attribute names (``query_conv``, ``key_conv``, ``value_conv``, ``gamma``) follow heykeetae/Self-Attention-GAN, so
    the parameter count of a block is ``2 * (C * (C // 8) + C // 8) + C * C + C + 1``.

    Args:
        channels: Input and output channels ``C`` (at least 8, so the query and key have ``C // 8 >= 1`` channels).

    Shape:
        Input and output ``(N, C, H, W)``. Memory grows with ``(H * W) ** 2``: use it at 64 x 64 or below.

    Raises:
        ValueError: If ``channels < 8``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels < 8:
            raise ValueError(f"SelfAttention needs channels >= 8 (query/key have channels // 8); got {channels}.")
        self.query_conv = nn.Conv2d(channels, channels // 8, kernel_size=1)
        self.key_conv = nn.Conv2d(channels, channels // 8, kernel_size=1)
        self.value_conv = nn.Conv2d(channels, channels, kernel_size=1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def attention(self, x: Tensor) -> Tensor:
        """Return the attention map ``beta`` ``(N, H * W, H * W)``: row ``j`` weighs the positions ``i`` for ``j``."""
        query = self.query_conv(x).flatten(2).transpose(1, 2)  # (N, HW, C/8)
        key = self.key_conv(x).flatten(2)  # (N, C/8, HW)
        return torch.softmax(torch.bmm(query, key), dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        """Return ``gamma * o + x`` ``(N, C, H, W)``, ``o_j = sum_i beta_{j,i} h(x_i)``."""
        value = self.value_conv(x).flatten(2)  # (N, C, HW)
        attended = torch.bmm(value, self.attention(x).transpose(1, 2))  # (N, C, HW)
        return self.gamma * attended.view_as(x) + x

    def extra_repr(self) -> str:
        """Show the channel count in ``repr``."""
        return f"channels={self.value_conv.in_channels}"


def check_attention_at(net: str, attention_at: list[int] | None, positions: int) -> set[int]:
    """Return the ``attention_at`` positions of ``net`` as a set, after checking they lie in ``1..positions``.

    Args:
        net: The net's class name, for the message.
        attention_at: The positions asked for (``None`` or empty: no attention).
        positions: How many positions the net has.

    Returns:
        The positions, as a set.

    Raises:
        ValueError: A position is outside ``1..positions``.
    """
    chosen = set(attention_at or ())
    bad = sorted(p for p in chosen if not 1 <= p <= positions)
    if bad:
        raise ValueError(
            f"{net} attention_at must list positions between 1 and {positions}; got {sorted(chosen)}: "
            f"remove {bad} (see the attention_at description of {net})."
        )
    return chosen
