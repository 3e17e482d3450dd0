"""The reference models: shapes, causality, and that every one can be masked."""

import pytest
import torch

from helpers import masks, models


@pytest.mark.parametrize(
    "model, x, out_shape",
    [
        (models.MLP([40, 16, 10]), torch.randn(3, 40), (3, 10)),
        (models.CNN1d(length=40, channels=4), torch.randn(3, 40), (3, 10)),
        (models.CNN2d(channels=4), torch.randn(3, 1, 8, 8), (3, 10)),
        (models.RNNClassifier(1, 8, 10, "gru"), torch.randn(3, 12), (3, 10)),
    ],
)
def test_shapes_and_masking_keep_outputs(model, x, out_shape):
    model.eval()
    dense_out = model(x)
    assert dense_out.shape == out_shape
    masked = masks.to_masked(model)
    torch.testing.assert_close(masked(x), dense_out, rtol=0, atol=0)


def test_tiny_gpt_is_causal_and_maskable():
    torch.manual_seed(0)
    gpt = models.TinyGPT(vocab_size=11, d_model=16, n_layers=2, n_heads=2, block_size=8).eval()
    idx = torch.randint(0, 11, (2, 8))
    logits = gpt(idx)
    assert logits.shape == (2, 8, 11)
    changed = idx.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 11  # change only the last token
    torch.testing.assert_close(gpt(changed)[:, :-1], logits[:, :-1])  # earlier positions unaffected
    masks.to_masked(gpt)
    names = [name for name, _, _ in masks.prunable_weights(gpt)]
    assert "blocks.0.attn.qkv.weight" in names and "head.weight" in names
    assert gpt.loss(idx, idx).item() > 0
    with pytest.raises(ValueError, match="block_size"):
        gpt(torch.zeros(1, 9, dtype=torch.long))


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="sizes"):
        models.MLP([40])
    with pytest.raises(ValueError, match="cell"):
        models.RNNClassifier(1, 4, 2, "transformer")
    with pytest.raises(ValueError, match="divisible"):
        models.TinyGPT(10, d_model=10, n_heads=3)
