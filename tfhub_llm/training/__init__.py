"""Fine-tuning runs: the run machinery and one module per task's run."""
