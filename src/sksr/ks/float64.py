"""JAX in float64: imported (first) by every module of the package that uses JAX.

The Kohn-Sham machinery needs double precision (energies to 1e-10 Ha, finite-difference gradient checks),
so any module that creates JAX arrays imports this one before anything else; ``import sksr`` alone
imports no JAX, so the NumPy-only stages (reference files, tables, figures) do not need it.
"""

import jax

jax.config.update("jax_enable_x64", True)
