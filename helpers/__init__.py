"""Sparsity Notebooks helpers: the machinery every notebook shares, one module per idea.

| module | holds | introduced in |
| --- | --- | --- |
| ``masked`` | masked layers (Linear, Conv1d/2d, RNN/GRU/LSTM): one mask mechanism, hard and soft | 00 |
| ``masks`` | whole-model mask operations: convert, report, keep after steps, fold, export | 00 |
| ``prune`` | magnitude (layer-wise, global), random, IMP with rewinding, gradual (cubic) pruning | 00, 01 |
| ``metrics`` | accuracy, parameter and FLOP counts, latency, the one-line summary | 00 |
| ``train`` | ``fit``/``evaluate``, devices, seeds, threads, AMP, ``torch.compile``, callbacks | 00 |
| ``models`` | MLP, CNN1d, CNN2d, RNNClassifier, TinyGPT | 00 |
| ``data`` | offline data: mnist1d, digits, pydoc text, synthetic tasks | 00 |
| ``notebook``, ``params``, ``results`` | a notebook's start and save, parameter checks, atomic results I/O | 00 |
| ``plots``, ``widgets`` | shared figures, slider explorers that also render headless | 00 |
| ``checkpoints`` | a model's weights and masks saved atomically, loaded with ``weights_only=True`` | all |
| ``continuous``, ``regularize`` | continuous sparsification (soft-mask ticket search); loss penalties | 02 |
| ``structured`` | structured channel and layer gates that grow and prune networks | 03 |
| ``activations``, ``activating`` | activation recording and dead-neuron rates; Activate-while-Pruning | 04 |
| ``quantize`` | quantizers, STE, sparsity as quantization, the ridge de-quantizer | 05 |
| ``distill``, ``policy`` | knowledge distillation; the N2N REINFORCE compression policy | 06 |
| ``grammars``, ``graphs`` | Reber strings; random-graph recurrent masks and their properties | 07 |
| ``navigation``, ``geometric`` | path integration task and RNN; moduli (geometric) regularization | 08 |
| ``modular`` | modular growth of RNNs along an N-parity curriculum | 09 |
"""

__version__ = "0.1.0"
