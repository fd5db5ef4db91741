# The two commands of the README. Each does all set-up first (scripts/setup.sh is idempotent).
.PHONY: run test test-quick setup

setup:
	@bash scripts/setup.sh

# Main job: a default session on the procedural colon (headless when there is no display).
run: setup
	@bash scripts/run.sh

# Full test suite, slow acceptance runs included (what CI runs).
test: setup
	.venv/bin/python -m pytest -n 2 --dist loadgroup

# Quick loop for development: everything but the slow acceptance runs.
test-quick: setup
	.venv/bin/python -m pytest -n 2 --dist loadgroup -m "not slow"
