"""sksr: the spin-adapted Kohn-Sham regularizer in one dimension.

Where to find the physics:

- ``sksr.grid``         the real-space grid (points, spacing, quadrature)
- ``sksr.systems``      atoms, ions and molecules (nuclear charges, positions, electron counts)
- ``sksr.hamiltonian``  external potential, exponential interaction, 5-point kinetic matrix, E_NN
- ``sksr.eigensolver``  lowest eigenpairs of the pentadiagonal Kohn-Sham matrix, differentiable
- ``sksr.scf``          the Kohn-Sham self-consistent field (restricted / unrestricted, batched)
- ``sksr.functionals``  exchange-correlation functionals (LSDA, exact one-electron, neural)

Importing the package switches JAX to float64: the Kohn-Sham machinery needs it.
"""

import jax

jax.config.update("jax_enable_x64", True)

from sksr.grid import Grid, PAPER_GRID  # noqa: E402
from sksr.systems import System  # noqa: E402

__all__ = ["Grid", "PAPER_GRID", "System"]
__version__ = "0.1.0"
