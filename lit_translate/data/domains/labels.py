"""Domain labels for multi-domain translation (StarGAN): target sampling, test labels and the mask vector.

Pure tensor functions, no Lightning. The random ones take an explicit ``torch.Generator`` (CPU or on the
labels' device; draws happen on the generator's device and are moved to the labels'), so each rank can seed
its own and a run repeats. Label conventions (yunjey/stargan ``solver.py``):

- one-hot domains (RaFD expressions, AFHQ species): ``(B, K)`` float with a single 1 per row;
- multi-label attributes (CelebA): ``(B, k)`` float in {0, 1};
- joint layout of several datasets (the reference's ``--dataset Both``): each dataset's label at its own
  offset, zeros elsewhere, then the one-hot mask vector saying which dataset it is, e.g. ``[c_celeba (5),
  c_rafd (8), mask (2)]`` (see :func:`joint_label`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

HAIR_COLORS: tuple[str, ...] = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")
"""CelebA attributes that ``create_labels`` treats as one exclusive choice (setting one clears the others)."""


def permuted_targets(labels: Tensor, generator: torch.Generator) -> Tensor:
    """Return the reference's target labels: the batch's own labels in a random order.

    ``label_trg = label_org[torch.randperm(B)]``. This is a within-batch permutation, so an image can keep its
    own label (whenever two images share a label, or a permutation fixes a position); at batch size 1 the
    target always equals the source. See :func:`other_domain_targets` for targets that always differ.

    Args:
        labels: Source labels ``(B, c)`` (any layout).
        generator: Source of the permutation.

    Returns:
        ``(B, c)``, the rows of ``labels`` permuted, on ``labels``' device.
    """
    order = torch.randperm(labels.shape[0], generator=generator, device=generator.device)
    return labels[order.to(labels.device)]


def other_domain_targets(labels: Tensor, generator: torch.Generator) -> Tensor:
    """Sample, for one-hot domain labels, a target domain uniformly among the ``K - 1`` other domains.

    Args:
        labels: One-hot source labels ``(B, K)``, ``K >= 2``.
        generator: Source of the draws.

    Returns:
        One-hot targets ``(B, K)`` of ``labels``' dtype and device, each different from its source.

    Raises:
        ValueError: ``labels`` is not ``(B, K)`` one-hot with ``K >= 2``.
    """
    source = _domain_indices(labels, "other_domain_targets")
    num_domains = labels.shape[1]
    if num_domains < 2:
        raise ValueError(f"other_domain_targets needs at least 2 domains; got labels of shape {tuple(labels.shape)}")
    shift = torch.randint(1, num_domains, (labels.shape[0],), generator=generator, device=generator.device)
    target = (source + shift.to(labels.device)) % num_domains  # uniform over the K - 1 other domains
    return torch.nn.functional.one_hot(target, num_domains).to(labels.dtype)


def _domain_indices(labels: Tensor, name: str) -> Tensor:
    """Return the domain index ``(B,)`` of one-hot ``labels`` ``(B, K)``, or raise a ValueError naming ``name``."""
    one_hot = labels.ndim == 2 and bool(((labels == 0) | (labels == 1)).all() and (labels.sum(1) == 1).all())
    if not one_hot:
        raise ValueError(
            f"{name} needs one-hot domain labels (B, K) (a single 1 per row); got shape {tuple(labels.shape)}. "
            f"For multi-label attributes (CelebA) use permuted_targets or attribute_test_labels"
        )
    return labels.argmax(1)


def attribute_test_labels(
    labels: Tensor, selected_attrs: Sequence[str], exclusive: Sequence[str] = HAIR_COLORS
) -> list[Tensor]:
    """Return the reference's CelebA test targets (``create_labels``): one label batch per attribute.

    Target ``i`` changes attribute ``i`` only: an ``exclusive`` attribute (a hair colour) is set to 1 and the
    other exclusive attributes to 0; any other attribute is flipped (0 <-> 1). Deterministic, so no generator.

    Args:
        labels: Source attribute labels ``(B, k)`` in {0, 1}, columns in ``selected_attrs`` order.
        selected_attrs: The ``k`` attribute names, e.g. ``("Black_Hair", "Blond_Hair", "Brown_Hair", "Male",
            "Young")``.
        exclusive: Names treated as one exclusive choice. Default ``HAIR_COLORS``.

    Returns:
        ``k`` tensors ``(B, k)`` like ``labels``.

    Raises:
        ValueError: ``labels`` does not have ``len(selected_attrs)`` columns.
    """
    if labels.ndim != 2 or labels.shape[1] != len(selected_attrs):
        raise ValueError(
            f"attribute_test_labels needs labels (B, {len(selected_attrs)}) for selected_attrs "
            f"{list(selected_attrs)}; got {tuple(labels.shape)}"
        )
    group = [i for i, name in enumerate(selected_attrs) if name in exclusive]
    targets = []
    for i in range(len(selected_attrs)):
        target = labels.clone()
        if i in group:
            target[:, group] = 0
            target[:, i] = 1
        else:
            target[:, i] = 1 - labels[:, i]
        targets.append(target)
    return targets


def domain_test_labels(labels: Tensor) -> list[Tensor]:
    """Return the reference's one-hot test targets (``create_labels`` for RaFD): every domain for the batch.

    Args:
        labels: Source labels ``(B, K)``; only the shape, dtype and device are used.

    Returns:
        ``K`` tensors ``(B, K)``; number ``j`` is domain ``j`` one-hot in every row.
    """
    eye = torch.eye(labels.shape[1], dtype=labels.dtype, device=labels.device)
    return [eye[j].expand_as(labels).clone() for j in range(labels.shape[1])]


def joint_slice(dataset: int, dims: Sequence[int]) -> slice:
    """Return where dataset ``dataset``'s label sits in the joint layout (also its slice of D's class logits).

    Args:
        dataset: Index of the dataset, in ``[0, len(dims))``.
        dims: Label length of each dataset, e.g. ``(5, 8)`` for CelebA + RaFD.

    Returns:
        ``slice(sum(dims[:dataset]), sum(dims[:dataset + 1]))``.

    Raises:
        ValueError: ``dataset`` is out of range.
    """
    if not 0 <= dataset < len(dims):
        raise ValueError(f"dataset index must be in [0, {len(dims)}) for dims {list(dims)}; got {dataset}")
    start = sum(dims[:dataset])
    return slice(start, start + dims[dataset])


def joint_label(label: Tensor, dataset: int, dims: Sequence[int]) -> Tensor:
    """Place a single-dataset label in the joint layout with the mask vector (reference ``train_multi``).

    ``[0 ... label ... 0, mask]``: the label at :func:`joint_slice`, the other datasets' parts zero, then the
    one-hot mask of length ``len(dims)`` with a 1 at ``dataset``. For CelebA + RaFD (``dims=(5, 8)``):
    ``[c_celeba, zeros(8), 1, 0]`` or ``[zeros(5), c_rafd, 0, 1]``, length 15 (G's ``c_dim``; D classifies the
    first 13).

    Args:
        label: ``(..., dims[dataset])`` labels of that dataset (one item or a batch).
        dataset: Index of the dataset in ``dims``.
        dims: Label length of each dataset.

    Returns:
        ``(..., sum(dims) + len(dims))`` of ``label``'s dtype and device.

    Raises:
        ValueError: ``dataset`` is out of range or ``label``'s last dimension is not ``dims[dataset]``.
    """
    part = joint_slice(dataset, dims)
    if label.shape[-1] != dims[dataset]:
        raise ValueError(
            f"dataset {dataset} has labels of length {dims[dataset]} (dims {list(dims)}); got {tuple(label.shape)}"
        )
    out = label.new_zeros(*label.shape[:-1], sum(dims) + len(dims))
    out[..., part] = label
    out[..., sum(dims) + dataset] = 1
    return out


@dataclass(frozen=True)
class LabelSpace:
    """What a multi-domain model's label means: attributes, one-hot domains, or both jointly with the mask vector.

    - attributes only (CelebA): the label is the 0/1 attribute vector, D classifies each attribute (BCE);
    - domains only (RaFD expressions, AFHQ species, the synthetic demo): the label is one-hot, D classifies the
      domain (cross-entropy);
    - both (the reference's ``--dataset Both``): ``[attributes, domains, mask (2)]`` (:func:`joint_label` with
      ``dims = (len(attributes), len(domains))``); D classifies ``len(attributes) + len(domains)`` logits and only
      the known part of a label (the mask says which) enters the loss.

    The named targets are ``names``: each attribute means "with this attribute" (an exclusive one, a hair colour,
    clears the other exclusive ones; the other attributes keep the source's values) and each domain means "in
    this domain". Label tensors of other layouts (e.g. the reference's flipped test labels,
    :func:`attribute_test_labels`) can always be passed instead.

    Args:
        attributes: Attribute names (label order). Default ``()``.
        domains: Domain names (label order). Default ``()``.
        exclusive: Attribute names that form one exclusive choice. Default ``HAIR_COLORS``.

    Raises:
        ValueError: Neither attributes nor domains, or a name used twice.
    """

    attributes: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    exclusive: tuple[str, ...] = HAIR_COLORS

    def __post_init__(self) -> None:
        names = [*self.attributes, *self.domains]
        if not names or len(set(names)) != len(names):
            raise ValueError(
                f"a label space needs distinct attribute and domain names, at least one; got attributes "
                f"{list(self.attributes)} and domains {list(self.domains)}"
            )

    @property
    def names(self) -> tuple[str, ...]:
        """Return the named targets: the attributes, then the domains."""
        return (*self.attributes, *self.domains)

    @property
    def joint(self) -> bool:
        """Return whether attributes and domains train jointly (labels carry the mask vector)."""
        return bool(self.attributes) and bool(self.domains)

    @property
    def dims(self) -> tuple[int, ...]:
        """Return the label length of each group: ``(attributes, domains)`` without the empty one."""
        return tuple(len(group) for group in (self.attributes, self.domains) if group)

    @property
    def label_dim(self) -> int:
        """Return the length of a label (G's ``c_dim``): the groups plus the mask vector when joint."""
        return sum(self.dims) + (len(self.dims) if self.joint else 0)

    @property
    def class_dim(self) -> int:
        """Return the number of class logits (D's ``c_dim``; the mask vector is not classified)."""
        return sum(self.dims)

    def group_of(self, name: str) -> int:
        """Return the group of target ``name`` (0: the first group, 1: the domains when joint)."""
        return 0 if name in self.attributes or not self.attributes else 1

    def is_attribute_group(self, group: int) -> bool:
        """Return whether ``group`` holds attributes (multi-label) rather than one-hot domains."""
        return bool(self.attributes) and group == 0

    def part(self, group: int) -> slice:
        """Return where ``group`` sits in a label and in D's class logits."""
        return joint_slice(group, self.dims)

    def groups(self, labels: Tensor) -> Tensor:
        """Return the group of each label row ``(B,)`` (from the mask vector when joint, else zeros)."""
        if not self.joint:
            return torch.zeros(labels.shape[0], dtype=torch.long, device=labels.device)
        return labels[:, sum(self.dims) :].argmax(1)

    def batch_group(self, labels: Tensor) -> int:
        """Return the dataset a training batch of ``labels`` comes from (0 unless joint; the mask vector says).

        Raises:
            ValueError: ``labels`` is not ``(N, label_dim)``, or the batch mixes the jointly trained datasets.
        """
        if labels.ndim != 2 or labels.shape[1] != self.label_dim:
            raise ValueError(f"batch['A_label'] must be (N, {self.label_dim}); got {tuple(labels.shape)}")
        groups = self.groups(labels)
        if bool((groups != groups[0]).any()):
            raise ValueError("a training batch mixes the jointly trained datasets; use CelebARaFDDataModule")
        return int(groups[0])

    def index(self, name: str) -> int:
        """Return the position of target ``name`` inside its group."""
        return self.attributes.index(name) if self.is_attribute_group(self.group_of(name)) else self.domains.index(name)

    def target_label(self, name: str, source_attributes: Tensor | None, batch: int, like: Tensor) -> Tensor:
        """Return the labels ``(batch, label_dim)`` that translate into target ``name``.

        Args:
            name: One of :attr:`names`.
            source_attributes: The inputs' attributes ``(batch, len(attributes))`` in {0, 1}, needed for an
                attribute target (the other attributes keep their values); None otherwise.
            batch: Number of rows.
            like: Tensor whose dtype and device the labels take.
        """
        group = self.group_of(name)
        label = like.new_zeros(batch, self.label_dim)
        part = self.part(group)
        if self.is_attribute_group(group):
            if source_attributes is None:
                raise ValueError(f"the attribute target {name!r} needs the source images' attributes")
            values = source_attributes.to(like).clone()
            column = self.attributes.index(name)
            if name in self.exclusive:
                values[:, [i for i, attr in enumerate(self.attributes) if attr in self.exclusive]] = 0
            values[:, column] = 1
            label[:, part] = values
        else:
            label[:, part.start + self.domains.index(name)] = 1
        if self.joint:
            label[:, sum(self.dims) + group] = 1
        return label

    def members(self, labels: Tensor, name: str) -> Tensor:
        """Return which rows of ``labels`` are real images of target ``name`` (bool ``(B,)``)."""
        group = self.group_of(name)
        values = labels[:, self.part(group)]
        column = self.index(name)
        inside = values[:, column] == 1 if self.is_attribute_group(group) else values.argmax(1) == column
        return inside & (self.groups(labels) == group)  # a row of the other dataset has zeros in this part

    def predicted(self, logits: Tensor, name: str) -> Tensor:
        """Return whether class ``logits`` ``(B, class_dim)`` put each image in target ``name`` (bool ``(B,)``)."""
        group = self.group_of(name)
        values = logits[:, self.part(group)]
        column = self.index(name)
        return values[:, column] > 0 if self.is_attribute_group(group) else values.argmax(1) == column

    def classification_loss(self, logits: Tensor, labels: Tensor, group: int) -> Tensor:
        """Return the reference's domain classification loss of ``group`` (float32 scalar).

        Attributes: BCE-with-logits summed over attributes and averaged over the batch; domains: cross-entropy.

        Args:
            logits: D's class logits ``(B, class_dim)``.
            labels: Labels ``(B, label_dim)``, all rows of ``group``.
            group: The group the batch belongs to.
        """
        part = self.part(group)
        logits, target = logits[:, part].float(), labels[:, part].float()
        if self.is_attribute_group(group):
            return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / logits.shape[0]
        return F.cross_entropy(logits, target.argmax(1))


__all__ = [
    "HAIR_COLORS",
    "LabelSpace",
    "attribute_test_labels",
    "domain_test_labels",
    "joint_label",
    "joint_slice",
    "other_domain_targets",
    "permuted_targets",
]
