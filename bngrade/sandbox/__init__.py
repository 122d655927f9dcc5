"""The sandboxes, seen from the worker: bubblewrap's command, the files a sandbox sees.

``box/`` holds the files copied into every sandbox (the package ``bnbox`` there): they
import only the standard library, numpy or ipykernel, and each other."""
