"""Plausible wrong answers to the your-turn exercises of lessons 07-13, each code that replaces the starting cell.

Every one must FAIL its check with the check's own message and hint (`tests/test_exercises_lessons07_13.py` runs
them through `tests/test_exercises.py`'s `_run`). A plain data module, so that `tests/test_exercises.py` can merge it
into its WRONG_ANSWERS without importing a test module.
"""

from __future__ import annotations

WRONG_ANSWERS_07_13: dict[str, list[str]] = {
    "07.1": [
        # the scale forgotten: alpha instead of alpha / r (seed 003's mistake)
        "def lora_forward_by_hand(x, W, A, B, alpha, r):\n    return x @ W.T + alpha * (x @ A.T) @ B.T\n",
        # W not transposed: right on square layers only
        "def lora_forward_by_hand(x, W, A, B, alpha, r):\n    return x @ W + (alpha / r) * (x @ A.T) @ B.T\n",
    ],
    "07.2": [
        "def lora_params_by_hand(d, k, r):\n    return d * k\n",                 # the full layer
        "def lora_params_by_hand(d, k, r):\n    return 2 * r * d\n",             # as if the layer were square
    ],
    "07.3": [
        # forgot the transpose: silently wrong on the square layer, raises on the others
        "def merge_conv1d_by_hand(weight, A, B, alpha, r):\n    return weight + (alpha / r) * (B @ A)\n",
        # transposed the weight instead of the update: returns nn.Linear's layout
        "def merge_conv1d_by_hand(weight, A, B, alpha, r):\n    return weight.T + (alpha / r) * (B @ A)\n",
    ],
    "08.1": [
        "def matches_by_hand(name, target):\n    return name.endswith(target)\n",     # "proj" would match c_proj
        "def matches_by_hand(name, target):\n    return target in name\n",            # "attn" would match attn.c_attn
        "def matches_by_hand(name, target):\n    return name.split('.')[-1] == target\n",  # no qualified targets
    ],
    "08.2": [
        "my_guess_c_proj = 4 * 8 * (256 + 256)\n",          # the attention c_proj only
        "my_guess_c_proj = 4 * 8 * (1024 + 256)\n",         # the MLP c_proj only
    ],
    "09.1": [
        # sigma instead of sigma squared: a share of the singular values, not of the energy
        "def energy_share_by_hand(matrix, k):\n    s = torch.linalg.svdvals(matrix)\n"
        "    return (s[:k].sum() / s.sum()).item()\n",
        # eigvalsh sorts ascending: the k SMALLEST directions
        "def energy_share_by_hand(matrix, k):\n    e = torch.linalg.eigvalsh(matrix.T @ matrix)\n"
        "    return (e[:k].sum() / e.sum()).item()\n",
    ],
    "09.2": [
        "my_ratio_alpha_fixed = 0.25\nmy_ratio_alpha_2r = 1.0\n",     # the scale alpha / r alone
        "my_ratio_alpha_fixed = 1.0\nmy_ratio_alpha_2r = 1.0\n",      # "alpha = 2r keeps the step"
    ],
    "12.1": [
        # no re-quantization: what a merge into a 16-bit copy of the NF4 base would keep
        "def merged_4bit_weight_by_hand(W, delta):\n"
        "    return dequantize_nf4(*quantize_nf4(W, 64), W.shape, 64) + delta\n",
        # quantizes the original W + delta: the 4-bit model never held W itself
        "def merged_4bit_weight_by_hand(W, delta):\n"
        "    return dequantize_nf4(*quantize_nf4(W + delta, 64), W.shape, 64)\n",
    ],
    "12.2": [
        # 4 bits flat: the block scales forgotten
        "def qlora_bytes_by_hand(n_linear, n_other, n_adapter):\n"
        "    return (n_linear * 4 + n_other * 16 + n_adapter * 32) / 8\n",
        # the embeddings quantized too
        "def qlora_bytes_by_hand(n_linear, n_other, n_adapter):\n"
        "    return (n_linear + n_other) * (4 + 8 / 64 + 32 / (64 * 256)) / 8 + n_adapter * 4\n",
    ],
}
