"""The three jointly trained networks of notebook 09: rotation TTT's Y-net, ITTA's network and
the masked-reconstruction network, each trained on the label and its own auxiliary task.

:func:`load_joint_net` trains one (or loads it from the cache) with the notebook's recipe. The
seed-0 networks of quick mode's recipe (bundled digits, 15 epochs, angles 0/90/270 degrees) are
shipped with the library (see :mod:`testtime.checkpoints`): training them took more than half of
the notebook's quick-mode time (ITTA's gradient-matching step above all), and shipping them gives
every machine the same weights. Other seeds and full mode (30 epochs) train theirs once and
cache them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from testtime.cache import load_or_train
from testtime.data import ImageSplits, load_digits
from testtime.runtime import check_choice
from testtime.tta.itta import ITTANet, train_itta
from testtime.tta.reconstruction import ReconNet, train_recon
from testtime.tta.rotation import YNet, train_joint

# cache name -> the offset added to the seed for the training generator (the notebook's choice)
GENERATOR_OFFSETS = {"tta_ynet": 2, "tta_ittanet": 11, "tta_reconnet": 15}
SHIPPED_EPOCHS, SHIPPED_ANGLES = 15, (0, 1, 3)  # quick mode's recipe


def joint_net_config(name: str, dataset: str, epochs: int, seed: int,
                     angles: tuple[int, ...]) -> dict[str, Any]:
    """The cache key of a joint network (ITTA's records its leaky-ReLU consistency net)."""
    check_choice("name", name, tuple(GENERATOR_OFFSETS))
    config = {"dataset": dataset, "epochs": epochs, "seed": seed, "angles": list(angles)}
    return {**config, "activation": "leaky_relu"} if name == "tta_ittanet" else config


def build_joint_net(name: str, data: ImageSplits, angles: tuple[int, ...]) -> nn.Module:
    """A freshly initialised network ``name`` sized for ``data``."""
    check_choice("name", name, tuple(GENERATOR_OFFSETS))
    channels = data.train_x.shape[1]
    if name == "tta_ynet":
        return YNet(channels, data.num_classes, angles=angles)
    if name == "tta_ittanet":
        return ITTANet(channels, data.num_classes)
    return ReconNet(channels, data.num_classes)


def train_joint_net(name: str, data: ImageSplits, *, epochs: int, seed: int,
                    angles: tuple[int, ...], device: torch.device | str = "cpu"
                    ) -> dict[str, torch.Tensor]:
    """Train one joint network from scratch; return its state dict on the CPU."""
    torch.manual_seed(seed)
    model = build_joint_net(name, data, angles).to(device)
    generator = torch.Generator().manual_seed(seed + GENERATOR_OFFSETS[name])
    train = {"tta_ynet": train_joint, "tta_ittanet": train_itta, "tta_reconnet": train_recon}[name]
    train(model, data.train_x.to(device), data.train_y.to(device), epochs=epochs,
          generator=generator)
    return {k: v.cpu() for k, v in model.state_dict().items()}


def load_joint_net(name: str, data: ImageSplits, dataset: str, *, epochs: int, seed: int,
                   angles: tuple[int, ...], device: torch.device | str = "cpu") -> nn.Module:
    """The trained network ``name`` (shipped, cached, or trained now) on ``device``, in eval mode."""
    config = joint_net_config(name, dataset, epochs, seed, angles)
    model = build_joint_net(name, data, angles)
    model.load_state_dict(load_or_train(name, config, lambda: train_joint_net(
        name, data, epochs=epochs, seed=seed, angles=angles, device=device)))
    return model.to(device).eval()


def _register_references() -> None:
    from testtime.checkpoints import Reference, register

    data = load_digits(size=16)

    def quality(name: str, state: dict[str, torch.Tensor]) -> dict[str, float]:
        model = build_joint_net(name, data, SHIPPED_ANGLES)
        model.load_state_dict(state)
        with torch.no_grad():
            wrong = model.eval()(data.test_x).argmax(1) != data.test_y
        return {"clean error %": 100 * wrong.float().mean().item()}

    for name in GENERATOR_OFFSETS:
        register(Reference(
            name, joint_net_config(name, "digits", SHIPPED_EPOCHS, 0, SHIPPED_ANGLES),
            train=lambda n=name: train_joint_net(n, data, epochs=SHIPPED_EPOCHS, seed=0,
                                                 angles=SHIPPED_ANGLES),
            quality=lambda state, n=name: quality(n, state), band={"clean error %": 2.0}))


_register_references()
