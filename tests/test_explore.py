"""The sliders' data and pictures (course_utils.explore), computed on the bundled model and held to
the references; and their static fallback where no widget can be shown."""
from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils import explore
from course_utils.reference import pt as ref

PROMPT = "The weather today is"


@pytest.fixture(scope="module")
def ids(tokenizer):
    return tokenizer.encode(PROMPT)


def test_no_filter_keeps_the_whole_vocabulary_and_the_model_distribution(pt_model, tokenizer, ids):
    view = explore.sampling_view(pt_model, tokenizer, ids)
    assert view["kept"] == view["vocab_size"] == 50257
    np.testing.assert_allclose(view["after"], view["before"], rtol=1e-5)
    probs = ref.next_token_probs(pt_model, ids).numpy()
    np.testing.assert_allclose(view["before"], np.sort(probs)[::-1][:explore.SHOWN], rtol=1e-5)
    assert view["tokens"][0] == repr(tokenizer.decode([int(probs.argmax())]))


@pytest.mark.parametrize("k", [1, 5, 40])
def test_top_k_keeps_k_tokens_renormalised(pt_model, tokenizer, ids, k):
    view = explore.sampling_view(pt_model, tokenizer, ids, top_k=k)
    assert view["kept"] == k
    kept = [p for p in view["after"] if p > 0]
    assert len(kept) == min(k, explore.SHOWN)
    if k <= explore.SHOWN:
        assert sum(kept) == pytest.approx(1.0, abs=1e-5)
        assert kept[0] == pytest.approx(view["before"][0] / sum(view["before"][:k]), rel=1e-5)


def test_top_p_and_temperature_match_the_reference_filters(pt_model, tokenizer, ids):
    import torch

    view = explore.sampling_view(pt_model, tokenizer, ids, temperature=0.7, top_p=0.8)
    logits = ref.top_p_filter(ref.apply_temperature(ref.next_token_logits(pt_model, ids), 0.7), 0.8)
    assert view["kept"] == int(torch.isfinite(logits).sum())
    cold = explore.sampling_view(pt_model, tokenizer, ids, temperature=0.3)
    hot = explore.sampling_view(pt_model, tokenizer, ids, temperature=2.0)
    assert cold["after"][0] > view["before"][0] > hot["after"][0]   # sharper, flatter


def test_figure_shows_both_distributions_on_a_log_scale(pt_model, tokenizer, ids):
    figure = explore.sampling_figure(explore.sampling_view(pt_model, tokenizer, ids, top_k=3))
    axes = figure.axes[0]
    assert axes.get_yscale() == "log"
    grey, blue = axes.containers
    assert len(grey) == len(blue) == explore.SHOWN
    drawn = [bar.get_height() for bar in blue]
    assert sum(not math.isnan(h) for h in drawn) == 3     # filtered tokens draw no bar
    assert "3 of 50,257" in axes.get_title()


def test_beam_rows_are_the_references(pt_model, tokenizer, ids):
    rows = explore.beam_rows(pt_model, tokenizer, ids, num_beams=3, max_new_tokens=6)
    assert [row["beams"] for row in rows] == [1, 3]
    greedy = ref.greedy_search(pt_model, ids, 6)
    beam, score = ref.beam_search(pt_model, ids, 3, 6)
    assert rows[0]["continuation"] == tokenizer.decode(greedy[len(ids):])
    assert rows[1]["continuation"] == tokenizer.decode(beam[len(ids):])
    assert rows[1]["mean log-prob"] == pytest.approx(score, abs=1e-3)


def test_without_a_kernel_the_explorers_draw_once_statically(pt_model, tokenizer, capsys):
    assert explore._widgets() is None            # no kernel here: the static fallback
    explore.explore_sampling(pt_model, tokenizer, PROMPT, top_k=5)
    explore.explore_beams(pt_model, tokenizer, PROMPT, num_beams=2, max_new_tokens=3)
    out = capsys.readouterr().out
    assert "Figure" in out and "continuation" in out
