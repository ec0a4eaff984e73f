"""The resolver with a versions.json: labels, the weighted split, sticky keys, precedence."""

import itertools
import math
from collections import Counter

import pytest

from service.errors import ModelRequiredError, VersionAndLabelError
from service.runtime.errors import (
    ModelNotFoundError,
    VersionLabelNotFoundError,
    VersionLabelPendingError,
)
from service.runtime.rollout import DRAW_WINDOW_S
from service.server.request_context import RequestContext
from service.server.services import Lifecycle
from service.tasks.resolver import ModelResolver
from service.tasks.shadow import ShadowedModel
from tests.fakes.models import FakeRepository, fake_classifier, fake_forecaster
from tests.fakes.rollout import install_rollout

SPLIT = {"version_labels": {"stable": 1, "canary": 2}, "traffic": {"stable": 90, "canary": 10}}


@pytest.fixture
def repo() -> FakeRepository:
    return FakeRepository(fake_classifier(version=1), fake_classifier(version=2), fake_forecaster())


def resolver_of(repo: FakeRepository) -> ModelResolver:
    return ModelResolver(repo, Lifecycle(), RequestContext("test"), {})


def test_without_a_file_the_newest_version_answers_and_labels_are_unknown(repo):
    resolver = resolver_of(repo)
    assert resolver.resolve("clf").version == 2
    with pytest.raises(VersionLabelNotFoundError, match="'stable'"):
        resolver.resolve("clf", label="stable")
    with pytest.raises(ModelNotFoundError):
        resolver.resolve("ghost", label="stable")


def test_labels_resolve_and_unknown_ones_are_named(repo):
    install_rollout(repo, "clf", SPLIT)
    resolver = resolver_of(repo)
    assert resolver.resolve("clf", label="stable").version == 1
    assert resolver.resolve(None, label="canary", task="classify").version == 2
    with pytest.raises(VersionLabelNotFoundError, match="'beta'"):
        resolver.resolve("clf", label="beta")
    with pytest.raises(VersionAndLabelError):
        resolver.resolve("clf", version=1, label="stable")
    with pytest.raises(ModelRequiredError):
        resolver.resolve(None)


def test_ten_thousand_requests_split_ninety_ten_within_four_deviations(repo):
    rollout = install_rollout(repo, "clf", SPLIT)
    rollout.clock = itertools.count().__next__  # a window apiece: independent draws
    resolver = resolver_of(repo)
    counts = Counter(resolver.resolve("clf").version for _ in range(10_000))
    deviation = math.sqrt(10_000 * 0.1 * 0.9)
    assert abs(counts[2] - 1_000) <= 4 * deviation, counts
    assert counts[1] + counts[2] == 10_000


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_keyless_requests_of_one_window_share_a_draw(repo):
    """Requests within DRAW_WINDOW_S go to one version (full batches for it); over many
    windows the weights hold, and a route key still picks for itself."""
    rollout = install_rollout(repo, "clf", SPLIT)
    rollout.clock = clock = Clock()
    resolver = resolver_of(repo)
    seen = []
    for _ in range(4_000):
        seen.append({resolver.resolve("clf").version for _ in range(20)})
        clock.now += DRAW_WINDOW_S
    assert all(len(versions) == 1 for versions in seen)
    canary = sum(versions == {2} for versions in seen)
    assert abs(canary - 400) <= 4 * math.sqrt(4_000 * 0.1 * 0.9), canary
    keyed = {resolver.resolve("clf", route_key=f"user-{i}").version for i in range(200)}
    assert keyed == {1, 2}


def test_route_keys_are_sticky_and_spread(repo):
    install_rollout(repo, "clf", {"traffic": {"1": 50, "2": 50}})
    resolver = resolver_of(repo)
    for key in ("alice", "bob", "carol"):
        seen = {resolver.resolve("clf", route_key=key).version for _ in range(200)}
        assert len(seen) == 1
    spread = Counter(resolver.resolve("clf", route_key=f"user-{i}").version for i in range(2000))
    assert abs(spread[1] - 1000) <= 4 * math.sqrt(2000 * 0.25)


def test_an_unavailable_version_gets_no_traffic(repo):
    install_rollout(repo, "clf", SPLIT, available=[1])  # v2 still loading
    resolver = resolver_of(repo)
    assert {resolver.resolve("clf").version for _ in range(500)} == {1}
    with pytest.raises(VersionLabelPendingError, match="version 2"):
        resolver.resolve("clf", label="canary")


def test_explicit_version_or_label_beats_the_split(repo):
    install_rollout(repo, "clf", {**SPLIT, "traffic": {"stable": 100}})
    resolver = resolver_of(repo)
    assert {resolver.resolve("clf", version=2).version for _ in range(100)} == {2}
    assert {resolver.resolve("clf", label="canary").version for _ in range(100)} == {2}
    assert {resolver.resolve("clf").version for _ in range(100)} == {1}


def test_a_pending_label_serves_once_available_and_a_moved_one_keeps_its_old_target(repo):
    rollout = install_rollout(repo, "clf", {"version_labels": {"canary": 1}})
    resolver = resolver_of(repo)
    assert resolver.resolve("clf", label="canary").version == 1
    moved = install_rollout(repo, "clf", {"version_labels": {"canary": 2}}, available=[1])
    moved.table = rollout.table  # what was in force before the file changed
    moved.refresh({1})
    assert resolver.resolve("clf", label="canary").version == 1  # v2 not AVAILABLE yet
    moved.refresh({1, 2})
    assert resolver.resolve("clf", label="canary").version == 2


def test_shadow_wraps_only_the_sampled_share_and_never_the_shadow_itself(repo):
    install_rollout(repo, "clf", {"shadow": {"version": 2, "percent": 30}})
    resolver = resolver_of(repo)
    wrapped = Counter(
        isinstance(resolver.resolve("clf", version=1), ShadowedModel) for _ in range(2000)
    )
    assert abs(wrapped[True] - 600) <= 4 * math.sqrt(2000 * 0.3 * 0.7)
    assert not any(isinstance(resolver.resolve("clf"), ShadowedModel) for _ in range(100))
