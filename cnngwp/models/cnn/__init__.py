"""The CNNGWP network: its layers, the estimator, its training loops and the fused CPU engine."""
