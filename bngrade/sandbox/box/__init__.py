"""What runs inside a sandbox (copied there as the package ``bnbox``): nothing here imports
anything of the grader outside this folder."""
