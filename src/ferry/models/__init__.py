"""The model catalog (seed 004): models and datasets by version, over the kept store."""
