"""The method contract without leaks (issue 20 items 1 and 3), each checked where a new method could break it.

- frozen auxiliary networks are found by a generic marker (``nets.frozen.FrozenModule``), not by the VGG class;
- a method module imports another method's module only for a base class it inherits (defaults live in
  ``methods/parts/optimizers.py``), derived from the classes, so the check follows modules that move;
- ``targets`` never raises before set-up; extra metric tags are named by the method, not by the report;
- the SR methods share one SR base (keyword-only ``__init__``, one bicubic baseline, one Y-channel score), and
  ``vgg_weights: random`` goes through one resolver with one warning.
"""

from __future__ import annotations

import ast
import inspect
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import lit_translate.methods as methods
from lit_translate.evaluation.report import write_report
from lit_translate.methods.base import TranslationModule
from lit_translate.methods.perceptual_sr import PerceptualSR
from lit_translate.methods.sr_base import SuperResolutionModule
from lit_translate.nets import MSRResNet, StarGANDiscriminator, StarGANGenerator, VGGStyleDiscriminator
from lit_translate.nets.frozen import FrozenModule, frozen_buffer_names


class Frozen(FrozenModule):
    """A frozen network that is not a VGG: one weight as a non-persistent buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("weight", torch.ones(3), persistent=False)
        super().train(False)


def test_any_frozen_module_is_kept_out_of_ddp_and_stays_frozen():
    model = nn.Module()
    model.net, model.loss_net = nn.Linear(2, 2), Frozen()
    assert frozen_buffer_names(model) == ["loss_net.weight"]
    model.train().half()
    assert not model.loss_net.training and model.loss_net.weight.dtype == torch.float32


def method_classes() -> list[type[TranslationModule]]:
    exported = [getattr(methods, name) for name in methods.__all__]
    return [
        c for c in exported if inspect.isclass(c) and issubclass(c, TranslationModule) and c is not TranslationModule
    ]


def test_a_method_imports_another_method_only_for_a_base_class_it_inherits():
    owners = {cls.__module__: cls for cls in method_classes()}  # module -> the method class defined there
    assert len(owners) >= 7
    for module, cls in owners.items():
        tree = ast.parse(Path(sys.modules[module].__file__).read_text(encoding="utf-8"))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        inherited = {base.__module__ for base in cls.__mro__}
        other_methods = {name for name in imported if name in owners and name != module}
        assert other_methods <= inherited, f"{module} imports {sorted(other_methods - inherited)}"


def test_targets_never_raise_before_set_up():
    stargan = methods.StarGAN(StarGANGenerator(c_dim=3, conv_dim=8, repeat_num=1), StarGANDiscriminator(32, 3, 8, 2))
    assert stargan.targets == () and stargan.default_predict_targets == ()
    with pytest.raises(ValueError, match="domains"):
        stargan.translate(torch.zeros(1, 3, 32, 32), "cat")


def test_methods_name_their_extra_metric_tags_and_the_report_describes_them(tmp_path):
    assert SuperResolutionModule.metric_tags == {"bicubic": "the bicubic upsampling baseline (MATLAB imresize)"}
    assert TranslationModule.metric_tags == {}
    source = Path(inspect.getfile(write_report)).read_text(encoding="utf-8")
    assert '"bicubic"' not in source and "'bicubic'" not in source
    metrics = {"test/psnr_y_bicubic": 25.0, "test/psnr_up": 26.0}
    _, report = write_report(tmp_path, metrics, 2, "eval", None, None, "test", tags={"up": "a made-up baseline"})
    text = report.read_text(encoding="utf-8")
    assert "Y channel (BT.601, MATLAB rgb2ycbcr), mean over images (higher is better); direction bicubic" in text
    assert "PSNR in dB, RGB, mean over images (higher is better); of a made-up baseline" in text


def test_the_sr_methods_share_one_keyword_only_base():
    parameters = inspect.signature(SuperResolutionModule.__init__).parameters.values()
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters if p.name != "self")
    for name in ("SRResNetMethod", "SRGAN", "PerceptualSR"):
        assert issubclass(getattr(methods, name), SuperResolutionModule), name
    for name in ("bicubic", "generate", "generator_for"):
        assert name not in vars(PerceptualSR), f"PerceptualSR.{name} duplicates the SR base"


def test_random_vgg_weights_build_the_srgan_loss_network_with_one_warning():
    g = MSRResNet(num_feat=8, num_block=1, scale=4)
    srgan = methods.SRGAN(g, VGGStyleDiscriminator(3, 8, 128), vgg_weights="random", perceptual_layer="relu1_1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vgg = srgan.build_loss_network()
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 1 and "RANDOM weights" in messages[0], messages
    assert vgg is not None and vgg.weights_path is None and srgan.pretrained_needs("fit") == []
