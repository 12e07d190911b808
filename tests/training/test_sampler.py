"""The search's sampler keeps each leading algorithm searched: TPE alone spends nearly every trial on the one
that leads."""

from __future__ import annotations

from collections import Counter

import optuna

from studio.training.sampler import FLOOR, TOP, SpreadTPESampler, due_algorithm

SCORES = {"xgboost": 1.0, "lightgbm": 0.95, "random_forest": 0.9, "linear": 0.2}


def _objective(trial: optuna.Trial) -> float:
    algorithm = trial.suggest_categorical("algorithm", list(SCORES))
    return SCORES[algorithm] + 0.01 * trial.suggest_float(f"{algorithm}__x", 0, 1)


def _counts(sampler: optuna.samplers.BaseSampler, trials: int = 60) -> Counter[str]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(_objective, n_trials=trials)
    return Counter(t.params["algorithm"] for t in study.trials)


def test_each_leading_algorithm_gets_its_floor_of_the_sampled_trials() -> None:
    plain = _counts(optuna.samplers.TPESampler(seed=0, multivariate=True, group=True))
    spread = _counts(SpreadTPESampler(default_attr="default", seed=0, multivariate=True, group=True))
    assert plain["random_forest"] < FLOOR * 60 - 1, plain  # what TPE alone does: the third is barely tried
    for algorithm in list(SCORES)[:TOP]:
        assert spread[algorithm] >= FLOOR * 60 - 1, spread
    assert spread["linear"] < FLOOR * 60, spread  # not a leader: TPE alone decides


def test_the_defaults_do_not_count_and_the_most_behind_leader_is_due() -> None:
    study = optuna.create_study(direction="minimize")
    distribution = optuna.distributions.CategoricalDistribution(list(SCORES))
    for algorithm, value, default in (
            [("xgboost", 1.0, True), ("lightgbm", 2.0, True), ("random_forest", 3.0, True), ("linear", 9.0, True)]
            + [("xgboost", 1.1, False)] * 8 + [("lightgbm", 2.1, False)]):
        study.add_trial(optuna.create_trial(value=value, params={"algorithm": algorithm},
                                            distributions={"algorithm": distribution},
                                            user_attrs={"default": True} if default else {}))
    assert due_algorithm(study, len(study.trials), "default") == "random_forest"  # 0 of 9 sampled, then lightgbm
    assert due_algorithm(study, 5, "default") == "lightgbm"  # leaders not sampled yet are due, the better first
