"""Operating the pipeline: the runner (`featurelake run`) and the command line."""
