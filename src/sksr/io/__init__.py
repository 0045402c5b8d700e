"""Files and records that every stage writes (the bottom layer; standard library and NumPy only).

- ``atomic``       atomic writes (temporary file + ``os.replace``) and readers that name a corrupt file
- ``provenance``   the provenance record of every workflow job, and the job wrapper of the rule scripts
- ``interrupts``   clean stops on SIGINT / SIGTERM / SIGHUP, and the interrupt marker of a killed job

The workflow treats this layer as plumbing: it changes no number, so editing it reruns no job
(``sksr.pipeline.code_dependencies``).
"""
