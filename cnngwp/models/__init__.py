"""Models: the kernel baselines, the CNN and a trained model saved as a folder."""
