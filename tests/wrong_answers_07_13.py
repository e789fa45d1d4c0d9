"""Plausible wrong answers to the your-turn exercises of lessons 07-13, each code that replaces the starting cell.

Every one must FAIL its check with the check's own message and hint (`tests/test_exercises.py` runs
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
    "10.1": [
        # GiB (1024**3) where GB (10**9) is asked
        "def weights_gb_by_hand(n_params, dtype):\n"
        "    return n_params * torch.tensor([], dtype=dtype).element_size() / 2**30\n",
        # bits, not bytes
        "def weights_gb_by_hand(n_params, dtype):\n    return n_params * torch.finfo(dtype).bits / 1e9\n",
    ],
    "10.2": [
        "def training_bytes_by_hand(n_params, n_trainable):\n    return 16 * n_params\n",   # LoRA as full
        # the model counted twice in a full fine-tune: frozen copy + trainable copy
        "def training_bytes_by_hand(n_params, n_trainable):\n    return 4 * n_params + 16 * n_trainable\n",
    ],
    "10.3": [
        # one byte per value for m and v, nothing else counted
        "def adam_state_bytes_by_hand(n_values, eight_bit):\n    return (2 if eight_bit else 8) * n_values\n",
        # whole blocks only (floor), and the 4,096 threshold read as 'at most'
        "def adam_state_bytes_by_hand(n_values, eight_bit):\n    if not eight_bit or n_values <= 4096:\n"
        "        return 8 * n_values\n    return 2 * (n_values + 4 * (n_values // 256) + 256 * 4)\n",
        # every tensor quantized, small ones too
        "import math\ndef adam_state_bytes_by_hand(n_values, eight_bit):\n    if not eight_bit:\n        return 8 * n_values\n"
        "    return 2 * (n_values + 4 * math.ceil(n_values / 256) + 256 * 4)\n",
    ],
    "11.1": [
        # truncation toward zero instead of rounding
        "def absmax_int8_by_hand(x):\n    scale = x.abs().max().item() / 127\n"
        "    return (x / scale).to(torch.int8), scale\n",
        # the largest VALUE, not the largest magnitude
        "def absmax_int8_by_hand(x):\n    scale = x.max().item() / 127\n"
        "    return torch.round(x / scale).to(torch.int8), scale\n",
    ],
    "11.2": [
        # the block not scaled into [-1, 1] before the lookup
        "def nearest_codes_by_hand(block, codebook):\n"
        "    codes = (block[:, None] - codebook[None, :]).abs().argmin(dim=1)\n"
        "    return codes, block.abs().max().item()\n",
        # argmin over the wrong axis: one code per level instead of one per value
        "def nearest_codes_by_hand(block, codebook):\n    absmax = block.abs().max()\n"
        "    codes = (block[:, None] / absmax - codebook[None, :]).abs().argmin(dim=0)\n"
        "    return codes, absmax.item()\n",
    ],
    "11.3": [
        "def pack_by_hand(codes):\n    return codes[0::2] | (codes[1::2] << 4)\n",           # nibbles swapped
        "def pack_by_hand(codes):\n    n = len(codes) // 2\n    return (codes[:n] << 4) | codes[n:]\n",  # halves
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
    "13.1": [
        # the final EOS masked like padding: the common recipe's mistake
        "def example_by_hand(prompt_ids, answer_ids, eos_id):\n"
        "    return [*prompt_ids, *answer_ids, eos_id], [-100] * len(prompt_ids) + [*answer_ids, -100]\n",
        # labels shifted by hand (the model shifts them itself)
        "def example_by_hand(prompt_ids, answer_ids, eos_id):\n    ids = [*prompt_ids, *answer_ids, eos_id]\n"
        "    return ids, [-100] * (len(prompt_ids) - 1) + [*answer_ids, eos_id, -100]\n",
    ],
    "13.2": [
        # the stop token dropped instead of kept
        "def greedy_step_by_hand(logits, new_ids, stop_ids, max_new_tokens):\n    token = int(logits.argmax())\n"
        "    if token in stop_ids:\n        return True\n    new_ids.append(token)\n"
        "    return len(new_ids) >= max_new_tokens\n",
        # off by one: one token past the budget
        "def greedy_step_by_hand(logits, new_ids, stop_ids, max_new_tokens):\n    token = int(logits.argmax())\n"
        "    new_ids.append(token)\n    return token in stop_ids or len(new_ids) > max_new_tokens\n",
    ],
    "13.3": [
        # the crossing token dropped: cumulative sum <= p
        "def top_p_by_hand(probs, p):\n    sorted_probs, order = probs.sort(descending=True)\n"
        "    keep = torch.zeros_like(probs)\n    keep[order] = (sorted_probs.cumsum(0) <= p).to(probs.dtype)\n"
        "    return probs * keep / (probs * keep).sum()\n",
        # not renormalised
        "def top_p_by_hand(probs, p):\n    sorted_probs, order = probs.sort(descending=True)\n"
        "    keep = torch.zeros_like(probs)\n"
        "    keep[order] = (sorted_probs.cumsum(0) - sorted_probs < p).to(probs.dtype)\n    return probs * keep\n",
    ],
    "13.4": [
        # a space after the final "Answer:": the answer's first token carries its own space
        "def few_shot_prompt_by_hand(shots, question):\n"
        "    return ''.join(f'Question: {q}\\nAnswer: {a}\\n' for q, a in shots) + f'Question: {question}\\nAnswer: '\n",
        # the worked examples run together: no newline after each answer
        "def few_shot_prompt_by_hand(shots, question):\n"
        "    return ''.join(f'Question: {q}\\nAnswer: {a}' for q, a in shots) + f'Question: {question}\\nAnswer:'\n",
    ],
}
