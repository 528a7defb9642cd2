"""Reports: test metrics, tables over runs and studies, figures and the book."""
