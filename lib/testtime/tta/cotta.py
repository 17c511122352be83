"""CoTTA: continual test-time adaptation with a mean teacher and stochastic restore.

"Continual Test-Time Domain Adaptation" (Wang, Fink, Van Gool, Dai, CVPR 2022, arXiv 2203.13591).
A student is trained on every test batch to match a teacher; the teacher is an exponential
moving average of the student (eq. 2-3, momentum 0.999) and, when the frozen source model is
unsure (mean max-probability below ``ap``), averages its predictions over ``n_augment`` random
augmentations (eq. 4). After every step each weight of the student is reset to its source value
with probability ``rst`` (eq. 5-6, p = 0.01). Predictions come from the teacher.

Defaults follow the official CIFAR-10 configuration (qinenergy/cotta, ``cfgs/cifar10/cotta.yaml``):
Adam lr 1e-3, one step per batch, MT 0.999, RST 0.01, AP 0.92, 32 augmentations, and all
``weight``/``bias`` parameters adapted with batch-statistics BatchNorm. Differences: our
augmentation is a batched torch version of the official one for grayscale images (brightness,
contrast, gamma jitter; a random affine with edge padding; a light blur; flip; Gaussian noise);
saturation and hue jitter are dropped because the digits have one channel.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from testtime.runtime import check_positive
from testtime.tta.base import TTAMethod, configure_bn_adaptation


def _uniform(
    n: int, low: float, high: float, generator: torch.Generator | None, device
) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator).to(device)


def cotta_augment(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    flip_p: float = 0.5,
    noise_std: float = 0.005,
) -> torch.Tensor:
    """One random CoTTA augmentation of each image of ``x (N, C, H, W)`` in [0, 1] (batched).

    The official transform (``get_tta_transforms``): colour jitter (brightness 0.6-1.4,
    contrast 0.7-1.3, gamma 0.7-1.3), edge-padded random affine (+-15 degrees, translate 1/16,
    scale 0.9-1.1), Gaussian blur (sigma up to 0.5), horizontal flip (p=0.5), noise (std 0.005),
    clip to [0, 1].
    """
    n, device = x.shape[0], x.device
    shape = (n, 1, 1, 1)
    x = x.clamp(0, 1)
    x = x * _uniform(n, 0.6, 1.4, generator, device).view(shape)  # brightness
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * _uniform(n, 0.7, 1.3, generator, device).view(shape) + mean).clamp(0, 1)
    x = x.clamp_min(1e-6) ** _uniform(n, 0.7, 1.3, generator, device).view(shape)  # gamma
    angle = _uniform(n, -15, 15, generator, device) * math.pi / 180
    scale = _uniform(n, 0.9, 1.1, generator, device)
    shift = _uniform(2 * n, -1 / 8, 1 / 8, generator, device).view(n, 2)  # 1/16 of the side
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    sigma = _uniform(n, 0.001, 0.5, generator, device)
    offsets = torch.arange(-2, 3, device=device, dtype=x.dtype)
    kernel = torch.exp(-(offsets[None] ** 2) / (2 * sigma[:, None] ** 2))
    kernel = kernel / kernel.sum(1, keepdim=True)  # (N, 5), one separable kernel per image
    c, h, w = x.shape[1:]
    x = F.pad(x, (2, 2, 2, 2), mode="replicate")
    x = x.reshape(1, n * c, *x.shape[2:])
    kx = kernel.repeat_interleave(c, 0)
    x = F.conv2d(x, kx.view(n * c, 1, 1, 5), groups=n * c)
    x = F.conv2d(x, kx.view(n * c, 1, 5, 1), groups=n * c).view(n, c, h, w)
    flip = torch.rand(n, generator=generator).to(device) < flip_p
    x = torch.where(flip.view(shape), x.flip(-1), x)
    x = x + noise_std * torch.randn(x.shape, generator=generator).to(device)
    return x.clamp(0, 1)


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """Mean teacher (eq. 3): ``theta_t <- m * theta_t + (1 - m) * theta_s`` for every parameter."""
    for t, s in zip(teacher.parameters(), student.parameters(), strict=True):
        t.mul_(momentum).add_(s.detach(), alpha=1 - momentum)


@torch.no_grad()
def stochastic_restore(
    model: nn.Module,
    source: dict[str, torch.Tensor],
    p: float,
    generator: torch.Generator | None = None,
) -> int:
    """Reset each trainable weight/bias element to its source value with probability ``p`` (eq. 6).

    Returns how many elements were restored.
    """
    restored = 0
    for name, param in model.named_parameters():
        if not param.requires_grad or name.rsplit(".", 1)[-1] not in ("weight", "bias"):
            continue
        mask = torch.rand(param.shape, generator=generator).to(param.device) < p
        param.copy_(torch.where(mask, source[name].to(param.device), param))
        restored += int(mask.sum())
    return restored


@torch.no_grad()
def augmented_teacher(
    teacher: nn.Module,
    anchor: nn.Module,
    x: torch.Tensor,
    *,
    threshold: float,
    n_augment: int,
    flip_p: float = 0.5,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, bool]:
    """The teacher's target for ``x`` (eq. 4): its own logits when the anchor's mean max-probability
    on ``x`` reaches ``threshold``, else their mean over ``n_augment`` random augmentations.
    Returns the logits and whether they were augmentation-averaged."""
    if anchor(x).softmax(1).max(1).values.mean() >= threshold:
        return teacher(x), False
    outs = [teacher(cotta_augment(x, generator, flip_p=flip_p)) for _ in range(n_augment)]
    return torch.stack(outs).mean(0), True


def soft_cross_entropy(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """``-sum_c q_c log p_c`` per row: teacher softmax ``q`` vs student ``p`` (eq. 1)."""
    return -(teacher_logits.softmax(1) * student_logits.log_softmax(1)).sum(1)


class CoTTA(TTAMethod):
    """Mean teacher + augmentation averaging + stochastic restore; returns the teacher's logits."""

    def __init__(
        self,
        model: nn.Module,
        *,
        lr: float = 1e-3,
        momentum_teacher: float = 0.999,
        restore_p: float = 0.01,
        confidence_threshold: float = 0.92,
        n_augment: int = 32,
        flip_p: float = 0.5,
        generator: torch.Generator | None = None,
        episodic: bool = False,
    ) -> None:
        check_positive("lr", lr)
        check_positive("n_augment", n_augment)
        for name, value in [
            ("momentum_teacher", momentum_teacher),
            ("restore_p", restore_p),
            ("confidence_threshold", confidence_threshold),
            ("flip_p", flip_p),
        ]:
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value!r} is not valid; expected a number in [0, 1]")
        configure_bn_adaptation(model)
        model.requires_grad_(True)  # CoTTA adapts every parameter, not only BN affine
        super().__init__(model, episodic=episodic)
        self.teacher = copy.deepcopy(model).requires_grad_(False)
        self.anchor = copy.deepcopy(model).requires_grad_(False)
        self.source_params = {n: p.detach().clone() for n, p in model.named_parameters()}
        self.momentum_teacher = momentum_teacher
        self.restore_p = restore_p
        self.confidence_threshold = confidence_threshold
        self.n_augment = n_augment
        self.flip_p = flip_p
        self.generator = generator
        params = [
            p for n, p in model.named_parameters() if n.rsplit(".", 1)[-1] in ("weight", "bias")
        ]
        self.optimizer = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999))
        self.save_optimizer_state()
        self.last_augmented = False

    @torch.no_grad()
    def teacher_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The teacher's prediction, augmentation-averaged when the anchor is unsure (eq. 4)."""
        logits, self.last_augmented = augmented_teacher(
            self.teacher, self.anchor, x, threshold=self.confidence_threshold,
            n_augment=self.n_augment, flip_p=self.flip_p, generator=self.generator)
        return logits

    @torch.enable_grad()
    def forward_and_adapt(self, x: torch.Tensor) -> torch.Tensor:
        student = self.model(x)
        target = self.teacher_logits(x)
        loss = soft_cross_entropy(student, target).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        ema_update(self.teacher, self.model, self.momentum_teacher)
        stochastic_restore(self.model, self.source_params, self.restore_p, self.generator)
        return target.detach()

    def reset(self) -> None:
        super().reset()
        self.teacher.load_state_dict(self._model_state)
