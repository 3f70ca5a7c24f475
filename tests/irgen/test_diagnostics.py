"""What IRGen's identifiers are worth (methods/irgen/diagnostics.py): images per identifier, the
tree's fan-out, beams off the tree, and the perfect-decoder ranking."""
import itertools

import numpy as np
import torch

from methods.irgen.beam_search import beam_search, expand_with_scores
from methods.irgen.diagnostics import (beam_rows, beam_tallies, identifier_rows, leaf_of, own_found_rows,
                                       own_identifier_ranking)
from methods.irgen.prefix_tree import PrefixTree
from tests.irgen.test_beam_search import random_decoder, random_memory

# 7 database images, 4 identifiers: (0, 1) x3, (0, 2) x1, (2, 0) x2, (3, 3) x1
CODES = np.array([[0, 1], [2, 0], [0, 1], [3, 3], [0, 2], [0, 1], [2, 0]])
VOCAB = 4


def test_images_per_identifier_and_fan_out():
    rows = {(m, k): v for m, k, v in identifier_rows(PrefixTree.build(CODES, VOCAB), [1, 2])}
    assert rows[("id_images_mean", 0)] == 7 / 4 and rows[("id_images_max", 0)] == 3
    assert rows[("id_share_over_k", 1)] == 5 / 7  # (0, 1) and (2, 0) hold more than one image
    assert rows[("id_share_over_k", 2)] == 3 / 7
    assert rows[("id_fanout_mean", 1)] == 3 and rows[("id_fanout_max", 1)] == 3  # tokens 0, 2, 3 first
    assert rows[("id_fanout_mean", 2)] == 4 / 3 and rows[("id_fanout_max", 2)] == 2  # 0 -> 1, 2


def test_leaf_of_finds_the_tree_s_identifiers_only():
    tree = PrefixTree.build(CODES, VOCAB)
    leaves = leaf_of(torch.tensor([[0, 1], [0, 2], [2, 0], [3, 3], [1, 1], [0, 3], [-1, -1]]), tree)
    assert leaves.tolist() == [0, 1, 2, 3, -1, -1, -1]


def test_constrained_search_ends_on_the_tree_and_an_unconstrained_one_does_not():
    tree = PrefixTree.build(CODES, VOCAB)
    decoder, memory = random_decoder(0, VOCAB, 2), random_memory(0, 5)
    codes, _, _ = beam_search(decoder, memory, tree, beam=6)  # more beams than identifiers: 2 stay empty
    constrained = beam_tallies(codes, tree)
    assert constrained == {"beams": 5 * 4, "beams_invalid": 0, "beams_repeated": 0}
    # unconstrained: the same search over every one of the 16 codes, judged against the database's tree
    everything = PrefixTree.build(np.array(list(itertools.product(range(VOCAB), repeat=2))), VOCAB)
    free, _, _ = beam_search(decoder, memory, everything, beam=6)
    tallies = beam_tallies(free, tree)
    assert tallies["beams"] == 30 and tallies["beams_invalid"] > 0
    rows = dict((m, v) for m, _, v in beam_rows(tallies))
    assert rows["id_beams_invalid"] == tallies["beams_invalid"] / 30 > 0


def test_repeated_beams_are_counted():
    tree = PrefixTree.build(CODES, VOCAB)
    codes = torch.tensor([[[0, 1], [0, 1], [2, 0], [-1, -1]], [[3, 3], [1, 1], [3, 3], [3, 3]]])
    assert beam_tallies(codes, tree) == {"beams": 7, "beams_invalid": 1, "beams_repeated": 3}
    assert np.isnan(beam_rows({})[0][2])


def test_own_identifier_ranking_is_what_a_decoder_writing_the_query_s_identifier_returns():
    tree = PrefixTree.build(CODES, VOCAB)
    # leaf order: (0,1): 0 2 5 | (0,2): 4 | (2,0): 1 6 | (3,3): 3
    ranking = own_identifier_ranking(np.array([[0, 1], [3, 3], [0, 3], [1, 1]]), tree, 5)
    assert ranking.tolist() == [[0, 2, 5, 4, 1],  # its identifier's images, then those sharing its first token
                                [3, 0, 2, 5, 4],  # then the rest, in the tree's order
                                [0, 2, 5, 4, 1],  # (0, 3) is no database identifier: the prefix (0,) answers
                                [0, 2, 5, 4, 1]]  # no database identifier starts with 1: the root answers
    assert own_identifier_ranking(np.array([[2, 0]]), tree, 9).tolist() == [[1, 6, 0, 2, 5, 4, 3, -1, -1]]
    rows = own_found_rows(np.array([[0, 1], [3, 3], [0, 3], [1, 1]]), tree)
    assert rows == [("id_own_found", 0, 0.5)]


def test_own_identifier_ranking_agrees_with_a_python_loop():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 5, (60, 3))
    tree = PrefixTree.build(codes, 5)
    queries = rng.integers(0, 5, (40, 3))
    order = np.lexsort(codes.T[::-1])  # the tree's order: lexicographic, ties in database order
    for q, got in zip(queries, own_identifier_ranking(queries, tree, 25)):
        shared = np.array([np.argmin(np.r_[c == q, False]) for c in codes])  # common prefix length
        expected = sorted(order, key=lambda i: -shared[i])[:25]  # stable: the tree's order within a length
        assert got.tolist() == expected


def test_items_carry_the_score_of_the_beam_that_returned_them():
    tree = PrefixTree.build(CODES, VOCAB)
    leaves = torch.tensor([[0, 2, -1], [3, 1, 0]])  # leaf 0 holds 3 images, 2 holds 2, 3 and 1 one each
    scores = torch.tensor([[-0.5, -1.5, float("-inf")], [-0.1, -0.2, -0.3]])
    items, item_scores = expand_with_scores(leaves, scores, tree, 6)
    assert items.tolist() == [[0, 2, 5, 1, 6, -1], [3, 4, 0, 2, 5, -1]]
    expected = scores[torch.tensor([[0], [1]]), torch.tensor([[0, 0, 0, 1, 1, 2], [0, 1, 2, 2, 2, 2]])]
    expected[1, 5] = float("-inf")  # no item: the worst score
    assert torch.equal(item_scores, expected)
