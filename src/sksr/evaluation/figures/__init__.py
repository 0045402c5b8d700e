"""Figures of the study, drawn only from computed results (never recomputing anything).

One module per figure (``densities``, ``energy_errors``, ``training_curves``, ``seed_spread``,
``dmrg_convergence``, and ``dissociation_curves`` of the KSR study), each with one small function reading plain files (predictions/references npz, CSV
tables, run directories); ``make.make_figure(name, inputs, outputs, settings, methods)`` is what the
workflow's ``figure`` rule calls. A figure's job declares only its own figure module as code, so restyling
one figure reruns only that figure.
"""

import matplotlib

matplotlib.use("Agg")  # before any pyplot import of the figure modules
