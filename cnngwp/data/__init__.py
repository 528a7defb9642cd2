"""Data: genotypes in memory, file readers, named data sets, splits, covariates and the simulator."""
