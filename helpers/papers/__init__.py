"""Papers, the top band: one module or subpackage per notebook, named after it.

Each imports the core and plumbing; nothing imports a paper module, and paper modules do not import
each other (checked by import-linter in ``make test``). When a second notebook needs a piece of one,
that piece moves down into ``helpers.core``.

| module | notebook |
| --- | --- |
| ``masks_and_magnitude_pruning`` | 00 · the size of weights at pruned positions (the optimizer trap) |
| ``lottery_tickets`` | 01 · per-layer pruning rates, the random-mask control, the early-stopping iteration |
| ``continuous_sparsification`` | 02 · soft-mask ticket search (Savarese et al., 2020) |
| ``structured_continuous_sparsification`` | 03 · channel and layer gates that grow and prune networks |
| ``activating_while_pruning`` | 04 · Activate-while-Pruning: dead-neuron rates and AP scores |
| ``robust_sparse_training`` | 05 · quantizers, STE, sparsity as quantization, the ridge de-quantizer |
| ``n2n_rl_compression`` | 06 · the N2N REINFORCE policy that removes and shrinks layers |
| ``sparse_rnns`` (``grammars``, ``graphs``) | 07 · Reber strings; random-graph recurrent masks |
| ``geometric_sparsification`` (``navigation``, ``geometric``) | 08 · path integration; moduli regularization |
| ``modular_growth`` | 09 · modular growth of RNNs along an N-parity curriculum |
| ``prosparse_activation_sparsity`` | 10 · ReLU substitution and progressive activation L1 in a gated FFN |
| ``hash_encoders`` | 11 · activation codes as hashes: redundancy, code k-NN, stacked one-hidden-layer MLPs |
| ``nonlinearity_geometry`` | 12 · Tanh vs ReLU representational geometry: clustered tasks, parallelism, CCGP |
| ``matryoshka_representations`` | 13 · nested heads (separate and tied), the Matryoshka loss, adaptive retrieval |
| ``tversky_projection`` | 14 · the Tversky projection layer (feature-bank similarity), XOR and digits heads |
| ``relu_kan`` | 15 · ReLU-KAN and AF-KAN layers, parameter budgets, hand-counted FLOPs |
"""
