"""Force either branch of bitsandbytes' CPU inference for 4-bit layers, on any CPU.

bitsandbytes 0.50.2 decides per `Linear4bit`, at construction, from the CPU
(`support_avx512bf16_for_cpu = has_avx512bf16()`): with AVX512-BF16 a no-grad eval-mode forward
first repacks the weight (`_convert_weight_packed_for_cpu`, which asserts out_features % 32 == 0)
and then multiplies with a native kernel; without it the plain dequantizing path runs. CI may
run on either kind of CPU, so the suite picks the branch itself: `DOCS2QA_BNB_CPU_PACKED=1|0`
(read by tests/conftest.py, and by sitecustomize.py beside this file in child processes).

On a CPU without the instruction the native packed kernel dies with SIGILL, and bitsandbytes
registers no CPU kernel for the packed layout (its default kernel silently reads it as the
plain layout: logits off by tens). `reference_packed_gemv` stands in for the native kernel
there: it unpacks the packed layout in plain torch and multiplies in bf16 as the kernel does, so
the repacking, its asserts and the packed dispatch all run for real.
"""

from __future__ import annotations

import os

ENV = "DOCS2QA_BNB_CPU_PACKED"
_state = {"kernel": False}


def requested() -> bool | None:
    """The branch asked for in the environment: True (packed), False (plain), None (the CPU decides)."""
    value = os.environ.get(ENV, "").strip()
    if value not in ("", "0", "1"):
        raise ValueError(f"{ENV} must be 1 (packed AVX512-BF16 path), 0 (plain path) or unset, not {value!r}")
    return None if value == "" else value == "1"


def reference_packed_gemv(A, B, shapeB, absmax, code, blocksize):
    """x @ W.T for a weight in `_convert_weight_packed_for_cpu`'s layout, in plain torch.

    The layout: B is [N, K/2] uint8 where each run of 32 bytes holds the low nibbles of 32 rows
    (one block of N) for one pair of columns, and their high nibbles hold the next column of the
    pair; absmax is [K / blocksize, N] in bf16.
    """
    import torch

    with torch.no_grad():  # the native kernel writes into a fresh tensor: no autograd graph either
        return _packed_gemv(A, B, shapeB, absmax, code, blocksize)


def _packed_gemv(A, B, shapeB, absmax, code, blocksize):
    import torch

    n, k = shapeB
    if B.dim() != 2 or absmax.dim() != 2:
        raise AssertionError("reference_packed_gemv only reads the packed CPU layout")
    packed = B.contiguous().view(torch.uint8).reshape(-1, 32)
    pairs = torch.cat([packed & 0xF, packed >> 4], dim=-1)  # [..., 64]: 32 low nibbles, then 32 high
    indices = pairs.reshape(n // 32, k // 2, 32, 2).transpose(1, 2).reshape(n, k).long()
    scales = absmax.float().t().repeat_interleave(blocksize, dim=1)  # [N, K]
    weight = (code.float()[indices] * scales).to(torch.bfloat16)
    out = torch.nn.functional.linear(A.to(torch.bfloat16).reshape(-1, k).float(), weight.float())
    return out.to(torch.bfloat16).reshape(*A.shape[:-1], n).to(A.dtype)


def _ensure_packed_kernel() -> None:
    """Register the reference kernel where bitsandbytes registered none (CPUs without AVX512-BF16)."""
    import torch
    from bitsandbytes.functional import has_avx512bf16

    if _state["kernel"] or has_avx512bf16():
        return
    torch.library.register_kernel("bitsandbytes::gemv_4bit", "cpu", reference_packed_gemv)
    _state["kernel"] = True


def set_packed(model, enabled: bool) -> int:
    """Choose the branch on every 4-bit layer of an already built model; return how many layers."""
    from bitsandbytes.nn import Linear4bit

    layers = [m for m in model.modules() if isinstance(m, Linear4bit)]
    if enabled:
        _ensure_packed_kernel()
    for layer in layers:
        layer.support_avx512bf16_for_cpu = enabled
    return len(layers)


def forcing_init(init, enabled: bool):
    """`Linear4bit.__init__` that takes the chosen branch (wrapping the original, never a wrapper)."""
    original = getattr(init, "_docs2qa_original", init)

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if enabled:
            _ensure_packed_kernel()
        self.support_avx512bf16_for_cpu = enabled

    __init__._docs2qa_original = original
    return __init__


def force_on_class(linear4bit_class, enabled: bool) -> None:
    """Every `Linear4bit` built from now on takes the chosen branch."""
    linear4bit_class.__init__ = forcing_init(linear4bit_class.__init__, enabled)


def force(enabled: bool) -> None:
    from bitsandbytes.nn.modules import Linear4bit

    force_on_class(Linear4bit, enabled)
