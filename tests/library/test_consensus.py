"""Consensus arithmetic: similarity-weighted shares and counts over the top k."""

from __future__ import annotations

import pytest

from desktop_app.library import DISCLAIMER, Statement, consensus


def _st(code, lik=None):
    return Statement(code, f"description of {code}", lik)


def test_consensus_weighted_share_and_count():
    sims = [0.9, 0.6, 0.3, -0.2]
    cases = [[_st("NORM", 100), _st("SR")], [_st("NORM", 80)], [_st("AFIB")], [_st("AFIB")]]
    result = consensus(zip(sims, cases))
    by_code = {it.code: it for it in result.items}
    total = 0.9 + 0.6 + 0.3 + 0.0  # a negative similarity gets no weight
    assert by_code["NORM"].count == 2
    assert by_code["NORM"].weighted_share == pytest.approx((0.9 + 0.6) / total)
    assert by_code["NORM"].mean_likelihood == pytest.approx(90.0)
    assert by_code["AFIB"].count == 2
    assert by_code["AFIB"].weighted_share == pytest.approx(0.3 / total)
    assert by_code["SR"].mean_likelihood is None
    assert [it.code for it in result.items] == ["NORM", "SR", "AFIB"]
    assert result.k == 4 and all(it.k == 4 for it in result.items)


def test_consensus_wording_is_neutral():
    result = consensus([(0.5, [_st("IMI")]), (0.4, [_st("NORM")]), (0.3, [_st("IMI")])])
    item = result.items[0]
    assert item.text == "2 of 3 similar cases carry this statement"
    assert "diagnos" not in item.text.lower()
    assert result.disclaimer == DISCLAIMER


def test_consensus_statement_listed_twice_counts_once():
    result = consensus([(1.0, [_st("NORM"), _st("NORM")]), (1.0, [])])
    assert result.items[0].count == 1
    assert result.items[0].weighted_share == pytest.approx(0.5)


def test_consensus_all_zero_weights_count_equally():
    result = consensus([(0.0, [_st("A")]), (-0.5, [_st("B")]), (0.0, [_st("A")])])
    shares = {it.code: it.weighted_share for it in result.items}
    assert shares == pytest.approx({"A": 2 / 3, "B": 1 / 3})


def test_consensus_free_text_statements_match_by_words():
    a = Statement("", "Brugada pattern", None, "clinic")
    b = Statement("", "brugada pattern ", None, "clinic")
    result = consensus([(0.8, [a]), (0.4, [b])])
    assert len(result.items) == 1 and result.items[0].count == 2


def test_consensus_empty():
    result = consensus([])
    assert result.items == () and result.k == 0
