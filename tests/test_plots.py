"""plot_embeddings (t-SNE of the embeddings, coloured by class) and show_masks / mask_view (a series, its patches, the
masked ones and each masked patch's codeword), at tiny settings on BasicMotions, drawn with the Agg backend."""
import random
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from tsai_timemae.embeddings import get_embeddings  # noqa: E402
from tsai_timemae.plots import mask_view, plot_embeddings, show_masks  # noqa: E402
from tsai_timemae.tokenizers import raw_patches  # noqa: E402
from conftest import SMALL  # noqa: E402


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
    "A tiny pretraining learner with a frozen k-means tokenizer (deterministic codes), fitted for one epoch."
    from fastai.torch_core import set_seed
    from tsai.all import TSStandardize, get_ts_dls, ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from tsai_timemae.demo import load_basic_motions
    Xtr, ytr, Xte, yte = load_basic_motions()
    set_seed(0, reproducible=True)
    cb = TimeMAEPretrain(tokenizer='kmeans', vocab_size=8, n_decoder_layers=1, verbose=False,
                         target_dir=tmp_path_factory.mktemp('enc'))
    learn = ts_learner(get_ts_dls(Xtr, splits=(list(range(0, 40, 2)), list(range(1, 40, 2))),
                                  batch_tfms=[TSStandardize(by_var=True)], bs=10), TimeMAE, cbs=cb, **SMALL)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    return learn, Xte, yte


def test_plot_embeddings_colours_each_class_and_takes_a_model_too(pretrained):
    learn, X, y = pretrained
    fig, ax = plot_embeddings(learn, X, y)
    assert isinstance(fig, plt.Figure) and ax.tsne_points.shape == (40, 2) and np.isfinite(ax.tsne_points).all()
    classes = sorted(set(y))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == classes
    assert [len(c.get_offsets()) for c in ax.collections] == [int((y == c).sum()) for c in classes]
    for c, points in zip(classes, ax.collections):                          # each series in its own class's colour
        assert np.allclose(np.asarray(points.get_offsets()), ax.tsne_points[y == c])
    plt.close(fig)
    fig, ax2 = plt.subplots()
    X_std = (X - X.mean((0, 2), keepdims=True)) / X.std((0, 2), keepdims=True)
    f2, a2 = plot_embeddings(learn.model, X_std[:12], y[:12], ax=ax2, title='mine')   # a bare model, a given axis
    assert f2 is fig and a2 is ax2 and a2.get_title() == 'mine' and a2.tsne_points.shape == (12, 2)
    plt.close(fig)


def test_plot_embeddings_of_a_middle_block_maps_that_blocks_features(pretrained):
    "`layer=k`: the t-SNE of `get_embeddings(..., layer=k)`, the same points as mapping those features directly."
    from sklearn.manifold import TSNE
    learn, X, y = pretrained
    fig, ax = plot_embeddings(learn, X, y, layer=1, perplexity=10)
    want = TSNE(n_components=2, perplexity=10, init='pca', random_state=0).fit_transform(
        get_embeddings(learn, X, layer=1).astype(np.float64))
    assert np.allclose(ax.tsne_points, want)
    fig2, ax2 = plot_embeddings(learn, X, y, perplexity=10)
    assert not np.allclose(ax2.tsne_points, want)  # the last block's map is another one
    plt.close(fig); plt.close(fig2)
    with pytest.raises(ValueError, match='layer must be a whole number'):
        plot_embeddings(learn, X, y, layer=99)


def test_plot_embeddings_names_bad_input(pretrained):
    learn, X, y = pretrained
    with pytest.raises(ValueError, match='one label per series: X has 40 series and y 39'):
        plot_embeddings(learn, X, y[:-1])
    with pytest.raises(ValueError, match='at least 3 series'):
        plot_embeddings(learn, X[:2], y[:2])
    with pytest.raises(ValueError, match='perplexity must be between 0 and the number of series'):
        plot_embeddings(learn, X[:10], y[:10], perplexity=50)


def test_mask_view_is_the_training_mask_and_the_tokenizers_codes(pretrained):
    learn, X, _ = pretrained
    net = learn.cbs.filter(lambda c: type(c).__name__ == 'TimeMAEPretrain')[0].pretrainer
    state, py_state, training = torch.get_rng_state(), random.getstate(), net.training
    v = mask_view(learn, X, n=3, seed=1)
    assert torch.equal(torch.get_rng_state(), state) and net.training == training   # nothing left changed
    assert random.getstate() == py_state
    assert 'mask' not in vars(net)
    assert v['x'].shape == (3, 6, 100) and v['window'] == 10 and v['masked'].shape == (3, 10)
    assert (v['masked'].sum(1) == 6).all()                                          # mask_ratio 0.6 of 10 patches
    assert ((v['codes'] >= 0) == v['masked']).all() and v['codes'].max() < 8
    # each masked patch's codeword is what the tokenizer gives that patch of the (transformed) series
    x = torch.from_numpy(v['x'])
    with torch.no_grad():
        codes = net.tokenizer(raw_patches(x, 10).flatten(-2), net.backbone.patchify(x))[0].argmax(-1).numpy()
    assert np.array_equal(v['codes'][v['masked']], codes[v['masked']])
    again, other = mask_view(learn, X, n=3, seed=1), mask_view(learn, X, n=3, seed=2)
    assert np.array_equal(again['masked'], v['masked']) and not np.array_equal(other['masked'], v['masked'])


def test_show_masks_shades_and_labels_every_masked_patch(pretrained):
    learn, X, _ = pretrained
    fig, axs = show_masks(learn, X, n=2, seed=1, channels=[0, 3])
    v = mask_view(learn, X, n=2, seed=1)
    assert len(axs) == 2
    for i, ax in enumerate(axs):
        assert len(ax.lines) - sum(1 for l in ax.lines if l.get_color() == '0.8') == 2    # the two channels asked for
        assert len(ax.patches) == v['masked'][i].sum()                                     # one shaded span per masked patch
        assert sorted(t.get_text() for t in ax.texts) == sorted(str(c) for c in v['codes'][i][v['masked'][i]])
        # where: the span over each masked patch's steps, its codeword over its middle (not only how many, which codes)
        w, js = v['window'], np.flatnonzero(v['masked'][i])
        spans = sorted(tuple(np.round(_x_extent(p), 6)) for p in ax.patches)
        assert spans == [(j * w - .5, (j + 1) * w - .5) for j in js]
        assert sorted((round(t.get_position()[0], 6), t.get_text()) for t in ax.texts) == \
            sorted((round((j + .5) * w - .5, 6), str(v['codes'][i][j])) for j in js)
    plt.close(fig)


def _x_extent(patch) -> tuple:
    "The x range an `axvspan` covers (a Rectangle in newer matplotlib, a Polygon in older)."
    from matplotlib.patches import Rectangle
    if isinstance(patch, Rectangle): return patch.get_x(), patch.get_x() + patch.get_width()
    xs = np.asarray(patch.get_xy())[:, 0]
    return xs.min(), xs.max()


def test_show_masks_axes_can_be_walked_twice_and_bad_arguments_are_named(pretrained):
    learn, X, _ = pretrained
    fig, axs = show_masks(learn, X, n=2)
    assert [ax.get_title() for ax in axs] == [ax.get_title() for ax in axs] and len(list(axs)) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match=r'show_masks: the model was built for 6 channels \(variables\) but X has 3.*in the same order'):
        show_masks(learn, X[:, :3])                      # a raw broadcasting error inside the batch transform, before
    with pytest.raises(ValueError, match=r'n is how many series.*at least 1, got 0'):
        show_masks(learn, X, n=0)                        # a bare StopIteration, before
    with pytest.raises(ValueError, match=r"channels must be indices of the series' 6 channels \(0 to 5, or -6 to -1.*got \[7\]"):
        show_masks(learn, X, channels=[7])               # an IndexError, before
    with pytest.raises(ValueError, match=r'3-D array.*got shape \(\d+, 100\).*takes 6 channels: pass the series as \[samples, 6, steps\]'):
        show_masks(learn, X[:, 0])                       # one channel, no channel axis: `X[:, None]` would not fit a 6-channel model
    with pytest.raises(ValueError, match=r'names channel 0 more than once \(\[0, -6\]\)'):
        show_masks(learn, X, channels=[0, -6])           # drawn twice in two colours, as two channels, before
    fig, axs = show_masks(learn, X, n=1, channels=[-1])  # from the end, as numpy indexes
    assert 'green where predicted right' in axs[0].get_title()
    assert [l.get_label() for l in axs[0].lines if l.get_label().startswith('channel')] == ['channel 5']
    plt.close(fig)


def test_more_than_ten_classes_get_distinct_colours(pretrained):
    "matplotlib's cycle has 10 colours: the eleventh class would share the first one's."
    from matplotlib.colors import to_rgba
    from tsai_timemae.plots import class_colours
    for k in (4, 13, 25):
        colours = [to_rgba(c) for c in class_colours(k)]
        assert len(colours) == k and len(set(colours)) == k, k
    learn, X, _ = pretrained
    fig, ax = plot_embeddings(learn, X, np.arange(len(X)) % 13)
    assert len({tuple(c.get_facecolor()[0]) for c in ax.collections}) == 13
    plt.close(fig)


def test_show_masks_needs_a_pretraining_learner(dls):
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE
    learn = ts_learner(dls, TimeMAE, **SMALL)
    with pytest.raises(TypeError, match=r'pretraining learner.*TimeMAEPretrain\(\)'):
        show_masks(learn, np.zeros((2, 6, 100), np.float32))


def test_show_masks_before_any_fit_says_to_fit_first(udls):
    "The default k-means tokenizer has no codewords until pretraining starts: say so, not a tokenizer internals error."
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    learn = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(tokenizer='kmeans', vocab_size=8, verbose=False), **SMALL)
    with pytest.raises(RuntimeError, match=r'no codewords yet.*Fit the learner first'):
        show_masks(learn, np.zeros((2, 6, 100), np.float32))


def test_a_figure_that_fails_to_save_leaves_the_old_file_whole(tmp_path):
    "Regenerated plots go through `save_figure`: a failing write keeps the previous file and leaves no temporary."
    from tsai_timemae.weights import save_figure
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = save_figure(fig, tmp_path / 'plot.png')
    old = path.read_bytes()
    assert old[:4] == b'\x89PNG'
    fig.savefig = lambda *a, **k: (_ for _ in ()).throw(RuntimeError('disk full'))
    with pytest.raises(RuntimeError, match='disk full'):
        save_figure(fig, path)
    assert path.read_bytes() == old and [p.name for p in tmp_path.iterdir()] == ['plot.png']
    plt.close(fig)


def test_classes_keep_their_colours_across_plots_and_fastais_axes_are_taken(pretrained):
    """`classes=`: a class keeps its colour in a plot that lacks another class (train and test side by side); fastai's
    `subplots()` axes (an array of one) are taken; a class outside `classes`, several axes and one-hot labels are
    refused by name, before the t-SNE."""
    from fastai.vision.all import subplots
    from matplotlib.colors import to_rgba
    learn, X, y = pretrained
    classes = sorted(set(y))
    colour = lambda ax: {t.get_text(): to_rgba(c.get_facecolor()[0]) for t, c in zip(ax.get_legend().get_texts(), ax.collections)}
    fig, axs = plt.subplots(1, 2)
    plot_embeddings(learn, X, y, ax=axs[0], classes=classes)
    keep = y != classes[1]
    plot_embeddings(learn, X[keep], y[keep], ax=axs[1], classes=classes)
    left, right = colour(axs[0]), colour(axs[1])
    assert set(right) == set(classes) - {classes[1]} and all(right[c] == left[c] for c in right)
    plt.close(fig)
    fig, ax = subplots()  # fastai's: an array holding one axis
    f2, a2 = plot_embeddings(learn, X[:12], y[:12], ax=ax)
    assert a2 is ax.flat[0] and f2 is fig
    plt.close(fig)
    with pytest.raises(ValueError, match=r"labels that classes does not list: \['walking'\]"):
        plot_embeddings(learn, X, y, classes=classes[:-1] if classes[-1] == 'walking' else ['badminton', 'running', 'standing'])
    with pytest.raises(ValueError, match='an array of 2: pass one of them'):
        plot_embeddings(learn, X, y, ax=np.array(plt.subplots(1, 2)[1]))
    with pytest.raises(ValueError, match=r'y has shape \(40, 4\).*y.argmax\(1\)'):
        plot_embeddings(learn, X, np.eye(4)[np.arange(40) % 4])
    with pytest.raises(ValueError, match='40 distinct fractional values, a continuous target.*np.digitize'):
        plot_embeddings(learn, X, np.linspace(0, 1, 40))
    plt.close('all')


def test_many_classes_get_distinct_colours_without_wrapping_around():
    "Past tab20's 20 colours, the first and last class do not both come out red (a circle of hues)."
    from matplotlib.colors import to_rgb
    from tsai_timemae.plots import class_colours
    for k in (21, 40):
        rgb = np.array([to_rgb(c) for c in class_colours(k)])
        assert len({tuple(np.round(c, 3)) for c in rgb}) == k
        assert np.abs(rgb[0] - rgb[-1]).sum() > 0.5


def test_identical_series_and_two_dimensional_input_are_named_not_crashed(pretrained):
    """Identical series give identical embeddings, on which scikit-learn's t-SNE divides by zero (and can kill the
    process): refused first. A 2-D array gets the fix that fits the model: `X[None]` for one multivariate series."""
    from tsai_timemae.model import check_panel
    learn, X, y = pretrained
    with pytest.raises(ValueError, match='All 10 series have the same embedding'):
        plot_embeddings(learn, np.repeat(X[:1], 10, 0), y[:10])
    for fn in (lambda a: get_embeddings(learn, a), lambda a: plot_embeddings(learn, a, y[:6]), lambda a: mask_view(learn, a)):
        with pytest.raises(ValueError, match=r'one series of 6 channels: pass `X\[None\]`'):
            fn(X[0])
    with pytest.raises(ValueError, match=r'^plot_embeddings expects a 3-D array'):
        plot_embeddings(learn, X[:, 0], y)
    with pytest.raises(ValueError, match=r'`X\[:, None\]` for several univariate series'):
        check_panel(np.zeros((5, 20), np.float32), 'f')


def test_show_masks_says_what_is_drawn_padding_scaling_many_channels_and_drawn_codes(tmp_path):
    """The series are drawn after the batch transforms (the axis says so); a last patch that runs past the series is
    hatched as zero padding; past 10 channels each keeps its own colour and the legend stays; Gumbel codes are named as
    draws (they change with the seed)."""
    from fastai.torch_core import set_seed
    from tsai.all import TSStandardize, get_ts_dls, ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    X = np.random.default_rng(0).normal(5, 3, (20, 12, 45)).astype('float32')
    set_seed(0, reproducible=True)
    cb = TimeMAEPretrain(tokenizer='gumbel', vocab_size=8, n_decoder_layers=1, verbose=False, target_dir=tmp_path)
    learn = ts_learner(get_ts_dls(X, splits=(list(range(16)), list(range(16, 20))), batch_tfms=[TSStandardize(by_var=True)],
                                  bs=8), TimeMAE, cbs=cb, window=8, d_model=16, n_layers=1, n_heads=2, d_ff=32)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    fig, axs = show_masks(learn, X, n=1)
    ax = axs[0]
    series = [l for l in ax.lines if l.get_label().startswith('channel')]
    assert len(series) == 12 and len({matplotlib.colors.to_hex(l.get_color()) for l in series}) == 12
    assert ax.get_legend() is not None and 'after batch tfms' in ax.get_ylabel()
    assert [p for p in ax.patches if p.get_hatch() == '//' and p.get_label() == 'zero padding']  # steps 45 to 47
    assert ax.get_xlim()[1] == 47.5 and 'Gumbel draw' in ax.get_title()
    plt.close(fig)


def test_the_library_plots_written_to_files_leave_the_sessions_matplotlib_backend_alone(tmp_path):
    "They called matplotlib.use('Agg'): in a notebook the inline backend was gone, and later figures no longer showed."
    import matplotlib
    from tsai_timemae.bench import plot_accuracy, plot_label_efficiency, plot_pretraining
    from tsai_timemae.demo import plot_demo
    from tsai_timemae.speed import plot_sweep
    before = matplotlib.get_backend()
    matplotlib.use('pdf')                                   # stands for a notebook's inline backend: anything but Agg
    try:
        row = dict(dataset='D', method='m', acc_mean=80., acc_std=1., quick=False, label_fraction=.1)
        plot_accuracy([row], tmp_path / 'a.png')
        plot_label_efficiency([row, {**row, 'label_fraction': 1., 'acc_mean': 90.}], 'D', tmp_path / 'l.png')
        hist = [dict(epoch=e, train_loss=1. / (e + 1), valid_loss=1. / (e + 2)) for e in range(3)]
        plot_pretraining([dict(dataset='D', seed=0, settings={'pretraining': {'tokenizer': 'kmeans'}},
                               pretraining=dict(method='timemae', weights='w.pth', history=hist))], 'D', tmp_path / 'p.png')
        plot_demo({'from scratch': {'accuracy': [.8, .9]}}, 'demo', tmp_path / 'd.png')
        plot_sweep([dict(method='timemae', window=16, seq_len=512, status='ok', s_per_1000=1., train_mem_mb=10., bs=8)],
                   tmp_path / 's.png', threads=1)
        assert matplotlib.get_backend() == 'pdf'
        assert all((tmp_path / f).stat().st_size > 1000 for f in ('a.png', 'l.png', 'p.png', 'd.png', 's.png'))
    finally:
        matplotlib.use(before)


def test_classes_match_labels_of_another_type_as_the_scores_match_them(pretrained):
    """`classes=['0', '1', ...]` for integer labels (or numbers for text labels) was refused as listing none of y's labels,
    while the scores treat 1, 1.0 and '1' as one class; bytes labels read b'0' in the legend."""
    learn, X, y = pretrained
    codes = np.unique(y, return_inverse=True)[1]
    fig, axs = plt.subplots(1, 3)
    for ax, (yy, cc) in zip(axs, ((codes, ['0', '1', '2', '3']), (codes.astype(str), [0., 1., 2., 3.]),
                                  (codes.astype(str).astype(bytes), None))):
        plot_embeddings(learn, X, yy, ax=ax, classes=cc)
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ([str(c) for c in cc] if cc else ['0', '1', '2', '3'])
        assert [len(c.get_offsets()) for c in ax.collections] == [int((codes == k).sum()) for k in range(4)]
    plt.close(fig)
    with pytest.raises(ValueError, match=r"labels that classes does not list: \[3\]"):
        plot_embeddings(learn, X, codes, classes=['0', '1', '2'])


def test_a_legend_beside_the_axes_and_a_long_title_fit_in_the_saved_file(pretrained, tmp_path):
    """With more than 10 classes the legend goes beside the axes: it ran past the figure's edge, and a long title past
    its left edge, cut off in a file saved at another resolution than the figure's layout."""
    import matplotlib.image as mpimg
    from tsai_timemae.weights import save_figure
    learn, X, _ = pretrained
    for k in (12, 40):
        fig, ax = plot_embeddings(learn, X, np.array([f'a rather long class name {i % k:03d}' for i in range(len(X))]),
                                  title='a title longer than the axes are wide, as a user may well write one')
        save_figure(fig, tmp_path / f'{k}.png', dpi=110)
        fig.set_dpi(110); fig.canvas.draw()
        r = fig.canvas.get_renderer()
        drawn = [ax.get_legend().get_window_extent(r), ax.title.get_window_extent(r), ax.get_window_extent(r)]
        needed = max(b.x1 for b in drawn) - min(b.x0 for b in drawn)
        assert mpimg.imread(tmp_path / f'{k}.png').shape[1] >= needed, (k, needed)
        plt.close(fig)


def test_the_bench_plots_give_eleven_methods_eleven_colours_and_name_mvps_smoothed_loss_and_pretrained_valid_series(tmp_path, monkeypatch):
    "Two tokenizers give 11 methods: the 11th took the 1st's colour (matplotlib's cycle of 10), line and marker too."
    from matplotlib.colors import to_rgba
    import tsai_timemae.bench as bench
    figs = []
    monkeypatch.setattr(bench, 'save_figure', lambda fig, path, **k: figs.append(fig))
    rows = [dict(dataset='D', method=f'm{j}', acc_mean=80. + j, acc_std=1., quick=False, label_fraction=f)
            for j in range(11) for f in (.1, 1.)]
    bench.plot_accuracy([r for r in rows if r['label_fraction'] == 1.], tmp_path / 'a.png')
    bench.plot_label_efficiency(rows, 'D', tmp_path / 'l.png')
    assert len({to_rgba(b.get_facecolor()) for b in figs[0].axes[0].patches}) == 11
    assert len({to_rgba(l.get_color()) for l in figs[1].axes[0].lines if l.get_label().startswith('m')}) == 11
    hist = [dict(epoch=e, train_loss=1. / (e + 1), valid_loss=1. / (e + 2)) for e in range(3)]
    bench.plot_pretraining([dict(dataset='D', seed=0, settings={}, pretraining=dict(method='mvp', weights='w.pth', history=hist))],
                           'D', tmp_path / 'p.png')
    assert 'seed 0 train, smoothed' in [l.get_label() for l in figs[2].axes[0].lines]   # fastai's column, not the mean
    # the protocol pretrains on the validation inputs too: its "valid" curve is no held-out loss, and the legend says so
    for inputs, want in (('train+valid', 'seed 0 valid, also pretrained on'), ('train', 'seed 0 valid')):
        bench.plot_pretraining([dict(dataset='D', seed=0, settings={'pretraining': {'inputs': inputs}},
                                     pretraining=dict(method='mvp', weights='w.pth', history=hist))], 'D', tmp_path / 'p.png')
        assert want in [l.get_label() for l in figs[-1].axes[0].lines]


def test_mask_view_draws_from_no_shared_random_stream(pretrained, monkeypatch):
    """Seeding torch's global stream also reseeds an MPS or XPU device's (a Mac's fastai device), which is not put back:
    a later fit's masks would restart from `seed`. The pass draws from the network's own generator instead, and the
    network draws from torch's stream again afterwards (training)."""
    learn, X, _ = pretrained
    net = learn.cbs.filter(lambda c: type(c).__name__ == 'TimeMAEPretrain')[0].pretrainer
    def refuse(*a, **k): raise AssertionError('a global random stream was seeded')
    for mod in (torch, torch.random, torch.mps, getattr(torch, 'xpu', torch.mps)):
        monkeypatch.setattr(mod, 'manual_seed', refuse)
    v, again, other = mask_view(learn, X, n=3, seed=3), mask_view(learn, X, n=3, seed=3), mask_view(learn, X, n=3, seed=4)
    assert np.array_equal(v['masked'], again['masked']) and not np.array_equal(v['masked'], other['masked'])
    assert net._eval_seed is None                       # off again: training draws from torch's stream
    # called while fixed draws are on (a validation pass, a callback): that pass's generator goes on where it was
    x = torch.randn(4, 6, 100)
    def eval_masks(between=lambda: None):
        net.fixed_eval_masks(True, 7)
        try:
            with torch.no_grad():
                net.eval(); first = net(x)['ids_msk']; between(); second = net(x)['ids_msk']
        finally: net.fixed_eval_masks(False); net.train()
        return first, second
    plain, around = eval_masks(), eval_masks(lambda: mask_view(learn, X, n=2, seed=1))
    assert all(torch.equal(a, b) for a, b in zip(plain, around))


def test_show_masks_takes_a_learner_pretrained_with_the_callback_passed_to_fit(udls, tmp_path):
    "README's `learn.fit(n, cbs=TimeMAEPretrain())`: the callback leaves with the fit, the pretraining network stays."
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    learn = ts_learner(udls, TimeMAE, **SMALL)
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-3, cbs=TimeMAEPretrain(tokenizer='kmeans', vocab_size=8, verbose=False, target_dir=tmp_path))
    fig, axs = show_masks(learn, np.random.default_rng(0).normal(size=(2, 6, 100)).astype(np.float32), n=2)
    assert len(axs) == 2
    plt.close(fig)


def test_plot_embeddings_of_unlabelled_series_and_of_an_identifier_as_labels(pretrained):
    """Unlabelled series (`y=None`): one colour, no legend. A whole-number target or identifier (one value per series)
    gave hundreds of colours and a legend cut off by the figure: past 50 labels, refused with the fix, as fractional
    targets are."""
    learn, X, y = pretrained
    fig, ax = plot_embeddings(learn, X)
    assert len(ax.collections) == 1 and len(ax.collections[0].get_offsets()) == len(X) and ax.get_legend() is None
    plt.close(fig)
    with pytest.raises(ValueError, match='classes orders the colours.*pass y too'):
        plot_embeddings(learn, X, classes=['a', 'b'])
    X2 = np.concatenate([X, X])
    for ids in (np.arange(len(X2)), np.array([f'id{i}' for i in range(len(X2))])):
        with pytest.raises(ValueError, match='80 distinct labels for 80 series, more than the 50 colours.*identifier.*'
                                             r'classes=sorted\(set\(y\)\).*np.digitize.*y=None'):
            plot_embeddings(learn, X2, ids)
    # many real classes, several series each (60 shapes): drawn; so are identifiers declared classes
    X3, shapes = np.concatenate([X, X, X]), np.repeat(np.arange(60), 2)
    fig, ax = plot_embeddings(learn, X3, shapes, perplexity=10)
    assert len(ax.get_legend().get_texts()) == 60
    plt.close(fig)
    fig, ax = plot_embeddings(learn, X2, np.arange(80), classes=list(range(80)), perplexity=10)
    plt.close(fig)


def test_many_classes_on_a_given_axes_keep_their_legend_inside_it(pretrained):
    "Plots side by side (`ax=`): a legend beside the axes lay over its neighbour."
    learn, X, _ = pretrained
    fig, axs = plt.subplots(1, 2, figsize=(10, 5))
    plot_embeddings(learn, X, np.arange(len(X)) % 13, ax=axs[0])
    fig.canvas.draw()
    leg, box = axs[0].get_legend().get_window_extent(), axs[0].get_window_extent()
    assert box.x0 <= leg.x0 and leg.x1 <= box.x1
    plt.close(fig)


def test_show_masks_takes_the_series_of_a_learner_that_selects_variables(tmp_path):
    """tsai's `sel_vars`: show_masks compared X with the model's channel count, so the series the learner was trained on
    were refused ('pass the same variables') and its selected ones failed inside tsai with an IndexError."""
    from tsai.all import get_ts_dls, ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    X = np.random.default_rng(0).standard_normal((16, 3, 24)).astype(np.float32)
    learn = ts_learner(get_ts_dls(X, splits=(list(range(12)), list(range(12, 16))), bs=4, sel_vars=[0, 2]), TimeMAE,
                       cbs=TimeMAEPretrain(target_dir=tmp_path, n_decoder_layers=1, verbose=False), **SMALL)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    fig, axs = show_masks(learn, X, n=2)
    assert mask_view(learn, X, n=2)['x'].shape[1] == 2      # the selected variables, as the model sees them
    plt.close(fig)
    with pytest.raises(ValueError, match=r"show_masks: the learner's training data had 3 channels \(variables\) but X has 2.*the same order"):
        show_masks(learn, X[:, [0, 2]])


def test_an_encoder_with_nan_weights_is_named_not_drawn(pretrained):
    """A diverged pretraining leaves NaN weights in the learner: plot_embeddings passed scikit-learn's advice to impute
    X, and show_masks drew code 0 as 'predicted right' wherever it was the target."""
    from fastai.torch_core import get_model
    learn, X, y = pretrained
    backbone = get_model(learn.model).backbone
    kept = {k: v.clone() for k, v in backbone.state_dict().items()}
    try:
        with torch.no_grad():
            for p in backbone.parameters(): p.fill_(float('nan'))
        with pytest.raises(ValueError, match=r"plot_embeddings: the encoder's outputs are not finite.*from_pretrained\(cb.weights_path\)"):
            plot_embeddings(learn, X[:8], y[:8])
        with pytest.raises(ValueError, match=r"show_masks: the encoder's outputs are not finite.*did its pretraining diverge"):
            show_masks(learn, X, n=1)
    finally: backbone.load_state_dict(kept)              # the module's learner, for the tests after this one
    from tsai_timemae.model import TimeMAE                # a fine-tuned encoder: no pretraining file to go back to
    model = TimeMAE(6, 4, **SMALL)
    with torch.no_grad():
        for p in model.backbone.parameters(): p.fill_(float('nan'))
    with pytest.raises(ValueError, match=r"not finite \(NaN or inf weights: did its training diverge\?\)\. Train it again"):
        plot_embeddings(model, X[:8], y[:8])


def test_an_empty_title_is_drawn_empty(pretrained):
    "title='' was read as no title given, and the default one was drawn."
    learn, X, y = pretrained
    fig, ax = plot_embeddings(learn, X[:8], y[:8], title='')
    assert ax.get_title() == ''
    plt.close(fig)

