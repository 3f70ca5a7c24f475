"""IRGen (paper section 3): a semantic tokenizer turns images into short identifiers, an
encoder-decoder writes the identifier of a query's nearest neighbours, and beam search
constrained to the database's prefix tree retrieves them. One file per part:
config, encoder, tokenizer, identifiers (and rqvae, the RQ-VAE-style kind's network), decoder,
prefix_tree, beam_search, trainer, method."""
