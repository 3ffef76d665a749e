"""Uplift modelling: who responds *because* of the ad, and is it worth reaching them?

Meta-learners turn ordinary scikit-learn models into estimates of each user's treatment
effect from a randomized test: ``t`` fits one model per arm and subtracts; ``x`` then
regresses each arm's imputed effects and blends them by the treatment share, which helps
when the arms differ in size (holdouts are small by design); ``s`` fits one model with the
arm as a feature. They are judged on held-out data by the Qini curve: reach users in order
of predicted uplift and count the extra outcomes gained over a random order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from adloom.domain import Model
from adloom.errors import InputError
from adloom.measurement.lift import Interval, z_quantile
from adloom.measurement.logs import FloatArray
from adloom.registry import Backend, BackendConfig

BoolArray = np.ndarray[Any, np.dtype[np.bool_]]


class MetaLearnerConfig(BackendConfig):
    type: str
    model: Literal["gbm", "forest", "linear"] = Field(
        "gbm", description="Base learner: histogram gradient boosting, random forest, linear."
    )
    seed: int = 0


def _base_model(kind: str, binary: bool, seed: int) -> Any:
    if kind == "gbm":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        params: dict[str, Any] = {
            "max_iter": 150,
            "learning_rate": 0.05,
            "min_samples_leaf": 100,
            "random_state": seed,
        }
        return (
            HistGradientBoostingClassifier(**params)
            if binary
            else HistGradientBoostingRegressor(**params)
        )
    if kind == "forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        params = {"n_estimators": 100, "min_samples_leaf": 50, "random_state": seed, "n_jobs": 1}
        return RandomForestClassifier(**params) if binary else RandomForestRegressor(**params)
    from sklearn.linear_model import LogisticRegression, Ridge

    return LogisticRegression(max_iter=2000) if binary else Ridge(alpha=1.0)


def _fit(model: Any, x: FloatArray, y: FloatArray) -> Any:
    if len(np.unique(y)) < 2:
        return float(y.mean())  # a constant: one class only, or no variation
    return model.fit(x, y)


def _predict(model: Any, x: FloatArray) -> FloatArray:
    if isinstance(model, float):
        return np.full(len(x), model)
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(x)[:, 1], dtype=np.float64)
    return np.asarray(model.predict(x), dtype=np.float64)


def _check_fit_inputs(x: FloatArray, treated: BoolArray, y: FloatArray) -> None:
    if x.ndim != 2 or len(x) != len(treated) or len(x) != len(y):
        raise InputError("uplift", "features, treatment and outcome must have one row per user")
    if not np.all(np.isfinite(x)) or not np.all(np.isfinite(y)):
        raise InputError("uplift", "features and outcome must be finite")
    if treated.all():
        raise InputError("uplift", "no control rows: uplift needs a randomized control group")
    if not treated.any():
        raise InputError("uplift", "no treated rows")


class MetaLearner(Backend[MetaLearnerConfig], ABC):
    """Estimates each user's treatment effect; one fit on a randomized test, then predict."""

    name: ClassVar[str]
    Config: ClassVar[type[BackendConfig]] = MetaLearnerConfig

    def _model(self, y: FloatArray) -> Any:
        binary = bool(np.all((y == 0) | (y == 1)))
        return _base_model(self.config.model, binary, self.config.seed)

    def _regressor(self) -> Any:
        return _base_model(self.config.model, False, self.config.seed)

    @abstractmethod
    def fit(self, x: FloatArray, treated: BoolArray, y: FloatArray) -> MetaLearner:
        """Learn from features ``x``, assignment ``treated`` and outcome ``y``."""

    @abstractmethod
    def predict(self, x: FloatArray) -> FloatArray:
        """Predicted uplift (treated minus control outcome) per row."""

    def _fitted(self, attr: str) -> Any:
        value = getattr(self, attr, None)
        if value is None:
            raise InputError(self.name, "predict called before fit")
        return value


class TLearner(MetaLearner):
    name = "t"

    def fit(self, x: FloatArray, treated: BoolArray, y: FloatArray) -> TLearner:
        _check_fit_inputs(x, treated, y)
        self.m1 = _fit(self._model(y), x[treated], y[treated])
        self.m0 = _fit(self._model(y), x[~treated], y[~treated])
        return self

    def predict(self, x: FloatArray) -> FloatArray:
        return _predict(self._fitted("m1"), x) - _predict(self._fitted("m0"), x)


class SLearner(MetaLearner):
    name = "s"

    def fit(self, x: FloatArray, treated: BoolArray, y: FloatArray) -> SLearner:
        _check_fit_inputs(x, treated, y)
        self.m = _fit(self._model(y), np.column_stack([x, treated.astype(np.float64)]), y)
        return self

    def predict(self, x: FloatArray) -> FloatArray:
        m = self._fitted("m")
        ones, zeros = np.ones((len(x), 1)), np.zeros((len(x), 1))
        return _predict(m, np.hstack([x, ones])) - _predict(m, np.hstack([x, zeros]))


class XLearner(MetaLearner):
    name = "x"

    def fit(self, x: FloatArray, treated: BoolArray, y: FloatArray) -> XLearner:
        _check_fit_inputs(x, treated, y)
        x1, y1, x0, y0 = x[treated], y[treated], x[~treated], y[~treated]
        m1 = _fit(self._model(y), x1, y1)
        m0 = _fit(self._model(y), x0, y0)
        # Imputed effects: each arm's outcomes against the other arm's model.
        self.tau1 = _fit(self._regressor(), x1, y1 - _predict(m0, x1))
        self.tau0 = _fit(self._regressor(), x0, _predict(m1, x0) - y0)
        # A randomized test's propensity is its treated share. tau0 rests on the treated
        # arm's model, so it gets more weight when the treated arm is the larger one.
        self.share = float(treated.mean())
        return self

    def predict(self, x: FloatArray) -> FloatArray:
        g = self.share
        return g * _predict(self._fitted("tau0"), x) + (1 - g) * _predict(self._fitted("tau1"), x)


# --------------------------------------------------------------------------- evaluation


class QiniCurve(Model):
    """Cumulative incremental outcome per user as the top ``fraction`` by score is reached."""

    fraction: list[float]
    qini: list[float] = Field(description="(Y_t - Y_c * N_t / N_c) / N_t(total), at each fraction.")
    uplift: list[float] = Field(description="(mean_t - mean_c) * k / n, at each fraction.")


def _curves(
    score: FloatArray, treated: BoolArray, y: FloatArray, points: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    n = len(score)
    order = np.argsort(-score, kind="stable")
    t = treated[order].astype(np.float64)
    yo = y[order]
    nt, nc = np.cumsum(t), np.cumsum(1 - t)
    yt, yc = np.cumsum(yo * t), np.cumsum(yo * (1 - t))
    k = np.unique(np.linspace(0, n, points).round().astype(int))
    idx = np.maximum(k - 1, 0)
    frac = k / n
    with np.errstate(divide="ignore", invalid="ignore"):
        qini = np.where(nc[idx] > 0, yt[idx] - yc[idx] * nt[idx] / nc[idx], yt[idx]) / nt[-1]
        up = np.where(
            (nt[idx] > 0) & (nc[idx] > 0),
            (yt[idx] / np.maximum(nt[idx], 1) - yc[idx] / np.maximum(nc[idx], 1)) * k / n,
            0.0,
        )
    qini[k == 0] = 0.0
    up[k == 0] = 0.0
    return frac, qini, up


def _area(frac: FloatArray, values: FloatArray) -> float:
    return float(np.sum((values[1:] + values[:-1]) / 2 * np.diff(frac)))


class UpliftEvaluation(Model):
    """A learner's ranking on held-out data against random targeting."""

    learner: str
    metric: str
    n_train: int
    n_test: int
    ate: float = Field(description="Mean treated minus mean control on the test split.")
    qini: float = Field(description="Area between the Qini curve and the random line.")
    auuc: float = Field(description="Area under the uplift curve.")
    auuc_random: float = Field(description="Its value for random targeting: ATE / 2.")
    random_qini_mean: float = Field(description="Qini of random scores, over shuffles.")
    random_qini_sd: float
    random_qini_high: float = Field(description="95th percentile of the random Qini.")
    beats_random: float = Field(
        ge=0.0, le=1.0, description="Share of random orderings the model's Qini exceeds."
    )
    curve: QiniCurve
    targeting: TargetingResult | None = None


def evaluate_uplift(
    score: FloatArray,
    treated: BoolArray,
    y: FloatArray,
    *,
    learner: str = "model",
    metric: str = "outcome",
    n_train: int = 0,
    shuffles: int = 200,
    points: int = 101,
    seed: int = 0,
) -> UpliftEvaluation:
    """Qini and AUUC of ``score`` on a held-out randomized sample, with the spread of the
    same figures under random orderings (so "beats random" is a measured claim)."""
    if len(score) != len(y) or len(y) != len(treated):
        raise InputError("uplift", "score, treatment and outcome must have one row per user")
    if treated.all() or not treated.any():
        raise InputError("uplift", "the test split needs both treated and control rows")
    if not np.all(np.isfinite(score)):
        raise InputError("uplift", "scores must be finite")
    frac, qini, up = _curves(score, treated, y, points)
    ate = float(y[treated].mean() - y[~treated].mean())
    q_line = frac * qini[-1]
    qini_area = _area(frac, qini - q_line)
    rng = np.random.default_rng(seed)
    random_q = np.asarray(
        [
            _area(f, q - f * q[-1])
            for f, q, _ in (
                _curves(rng.random(len(score)), treated, y, points) for _ in range(shuffles)
            )
        ]
    )
    return UpliftEvaluation(
        learner=learner,
        metric=metric,
        n_train=n_train,
        n_test=len(y),
        ate=ate,
        qini=qini_area,
        auuc=_area(frac, up),
        auuc_random=_area(frac, frac * up[-1]),
        random_qini_mean=float(random_q.mean()) if shuffles else 0.0,
        random_qini_sd=float(random_q.std(ddof=1)) if shuffles > 1 else 0.0,
        random_qini_high=float(np.percentile(random_q, 95)) if shuffles else 0.0,
        beats_random=float((qini_area > random_q).mean()) if shuffles else 0.0,
        curve=QiniCurve(fraction=frac.tolist(), qini=qini.tolist(), uplift=up.tolist()),
    )


# --------------------------------------------------------------------------- targeting


class TargetingRule(Model):
    """Reach a user when the predicted uplift pays: uplift * value > cost."""

    value_per_outcome: float = Field(1.0, gt=0.0, description="What one unit of outcome is worth.")
    cost_per_contact: float = Field(0.0, ge=0.0, description="What reaching one user costs.")

    def select(self, uplift: FloatArray) -> BoolArray:
        return np.asarray(uplift * self.value_per_outcome > self.cost_per_contact)


class TargetingResult(Model):
    """Net value per user of the rule and of the blanket alternatives, on held-out data."""

    rule: TargetingRule
    share_targeted: float
    value: float = Field(description="Net value per user of targeting by the rule.")
    interval: Interval
    treat_all: float
    treat_none: float
    gain_over_best_blanket: float


def evaluate_targeting(
    rule: TargetingRule,
    uplift: FloatArray,
    treated: BoolArray,
    y: FloatArray,
    *,
    level: float = 0.95,
) -> TargetingResult:
    """Inverse-propensity value of the rule on a randomized test split: each user counts
    when the arm they got is the arm the rule would have picked."""
    if treated.all() or not treated.any():
        raise InputError("targeting", "the test split needs both treated and control rows")
    e = float(treated.mean())
    pick = rule.select(uplift)
    gain = rule.value_per_outcome * y
    agree = np.where(treated, pick / e, (~pick) / (1 - e))
    per_user = agree * gain - rule.cost_per_contact * pick
    value = float(per_user.mean())
    se = float(per_user.std(ddof=1)) / np.sqrt(len(y))
    z = z_quantile(0.5 + level / 2)
    treat_all = float(gain[treated].mean()) - rule.cost_per_contact
    treat_none = float(gain[~treated].mean())
    return TargetingResult(
        rule=rule,
        share_targeted=float(pick.mean()),
        value=value,
        interval=Interval(low=value - z * se, high=value + z * se, level=level, method="normal"),
        treat_all=treat_all,
        treat_none=treat_none,
        gain_over_best_blanket=value - max(treat_all, treat_none),
    )


def holdout_split(
    n: int, test_share: float = 0.3, seed: int = 0
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.int64]]]:
    """Random train and test row indices."""
    if not 0.0 < test_share < 1.0:
        raise InputError("test_share", f"{test_share} is outside (0, 1)")
    perm = np.random.default_rng(seed).permutation(n)
    cut = round(n * (1 - test_share))
    if cut == 0 or cut == n:
        raise InputError("uplift", f"{n} rows are too few to split into train and test")
    return np.sort(perm[:cut]), np.sort(perm[cut:])


def fit_and_evaluate(
    learner: str | MetaLearner,
    x: FloatArray,
    treated: BoolArray,
    y: FloatArray,
    *,
    metric: str = "outcome",
    test_share: float = 0.3,
    seed: int = 0,
    shuffles: int = 200,
    rule: TargetingRule | None = None,
) -> tuple[MetaLearner, UpliftEvaluation]:
    """Fit on a random train split, judge on the rest."""
    from adloom import registry

    model: MetaLearner = (
        registry.create("uplift", {"type": learner, "seed": seed}, "x")
        if isinstance(learner, str)
        else learner
    )
    train, test = holdout_split(len(y), test_share, seed)
    model.fit(x[train], treated[train], y[train])
    score = model.predict(x[test])
    result = evaluate_uplift(
        score,
        treated[test],
        y[test],
        learner=model.name,
        metric=metric,
        n_train=len(train),
        shuffles=shuffles,
        seed=seed,
    )
    if rule is not None:
        result.targeting = evaluate_targeting(rule, score, treated[test], y[test])
    return model, result


UpliftEvaluation.model_rebuild()
