import pytest
import torch

from testtime.search import Completion, Cost
from testtime.search.pretrained import (
    INSTRUCTION,
    WORD_PROBLEMS,
    load_hf_policy,
    parse_word_answer,
    solve_word_problems,
    word_prompt,
)


def test_answers_are_parsed_from_the_last_statement_or_number():
    assert parse_word_answer("3 + 4 = 7\nThe answer is 1,200.") == 1200
    assert parse_word_answer("The answer is 5. Wait, the answer is $12.") == 12
    assert parse_word_answer("48 - 30 = 18") == 18
    assert parse_word_answer("no number here") is None


def test_the_word_problems_have_whole_number_answers_and_distinct_questions():
    questions = [q for q, _ in WORD_PROBLEMS]
    assert len(set(questions)) == len(questions) >= 8
    assert all(isinstance(a, int) and a > 0 for _, a in WORD_PROBLEMS)


class ScriptedPolicy:
    """Returns the given texts in order, one per requested prefix."""

    def __init__(self, texts):
        self.texts = list(texts)

    def sample(self, prefixes, *, generator, step=False, max_new_tokens=256, temperature=0.8,
               top_p=None, cost=None):
        out = [Completion(self.texts.pop(0), 3, True) for _ in prefixes]
        if cost is not None:
            cost.add_policy(3 * len(prefixes), 10.0)
        return out


def test_accuracies_from_a_scripted_policy():
    # problem 1 (truth 18): right once of four, but the vote goes to 17;
    # problem 2 (truth 8): right three times of four, the vote is right
    texts = ["The answer is 18.", "The answer is 17.", "17", "I do not know",
             "The answer is 8.", "8", "so 8", "The answer is 9."]
    res = solve_word_problems(ScriptedPolicy(texts), ["p1", "p2"], [18, 8], 4,
                              generator=torch.Generator())
    assert res.answers == [[18, 17, 17, None], [8, 8, 8, 9]]
    assert res.pass_at_1 == pytest.approx((1 / 4 + 3 / 4) / 2)
    assert res.majority == pytest.approx(1 / 2) and res.pass_at_n == pytest.approx(1.0)
    assert res.cost.policy_tokens == 24


def test_prompts_use_the_chat_template_when_there_is_one():
    class Plain:
        chat_template = None

    class Chat:
        chat_template = "x"

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            assert not tokenize and add_generation_prompt
            return "<user>" + messages[0]["content"] + "<assistant>"

    assert word_prompt("Q?", Plain()).startswith(INSTRUCTION) and "Q?" in word_prompt("Q?", Plain())
    assert word_prompt("Q?", Chat()) == f"<user>{INSTRUCTION}\n\nQ?<assistant>"


def test_a_tiny_hf_model_runs_the_whole_path():
    transformers = pytest.importorskip("transformers")
    from test_search_policy import char_hf_tokenizer

    tok = char_hf_tokenizer()
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=len(tok), n_positions=96, n_embd=32, n_layer=1,
                                  n_head=2, eos_token_id=tok.eos_token_id)
    from testtime.search import HFPolicy

    policy = HFPolicy(transformers.GPT2LMHeadModel(cfg).eval(), tok, eos="$")
    res = solve_word_problems(policy, ["1+2\n", "3*4\n"], [3, 12], 3,
                              generator=torch.Generator().manual_seed(0), max_new_tokens=8)
    assert len(res.answers) == 2 and all(len(row) == 3 for row in res.answers)
    assert 0.0 <= res.pass_at_1 <= res.pass_at_n <= 1.0 and isinstance(res.cost, Cost)


def test_loading_says_why_it_skips_when_the_hub_is_out_of_reach(monkeypatch, capsys):
    transformers = pytest.importorskip("transformers")

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", offline)
    assert load_hf_policy("some/model") is None
    assert "skipping the pretrained model" in capsys.readouterr().out
