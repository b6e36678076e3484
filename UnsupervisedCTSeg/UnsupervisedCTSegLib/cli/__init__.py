"""The `ctseg` command line: `segment`, `demo`, `evaluate-ct`, `evaluate-bsds`, `sweep` and
`figure-series`. Each command reads its inputs, checks every output place first, calls the engine
(directly or through the evaluation), writes through io, and turns every failure the user can fix
into one line and exit status 2. The entry point is `main.run`.
"""
