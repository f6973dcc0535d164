"""Running an evaluation: the engine's single pass, checkpoints, torchrun processes."""
