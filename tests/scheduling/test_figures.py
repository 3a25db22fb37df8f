"""Worker figures added together: a model deployment's replicas, shown as one worker (`scaleout/`)."""

from __future__ import annotations

from darkroom.scheduling.figures import WorkerFigures, figures_of


def _figures(calls: int, batches: list[int], depth: int = 0) -> WorkerFigures:
    figures = WorkerFigures(queue_depth=depth, engine_calls=calls)
    for images in batches:
        figures.batch_images.add(images)
        figures.engine_seconds.add(0.5 * images)
    return figures


def test_plus_adds_counts_and_samples_and_leaves_the_parts_alone():
    a, b = _figures(2, [1, 4], depth=1), _figures(1, [4], depth=2)
    b.stuck = True
    total = a.plus([b])
    assert (total.engine_calls, total.queue_depth, total.stuck) == (3, 3, True)
    assert total.batch_images.counts == {1: 1, 4: 2} and total.batch_images.total == 9
    assert total.engine_seconds.summary()["count"] == 3
    assert (a.engine_calls, a.batch_images.count, a.stuck) == (2, 2, False)  # a copy: the parts unchanged


def test_plus_nothing_is_the_same_figures():
    a = _figures(1, [1])
    assert a.plus([]) is a


def test_figures_of_an_in_process_worker_are_its_own():
    class Worker:
        figures = _figures(5, [2])

    assert figures_of(Worker()) is Worker.figures


def test_figures_of_a_remote_worker_add_its_replicas():
    class Report:
        def __init__(self, figures):
            self.figures = figures

    class Remote:
        figures = WorkerFigures(rejected=2)  # counted by the ingress: Ray's queue was full
        replicas = {"r1": Report(_figures(3, [1])), "r2": Report(_figures(4, [2]))}

    shown = figures_of(Remote())
    assert (shown.engine_calls, shown.rejected, shown.batch_images.total) == (7, 2, 3)
