"""cloudfs: an open cloud filespace."""
