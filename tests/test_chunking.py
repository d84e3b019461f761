"""Window planning and crossfades used for flat-memory processing of long files."""

import pytest
import torch

from audioae.chunking import CrossfadeWriter, plan_windows


def _crossfade(pieces: list[tuple[int, torch.Tensor]], total: int, fade: int) -> torch.Tensor:
    """Stream ``(start, piece)`` pairs through a :class:`CrossfadeWriter`, as the pipeline does."""
    writer = CrossfadeWriter(total, fade)
    for index, (start, piece) in enumerate(pieces):
        writer.add(start, piece, pieces[index + 1][0] if index + 1 < len(pieces) else None)
    return writer.result()


@pytest.mark.parametrize("total", [1, 255, 256, 1000, 4096, 10_001])
def test_windows_cover_signal_once_and_stay_aligned(total):
    windows = plan_windows(total, chunk=1000, margin=300, align=256)
    assert windows[0].keep_start == 0 and windows[-1].keep_stop == total
    for prev, nxt in zip(windows, windows[1:]):
        assert prev.keep_stop == nxt.keep_start
    for w in windows:
        assert w.start % 256 == 0 and w.keep_start % 256 == 0
        assert 0 <= w.start <= w.keep_start < w.keep_stop <= w.stop <= total
        if w.keep_stop < total:
            assert w.stop - w.keep_stop == min(
                512, total - w.keep_stop
            )  # margin rounded up to the grid


def test_plan_windows_rejects_bad_arguments():
    with pytest.raises(ValueError, match="chunk > 0"):
        plan_windows(100, chunk=0, margin=0, align=1)


def test_crossfade_of_identical_pieces_is_identity():
    signal = torch.randn(2, 5000)
    pieces = [(w.start, signal[:, w.start : w.stop]) for w in plan_windows(5000, 1024, 512, 256)]
    out = _crossfade(pieces, 5000, fade=512)
    torch.testing.assert_close(out, signal)


def test_crossfade_blends_linearly_in_overlap():
    a = torch.zeros(1, 200)
    b = torch.ones(1, 200)
    out = _crossfade([(0, a), (100, b)], 300, fade=100)[0]
    assert torch.all(out[:100] == 0) and torch.all(out[200:] == 1)
    ramp = out[100:200]
    assert torch.all(ramp[1:] >= ramp[:-1]) and 0 < ramp[50] < 1
