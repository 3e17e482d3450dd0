"""Sparsity Notebooks helpers: the machinery every notebook shares, one module per idea.

| module | holds |
| --- | --- |
| ``masked`` | masked layers (Linear, Conv1d/2d, RNN/GRU/LSTM): one mask mechanism, hard and soft |
| ``masks`` | whole-model mask operations: convert, report, keep after steps, fold, export |
| ``prune`` | magnitude (layer-wise, global), random, IMP rewinding, gradual (cubic) pruning |
| ``metrics`` | accuracy, parameter and FLOP counts, latency, the one-line summary |
| ``train`` | ``fit``/``evaluate``, devices, seeds, AMP, callbacks |
| ``models`` | MLP, CNN1d, CNN2d, RNNClassifier, TinyGPT |
| ``data`` | offline data: mnist1d, digits, pydoc text, synthetic tasks |
| ``plots``, ``widgets``, ``results``, ``params`` | figures, explorers, atomic results I/O, parameter checks |
"""

__version__ = "0.1.0"
