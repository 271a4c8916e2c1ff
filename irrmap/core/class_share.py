"""The smallest share of the rarer class a training pool should hold: the pool (`irrmap training pool`, stage
training.pool) and the fit (`irrmap models fit`, stage models) warn below it.

MIN_CLASS_SHARE = 0.05 (1 sample in 20). Reason, not a published constant: below it the overall accuracy says little,
since a model that gives every pixel the common class already scores 1 - share >= 0.95, and a classifier trained on
so few rare samples seldom predicts the rare class (its leaves of at least min_samples_leaf samples are mostly of the
common class); kappa and the per-class accuracies (user's/producer's) then tell a useful model from a constant one.
"""

MIN_CLASS_SHARE = 0.05
