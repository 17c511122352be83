"""Policy adapters (TinyGPT, a tiny random Hugging Face GPT-2), GenARM guidance, MG-Select."""

import pytest
import torch

from testtime.models import GPTConfig, TinyGPT, sequence_logprobs
from testtime.reasoning import TOKENIZER
from testtime.search import (
    Cost,
    GuidedLM,
    HFPolicy,
    Policy,
    TinyGPTPolicy,
    arm_loss,
    kl_confidence,
    mask_prompt,
    mg_select_scores,
)
from testtime.search.genarm import encode_pairs


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny_gpt(seed=0):
    torch.manual_seed(seed)
    return TinyGPT(GPTConfig(vocab_size=TOKENIZER.vocab_size, block_size=48, n_layer=1, n_head=2,
                             n_embd=32)).eval()


def test_tinygpt_policy_steps_logprobs_and_cost():
    policy = TinyGPTPolicy(tiny_gpt(), TOKENIZER)
    assert isinstance(policy, Policy)
    cost = Cost()
    prefixes = ["  1+2\n", "  1+2\n", " 3*4-1\n"]
    outs = policy.sample(prefixes, generator=torch.Generator().manual_seed(0), step=True,
                         max_new_tokens=20, temperature=1.0, cost=cost)
    for o in outs:
        assert o.num_tokens == len(o.text) and 1 <= o.num_tokens <= 20
        if o.num_tokens < 20:
            assert o.text[-1] in "\n$" and all(c not in "\n$" for c in o.text[:-1])
        assert o.finished == o.text.endswith("$")
    assert cost.policy_tokens == sum(o.num_tokens for o in outs)
    assert cost.prompt_tokens == sum(len(p) for p in prefixes)
    # same generator seed -> same samples
    again = policy.sample(prefixes, generator=torch.Generator().manual_seed(0), step=True,
                          max_new_tokens=20, temperature=1.0)
    assert [o.text for o in again] == [o.text for o in outs]
    # log-probabilities agree with the library's sequence_logprobs
    lp = policy.logprobs(["  1+2\n"], ["3$"])
    ids = torch.tensor([TOKENIZER.encode("  1+2\n3$")])
    ref = sequence_logprobs(policy.model, ids, start=6).sum()
    torch.testing.assert_close(lp[0], ref)


def char_hf_tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(" 0123456789+-*\n$")}
    vocab.update({"<eos>": len(vocab), "<unk>": len(vocab) + 1})
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tk.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<eos>", unk_token="<unk>",
                                   pad_token=" ")


def test_hf_policy_on_a_tiny_random_gpt2():
    transformers = pytest.importorskip("transformers")
    tok = char_hf_tokenizer()
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2,
                                  n_head=2, bos_token_id=tok.eos_token_id,
                                  eos_token_id=tok.eos_token_id)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    policy = HFPolicy(model, tok, eos="$")
    assert isinstance(policy, Policy)
    cost = Cost()
    prefixes = ["1+2\n", "3*4-1\n"]  # different lengths: left padding
    outs = policy.sample(prefixes, generator=torch.Generator().manual_seed(0), step=True,
                         max_new_tokens=12, temperature=1.0, cost=cost)
    assert len(outs) == 2 and cost.policy_tokens == sum(o.num_tokens for o in outs)
    for o in outs:
        assert 1 <= o.num_tokens <= 12
    # left-padded batched log-probs equal unbatched ones (the mask and positions are right)
    both = policy.logprobs(prefixes, ["3$", "1$"])
    one = policy.logprobs(prefixes[1:], ["1$"])
    torch.testing.assert_close(both[1], one[0], atol=1e-5, rtol=1e-5)
    # sampling a padded row gives the same first-token distribution as alone
    dist_b = policy.token_logprobs(prefixes, ["3", "1"])
    dist_1 = policy.token_logprobs(prefixes[1:], ["1"])
    torch.testing.assert_close(dist_b[1], dist_1[0], atol=1e-5, rtol=1e-5)
    # and a manual forward agrees with the adapter
    ids = torch.tensor([tok.encode("3*4-1\n1$", add_special_tokens=False)])
    logp = torch.log_softmax(model(ids).logits, -1)[0, :-1].gather(-1, ids[0, 1:, None])
    torch.testing.assert_close(one[0], logp[-2:].sum(), atol=1e-5, rtol=1e-5)
    assert policy.flops_per_token == 2.0 * sum(p.numel() for p in model.parameters())


def test_genarm_guidance_and_loss():
    base, arm = tiny_gpt(0), tiny_gpt(1)
    idx = torch.tensor([TOKENIZER.encode("  1+2\n3$")])
    g0 = GuidedLM(base, arm, weight=0.0)
    torch.testing.assert_close(g0(idx)[0], torch.log_softmax(base(idx)[0], -1))
    g = GuidedLM(base, arm, weight=2.0)
    expect = torch.log_softmax(base(idx)[0], -1) + 2 * torch.log_softmax(arm(idx)[0], -1)
    torch.testing.assert_close(g(idx)[0], expect)
    # cached step-by-step decoding equals the full forward
    logits, state = g.step(idx[:, :4])
    logits2, _ = g.step(idx[:, 4:], state)
    torch.testing.assert_close(torch.cat([logits, logits2], 1), expect, atol=1e-5, rtol=1e-5)
    assert g.flops_per_token() == base.flops_per_token() + arm.flops_per_token()
    # the preference loss falls when the ARM is trained on it
    xw, mw, xl, ml = encode_pairs(TOKENIZER, ["  1+2\n"] * 4, ["3$"] * 4, ["4$"] * 4)
    opt = torch.optim.Adam(arm.parameters(), lr=1e-2)
    first = arm_loss(arm, xw, mw, xl, ml).item()
    assert first == pytest.approx(torch.log(torch.tensor(2.0)).item(), abs=0.2)
    for _ in range(30):
        loss = arm_loss(arm, xw, mw, xl, ml)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_mg_select_kl():
    g = torch.Generator().manual_seed(0)
    p = torch.log_softmax(torch.randn(5, 7, generator=g), -1)
    q = torch.log_softmax(torch.randn(5, 7, generator=g), -1)
    kl = kl_confidence([p, p], [q, p])
    ref = torch.nn.functional.kl_div(p, q, log_target=True, reduction="none").sum(-1).mean()
    torch.testing.assert_close(kl[0], ref)
    assert kl[1].abs() < 1e-6
    policy = TinyGPTPolicy(tiny_gpt(), TOKENIZER)
    s = mg_select_scores(policy, "  1+2\n", "  1+2\n", ["3$", "4$"])
    assert torch.allclose(s, torch.zeros(2), atol=1e-6)  # no masking: no divergence
    masked = mask_prompt("  1+2\n", 1.0, " ", "0123456789+-*", g)
    assert masked == "     \n"
    with pytest.raises(ValueError, match="rate"):
        mask_prompt("1", 2.0, " ", "1")
