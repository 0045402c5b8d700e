"""Stage 1: exact references (docs/physics.md section 4).

- ``files``                  the reference file format, readable with NumPy alone (datasets, tables, figures)
- ``dmrg``                   DMRG with TeNPy: settings, model, start states, sweeps, checkpoints, driver
- ``exact_diagonalization``  one and two electrons (and small Fock spaces) exactly
- ``self_checked``           a reference that proves itself (two starts agree, refinement, extrapolation),
                             its files and the summary table
"""
