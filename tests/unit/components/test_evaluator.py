"""The per-digit model gate: a drop counts only when it is beyond what chance explains."""
import numpy as np
import pytest

from components.evaluator import (
    difference_upper_bound,
    drop_beyond_chance,
    wilson_interval,
)


def test_one_more_mistake_out_of_50_is_chance():
    """The case from issue 15: a model 2.8 points better overall was refused because one digit
    lost one example out of 50 (100 % -> 98 %)."""
    assert not drop_beyond_chance(new=49 / 50, old=50 / 50, n=50, allowed_drop=0.0)
    assert not drop_beyond_chance(new=47 / 50, old=50 / 50, n=50, allowed_drop=0.01)


def test_a_real_drop_on_a_full_size_digit_counts():
    # About 1,000 test images per digit: 99 % -> 96 % is 30 more mistakes.
    assert drop_beyond_chance(new=0.96, old=0.99, n=1000, allowed_drop=0.0)
    assert drop_beyond_chance(new=0.96, old=0.99, n=1000, allowed_drop=0.01)
    # ... but not when it is within the allowed drop.
    assert not drop_beyond_chance(new=0.96, old=0.99, n=1000, allowed_drop=0.03)
    # And a large drop counts even on a small eval set.
    assert drop_beyond_chance(new=30 / 50, old=49 / 50, n=50, allowed_drop=0.01)


def test_the_bound_is_a_95_percent_bound():
    """Simulated: two equally good models on n examples; the rule must refuse the second in at
    most about 2.5 % of draws (one side of a 95 % interval), at every size and accuracy."""
    rng = np.random.default_rng(0)
    for accuracy, n in ((0.99, 50), (0.97, 100), (0.99, 1000), (0.9, 200)):
        old = rng.binomial(n, accuracy, 4000) / n
        new = rng.binomial(n, accuracy, 4000) / n
        refused = np.mean([drop_beyond_chance(a, b, n, 0.0) for a, b in zip(new, old)])
        assert refused <= 0.035, (accuracy, n, refused)


def test_wilson_interval_stays_inside_0_and_1_and_holds_the_estimate():
    for share, n in ((1.0, 50), (0.0, 50), (0.98, 50), (0.5, 10)):
        low, high = wilson_interval(share, n)
        assert 0 <= low <= share <= high <= 1
    assert wilson_interval(1.0, 50)[0] == pytest.approx(0.9287, abs=1e-3)  # the textbook value
    assert difference_upper_bound(0.98, 50, 1.0, 50) > 0
