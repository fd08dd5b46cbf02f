"""Diversity and layout of a BicycleGAN demo run against a Pix2Pix run on the same multimodal task.

    python benchmarks/bicyclegan_diversity.py BICYCLEGAN.ckpt PIX2PIX.ckpt

Both trained on ``PairedDataModule(synthetic="colours")`` at 32 px (``configs/bicyclegan/demo.yaml``; the Pix2Pix
demo with ``--data.synthetic colours --data.load_size 32 --data.crop_size 32``). Prints ``val/lpips_diversity``'s
value (stand-in AlexNet, 19 pairs, 16 validation inputs) for both, and how well samples keep the target's layout:
the shape mask (pixels away from the grey background) of each sample against the target's, as L1 and IoU.
"""

import sys

import torch

from lit_translate.data import PairedDataModule
from lit_translate.evaluation.diversity import build_diversity_lpips, lpips_diversity
from lit_translate.methods import BicycleGAN, Pix2Pix

torch.manual_seed(0)
dm = PairedDataModule(root=None, synthetic="colours", load_size=32, crop_size=32, val_batch_size=16, num_workers=0)
dm.setup("validate")
batch = next(iter(dm.val_dataloader()))
a, b = batch["A"], batch["B"]
lp = build_diversity_lpips("alex", "random")
bic = BicycleGAN.load_from_checkpoint(sys.argv[1], map_location="cpu")
p2p = Pix2Pix.load_from_checkpoint(sys.argv[2], map_location="cpu")
grey = 200 / 127.5 - 1


def fg(x):
    return ((x - grey).abs().amax(1) > 0.3).float()


def structure(samples):
    t = fg(b)
    l1 = torch.stack([(fg(s) - t).abs().mean() for s in samples]).mean()
    iou = torch.stack(
        [((fg(s) * t).sum((1, 2)) / ((fg(s) + t).clamp(max=1).sum((1, 2)))).mean() for s in samples]
    ).mean()
    return float(l1), float(iou)


with torch.no_grad():
    d_bic = lpips_diversity(lambda s: bic.translate(a, z=s), lp, 19)
    d_p2p_eval = lpips_diversity(lambda s: p2p.translate(a), lp, 19)
    p2p.inference_mode = "train"
    d_p2p_train = lpips_diversity(lambda s: p2p.translate(a), lp, 19)
    p2p.inference_mode = "eval"
    sb = [bic.translate(a, z=k) for k in range(5)]
    sp = [p2p.translate(a)]
print(
    f"lpips_diversity (stand-in AlexNet, 19 pairs x 16 val inputs): BicycleGAN {float(d_bic):.4f}  "
    f"Pix2Pix eval {float(d_p2p_eval):.4f}  Pix2Pix train-mode dropout {float(d_p2p_train):.4f}"
)
print(
    "structure (shape mask vs target): BicycleGAN 5 samples L1 {:.4f} IoU {:.3f}; Pix2Pix L1 {:.4f} IoU {:.3f}".format(
        *structure(sb), *structure(sp)
    )
)


def hue(s):
    return s.mean((2, 3))


print(
    "mean colour spread across the 5 codes (std over codes of the per-image mean RGB):",
    float(torch.stack([hue(s) for s in sb]).std(0).mean()),
)
