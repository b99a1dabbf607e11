"""Building what a model sees: token counting, truncation, think-tag removal."""
