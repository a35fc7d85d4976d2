"""The IPU path without PopTorch: what can be checked here is the option settings and the loss module.

PopTorch ships only inside Graphcore's Poplar SDK and no IPU is reachable from this project, so
compiling and running on an IPU is not tested; these tests say what they cover in their names.
"""
import numpy as np
import pytest
import torch
from synthetic import TINY_MODEL, clusters

from hydronet_nb.train import ipu
from hydronet_nb.device import DeviceChoice
from hydronet_nb.model.schnet import build_schnet
from hydronet_nb.data.clusters import ClusterSet
from hydronet_nb.train.config import TrainConfig
from hydronet_nb.train.losses import PackLoss
from hydronet_nb.train.packing import Packer
from hydronet_nb.train.packs import collate_packs
from hydronet_nb.train.trainer import Trainer


def test_ipu_options_settings_without_poptorch(monkeypatch, tmp_path):
    monkeypatch.delenv(ipu.CACHE_ENV, raising=False)
    graphcore = ipu.IPUSettings(replicas=16, device_iterations=4, gradient_accumulation=32, micro_batch_packs=7)
    settings = ipu.option_settings(graphcore, n_ipus=16, seed=3)
    assert settings == {"replicationFactor": 16, "deviceIterations": 4, "Training.gradientAccumulation": 32,
                        "enableExecutableCaching": None, "randomSeed": 3, "outputMode": "Sum"}
    assert ipu.packs_per_call(settings, graphcore.micro_batch_packs) == 7 * 4 * 16 * 32  # Graphcore's batch
    monkeypatch.setenv(ipu.CACHE_ENV, str(tmp_path))
    inference = ipu.option_settings(ipu.IPUSettings(), n_ipus=8, seed=0, training=False)
    assert inference["replicationFactor"] == 8  # replicas default to every IPU attached
    assert inference["Training.gradientAccumulation"] == 1 and inference["outputMode"] == "All"
    assert inference["enableExecutableCaching"] == str(tmp_path)
    with pytest.raises(ValueError, match="ipu.replicas=32 needs 32 IPUs, but 16 are attached"):
        ipu.option_settings(ipu.IPUSettings(replicas=32), n_ipus=16, seed=0)
    with pytest.raises(RuntimeError, match="no IPU attached"):
        ipu.option_settings(ipu.IPUSettings(), n_ipus=0, seed=0)
    with pytest.raises(ValueError, match=r"training.ipu.device_iterations: expected an integer >= 1, got 0"):
        ipu.IPUSettings(device_iterations=0)


def test_ipu_calls_without_poptorch_say_what_is_missing():
    assert ipu.poptorch_module() is None
    with pytest.raises(RuntimeError, match="needs poptorch"):
        ipu.make_options(ipu.option_settings(ipu.IPUSettings(), n_ipus=1, seed=0))


def test_ipu_loss_module_returns_the_loss_on_a_pack_on_cpu():
    data = ClusterSet.from_clusters(clusters(copies=1))
    packer = Packer(data.n_atoms, 192)
    pack = collate_packs(data, packer.packs(), 192, packer.slots, with_forces=False)
    torch.manual_seed(0)
    pack_loss = PackLoss(build_schnet(TINY_MODEL), 1.0, 192, packer.slots)
    loss, sse, sae, sse_f = ipu.IPULoss(pack_loss).train()(*pack[:5])  # the five tensors PopTorch is given
    assert loss.shape == () and loss.requires_grad
    e_pred = pack_loss.predict(pack)[0].detach()
    mask = pack.n_water > 0
    expected = ((e_pred - pack.energy)[mask] ** 2).mean()
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    assert float(sse) == pytest.approx(float(expected) * int(mask.sum()), rel=1e-5) and float(sse_f) == 0
    loss.backward()
    assert all(p.grad is not None for p in pack_loss.model.parameters())
    # an all-padding micro-batch (the end of an epoch on IPUs) contributes 0, not NaN
    empty = collate_packs(data, np.full((2, packer.slots), -1), 192, packer.slots, False)
    assert float(ipu.IPULoss(pack_loss)(*empty[:5])[0].detach()) == 0.0
    with pytest.raises(ValueError, match="IPU training is energy-only"):
        ipu.IPULoss(PackLoss(build_schnet(TINY_MODEL), 0.5, 192, packer.slots))


def test_trainer_on_ipu_requires_packs_and_poptorch_without_poptorch(tmp_path):
    sets = clusters(copies=1)
    fake_ipu = DeviceChoice("ipu", torch.device("cpu"), "pretend IPU")
    with pytest.raises(ValueError, match="training on IPUs needs training.packed: true"):
        Trainer(build_schnet(TINY_MODEL), sets[:8], sets[8:], TrainConfig(), tmp_path, device=fake_ipu)
    with pytest.raises(RuntimeError, match="no IPU attached"):
        Trainer(build_schnet(TINY_MODEL), sets[:8], sets[8:], TrainConfig(packed=True), tmp_path, device=fake_ipu)
