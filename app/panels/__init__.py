"""The panels: the settings form, predictions, runs, layers, units, and the Appendix A tabs."""
