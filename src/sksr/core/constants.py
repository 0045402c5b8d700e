"""Physical constants of the 1D model (Hartree atomic units).

The exponential interaction ``v(u) = A exp(-kappa |u|)`` mimics the soft-Coulomb interaction of a 3D
system squeezed into 1D (Baker et al., PRB 91, 235141 (2015)).
"""

EXPONENTIAL_AMPLITUDE = 1.071295  # A, Ha
EXPONENTIAL_KAPPA = 1.0 / 2.385345  # kappa, 1/bohr
CHEMICAL_ACCURACY = 0.0016  # Ha (1 kcal/mol)
