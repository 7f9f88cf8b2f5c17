"""Lightning modules: stacked RBMs (Mehta & Schwab), the coupling-flow DNN (Gong & Xia), the VIB encoder, the
RSMI coarse-grainer (Koch-Janusz & Ringel).

Each works without Hydra, e.g. ``rgnet.models.train_rbm(spins, n_hidden=64)`` in a notebook, and as the
``model`` of ``rgnet-train`` experiments.
"""

from rgnet.models.flow_dnn import FlowDNN
from rgnet.models.rbm import RBM
from rgnet.models.rbm_flow import RBMFlow, rbm_flow
from rgnet.models.rbm_stack import RBMStack
from rgnet.models.rbm_training import batch_loader, train_rbm
from rgnet.models.rsmi import RSMICoarseGrainer
from rgnet.models.vib import VIBEncoder

__all__ = [
    "RBM",
    "FlowDNN",
    "RBMFlow",
    "RBMStack",
    "RSMICoarseGrainer",
    "VIBEncoder",
    "batch_loader",
    "rbm_flow",
    "train_rbm",
]
