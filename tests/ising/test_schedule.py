"""The sampling schedule (n, chains, burn-in, thinning, max_sweeps) is checked before any chain is built."""

from __future__ import annotations

import pytest

import rgnet.ising.sampling as sampling


@pytest.mark.parametrize(
    ("schedule", "match"),
    [
        ({"n": 0}, "n must be >= 1"),
        ({"chains": 0}, "chains must be >= 1"),
        ({"burn_in": -1}, "burn_in must be >= 0"),
        ({"thinning": 0}, "thinning must be >= 1"),
        ({"max_sweeps": 10}, "max_sweeps must be >= 64"),
        ({"burn_in": 5}, "burn_in=5 is too short to measure tau_int"),
    ],
)
def test_bad_schedule_fails_before_sampling(monkeypatch, schedule: dict, match: str) -> None:
    def no_sampler(*args, **kwargs):
        raise AssertionError("a sampler was built before the schedule was checked")

    monkeypatch.setattr(sampling, "make_sampler", no_sampler)
    args = {"n": 10, **schedule}
    with pytest.raises(ValueError, match=match):
        sampling.generate_2d(8, 0.4, args.pop("n"), **args)


def test_short_burn_in_with_thinning_measures_tau_on_the_kept_samples() -> None:
    result = sampling.generate_2d(8, 0.3, 40, method="wolff", seed=1, chains=4, burn_in=5, thinning=2)
    assert result.burn_in == 5 and result.thinning == 2 and result.n == 40
    assert set(result.tau_int) == {"energy", "abs_magnetization"}
    assert all(tau > 0 for tau in result.tau_int.values())
