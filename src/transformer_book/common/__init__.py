"""Machinery every part shares: numerical checks, argument validation, checkpoints, training steps,
learning-rate schedules, sampling filters, devices and seeds, timing, plotting and showing source."""
