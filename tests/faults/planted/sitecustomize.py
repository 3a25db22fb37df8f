"""Plants tests/faults/faulty_serve.py's faults in every Python process that starts with this folder (and the
repository) on PYTHONPATH: `python` imports `sitecustomize` at start. `planted_env` in faulty_serve.py sets
that up for `darkroom serve --ray`, whose Ray workers (the model replicas) inherit it, which a wrapper
around the command could not reach. Nothing in src/ knows about it.
"""

from tests.faults.faulty_serve import plant

plant()
