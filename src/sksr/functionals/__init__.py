"""Exchange-correlation functionals.

A functional is a callable pytree ``xc(n_up, n_dn) -> eps_xc``: spin densities of shape (G,) in 1/bohr
to the XC energy per electron, shape (G,), in Ha, so that ``E_xc = h * sum_i n_i eps_xc,i``. Parameters
are pytree leaves (``jax.tree_util.Partial``), so new weights never force a recompilation. The SCF
applies the spin-flip symmetrization and derives ``v_xc`` by automatic differentiation.

- ``lsda``: local spin-density approximation for the exponential interaction (the baseline).
- ``exact``: the exact functional of one-electron systems, ``E_xc = -E_H``.
- ``neural``: the sKSR networks (LSDA, GGA, global).
"""
