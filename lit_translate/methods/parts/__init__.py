"""The mechanisms the method contract composes (plumbing, averaging, inference, guard) and family helpers."""
