"""Units for CoTTA, LAME, rotation TTT, ITTA, masked-reconstruction TTT and accuracy estimation."""

import copy

import pytest
import torch
import torch.nn as nn

from testtime.models import ConvNet
from testtime.tta.accuracy_estimation import (
    agreement,
    average_confidence,
    learning_behaviour_discrepancy,
    parameter_distance,
    pearson,
)
from testtime.tta.base import gradient_steps, train_only
from testtime.tta.cotta import (
    CoTTA,
    cotta_augment,
    ema_update,
    soft_cross_entropy,
    stochastic_restore,
)
from testtime.tta.itta import (
    ITTA,
    ITTANet,
    consistency_loss,
    gradient_alignment,
    mixstyle,
    sample_beta,
)
from testtime.tta.lame import LAME, affinity_matrix, knn_affinity, laplacian_optimization
from testtime.tta.reconstruction import (
    ReconNet,
    ReconstructionTTT,
    masked_reconstruction_loss,
    patch_mask,
)
from testtime.tta.rotation import RotationTTT, YNet, joint_loss, random_crops, random_rotations, rotate


def tiny_convnet(seed: int = 0) -> ConvNet:
    torch.manual_seed(seed)
    return ConvNet(in_channels=1, num_classes=10, width=8)


def images(n: int = 16, seed: int = 0, size: int = 16) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


def params_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


# ---------------------------------------------------------------- CoTTA


def test_ema_update_is_the_mean_teacher_formula():
    student, teacher = tiny_convnet(0), tiny_convnet(1)
    before = params_of(teacher)
    ema_update(teacher, student, 0.9)
    for name, p in teacher.named_parameters():
        expected = 0.9 * before[name] + 0.1 * dict(student.named_parameters())[name].detach()
        torch.testing.assert_close(p.detach(), expected)


def test_stochastic_restore_probability_is_respected():
    model = nn.Linear(200, 100)  # 20,100 weight+bias elements
    source = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    total = sum(p.numel() for p in model.parameters())
    restored = stochastic_restore(model, source, 0.1, torch.Generator().manual_seed(0))
    zeros = sum(int((p == 0).sum()) for p in model.parameters())
    assert restored == zeros
    # binomial(20100, 0.1): mean 2010, sd ~ 42.5; 5 sd either side
    assert abs(restored - 0.1 * total) < 5 * (total * 0.1 * 0.9) ** 0.5
    assert stochastic_restore(model, source, 0.0) == 0
    stochastic_restore(model, source, 1.0)
    assert all(bool((p == 0).all()) for p in model.parameters())


def test_cotta_augment_keeps_shape_range_and_is_seeded():
    x = images(8)
    a = cotta_augment(x, torch.Generator().manual_seed(3))
    b = cotta_augment(x, torch.Generator().manual_seed(3))
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, x)


def test_cotta_step_updates_student_teacher_and_returns_teacher_logits():
    model = tiny_convnet()
    source = params_of(model)
    method = CoTTA(
        model,
        n_augment=2,
        restore_p=0.0,
        confidence_threshold=1.0,
        generator=torch.Generator().manual_seed(0),
    )
    x = images(16)
    out = method(x)
    assert out.shape == (16, 10) and method.last_augmented  # threshold 1.0: always augment
    changed = [n for n, p in model.named_parameters() if not torch.equal(p.detach(), source[n])]
    assert {n.split(".")[0] for n in changed} >= {"features", "head"}  # all parameters adapt
    for name, p in method.teacher.named_parameters():  # teacher moved by (1 - 0.999) of the step
        torch.testing.assert_close(
            p.detach(), 0.999 * source[name] + 0.001 * dict(model.named_parameters())[name].detach()
        )
    method.reset()
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), source[name])


def test_cotta_restore_every_element_with_p_one_returns_to_source():
    model = tiny_convnet()
    source = params_of(model)
    method = CoTTA(model, n_augment=1, restore_p=1.0, lr=1e-1)
    method(images(16))
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), source[name])


def test_soft_cross_entropy_matches_definition():
    s, t = torch.randn(5, 4), torch.randn(5, 4)
    torch.testing.assert_close(soft_cross_entropy(s, t), -(t.softmax(1) * s.log_softmax(1)).sum(1))


def test_cotta_bad_arguments():
    with pytest.raises(ValueError, match="restore_p"):
        CoTTA(tiny_convnet(), restore_p=1.5)
    with pytest.raises(ValueError, match="n_augment"):
        CoTTA(tiny_convnet(), n_augment=0)


# ---------------------------------------------------------------- LAME


def test_lame_leaves_weights_and_buffers_untouched():
    model = tiny_convnet()
    model.train()
    model(images(32, seed=5))  # give BN non-trivial running statistics
    state = copy.deepcopy(model.state_dict())
    method = LAME(model)
    for seed in range(3):
        method(images(20, seed=seed))
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state[key])


def test_lame_fixed_point_satisfies_its_equation():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(30, 6, generator=g)
    probs = torch.randn(30, 4, generator=g).softmax(1)
    kernel = affinity_matrix(feats, "knn", 5)
    z, steps = laplacian_optimization(-probs.log(), kernel, max_steps=1000, tol=1e-12)
    assert steps < 1000
    torch.testing.assert_close(z, (probs.log() + kernel @ z).softmax(1), atol=1e-5, rtol=1e-5)


def test_knn_affinity_rows():
    feats = torch.randn(12, 3, generator=torch.Generator().manual_seed(1))
    w = knn_affinity(feats, 3)
    assert torch.equal(w.sum(1), torch.full((12,), 3.0)) and torch.equal(
        w.diagonal(), torch.zeros(12)
    )
    for kind in ("rbf", "linear"):
        assert affinity_matrix(feats, kind).shape == (12, 12)
    with pytest.raises(ValueError, match="affinity"):
        affinity_matrix(feats, "cosine")


def test_lame_without_affinity_returns_source_predictions():
    model = tiny_convnet()
    method = LAME(model, lam=0.0)
    x = images(10)
    torch.testing.assert_close(
        method(x).softmax(1), model.eval()(x).softmax(1), atol=1e-5, rtol=1e-5
    )


# ---------------------------------------------------------------- rotation TTT


def test_rotate_is_rot90_and_labels_match():
    x = images(8)
    k = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    out = rotate(x, k)
    for i in range(8):
        torch.testing.assert_close(out[i], torch.rot90(x[i], int(k[i]), dims=(-2, -1)))
    xr, labels = random_rotations(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(xr, rotate(x, labels))


@pytest.mark.parametrize("flip", [False, True])
def test_random_crops_are_windows_of_the_padded_images(flip):
    x = torch.randn(6, 2, 5, 7)
    out = random_crops(x, pad=2, generator=torch.Generator().manual_seed(1), flip=flip)
    g = torch.Generator().manual_seed(1)  # the same draws, taken image by image
    dy, dx = torch.randint(0, 5, (6,), generator=g), torch.randint(0, 5, (6,), generator=g)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    expected = torch.stack([padded[i, :, dy[i]:dy[i] + 5, dx[i]:dx[i] + 7] for i in range(6)])
    if flip:
        mirror = torch.rand(6, generator=g) < 0.5
        expected = torch.where(mirror.view(6, 1, 1, 1), expected.flip(-1), expected)
    assert torch.equal(out, expected)


def test_angle_subset_labels_index_the_angles_and_bad_angles_raise():
    x = images(64)
    xr, labels = random_rotations(x, torch.Generator().manual_seed(0), angles=(0, 1, 3))
    assert set(labels.tolist()) == {0, 1, 2}  # label 2 means 270 degrees, never 180
    torch.testing.assert_close(xr, rotate(x, torch.tensor([0, 1, 3])[labels]))
    model = YNet(width=8, angles=(0, 1, 3))
    assert model.rotation_logits(x[:2]).shape == (2, 3)
    main, rot = joint_loss(model, x[:6], torch.arange(6), torch.Generator().manual_seed(0))
    assert torch.isfinite(main) and torch.isfinite(rot)
    for bad in [(0,), (0, 0, 1), (0, 4)]:
        with pytest.raises(ValueError, match="angles"):
            YNet(width=8, angles=bad)


def test_rotation_ttt_changes_only_the_intended_parameters_and_resets_per_sample():
    torch.manual_seed(0)
    model = YNet(width=8)
    before = params_of(model)
    method = RotationTTT(
        model, lr=0.1, steps=2, n_copies=4, generator=torch.Generator().manual_seed(0)
    )
    x = images(3)
    out = method(x)
    assert out.shape == (3, 10)
    changed = {
        n.split(".")[0]
        for n, p in model.named_parameters()
        if not torch.equal(p.detach(), before[n])
    }
    assert changed == {"shared", "rotation"}  # trunk and rotation head; main head frozen
    method.reset()
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), before[name])


def test_standard_ttt_prediction_does_not_depend_on_earlier_samples():
    torch.manual_seed(0)
    model = YNet(width=8)
    state = copy.deepcopy(model.state_dict())
    x = images(4, seed=2)
    a = RotationTTT(model, lr=0.1, steps=2, n_copies=4, generator=torch.Generator().manual_seed(7))(
        x[3:]
    )
    model.load_state_dict(state)
    g = torch.Generator().manual_seed(7)
    method = RotationTTT(model, lr=0.1, steps=2, n_copies=4, generator=g)
    method(x[:3])  # adapt on three other samples first ...
    g.manual_seed(7)  # ... then replay the same random stream for the fourth
    b = method(x[3:])
    torch.testing.assert_close(a, b)


def test_online_ttt_keeps_weights_and_only_shared_update_option():
    torch.manual_seed(0)
    model = YNet(width=8)
    before = params_of(model)
    method = RotationTTT(model, lr=0.1, n_copies=4, online=True, update="shared")
    method(images(2))
    changed = {
        n.split(".")[0]
        for n, p in model.named_parameters()
        if not torch.equal(p.detach(), before[n])
    }
    assert changed == {"shared"}
    with pytest.raises(ValueError, match="update"):
        RotationTTT(YNet(width=8), update="all")


def test_joint_loss_terms_are_finite():
    model = YNet(width=8)
    main, rot = joint_loss(model, images(6), torch.arange(6), torch.Generator().manual_seed(0))
    assert torch.isfinite(main) and torch.isfinite(rot)


# ---------------------------------------------------------------- ITTA


def test_beta_samples_and_mixstyle_keep_shapes():
    s = sample_beta(0.1, 2000, torch.Generator().manual_seed(0))
    assert s.min() >= 0 and s.max() <= 1 and abs(float(s.mean()) - 0.5) < 0.05
    assert float(((s < 0.1) | (s > 0.9)).float().mean()) > 0.6  # Beta(0.1, 0.1) is U-shaped
    h = torch.randn(6, 4, 5, 5)
    assert mixstyle(h, torch.Generator().manual_seed(0)).shape == h.shape


def test_itta_updates_only_adaptive_parameters():
    torch.manual_seed(0)
    model = ITTANet(width=8)
    state = copy.deepcopy(model.state_dict())
    method = ITTA(model, lr=1e-2, generator=torch.Generator().manual_seed(0))
    method(images(8))
    changed = {
        k.split(".")[0] for k, v in model.state_dict().items() if not torch.equal(v, state[k])
    }
    assert changed == {"adaptive"}


def test_itta_adaptive_maps_start_as_identity_and_alignment_is_differentiable():
    torch.manual_seed(0)
    model = ITTANet(width=8).eval()
    x = images(8)
    h = model.blocks[0](x)
    torch.testing.assert_close(model.adaptive[0](h), h)  # ReLU output, identity maps
    z, z_aug = model.encode(x, augment=True, generator=torch.Generator().manual_seed(0))
    main = nn.functional.cross_entropy(model.head(z), torch.arange(8))
    pen = gradient_alignment(model, main, consistency_loss(model, z, z_aug))
    (grad,) = torch.autograd.grad(pen, [model.consistency.weight])
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


# ---------------------------------------------------------------- masked reconstruction


def test_patch_mask_ratio_and_loss_only_on_hidden_pixels():
    m = patch_mask((200, 1, 16, 16), 4, 0.5, torch.Generator().manual_seed(0))
    assert set(m.unique().tolist()) <= {0.0, 1.0} and abs(float(m.mean()) - 0.5) < 0.05
    torch.manual_seed(0)
    model = ReconNet(width=8)
    x = images(4)
    mask = patch_mask(x.shape, 4, 0.5, torch.Generator().manual_seed(1))
    loss = masked_reconstruction_loss(model, x, mask)
    # mean squared error over the hidden pixels only
    recon = model.reconstruct(x * mask)
    hidden = 1 - mask
    torch.testing.assert_close(loss, ((recon - x) ** 2 * hidden).sum() / hidden.sum())
    with pytest.raises(ValueError, match="patch"):
        patch_mask((1, 1, 16, 16), 5)


def test_reconstruction_ttt_updates_encoder_only_and_is_episodic():
    torch.manual_seed(0)
    model = ReconNet(width=8)
    state = copy.deepcopy(model.state_dict())
    method = ReconstructionTTT(
        model, lr=1e-2, steps=3, episodic=False, generator=torch.Generator().manual_seed(0)
    )
    method(images(8))
    changed = {
        k.split(".")[0] for k, v in model.state_dict().items() if not torch.equal(v, state[k])
    }
    assert changed == {"encoder"}
    assert len(method.losses) == 3
    method.reset()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, state[k])


# ---------------------------------------------------------------- accuracy estimation


def test_accuracy_estimators():
    logits = torch.tensor([[5.0, 0.0], [0.0, 5.0], [1.0, 0.0]])
    assert agreement(logits, logits) == 1.0
    assert agreement(logits, -logits) == 0.0
    assert 0.5 < average_confidence(logits) < 1.0
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    model = tiny_convnet()
    assert parameter_distance(model, model) == 0.0
    state = copy.deepcopy(model.state_dict())
    d = learning_behaviour_discrepancy(
        model, images(32), steps=3, lr=1e-2, generator=torch.Generator().manual_seed(0)
    )
    assert d > 0
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, state[k])


def test_gradient_steps_redraws_the_loss_and_matches_a_manual_loop():
    torch.manual_seed(0)
    a = nn.Linear(3, 1)
    b = copy.deepcopy(a)
    xs = torch.randn(4, 5, 3)
    calls = iter(range(4))

    def loss_a():
        return a(xs[next(calls)]).pow(2).mean()

    losses = gradient_steps(torch.optim.SGD(a.parameters(), lr=0.1), loss_a, 4)
    opt = torch.optim.SGD(b.parameters(), lr=0.1)
    manual = []
    for i in range(4):
        loss = b(xs[i]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        manual.append(loss.item())
    assert losses == manual and losses[-1] < losses[0]
    torch.testing.assert_close(a.weight, b.weight, rtol=0, atol=0)


def test_train_only_freezes_all_but_the_parts():
    net = YNet(width=8, angles=(0, 1, 3)).train()
    params = train_only(net, net.shared)
    assert not net.training
    assert [id(p) for p in params] == [id(p) for p in net.shared.parameters()]
    assert not any(p.requires_grad for p in net.rotation.parameters())


def test_minibatches_cover_every_example_once_per_epoch():
    from testtime.tta.base import minibatches

    batches = list(minibatches(10, 4, 2, torch.Generator().manual_seed(0)))
    assert [len(b) for b in batches] == [4, 4, 2, 4, 4, 2]
    for epoch in (batches[:3], batches[3:]):
        assert sorted(torch.cat(epoch).tolist()) == list(range(10))
    again = list(minibatches(10, 4, 2, torch.Generator().manual_seed(0)))
    assert all(torch.equal(a, b) for a, b in zip(batches, again))
    assert not torch.equal(torch.cat(batches[:3]), torch.cat(batches[3:]))  # reshuffled
