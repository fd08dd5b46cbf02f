"""What the noise -> image nets share: the latent batch's shape check and the image-size check."""

from __future__ import annotations

from torch import Tensor


def flat_latent(z: Tensor, latent_dim: int, net: str) -> Tensor:
    """Return ``z`` as ``(N, latent_dim)``.

    Args:
        z: Latent codes ``(N, latent_dim)`` or ``(N, latent_dim, 1, 1)``.
        latent_dim: The generator's latent size.
        net: The generator's class name, for the message.

    Returns:
        ``z`` reshaped to ``(N, latent_dim)`` (a view).

    Raises:
        ValueError: ``z`` has another shape.
    """
    if z.ndim not in (2, 4) or z.shape[1] != latent_dim or (z.ndim == 4 and tuple(z.shape[2:]) != (1, 1)):
        raise ValueError(
            f"{net} needs latent codes (N, {latent_dim}) or (N, {latent_dim}, 1, 1); got {tuple(z.shape)}."
        )
    return z.flatten(1)


def check_image_size(net: str, image_size: int, allowed: tuple[int, ...]) -> None:
    """Raise a ValueError naming ``net`` when ``image_size`` is not one of ``allowed``."""
    if image_size not in allowed:
        listed = ", ".join(str(size) for size in allowed)
        raise ValueError(f"{net} supports image_size {listed}; got image_size={image_size}.")
