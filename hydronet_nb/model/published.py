"""The paper's IPU-pretrained SchNet (Bilbrey et al. 2022), fetched, verified and loaded into PyG's SchNet."""
from __future__ import annotations

import torch

from ..io.reference_files import fetch
from .schnet import PAPER_CONFIG, SchNetConfig
from .weights import load_schnet

#: the name of the published weights in :data:`hydronet_nb.io.reference_files.REGISTRY`
PUBLISHED_WEIGHTS = "published-model"


def load_published_model(config: SchNetConfig = PAPER_CONFIG, fast: bool = True) -> torch.nn.Module:
    """The published IPU-pretrained weights (fetched and checksum-verified), ready to predict."""
    return load_schnet(fetch(PUBLISHED_WEIGHTS), config, fast=fast)
