"""Exchange-correlation functionals.

A functional is a callable pytree ``xc(n_up, n_dn) -> eps_xc``: spin densities of shape (G,) in 1/bohr
to the XC energy per electron, shape (G,), in Ha, so that ``E_xc = h * sum_i n_i eps_xc,i``. Parameters
are pytree leaves (``jax.tree_util.Partial``), so new weights never force a recompilation. The SCF
applies the spin-flip symmetrization and derives ``v_xc`` by automatic differentiation.

- ``lsda``: local spin-density approximation for the exponential interaction (the baseline).
- ``exact``: the exact functional of one-electron systems, ``E_xc = -E_H``.
- ``neural``: the sKSR networks (LSDA, GGA, global) and the KSR networks (LDA, GGA, global).
- ``published``: the authors' trained parameters of both studies.

``MODEL_LABELS`` is the one registry of the neural model kinds and their names in tables and figures
(``neural.MODEL_KINDS`` and the workflow's labels come from it; the config schema's list of trainable
models is checked against ``SKSR_MODELS`` by the tests).
"""

MODEL_LABELS = {
    "lsda": "sKSR-LSDA",
    "gga": "sKSR-GGA",
    "global": "sKSR-global",
    "ksr-lda": "KSR-LDA",
    "ksr-gga": "KSR-GGA",
    "ksr-global": "KSR-global",
}
SKSR_MODELS = ("lsda", "gga", "global")  # spin-resolved inputs (Kalita et al. 2022): the workflow's models
KSR_MODELS = ("ksr-lda", "ksr-gga", "ksr-global")  # total density only (Li et al. 2021)
