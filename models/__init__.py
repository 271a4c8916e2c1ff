"""Classifiers and regressors (random forest, LightGBM; a linear regression baseline): fitting, spatially blocked
validation, persistence and model cards.

Stage package: it imports the shared core (`irrmap`) and never the shell (CLI, pipeline).
"""

from irrmap.models.estimators import BASELINE, DEFAULT_MODEL, MODELS, TASKS, make_estimator
from irrmap.models.fit import default_features, fit_from_pool, read_pool
from irrmap.models.persistence import card_path, check_features, load_model, read_card, save_model
from irrmap.models.regression import Regressor
from irrmap.models.scope import SCOPES, ScopedClassifier, scope_keys
from irrmap.models.spatial_cv import assign_folds, block_groups, cross_validate, regression_scores, spatial_vs_random

__all__ = ["BASELINE", "DEFAULT_MODEL", "MODELS", "Regressor", "SCOPES", "ScopedClassifier", "TASKS", "assign_folds",
           "block_groups", "card_path", "check_features", "cross_validate", "default_features", "fit_from_pool", "load_model",
           "make_estimator", "read_card", "read_pool", "regression_scores", "save_model", "scope_keys", "spatial_vs_random"]
