"""The differential tests together post at least 500 generated batches per run across paths and engines;
each asserts its own ``POSTS`` exactly, so a change that lowers the total fails here."""

from __future__ import annotations

from tests.differential import test_input_paths, test_stripe_paths

MIN_POSTS = 500


def test_the_differential_tests_post_at_least_500_batches_per_run():
    assert test_input_paths.POSTS + test_stripe_paths.POSTS >= MIN_POSTS, (test_input_paths.POSTS,
                                                                           test_stripe_paths.POSTS)
