"""``jtel-sf send``: replay jtel statistics rows against an endpoint, the way jtel's daemon does."""
