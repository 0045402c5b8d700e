"""Stage 4 and 5: predictions, the paper's tables, seed selection beyond the paper, figures.

- ``prediction``        the Kohn-Sham run of a functional on a set of systems (JAX)
- ``prediction_files``  the predictions file format and the failed-seed marker (NumPy)
- ``tables``            the paper's tables and the seed table (NumPy, pandas)
- ``seed_selection``    selection and combination rules beyond the paper's
- ``figures``           one module per figure (matplotlib)

Only ``prediction`` needs JAX: tables and figures depend on no SCF, DMRG or training code.
"""
