"""The attention slips lesson 2's text warns about, shared by q2 (one head, PyTorch) and q3 (the
whole layer, TensorFlow): each is ``variant(spec, **switches)`` of ``lesson2_layers`` with one
switch, so the wrong answer is exactly what that slip gives on the same weights.

An exercise that mixes ``AttentionSlips`` in declares ``variant(spec, **options)`` and
``framework``; its own ``@mistake`` methods are tried first, these after them.
"""
from __future__ import annotations

from course_utils.checking import mistake


class AttentionSlips:
    """The scale's size, the mask's direction and kind, c_attn's bias, the q/k/v split."""

    def head_width(self) -> int:
        config = self.ctx.model(self.framework).config
        return config.n_embd // config.n_head

    @mistake("You divided the scores by d_head itself; the scale is its square root, sqrt(d_head) "
             "(the scores' spread grows like sqrt(d_head), not d_head).")
    def scaled_by_d_head(self, spec):
        return self.variant(spec, scale=self.head_width() ** 2)

    @mistake("You multiplied the scores by sqrt(d_head); divide them by it (`/ math.sqrt(d_head)`, "
             "or `* d_head ** -0.5`).")
    def scale_multiplied(self, spec):
        return self.variant(spec, scale=1 / self.head_width())

    @mistake("Your mask is the wrong way round: it hides the past (below the diagonal) and shows the "
             "future. Query i may see keys 0..i: hide the keys *above* the diagonal "
             "(`triu(..., diagonal=1)`, or keep `tril`'s ones).")
    def mask_hides_the_past(self, spec):
        return self.variant(spec, mask="past")

    @mistake("Your mask hides the diagonal too (`triu(..., diagonal=0)`): each position must see "
             "itself. Position 0 then sees no key at all, its scores are all -inf, and the softmax "
             "of a row of -inf is NaN. Use `diagonal=1`.")
    def mask_hides_the_diagonal(self, spec):
        return self.variant(spec, mask="diagonal")

    @mistake("You set the future's scores to 0, not -inf: exp(0) = 1, so the future still gets "
             "weight. Fill them with -inf (`float('-inf')`) before the softmax.")
    def mask_fills_zero(self, spec):
        return self.variant(spec, mask="zero")

    @mistake("c_attn's bias is missing: the layer computes `x @ weight + bias`; call `c_attn(x)` "
             "(PyTorch) or add `h.0.attn.c_attn.bias` (TensorFlow).")
    def no_qkv_bias(self, spec):
        return self.variant(spec, bias=False)

    @mistake("Your keys and values are swapped: c_attn's three thirds are queries, keys, values, "
             "in that order (`q, k, v = ...split(n_embd, ...)`).")
    def keys_values_swapped(self, spec):
        return self.variant(spec, slicing="keys_values_swapped")

    @mistake("You read c_attn's output as one [q | k | v] block per head (a reshape to [seq, n_head, "
             "3 * d_head] before the split). GPT-2 puts every head's queries first (n_embd columns), "
             "then every key, then every value: split into thirds first, then into heads.")
    def split_per_head(self, spec):
        return self.variant(spec, slicing="per_head_thirds")
