"""Training of the neural XC functionals with the KSR loss (docs/physics.md section 8).

The protocol is the authors' (their published run scripts and logs), and the paper config's defaults:

- **Optimizer**: SciPy L-BFGS-B driven by ``jax.value_and_grad`` of the jitted loss, history 20,
  ``maxfun = 300`` (``max_evaluations``), ``factr = 1`` (``lbfgs_factr``), ``pgtol = 1e-14``
  (``lbfgs_pgtol``). SciPy checks ``maxfun`` only between iterations, so a seed normally makes 301
  evaluations (numbered 0..300) and a few more when the last line search needed extra trials; a seed also
  stops earlier when the line search stalls. Every call of the objective is exactly one loss evaluation.
- **Checkpoints**: the parameters of evaluations 0, 10, 20, ... (evaluation 0 is the random
  initialization; a checkpoint can be a line-search trial point). No extra checkpoint at the end.
- **Selection**: every checkpoint is evaluated on the validation batch with the training loss (same K,
  weights); a seed's candidate is its checkpoint with the lowest validation loss. ``select_best_seed``
  then keeps the seed with the lowest candidate validation loss among the seeds below
  ``max_validation_loss`` (0.1 in the published runs).

Why SciPy and not ``optax.lbfgs`` for single seeds: the budget and the checkpoints are counted in loss
evaluations, exactly as the authors counted them (optax hides a variable number of line-search
evaluations inside one jitted update), and a non-finite loss stops the seed at the evaluation where it
appears.

**Resume** from a replay log of every evaluation (``replay``), and **batched seeds** in one vmapped
evaluation per step (``batched_seeds``): their modules say how.

Files of one run (``out_dir``)::

    evaluations.csv           one row per loss evaluation (written as it happens)
    checkpoints/eval_NNNNNN.npz/.json   parameters + hyperparameters of each checkpoint
    validation.csv            validation loss of every checkpoint (runs that did not fail)
    best.npz / best.json      the selected checkpoint (runs that did not fail)
    run.json                  the run record (written last; its presence means the run finished)

Determinism: on CPU a seed fixes the run bitwise (initialization, XLA CPU kernels and SciPy are
deterministic). On GPUs, XLA reductions and cuBLAS/cuSOLVER kernels may reorder floating-point sums, so
runs agree only to rounding and L-BFGS trajectories may drift apart after many evaluations.

Modules: ``settings``, ``loss`` (the KSR loss), ``datasets``, ``objective`` (the jitted loss and gradient),
``optimizer`` (one seed: L-BFGS-B, ``train_seed``), ``batched_seeds`` (``train_seeds_batched``), ``records``
(the files of a run), ``replay`` (the replay log) and ``selection`` (the paper's checkpoint and seed selection).
"""
