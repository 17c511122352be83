"""The source model every Part II notebook adapts: a ConvNet trained on clean images only.

Quick mode: scikit-learn's digits upsampled to 16x16 (``testtime.corruptions`` scales its
spatial parameters by 16/32). Full mode: CIFAR-10 when it can be
downloaded (``testtime.data.load_cifar10``, checksummed), else the digits with a printed
message. The trained weights are cached with ``testtime.cache.load_or_train`` keyed by the
dataset, the recipe and the seed, so notebooks 06-09 share one checkpoint per seed.

    src = load_source(run)              # run = testtime.setup(...)
    model = src.fresh_model()           # a new copy for each method (methods adapt in place)
    x, y = src.data.test_x, src.data.test_y
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from testtime.cache import load_or_train
from testtime.data import ImageSplits, load_digits
from testtime.models import ConvNet, cosine_lr
from testtime.runtime import Run, check_choice, check_positive

DATASETS = ("auto", "digits", "cifar10")


@dataclass(frozen=True)
class SourceRecipe:
    """How the source model is trained (the cache key, with the dataset and seed)."""

    width: int = 32
    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 5e-4
    pad_crop: int = 2  # random translation by up to this many pixels (the CIFAR "pad and crop")
    flip: bool = False  # random horizontal flips (on for CIFAR-10, off for digits)


QUICK_RECIPE = SourceRecipe()
CIFAR_RECIPE = SourceRecipe(width=64, epochs=20, batch_size=256, lr=3e-3, flip=True)


@dataclass
class SourceModel:
    """A trained source model (eval mode) with the data it was trained on."""

    model: ConvNet
    data: ImageSplits
    dataset: str
    recipe: SourceRecipe
    clean_error: float  # error (%) on the clean test split

    def fresh_model(self) -> ConvNet:
        """A deep copy of the source model in eval mode (adapt the copy, not the original)."""
        return copy.deepcopy(self.model).eval()


def _augment(x: torch.Tensor, recipe: SourceRecipe, generator: torch.Generator) -> torch.Tensor:
    n, _, h, w = x.shape
    if recipe.pad_crop:
        p = recipe.pad_crop
        padded = F.pad(x, (p, p, p, p))
        dx = torch.randint(0, 2 * p + 1, (n,), generator=generator)
        dy = torch.randint(0, 2 * p + 1, (n,), generator=generator)
        rows = (dy[:, None] + torch.arange(h)[None, :]).to(x.device)  # (n, h)
        cols = (dx[:, None] + torch.arange(w)[None, :]).to(x.device)  # (n, w)
        idx = torch.arange(n, device=x.device)[:, None, None]
        x = padded.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    if recipe.flip:
        flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x


@torch.no_grad()
def error_rate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 error (%) of ``model`` (in whatever mode it is) on ``(x, y)``."""
    device = next(model.parameters()).device
    wrong = 0
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        wrong += (model(xb.to(device)).argmax(1).cpu() != yb).sum().item()
    return 100.0 * wrong / max(1, len(y))


def train_source(
    data: ImageSplits,
    recipe: SourceRecipe = QUICK_RECIPE,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> dict[str, torch.Tensor]:
    """Train a ``ConvNet`` on the clean training split with AdamW and a cosine schedule;
    return its ``state_dict`` (on the CPU). bf16 autocast on CUDA."""
    check_positive("epochs", recipe.epochs)
    device = torch.device(device)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = ConvNet(data.train_x.shape[1], data.num_classes, recipe.width).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    x_all, y_all = data.train_x.to(device), data.train_y.to(device)
    steps_per_epoch = max(1, len(y_all) // recipe.batch_size)
    total = recipe.epochs * steps_per_epoch
    model.train()
    step = 0
    for _ in tqdm(
        range(recipe.epochs), desc="training the source model", disable=not progress, leave=False
    ):
        order = torch.randperm(len(y_all), generator=gen).to(device)
        for i in range(steps_per_epoch):
            idx = order[i * recipe.batch_size : (i + 1) * recipe.batch_size]
            xb = _augment(x_all[idx], recipe, gen)
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, total, recipe.lr, warmup=steps_per_epoch)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss = F.cross_entropy(model(xb), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def load_data(dataset: str, quick: bool) -> tuple[ImageSplits, str]:
    """The clean data: ``'digits'`` (16x16), ``'cifar10'``, or ``'auto'`` (digits in quick mode;
    CIFAR-10 in full mode, falling back to digits with a message when the download fails)."""
    check_choice("dataset", dataset, DATASETS)
    if dataset == "auto":
        dataset = "digits" if quick else "cifar10"
    if dataset == "cifar10":
        try:
            from testtime.data import load_cifar10

            return load_cifar10(), "cifar10"
        except Exception as err:  # noqa: BLE001 - any download or checksum failure
            print(f"CIFAR-10 is not available ({err}); falling back to the bundled digits.")
    return load_digits(size=16), "digits"


def source_config(data: ImageSplits, name: str, recipe: SourceRecipe, seed: int) -> dict[str, Any]:
    """The cache key of a source model: the dataset, its image shape, the seed, the recipe."""
    return {"dataset": name, "shape": list(data.train_x.shape[1:]), "seed": seed,
            **asdict(recipe)}


def load_source(
    run: Run | None = None,
    *,
    dataset: str = "auto",
    seed: int | None = None,
    recipe: SourceRecipe | None = None,
    device: torch.device | str | None = None,
    verbose: bool = True,
) -> SourceModel:
    """Train (or load from the cache) the source ConvNet for ``run`` and return it with its data.

    ``run`` supplies quick/full, the seed and the device; the keyword arguments override them.
    """
    quick = True if run is None else run.quick
    seed = (0 if run is None else run.seed) if seed is None else seed
    device = torch.device(
        device if device is not None else (run.device if run is not None else "cpu")
    )
    data, name = load_data(dataset, quick)
    recipe = recipe or (CIFAR_RECIPE if name == "cifar10" else QUICK_RECIPE)
    config = source_config(data, name, recipe, seed)
    shape = config["shape"]
    state = load_or_train(
        "tta_source",
        config,
        lambda: train_source(data, recipe, seed=seed, device=device, progress=verbose),
        verbose=verbose,
    )
    model = ConvNet(shape[0], data.num_classes, recipe.width)
    model.load_state_dict(state)
    model = model.to(device).eval()
    err = error_rate(model, data.test_x, data.test_y)
    if verbose:
        print(f"source model on {name}: clean test error {err:.1f}%")
    return SourceModel(model=model, data=data, dataset=name, recipe=recipe, clean_error=err)


def _register_references() -> None:
    from testtime.checkpoints import Reference, register

    data, first = load_digits(size=16), None
    for seed in (0, 1, 2):  # quick mode on any machine, and full mode without CIFAR-10

        def quality(state: dict[str, torch.Tensor]) -> dict[str, float]:
            model = ConvNet(data.train_x.shape[1], data.num_classes, QUICK_RECIPE.width)
            model.load_state_dict(state)
            return {"clean error %": error_rate(model.eval(), data.test_x, data.test_y)}

        ref = register(Reference(
            "tta_source", source_config(data, "digits", QUICK_RECIPE, seed),
            train=lambda s=seed: train_source(data, QUICK_RECIPE, seed=s, progress=False),
            quality=quality, band={"clean error %": 1.5},
            same_recipe_as=None if seed == 0 else first.filename))
        first = ref if seed == 0 else first


_register_references()
