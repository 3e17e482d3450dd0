"""The core, the middle band: the machinery two or more notebooks share. Imports only plumbing.

| module | holds | introduced in |
| --- | --- | --- |
| ``masked`` | masked layers (Linear, Conv1d/2d, RNN/GRU/LSTM): one mask mechanism, hard and soft | 00 |
| ``masks`` | whole-model mask operations: convert, report, keep after steps, fold, export | 00 |
| ``prune`` | magnitude (layer-wise, global), random, IMP with rewinding, gradual (cubic) pruning | 00, 01 |
| ``train`` | ``fit``/``evaluate``/``predict``: AMP, ``torch.compile``, callbacks, history | 00 |
| ``metrics`` | accuracy, parameter and FLOP counts, latency, the one-line summary | 00 |
| ``models`` | MLP, CNN1d, CNN2d, RNNClassifier, TinyGPT | 00 |
| ``data`` | offline data: mnist1d, digits, pydoc text, synthetic tasks | 00 |
| ``regularize`` | loss penalties (L1 on soft masks, ...) | 02 |
| ``activations`` | activation recording and dead-neuron rates | 04 |
| ``distill`` | knowledge distillation of a student from a teacher | 06 |

A paper module's code moves down here when a second notebook needs it.
"""
