"""Running a job: the trainer, the run directory, config checks, loggers and W&B sync, the GAN DDP strategies."""
