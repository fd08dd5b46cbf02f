"""StarGAN's per-domain evaluation is exact under DDP: 2 gloo processes, domains spread unevenly, vs 1 process."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

DDP_SCRIPT = r"""
import json, sys, warnings
from pathlib import Path
import torch
from torch import nn
from torch.utils.data import DataLoader
from lightning.pytorch import LightningDataModule, Trainer
from lit_translate.data.sampling import ShardedSampler
from lit_translate.evaluation import TranslationMetrics
from lit_translate.methods import StarGAN
from lit_translate.nets import StarGANDiscriminator, StarGANGenerator

warnings.filterwarnings("ignore")
# Item i has domain DOMAINS[i]; rank r of 2 reads items r, r + 2, ...: rank 0 gets b, b, c, c, a (every b and c),
# rank 1 gets a, a, a, a (no b, no c at all); 5 and 4 items: 3 and 2 batches of 2.
DOMAINS = "babacaca" + "a"


class Features(nn.Module):
    num_features = 6

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=torch.Generator().manual_seed(1)))
            self.conv.bias.zero_()

    def forward(self, x):
        return torch.relu(self.conv(x)).mean(dim=(2, 3))


class Data(LightningDataModule):
    domains, attributes, image_size = ("a", "b", "c"), (), 16

    def val_dataloader(self):
        g = torch.Generator().manual_seed(0)
        items = [{"A": torch.rand(3, 16, 16, generator=g) * 2 - 1, "A_path": f"item{i}",
                  "A_label": torch.eye(3)["abc".index(d)]} for i, d in enumerate(DOMAINS)]
        world, rank = self.trainer.world_size, self.trainer.global_rank
        sampler = ShardedSampler(len(items), world, rank, shuffle=False, pad=False)
        return DataLoader(items, batch_size=2, sampler=sampler)


def run(devices, out_dir):
    torch.manual_seed(0)
    model = StarGAN(StarGANGenerator(3, 4, 1), StarGANDiscriminator(16, 3, 4, 2))
    reals = {"a": 0, "b": 0, "c": 0}
    original = model.evaluation_pairs

    def counted(batch):
        pairs = original(batch)
        for tag, (_, real) in pairs.items():
            reals[tag] += real.shape[0]
        return pairs

    model.evaluation_pairs = counted
    metrics = TranslationMetrics(feature_extractor=Features(), lpips=False)
    trainer = Trainer(accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto", logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      callbacks=[metrics])
    trainer.validate(model, datamodule=Data())
    result = {"results": metrics.results, "num_images": metrics.num_images, "reals": reals,
              "logged": {k: float(v) for k, v in trainer.callback_metrics.items()}}
    Path(out_dir, f"devices{devices}-rank{trainer.global_rank}.json").write_text(json.dumps(result))
    return result


if __name__ == "__main__":
    run(int(sys.argv[1]), sys.argv[2])
"""


def test_per_domain_metrics_with_domains_spread_unevenly_over_two_processes_equal_one_process(tmp_path):
    script = tmp_path / "stargan_ddp_metrics.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", "NO_ALBUMENTATIONS_UPDATE": "1"}
    env.pop("LOCAL_RANK", None)
    process = subprocess.Popen(
        [sys.executable, str(script), "2", str(tmp_path)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    spec = importlib.util.spec_from_file_location("stargan_ddp_metrics", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    single = module.run(1, str(tmp_path))
    log, _ = process.communicate(timeout=300)
    assert process.returncode == 0, log[-4000:]

    ranks = [json.loads((tmp_path / f"devices2-rank{r}.json").read_text()) for r in (0, 1)]
    assert single["reals"] == {"a": 5, "b": 2, "c": 2}
    assert ranks[0]["reals"] == {"a": 1, "b": 2, "c": 2} and ranks[1]["reals"] == {"a": 4, "b": 0, "c": 0}
    assert set(single["results"]) == {f"val/{m}_{d}" for m in ("fid", "kid") for d in "abc"}
    per_domain = {f"val/{m}_{d}" for m in ("acc", "rec") for d in "abc"} | {"val/acc", "val/rec"}
    assert per_domain <= set(single["logged"])
    for rank in ranks:
        assert rank["num_images"] == {"a": 9, "b": 9, "c": 9} == single["num_images"]  # every input, once
        for key in [k for k in single["results"] if "fid" in k] + sorted(per_domain):
            expected = single["results"].get(key, single["logged"].get(key))
            actual = rank["results"].get(key, rank["logged"].get(key))
            assert actual == pytest.approx(expected, rel=1e-5, abs=1e-7), key
    # KID over random subsets depends on the order of the gathered features (rank-major under DDP), so it is
    # compared between the ranks, which compute it from the same gathered states.
    for key in (k for k in single["results"] if "kid" in k):
        assert ranks[0]["results"][key] == ranks[1]["results"][key], key
