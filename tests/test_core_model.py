"""The architecture: window slicing, any length without seq_len, tsai conventions, clear errors for bad input."""
import pytest
import torch

from tsai_timemae.all import TimeMAE
from conftest import SMALL


def test_window_slicing_is_one_shared_conv_with_zero_padding():
    m = TimeMAE(3, 2, window=8, d_model=16, n_layers=1, n_heads=2)
    conv = m.backbone.patch_embed.proj
    assert (conv.kernel_size, conv.stride) == ((8,), (8,))
    x = torch.randn(2, 3, 20)                                  # 20 steps -> padded to 24 -> 3 patches
    tokens = m.backbone.patchify(x)
    assert tokens.shape == (2, 3, 16)
    padded = torch.cat([x, torch.zeros(2, 3, 4)], -1)
    last = conv(padded[..., 16:24]).squeeze(-1)                # the last patch is the zero-padded window
    assert torch.allclose(tokens[:, 2], last, atol=1e-6)


def test_any_length_works_without_seq_len_and_output_is_logits():
    m = TimeMAE(9, 6).eval()
    for T in (8, 100, 128, 1000):
        assert m(torch.randn(2, 9, T)).shape == (2, 6)
    assert m.head_nf == 64 and hasattr(m, 'backbone') and hasattr(m, 'head')
    assert TimeMAE(9, None)(torch.randn(2, 9, 128)).shape == (2, 64)   # unlabelled: pooled features


def test_classification_is_mean_pooling_over_all_patches_then_linear():
    m = TimeMAE(2, 3, **SMALL).eval()
    x = torch.randn(4, 2, 50)
    feats = m.backbone(x)                                      # [bs, d_model, n_patches]
    assert feats.shape == (4, 32, 5)
    lin = m.head[-1]
    assert torch.allclose(m(x), lin(feats.mean(-1)), atol=1e-5)


def test_visible_encoder_uses_torch_transformer_layers():
    m = TimeMAE(2, 3)
    layers = m.backbone.encoder.layers
    assert len(layers) == 8 and all(isinstance(l, torch.nn.TransformerEncoderLayer) for l in layers)
    assert layers[0].self_attn.num_heads == 4 and layers[0].linear1.out_features == 256
    assert layers[0].dropout.p == 0.2


def test_custom_head_follows_tsai_convention():
    m = TimeMAE(2, 5, custom_head=lambda nf, c_out, seq_len: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(c_out)), **SMALL)
    assert m(torch.randn(3, 2, 40)).shape == (3, 5)


def test_works_through_tsai_entry_points(dls, basic_motions, splits, tmp_path):
    from tsai.all import TSClassification, TSClassifier, ts_learner
    learn = ts_learner(dls, TimeMAE, **SMALL)
    assert isinstance(learn.model, TimeMAE) and learn.model.c_in == 6 and learn.model.c_out == 4
    X, y = basic_motions[:2]
    clf = TSClassifier(X, y, splits=splits, tfms=[None, TSClassification()], arch=TimeMAE, arch_config=SMALL,
                       bs=10, path=tmp_path)
    clf.fit_one_cycle(1, 1e-3)
    probs, _, preds = clf.get_X_preds(X[:5])
    assert probs.shape == (5, 4) and len(preds) == 5


def test_bad_input_gives_clear_errors():
    m = TimeMAE(3, 2, window=8, d_model=16, n_layers=1, n_heads=2)
    with pytest.raises(ValueError, match='3-D.*x\\[:, None\\]'):
        m(torch.randn(4, 100))
    with pytest.raises(ValueError, match='c_in=3.*has 2'):
        m(torch.randn(4, 2, 100))
    with pytest.raises(ValueError, match='shorter than one window'):
        m(torch.randn(4, 3, 5))
    with pytest.raises(ValueError, match='NaN or inf'):
        x = torch.randn(4, 3, 100); x[1, 2, 3] = float('nan'); m(x)
    with pytest.raises(ValueError, match='NaN or inf'):
        x = torch.randn(4, 3, 100); x[0, 0, 0] = float('inf'); m(x)
    with pytest.raises(ValueError, match='max_seq_len'):
        TimeMAE(3, 2, window=8, max_seq_len=64)(torch.randn(1, 3, 100))
    with pytest.raises(ValueError, match='shorter than one window'):
        TimeMAE(3, 2, seq_len=4, window=8)
    with pytest.raises(ValueError, match='divisible'):
        TimeMAE(3, 2, d_model=30, n_heads=4)
