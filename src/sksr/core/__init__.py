"""The physics every stage shares (NumPy only): the grid, the systems and the lattice Hamiltonian.

- ``constants``    the exponential interaction's A and kappa, chemical accuracy
- ``grid``         the real-space grid (points, spacing, quadrature)
- ``systems``      atoms, ions and molecules (nuclear charges, positions, electron counts)
- ``hamiltonian``  external potential, exponential interaction, 5-point kinetic matrix, E_NN
- ``curves``       dissociation-curve geometries (the KSR study's H2 / H4 curves)
"""
