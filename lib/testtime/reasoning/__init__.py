"""The tiny reasoner of Parts III-IV: an arithmetic task with exact step verification, its
character format, an SFT-trained TinyGPT policy (cached), batched sampling and pass@k."""

from testtime.reasoning.metrics import (
    correctness,
    generation_flops,
    pass_at_k,
    pass_at_k_by_level,
)
from testtime.reasoning.sampling import generated_tokens, sample_continuations, sample_solutions
from testtime.reasoning.sft import load_reasoner, reasoner_config, train_reasoner
from testtime.reasoning.task import (
    LEVELS,
    MAX_OPS,
    Problem,
    evaluate,
    make_problems,
    reduce_at,
    solve,
    split_of,
)
from testtime.reasoning.tokenizer import (
    BLOCK_SIZE,
    EOS,
    EOS_ID,
    NL,
    NL_ID,
    PAD,
    PAD_ID,
    PROMPT_LEN,
    STEP_STOP_IDS,
    TOKENIZER,
    align,
    decode_completion,
    decode_completions,
    encode_examples,
    encode_prompts,
    format_prompt,
    format_solution,
    target_completion,
)
from testtime.reasoning.verify import (
    check_step,
    first_error,
    is_correct,
    parse_answer,
    split_steps,
    step_labels,
)

__all__ = [
    "BLOCK_SIZE", "EOS", "EOS_ID", "LEVELS", "MAX_OPS", "NL", "NL_ID", "PAD", "PAD_ID",
    "PROMPT_LEN", "STEP_STOP_IDS", "TOKENIZER", "Problem", "align", "check_step", "correctness",
    "decode_completion", "decode_completions", "encode_examples", "encode_prompts",
    "evaluate", "first_error", "format_prompt", "format_solution", "generated_tokens", "generation_flops",
    "is_correct", "load_reasoner", "make_problems", "parse_answer", "pass_at_k",
    "pass_at_k_by_level", "reasoner_config", "reduce_at", "sample_continuations",
    "sample_solutions", "solve", "split_of", "split_steps", "step_labels", "target_completion",
    "train_reasoner",
]
