"""The evaluation's metrics against values worked out by hand (see each test)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model_export import _textmetrics as T
from model_export.evaluate import macro_auc, roc_auc, vote_scores


def test_bleu4_hand_computed():
    # 1-4-gram precisions 4/5, 3/4, 2/3, 1/2; hypothesis longer than reference: no penalty.
    got = T.corpus_bleu(["sinus rhythm normal ecg today"], ["Sinus rhythm, normal ECG."])
    assert got == pytest.approx((0.8 * 0.75 * (2 / 3) * 0.5) ** 0.25)


def test_bleu4_brevity_penalty_and_zero():
    assert T.corpus_bleu(["a b c d"], ["a b c d e f g h"]) == pytest.approx(math.exp(1 - 8 / 4))
    # No 4-gram in common: BLEU-4 is 0 without smoothing.
    assert T.corpus_bleu(["the cat is on the mat"], ["the cat sat on the mat"]) == 0.0


def test_rouge_l_lcs_f_measure():
    assert T.rouge_l("a b c d", "a c d e") == pytest.approx(0.75)
    assert T.rouge_l("", "a") == 0.0


def test_meteor_exact_matches_and_fragmentation():
    assert T.meteor("a b c d", "a b c d") == pytest.approx(1 - 0.5 * (1 / 4) ** 3)
    assert T.meteor("a b c d", "c d a b") == pytest.approx(1 - 0.5 * (2 / 4) ** 3)
    assert T.meteor("x y", "a b") == 0.0


def test_roc_auc_matches_pair_counting():
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    labels = np.array([0, 0, 1, 1])
    assert roc_auc(scores, labels) == pytest.approx(0.75)
    assert roc_auc(np.array([0.5, 0.5]), np.array([0, 1])) == pytest.approx(0.5)
    assert math.isnan(roc_auc(scores, np.zeros(4)))


def test_vote_scores_weight_by_similarity_and_macro_auc_leaves_out_one_class():
    gallery = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.uint8)
    nb = np.array([[0, 1], [2, 1]])
    sims = np.array([[0.9, 0.1], [0.5, -0.2]])
    votes = vote_scores(nb, sims, gallery)
    assert votes[0] == pytest.approx([0.9 / 1.0, 0.1 / 1.0], abs=1e-5)
    assert votes[1] == pytest.approx([1.0, 1.0], abs=1e-5)  # negative similarity counts 0
    auc, per, left_out = macro_auc(votes, np.array([[0, 0], [1, 0]]), ["A", "B"])
    assert left_out == ["B"] and per == {"A": pytest.approx(1.0)} and auc == pytest.approx(1.0)
