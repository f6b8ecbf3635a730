"""Models: training with MLlib, evaluation, the MLflow registry, batch scoring, the model card."""
