"""Test-time adaptation methods (Part II), one file each, sharing ``base.TTAMethod``."""

from testtime.tta.base import (
    Source,
    TTAMethod,
    bn_affine_params,
    configure_bn_adaptation,
    softmax_entropy,
)

__all__ = ["Source", "TTAMethod", "bn_affine_params", "configure_bn_adaptation", "softmax_entropy"]
from testtime.tta.bn import AlphaBN, BNAdapt  # noqa: E402
from testtime.tta.eata import EATA, ETA  # noqa: E402
from testtime.tta.sar import SAR  # noqa: E402
from testtime.tta.tent import Tent  # noqa: E402

__all__ += ["AlphaBN", "BNAdapt", "EATA", "ETA", "SAR", "Tent"]
