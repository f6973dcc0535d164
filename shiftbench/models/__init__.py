"""Models: names and sources, weights and downloads, shiftbench's nets, variant specs."""
