"""Serving policies: the shared contract, each policy's own rules, and seeded regret."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from adloom import registry
from adloom.errors import AdloomError
from adloom.serving.bandits import Policy
from adloom.serving.bandits._mix import MixedPolicy, StateError
from adloom.serving.bandits.baselines import EpsilonGreedy
from adloom.serving.bandits.linucb import LinUCB, LinUCBConfig
from adloom.serving.bandits.simulate import Environment, RegretCurve, compare, run
from adloom.serving.bandits.thompson import ThompsonConfig, ThompsonSampling

POLICIES = ("thompson", "linucb", "epsilon", "uniform")
ARMS = ["arm-0", "arm-1", "arm-2", "arm-3", "arm-4", "arm-5"]


def make(name: str, **config: Any) -> MixedPolicy:
    policy = registry.create("policy", {"type": name, "seed": 7, **config}, "thompson")
    assert isinstance(policy, MixedPolicy)
    return policy


@pytest.fixture(scope="module")
def env() -> Environment:
    return Environment(seed=3)


def trained(name: str, env: Environment, rounds: int = 400, **config: Any) -> MixedPolicy:
    policy = make(name, **config)
    run(policy, env, rounds, seed=11)
    return policy


def play(policy: Policy, env: Environment, rounds: int, seed: int) -> list[tuple[str, float]]:
    """Choices and propensities of ``rounds`` requests, with clicks fed back."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(rounds):
        c = int(rng.integers(len(env.features)))
        x = env.features[c]
        arms = [a for a in env.arms if rng.random() > 0.2] or list(env.arms)
        choice = policy.choose(arms, x)
        out.append((choice.arm, choice.propensity))
        policy.observe(choice.arm, x)
        if rng.random() < env.ctr[env.arms.index(choice.arm), c] * 5:
            policy.reward(choice.arm, x)
    return out


def within_binomial(count: int, n: int, p: float, sigmas: float = 4.5) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1.0 - p)) + 1.0


@pytest.mark.parametrize("name", POLICIES)
class TestContract:
    def test_registered(self, name: str) -> None:
        assert name in registry.available("policy")
        assert type(make(name)).name == name

    def test_choice_is_an_arm_with_its_propensity(self, name: str, env: Environment) -> None:
        policy = trained(name, env)
        for c, x in enumerate(env.features):
            # Arms come and go: a subset, in another order, plus one never seen.
            arms = [*ARMS[c % 3 :][::-1], "arm-new"]
            choice = policy.choose(arms, x)
            probs = policy.probabilities(arms, x)
            assert choice.arm in arms
            assert 0.0 < choice.propensity <= 1.0
            assert choice.propensity == probs[arms.index(choice.arm)]
            assert choice.reason in ("exploration", "exploitation")

    def test_probabilities_sum_to_one(self, name: str, env: Environment) -> None:
        policy = trained(name, env)
        for x in env.features:
            for arms in (ARMS, ARMS[:2], ["arm-3"], ["arm-x", "arm-y", *ARMS]):
                probs = policy.probabilities(arms, x)
                assert probs.shape == (len(arms),)
                assert (probs >= 0.0).all()
                assert probs.sum() == pytest.approx(1.0, abs=1e-9)

    def test_exploration_one_is_uniform(self, name: str, env: Environment) -> None:
        policy = trained(name, env, exploration=1.0)
        for x in env.features:
            assert policy.probabilities(ARMS, x) == pytest.approx(np.full(6, 1 / 6))

    def test_uniform_share_is_mixed_in(self, name: str, env: Environment) -> None:
        greedy = trained(name, env, exploration=0.0)
        mixed = make(name, exploration=0.3)
        mixed.load_state(greedy.state())
        for x in env.features:
            expected = 0.7 * greedy.probabilities(ARMS, x) + 0.3 / len(ARMS)
            assert mixed.probabilities(ARMS, x) == pytest.approx(expected, abs=1e-12)
            assert (mixed.probabilities(ARMS, x) >= 0.3 / len(ARMS) - 1e-12).all()

    def test_same_seed_same_choices(self, name: str, env: Environment) -> None:
        first = play(make(name), env, 300, seed=5)
        second = play(make(name), env, 300, seed=5)
        assert first == second
        assert len({arm for arm, _ in first}) > 1

    def test_state_round_trip(self, name: str, env: Environment) -> None:
        original = trained(name, env)
        saved = json.loads(json.dumps(original.state()))
        restored = make(name, seed=12345)
        restored.load_state(saved)
        assert restored.state() == original.state()
        for x in env.features:
            assert (restored.probabilities(ARMS, x) == original.probabilities(ARMS, x)).all()
        assert play(restored, env, 200, seed=9) == play(original, env, 200, seed=9)

    def test_state_of_another_policy_rejected(self, name: str, env: Environment) -> None:
        other = next(n for n in POLICIES if n != name)
        with pytest.raises(StateError, match=f"saved by policy '{other}'"):
            make(name).load_state(trained(other, env, rounds=20).state())

    def test_unknown_config_field_rejected(self, name: str) -> None:
        with pytest.raises(AdloomError) as err:
            registry.create("policy", {"type": name, "explorationn": 0.1}, "thompson")
        message = str(err.value)
        assert "\n" not in message
        assert "explorationn" in message
        assert f"policy backend '{name}'" in message

    def test_bad_arms_rejected(self, name: str, env: Environment) -> None:
        policy = make(name)
        with pytest.raises(AdloomError, match="at least one"):
            policy.choose([], env.features[0])
        with pytest.raises(AdloomError, match="distinct"):
            policy.choose(["a", "a"], env.features[0])

    def test_single_arm(self, name: str, env: Environment) -> None:
        choice = trained(name, env).choose(["only"], env.features[0])
        assert choice.arm == "only"
        assert choice.propensity == pytest.approx(1.0)

    def test_feedback_from_another_thread(self, name: str, env: Environment) -> None:
        import threading

        policy = make(name)
        x = env.features[0]

        def feedback() -> None:
            for i in range(2000):
                policy.observe(ARMS[i % 6], x)
                if i % 7 == 0:
                    policy.reward(ARMS[i % 6], x)

        worker = threading.Thread(target=feedback)
        worker.start()
        for _ in range(300):
            probs = policy.probabilities(ARMS, x)
            assert probs.sum() == pytest.approx(1.0)
            policy.choose(ARMS, x)
        worker.join()
        saved = policy.state()
        if name in ("thompson", "epsilon"):
            assert sum(n for n, _ in saved["arms"].values()) == 2000
        if name == "linucb":
            assert sum(a["pulls"] for a in saved["arms"].values()) == 2000

    def test_rule_is_reused_until_the_state_changes(self, name: str, env: Environment) -> None:
        policy = trained(name, env)
        x = env.features[1]
        calls = 0
        rule = policy._rule

        def counted(arms: list[str], x: np.ndarray) -> Any:
            nonlocal calls
            calls += 1
            return rule(arms, x)

        policy._rule = counted  # type: ignore[method-assign]
        first = [policy.choose(ARMS, x).propensity for _ in range(50)]
        assert calls == 1  # one computation serves every request of this context
        probs = policy.probabilities(ARMS, x)
        assert calls == 1
        assert set(first) <= set(probs.tolist())
        policy.probabilities(ARMS[:3], x)  # other arms: another entry
        policy.probabilities(ARMS, env.features[2])  # another context: another entry
        assert calls == 3
        policy.observe(ARMS[0], x)
        policy.probabilities(ARMS, x)
        assert calls == 4  # learning invalidates the cached rule
        policy.load_state(policy.state())
        policy.probabilities(ARMS, x)
        assert calls == 5

    def test_cached_probabilities_cannot_be_altered(self, name: str, env: Environment) -> None:
        policy = trained(name, env)
        x = env.features[0]
        probs = policy.probabilities(ARMS, x)
        probs[:] = 0.0  # the caller's copy
        assert policy.probabilities(ARMS, x).sum() == pytest.approx(1.0)


class TestThompson:
    def test_successes_never_exceed_pulls(self, env: Environment) -> None:
        policy = make("thompson")
        x = env.features[0]
        policy.reward("arm-0", x)  # a click with no impression is not counted
        policy.observe("arm-0", x)
        for _ in range(3):
            policy.reward("arm-0", x, 1.0)
        policy.reward("arm-1", x, 5.0)
        saved = policy.state()
        assert saved["arms"] == {"arm-0": [1.0, 1.0]}
        assert saved["contexts"][0]["arms"] == {"arm-0": [1.0, 1.0]}

    def test_new_context_starts_from_the_arms_record(self, env: Environment) -> None:
        policy = make("thompson", prior_strength=100.0)
        assert isinstance(policy, ThompsonSampling)
        seen, unseen = env.features[0], env.features[-1]
        for i in range(1000):
            policy.observe("good", seen)
            policy.observe("bad", seen)
            if i % 10 == 0:
                policy.reward("good", seen)
            if i % 100 == 0:
                policy.reward("bad", seen)
        alphas, betas = policy.posterior(["good", "bad", "new"], unseen)
        means = [a / (a + b) for a, b in zip(alphas, betas, strict=True)]
        assert means[0] == pytest.approx(0.1, abs=0.01)
        assert means[1] == pytest.approx(0.01, abs=0.005)
        assert means[2] == 0.5  # the base Beta(1, 1) prior
        # The prior is worth prior_strength observations, never more than were seen.
        assert alphas[0] + betas[0] == pytest.approx(100.0)
        assert alphas[2] + betas[2] == pytest.approx(2.0)
        probs = policy.probabilities(["good", "bad"], unseen)
        assert probs[0] > 0.9

    def test_propensity_estimate_matches_exact_beta_sampling(self, env: Environment) -> None:
        policy = trained("thompson", env, rounds=3000, exploration=0.0)
        assert isinstance(policy, ThompsonSampling)
        x = env.features[1]
        alphas, betas = policy.posterior(ARMS, x)
        draws = np.random.default_rng(0).beta(alphas, betas, size=(200_000, len(ARMS)))
        exact = np.bincount(draws.argmax(axis=1), minlength=len(ARMS)) / len(draws)
        # Average the 256-draw estimate over many versions of the same posterior (feedback
        # on an arm outside the request moves the version, not these posteriors).
        estimates = []
        for _ in range(300):
            estimates.append(policy.probabilities(ARMS, x))
            policy.observe("elsewhere", env.features[0])
        assert np.mean(estimates, axis=0) == pytest.approx(exact, abs=0.03)

    def test_reason_follows_the_posterior_mean(self, env: Environment) -> None:
        policy = trained("thompson", env, rounds=2000)
        assert isinstance(policy, ThompsonSampling)
        x = env.features[2]
        alphas, betas = policy.posterior(ARMS, x)
        best = ARMS[int(np.argmax(np.array(alphas) / (np.array(alphas) + np.array(betas))))]
        for _ in range(200):
            choice = policy.choose(ARMS, x)
            assert (choice.reason == "exploitation") == (choice.arm == best)

    def test_buckets_round_features(self) -> None:
        policy = ThompsonSampling(ThompsonConfig(seed=1, decimals=2))
        policy.observe("a", np.array([1.0, 0.5000001, -0.0]))
        policy.observe("a", np.array([1.0, 0.4999999, 0.0]))
        assert len(policy.state()["contexts"]) == 1

    def test_malformed_state_rejected(self) -> None:
        policy = make("thompson")
        saved = policy.state()
        saved["arms"] = {"a": [1.0, 2.0]}
        with pytest.raises(StateError, match="clicks <= impressions"):
            policy.load_state(saved)
        del saved["contexts"]
        with pytest.raises(StateError, match="missing contexts"):
            policy.load_state(saved)


class TestLinUCB:
    def test_inverse_kept_by_sherman_morrison(self, env: Environment) -> None:
        policy = LinUCB(LinUCBConfig(seed=1, lambda_=2.0))
        rng = np.random.default_rng(4)
        xs = [env.features[int(rng.integers(len(env.features)))] for _ in range(500)]
        for x in xs:
            policy.observe("a", x)
            if rng.random() < 0.05:
                policy.reward("a", x, 1.0)
        design = 2.0 * np.eye(env.dim) + sum(np.outer(x, x) for x in xs)
        saved = policy.state()["arms"]["a"]
        assert np.array(saved["a_inv"]) == pytest.approx(np.linalg.inv(design), abs=1e-9)

    def test_scores_are_ucb(self, env: Environment) -> None:
        policy = trained("linucb", env, alpha=0.7)
        assert isinstance(policy, LinUCB)
        saved = policy.state()["arms"]
        x = env.features[4]
        for arm, score in zip(ARMS, policy.scores(ARMS, x), strict=True):
            ainv, b = np.array(saved[arm]["a_inv"]), np.array(saved[arm]["b"])
            expected = (ainv @ b) @ x + 0.7 * math.sqrt(x @ ainv @ x)
            assert score == pytest.approx(expected, rel=1e-9)

    def test_ties_are_shared(self, env: Environment) -> None:
        policy = make("linucb", exploration=0.0)
        x = env.features[0]
        assert policy.probabilities(ARMS, x) == pytest.approx(np.full(6, 1 / 6))
        choices = {policy.choose(ARMS, x).arm for _ in range(200)}
        assert choices == set(ARMS)
        policy.observe("arm-0", x)  # its bonus shrinks: the others stay tied
        assert policy.probabilities(ARMS, x) == pytest.approx([0.0] + [0.2] * 5)

    def test_dimension_fixed_by_first_vector(self, env: Environment) -> None:
        policy = make("linucb")
        policy.observe("a", env.features[0])
        with pytest.raises(AdloomError) as err:
            policy.choose(["a"], np.ones(env.dim + 2))
        assert str(err.value) == (
            f"x: linucb feature vector has length {env.dim + 2}, expected {env.dim} "
            "(the length of the first one seen)"
        )
        with pytest.raises(AdloomError, match="length 3"):
            policy.reward("a", np.ones(3))

    def test_many_arms(self, env: Environment) -> None:
        policy = make("linucb")
        arms = [f"arm-{i}" for i in range(100)]
        for i, arm in enumerate(arms):
            policy.observe(arm, env.features[i % len(env.features)])
        probs = policy.probabilities(arms, env.features[0])
        assert probs.sum() == pytest.approx(1.0)
        restored = make("linucb")
        restored.load_state(json.loads(json.dumps(policy.state())))
        assert (restored.probabilities(arms, env.features[0]) == probs).all()


class TestBaselines:
    def test_epsilon_tries_unseen_arms_first(self, env: Environment) -> None:
        policy = make("epsilon", exploration=0.0)
        x = env.features[0]
        policy.observe("arm-0", x)
        policy.reward("arm-0", x)
        assert policy.probabilities(ARMS, x) == pytest.approx([0.0] + [0.2] * 5)
        for arm in ARMS[1:]:
            policy.observe(arm, x)
        assert policy.probabilities(ARMS, x) == pytest.approx([1.0] + [0.0] * 5)

    def test_epsilon_is_greedy_on_the_mean(self, env: Environment) -> None:
        policy = make("epsilon", exploration=0.12)
        assert isinstance(policy, EpsilonGreedy)
        x = env.features[0]
        for arm, clicks in zip(ARMS, (1, 3, 2, 0, 3, 1), strict=True):
            for i in range(10):
                policy.observe(arm, x)
                if i < clicks:
                    policy.reward(arm, x)
        probs = policy.probabilities(ARMS, x)
        assert probs == pytest.approx([0.02, 0.46, 0.02, 0.02, 0.46, 0.02])
        assert policy.means(ARMS) == pytest.approx([0.1, 0.3, 0.2, 0.0, 0.3, 0.1])

    def test_uniform_never_exploits(self, env: Environment) -> None:
        policy = make("uniform", exploration=0.0)
        choices = [policy.choose(ARMS, env.features[0]) for _ in range(100)]
        assert {c.reason for c in choices} == {"exploration"}
        assert {c.propensity for c in choices} == {1 / 6}


class TestCalibration:
    """Over many seeded choices in one fixed state, each arm comes up as often as logged."""

    N = 12_000

    def check(self, policy: MixedPolicy, arms: list[str], x: np.ndarray) -> None:
        probs = policy.probabilities(arms, x)
        counts = dict.fromkeys(arms, 0)
        for _ in range(self.N):
            choice = policy.choose(arms, x)
            counts[choice.arm] += 1
            assert choice.propensity == probs[arms.index(choice.arm)]
        assert (policy.probabilities(arms, x) == probs).all()  # the state did not move
        for arm, p in zip(arms, probs, strict=True):
            assert within_binomial(counts[arm], self.N, float(p)), (arm, counts[arm], p)

    def test_linucb_with_exploration(self, env: Environment) -> None:
        policy = trained("linucb", env, exploration=0.2)
        # Two arms never seen tie on the largest bonus and share the greedy pick.
        arms = [*ARMS, "new-a", "new-b"]
        probs = policy.probabilities(arms, env.features[0])
        assert probs[-2:] == pytest.approx([0.4 + 0.025, 0.4 + 0.025])
        self.check(policy, arms, env.features[0])

    def test_thompson(self, env: Environment) -> None:
        policy = trained("thompson", env, rounds=1500, exploration=0.05)
        probs = policy.probabilities(ARMS, env.features[1])
        assert (probs > 0.1).sum() >= 2  # a genuinely random choice
        self.check(policy, ARMS, env.features[1])


class TestSimulator:
    def test_environment(self) -> None:
        env = Environment(arms=5, platforms=2, devices=3, seed=8)
        assert env.features.shape == (6, 6)
        assert (env.features[:, 0] == 1.0).all()
        assert (env.features[:, 1:].sum(axis=1) == 2.0).all()
        assert ((env.ctr >= 0.01 - 1e-12) & (env.ctr <= 0.08 + 1e-12)).all()
        assert len(set(env.ctr.argmax(axis=0).tolist())) > 1
        oracle, fixed = env.ctr.max(axis=0) @ env.weights, env.ctr[env.best_fixed] @ env.weights
        assert oracle >= 1.15 * fixed
        again = Environment(arms=5, platforms=2, devices=3, seed=8)
        assert (again.ctr == env.ctr).all()
        assert not np.allclose(Environment(arms=5, platforms=2, devices=3, seed=9).ctr, env.ctr)

    def test_environment_rejects_bad_settings(self) -> None:
        with pytest.raises(AdloomError, match="ctr_range"):
            Environment(ctr_range=(0.1, 0.05))
        with pytest.raises(AdloomError, match="at least 2 arms"):
            Environment(arms=1)

    def test_regret_accounting(self) -> None:
        env = Environment(seed=2)
        curve = run(make("uniform"), env, 3000, seed=1)
        assert curve.rounds == 3000
        assert curve.at(0) == 0.0
        # Uniform play: the expected gap per round is the average gap over arms.
        steps = np.diff(curve.oracle, prepend=0.0)
        assert (steps >= -1e-15).all()
        assert steps.max() <= env.gaps("oracle").max() + 1e-12
        expected = float(env.gaps("oracle").mean(axis=0) @ env.weights) * 3000
        assert curve.at(3000, "oracle") == pytest.approx(expected, rel=0.1)
        # Both yardsticks differ by what the oracle gains over the best fixed arm.
        assert curve.at(3000, "oracle") > curve.at(3000, "fixed")
        assert curve.between(1000, 3000) == pytest.approx(curve.at(3000) - curve.at(1000))
        assert 0 < curve.clicks < 3000 * 0.08

    def test_runs_are_seeded(self) -> None:
        env = Environment(seed=2)
        first = run(make("thompson"), env, 500, seed=4)
        second = run(make("thompson"), env, 500, seed=4)
        assert (first.fixed == second.fixed).all()
        assert first.clicks == second.clicks


@pytest.fixture(scope="module")
def curves() -> dict[str, RegretCurve]:
    return compare(["uniform", "epsilon", "thompson", "linucb"], rounds=20_000, seed=3)


class TestRegret:
    T = 20_000

    @pytest.mark.parametrize("name", ["thompson", "linucb"])
    def test_beats_the_baselines(self, name: str, curves: dict[str, RegretCurve]) -> None:
        final = curves[name].at(self.T)
        assert final < curves["uniform"].at(self.T)
        assert final < curves["epsilon"].at(self.T)
        # The same requests: the ranking does not depend on the yardstick.
        assert curves[name].at(self.T, "oracle") < curves["epsilon"].at(self.T, "oracle")

    @pytest.mark.parametrize("name", ["thompson", "linucb"])
    def test_sublinear(self, name: str, curves: dict[str, RegretCurve]) -> None:
        half = self.T // 2
        first = curves[name].between(0, half, "oracle")
        last = curves[name].between(half, self.T, "oracle")
        assert last < 0.8 * first
        uniform = curves["uniform"]
        assert uniform.between(half, self.T, "oracle") > 0.9 * uniform.between(0, half, "oracle")
