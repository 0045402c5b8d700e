"""Exact references by DMRG (TeNPy) for the 1D lattice Hamiltonian of docs/physics.md section 4.

    H = sum_{ij,s} t_ij c+_{is} c_{js} + sum_i A n_{i,up} n_{i,dn} + sum_{i<j} A lambda^|i-j| N_i N_j
    t = T + diag(v_ext)   (5-point stencil: hopping to distance 1 and 2)
    lambda = exp(-kappa h)

One site per grid point (SpinHalfFermionSite, N and S_z conserved, S_z = N_unp / 2). Site amplitudes are grid
amplitudes times sqrt(h): matrix elements carry no h and ``n(x_j) = <N_j> / h``.

Convergence protocol (:func:`run_dmrg`):

1. Start state: the unrestricted Hartree-Fock Slater determinant of the same lattice Hamiltonian, written
   exactly as an MPS (bond dimension <= 2^N_up 2^N_dn) by applying one-orbital creation MPOs to the vacuum.
   Alternatives: the non-interacting determinant, a product state (electrons on the sites of highest
   non-interacting density), or that product state scrambled by random two-site gates ("random"); the
   references run at least two of them and compare (sksr.references.self_checked).
2. Two-site DMRG with a bond-dimension schedule (chi cap growing 32 -> 64 -> 128, never below
   min(4 * 2^N, 128) so the start determinant is not truncated; svd_min sets the chi actually kept) and a
   subspace-expansion mixer during the first sweeps only.
   Sweeps first cover only the window of sites where the start state or the Hartree-Fock state holds more
   than 1e-12 electrons per site (the tails of a 513-point grid carry nothing); once converged there,
   full-chain sweeps follow until a full-chain sweep meets the criteria.
3. Stop when |E_k - E_{k-1}| < ``energy_tolerance`` AND the largest truncation error of sweep k is below
   ``max_truncation_error`` AND the mixer is off. Otherwise, after ``max_sweeps`` sweeps, raise
   :class:`DMRGNotConvergedError` giving the last energy change: never a silent unconverged result.
4. Every ``checkpoint_every`` sweeps the MPS and the sweep history go to ``checkpoint_path`` (npz, atomic
   write); a restarted job resumes from there.

Modules: ``settings`` (the knobs of the protocol, no TeNPy), ``model`` (the TeNPy model), ``start_states``,
``sweeps`` (the windowed engine, the per-sweep record, the convergence test), ``checkpoint`` (MPS <-> arrays)
and ``driver`` (``run_dmrg``, the refinement and the extrapolation).
"""
