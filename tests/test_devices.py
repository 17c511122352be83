"""Device discipline without a GPU: every library path runs with its model on ``meta``.

CI has no GPU, yet the bug that breaks the course on one is easy to write: a layer or a
tensor a library function creates on the CPU beside a model that lives on the GPU. The
``meta`` device stands in for the GPU here. A model moved ``.to("meta")`` has parameters
with shapes but no data; forward and backward passes run shape-only, and an op that meets
a CPU tensor raises ("Tensor on device cpu is not on the expected device meta").

Two gaps of the plain ``meta`` device are closed by :class:`MetaGuard`, a
``TorchFunctionMode`` that sees every torch call of the code under test:

- ops that take *indices* (``embedding``, ``gather``, ``index_select``, ...) accept CPU
  indices on ``meta`` but not on CUDA: the guard raises whenever a meta tensor meets a CPU
  tensor of one dimension or more in any op but a copy (``to``, ``copy_``, indexing with
  ``[]``, which CUDA allows too). 0-dim CPU tensors are let through, as CUDA does;
- data-dependent steps (``.item()``, ``bool(t)``, ``.tolist()``, ``.cpu()``, boolean-mask
  indexing) have no data on ``meta``: the guard answers them with fake values (1, True, 0.5,
  "every mask entry True"), so the library's bookkeeping runs unchanged and the tensor work
  around it is checked. The numbers that come out are meaningless; only devices are tested.

Each test builds a model on ``meta`` and runs one entry point: model building, forward,
backward, an optimizer step, sampling, an RL step, a TTA step, the TTT/LaCT layers.
Library-created modules must land on the model's device (``on_meta``), and token ids or
images that arrive on the CPU must be moved by the library, not by the caller.
``test_guard_catches_*`` put a bug of the first kind back (a layer or tensor left on the
CPU) and check that the guard fails.

Out of reach, and kept simple enough to audit by eye: ``HFPolicy`` (importing
``transformers`` costs more than this whole file; every tensor it builds takes
``device=``), the data and corruption generators (CPU by design; their callers move the
batches), and what only a GPU can show (bf16 autocast, CUDA generators, speed). The GPU run
of the course stays the final check.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

import testtime.ttt  # noqa: F401 - registers the Part I token mixers in MIXERS
from testtime.models import MIXERS, ConvNet, GPTConfig, TinyGPT, get_mixer
from testtime.reasoning.sft import build_model, reasoner_config
from testtime.reasoning.task import make_problems
from testtime.reasoning.tokenizer import EOS_ID, PAD_ID, TOKENIZER, encode_prompts, format_prompt

META = torch.device("meta")

# ops that move data between devices, or index with CPU indices (allowed on CUDA too; checked
# on an H200: x[cpu_index], x[cpu_mask], x[a:b] = cpu_values and x[cpu_index] = cpu_scalar
# work, x.gather/index_select/embedding with CPU indices and x[index] = cpu_values raise)
_MOVES = {"to", "copy_", "cpu", "cuda", "as_tensor", "__getitem__", "__setitem__", "new_tensor",
          "__get__", "__set__", "requires_grad_", "detach", "_is_view", "numel", "size", "dim",
          "_has_compatible_shallow_copy_type"}
_FAKE_FLOAT = 0.5


def _fake(t: torch.Tensor) -> torch.Tensor:
    """A CPU tensor of ``t``'s shape and dtype standing in for ``t``'s missing data."""
    value = True if t.dtype == torch.bool else (1 if not t.is_floating_point() else _FAKE_FLOAT)
    return torch.full(t.shape, value, dtype=t.dtype)


def _tensors(obj, out: list[torch.Tensor], depth: int = 0) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif depth < 3 and isinstance(obj, (list, tuple)):
        for x in obj:
            _tensors(x, out, depth + 1)
    elif depth < 3 and isinstance(obj, dict):
        for x in obj.values():
            _tensors(x, out, depth + 1)
    return out


def _is_mask(index) -> bool:
    return isinstance(index, torch.Tensor) and index.dtype in (torch.bool, torch.uint8)


class MetaGuard(TorchFunctionMode):
    """Raise when a meta tensor meets a CPU tensor; fake the data-dependent steps."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        this = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if this is not None and this.is_meta:
            if name in ("item", "__bool__", "__float__", "__int__", "__index__"):
                return _fake(this.reshape(-1)[:1]).reshape(()).item()
            if name == "__format__":
                return format(_fake(this.reshape(-1)[:1]).reshape(()).item(), *args[1:])
            if name in ("tolist", "numpy", "__array__"):
                return getattr(_fake(this), name)()
            if name == "cpu" or (name == "to" and self._to_cpu(args[1:], kwargs)):
                return _fake(this)
            if name in ("nonzero", "argwhere") or (name == "where" and len(args) == 1):
                # every entry counts as non-zero
                if name == "where" or kwargs.get("as_tuple"):
                    return tuple(torch.zeros(this.numel(), dtype=torch.long, device=META)
                                 for _ in range(this.dim()))
                return torch.zeros(this.numel(), this.dim(), dtype=torch.long, device=META)
            if name == "masked_select":
                return this.reshape(-1)
            if name == "__getitem__" and _is_mask(args[1]):  # a mask selects every row
                return this.flatten(0, args[1].dim() - 1) if args[1].dim() > 1 else this
            if name == "__setitem__":
                index, value = args[1], args[2]
                indexed = _tensors(index if isinstance(index, tuple) else (index,), [])
                if indexed and isinstance(value, torch.Tensor) and value.device.type == "cpu" \
                        and value.dim() > 0:  # CUDA's index_put_ refuses CPU values
                    raise RuntimeError(f"device guard: indexed assignment of a CPU tensor of "
                                       f"shape {tuple(value.shape)} into a meta tensor")
                if _is_mask(index):
                    return None
        if name not in _MOVES:
            tensors = _tensors(args, []) + _tensors(kwargs, [])
            if any(t.is_meta for t in tensors):
                cpu = [tuple(t.shape) for t in tensors if t.device.type == "cpu" and t.dim() > 0]
                if cpu:
                    raise RuntimeError(f"device guard: {name or func} got meta tensors and CPU "
                                       f"tensors of shapes {cpu}")
        return func(*args, **kwargs)

    @staticmethod
    def _to_cpu(args, kwargs) -> bool:
        for a in list(args) + [kwargs.get("device")]:
            if isinstance(a, (str, torch.device)):
                return torch.device(a).type == "cpu"
        return False


@pytest.fixture
def guard():
    with MetaGuard():
        yield


def meta_reasoner() -> TinyGPT:
    """The tiny reasoner's architecture (random weights, built on the CPU), moved to meta."""
    return build_model(reasoner_config("small")).to(META).eval()


def on_meta(module: nn.Module) -> bool:
    return all(t.is_meta for t in list(module.parameters()) + list(module.buffers()))


# ---------------------------------------------------------------- the guard itself


def test_guard_catches_cpu_layer(guard):
    """The bug of notebooks 11-14: a head created on the CPU beside a trunk on the device."""
    trunk = meta_reasoner()
    head = nn.Linear(trunk.config.n_embd, 1)  # left on the CPU
    idx = torch.zeros(2, 5, dtype=torch.long, device=META)
    with pytest.raises(RuntimeError, match="device"):
        head(trunk.hidden(idx))


def test_guard_catches_cpu_indices(guard):
    """The bug of notebook 15: CPU token ids fed to a model on the device (plain ``meta``
    accepts them in ``nn.Embedding``; the guard does not, like CUDA)."""
    model = meta_reasoner()
    with pytest.raises(RuntimeError, match="device"):
        model(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(RuntimeError, match="device"):
        torch.ones(3, 4, device=META).gather(1, torch.zeros(3, 1, dtype=torch.long))


def test_guard_catches_cpu_tensor(guard):
    """The bug of notebook 17: ``torch.eye`` on the CPU beside features on the device."""
    phi = torch.ones(8, 4, device=META)
    with pytest.raises(RuntimeError, match="device"):
        torch.eye(4) + phi.T @ phi


def test_guard_follows_cuda_on_assignment(guard):
    x = torch.zeros(4, 3, device=META)
    x[torch.tensor([0, 1])] = 1.0  # CPU indices and scalars are fine on CUDA
    x[1:3] = torch.ones(2, 3)  # a slice is a copy: fine on CUDA
    with pytest.raises(RuntimeError, match="device"):
        x[torch.tensor([0, 1])] = torch.ones(2, 3)  # index_put_ of CPU values is not


def test_guard_catches_value_model_head_on_cpu(guard, monkeypatch):
    """Putting the old ``ValueModel.__init__`` back (head on the CPU) makes the test fail."""
    from testtime.search import verifiers

    def old_init(self, trunk):
        nn.Module.__init__(self)
        self.trunk = trunk
        self.head = nn.Linear(trunk.config.n_embd, 1)

    monkeypatch.setattr(verifiers.ValueModel, "__init__", old_init)
    with pytest.raises(RuntimeError, match="device"):
        check_value_model(verifiers.ValueModel.from_lm(meta_reasoner()))


def test_guard_fakes_data_dependent_steps(guard):
    t = torch.ones(3, 2, device=META)
    assert float(t.sum()) == _FAKE_FLOAT and bool(t.any()) and int(t[0, 0].long()) == 1
    assert t.tolist() == [[_FAKE_FLOAT] * 2] * 3 and t.cpu().shape == (3, 2)
    assert t[t > 0].shape == (6,) and f"{t.mean():.2f}" == "0.50"
    assert t.nonzero().shape == (6, 2) and len(torch.where(t > 0)) == 2


# ---------------------------------------------------------------- models and layers


def test_every_mixer_is_covered():
    assert {"attention", "linear_attention", "delta_rule", "ttt_linear", "ttt_mlp",
            "lact"} <= set(MIXERS)


@pytest.mark.parametrize("mixer", sorted(MIXERS))
def test_tinygpt_forward_backward_decode(guard, mixer):
    """TinyGPT with every registered token mixer (attention, linear attention, delta rule,
    TTT-Linear/MLP, LaCT, ...): forward, loss, backward, one optimizer step, cached decoding."""
    cfg = GPTConfig(vocab_size=16, block_size=32, n_layer=1, n_head=2, n_embd=32, mixer=mixer,
                    pos_emb=mixer == "attention")
    model = TinyGPT(cfg).to(META)
    idx = torch.zeros(2, 16, dtype=torch.long, device=META)
    _, loss = model(idx, idx)
    loss.backward()
    torch.optim.AdamW(model.parameters(), lr=1e-3).step()
    with torch.no_grad():
        _, state = model.step(idx[:, :8])
        logits, _ = model.step(idx[:, 8:9], state)
    assert logits.shape == (2, 1, 16) and logits.is_meta


def test_generate_and_sample_next(guard):
    from testtime.models import sequence_logprobs

    model = meta_reasoner()
    prompt = torch.zeros(3, 4, dtype=torch.long, device=META)
    for gen in (None, torch.Generator().manual_seed(0)):
        for kw in ({}, {"top_k": 3}, {"top_p": 0.9}, {"temperature": 0.0}):
            out = model.generate(prompt, 3, generator=gen, stop_tokens=[EOS_ID], **kw)
            assert out.is_meta and out.shape[0] == 3
    out = model.generate(prompt, 2, generator=None, use_cache=False)
    assert out.is_meta
    assert sequence_logprobs(model, out, start=torch.ones(3, dtype=torch.long)).is_meta


def test_generate_accepts_cpu_prompt(guard):
    """Token ids built on the CPU (a notebook's ``torch.tensor(ids)``) go to the model's device."""
    model = meta_reasoner()
    out = model.generate(torch.zeros(2, 4, dtype=torch.long), 2, generator=torch.Generator())
    assert out.is_meta


def test_convnet_forward_backward(guard):
    net = ConvNet().to(META)
    net(torch.zeros(4, 1, 8, 8, device=META)).sum().backward()
    assert all(p.grad is not None and p.grad.is_meta for p in net.parameters())


@pytest.mark.parametrize("mixer", ["lact", "ttt_mlp"])
def test_ttt_layers_directly(guard, mixer):
    """The Part I layers called on their own (not through TinyGPT), with a carried state."""
    layer = get_mixer(mixer)(n_embd=32, n_head=2, block_size=32).to(META)
    y, state = layer(torch.zeros(2, 16, 32, device=META))
    y2, _ = layer(torch.zeros(2, 4, 32, device=META), state)
    (y.sum() + y2.sum()).backward()
    assert y.is_meta and y2.is_meta


# ---------------------------------------------------------------- verifiers (Part III)


def check_value_model(model: nn.Module) -> None:
    """Forward, backward and one AdamW step of a value model on meta."""
    idx = torch.zeros(2, 12, dtype=torch.long, device=META)
    logits = model(idx)
    assert logits.shape == (2, 12) and logits.is_meta
    nn.functional.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits)).backward()
    torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3).step()


def labelled(n: int = 4):
    from testtime.search.verifiers import LabelledSolution

    probs = make_problems(n, (2,), seed=0)
    return [LabelledSolution(format_prompt(p.expr), "12\n3$", [1.0, 0.0]) for p in probs]


@pytest.mark.parametrize("kind", ["linear", "implicit", "sharpened"])
def test_value_models(guard, kind):
    from testtime.search.verifiers import (
        ImplicitValueModel,
        ValueModel,
        Verifier,
        train_value_model,
    )

    lm = meta_reasoner()
    if kind == "linear":
        model = ValueModel.from_lm(lm)
    else:
        model = ImplicitValueModel.from_lm(lm, full=kind == "implicit", prompt_len=5)
    assert on_meta(model)
    check_value_model(model)
    losses = train_value_model(model, labelled(), TOKENIZER, steps=2, batch_size=2,
                               generator=torch.Generator().manual_seed(0), progress=False)
    assert len(losses) == 2
    scores = Verifier(model, TOKENIZER).score(["1+2\n"] * 2, ["3$", "4\n5$"])
    assert len(scores) == 2


def test_markov_prm(guard):
    from testtime.search.markov_prm import MarkovVerifier
    from testtime.search.trained import state_prompt
    from testtime.search.verifiers import ValueModel

    model = ValueModel.from_lm(meta_reasoner())
    prm = MarkovVerifier(model, TOKENIZER, state_prompt)
    out = prm.score_steps([format_prompt("1+2*3")], [["1+6\n", "7$"]])
    assert len(out[0]) == 2


def test_policy_and_search(guard):
    """The text-level policy (sampling, log-probs) and a verifier-guided beam search."""
    from testtime.search import TinyGPTPolicy, beam_search
    from testtime.search.costs import Cost
    from testtime.search.verifiers import ValueModel, Verifier

    lm = meta_reasoner()
    policy = TinyGPTPolicy(lm, TOKENIZER)
    gen = torch.Generator().manual_seed(0)
    prompts = [format_prompt(p.expr) for p in make_problems(2, (2,), seed=0)]
    cost = Cost()
    outs = policy.sample(prompts, generator=gen, max_new_tokens=4, cost=cost)
    assert len(outs) == 2
    assert policy.logprobs(prompts, ["1\n", "2$"]).is_meta
    verifier = Verifier(ValueModel.from_lm(lm), TOKENIZER)
    results = beam_search(policy, verifier, prompts, n=4, beam_width=2, max_steps=2,
                          max_step_tokens=4, generator=gen)
    assert len(results) == 2


def test_sampling_module(guard):
    from testtime.reasoning.sampling import sample_continuations, sample_solutions

    lm = meta_reasoner()
    probs = make_problems(2, (2,), seed=0)
    gen = torch.Generator().manual_seed(0)
    assert len(sample_solutions(lm, probs, 2, generator=gen, max_new_tokens=3)) == 2
    assert len(sample_continuations(lm, probs, ["", "1"], generator=gen)) == 2


# ---------------------------------------------------------------- RL (Part IV)


def test_rl_step(guard):
    """Sample a rollout, reward it, one GRPO update (and the reference model's KL)."""
    from testtime.rl.trainer import RLConfig, make_optimizer, rl_step

    model, ref = meta_reasoner(), meta_reasoner()
    cfg = RLConfig(loss_type="grpo", group_size=2, max_new_tokens=3, beta=0.1)
    problems = make_problems(2, (2,), seed=0)
    stats = rl_step(model, make_optimizer(model, cfg), problems,
                    lambda p, c, r: torch.ones(len(c)), cfg,
                    generator=torch.Generator().manual_seed(0), ref_model=ref)
    assert math.isfinite(stats["loss"])


@pytest.mark.parametrize("loss_type", ["reinforce", "dr_grpo", "dapo", "topr", "cispo"])
def test_policy_update_from_cpu_tokens(guard, loss_type):
    """Guided re-attempts (notebook 15): sequences built on the CPU, model on the device."""
    from testtime.rl.rollouts import rollout_from_tokens
    from testtime.rl.trainer import RLConfig, make_optimizer, policy_update

    model = meta_reasoner()
    cfg = RLConfig(loss_type=loss_type, group_size=2, max_new_tokens=4)
    tokens = torch.full((4, 14), EOS_ID, dtype=torch.long)
    rollout = rollout_from_tokens(model, tokens, 10, 2, stop_token=EOS_ID)
    assert rollout.tokens.is_meta
    policy_update(model, make_optimizer(model, cfg), rollout, torch.ones(4), cfg)


def test_rl_rewards_and_latents(guard):
    from testtime.rl.latent import latentseek, srgen_generate
    from testtime.rl.rewards import elliptical_bonus
    from testtime.rl.rollouts import pooled_hidden, sample_rollout, success_probability

    model = meta_reasoner()
    prompts = encode_prompts(make_problems(2, (2,), seed=0), device=META)
    gen = torch.Generator().manual_seed(0)
    roll = sample_rollout(model, prompts, 2, 3, generator=gen, stop_token=EOS_ID,
                          pad_token=PAD_ID)
    assert elliptical_bonus(pooled_hidden(model, roll), 2).is_meta
    assert success_probability(model, prompts, lambda b, t: True, 2, 3, generator=gen,
                               stop_token=EOS_ID).shape == (2,)
    res = latentseek(model, prompts, lambda t: torch.ones(t.size(0)), generator=gen,
                     n_samples=2, iterations=1, n_latent=2, max_new_tokens=3, stop_token=EOS_ID)
    assert res.latents.is_meta
    out, _ = srgen_generate(model, prompts, 3, generator=gen, stop_token=EOS_ID)
    assert out.is_meta


# ---------------------------------------------------------------- TTA (Part II)


def tta_methods():
    from testtime.tta.bn import AlphaBN, BNAdapt
    from testtime.tta.cotta import CoTTA
    from testtime.tta.eata import EATA, ETA, compute_fishers
    from testtime.tta.lame import LAME
    from testtime.tta.sar import SAR
    from testtime.tta.tent import Tent

    def eata(net):
        from testtime.tta.base import configure_bn_adaptation

        configure_bn_adaptation(net)
        fishers = compute_fishers(net, torch.zeros(8, 1, 8, 8, device=META), batch_size=4)
        return EATA(net, fishers=fishers)

    from testtime.tta.itta import ITTA, ITTANet
    from testtime.tta.reconstruction import ReconNet, ReconstructionTTT
    from testtime.tta.rotation import RotationTTT, YNet

    gen = torch.Generator().manual_seed(0)
    return {  # name: (network, method)
        "tent": (ConvNet, Tent), "eta": (ConvNet, ETA), "eata": (ConvNet, eata),
        "sar": (ConvNet, SAR), "bn": (ConvNet, BNAdapt), "lame": (ConvNet, LAME),
        "alpha_bn": (ConvNet, lambda net: AlphaBN(net, 0.5)),
        "cotta": (ConvNet, lambda net: CoTTA(net, n_augment=2, generator=gen)),
        "rotation": (YNet, lambda net: RotationTTT(net, n_copies=2, online=True, generator=gen)),
        "itta": (ITTANet, lambda net: ITTA(net, generator=gen)),
        "reconstruction": (ReconNet, lambda net: ReconstructionTTT(net, steps=1, generator=gen)),
    }


@pytest.mark.parametrize("name", sorted(tta_methods()))
def test_tta_step(guard, name):
    """One adaptation step of each method on its network, which lives on meta."""
    net, make = tta_methods()[name]
    method = make(net().to(META))
    logits = method(torch.zeros(4, 1, 8, 8, device=META))
    assert logits.shape == (4, 10) and logits.is_meta
    method.reset()


@pytest.mark.parametrize("name", ["rotation", "itta", "reconstruction"])
def test_tta_joint_training(guard, name):
    """The joint (main + self-supervised) training loops of the TTT networks, one epoch."""
    from testtime.tta.itta import ITTANet, train_itta
    from testtime.tta.reconstruction import ReconNet, train_recon
    from testtime.tta.rotation import YNet, train_joint

    net, train = {"rotation": (YNet, train_joint), "itta": (ITTANet, train_itta),
                  "reconstruction": (ReconNet, train_recon)}[name]
    x = torch.zeros(8, 1, 8, 8, device=META)
    y = torch.zeros(8, dtype=torch.long, device=META)
    losses = train(net().to(META), x, y, epochs=1, batch_size=4,
                   generator=torch.Generator().manual_seed(0))
    assert len(losses) >= 1


def test_genarm(guard):
    """GenARM's autoregressive reward model: training and guided decoding."""
    from testtime.search.genarm import GuidedLM, train_arm

    base, arm = meta_reasoner(), meta_reasoner()
    prompts = [format_prompt(p.expr) for p in make_problems(4, (2,), seed=0)]
    train_arm(arm, TOKENIZER, prompts, ["3$"] * 4, ["4\n5$"] * 4, steps=2, batch_size=2,
              generator=torch.Generator().manual_seed(0), progress=False)
    from testtime.search import TinyGPTPolicy

    policy = TinyGPTPolicy(GuidedLM(base, arm, 1.5), TOKENIZER)
    assert len(policy.sample(prompts, generator=torch.Generator(), max_new_tokens=3)) == 4


def test_speculative_decoding(guard):
    from testtime.search.speculative import prompt_lookup_draft, speculative_generate

    model = meta_reasoner()
    prompt = TOKENIZER.encode(format_prompt("1+2*3"))
    for temperature, gen in ((0.0, None), (0.7, torch.Generator().manual_seed(0))):
        out, stats = speculative_generate(model, prompt, 4, prompt_lookup_draft, k=2,
                                          temperature=temperature, generator=gen,
                                          stop_tokens=[EOS_ID])
        assert stats.forward_passes >= 1


@pytest.fixture
def meta_autocast(monkeypatch):
    """``torch.autocast("meta", enabled=False)`` raises (an unknown device type): a training
    loop that autocasts on CUDA only gets a no-op context on meta."""
    import contextlib

    real = torch.autocast

    def autocast(device_type, *args, **kwargs):
        if device_type == "meta" and not kwargs.get("enabled", True):
            return contextlib.nullcontext()
        return real(device_type, *args, **kwargs)

    monkeypatch.setattr(torch, "autocast", autocast)


def test_sft_training_step(guard, meta_autocast):
    """The SFT recipe of the reasoners (``train_reasoner``), two steps, on meta."""
    from testtime.reasoning.sft import train_reasoner

    config = reasoner_config("small")
    config = {**config, "recipe": {**config["recipe"], "steps": 2, "batch_size": 4}}
    out = train_reasoner(config, META, progress=False)
    assert len(out["losses"]) == 2


def test_source_model_training(guard, meta_autocast):
    """The TTA source model's training loop (``train_source``), one short epoch, on meta."""
    from dataclasses import replace

    from testtime.data import ImageSplits
    from testtime.tta.source import QUICK_RECIPE, train_source

    x = torch.zeros(16, 1, 8, 8)
    y = torch.zeros(16, dtype=torch.long)
    data = ImageSplits(x, y, x, y, num_classes=10)
    recipe = replace(QUICK_RECIPE, epochs=1, batch_size=8)
    state = train_source(data, recipe, device=META, progress=False)
    assert all(v.shape is not None for v in state.values())


def test_stream_evaluation_and_accuracy_estimates(guard):
    """Part II's evaluation loop and label-free accuracy estimates, images on the CPU."""
    from testtime.tta.accuracy_estimation import agreement, learning_behaviour_discrepancy
    from testtime.tta.streams import Stream, evaluate
    from testtime.tta.tent import Tent

    x, y = torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)
    stream = Stream([x, x], [y, y], [torch.zeros(4, dtype=torch.long)] * 2, [True, False], ["a"])
    assert evaluate(Tent(ConvNet().to(META)), stream).error >= 0
    net = ConvNet().to(META)
    assert learning_behaviour_discrepancy(net, x, steps=1, batch_size=2) >= 0
    assert agreement(net(x.to(META)), net(x.to(META))) >= 0
