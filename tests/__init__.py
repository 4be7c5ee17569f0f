"""The tests. Imported before any conftest or test module, so the environment set here holds for
every library the tests load and every process they start."""

import os

# The two pytest-xdist workers share the machine's cores. OpenMP's default, a thread per core in
# each, made two LightGBM trainings at once twenty times slower than one alone (each thread spins
# waiting for the others). Set before LightGBM loads OpenMP; notebook kernels, servers and command
# lines started by the tests inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
