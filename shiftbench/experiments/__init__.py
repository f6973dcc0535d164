"""The paper's experiments: training twins (`shiftbench train`) and the demo."""
