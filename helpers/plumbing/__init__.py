"""Plumbing, the bottom band: what a notebook needs around its experiment. Imports nothing above it.

| module | holds | introduced in |
| --- | --- | --- |
| ``params`` | the argument checks every public function and notebook uses (clear ValueError/TypeError) | 00 |
| ``runtime`` | device ('auto' → cuda, mps, cpu), seeds, CPU threads, progress bars on or off, a model's train/eval mode for a block | 00 |
| ``verdicts`` | replicate measurements in, a verdict by one rule fixed before looking, with its numbers out | 00 |
| ``results`` | atomic writes, ``results.json``, figures, the fingerprint of a run | 00 |
| ``checkpoints`` | a model's weights and masks saved atomically, loaded with ``weights_only=True`` | 00 |
| ``notebook`` | a notebook's start (seed, device, threads, output folder) and save | 00 |
| ``plots``, ``widgets`` | shared figures; slider explorers that also render headless | 00 |
"""
