"""What IRGen's identifiers are worth, apart from the model that writes them (rows named ``id_*``):

- ``id_images_mean``, ``id_images_max``: database images per identifier (the tree's leaves);
  ``id_share_over_k`` (k = K): the share of the database in identifiers holding more than K
  images, whose top K one beam fills with a single identifier's images, in database order;
- ``id_fanout_mean``, ``id_fanout_max`` (k = level 1..T): children per node of the prefix tree
  at each level, the first token's at level 1;
- ``id_beams_invalid``, ``id_beams_repeated``: of a search's beams (empty ones, where the tree
  holds fewer identifiers than the beam, not counted), the share that ends on an identifier no
  database image has, and the share that repeats an earlier beam of its query. Beam search
  constrained to the tree gives 0 for both; a search that is not (``beam_tallies`` reads codes
  from any search) need not.

``own_identifier_ranking`` is the perfect-decoder bound's ranking: each query answered by the
identifier the tokenizer itself gives the query image, as a decoder that writes exactly that
identifier would answer under the tree's constraint: the images of that identifier (in database
order), then, where they are fewer than K or no database image has it, the images sharing its
longest prefix that the tree holds, then shorter ones. ``id_own_found`` is the share of queries
whose own identifier some database image has.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .beam_search import expand_to_items
from .prefix_tree import PrefixTree


def leaf_of(codes: Tensor, tree: PrefixTree) -> Tensor:
    """codes (N, M) long (-1: none) -> the leaf id of each identifier, -1 where the tree lacks it."""
    node = torch.zeros(len(codes), dtype=torch.long, device=codes.device)
    for level in range(tree.seq_len):
        node = tree.child(node, codes[:, level])
    return torch.where(node >= 0, node - tree.first_leaf, -1)


def identifier_rows(tree: PrefixTree, ks: list[int]) -> list[tuple[str, int, float]]:
    """Images per identifier and the tree's fan-out at each level (module doc)."""
    sizes = np.diff(tree.leaf_ptr.cpu().numpy())
    rows = [("id_images_mean", 0, float(sizes.mean())), ("id_images_max", 0, float(sizes.max()))]
    rows += [("id_share_over_k", k, float(sizes[sizes > k].sum() / sizes.sum())) for k in ks]
    child_ptr, start = tree.child_ptr.cpu().numpy(), tree.level_start
    for level in range(tree.seq_len):
        children = np.diff(child_ptr[start[level]:start[level + 1] + 1])
        rows += [("id_fanout_mean", level + 1, float(children.mean())),
                 ("id_fanout_max", level + 1, float(children.max()))]
    return rows


def beam_tallies(codes: Tensor, tree: PrefixTree) -> dict[str, int]:
    """codes (B, beam, M) of a search's beams (-1: an empty beam) -> counts of the beams, of those
    ending off the tree (``beams_invalid``) and of those repeating an earlier beam of their query."""
    b, beam, m = codes.shape
    live = ~(codes < 0).all(dim=2)  # (B, beam)
    invalid = (leaf_of(codes.reshape(-1, m), tree) < 0).view(b, beam) & live
    same = (codes[:, :, None, :] == codes[:, None, :, :]).all(dim=3)  # (B, beam, beam)
    earlier = torch.ones(beam, beam, dtype=torch.bool, device=codes.device).tril(-1)
    repeated = (same & earlier).any(dim=2) & live
    return {"beams": int(live.sum()), "beams_invalid": int(invalid.sum()), "beams_repeated": int(repeated.sum())}


def beam_rows(tallies: dict[str, int]) -> list[tuple[str, int, float]]:
    """The shares of ``beam_tallies``' counts (NaN without any beam)."""
    beams = tallies.get("beams", 0)
    share = (lambda n: n / beams) if beams else (lambda n: float("nan"))  # noqa: E731
    return [("id_beams_invalid", 0, share(tallies.get("beams_invalid", 0))),
            ("id_beams_repeated", 0, share(tallies.get("beams_repeated", 0)))]


def own_found_rows(query_codes: np.ndarray, tree: PrefixTree) -> list[tuple[str, int, float]]:
    """``id_own_found``: the share of queries whose own identifier some database image has."""
    codes = torch.as_tensor(np.asarray(query_codes), dtype=torch.long, device=tree.device)
    return [("id_own_found", 0, float((leaf_of(codes, tree) >= 0).float().mean()))]


def own_identifier_ranking(query_codes: np.ndarray, tree: PrefixTree, k: int) -> np.ndarray:
    """(n_queries, k) ids: what a decoder that writes each query's own identifier returns under the
    tree's constraint (module doc): the images sharing the query's whole identifier, then those
    sharing all but its last token, and so on up to the root; within one shared length, the tree's
    (lexicographic) order. -1 beyond the database."""
    codes = torch.as_tensor(np.asarray(query_codes), dtype=torch.long, device=tree.device)
    low, high = _prefix_ranges(codes, tree)  # (n, T + 1) each: the items under the query's prefix of each length
    items = tree.leaf_items.cpu().numpy()
    out = np.full((len(codes), k), -1, dtype=np.int64)
    for q in range(len(codes)):
        inner = (low[q, -1], low[q, -1])  # the whole-identifier range comes first, then each ring around it
        parts = []
        for lo, hi in zip(low[q, ::-1], high[q, ::-1]):
            parts += [np.arange(lo, inner[0]), np.arange(inner[1], hi)]
            inner = (lo, hi)
            if hi - lo >= k:
                break
        found = np.concatenate(parts)[:k]
        out[q, :len(found)] = items[found]
    return out


def _prefix_ranges(codes: Tensor, tree: PrefixTree) -> tuple[np.ndarray, np.ndarray]:
    """The positions [low, high) in ``tree.leaf_items`` of the images whose identifier starts with
    each query's first d tokens, d = 0..T: (n, T + 1) each, nested; an empty range where no database
    identifier has that prefix (placed at the start of the range around it)."""
    n, m = len(codes), tree.seq_len
    node = torch.zeros(n, dtype=torch.long, device=codes.device)
    low = torch.zeros(n, m + 1, dtype=torch.long, device=codes.device)
    high = torch.full((n, m + 1), tree.n_items, dtype=torch.long, device=codes.device)
    for level in range(m):
        node = tree.child(node, codes[:, level])
        left, right = node.clamp(min=0), node.clamp(min=0)
        for _ in range(level + 1, m):  # down to the leftmost and the rightmost leaf under the node
            left, right = tree.child_ptr[left], tree.child_ptr[right + 1] - 1
        # (the clamp: a query off the tree walks from the root, its range masked below)
        lo = tree.leaf_ptr[(left - tree.first_leaf).clamp(min=0)]
        hi = tree.leaf_ptr[(right - tree.first_leaf + 1).clamp(min=0)]
        present = node >= 0
        low[:, level + 1] = torch.where(present, lo, low[:, level])
        high[:, level + 1] = torch.where(present, hi, low[:, level])
        node = torch.where(present, node, -1)
    return low.cpu().numpy(), high.cpu().numpy()
