"""Measuring the engine against what users would pick instead: metrics (best-match and Hungarian
IoU, segment IoUs), slice-to-slice and run-to-run consistency, the reference label maps a CT is
scored against, the scoring of several configurations and seeds, the report and its figure, the
papers' BSDS500 benchmark, the study's parameter sweep, the study's figures, and the task runner
(local or on Ray) with its resumable result log. It calls the engine's one entry point and reads
and writes through io.
"""
