"""Tuning and ensembles: the run's arrays, Bayesian optimisation of gamma and the model-averaged ensemble."""
