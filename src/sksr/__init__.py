"""sksr: the spin-adapted Kohn-Sham regularizer in one dimension.

Where to find the physics:

- ``sksr.grid``         the real-space grid (points, spacing, quadrature)
- ``sksr.systems``      atoms, ions and molecules (nuclear charges, positions, electron counts)
- ``sksr.hamiltonian``  external potential, exponential interaction, 5-point kinetic matrix, E_NN
- ``sksr.eigensolver``  lowest eigenpairs of the pentadiagonal Kohn-Sham matrix, differentiable
- ``sksr.scf``          the Kohn-Sham self-consistent field (restricted / unrestricted, batched)
- ``sksr.functionals``  exchange-correlation functionals (LSDA, exact one-electron, neural)

Importing the package imports no JAX; every module that uses JAX switches it to float64 first
(``sksr.float64``), because the Kohn-Sham machinery needs double precision.
"""

from sksr.grid import Grid, PAPER_GRID
from sksr.systems import System

__all__ = ["Grid", "PAPER_GRID", "System"]
__version__ = "0.1.0"
