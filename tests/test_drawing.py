"""Figures drawn by worker processes (gpumeta.evaluate.drawing): who draws, errors, and a worker lost."""

from __future__ import annotations

import os
import time

import pytest

from gpumeta.errors import GpumetaError
from gpumeta.evaluate import drawing, plots


def test_outside_a_block_a_call_is_drawn_at_once():
    future = drawing.draw(os.getpid)
    assert future.done() and future.result() == os.getpid()


def test_a_worker_draws_and_the_block_waits_for_every_figure(tmp_path):
    with plots.figure_formats(["pdf"]), drawing.drawing(1):
        pid = drawing.draw(os.getpid)
        time.sleep(0.2)  # the worker's feeder takes the call; a caller that waits at once may draw it itself
        figure = drawing.draw(plots.plot_learning_curves,
                              [("fold_1", {"donor": {"train": {"logloss": [0.5, 0.4]},
                                                     "validation": {"logloss": [0.6, 0.5]}}})], tmp_path)
        assert drawing.wait([pid])[0] != os.getpid()
    assert figure.result() == tmp_path / "learning_curves.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["learning_curves.pdf", "learning_curves.png"]


def test_a_figure_that_fails_in_a_worker_fails_the_block():
    with pytest.raises(ValueError, match="invalid literal"), drawing.drawing(1):
        drawing.draw(int, "not a number")


def test_calls_that_do_not_pickle_and_calls_of_a_dead_worker_are_drawn_here():
    with drawing.drawing(1):
        assert drawing.draw(lambda: os.getpid()).result() == os.getpid()  # a lambda does not pickle
        drawing._pool.get().workers[0].process.kill()
        assert drawing.wait([drawing.draw(os.getpid) for _ in range(3)]) == [os.getpid()] * 3


def test_no_workers_draws_everything_here_and_a_negative_count_is_refused():
    with drawing.drawing(0):
        assert drawing.wait([drawing.draw(os.getpid)]) == [os.getpid()]
    with pytest.raises(GpumetaError, match="figure workers is -1"), drawing.drawing(-1):
        pass


def test_wait_all_returns_once_every_queued_figure_is_drawn():
    with drawing.drawing(1):
        futures = [drawing.draw(os.getpid) for _ in range(4)]
        drawing.wait_all()
        assert all(future.done() for future in futures)
    drawing.wait_all()  # outside a block: nothing to wait for
