"""sksr: the spin-adapted Kohn-Sham regularizer in one dimension.

One subpackage per layer of the pipeline, bottom to top (a module imports only its own layer and the
layers below; ``python -m sksr.pipeline.layers`` checks it):

- ``sksr.io``           atomic writes and readers, provenance records, interrupts (workflow plumbing)
- ``sksr.core``         constants, grid, systems, Hamiltonian, dissociation-curve geometries (NumPy only)
- ``sksr.references``   stage 1: exact references (reference files, DMRG, exact diagonalization, self-checks)
- ``sksr.ks``           the Kohn-Sham eigensolver and SCF (JAX, float64)
- ``sksr.functionals``  exchange-correlation functionals (LSDA, exact one-electron, neural, published)
- ``sksr.training``     stage 3: the KSR loss, datasets, L-BFGS training, replay log, checkpoint and seed selection
- ``sksr.evaluation``   stages 4-5: predictions, tables, selection rules beyond the paper, figures
- ``sksr.pipeline``     config checks, audit, command line, code dependencies, the layers check

Where to find the physics:

- ``sksr.core.grid``         the real-space grid (points, spacing, quadrature)
- ``sksr.core.systems``      atoms, ions and molecules (nuclear charges, positions, electron counts)
- ``sksr.core.hamiltonian``  external potential, exponential interaction, 5-point kinetic matrix, E_NN
- ``sksr.ks.eigensolver``    lowest eigenpairs of the pentadiagonal Kohn-Sham matrix, differentiable
- ``sksr.ks.scf``            the Kohn-Sham self-consistent field (restricted / unrestricted, batched)
- ``sksr.functionals``       exchange-correlation functionals (LSDA, exact one-electron, neural)

Importing the package imports no JAX; every module that uses JAX switches it to float64 first
(``sksr.ks.float64``), because the Kohn-Sham machinery needs double precision.
"""

from sksr.core.grid import Grid, PAPER_GRID
from sksr.core.systems import System

__all__ = ["Grid", "PAPER_GRID", "System"]
__version__ = "0.1.0"
