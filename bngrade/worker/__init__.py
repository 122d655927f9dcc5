"""The worker's process (a local pool's or a Dask worker's): grades one submission per task,
judging what its sandboxes send back with the grader's checkers and keys."""
