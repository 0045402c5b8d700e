"""The Kohn-Sham machinery in JAX (float64, differentiable), used by datasets, baselines, training and predictions.

- ``float64``      switches JAX to float64; every JAX module of the package imports it first
- ``eigensolver``  lowest eigenpairs of the pentadiagonal Kohn-Sham matrix, differentiable
- ``scf``          the Kohn-Sham self-consistent field (restricted / unrestricted, batched)

Importing this package imports no JAX; its modules do.
"""
