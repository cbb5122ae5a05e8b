"""Single-leg execution: the order executor and the analysis it relies on."""
