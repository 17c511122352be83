"""Part I: memory in the weights. Fast-weight token mixers (registered with
``testtime.models.register_mixer`` on import), test-time regression views, synthetic tasks."""

from testtime.ttt import (  # noqa: F401
    delta_rule,
    lact,
    linear_attention,
    muon,
    regression,
    tasks,
    ttt_layers,
)
from testtime.ttt.delta_rule import DeltaRule, delta_rule_chunked, delta_rule_recurrent
from testtime.ttt.linear_attention import (
    LinearAttention,
    linear_attention_chunked,
    linear_attention_recurrent,
)
from testtime.ttt.regression import (
    kernel_weights,
    linear_attention_regression,
    local_linear_attention,
    nadaraya_watson,
    ridge_regression,
)
from testtime.ttt.tasks import icl_regression, mqar
from testtime.ttt.ttt_layers import (
    TTTMLP,
    TTTLinear,
    TTTState,
    ttt_linear_dual,
    ttt_linear_primal,
    ttt_mlp_dual,
    ttt_mlp_primal,
)

__all__ = [
    "DeltaRule",
    "LinearAttention",
    "TTTLinear",
    "TTTMLP",
    "TTTState",
    "delta_rule_chunked",
    "delta_rule_recurrent",
    "icl_regression",
    "kernel_weights",
    "linear_attention_chunked",
    "linear_attention_recurrent",
    "linear_attention_regression",
    "local_linear_attention",
    "mqar",
    "nadaraya_watson",
    "ridge_regression",
    "ttt_linear_dual",
    "ttt_linear_primal",
    "ttt_mlp_dual",
    "ttt_mlp_primal",
]
