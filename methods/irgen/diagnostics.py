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
identifier the tokenizer itself gives the query image, its images in database order, nothing
when no database image has it.
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


def own_identifier_ranking(query_codes: np.ndarray, tree: PrefixTree, k: int) -> np.ndarray:
    """(n_queries, k) ids: the images of each query's own identifier (module doc), -1 beyond them."""
    codes = torch.as_tensor(np.asarray(query_codes), dtype=torch.long, device=tree.device)
    leaves = leaf_of(codes, tree)[:, None]  # (n, 1): one beam, the tokenizer's own
    return expand_to_items(leaves, tree, k).cpu().numpy().astype(np.int64)
