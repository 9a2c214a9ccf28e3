"""Preparing a data directory for local experiments: the time split, label lists, labels, summaries."""
